'use strict';
// The single binary's entry point (see scripts/package.sh): it runs the bundle (the SEA asset
// ctr.js) with the V8 code cache made for it at build time (the asset ctr.cache, every function
// compiled: scripts/code-cache.js), so that a command compiles none of ctr's code as it runs.
// Without the cache, or when V8 refuses it, the bundle is compiled as usual.
const sea = require('node:sea');
const vm = require('node:vm');

// Must be exactly the text scripts/code-cache.js compiles: V8 checks the source.
const wrap = (src) => '(function (exports, require, module, __filename, __dirname) {' + src.replace(/^#!.*\n/, '') + '\n})';

const source = wrap(sea.getAsset('ctr.js', 'utf8'));
let cachedData;
try {
  cachedData = Buffer.from(sea.getRawAsset('ctr.cache'));
} catch {
  cachedData = undefined;
}
const script = new vm.Script(source, { filename: 'ctr.js', cachedData });
if (process.env.CTR_CODE_CACHE_CHECK === '1') process.stderr.write(`code cache: ${cachedData ? (script.cachedDataRejected ? 'rejected' : 'used') : 'none'}\n`);
const mod = { exports: {}, id: '.', filename: process.execPath, loaded: false };
const req = (id) => require(id);
req.main = mod; // the bundle runs main() when it is the main module
script.runInThisContext()(mod.exports, req, mod, process.execPath, require('node:path').dirname(process.execPath));
