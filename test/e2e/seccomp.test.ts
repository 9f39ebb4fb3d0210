// Seccomp and the session keyring. A small static prober (seccomp-probe.c, compiled here with
// musl-gcc or gcc -static) is bind-mounted into busybox containers and makes the syscalls
// itself, with arguments the kernel alone would answer with something other than EPERM: so
// EPERM means the filter refused the call.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileStatic, repoRoot, run, useCtr } from './lib';
import { fmt, lines, ok, refused, runDetached } from './containers-util';

const ctr = useCtr({ images: ['busybox'] });
// What the kernel under the tests answers by itself. A filter on this process already (the EL7
// emulation runs the suite under one that answers every syscall newer than Linux 3.10 with
// ENOSYS, and reports an old uname): those calls never reach the kernel, /proc shows a filter
// even where ctr sets none, and Docker's kernel-version rules (ptrace from 4.8) apply.
const outerFilter = /^Seccomp:\s*2/m.test(fs.readFileSync('/proc/self/status', 'utf8'));
const [kMajor, kMinor] = os.release().split('.').map(Number);
const kernelAtLeast = (major: number, minor: number) => kMajor! > major || (kMajor === major && kMinor! >= minor);
const NO_FILTER = outerFilter ? 'Seccomp: 2' : 'Seccomp: 0';
let probe = '';
let vol: string[] = [];

beforeAll(async () => {
  probe = path.join(ctr.dir, 'probe');
  const src = path.join(repoRoot, 'test', 'e2e', 'seccomp-probe.c');
  ok(await compileStatic(src, probe), 'compiling the seccomp prober');
  vol = ['-v', `${probe}:/probe:ro`];
}, 90_000);

/** Runs the prober in a new container; NAME=RESULT lines as a map. */
async function probeRun(opts: string[], probes: string[] = []): Promise<Record<string, string>> {
  const r = ok(await ctr.run(['run', '--rm', '--network', 'none', ...vol, ...opts, 'busybox', '/probe', ...probes]), `probe ${opts.join(' ')}`);
  return parse(r.stdout);
}

function parse(out: string): Record<string, string> {
  return Object.fromEntries(lines(out).map((l) => l.split('=', 2) as [string, string]));
}

const REFUSED_EPERM = [
  'io_uring_setup', 'add_key', 'keyctl', 'bpf', 'unshare_user', 'clone_newuser', 'kexec_load', 'open_by_handle_at',
  'perf_event_open', 'userfaultfd', 'kcmp', 'socket_vsock', 'socket_alg', 'personality_norandom', 'mount',
];

