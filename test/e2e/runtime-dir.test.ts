// The runtime dir and the store as the user's own: a runtime dir others can write is refused,
// one that cannot be made leaves no container behind, a store file ctr may not read is called
// that (not damage); the pause process ends on SIGTERM and when its runtime dir goes, without
// taking running containers with it; stop/kill work without the monitor's socket.
// (Another user's directories: test/e2e/hostile-user.root.test.ts.)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResult, useCtr, waitFor, type RunResult } from './lib';

const ctr = useCtr({ images: ['busybox'] });
const errLines = (r: RunResult) => r.stderr.split('\n').filter((l) => l.trim() !== '');

let n = 0;
/** A fresh runtime dir path for this file (not made yet). */
const newRunroot = () => path.join(ctr.dir, `rr${++n}`);
/** ctr with this env's store and another runtime dir. */
const withRunroot = (rr: string, args: string[]) => ctr.run(['--root', ctr.root, '--runroot', rr, ...args], { globals: false, timeout: 60_000 });

function pausePid(rr: string): number {
  return Number(fs.readFileSync(path.join(rr, 'pause.pid'), 'utf8').split(' ')[0]);
}

/** Gone, or a zombie nobody has reaped yet (it has ended either way). */
function ended(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z';
  } catch {
    return true;
  }
}

describe('the runtime dir must be private', () => {
  it('one that every user can write is refused with one line naming it; a private one, or a link the user made to one, works', async () => {
    const open = newRunroot();
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    const r = await withRunroot(open, ['run', '--rm', 'busybox', 'true']);
    expect(r.code, describeResult('run', r)).toBe(125);
    expect(errLines(r), r.stderr).toHaveLength(1);
    expect(r.stderr).toContain(`runtime directory ${open} can be written by every user (mode 0777)`);
    expect(fs.readdirSync(open)).toEqual([]);

    const priv = newRunroot();
    fs.mkdirSync(priv, { mode: 0o700 });
    const link = newRunroot();
    fs.symlinkSync(priv, link);
    const ok = await withRunroot(link, ['run', '--rm', 'busybox', 'true']);
    expect(ok.code, describeResult('run', ok)).toBe(0);
    expect(fs.existsSync(path.join(priv, 'pause.pid'))).toBe(true);
    fs.rmSync(priv, { recursive: true, force: true, maxRetries: 10 });
  });

  it('run --rm, run -d --rm and create with a runtime dir that cannot be made: one line naming it, no container left', async () => {
    const ro = path.join(ctr.dir, 'ro');
    fs.mkdirSync(ro, { mode: 0o500 });
    const rr = path.join(ro, 'rr');
    for (const args of [['run', '--rm', 'busybox', 'true'], ['run', '-d', '--rm', 'busybox', 'true'], ['create', 'busybox', 'true']]) {
      const r = await withRunroot(rr, args);
      const ps = await ctr.run(['ps', '-aq']);
      expect(ps.stdout, `ctr ${args.join(' ')} left a container`).toBe('');
      expect(r.code, describeResult(args.join(' '), r)).toBe(125);
      expect(errLines(r), r.stderr).toHaveLength(1);
      expect(r.stderr).toContain(`cannot create runtime directory ${rr}: permission denied`);
    }
  });
});

describe('the store', () => {
  it("a file of the store ctr may not read: permission denied naming it, not 'damaged ... remove it'", async () => {
    const tags = path.join(ctr.root, 'tags.json');
    expect(fs.existsSync(tags)).toBe(true);
    fs.chmodSync(tags, 0o000);
    try {
      const r = await ctr.run(['images']);
      expect(r.code, describeResult('images', r)).toBe(125);
      expect(errLines(r), r.stderr).toEqual([`Error: cannot read ${tags}: permission denied`]);
    } finally {
      fs.chmodSync(tags, 0o644);
    }
  });
});

