// A pull onto a full disk (root only: a small tmpfs holds the store): one clear line, exit 125,
// nothing half-written, and the same pull works once there is room.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCtrEnv, describeResult, isRoot, run, useRegistry, type CtrEnv } from './lib';

describe.skipIf(!isRoot)('pull onto a full disk (root)', () => {
  const reg = useRegistry({ images: ['busybox'] });
  let ctr: CtrEnv;
  let mnt: string;
  beforeAll(async () => {
    ctr = createCtrEnv();
    mnt = path.join(ctr.dir, 'small');
    fs.mkdirSync(mnt);
    // the compressed layer (1 MB) fits, the unpacked one (2 MB) does not
    const r = await run(['mount', '-t', 'tmpfs', '-o', 'size=1600k', 'tmpfs', mnt]);
    if (r.code !== 0) throw new Error(describeResult('mount tmpfs', r));
  });
  afterAll(async () => {
    await run(['umount', '-l', mnt]);
    await ctr.cleanup();
  });

  it('ENOSPC: one line naming the store, nothing left, works with room', async () => {
    const root = path.join(mnt, 'store');
    const args = ['--root', root, '--runroot', path.join(ctr.dir, 'rr'), 'pull', '-q', '--tls-verify=false', `${reg.host}/busybox`];
    const r = await ctr.run(args, { globals: false, timeout: 60_000 });
    expect(r.code, describeResult('pull onto a full disk', r)).toBe(125);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^Error: cannot pull .*no space left on the device holding the image store \(.*\/small\/store\)/);
    const left = (d: string) => (fs.existsSync(path.join(root, d)) ? fs.readdirSync(path.join(root, d)) : []);
    expect(left('images')).toEqual([]);
    expect(left('layers')).toEqual([]);
    expect(left('blobs/sha256')).toEqual([]);
    expect(left('leases')).toEqual([]);
    // room again: the same command works
    const ok = await run(['mount', '-o', 'remount,size=64m', mnt]);
    expect(ok.code, describeResult('remount', ok)).toBe(0);
    const again = await ctr.run(args, { globals: false, timeout: 60_000 });
    expect(again.code, describeResult('pull with room', again)).toBe(0);
  });
});
