// Bundles src/main.ts into one CommonJS file (dist/ctr.js) for the single binary.
import { build } from 'esbuild';

// undici (~580 KB minified) is only needed by the registry commands, but V8 would pre-parse it
// on every start: it is bundled apart and embedded as a string compiled on first require
// (saves ~7 ms of CPU per command).
const lazyUndici = {
  name: 'lazy-undici',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: 'undici', namespace: 'lazy-undici' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-undici' }, async () => {
      const r = await build({
        // only the parts ctr uses (src/registry/undici-lite.cjs), not undici's whole index
        entryPoints: ['src/registry/undici-lite.cjs'],
        bundle: true, platform: 'node', target: 'node22', format: 'cjs', minify: true, write: false, legalComments: 'none', logLevel: 'warning',
      });
      const fn = '(function (module, exports, require) {' + r.outputFiles[0].text + '\n})';
      return { contents: `require('node:vm').runInThisContext(${JSON.stringify(fn)}, { filename: 'undici.js' })(module, exports, require);`, loader: 'js' };
    });
  },
};

await build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  outfile: 'dist/ctr.js',
  minify: true,
  keepNames: false,
  sourcemap: false,
  legalComments: 'none',
  define: { 'process.env.CTR_BUNDLED': '"1"' },
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
  plugins: [lazyUndici],
});
