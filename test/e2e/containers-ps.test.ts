// Looking at containers: ps (-a, -q, -n, -l, --no-trunc, -s, --filter, --format), inspect
// (Docker's JSON shape, --format), logs (-f, --tail, -t, --since, --until) and top.
import { describe, expect, it } from 'vitest';
import { describeResult, fixtures, uniqueName, useCtr } from './lib';
import { fmt, inspect, lines, ok, refused, runDetached, sleep, waitLog, waitStatus } from './containers-util';

const ctr = useCtr({ images: ['busybox', 'layered'] });

async function ps(args: string[]): Promise<string[]> {
  return lines(ok(await ctr.run(['ps', ...args]), `ps ${args.join(' ')}`).stdout);
}

describe('ps', () => {
  it('lists running containers by default, all with -a, in Docker’s columns, newest first', async () => {
    const label = `t=${uniqueName('ps')}`;
    const name1 = uniqueName('run');
    const name2 = uniqueName('done');
    const running = await runDetached(ctr, ['-l', label, '--name', name1, 'busybox', 'sleep', '60']);
    const exited = await runDetached(ctr, ['-l', label, '--name', name2, 'busybox', 'sh', '-c', 'exit 2']);
    await waitStatus(ctr, exited, 'exited');
    const table = await ps(['--filter', `label=${label}`]);
    expect(table[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(table).toHaveLength(2);
    expect(table[1]).toMatch(new RegExp(`^${running.slice(0, 12)}\\s+busybox\\s+"sleep 60"\\s+.* ago\\s+Up .*\\s+${name1}$`));
    const all = await ps(['-a', '--filter', `label=${label}`]);
    expect(all).toHaveLength(3);
    expect(all[1]).toMatch(new RegExp(`^${exited.slice(0, 12)}\\s+busybox\\s+"sh -c 'exit 2'"|^${exited.slice(0, 12)}\\s+busybox\\s+"sh -c exit 2"`));
    expect(all[1]).toMatch(/Exited \(2\) .* ago/);
    expect(all[2]).toContain(running.slice(0, 12));
    // -q: IDs only, 12 characters; --no-trunc: 64
    expect(await ps(['-aq', '--filter', `label=${label}`])).toEqual([exited.slice(0, 12), running.slice(0, 12)]);
    expect(await ps(['-aq', '--no-trunc', '--filter', `label=${label}`])).toEqual([exited, running]);
    ok(await ctr.run(['rm', '-f', running, exited]), 'rm');
  });

  it('-n N and -l show the last created containers (any state)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(ok(await ctr.run(['create', 'busybox', 'true']), 'create').stdout.trim());
    expect(await ps(['-q', '-n', '2'])).toEqual([ids[2]!.slice(0, 12), ids[1]!.slice(0, 12)]);
    expect(await ps(['-q', '-l'])).toEqual([ids[2]!.slice(0, 12)]);
    expect(await ps(['-q', '--latest', '--no-trunc'])).toEqual([ids[2]!]);
    const l = await ps(['-l']);
    expect(l).toHaveLength(2);
    expect(l[1]).toMatch(/\sCreated\s/);
    ok(await ctr.run(['rm', ...ids]), 'rm');
  });

  it('--no-trunc shows the whole ID and command', async () => {
    const long = 'echo this-is-a-rather-long-command-line-for-ps';
    const id = await runDetached(ctr, ['busybox', 'sh', '-c', long]);
    const trunc = (await ps(['-a', '--filter', `id=${id}`]))[1]!;
    expect(trunc).not.toContain(long);
    expect(trunc.startsWith(id.slice(0, 12) + ' ')).toBe(true);
    const full = (await ps(['-a', '--no-trunc', '--filter', `id=${id}`]))[1]!;
    expect(full.startsWith(id + ' ')).toBe(true);
    expect(full).toContain(`sh -c ${long}`);
    ok(await ctr.run(['rm', '-f', id]), 'rm');
  });

  it('-s adds a SIZE column with the writable layer size', async () => {
    const big = await runDetached(ctr, ['busybox', 'sh', '-c', 'head -c 3000000 /dev/zero > /big']);
    const small = await runDetached(ctr, ['busybox', 'true']);
    ok(await ctr.run(['wait', big, small]), 'wait');
    const t = await ps(['-a', '-s', '--filter', `id=${big}`, '--filter', `id=${small}`]);
    expect(t[0]).toMatch(/\sNAMES\s+SIZE$/);
    const sizeOf = (id: string) => {
      const row = t.find((r) => r.startsWith(id.slice(0, 12)))!;
      const m = /([0-9.]+)\s*([kKMG]?B)\b[^\n]*$/.exec(row)!;
      return Number(m[1]) * ({ B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9 } as Record<string, number>)[m[2]!]!;
    };
    expect(sizeOf(big)).toBeGreaterThanOrEqual(2.9e6);
    expect(sizeOf(small)).toBeLessThan(1e6);
    ok(await ctr.run(['rm', big, small]), 'rm');
  });

  it('--filter name=, status=, label=, ancestor=, id= (Docker: labels ANDed, other repeated keys ORed, different keys ANDed)', async () => {
    const tag = uniqueName('f');
    const a = await runDetached(ctr, ['--name', `${tag}-web`, '-l', `grp=${tag}`, '-l', 'role=web', 'busybox', 'sleep', '60']);
    const b = await runDetached(ctr, ['--name', `${tag}-db`, '-l', `grp=${tag}`, '-l', 'role=db', 'layered', 'true']);
    await waitStatus(ctr, b, 'exited');
    const q = (f: string[]) => ps(['-aq', '--no-trunc', ...f.flatMap((x) => ['--filter', x])]);
    expect(await q([`name=${tag}-web`])).toEqual([a]);
    expect((await q([`name=${tag}`])).sort()).toEqual([a, b].sort());
    expect(await q([`label=grp=${tag}`, 'status=running'])).toEqual([a]);
    expect(await q([`label=grp=${tag}`, 'status=exited'])).toEqual([b]);
    expect((await q([`label=grp=${tag}`, 'label=role'])).sort()).toEqual([a, b].sort());
    expect(await q([`label=grp=${tag}`, 'label=role=db'])).toEqual([b]);
    expect(await q([`label=grp=${tag}`, 'ancestor=layered'])).toEqual([b]);
    expect(await q([`label=grp=${tag}`, 'ancestor=busybox:latest'])).toEqual([a]);
    expect(await q([`label=grp=${tag}`, `ancestor=${fixtures().images.layered.id}`])).toEqual([b]);
    expect(await q([`id=${a.slice(0, 8)}`])).toEqual([a]);
    expect((await q([`id=${a.slice(0, 10)}`, `id=${b.slice(0, 10)}`])).sort()).toEqual([a, b].sort());
    expect(await q([`name=${tag}-web`, 'status=exited'])).toEqual([]);
    // without -a, a status filter still shows stopped containers (Docker)
    expect(lines(ok(await ctr.run(['ps', '-q', '--no-trunc', '--filter', 'status=exited', '--filter', `label=grp=${tag}`]), 'ps').stdout)).toEqual([b]);
    refused(await ctr.run(['ps', '--filter', 'bogus=1']), 'unknown filter', /filter/);
    refused(await ctr.run(['ps', '--filter', 'status=sleepy']), 'bad status', /status/);
    ok(await ctr.run(['rm', '-f', a, b]), 'rm');
  });

  it('--format table, json and Go templates', async () => {
    const name = uniqueName('fmt');
    const id = await runDetached(ctr, ['--name', name, '-l', 'k=v', 'busybox', 'sleep', '60']);
    const tpl = ok(await ctr.run(['ps', '--filter', `id=${id}`, '--format', '{{.ID}}|{{.Names}}|{{.Image}}|{{.State}}|{{.Labels}}']), 'template');
    expect(tpl.stdout).toBe(`${id.slice(0, 12)}|${name}|busybox|running|k=v\n`);
    const created = ok(await ctr.run(['ps', '--filter', `id=${id}`, '--format', '{{.CreatedAt}}|{{.RunningFor}}|{{.Status}}']), 'times').stdout;
    expect(created).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC\|.* ago\|Up .*\n$/);
    const table = lines(ok(await ctr.run(['ps', '--filter', `id=${id}`, '--format', 'table {{.ID}}\t{{.Names}}']), 'table').stdout);
    expect(table[0]).toMatch(/^CONTAINER ID\s+NAMES$/);
    expect(table[1]).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+${name}$`));
    const plain = lines(ok(await ctr.run(['ps', '--filter', `id=${id}`, '--format', 'table']), 'table').stdout);
    expect(plain[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    const js = ok(await ctr.run(['ps', '--filter', `id=${id}`, '--format', 'json']), 'json').stdout;
    // Docker prints one object per line, Podman an array: accept both, check the content
    const parsed = js.trim().startsWith('[') ? JSON.parse(js) : lines(js).map((l) => JSON.parse(l));
    expect(parsed).toHaveLength(1);
    expect(parsed[0]).toMatchObject({ Names: name, Image: 'busybox', State: 'running' });
    expect(String(parsed[0].ID ?? parsed[0].Id)).toMatch(new RegExp(`^${id.slice(0, 12)}`));
    refused(await ctr.run(['ps', '--format', '{{.Nope'], {}), 'bad template');
    ok(await ctr.run(['rm', '-f', id]), 'rm');
  });
});

describe('inspect', () => {
  it('has Docker’s JSON shape for a running and an exited container', async () => {
    const name = uniqueName('insp');
    const id = await runDetached(ctr, ['--name', name, '-e', 'A=1', '-w', '/tmp', 'busybox', 'sh', '-c', 'sleep 60']);
    const i = await inspect(ctr, name);
    expect(i.Id).toBe(id);
    expect(i.Name).toBe(`/${name}`);
    expect(Date.parse(i.Created)).toBeGreaterThan(Date.now() - 60_000);
    expect(i.Path).toBe('sh');
    expect(i.Args).toEqual(['-c', 'sleep 60']);
    expect(i.Image).toBe(fixtures().images.busybox.id);
    expect(i.State).toMatchObject({ Status: 'running', Running: true, Paused: false, ExitCode: 0, FinishedAt: '0001-01-01T00:00:00Z' });
    expect(i.State.Pid).toBeGreaterThan(1);
    expect(Date.parse(i.State.StartedAt)).toBeGreaterThanOrEqual(Date.parse(i.Created) - 1000);
    expect(i.Config).toMatchObject({ Image: 'busybox', WorkingDir: '/tmp', Cmd: ['sh', '-c', 'sleep 60'], Hostname: id.slice(0, 12), Tty: false });
    expect(i.Config.Env).toContain('A=1');
    expect(i.Config.Env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(i.HostConfig).toMatchObject({ AutoRemove: false, Privileged: false, ReadonlyRootfs: false });
    expect(i.HostConfig.LogConfig.Type).toBe('json-file');
    expect(i.Mounts).toEqual([]);
    for (const k of ['ResolvConfPath', 'HostnamePath', 'HostsPath', 'LogPath', 'Driver', 'RestartCount', 'NetworkSettings', 'GraphDriver'])
      expect(i, k).toHaveProperty(k);
    ok(await ctr.run(['stop', '-t', '0', id]), 'stop');
    const e = await inspect(ctr, id.slice(0, 12));
    expect(e.State).toMatchObject({ Status: 'exited', Running: false, Paused: false, Pid: 0, ExitCode: 137 });
    expect(e.State.StartedAt).toBe(i.State.StartedAt);
    expect(Date.parse(e.State.FinishedAt)).toBeGreaterThanOrEqual(Date.parse(e.State.StartedAt));
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('--format takes Go templates (fields, json); several containers; an unknown one fails', async () => {
    const a = await runDetached(ctr, ['busybox', 'sleep', '60']);
    const b = ok(await ctr.run(['create', 'busybox']), 'create').stdout.trim();
    expect(ok(await ctr.run(['inspect', '--format', '{{.State.Status}}', a]), 'fmt').stdout).toBe('running\n');
    expect(ok(await ctr.run(['inspect', '-f', '{{.State.Status}} {{.State.Running}}', a, b]), 'fmt 2').stdout).toBe('running true\ncreated false\n');
    const cfg = JSON.parse(ok(await ctr.run(['container', 'inspect', '--format', '{{json .Config}}', a]), 'json').stdout);
    expect(cfg.Cmd).toEqual(['sleep', '60']);
    const r = await ctr.run(['inspect', '--format', '{{.Id}}', a, 'no-such-thing']);
    expect(r.code, describeResult('inspect with an unknown', r)).not.toBe(0);
    expect(r.stdout).toBe(`${a}\n`);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^Error: .*no-such-thing/)]);
    ok(await ctr.run(['rm', '-f', a, b]), 'rm');
  });
});

describe('logs', () => {
  it('keeps stdout and stderr apart; --tail N counts lines; -t adds RFC 3339 timestamps', async () => {
    const id = await runDetached(ctr, ['busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done']);
    ok(await ctr.run(['wait', id]), 'wait');
    const all = await ctr.run(['logs', id]);
    expect(all.stdout).toBe('out1\nout2\nout3\nout4\nout5\n');
    expect(all.stderr).toBe('err1\nerr2\nerr3\nerr4\nerr5\n');
    // the order of stdout and stderr records is the order the monitor read them: count, don't order
    const t3 = await ctr.run(['logs', '-n', '3', id]);
    expect(lines(t3.stdout).length + lines(t3.stderr).length).toBe(3);
    const o = await runDetached(ctr, ['busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; done; printf partial']);
    ok(await ctr.run(['wait', o]), 'wait');
    expect((await ctr.run(['logs', '--tail', '2', o])).stdout).toBe('line5\npartial');
    expect((await ctr.run(['logs', '--tail', '3', o])).stdout).toBe('line4\nline5\npartial');
    expect((await ctr.run(['logs', '--tail', 'all', o])).stdout).toBe('line1\nline2\nline3\nline4\nline5\npartial');
    expect((await ctr.run(['logs', '--tail', '0', o])).stdout).toBe('');
    const ts = lines((await ctr.run(['logs', '-t', '--tail', '1', id])).stdout + (await ctr.run(['logs', '-t', id])).stdout);
    expect(ts.length).toBeGreaterThanOrEqual(5);
    for (const l of ts) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (out|err)\d$/);
    ok(await ctr.run(['rm', o]), 'rm');
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('-f follows until the container exits', async () => {
    const id = await runDetached(ctr, ['busybox', 'sh', '-c', 'echo first; sleep 1; echo second; sleep 0.5; echo third']);
    const f = ctr.spawn(['logs', '-f', id]);
    await f.waitForOutput('first\n', { timeout: 5000 });
    expect(f.stdout()).not.toContain('second');
    await f.waitForOutput('second\n', { timeout: 5000 });
    const r = await f.wait(10_000);
    expect(r.code, describeResult('logs -f', r)).toBe(0);
    expect(r.stdout).toBe('first\nsecond\nthird\n');
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('-f loses nothing when the log rotates (--log-opt max-size)', async () => {
    const id = await runDetached(ctr, [
      '--log-opt', 'max-size=2k', 'busybox', 'sh', '-c',
      'i=0; while [ $i -lt 300 ]; do echo "line $i xxxxxxxxxxxxxxxxxxxx"; i=$((i+1)); [ $((i % 10)) = 0 ] && sleep 0.05; done',
    ]);
    const r = ok(await ctr.run(['logs', '-f', id], { timeout: 30_000 }), 'logs -f');
    const got = lines(r.stdout).map((l) => Number(l.split(' ')[1]));
    // from wherever the first read started, every later line comes, in order
    const first = got[0]!;
    expect(got).toEqual(Array.from({ length: 300 - first }, (_, i) => first + i));
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('--since and --until select by time (RFC 3339, Unix seconds, durations)', async () => {
    const id = await runDetached(ctr, ['busybox', 'sh', '-c', 'echo early; sleep 1.5; echo late']);
    await waitLog(ctr, id, /late/);
    const ts = lines((await ctr.run(['logs', '-t', id])).stdout).map((l) => l.split(' ')[0]!);
    const mid = new Date((Date.parse(ts[0]!) + Date.parse(ts[1]!)) / 2).toISOString();
    expect((await ctr.run(['logs', '--since', mid, id])).stdout).toBe('late\n');
    expect((await ctr.run(['logs', '--until', mid, id])).stdout).toBe('early\n');
    expect((await ctr.run(['logs', '--since', String(Date.parse(mid) / 1000), id])).stdout).toBe('late\n');
    expect((await ctr.run(['logs', '--since', '1h', id])).stdout).toBe('early\nlate\n');
    await sleep(1100);
    expect((await ctr.run(['logs', '--since', '1s', id])).stdout).toBe('');
    refused(await ctr.run(['logs', '--since', 'yesterday-ish', id]), 'bad --since', /time/);
    ok(await ctr.run(['rm', '-f', id]), 'rm');
  });

  it('logs of an unknown container is one error line', async () => {
    refused(await ctr.run(['logs', 'no-such-container']), 'logs unknown', /no such container/);
  });
});

describe('top', () => {
  it('lists exactly the container’s processes, with ps options', async () => {
    const id = await runDetached(ctr, ['busybox', 'sh', '-c', 'sleep 123 & sleep 456']);
    await sleep(200);
    const t = lines(ok(await ctr.run(['top', id]), 'top').stdout);
    expect(t[0]).toMatch(/\bPID\b.*CMD|PID.*COMMAND/);
    expect(t.slice(1)).toHaveLength(2);
    expect(t.slice(1).map((l) => l.replace(/.* /, '')).sort()).toEqual(['123', '456']);
    const o = lines(ok(await ctr.run(['top', id, '-o', 'pid,args']), 'top -o').stdout);
    expect(o[0]).toMatch(/^\s*PID\s+COMMAND$/);
    expect(o.slice(1).map((l) => l.trim().split(/\s+/).slice(1).join(' ')).sort()).toEqual(['sleep 123', 'sleep 456']);
    const pid = Number(await fmt(ctr, id, '{{.State.Pid}}'));
    expect(o.slice(1).map((l) => Number(l.trim().split(/\s+/)[0]))).toContain(pid);
    const aux = lines(ok(await ctr.run(['top', id, 'aux']), 'top aux').stdout);
    expect(aux[0]).toMatch(/^USER\s+PID\s+%CPU/);
    expect(aux).toHaveLength(3);
    ok(await ctr.run(['rm', '-f', id]), 'rm');
    refused(await ctr.run(['top', id]), 'top removed', /no such container/);
  });

  it('top of a stopped container is an error', async () => {
    const id = ok(await ctr.run(['create', 'busybox']), 'create').stdout.trim();
    refused(await ctr.run(['top', id]), 'top created', /not running/);
    ok(await ctr.run(['rm', id]), 'rm');
  });
});
