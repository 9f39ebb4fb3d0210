// Issue 2 end to end: the corners of the container commands (wait on a created container,
// concurrent starts, ps/logs/top flags, rm forms, inspect shape, reboot, bad input).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { describeResult, fixturePath, fixtures, run, uniqueName, useCtr } from './lib';
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

  it('on a created --rm container: the code comes from its monitor (the record is gone when it ends)', async () => {
    const id = ok(await ctr.run(['create', '--rm', 'busybox', 'sh', '-c', 'sleep 0.5; exit 8']), 'create --rm').stdout.trim();
    const w = ctr.spawn(['wait', id]);
    w.closeStdin();
    await sleep(800);
    ok(await ctr.run(['start', id]), 'start');
    const r = await w.wait(20_000);
    expect(r.code, describeResult('wait', r)).toBe(0);
    expect(r.stdout.trim()).toBe('8');
    expect(await allIds(ctr)).not.toContain(id);
  }, 40_000);

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
    // auto, whatever the host's /etc/ctr/ctr.conf sets (the user's file wins)
    const conf = path.join(ctr.env.XDG_CONFIG_HOME!, 'ctr', 'ctr.conf');
    fs.mkdirSync(path.dirname(conf), { recursive: true });
    fs.writeFileSync(conf, '{"storage":{"driver":"auto"}}');
    onTestFinished(() => fs.rmSync(conf, { force: true }));
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

describe('start -ai, attach', () => {
  it('start -ai on a -it container: a shell on our terminal, Ctrl-P Ctrl-Q detaches and leaves it running', async () => {
    const name = uniqueName('sai');
    ok(await ctr.run(['create', '-it', '--name', name, 'busybox', 'sh']), 'create -it');
    const s = ctr.tty(['start', '-ai', name]);
    await s.expect('# ', { timeout: 15_000 });
    s.write('echo hi-$((6*7))\r');
    await s.expect('hi-42', { timeout: 10_000 });
    s.write('\x10\x11');
    const r = await s.wait(10_000);
    expect(r.code, r.output).toBe(0);
    expect(await status(ctr, name)).toBe('running');
    // start -ai of the running container attaches to it; exit ends it with its code
    const s2 = ctr.tty(['start', '-ai', name]);
    await sleep(500);
    s2.write('exit 4\r');
    expect((await s2.wait(10_000)).code).toBe(4);
    await waitStatus(ctr, name, 'exited');
    ok(await ctr.run(['rm', name]), 'rm');
  }, 60_000);

  it('start -ai without a tty: our stdin to the container, its code is ours', async () => {
    const name = uniqueName('sai-pipe');
    ok(await ctr.run(['create', '-i', '--name', name, 'busybox', 'sh', '-c', 'cat; echo done; exit 6']), 'create -i');
    const r = await ctr.run(['start', '-ai', name], { input: 'payload\n' });
    expect(r.code, describeResult('start -ai', r)).toBe(6);
    expect(r.stdout).toBe('payload\ndone\n');
    ok(await ctr.run(['rm', '-v', name]), 'rm -v');
    expect(await allIds(ctr)).not.toContain(name);
  });
});

