// Bundles src/main.ts into one CommonJS file (dist/ctr.js) for the single binary.
import { build } from 'esbuild';

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
});
