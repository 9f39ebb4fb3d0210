// End-to-end tests: test/e2e/**/*.test.ts drive the built binary (dist/bin/ctr or $CTR_BIN).
// *.root.test.ts need real root; the others run as an unprivileged user. test/run.sh runs
// both parts with CTR_E2E_MODE set; without it the mode follows the current user.
import * as path from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';
import { repoRoot, uid, userWorkDir } from './e2e/paths';

const work = userWorkDir();
const mode = process.env.CTR_E2E_MODE || (uid() === 0 ? 'root' : 'rootless');

export default defineConfig({
  root: repoRoot,
  cacheDir: path.join(work, 'vite-cache-e2e'),
  test: {
    include: mode === 'root' ? ['test/e2e/**/*.root.test.ts'] : ['test/e2e/**/*.test.ts'],
    exclude: mode === 'root' ? configDefaults.exclude : [...configDefaults.exclude, 'test/e2e/**/*.root.test.ts'],
    globalSetup: ['test/e2e/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000, // beforeAll loads fixture images
    teardownTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2, // 2 cores; every file has its own store, so two files may run at once
    fileParallelism: true,
    server: { deps: { inline: ['clipanion'] } },
    reporters: ['default', 'json'],
    outputFile: { json: process.env.CTR_TEST_JSON || path.join(work, `e2e-${mode}.json`) },
  },
});