describe('ps -s, top', () => {
  it('ps -s shows the writable layer and the virtual size (with the image), as Docker', async () => {
    const id = await runDetached(ctr, ['busybox', 'sh', '-c', 'head -c 2000000 /dev/zero > /f']);
    ok(await ctr.run(['wait', id]), 'wait');
    const r = ok(await ctr.run(['ps', '-a', '-s', '--filter', `id=${id}`, '--format', '{{.Size}}']), 'ps -s');
    const m = /^([0-9.]+) (kB|MB) \(virtual ([0-9.]+) (kB|MB)\)$/.exec(r.stdout.trim());
    expect(m, r.stdout).not.toBeNull();
    const bytes = (n: string, u: string) => Number(n) * (u === 'MB' ? 1e6 : 1e3);
    expect(bytes(m![1]!, m![2]!)).toBeGreaterThanOrEqual(1.9e6);
    // busybox itself is more than 1 MB
    expect(bytes(m![3]!, m![4]!) - bytes(m![1]!, m![2]!)).toBeGreaterThan(1e6);
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('top: ps options (Docker) and format descriptors (Podman)', async () => {
    const id = await runDetached(ctr, ['busybox', 'sleep', '61']);
    const def = lines(ok(await ctr.run(['top', id]), 'top').stdout);
    expect(def[0]).toMatch(/^UID\s+PID\s+PPID/);
    expect(def.slice(1).filter((l) => l.endsWith('sleep 61'))).toHaveLength(1);
    const aux = lines(ok(await ctr.run(['top', id, 'aux']), 'top aux').stdout);
    expect(aux[0]).toMatch(/^USER\s+PID\s+%CPU/);
    expect(aux).toHaveLength(2);
    const o = lines(ok(await ctr.run(['top', id, '-o', 'pid,comm']), 'top -o').stdout);
    expect(o[0]).toMatch(/^\s*PID COMMAND$/);
    expect(o[1]).toMatch(/^\s*\d+ sleep$/);
    const d = lines(ok(await ctr.run(['top', id, 'pid', 'args']), 'top pid args').stdout);
    expect(d[0]).toMatch(/^\s*PID COMMAND$/);
    expect(d[1]).toMatch(/^\s*\d+ sleep 61$/);
    // without pid among them the rows are still the container's, and no PID column shows
    const a = lines(ok(await ctr.run(['top', id, 'args']), 'top args').stdout);
    expect(a).toEqual(['COMMAND', 'sleep 61']);
    refused(await ctr.run(['top', id, '--bogus-ps-option']), 'top with a bad ps option', /ps /);
    ok(await ctr.run(['rm', '-f', id]), 'rm -f');
  });
});

describe('a reboot (simulated)', () => {
  it('monitors, containers and the pause process killed, the runtime dir emptied: ps -a shows them exited; start, exec, rm work', async () => {
    const a = await runDetached(ctr, ['busybox', 'sleep', '300']);
    const b = await runDetached(ctr, ['-it', 'busybox', 'sh']);
    for (const id of [a, b]) {
      const st = JSON.parse(fs.readFileSync(path.join(ctr.root, 'containers', id, 'state.json'), 'utf8'));
      process.kill(st.monitorPid, 'SIGKILL');
      try {
        process.kill(st.pid, 'SIGKILL');
      } catch {
        /* gone with its monitor */
      }
    }
    const pause = Number(fs.readFileSync(path.join(ctr.runroot, 'pause.pid'), 'utf8').split(' ')[0]);
    process.kill(pause, 'SIGKILL');
    await sleep(200);
    fs.rmSync(ctr.runroot, { recursive: true, force: true });
    const ps = lines(ok(await ctr.run(['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.State}}']), 'ps -a').stdout);
    expect(ps).toContain(`${a} exited`);
    expect(ps).toContain(`${b} exited`);
    expect(lines(ok(await ctr.run(['ps', '-q']), 'ps -q').stdout)).toEqual([]);
    ok(await ctr.run(['start', a]), 'start after the reboot');
    expect(await status(ctr, a)).toBe('running');
    expect(ok(await ctr.run(['exec', a, 'echo', 'exec-ok']), 'exec').stdout).toBe('exec-ok\n');
    ok(await ctr.run(['rm', '-f', a, b]), 'rm -f');
    expect(await allIds(ctr)).not.toContain(a);
  }, 60_000);
});

describe('a missing helper', () => {
  it('load, run and create fail with one line naming ctr-helper and leave nothing behind', async () => {
    // a copy of the binary with no helper beside it (nor in ../libexec/ctr)
    const dir = fs.mkdtempSync(path.join(ctr.dir, 'lonely-'));
    const bin = path.join(dir, 'ctr');
    try {
      fs.linkSync(ctr.argv([], false)[0]!, bin);
    } catch {
      fs.copyFileSync(ctr.argv([], false)[0]!, bin);
      fs.chmodSync(bin, 0o755);
    }
    const root = path.join(dir, 'store');
    const argv = (args: string[]) => [bin, '--root', root, '--runroot', path.join(ctr.runroot, 'lonely'), ...args];
    const env = { ...ctr.env, CTR_HELPER: undefined };
    const fx = fixturePath(fixtures().images.busybox.files.docker!);
    const l = await run(argv(['load', '-i', fx]), { env });
    refused(l, 'load without a helper', /ctr-helper not found.*CTR_HELPER/);
    const leftovers = fs.existsSync(root) ? fs.readdirSync(path.join(root, 'layers')).concat(fs.readdirSync(path.join(root, 'images'))) : [];
    expect(leftovers).toEqual([]);
    // the main store (with busybox) through the lonely binary: create refuses, nothing is added
    const before = await allIds(ctr);
    const r = await run([bin, '--root', ctr.root, '--runroot', ctr.runroot, 'run', '--rm', 'busybox', 'true'], { env });
    refused(r, 'run without a helper', /ctr-helper not found/);
    expect(await allIds(ctr)).toEqual(before);
    const bad = await run([bin, '--root', ctr.root, '--runroot', ctr.runroot, 'run', '--rm', 'busybox', 'true'], { env: { ...env, CTR_HELPER: '/no/such/helper' } });
    refused(bad, 'CTR_HELPER pointing nowhere', /CTR_HELPER=\/no\/such\/helper/);
    expect(await allIds(ctr)).toEqual(before);
  }, 60_000);
});

describe('kill, diff', () => {
  it('kill -s with a signal the container ignores returns at once; the container keeps running', async () => {
    // PID 1 of a PID namespace ignores signals it has no handler for
    const id = await runDetached(ctr, ['busybox', 'sleep', '60']);
    const r = await ctr.run(['kill', '-s', 'USR1', id], { timeout: 10_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code, describeResult('kill -s USR1', r)).toBe(0);
    expect(r.stdout.trim()).toBe(id);
    await sleep(300);
    expect(await status(ctr, id)).toBe('running');
    ok(await ctr.run(['kill', '-s', 'SIGKILL', id]), 'kill -s SIGKILL');
    await waitStatus(ctr, id, 'exited');
    expect(await ctr.run(['inspect', '--format', '{{.State.ExitCode}}', id]).then((x) => x.stdout.trim())).toBe('137');
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('diff: A/C/D as Docker, without the mount points ctr made (/etc/hosts & co.) nor /etc for them', async () => {
    const quiet = await runDetached(ctr, ['busybox', 'true']);
    const busy = await runDetached(ctr, ['busybox', 'sh', '-c', 'echo x > /etc/newf; rm /bin/vi; mkdir -p /data/sub']);
    ok(await ctr.run(['wait', quiet, busy]), 'wait');
    expect(ok(await ctr.run(['diff', quiet]), 'diff quiet').stdout).toBe('');
    expect(lines(ok(await ctr.run(['diff', busy]), 'diff busy').stdout)).toEqual(['C /bin', 'D /bin/vi', 'A /data', 'A /data/sub', 'C /etc', 'A /etc/newf']);
    ok(await ctr.run(['rm', quiet, busy]), 'rm');
  });
});

/** Host PIDs (not zombies) whose command line contains `marker`. */
function procsWith(marker: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').includes(marker) && pidAlive(Number(d))) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe('two shells at once', () => {
  it('start racing rm -f: the container ends up removed, no process left, every error is one known line', async () => {
    for (let round = 0; round < 4; round++) {
      const secs = `${90 + round}.${Math.floor(Math.random() * 1000)}`;
      const id = ok(await ctr.run(['create', 'busybox', 'sleep', secs]), 'create').stdout.trim();
      const [st, rm] = await Promise.all([ctr.run(['start', id]), ctr.run(['rm', '-f', id])]);
      expect(rm.code, describeResult('rm -f', rm)).toBe(0);
      if (st.code !== 0) refused(st, 'start removed meanwhile', /no such container/);
      expect(await allIds(ctr)).not.toContain(id);
      await sleep(300);
      expect(procsWith(`sleep ${secs}`)).toEqual([]);
    }
  }, 90_000);

  it('three rm -f of one running container at once: it is gone, the others say no such container', async () => {
    for (let round = 0; round < 3; round++) {
      const id = await runDetached(ctr, ['busybox', 'sleep', '60']);
      const rs = await Promise.all([0, 1, 2].map(() => ctr.run(['rm', '-f', id])));
      expect(rs.filter((r) => r.code === 0).length, rs.map((r) => describeResult('rm -f', r)).join('\n')).toBeGreaterThanOrEqual(1);
      for (const r of rs.filter((x) => x.code !== 0)) refused(r, 'rm -f racing', /no such container/);
      expect(await allIds(ctr)).not.toContain(id);
    }
  }, 60_000);
});

export { inspect };
