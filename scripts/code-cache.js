'use strict';
// node scripts/code-cache.js BUNDLE OUT [--raw]: writes the V8 code cache of BUNDLE as
// scripts/sea-main.js compiles it, with every function compiled (not only the top level),
// for the single binary. Run it with the very Node the binary embeds: V8 accepts a cache only
// from its own version and flags.
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');

const [bundle, out, raw] = process.argv.slice(2);
// Must be exactly the text scripts/sea-main.js compiles (--raw: the file is that text already,
// as dist/undici.js is for the lazy undici loader of scripts/build.mjs).
const wrap = (src) => '(function (exports, require, module, __filename, __dirname) {' + src.replace(/^#!.*\n/, '') + '\n})';
const text = fs.readFileSync(bundle, 'utf8');
const source = raw === '--raw' ? text : wrap(text);
v8.setFlagsFromString('--no-lazy');
const script = new vm.Script(source, { filename: raw === '--raw' ? path.basename(bundle) : 'ctr.js' });
v8.setFlagsFromString('--lazy'); // the flags the cache records are the runtime's defaults
fs.writeFileSync(out, script.createCachedData());