describe('the pause process', () => {
  it('ends on SIGTERM', async () => {
    const rr = newRunroot();
    const r = await withRunroot(rr, ['run', '--rm', 'busybox', 'true']);
    expect(r.code, describeResult('run', r)).toBe(0);
    const pid = pausePid(rr);
    expect(ended(pid)).toBe(false);
    process.kill(pid, 'SIGTERM');
    await waitFor(() => ended(pid), { timeout: 5_000, what: `pause ${pid} to end on SIGTERM` });
    fs.rmSync(rr, { recursive: true, force: true, maxRetries: 10 });
  });

  it('ends when its runtime dir is removed', async () => {
    const rr = newRunroot();
    const r = await withRunroot(rr, ['run', '--rm', 'busybox', 'true']);
    expect(r.code, describeResult('run', r)).toBe(0);
    const pid = pausePid(rr);
    fs.rmSync(rr, { recursive: true, force: true, maxRetries: 10 });
    await waitFor(() => ended(pid), { timeout: 5_000, what: `pause ${pid} to end with its runtime dir` });
  });

  it('a running container outlives it: exec, stop and rm still work, and the next command makes a new pause', async () => {
    const rr = newRunroot();
    const c = await withRunroot(rr, ['run', '-d', 'busybox', 'sleep', '1000']);
    expect(c.code, describeResult('run -d', c)).toBe(0);
    const id = c.stdout.trim();
    const pid = pausePid(rr);
    process.kill(pid, 'SIGTERM');
    await waitFor(() => ended(pid), { timeout: 5_000, what: 'the pause to end' });
    const e = await withRunroot(rr, ['exec', id, 'sh', '-c', 'echo alive']);
    expect(e.code, describeResult('exec', e)).toBe(0);
    expect(e.stdout).toBe('alive\n');
    const again = await withRunroot(rr, ['run', '--rm', 'busybox', 'true']);
    expect(again.code, describeResult('run', again)).toBe(0);
    expect(pausePid(rr)).not.toBe(pid);
    const rm = await withRunroot(rr, ['rm', '-f', id]);
    expect(rm.code, describeResult('rm -f', rm)).toBe(0);
    fs.rmSync(rr, { recursive: true, force: true, maxRetries: 10 });
  });
});

describe('without the runtime dir the container started with', () => {
  it('stop and kill signal the container themselves; attach says what is missing in one line', async () => {
    const rr = newRunroot();
    const start = async () => {
      const c = await withRunroot(rr, ['run', '-d', 'busybox', 'sleep', '1000']);
      expect(c.code, describeResult('run -d', c)).toBe(0);
      return c.stdout.trim();
    };
    const a = await start();
    const b = await start();
    const c = await start();
    fs.rmSync(rr, { recursive: true, force: true, maxRetries: 10 });

    const stop = await withRunroot(rr, ['stop', '-t', '1', a]);
    expect(stop.code, describeResult('stop', stop)).toBe(0);
    expect(stop.stderr).toBe('');
    const st = await withRunroot(rr, ['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', a]);
    expect(st.stdout.trim()).toBe('exited 137');

    const kill = await withRunroot(rr, ['kill', b]);
    expect(kill.code, describeResult('kill', kill)).toBe(0);
    const wait = await withRunroot(rr, ['wait', b]);
    expect(wait.stdout.trim()).toBe('137');

    const att = await withRunroot(rr, ['attach', c]);
    expect(att.code, describeResult('attach', att)).toBe(125);
    expect(errLines(att), att.stderr).toHaveLength(1);
    expect(att.stderr).toMatch(new RegExp(`cannot reach the monitor of \\S+: its socket ${rr}/c/${c.slice(0, 12)}/attach is gone \\(the runtime directory was removed`));

    const rm = await withRunroot(rr, ['rm', '-f', a, b, c]);
    expect(rm.code, describeResult('rm -f', rm)).toBe(0);
    fs.rmSync(rr, { recursive: true, force: true, maxRetries: 10 });
  }, 60_000);
});
