// Where the test harness finds things. Shared by lib.ts, global-setup.ts and the vitest
// configs; no vitest imports here. Every location can be overridden by an environment
// variable (test/run.sh sets them all):
//
//   CTR_BIN            the ctr binary under test         (default: <repo>/dist/bin/ctr)
//   CTR_HELPER         ctr-helper (read by ctr itself)   (default: found by ctr next to itself)
//   CTR_TEST_FIXTURES  fixture images (fixtures.json)    (default: <repo>/test/.work/fixtures)
//   CTR_TEST_USERWORK  per-user writable scratch dir: vite cache, JSON reports
//                                                        (default: <repo>/test/.work/u-<uid>)
//   CTR_TEST_TMPDIR    parent of the per-file stores     (default: /tmp; keep it short, the
//                                                         stores hold unix sockets)
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The checkout (or the staged copy test/run.sh made for the test user). */
export const repoRoot: string = path.resolve(__dirname, '..', '..');

export function uid(): number {
  return process.getuid ? process.getuid() : 0;
}

export function ctrBinPath(): string {
  return process.env.CTR_BIN || path.join(repoRoot, 'dist', 'bin', 'ctr');
}

export function helperPath(): string {
  return process.env.CTR_HELPER || path.join(repoRoot, 'native', 'build', 'ctr-helper');
}

export function fixturesDir(): string {
  return process.env.CTR_TEST_FIXTURES || path.join(repoRoot, 'test', '.work', 'fixtures');
}

export function userWorkDir(): string {
  return process.env.CTR_TEST_USERWORK || path.join(repoRoot, 'test', '.work', `u-${uid()}`);
}

export function tmpBase(): string {
  return process.env.CTR_TEST_TMPDIR || '/tmp';
}

/** /usr/bin/python3 when present (a pyenv shim in root's PATH is no use to the test user). */
export function python3(): string {
  return fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

export const fixtureBuilder: string = path.join(repoRoot, 'test', 'fixtures', 'build.py');
