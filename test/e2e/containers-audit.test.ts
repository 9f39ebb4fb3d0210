// Issue 2 end to end: the corners of the container commands (wait on a created container,
// concurrent starts, ps/logs/top flags, rm forms, inspect shape, reboot, bad input).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResult, run, uniqueName, useCtr } from './lib';
import { allIds, inspect, lines, ok, pidAlive, refused, runDetached, sleep, status, waitStatus } from './containers-util';

const ctr = useCtr({ images: ['busybox'] });

describe('wait', () => {
  it('on a created container: blocks until it is started and exits, then prints its code', async () => {
    const name = uniqueName('wcreated');
    ok(await ctr.run(['create', '--name', name, 'busybox', 'sh', '-c', 'sleep 0.3; exit 7']), 'create');
    const w = ctr.spawn(['wait', name]);
    w.closeStdin();
    await sleep(1500);
    // still waiting: the container never ran
    expect(w.child.exitCode, w.stderr()).toBeNull();
    ok(await ctr.run(['start', name]), 'start');
    const r = await w.wait(20_000);
    expect(r.code, describeResult('wait', r)).toBe(0);
    expect(r.stdout.trim()).toBe('7');
    // and once more, now that it has exited: at once
    const again = ok(await ctr.run(['wait', name]), 'wait again');
    expect(again.stdout.trim()).toBe('7');
    ok(await ctr.run(['rm', name]), 'rm');
  }, 40_000);

  it('on a created container that is removed meanwhile: one error, exit 125', async () => {
    const name = uniqueName('wremoved');
    ok(await ctr.run(['create', '--name', name, 'busybox', 'true']), 'create');
    const w = ctr.spawn(['wait', name]);
    w.closeStdin();
    await sleep(800);
    ok(await ctr.run(['rm', name]), 'rm');
    const r = await w.wait(10_000);
    refused(r, 'wait on a removed container', /no such container/);
  }, 30_000);

  it('on a container that does not exist: one error, exit 125', async () => {
    refused(await ctr.run(['wait', 'no-such-container-x']), 'wait unknown', /no such container/);
  });

  it('several containers: one code per line, in order', async () => {
    const a = await runDetached(ctr, ['busybox', 'sh', '-c', 'exit 3']);
    const b = await runDetached(ctr, ['busybox', 'sh', '-c', 'sleep 0.5; exit 4']);
    const r = ok(await ctr.run(['wait', a, b]), 'wait a b');
    expect(lines(r.stdout)).toEqual(['3', '4']);
    ok(await ctr.run(['rm', a, b]), 'rm');
  });
});

describe('start', () => {
  it('4 concurrent `start` of one created container: all succeed, exactly one container process', async () => {
    for (let round = 0; round < 3; round++) {
      const marker = uniqueName('startrace');
      const id = ok(await ctr.run(['create', 'busybox', 'sh', '-c', `echo ${marker}; exec sleep 60`]), 'create').stdout.trim();
      const rs = await Promise.all([0, 1, 2, 3].map(() => ctr.run(['start', id])));
      for (const r of rs) {
        expect(r.code, describeResult('start', r)).toBe(0);
        expect(r.stdout.trim()).toBe(id);
      }
      expect(await status(ctr, id)).toBe('running');
      // one monitor, one process: the log has the marker once, `top` lists one sleep
      await sleep(300);
      const log = ok(await ctr.run(['logs', id]), 'logs').stdout;
      expect(lines(log).filter((l) => l === marker)).toHaveLength(1);
      const top = ok(await ctr.run(['top', id]), 'top').stdout;
      expect(lines(top).filter((l) => /sleep 60/.test(l))).toHaveLength(1);
      const pid = Number(await ctr.run(['inspect', '--format', '{{.State.Pid}}', id]).then((r) => r.stdout.trim()));
      ok(await ctr.run(['rm', '-f', id]), 'rm -f');
      expect(pidAlive(pid)).toBe(false);
    }
  }, 90_000);

  it('start of a running container is a silent success', async () => {
    const id = await runDetached(ctr, ['busybox', 'sleep', '60']);
    const r = ok(await ctr.run(['start', id]), 'start running');
    expect(r.stdout.trim()).toBe(id);
    expect(r.stderr).toBe('');
    ok(await ctr.run(['rm', '-f', id]), 'rm -f');
  });
});

describe('storage driver cache', () => {
  const cache = () => path.join(ctr.root, 'storage-driver.json');

  it('a rootfs mount failure with the auto-chosen driver drops the cached choice; the next container probes again', async () => {
    ok(await ctr.run(['run', '--rm', 'busybox', 'true']), 'run');
    const before = JSON.parse(fs.readFileSync(cache(), 'utf8'));
    expect(['overlay', 'fuse-overlayfs']).toContain(before.driver);
    // an explicit driver never touches the cache
    const pinned = ok(await ctr.run(['--storage-driver', before.driver, 'create', 'busybox', 'true']), 'create pinned').stdout.trim();
    fs.rmSync(path.join(ctr.root, 'containers', pinned, 'work'), { recursive: true });
    const r0 = await ctr.run(['--storage-driver', before.driver, 'start', pinned]);
    expect(r0.code, describeResult('start pinned', r0)).toBe(125);
    expect(fs.existsSync(cache())).toBe(true);
    // auto: the same failure drops it, with one line that says so
    const id = ok(await ctr.run(['create', 'busybox', 'true']), 'create').stdout.trim();
    fs.rmSync(path.join(ctr.root, 'containers', id, 'work'), { recursive: true });
    const r = await ctr.run(['start', id]);
    refused(r, 'start with a broken rootfs', /probed again/);
    expect(fs.existsSync(cache())).toBe(false);
    ok(await ctr.run(['run', '--rm', 'busybox', 'true']), 'run after the failure');
    const after = JSON.parse(fs.readFileSync(cache(), 'utf8'));
    expect(after.driver).toBe(before.driver);
    expect(after.probedAt).not.toBe(before.probedAt);
    // start -a (attached) does the same
    const id2 = ok(await ctr.run(['create', 'busybox', 'true']), 'create').stdout.trim();
    fs.rmSync(path.join(ctr.root, 'containers', id2, 'work'), { recursive: true });
    const r2 = await ctr.run(['start', '-a', id2]);
    expect(r2.code, describeResult('start -a', r2)).toBe(125);
    expect(fs.existsSync(cache())).toBe(false);
    ok(await ctr.run(['rm', id, id2, pinned]), 'rm');
  }, 60_000);
});

export { allIds, fs, inspect, path, run, waitStatus };
