// What a container may do by default: no_new_privs, Docker's capability set, masked and
// read-only kernel files, its own host name, and the rootless ID mapping.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useCtr } from './lib';
import { fmt, lines, ok, runDetached } from './containers-util';

const ctr = useCtr({ images: ['busybox'] });

async function out(args: string[]): Promise<string> {
  return ok(await ctr.run(['run', '--rm', ...args]), `run --rm ${args.join(' ')}`).stdout;
}

function field(status: string, key: string): string | undefined {
  return new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status)?.[1];
}

describe('security defaults', () => {
  it('NoNewPrivs is 1 and CapEff/CapPrm/CapBnd are Docker’s default set, CapInh/CapAmb empty', async () => {
    const st = await out(['busybox', 'cat', '/proc/self/status']);
    expect(field(st, 'NoNewPrivs')).toBe('1');
    expect(field(st, 'CapEff')).toBe('00000000a80425fb');
    expect(field(st, 'CapPrm')).toBe('00000000a80425fb');
    expect(field(st, 'CapBnd')).toBe('00000000a80425fb');
    expect(field(st, 'CapInh')).toBe('0000000000000000');
    expect(field(st, 'CapAmb')).toBe('0000000000000000');
  });

  it('a non-root user has no effective capabilities, and setuid binaries cannot give them back', async () => {
    const st = await out(['--network', 'none', '-u', 'app', 'busybox', 'cat', '/proc/self/status']);
    expect(field(st, 'CapEff')).toBe('0000000000000000');
    expect(field(st, 'NoNewPrivs')).toBe('1');
  });

  it('masks kernel files: /proc/kcore (or /proc/keys where the kernel has no kcore) reads empty, /sys/firmware is empty', async () => {
    const target = fs.existsSync('/proc/kcore') ? '/proc/kcore' : '/proc/keys';
    const o = await out(['busybox', 'sh', '-c', `wc -c < ${target}; ls -A /sys/firmware | wc -l; ls -A /proc/acpi | wc -l`]);
    expect(lines(o).map((l) => l.trim())).toEqual(['0', '0', '0']);
  });

  it('/proc/sys, /proc/sysrq-trigger and /sys are read-only', async () => {
    const r = await ctr.run([
      'run', '--rm', 'busybox', 'sh', '-c',
      'echo 1 > /proc/sys/kernel/domainname && echo sys-written; echo h > /proc/sysrq-trigger && echo sysrq-written; ' +
        'touch /sys/kernel/x 2>/dev/null && echo sysfs-written; mount | grep -E " /sys | /proc/sys " | grep -c "(ro,"',
    ]);
    expect(r.stdout).toBe('2\n');
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  it('the host name defaults to the short container ID', async () => {
    const id = await runDetached(ctr, ['busybox', 'sh', '-c', 'hostname; cat /etc/hostname']);
    ok(await ctr.run(['wait', id]), 'wait');
    expect((await ctr.run(['logs', id])).stdout).toBe(`${id.slice(0, 12)}\n${id.slice(0, 12)}\n`);
    expect(await fmt(ctr, id, '{{.Config.Hostname}}')).toBe(id.slice(0, 12));
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('root in the container is the user; uid 1 is the first sub-ID (uid_map and gid_map)', async () => {
    const o = await out(['busybox', 'sh', '-c', 'cat /proc/self/uid_map; echo --; cat /proc/self/gid_map']);
    const [uidMap, gidMap] = o.split('--\n').map((t) => lines(t).map((l) => l.trim().split(/\s+/).map(Number)));
    const me = process.getuid!();
    const gid = process.getgid!();
    expect(uidMap![0]).toEqual([0, me, 1]);
    expect(gidMap![0]).toEqual([0, gid, 1]);
    const user = require('node:os').userInfo().username as string;
    const sub = fs
      .readFileSync('/etc/subuid', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[0] === user || f[0] === String(me));
    expect(sub, 'the test user needs a range in /etc/subuid').toBeDefined();
    expect(uidMap![1]).toEqual([1, Number(sub![1]), Number(sub![2])]);
  });

  it('files the container creates as root belong to the user on the host; other IDs to sub-IDs', async () => {
    const d = `${ctr.dir}/owner`;
    fs.mkdirSync(d);
    await out(['-v', `${d}:/o`, 'busybox', 'sh', '-c', 'touch /o/root-file; touch /o/app-file; chown 1000:1000 /o/app-file']);
    expect(fs.statSync(`${d}/root-file`).uid).toBe(process.getuid!());
    const sub = Number(fs.readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith(`${require('node:os').userInfo().username}:`))!.split(':')[1]);
    expect(fs.statSync(`${d}/app-file`).uid).toBe(sub + 999);
    await out(['-v', `${d}:/o`, 'busybox', 'rm', '/o/app-file']);
  });

  it('the container cannot see host processes or mount things it should not', async () => {
    const r = await ctr.run(['run', '--rm', 'busybox', 'sh', '-c', 'ls /proc | grep -c "^[0-9]"; mount -t tmpfs t /mnt && echo mounted']);
    // only sh and ls/grep of its own PID namespace
    expect(Number(lines(r.stdout)[0])).toBeLessThanOrEqual(4);
    expect(r.stdout).not.toContain('mounted');
  });
});
