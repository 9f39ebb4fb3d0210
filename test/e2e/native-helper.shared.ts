// The helper's own suites (native/tests): storage safety (hostile archives, tar-dir round trip,
// mkrootfs, rmtree) and the runtime (hand-written bundles: exit codes, security, tty, attach,
// exec, pause process, monitor memory). Each prints "N passed, N failed" last.
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { describeResult, helperBin, run } from './lib';
import { repoRoot } from './paths';

export function nativeSuites(): void {
  it('storage: untar, rmtree, mkrootfs, tar-dir', async () => {
    const r = await run(['python3', path.join(repoRoot, 'native/tests/storage-tests.py')], {
      timeout: 240000,
      env: { CTR_HELPER: helperBin },
    });
    expect(r.code, describeResult('storage-tests.py', r)).toBe(0);
    expect(r.stdout).toMatch(/\n[1-9][0-9]* passed, 0 failed\s*$/);
  }, 300000);

  // It once flaked under the harness only (2 CPUs, other files beside it): the attach client
  // could die of SIGPIPE when the monitor of a failing container had already closed the socket
  // (141 instead of 125), the test's socket client wrote its EOF frame after the container had
  // exited (EPIPE), fixed sleeps raced the container's start, and two runs of the script side by
  // side shared one rundir (one killed the other's pause). Each is fixed where it was.
  it('runtime: bundles run through the helper', async () => {
    const r = await run(['bash', path.join(repoRoot, 'native/tests/runtime-tests.sh')], {
      timeout: 240000,
      env: { CTR_HELPER: helperBin },
    });
    expect(r.code, describeResult('runtime-tests.sh', r)).toBe(0);
    expect(r.stdout).toMatch(/# [1-9][0-9]* passed, 0 failed/);
  }, 300000);
}