describe('seccomp: Docker’s default profile', () => {
  it('refuses what Docker’s profile refuses with EPERM, new and unknown syscalls with ENOSYS, and allows the rest', async () => {
    const p = await probeRun([]);
    for (const name of REFUSED_EPERM) expect(p[name], name).toBe('EPERM');
    // clone3 cannot be filtered by its flags: ENOSYS so that libc falls back to clone
    expect(p.clone3).toBe('ENOSYS');
    // numbers past the profile's highest (open_tree_attr is newer than the profile): ENOSYS
    expect(p.nr_1000).toBe('ENOSYS');
    expect(p.open_tree_attr).toBe('ENOSYS');
    for (const name of ['getpid', 'clone_plain', 'socket_inet', 'personality_query']) expect(p[name], name).toBe('ok');
    // ptrace is allowed from kernel 4.8 on (Docker's rule); the kernel answers for pid 0
    expect(p.ptrace).toBe(kernelAtLeast(4, 8) ? 'ESRCH' : 'EPERM');
  });

  it('i386 and x32 system calls go through the same filter', async () => {
    const p = await probeRun([]);
    expect(p.x32_keyctl).toBe('EPERM');
    if (p.i386_getpid === 'ok') {
      expect(p.i386_keyctl).toBe('EPERM');
      expect(p.i386_unshare).toBe('EPERM');
    } else {
      // no i386 emulation in this kernel (or an outer filter that answers it first)
      expect(p.i386_getpid).toMatch(outerFilter ? /^(signal-|ENOSYS$)/ : /^signal-/);
    }
  });

  it('ordinary commands work: ping on loopback, chown, a shell pipeline; /proc shows the filter', async () => {
    const r = ok(
      await ctr.run([
        'run', '--rm', '--network', 'none', 'busybox', 'sh', '-c',
        'ping -c 1 -W 2 127.0.0.1 >/dev/null && echo ping-ok; touch /tmp/f && chown 1000:1000 /tmp/f && stat -c %u /tmp/f; ' +
          'echo a b | tr a-z A-Z; grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status',
      ]),
      'ordinary commands',
    );
    expect(lines(r.stdout).map((l) => l.replace(/\s+/g, ' '))).toEqual(['ping-ok', '1000', 'A B', 'NoNewPrivs: 1', 'Seccomp: 2']);
  });

  it('capabilities widen it as Docker’s profile does: SYS_PTRACE allows kcmp, SYS_ADMIN namespaces and clone3', async () => {
    expect((await probeRun(['--cap-add', 'SYS_PTRACE'], ['kcmp', 'keyctl'])).kcmp).toBe('ok');
    const admin = await probeRun(['--cap-add', 'SYS_ADMIN'], ['unshare_user', 'clone_newuser', 'clone3', 'keyctl']);
    expect(admin).toEqual({ unshare_user: 'ok', clone_newuser: 'ok', clone3: outerFilter ? 'ENOSYS' : 'EINVAL', keyctl: 'EPERM' });
  });

  it('--cap-add ALL gives every capability and keeps the filter (widened)', async () => {
    const r = ok(await ctr.run(['run', '--rm', '--network', 'none', ...vol, '--cap-add', 'ALL', 'busybox', 'sh', '-c', '/probe kcmp keyctl; grep -E "^(CapEff|Seccomp):" /proc/self/status']), 'cap-add ALL');
    const l = lines(r.stdout).map((x) => x.replace(/\s+/g, ' '));
    expect(l.slice(0, 2)).toEqual(['kcmp=ok', 'keyctl=EPERM']);
    expect(l[2]).toMatch(/^CapEff: 0*1f+$/);
    expect(l[3]).toBe('Seccomp: 2');
  });

  it('--privileged runs without a filter: mount works, the refused calls reach the kernel', async () => {
    const r = ok(
      await ctr.run(['run', '--rm', '--network', 'none', ...vol, '--privileged', 'busybox', 'sh', '-c',
        'mkdir -p /tmp/m && mount -t tmpfs t /tmp/m && echo mounted; /probe keyctl unshare_user io_uring_setup kcmp; grep "^Seccomp:" /proc/self/status']),
      'privileged',
    );
    expect(lines(r.stdout).map((x) => x.replace(/\s+/g, ' '))).toEqual([
      'mounted', 'keyctl=ok', 'unshare_user=ok', `io_uring_setup=${outerFilter ? 'ENOSYS' : 'EFAULT'}`, 'kcmp=ok', NO_FILTER,
    ]);
  });

  it('--security-opt seccomp=unconfined: no filter; inspect shows the option and the bundle has no linux.seccomp', async () => {
    const p = await probeRun(['--security-opt', 'seccomp=unconfined'], ['keyctl', 'unshare_user', 'x32_keyctl']);
    expect(p.keyctl).toBe('ok');
    expect(p.unshare_user).toBe('ok');
    expect(p.x32_keyctl).not.toBe('EPERM');
    const id = ok(await ctr.run(['create', '--security-opt', 'seccomp=unconfined', 'busybox', 'true']), 'create').stdout.trim();
    expect(await fmt(ctr, id, '{{json .HostConfig.SecurityOpt}}')).toBe('["seccomp=unconfined"]');
    const spec = JSON.parse(fs.readFileSync(path.join(ctr.root, 'containers', id, 'config.json'), 'utf8'));
    expect(spec.linux.seccomp).toBeUndefined();
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('the default profile is in the bundle as OCI linux.seccomp, resolved for the container’s capabilities', async () => {
    const id = ok(await ctr.run(['create', 'busybox', 'true']), 'create').stdout.trim();
    expect(await fmt(ctr, id, '{{json .HostConfig.SecurityOpt}}')).toBe('null');
    const spec = JSON.parse(fs.readFileSync(path.join(ctr.root, 'containers', id, 'config.json'), 'utf8'));
    const s = spec.linux.seccomp;
    expect(s.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(s.defaultErrnoRet).toBe(1);
    expect(s.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const names = s.syscalls.flatMap((r: { names: string[] }) => r.names);
    expect(names).toContain('read');
    expect(names).not.toContain('keyctl');
    expect(names).not.toContain('mount'); // CAP_SYS_ADMIN only
    expect(s.syscalls).toContainEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('a custom profile in Docker’s format is honoured (mkdir denied with EXDEV), with create and start too', async () => {
    const prof = path.join(ctr.dir, 'deny-mkdir.json');
    fs.writeFileSync(prof, JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }],
      syscalls: [
        { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 18 },
        { name: 'chroot', action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_ADMIN'] } },
      ],
    }));
    const p = await probeRun(['--security-opt', `seccomp=${prof}`], ['keyctl']);
    expect(p.keyctl).toBe('ok');
    expect((await ctr.run(['run', '--rm', ...vol, '--security-opt', `seccomp=${prof}`, 'busybox', '/probe', 'mkdir', '/tmp/x'])).stdout).toBe('mkdir=EXDEV\n');
    const id = ok(await ctr.run(['create', ...vol, '--security-opt', `seccomp=${prof}`, 'busybox', '/probe', 'mkdir', '/tmp/y']), 'create').stdout.trim();
    const r = ok(await ctr.run(['start', '-a', id]), 'start -a');
    expect(r.stdout).toBe('mkdir=EXDEV\n');
    const spec = JSON.parse(fs.readFileSync(path.join(ctr.root, 'containers', id, 'config.json'), 'utf8'));
    // the chroot rule needs CAP_SYS_ADMIN, which the container lacks: resolved away
    expect(spec.linux.seccomp.syscalls).toEqual([{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 18 }]);
    ok(await ctr.run(['rm', id]), 'rm');
  });

  it('a bad profile or security option is one clear line, exit 125, and nothing is created', async () => {
    const bad = (name: string, text: string) => {
      const f = path.join(ctr.dir, name);
      fs.writeFileSync(f, text);
      return f;
    };
    const cases: [string[], RegExp][] = [
      [['--security-opt', `seccomp=${bad('a.json', '{nope')}`], /invalid seccomp profile .*a\.json: not valid JSON/],
      [['--security-opt', `seccomp=${bad('b.json', '{"defaultAction":"SCMP_ACT_NOPE"}')}`], /unknown defaultAction SCMP_ACT_NOPE/],
      [['--security-opt', `seccomp=${bad('c.json', '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}')}`], /index must be 0 to 5/],
      [['--security-opt', `seccomp=${bad('d.json', '{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}')}`], /both 'architectures' and 'archMap'/],
      [['--security-opt', `seccomp=${path.join(ctr.dir, 'missing.json')}`], /cannot read seccomp profile .*missing\.json/],
      [['--security-opt', 'seccomp='], /invalid --security-opt "seccomp="/],
      [['--security-opt', 'bogus=1'], /invalid --security-opt "bogus=1": unknown option/],
      [['--security-opt', 'apparmor=docker-default'], /only apparmor=unconfined/],
      [['--security-opt', 'no-new-privileges=maybe'], /no-new-privileges=false/],
      [['--security-opt', 'mask=relative/path'], /not an absolute path/],
    ];
    for (const [opts, pattern] of cases) {
      refused(await ctr.run(['run', '--rm', ...opts, 'busybox', 'true']), `run ${opts.join(' ')}`, pattern);
      refused(await ctr.run(['create', ...opts, 'busybox', 'true']), `create ${opts.join(' ')}`, pattern);
    }
    expect(ok(await ctr.run(['ps', '-aq']), 'ps -aq').stdout).toBe('');
  });

  it('exec inherits the container’s filter; exec --privileged runs without it', async () => {
    const id = await runDetached(ctr, ['--network', 'none', ...vol, 'busybox', 'sleep', '60']);
    const e = parse(ok(await ctr.run(['exec', id, '/probe', 'keyctl', 'unshare_user', 'getpid']), 'exec').stdout);
    expect(e).toEqual({ keyctl: 'EPERM', unshare_user: 'EPERM', getpid: 'ok' });
    const u = ok(await ctr.run(['exec', '-u', '1000', id, 'sh', '-c', '/probe keyctl; grep "^Seccomp:" /proc/self/status']), 'exec -u 1000');
    expect(u.stdout.replace(/[ \t]+/g, ' ')).toBe('keyctl=EPERM\nSeccomp: 2\n');
    const p = ok(await ctr.run(['exec', '--privileged', id, 'sh', '-c', '/probe keyctl; grep "^Seccomp:" /proc/self/status']), 'exec --privileged');
    expect(p.stdout.replace(/[ \t]+/g, ' ')).toBe(`keyctl=ok\n${NO_FILTER}\n`);
    ok(await ctr.run(['rm', '-f', id]), 'rm -f');
  });

  it('no-new-privileges=false still gets the filter, for root and for another user; --init runs PID 1 under it', async () => {
    const r = ok(await ctr.run(['run', '--rm', ...vol, '-u', '1000', '--security-opt', 'no-new-privileges=false', 'busybox', 'sh', '-c', '/probe keyctl; grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status']), 'nnp=false');
    expect(r.stdout.replace(/[ \t]+/g, ' ')).toBe('keyctl=EPERM\nNoNewPrivs: 0\nSeccomp: 2\n');
    const i = ok(await ctr.run(['run', '--rm', '--init', 'busybox', 'grep', '^Seccomp:', '/proc/1/status']), '--init');
    expect(i.stdout.replace(/[ \t]+/g, ' ')).toBe('Seccomp: 2\n');
  });

  it('mask, unmask, label=disable and apparmor=unconfined (Podman’s --security-opt)', async () => {
    const r = ok(
      await ctr.run([
        'run', '--rm', '--network', 'none', '--security-opt', 'label=disable', '--security-opt', 'apparmor=unconfined',
        '--security-opt', 'mask=/proc/version:/etc/hostname', '--security-opt', 'unmask=/sys/firmware:/proc/sys', 'busybox', 'sh', '-c',
        'wc -c < /proc/version; wc -c < /etc/hostname; ls /sys/firmware | wc -l; mount | grep -c " /proc/sys .*(ro,"; true',
      ]),
      'mask/unmask',
    );
    const [ver, host, firmware, procsysRo] = lines(r.stdout).map((l) => Number(l.trim()));
    expect(ver).toBe(0);
    expect(host).toBe(0);
    expect(firmware).toBeGreaterThan(0);
    expect(procsysRo).toBe(0);
    const all = ok(await ctr.run(['run', '--rm', '--network', 'none', '--security-opt', 'unmask=ALL', 'busybox', 'sh', '-c', 'ls /sys/firmware | wc -l; mount | grep -c "(ro," ; true']), 'unmask=ALL');
    expect(Number(lines(all.stdout)[0])).toBeGreaterThan(0);
  });
});

// ------------------------------------------------------------------------------ keyring

const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/** Runs a shell script in a new session keyring of its own (keyutils' `keyctl session`), with $CTR set. */
async function inSession(script: string): Promise<Record<string, string>> {
  const r = await run(['keyctl', 'session', '-', 'sh', '-ec', script], { env: { ...ctr.env, CTR: ctr.argv([]).map(q).join(' ') }, timeout: 60_000 });
  ok(r, `keyring script:\n${script}`);
  return Object.fromEntries(lines(r.stdout).filter((l) => l.includes('=')).map((l) => {
    const i = l.indexOf('=');
    return [l.slice(0, i), l.slice(i + 1)];
  }));
}

describe('session keyring', () => {
  it('a container and an exec get a new, empty keyring: host keys unreadable inside, keys added inside not on the host', async () => {
    const v = `-v ${q(probe)}:/probe:ro`;
    const out = await inSession(`
      hid=$(keyctl add user ctr-host-secret s3cret @s)
      echo "hostkey=$hid"
      echo "host=$(keyctl show @s | head -1)"
      eval "$CTR run --rm --network none --privileged ${v} busybox sh -c '/probe key-show; /probe key-read '$hid'; /probe key-add ctr-in-run v'" | sed 's/^/run./'
      eval "$CTR run --rm --network none --privileged -u 1000 ${v} busybox sh -c '/probe key-read '$hid'; /probe key-add ctr-in-user v; /probe key-show'" | sed 's/^/user./'
      id=$(eval "$CTR run -d --network none --privileged ${v} busybox sleep 60")
      eval "$CTR exec $id sh -c '/probe key-show; /probe key-read '$hid'; /probe key-add ctr-in-exec v'" | sed 's/^/exec./'
      eval "$CTR rm -f $id" >/dev/null
      for k in ctr-in-run ctr-in-user ctr-in-exec; do
        if keyctl search @s user $k >/dev/null 2>&1; then echo "host.$k=found"; else echo "host.$k=absent"; fi
      done
      echo "host.secret=$(keyctl print $hid)"
    `);
    expect(out.hostkey).toMatch(/^[0-9]+$/);
    for (const w of ['run', 'exec']) {
      expect(out[`${w}.keyring`], w).toMatch(/ desc=keyring;0;0;[0-9a-f]+;ctr-[0-9a-f]{12}-[0-9a-f]{8} keys=0$/);
      expect(out[`${w}.read`], w).toMatch(/^E(ACCES|NOKEY)$/);
      expect(out[`${w}.added`], w).toMatch(/^[0-9]+$/);
    }
    // a non-root user in the container uses its keyring (it possesses it)
    expect(out['user.read']).toMatch(/^E(ACCES|NOKEY)$/);
    expect(out['user.added']).toMatch(/^[0-9]+$/);
    expect(out['user.keyring']).toMatch(/keys=1$/);
    expect(out['host.ctr-in-run']).toBe('absent');
    expect(out['host.ctr-in-user']).toBe('absent');
    expect(out['host.ctr-in-exec']).toBe('absent');
    expect(out['host.secret']).toBe('s3cret');
  });
});
