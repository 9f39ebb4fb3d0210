// Root-only smoke checks (test/run.sh runs *.root.test.ts as real root).
import { describe, expect, it } from 'vitest';
import { describeResult, isRoot, useCtr } from './lib';

describe.skipIf(!isRoot)('smoke (root)', () => {
  const ctr = useCtr();

  it('ctr version works as root with an isolated store', async () => {
    const r = await ctr.run(['version']);
    expect(r.code, describeResult('ctr version', r)).toBe(0);
    expect(r.stdout).toMatch(/^ctr version /);
  });

  it('ctr --bogus exits 125 as root too', async () => {
    const r = await ctr.run(['--bogus'], { globals: false });
    expect(r.code, describeResult('ctr --bogus', r)).toBe(125);
    expect(r.stderr).toMatch(/^Error: .*--bogus/);
  });
});
