// exec (-i, -t, -d, -e, --env-file, -u, -w, --privileged, exit codes) and attach.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeResult, uniqueName, useCtr, waitFor } from './lib';
import { fmt, lines, ok, refused, runDetached, sleep, status, waitLog, waitStatus } from './containers-util';

const ctr = useCtr({ images: ['busybox'] });

// one long-running container for the exec tests
let box = '';
beforeAll(async () => {
  box = uniqueName('exec');
  await runDetached(ctr, ['--name', box, '-e', 'FROM_RUN=yes', '-w', '/tmp', '--network', 'none', 'busybox', 'sleep', '600']);
}, 60_000);
afterAll(async () => {
  await ctr.run(['rm', '-f', box]);
});

async function exec(args: string[], opts: { input?: string } = {}) {
  return ctr.run(['exec', ...args], opts);
}

describe('exec', () => {
  it('runs in the container: its processes, environment and working directory', async () => {
    const r = ok(await exec([box, 'sh', '-c', 'echo "$FROM_RUN"; pwd; hostname; ps -o pid,comm']), 'exec');
    const [env, cwd, host, header, ...procs] = lines(r.stdout);
    expect(env).toBe('yes');
    expect(cwd).toBe('/tmp');
    expect(host).toBe((await fmt(ctr, box, '{{.Config.Hostname}}')));
    expect(header).toMatch(/PID\s+COMMAND/);
    // PID 1 is the container's own process; nothing of the host is visible
    expect(procs.map((p) => p.trim().split(/\s+/))).toEqual(expect.arrayContaining([['1', 'sleep']]));
    expect(procs.length).toBeLessThanOrEqual(4);
  });

  it('passes the exit code through (own code, 127 not found, 126 not executable)', async () => {
    const r = await exec([box, 'sh', '-c', 'echo partial; exit 7']);
    expect(r.code, describeResult('exec exit 7', r)).toBe(7);
    expect(r.stdout).toBe('partial\n');
    refused(await exec([box, 'no-such-cmd']), 'exec missing', /no-such-cmd/, 127);
    refused(await exec([box, '/etc/passwd']), 'exec not executable', /\/etc\/passwd/, 126);
    const e = await exec([box, 'sh', '-c', 'echo to-stderr >&2; exit 1']);
    expect(e.code).toBe(1);
    expect(e.stderr).toBe('to-stderr\n');
  });

  it('-e and --env-file add variables; -w sets the directory; -u sets the user and its groups', async () => {
    const f = path.join(ctr.dir, 'exec.env');
    fs.writeFileSync(f, '# comment\nFILE_VAR=from file\n');
    const r = ok(await exec(['-e', 'X=1', '--env-file', f, '-w', '/etc', '-u', 'app', box, 'sh', '-c', 'echo "$X|$FILE_VAR|$FROM_RUN"; pwd; id -u; id -Gn']), 'exec -e -w -u');
    expect(r.stdout).toBe('1|from file|yes\n/etc\n1000\napp staff users\n');
    expect(ok(await exec(['-u', '1000:100', box, 'sh', '-c', 'id -u; id -g']), 'exec -u uid:gid').stdout).toBe('1000\n100\n');
    refused(await exec(['-u', 'nosuchuser', box, 'true']), 'exec -u unknown', /nosuchuser/);
    refused(await exec(['-w', 'relative', box, 'true']), 'exec -w relative', /absolute/);
  });

  it('has the container’s capabilities and no_new_privs; --privileged gives all capabilities', async () => {
    const st = ok(await exec([box, 'cat', '/proc/self/status']), 'exec').stdout;
    expect(st).toMatch(/CapEff:\s*00000000a80425fb/);
    expect(st).toMatch(/NoNewPrivs:\s*1/);
    const app = ok(await exec(['-u', 'app', box, 'cat', '/proc/self/status']), 'exec -u app').stdout;
    expect(app).toMatch(/CapEff:\s*0000000000000000/);
    const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    const all = ((1n << BigInt(last + 1)) - 1n).toString(16).padStart(16, '0');
    const p = ok(await exec(['--privileged', box, 'cat', '/proc/self/status']), 'exec --privileged').stdout;
    expect(p).toMatch(new RegExp(`CapEff:\\s*${all}`));
  });

  it('-i passes stdin; without -i the command gets none', async () => {
    expect(ok(await exec(['-i', box, 'sh', '-c', 'tr a-z A-Z'], { input: 'hello\n' }), 'exec -i').stdout).toBe('HELLO\n');
    expect(ok(await exec([box, 'sh', '-c', 'cat; echo eof'], { input: 'ignored\n' }), 'exec no -i').stdout).toBe('eof\n');
  });

  it('-d returns at once and the command runs on in the background', async () => {
    const t0 = Date.now();
    const r = ok(await exec(['-d', box, 'sh', '-c', 'sleep 3; echo done > /tmp/exec-d']), 'exec -d');
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(r.stdout).toBe('');
    expect((await exec([box, 'cat', '/tmp/exec-d'])).code).not.toBe(0);
    await waitFor(async () => (await exec([box, 'cat', '/tmp/exec-d'])).stdout === 'done\n', { timeout: 10_000, what: 'the exec -d command' });
  });

  it('-it gives a pty (tty is /dev/pts/N) and runs an interactive shell', async () => {
    const s = ctr.tty(['exec', '-it', box, 'sh'], { rows: 30, cols: 90 });
    await s.expect('# ', { timeout: 10_000 });
    const from = s.output().length;
    s.write('tty; echo "sum=$((40+2))"\r');
    await s.expect(/\/dev\/pts\/\d+\r\nsum=42\r\n/, { from, timeout: 10_000 });
    s.write('exit 3\r');
    const r = await s.wait(10_000);
    expect(r.code, r.output).toBe(3);
    // the container itself is not affected
    expect(await status(ctr, box)).toBe('running');
  });

  it('-it: the exec pty has the terminal’s size from the start', async () => {
    const r = await ctr.runTty(['exec', '-it', box, 'stty', 'size'], { rows: 30, cols: 90, timeout: 10_000 });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/^30 90\r\n/);
  });

  it('-it: the exec pty follows the terminal’s size and its resizes', async () => {
    const s = ctr.tty(['exec', '-it', box, 'sh'], { rows: 20, cols: 70 });
    await s.expect('# ', { timeout: 10_000 });
    await sleep(300);
    let from = s.output().length;
    s.write('stty size\r');
    await s.expect('20 70', { from, timeout: 10_000 });
    s.resize(41, 131);
    await sleep(300);
    from = s.output().length;
    s.write('stty size\r');
    await s.expect('41 131', { from, timeout: 10_000 });
    s.write('exit\r');
    expect((await s.wait(10_000)).code).toBe(0);
  });

  it('exec into a stopped or unknown container is one error line (125)', async () => {
    const id = ok(await ctr.run(['create', 'busybox']), 'create').stdout.trim();
    refused(await exec([id, 'true']), 'exec created', /not running/);
    refused(await exec(['no-such-container', 'true']), 'exec unknown', /no such container/);
    ok(await ctr.run(['rm', id]), 'rm');
  });
});

