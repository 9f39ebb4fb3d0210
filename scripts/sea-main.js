'use strict';
// The single binary's entry point (see scripts/package.sh): it runs the bundle (the SEA asset
// ctr.js) with a V8 code cache made for it at build time, so that a command compiles none of
// ctr's code as it runs. Without the cache, or when V8 refuses it, the bundle is compiled as
// usual.
//
// Two caches of the same bundle: ctr.cache holds every function compiled (scripts/code-cache.js);
// pull.cache holds only what a pull ran (made by package.sh from a pull against a local test
// registry): a third of the size, so ~3 ms less to load, and `ctr pull` is the command whose
// every millisecond is measured. Which one only changes speed: both are for this very text.
const sea = require('node:sea');
const vm = require('node:vm');

// Must be exactly the text scripts/code-cache.js compiles: V8 checks the source.
const wrap = (src) => '(function (exports, require, module, __filename, __dirname) {' + src.replace(/^#!.*\n/, '') + '\n})';

// the command word: the first argument after the global options (and their values)
function command(argv) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (/^--(root|runroot|storage-driver|log-level)$/.test(a)) i++;
    else if (!a.startsWith('--')) return a;
  }
  return undefined;
}

const train = process.env.CTR_CODE_CACHE_TRAIN; // package.sh: write the caches of what ran, at exit
const source = wrap(sea.getAsset('ctr.js', 'utf8'));
let cachedData;
if (!train) {
  // pull's own cache when the binary has one, else the whole one
  for (const name of command(process.argv.slice(2)) === 'pull' ? ['pull.cache', 'ctr.cache'] : ['ctr.cache']) {
    try {
      cachedData = Buffer.from(sea.getRawAsset(name));
      break;
    } catch {
      cachedData = undefined;
    }
  }
}
const script = new vm.Script(source, { filename: 'ctr.js', cachedData });
if (process.env.CTR_CODE_CACHE_CHECK === '1') process.stderr.write(`code cache: ${cachedData ? (script.cachedDataRejected ? 'rejected' : 'used') : 'none'}\n`);
if (train) {
  process.on('exit', () => {
    const fs = require('node:fs');
    const path = require('node:path');
    fs.writeFileSync(path.join(train, 'ctr.cache'), script.createCachedData());
    // the undici loader of scripts/build.mjs leaves its script here when training
    const u = globalThis.__ctrUndiciScript;
    if (u) fs.writeFileSync(path.join(train, 'undici.cache'), u.createCachedData());
  });
}
const mod = { exports: {}, id: '.', filename: process.execPath, loaded: false };
const req = (id) => require(id);
req.main = mod; // the bundle runs main() when it is the main module
script.runInThisContext()(mod.exports, req, mod, process.execPath, require('node:path').dirname(process.execPath));
