// `ctr run` as a Docker user tries it: --rm, -d, names, environment, working dir, users,
// entrypoint, hostname, labels, bind mounts, networks, --init, --read-only, capabilities,
// log rotation, exit codes, and -it on a terminal (tty, window size, detach keys).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResult, uniqueName, useCtr, waitFor } from './lib';
import { allIds, fmt, inspect, lines, ok, refused, runDetached, status } from './containers-util';

const ctr = useCtr({ images: ['busybox', 'layered'] });

/** `run --rm busybox ARGS`, must exit 0; returns stdout. */
async function out(args: string[], opts: { input?: string } = {}): Promise<string> {
  const r = ok(await ctr.run(['run', '--rm', ...args], opts), `run --rm ${args.join(' ')}`);
  return r.stdout;
}

function hostDir(name: string): string {
  const d = path.join(ctr.dir, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

const haveSlirp = ['/usr/bin/slirp4netns', '/usr/local/bin/slirp4netns', '/bin/slirp4netns'].some((p) => fs.existsSync(p));

describe('run: basics', () => {
  it('--rm runs, prints the output, and leaves nothing behind', async () => {
    const before = await allIds(ctr);
    const name = uniqueName('rm');
    const r = ok(await ctr.run(['run', '--rm', '--name', name, 'busybox', 'echo', 'hi']), 'run --rm');
    expect(r.stdout).toBe('hi\n');
    expect(r.stderr).toBe('');
    expect(await allIds(ctr)).toEqual(before);
    refused(await ctr.run(['inspect', '--type', 'container', name]), 'inspect removed', /no such/i);
    // the name is free again
    ok(await ctr.run(['run', '--rm', '--name', name, 'busybox', 'true']), 'reuse the name');
  });

  it('-d prints a 64-hex ID and the container runs in the background', async () => {
    const r = ok(await ctr.run(['run', '-d', 'busybox', 'sleep', '60']), 'run -d');
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const id = r.stdout.trim();
    expect(await status(ctr, id)).toBe('running');
    const ps = ok(await ctr.run(['ps', '-q']), 'ps -q');
    expect(lines(ps.stdout)).toContain(id.slice(0, 12));
    ok(await ctr.run(['rm', '-f', id]), 'rm -f');
    expect(await allIds(ctr)).not.toContain(id);
  });

  it('--name names the container; a name in use is refused with nothing created', async () => {
    const name = uniqueName('named');
    const id = await runDetached(ctr, ['--name', name, 'busybox', 'sleep', '60']);
    expect(await fmt(ctr, name, '{{.Name}}')).toBe(`/${name}`);
    expect(await fmt(ctr, name, '{{.Id}}')).toBe(id);
    const before = await allIds(ctr);
    const r = await ctr.run(['run', '-d', '--name', name, 'busybox', 'sleep', '60']);
    refused(r, 'run with a taken name', new RegExp(`${name}.*already in use|already in use.*${name}`));
    expect(r.stdout).toBe('');
    expect(await allIds(ctr)).toEqual(before);
    // create refuses it the same way
    refused(await ctr.run(['create', '--name', name, 'busybox']), 'create with a taken name', /already in use/);
    expect(await allIds(ctr)).toEqual(before);
    ok(await ctr.run(['rm', '-f', name]), 'rm -f');
  });

  it('gives containers Docker-style adjective_surname names', async () => {
    const ids = [await runDetached(ctr, ['busybox', 'true']), await runDetached(ctr, ['busybox', 'true'])];
    const names = await Promise.all(ids.map((id) => fmt(ctr, id, '{{.Name}}')));
    for (const n of names) expect(n).toMatch(/^\/[a-z]+_[a-z]+$/);
    expect(names[0]).not.toBe(names[1]);
    ok(await ctr.run(['rm', '-f', ...ids]), 'rm');
  });

  it('-e sets variables, KEY alone takes the host value, -e overrides the image ENV', async () => {
    const o = await out(['-e', 'FOO=bar baz', '-e', 'HOSTVAR', '-e', 'GREETING=over', 'layered', 'echo "$FOO|$HOSTVAR|$GREETING"'], {});
    expect(o).toBe('bar baz||over\n');
    const r = ok(await ctr.run(['run', '--rm', '-e', 'HOSTVAR', 'busybox', 'sh', '-c', 'echo "[$HOSTVAR]"'], { env: { HOSTVAR: 'from-host' } }), 'run -e KEY');
    expect(r.stdout).toBe('[from-host]\n');
    // the image's ENV and PATH are there
    expect(await out(['layered', 'echo "$GREETING $PATH"'])).toBe('hello-layered /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
  });

  it('--env-file reads KEY=VALUE lines, skips comments and blanks; -e wins', async () => {
    const f = path.join(hostDir('envfile'), 'env');
    fs.writeFileSync(f, '# a comment\nA=1\n\nB=two words\nC=from-file\n');
    expect(await out(['--env-file', f, '-e', 'C=from-flag', 'busybox', 'sh', '-c', 'echo "$A|$B|$C"'])).toBe('1|two words|from-flag\n');
  });

  it('--env-file is for the container only: the binary\'s Node never reads it (nor ctr\'s own environment)', async () => {
    const f = path.join(hostDir('envfile-node'), 'env');
    // were Node to read this file (it did, before the SEA's execArgv "--"), its NODE_OPTIONS
    // line would stop the binary (exit 9), and the driver would reach ctr's own environment
    fs.writeFileSync(f, 'CTR_STORAGE_DRIVER=no-such-driver\nNODE_OPTIONS=--no-such-node-option\n');
    expect(await out(['--env-file', f, 'busybox', 'sh', '-c', 'echo "$CTR_STORAGE_DRIVER|$NODE_OPTIONS"'])).toBe('no-such-driver|--no-such-node-option\n');
    expect(await out([`--env-file=${f}`, 'busybox', 'sh', '-c', 'echo "$CTR_STORAGE_DRIVER"'])).toBe('no-such-driver\n');
  });

  it('-w sets the working directory (created when missing); the image WORKDIR is the default', async () => {
    expect(await out(['-w', '/tmp', 'busybox', 'pwd'])).toBe('/tmp\n');
    expect(await out(['--workdir', '/new/dir', 'busybox', 'pwd'])).toBe('/new/dir\n');
    expect(await out(['layered'])).toBe('hello-layered from /data\n');
  });

  it('-u name, -u uid:gid, and the supplementary groups of the user', async () => {
    // --network none: see the slirp4netns test below for what a non-root user does to it
    expect(await out(['--network', 'none', '-u', 'app', 'busybox', 'sh', '-c', 'id -u; id -g; id -Gn; echo $HOME; whoami'])).toBe(
      '1000\n1000\napp staff users\n/home/app\napp\n',
    );
    expect(await out(['--network', 'none', '-u', '1000:100', 'busybox', 'sh', '-c', 'id -u; id -g'])).toBe('1000\n100\n');
    expect(await out(['--network', 'none', '-u', '4242', 'busybox', 'sh', '-c', 'id -u; id -g'])).toBe('4242\n0\n');
    expect(await out(['--network', 'none', '-u', 'app:users', 'busybox', 'sh', '-c', 'id -u; id -gn'])).toBe('1000\nusers\n');
    // the default is root, with root's supplementary groups from /etc/group (Docker)
    expect(await out(['--network', 'none', 'busybox', 'sh', '-c', 'id -u; id -Gn'])).toBe('0\nroot wheel\n');
  });

  // slirp4netns used to open /proc/PID/ns/net of the init, which a non-root -u closes to it once
  // the init has switched user: it failed about every other run. Twelve tries.
  (haveSlirp ? it : it.skip)('a non-root -u keeps the default network (slirp4netns tap0)', async () => {
    for (let i = 0; i < 12; i++) {
      const r = await ctr.run(['run', '--rm', '-u', '1000', 'busybox', 'ls', '/sys/class/net']);
      expect(r.code, describeResult('run -u 1000', r)).toBe(0);
      expect(r.stderr).toBe('');
      expect(lines(r.stdout)).toContain('tap0');
    }
  });

  it('--entrypoint replaces the image entrypoint (and drops its CMD)', async () => {
    expect(await out(['--entrypoint', '/bin/echo', 'busybox', 'hello', 'entry'])).toBe('hello entry\n');
    expect(await out(['--entrypoint', 'pwd', 'layered'])).toBe('/data\n');
    const id = await runDetached(ctr, ['--entrypoint', '/bin/echo', 'layered', 'x']);
    expect(await fmt(ctr, id, '{{json .Config.Entrypoint}} {{.Path}} {{json .Args}}')).toBe('["/bin/echo"] /bin/echo ["x"]');
    ok(await ctr.run(['rm', '-f', id]), 'rm');
  });

  it('--hostname and -h set the host name (and /etc/hostname)', async () => {
    expect(await out(['--hostname', 'web01', 'busybox', 'sh', '-c', 'hostname; cat /etc/hostname'])).toBe('web01\nweb01\n');
    expect(await out(['-h', 'db02', 'busybox', 'hostname'])).toBe('db02\n');
  });

  it('-l sets labels (inspect, ps --filter label=) on top of the image labels', async () => {
    const id = await runDetached(ctr, ['-l', 'tier=web', '--label', 'empty', 'layered', 'true']);
    const labels = JSON.parse(await fmt(ctr, id, '{{json .Config.Labels}}'));
    expect(labels).toMatchObject({ tier: 'web', empty: '', 'test.ctr.fixture': 'layered' });
    const ps = ok(await ctr.run(['ps', '-a', '-q', '--no-trunc', '--filter', 'label=tier=web']), 'ps --filter label');
    expect(lines(ps.stdout)).toEqual([id]);
    ok(await ctr.run(['rm', '-f', id]), 'rm');
  });
});

describe('run: bind mounts', () => {
  it('-v HOST:CTR is read-write; files written inside show up on the host, owned by the user', async () => {
    const d = hostDir('vol-rw');
    fs.writeFileSync(path.join(d, 'from-host'), 'host data\n');
    const o = await out(['-v', `${d}:/data`, 'busybox', 'sh', '-c', 'cat /data/from-host; echo written > /data/from-ctr; ls /data']);
    expect(o).toBe('host data\nfrom-ctr\nfrom-host\n');
    expect(fs.readFileSync(path.join(d, 'from-ctr'), 'utf8')).toBe('written\n');
    expect(fs.statSync(path.join(d, 'from-ctr')).uid).toBe(process.getuid!());
    // explicit :rw works the same
    await out(['-v', `${d}:/data:rw`, 'busybox', 'sh', '-c', 'echo again > /data/rw']);
    expect(fs.readFileSync(path.join(d, 'rw'), 'utf8')).toBe('again\n');
  });

  it('-v HOST:CTR:ro refuses writes and leaves the host untouched', async () => {
    const d = hostDir('vol-ro');
    fs.writeFileSync(path.join(d, 'keep'), 'original\n');
    const r = await ctr.run(['run', '--rm', '-v', `${d}:/data:ro`, 'busybox', 'sh', '-c', 'cat /data/keep; echo x > /data/keep; echo y > /data/new']);
    expect(r.code, describeResult('write to ro volume', r)).not.toBe(0);
    expect(r.stdout).toBe('original\n');
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(fs.readFileSync(path.join(d, 'keep'), 'utf8')).toBe('original\n');
    expect(fs.existsSync(path.join(d, 'new'))).toBe(false);
    const id = await runDetached(ctr, ['-v', `${d}:/data:ro`, 'busybox', 'true']);
    const mounts = (await inspect(ctr, id)).Mounts;
    expect(mounts).toEqual([expect.objectContaining({ Type: 'bind', Source: d, Destination: '/data', RW: false })]);
    ok(await ctr.run(['rm', '-f', id]), 'rm');
  });
});

describe('run: networks', () => {
  it('--network none has loopback only', async () => {
    expect(lines(await out(['--network', 'none', 'busybox', 'ls', '/sys/class/net']))).toEqual(['lo']);
  });

  it('--network host sees the host interfaces and has the host name', async () => {
    const host = fs.readdirSync('/sys/class/net').sort();
    expect(lines(await out(['--network', 'host', 'busybox', 'ls', '/sys/class/net'])).sort()).toEqual(host);
    expect(await out(['--network', 'host', 'busybox', 'hostname'])).toBe(`${require('node:os').hostname()}\n`);
    expect(await out(['--network', 'host', '-h', 'given', 'busybox', 'hostname'])).toBe('given\n');
  });

  it.skipIf(!haveSlirp)('the default network is slirp4netns: tap0 with 10.0.2.100 and a default route', async () => {
    const r = ok(await ctr.run(['run', '--rm', 'busybox', 'sh', '-c', 'ls /sys/class/net; ip -4 addr show tap0; ip route']), 'run default network');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^lo\ntap0\n/);
    expect(r.stdout).toMatch(/inet 10\.0\.2\.100\//);
    expect(r.stdout).toMatch(/default via 10\.0\.2\.2 dev tap0/);
  });
});

describe('run: process options', () => {
  it('--init runs an init as PID 1 that reaps orphaned zombies and forwards stop signals', async () => {
    // the orphan (sleep) is re-parented to PID 1; only a reaping init keeps it from staying a zombie
    const o = await out(['--init', 'busybox', 'sh', '-c', '(sleep 0.2 &); sleep 1; ps -o pid,stat,comm']);
    const rows = lines(o).slice(1).map((l) => l.trim().split(/\s+/));
    const pid1 = rows.find((r) => r[0] === '1');
    expect(pid1?.[2]).not.toBe('sh');
    expect(rows.filter((r) => r[1]?.startsWith('Z')), o).toEqual([]);
    // sh is not PID 1 with --init, so SIGTERM from stop reaches a plain `sleep` and ends it at once
    const id = await runDetached(ctr, ['--init', 'busybox', 'sleep', '60']);
    const t0 = Date.now();
    ok(await ctr.run(['stop', '-t', '10', id]), 'stop');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await fmt(ctr, id, '{{.State.ExitCode}}')).toBe('143');
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('--read-only: writes to / and /tmp fail (no tmpfs unless asked), volumes stay writable', async () => {
    const d = hostDir('ro-vol');
    const r = await ctr.run(['run', '--rm', '--read-only', '-v', `${d}:/out`, 'busybox', 'sh', '-c', 'touch /x || echo no-root; touch /tmp/x || echo no-tmp; touch /out/ok && echo vol-ok']);
    expect(r.code, describeResult('run --read-only', r)).toBe(0);
    expect(r.stdout).toBe('no-root\nno-tmp\nvol-ok\n');
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(fs.existsSync(path.join(d, 'ok'))).toBe(true);
  });

  it('--cap-drop / --cap-add / --privileged change CapEff', async () => {
    const capEff = async (args: string[]) => /CapEff:\s*([0-9a-f]+)/.exec(await out([...args, 'busybox', 'grep', 'CapEff', '/proc/self/status']))?.[1];
    expect(await capEff(['--cap-drop', 'all'])).toBe('0000000000000000');
    expect(await capEff(['--cap-drop', 'chown'])).toBe('00000000a80425fa');
    expect(await capEff(['--cap-add', 'NET_ADMIN'])).toBe('00000000a80435fb');
    expect(await capEff(['--cap-add', 'CAP_SYS_ADMIN', '--cap-drop', 'ALL'])).toBe('0000000000200000');
    const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    const all = ((1n << BigInt(last + 1)) - 1n).toString(16).padStart(16, '0');
    expect(await capEff(['--privileged'])).toBe(all);
    expect(await capEff(['--cap-add', 'all'])).toBe(all);
  });

  it('--privileged: no NoNewPrivs, nothing masked, /proc/sys writable in the namespace', async () => {
    const o = await out(['--privileged', 'busybox', 'sh', '-c', 'grep NoNewPrivs /proc/self/status; mount | grep -c " /sys/firmware " || true']);
    expect(o).toMatch(/NoNewPrivs:\s*0\n0\n/);
  });

  it('--log-opt max-size rotates the log', async () => {
    const id = await runDetached(ctr, ['--log-opt', 'max-size=2k', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 300 ]; do echo "line $i xxxxxxxxxxxxxxxxxxxx"; i=$((i+1)); done']);
    ok(await ctr.run(['wait', id]), 'wait');
    const all = lines((await ctr.run(['logs', id])).stdout);
    expect(all[all.length - 1]).toBe('line 299 xxxxxxxxxxxxxxxxxxxx');
    expect(all.length).toBeLessThan(300); // the oldest lines were rotated away
    expect(all.length).toBeGreaterThan(10);
    const logPath = await fmt(ctr, id, '{{.LogPath}}');
    expect(fs.statSync(logPath).size).toBeLessThanOrEqual(2048);
    expect(await fmt(ctr, id, '{{json .HostConfig.LogConfig.Config}}')).toBe('{"max-size":"2k","max-file":"5"}');
    ok(await ctr.run(['rm', id]), 'rm');
  });
});

describe('run: exit codes', () => {
  it("exits with the container's own code", async () => {
    const r = await ctr.run(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code, describeResult('exit 3', r)).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    // a process killed by a signal: 128+N (the shell as PID 1 cannot be SIGKILLed from inside; a child can)
    const k = await ctr.run(['run', '--rm', 'busybox', 'sh', '-c', 'sh -c \'kill -9 $$\'; exit $?']);
    expect(k.code, describeResult('child killed by SIGKILL', k)).toBe(137);
  });

  it('127 for a missing executable, one error line; --rm still removes the container', async () => {
    const before = await allIds(ctr);
    const r = await ctr.run(['run', '--rm', 'busybox', 'no-such-cmd']);
    refused(r, 'missing executable', /no-such-cmd/, 127);
    expect(await allIds(ctr)).toEqual(before);
    refused(await ctr.run(['run', '--rm', 'busybox', '/no/such/path']), 'missing path', /\/no\/such\/path/, 127);
  });

  it('126 for a file that is not executable', async () => {
    const before = await allIds(ctr);
    refused(await ctr.run(['run', '--rm', 'busybox', '/etc/passwd']), 'not executable', /\/etc\/passwd/, 126);
    refused(await ctr.run(['run', '--rm', 'busybox', '/etc']), 'a directory', /\/etc/, 126);
    expect(await allIds(ctr)).toEqual(before);
  });

  it('125 for ctr’s own errors (unknown image), with nothing created', async () => {
    const before = await allIds(ctr);
    refused(await ctr.run(['run', '--rm', 'no-such-image:1.0', 'true']), 'unknown image', /no-such-image/);
    expect(await allIds(ctr)).toEqual(before);
  });
});

describe('run: terminal', () => {
  it('-it gives a pty: tty prints /dev/pts/N, stty size follows the terminal and its resizes', async () => {
    const name = uniqueName('tty');
    const s = ctr.tty(['run', '-it', '--rm', '--name', name, 'busybox', 'sh'], { rows: 33, cols: 101 });
    await s.expect('# ', { timeout: 15_000 });
    let from = s.output().length;
    s.write('tty; stty size\r');
    await s.expect(/\/dev\/pts\/\d+\r\n33 101\r\n/, { from, timeout: 10_000 });
    from = s.output().length;
    s.resize(40, 120);
    await new Promise((r) => setTimeout(r, 300));
    s.write('stty size\r');
    await s.expect(/40 120\r\n/, { from, timeout: 10_000 });
    s.write('exit 5\r');
    const r = await s.wait(15_000);
    expect(r.code, r.output).toBe(5);
    refused(await ctr.run(['inspect', '--type', 'container', name]), 'gone after --rm');
  });

  it('Ctrl-P Ctrl-Q detaches and leaves the container running; attach gets it back', async () => {
    const name = uniqueName('detach');
    const s = ctr.tty(['run', '-it', '--name', name, 'busybox', 'sh']);
    await s.expect('# ', { timeout: 15_000 });
    s.write('echo before-detach\r');
    await s.expect('before-detach\r\n');
    s.write('\x10\x11');
    const r = await s.wait(10_000);
    expect(r.code, r.output).toBe(0);
    expect(await status(ctr, name)).toBe('running');
    // attach again on a terminal, run something, leave with exit
    const a = ctr.tty(['attach', name]);
    await new Promise((res) => setTimeout(res, 500));
    a.write('echo reattached-$((20+22))\r');
    await a.expect('reattached-42', { timeout: 10_000 });
    a.write('exit 7\r');
    const ar = await a.wait(10_000);
    expect(ar.code, ar.output).toBe(7);
    await waitFor(async () => (await status(ctr, name)) === 'exited');
    expect(await fmt(ctr, name, '{{.State.ExitCode}}')).toBe('7');
    ok(await ctr.run(['rm', name]), 'rm');
  });

  it('-i without -t pipes stdin through', async () => {
    expect(await out(['-i', 'busybox', 'sh', '-c', 'tr a-z A-Z; echo done'], { input: 'hello\nworld\n' })).toBe('HELLO\nWORLD\ndone\n');
    // without -i the container gets no stdin
    expect(await out(['busybox', 'sh', '-c', 'cat; echo eof'], { input: 'ignored\n' })).toBe('eof\n');
  });
});