describe('attach', () => {
  it('attach streams the output of a running container and exits with its code', async () => {
    const id = await runDetached(ctr, ['busybox', 'sh', '-c', 'echo early; sleep 1; echo attached-late; exit 4']);
    await waitLog(ctr, id, /early/);
    const r = await ctr.run(['attach', id], { timeout: 10_000 });
    expect(r.code, describeResult('attach', r)).toBe(4);
    // attach shows what comes after it connected (the log has it all)
    expect(r.stdout).toBe('attached-late\n');
    expect((await ctr.run(['logs', id])).stdout).toBe('early\nattached-late\n');
    refused(await ctr.run(['attach', id]), 'attach to a stopped container', /stopped|not running/);
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('run -d -i keeps stdin open; attach writes to it', async () => {
    const id = await runDetached(ctr, ['-i', 'busybox', 'sh', '-c', 'while read l; do echo "got $l"; done; echo eof; exit 3']);
    await sleep(300);
    expect(await status(ctr, id)).toBe('running');
    const r = await ctr.run(['attach', id], { input: 'one\ntwo\n', timeout: 10_000 });
    expect(r.stdout).toBe('got one\ngot two\neof\n');
    expect(r.code, describeResult('attach with stdin', r)).toBe(3);
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('create -i, start, then attach', async () => {
    const id = ok(await ctr.run(['create', '-i', 'busybox', 'sh', '-c', 'read l; echo "read $l"']), 'create -i').stdout.trim();
    ok(await ctr.run(['start', id]), 'start');
    await sleep(200);
    expect(await status(ctr, id)).toBe('running');
    const r = await ctr.run(['attach', id], { input: 'line\n', timeout: 10_000 });
    expect(r.code, describeResult('attach', r)).toBe(0);
    expect(r.stdout).toBe('read line\n');
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('attach --no-stdin leaves the container’s stdin alone; a signal to attach reaches the container (sig-proxy)', async () => {
    const id = await runDetached(ctr, ['-i', 'busybox', 'sh', '-c', 'trap "echo got-INT; exit 12" INT; echo ready; while read l; do echo "got $l"; done']);
    await waitLog(ctr, id, /ready/);
    const a = ctr.spawn(['attach', '--no-stdin', id]);
    await sleep(500);
    a.kill('SIGINT');
    const r = await a.wait(10_000);
    expect(r.stdout).toContain('got-INT');
    await waitStatus(ctr, id, 'exited');
    expect(await fmt(ctr, id, '{{.State.ExitCode}}')).toBe('12');
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('attach with a tty, Ctrl-P Ctrl-Q detaches and the container keeps running', async () => {
    const name = uniqueName('att');
    await runDetached(ctr, ['-it', '--name', name, 'busybox', 'sh']);
    const s = ctr.tty(['attach', name]);
    await sleep(400);
    s.write('echo "in-$((6*7))"\r');
    await s.expect('in-42', { timeout: 10_000 });
    s.write('\x10\x11');
    const r = await s.wait(10_000);
    expect(r.code, r.output).toBe(0);
    expect(await status(ctr, name)).toBe('running');
    // --detach-keys changes the sequence
    const s2 = ctr.tty(['attach', '--detach-keys', 'ctrl-x', name]);
    await sleep(400);
    s2.write('echo again\r');
    await s2.expect('again', { timeout: 10_000 });
    s2.write('\x18');
    expect((await s2.wait(10_000)).code).toBe(0);
    expect(await status(ctr, name)).toBe('running');
    ok(await ctr.run(['rm', '-f', name]), 'rm -f');
  });
});
