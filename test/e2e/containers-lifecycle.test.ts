// Container lifecycle: create/start (-a, -i), stop (-t, StopSignal, SIGKILL after the
// timeout), kill -s, restart, rm (-f, several, $(ps -aq), xargs), wait, rename, pause/unpause,
// container prune, ID prefixes, and a killed monitor (what a reboot leaves).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResult, run, uniqueName, useCtr, waitFor } from './lib';
import { allIds, fmt, inspect, lines, ok, pidAlive, pidState, refused, runDetached, status, waitLog, waitStatus } from './containers-util';

const ctr = useCtr({ images: ['busybox', 'layered'] });

/** A shell loop that reports the signals it gets and exits with a code per signal. */
const TRAPPER = 'trap "echo got-TERM; exit 0" TERM; trap "echo got-USR1; exit 10" USR1; trap "echo got-HUP; exit 11" HUP; echo ready; while true; do sleep 0.1; done';

async function trapper(extra: string[] = []): Promise<string> {
  const id = await runDetached(ctr, [...extra, 'busybox', 'sh', '-c', TRAPPER]);
  await waitLog(ctr, id, /ready/);
  return id;
}

/** The host argv of ctr with this file's store, quoted for sh. */
function shCtr(): string {
  return ctr.argv([]).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

describe('create and start', () => {
  it('create makes a Created container that start runs', async () => {
    const c = ok(await ctr.run(['create', 'busybox', 'sh', '-c', 'echo started; sleep 60']), 'create');
    expect(c.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const id = c.stdout.trim();
    const i = await inspect(ctr, id);
    expect(i.State).toMatchObject({ Status: 'created', Running: false, Pid: 0, ExitCode: 0, StartedAt: '0001-01-01T00:00:00Z' });
    const ps = ok(await ctr.run(['ps', '-a', '--filter', `id=${id}`, '--format', '{{.Status}}']), 'ps');
    expect(ps.stdout).toBe('Created\n');
    const s = ok(await ctr.run(['start', id.slice(0, 12)]), 'start');
    expect(s.stdout).toBe(`${id.slice(0, 12)}\n`);
    expect(await status(ctr, id)).toBe('running');
    await waitLog(ctr, id, /^started\n$/);
    const pid = Number(await fmt(ctr, id, '{{.State.Pid}}'));
    expect(pidAlive(pid)).toBe(true);
    // starting a running container is fine (Docker: no-op)
    ok(await ctr.run(['start', id]), 'start again');
    expect(Number(await fmt(ctr, id, '{{.State.Pid}}'))).toBe(pid);
    ok(await ctr.run(['rm', '-f', id]), 'rm -f');
  });

  it('start -a attaches the output and exits with the container’s code', async () => {
    const id = ok(await ctr.run(['create', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 4']), 'create').stdout.trim();
    const r = await ctr.run(['start', '-a', id]);
    expect(r.code, describeResult('start -a', r)).toBe(4);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(await fmt(ctr, id, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 4');
    // an exited container starts again, with a fresh log appended
    const r2 = await ctr.run(['start', '-a', id]);
    expect(r2.code).toBe(4);
    expect((await ctr.run(['logs', id])).stdout).toBe('out\nout\n');
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('create -i + start -a -i feeds stdin', async () => {
    const id = ok(await ctr.run(['create', '-i', 'busybox', 'sh', '-c', 'read x; echo "got $x"; exit 6']), 'create -i').stdout.trim();
    const r = await ctr.run(['start', '-a', '-i', id], { input: 'hello\n' });
    expect(r.code, describeResult('start -a -i', r)).toBe(6);
    expect(r.stdout).toBe('got hello\n');
    ok(await ctr.run(['rm', id]), 'rm');
  });
});

describe('stop and kill', () => {
  it('stop sends SIGTERM and returns once the container exited', async () => {
    const id = await trapper();
    const t0 = Date.now();
    const r = ok(await ctr.run(['stop', id]), 'stop');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.stdout).toBe(`${id}\n`);
    expect(await fmt(ctr, id, '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}')).toBe('exited 0 false');
    expect((await ctr.run(['logs', id])).stdout).toBe('ready\ngot-TERM\n');
    // stopping a stopped container succeeds
    ok(await ctr.run(['stop', id]), 'stop again');
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('stop -t N kills a process that ignores SIGTERM after N seconds (exit 137)', async () => {
    const id = await runDetached(ctr, ['busybox', 'sh', '-c', 'trap "" TERM; echo ready; while true; do sleep 0.1; done']);
    await waitLog(ctr, id, /ready/);
    const t0 = Date.now();
    ok(await ctr.run(['stop', '-t', '1', id]), 'stop -t 1');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(5000);
    expect(await fmt(ctr, id, '{{.State.ExitCode}}')).toBe('137');
    // -t 0 kills at once
    ok(await ctr.run(['start', id]), 'start');
    await waitStatus(ctr, id, 'running');
    const t1 = Date.now();
    ok(await ctr.run(['stop', '--time', '0', id]), 'stop -t 0');
    expect(Date.now() - t1).toBeLessThan(5000); // not the 10 s default
    expect(await fmt(ctr, id, '{{.State.ExitCode}}')).toBe('137');
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('stop of several containers waits for them together; an unknown one is reported', async () => {
    const ids = await Promise.all([0, 1, 2].map(() => runDetached(ctr, ['busybox', 'sh', '-c', 'trap "" TERM; echo ready; while true; do sleep 0.1; done'])));
    for (const id of ids) await waitLog(ctr, id, /ready/);
    const t0 = Date.now();
    const r = await ctr.run(['stop', '-t', '1', ids[0]!, 'no-such-container', ids[1]!, ids[2]!]);
    expect(Date.now() - t0).toBeLessThan(2900); // not 3 × 1 s
    expect(r.code, describeResult('stop several', r)).toBe(125);
    expect(lines(r.stdout).sort()).toEqual([...ids].sort());
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^Error: .*no-such-container/)]);
    for (const id of ids) expect(await fmt(ctr, id, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 137');
    ok(await ctr.run(['rm', ...ids]), 'rm');
  });

  it('stop honours the image StopSignal (layered: SIGUSR1) and --stop-signal', async () => {
    const id = await runDetached(ctr, ['layered', TRAPPER]);
    await waitLog(ctr, id, /ready/);
    expect(await fmt(ctr, id, '{{.Config.StopSignal}}')).toBe('SIGUSR1');
    ok(await ctr.run(['stop', id]), 'stop');
    expect((await ctr.run(['logs', id])).stdout).toBe('ready\ngot-USR1\n');
    expect(await fmt(ctr, id, '{{.State.ExitCode}}')).toBe('10');
    const id2 = await trapper(['--stop-signal', 'SIGHUP']);
    ok(await ctr.run(['stop', id2]), 'stop');
    expect(await fmt(ctr, id2, '{{.State.ExitCode}}')).toBe('11');
    ok(await ctr.run(['rm', id, id2]), 'rm');
  });

  it('kill sends SIGKILL by default and -s SIGNAL otherwise; killing a stopped container fails', async () => {
    const id = await trapper();
    const r = ok(await ctr.run(['kill', '-s', 'USR1', id]), 'kill -s USR1');
    expect(r.stdout).toBe(`${id}\n`);
    expect(await ctr.run(['wait', id]).then((w) => w.stdout)).toBe('10\n');
    expect((await ctr.run(['logs', id])).stdout).toBe('ready\ngot-USR1\n');
    ok(await ctr.run(['start', id]), 'start');
    await waitStatus(ctr, id, 'running');
    ok(await ctr.run(['kill', '--signal', 'SIGHUP', id]), 'kill --signal SIGHUP');
    expect((await ctr.run(['wait', id])).stdout).toBe('11\n');
    ok(await ctr.run(['start', id]), 'start');
    await waitStatus(ctr, id, 'running');
    ok(await ctr.run(['kill', id]), 'kill');
    expect((await ctr.run(['wait', id])).stdout).toBe('137\n');
    refused(await ctr.run(['kill', id]), 'kill a stopped container', /not running/);
    refused(await ctr.run(['kill', '-s', 'NOPE', id]), 'kill -s NOPE', /signal/i);
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('restart stops and starts again (new PID and StartedAt)', async () => {
    const id = await trapper();
    const before = await inspect(ctr, id);
    const r = ok(await ctr.run(['restart', '-t', '5', id]), 'restart');
    expect(r.stdout).toBe(`${id}\n`);
    const after = await inspect(ctr, id);
    expect(after.State.Status).toBe('running');
    expect(after.State.Pid).not.toBe(before.State.Pid);
    expect(after.State.StartedAt > before.State.StartedAt).toBe(true);
    expect(pidAlive(before.State.Pid)).toBe(false);
    await waitLog(ctr, id, /ready\ngot-TERM\nready\n/);
    // restart also starts an exited container
    ok(await ctr.run(['stop', id]), 'stop');
    ok(await ctr.run(['restart', id]), 'restart exited');
    expect(await status(ctr, id)).toBe('running');
    ok(await ctr.run(['rm', '-f', id]), 'rm -f');
  });
  it('restart keeps a --rm container (Docker); stop then removes it', async () => {
    const id = await trapper(['--rm']);
    const before = await inspect(ctr, id);
    const r = ok(await ctr.run(['restart', '-t', '5', id]), 'restart --rm container');
    expect(r.stdout).toBe(`${id}\n`);
    const after = await inspect(ctr, id);
    expect(after.State.Status).toBe('running');
    expect(after.State.Pid).not.toBe(before.State.Pid);
    expect(after.HostConfig.AutoRemove).toBe(true);
    await waitLog(ctr, id, /ready\ngot-TERM\nready\n/);
    // kept once, not for good: the next stop removes it, out of sight before stop returns
    ok(await ctr.run(['stop', '-t', '5', id]), 'stop');
    expect(await allIds(ctr)).not.toContain(id);
    expect(fs.existsSync(path.join(ctr.root, 'containers', id))).toBe(false);
  });
});

describe('rm', () => {
  it('refuses a running container without -f (one line, nothing removed); -f kills and removes it', async () => {
    const id = await runDetached(ctr, ['busybox', 'sleep', '60']);
    const pid = Number(await fmt(ctr, id, '{{.State.Pid}}'));
    refused(await ctr.run(['rm', id]), 'rm running', /running/);
    expect(await status(ctr, id)).toBe('running');
    const r = ok(await ctr.run(['rm', '-f', id.slice(0, 12)]), 'rm -f');
    expect(r.stdout).toBe(`${id.slice(0, 12)}\n`);
    expect(await allIds(ctr)).not.toContain(id);
    await waitFor(() => !pidAlive(pid), { what: 'the container process to be gone' });
    expect(fs.existsSync(path.join(ctr.root, 'containers', id))).toBe(false);
  });

  it('removes several at once, by name and ID; an unknown one is reported and the rest removed', async () => {
    const a = await runDetached(ctr, ['--name', uniqueName('rma'), 'busybox', 'true']);
    const b = await runDetached(ctr, ['busybox', 'true']);
    const nameA = (await fmt(ctr, a, '{{.Name}}')).slice(1);
    await waitStatus(ctr, b, 'exited');
    await waitStatus(ctr, a, 'exited');
    const r = await ctr.run(['rm', nameA, 'no-such-container', b]);
    expect(r.code, describeResult('rm with one unknown', r)).toBe(125);
    expect(lines(r.stdout).sort()).toEqual([b, nameA].sort());
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^Error: .*no-such-container/)]);
    const ids = await allIds(ctr);
    expect(ids).not.toContain(a);
    expect(ids).not.toContain(b);
  });

  it('ctr rm $(ctr ps -aq) and ctr ps -aq | xargs ctr rm', async () => {
    for (const round of ['subst', 'xargs']) {
      await Promise.all([0, 1, 2].map(() => runDetached(ctr, ['busybox', 'true'])));
      await waitFor(async () => lines((await ctr.run(['ps', '-q'])).stdout).length === 0, { what: 'all exited' });
      const cmd = round === 'subst' ? `${shCtr()} rm $(${shCtr()} ps -aq)` : `${shCtr()} ps -aq | xargs ${shCtr()} rm`;
      const r = await run(['sh', '-c', cmd], { env: ctr.env });
      expect(r.code, describeResult(cmd, r)).toBe(0);
      expect(lines(r.stdout)).toHaveLength(3);
      expect(await allIds(ctr)).toEqual([]);
    }
  });

  it('rm -f of many running containers at once', async () => {
    const ids = await Promise.all([0, 1, 2, 3].map(() => runDetached(ctr, ['busybox', 'sleep', '60'])));
    const t0 = Date.now();
    ok(await ctr.run(['rm', '-f', ...ids]), 'rm -f');
    expect(Date.now() - t0).toBeLessThan(8000);
    const left = await allIds(ctr);
    for (const id of ids) expect(left).not.toContain(id);
  });
});

describe('wait, rename, pause', () => {
  it('wait blocks until the exit and prints the code; several containers print one line each', async () => {
    const t0 = Date.now();
    const a = await runDetached(ctr, ['busybox', 'sh', '-c', 'sleep 1; exit 3']);
    const b = await runDetached(ctr, ['busybox', 'sh', '-c', 'exit 0']);
    const r = ok(await ctr.run(['wait', a, b]), 'wait');
    // not before A's second was over (however long the two starts took: with vfs each copies its rootfs)
    expect(Date.now() - t0).toBeGreaterThan(1000);
    expect(r.stdout).toBe('3\n0\n');
    // an already exited container answers at once
    expect(ok(await ctr.run(['wait', a]), 'wait exited').stdout).toBe('3\n');
    refused(await ctr.run(['wait', 'no-such-container']), 'wait unknown', /no-such-container/);
    ok(await ctr.run(['rm', a, b]), 'rm');
  });

  it('wait returns the exit code of a --rm container that removes itself', async () => {
    const id = await runDetached(ctr, ['--rm', 'busybox', 'sh', '-c', 'sleep 0.5; exit 9']);
    const r = ok(await ctr.run(['wait', id]), 'wait --rm');
    expect(r.stdout).toBe('9\n');
    await waitFor(async () => !(await allIds(ctr)).includes(id), { what: 'the --rm container to go' });
  });

  it('rename: the new name selects the container, the old one is free; a taken name is refused', async () => {
    const old = uniqueName('old');
    const neu = uniqueName('new');
    const other = uniqueName('other');
    const id = await runDetached(ctr, ['--name', old, 'busybox', 'sleep', '60']);
    await runDetached(ctr, ['--name', other, 'busybox', 'true']);
    ok(await ctr.run(['rename', old, neu]), 'rename');
    expect(await fmt(ctr, neu, '{{.Id}} {{.Name}}')).toBe(`${id} /${neu}`);
    refused(await ctr.run(['inspect', '--type', 'container', old]), 'old name', /no such/i);
    refused(await ctr.run(['rename', neu, other]), 'rename to a taken name', /already in use/);
    expect(await fmt(ctr, id, '{{.Name}}')).toBe(`/${neu}`);
    refused(await ctr.run(['rename', neu, 'bad name!']), 'invalid name', /invalid container name/);
    // the old name can be used again
    ok(await ctr.run(['run', '--rm', '--name', old, 'busybox', 'true']), 'reuse old name');
    ok(await ctr.run(['rm', '-f', neu, other]), 'rm');
  });

  it('pause stops every process (State paused), unpause resumes them', async () => {
    const id = await runDetached(ctr, ['busybox', 'sh', '-c', 'sleep 300 & i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done']);
    await waitStatus(ctr, id, 'running');
    const r = ok(await ctr.run(['pause', id]), 'pause');
    expect(r.stdout).toBe(`${id}\n`);
    const st = (await inspect(ctr, id)).State;
    expect(st).toMatchObject({ Status: 'paused', Paused: true, Running: true });
    const pids = lines(ok(await ctr.run(['top', id, '-o', 'pid']), 'top').stdout).slice(1).map(Number);
    expect(pids.length).toBeGreaterThanOrEqual(2);
    for (const p of pids) expect(pidState(p), `pid ${p}`).toBe('T');
    expect(ok(await ctr.run(['ps', '--filter', `id=${id}`, '--format', '{{.Status}}']), 'ps').stdout).toMatch(/^Up .*\(Paused\)\n$/);
    refused(await ctr.run(['pause', id]), 'pause twice', /paused|not running/);
    ok(await ctr.run(['unpause', id]), 'unpause');
    expect(await fmt(ctr, id, '{{.State.Status}} {{.State.Paused}}')).toBe('running false');
    for (const p of pids) expect(pidState(p), `pid ${p}`).not.toBe('T');
    refused(await ctr.run(['unpause', id]), 'unpause running', /not paused/);
    // a paused container can be stopped
    ok(await ctr.run(['pause', id]), 'pause');
    ok(await ctr.run(['stop', '-t', '1', id]), 'stop paused');
    expect(await status(ctr, id)).toBe('exited');
    ok(await ctr.run(['rm', id]), 'rm');
  });
});

describe('prune, prefixes, monitor loss', () => {
  it('container prune removes stopped containers only and prints their IDs', async () => {
    const running = await runDetached(ctr, ['busybox', 'sleep', '60']);
    const exited = await runDetached(ctr, ['busybox', 'true']);
    const created = ok(await ctr.run(['create', 'busybox']), 'create').stdout.trim();
    await waitStatus(ctr, exited, 'exited');
    const r = ok(await ctr.run(['container', 'prune', '-f']), 'prune');
    expect(lines(r.stdout).filter((l) => /^[0-9a-f]{64}$/.test(l)).sort()).toEqual([created, exited].sort());
    expect(await allIds(ctr)).toEqual([running]);
    ok(await ctr.run(['rm', '-f', running]), 'rm');
  });

  it('any unique ID prefix selects a container; an ambiguous one is one clear error', async () => {
    const ids: string[] = [];
    let dup: [string, string] | undefined;
    while (!dup && ids.length < 17) {
      const id = ok(await ctr.run(['create', 'busybox']), 'create').stdout.trim();
      const twin = ids.find((o) => o[0] === id[0]);
      if (twin) dup = [twin, id];
      ids.push(id);
    }
    expect(dup).toBeDefined();
    const [a, b] = dup!;
    let common = 0;
    while (a[common] === b[common]) common++;
    const r = await ctr.run(['inspect', '--type', 'container', a.slice(0, common)]);
    refused(r, 'ambiguous prefix', /ambiguous/);
    refused(await ctr.run(['start', a.slice(0, common)]), 'start ambiguous', /ambiguous/);
    // one more character is unique
    expect(await fmt(ctr, a.slice(0, common + 1), '{{.Id}}')).toBe(a);
    expect(await fmt(ctr, b.slice(0, common + 1), '{{.Id}}')).toBe(b);
    refused(await ctr.run(['inspect', '--type', 'container', 'f'.repeat(64)]), 'unknown full ID', /no such/i);
    ok(await ctr.run(['rm', ...ids]), 'rm');
  });

  it('a monitor killed with SIGKILL (as by a reboot): the container ends, ps -a shows Exited, rm and start work', async () => {
    const id = await runDetached(ctr, ['busybox', 'sleep', '300']);
    const state = JSON.parse(fs.readFileSync(path.join(ctr.root, 'containers', id, 'state.json'), 'utf8'));
    expect(pidAlive(state.monitorPid)).toBe(true);
    process.kill(state.monitorPid, 'SIGKILL');
    await waitFor(() => !pidAlive(state.pid), { what: 'the container process to end with its monitor' });
    // a reboot also empties the runtime dir (tmpfs): the container's monitor dir goes too
    fs.rmSync(path.join(ctr.runroot, 'c', id.slice(0, 12)), { recursive: true, force: true });
    const ps = ok(await ctr.run(['ps', '-a', '--filter', `id=${id}`, '--format', '{{.State}} {{.Status}}']), 'ps -a');
    expect(ps.stdout).toMatch(/^exited Exited \(\d+\) /);
    expect(lines(ok(await ctr.run(['ps', '-q']), 'ps').stdout)).not.toContain(id.slice(0, 12));
    expect((await inspect(ctr, id)).State).toMatchObject({ Status: 'exited', Running: false, Pid: 0 });
    // it can be started again, and removed
    ok(await ctr.run(['start', id]), 'start after monitor loss');
    expect(await status(ctr, id)).toBe('running');
    ok(await ctr.run(['rm', '-f', id]), 'rm -f');
    expect(await allIds(ctr)).not.toContain(id);
  });
});
