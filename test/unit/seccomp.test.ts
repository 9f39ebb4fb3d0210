// Seccomp profile resolution (Docker's rules), the profile checks, and --security-opt.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPS, ALL_CAPS } from '../../src/container/options';
import { checkProfile, resolveProfile, type OciSeccomp } from '../../src/container/seccomp';
import { defaultProfile } from '../../src/container/seccomp-default';
import { DEFAULT_SECCOMP_CAPS, DEFAULT_SECCOMP_JSON } from '../../src/container/seccomp-default-resolved';
import { parseSecurityOpts, securitySettings, specText } from '../../src/container/security';
import { MASKED_PATHS, READONLY_PATHS } from '../../src/container/spec';
import { CtrError } from '../../src/util/errors';

const host = { arch: 'x64', kernel: '6.1.0-18-amd64' };
const names = (s: OciSeccomp) => s.syscalls.flatMap((r) => r.names);
const rulesFor = (s: OciSeccomp, name: string) => s.syscalls.filter((r) => r.names.includes(name));

describe('the default profile', () => {
  it('the prebuilt resolution matches the profile (run `node scripts/gen-seccomp-default.mjs` when this fails)', () => {
    expect(DEFAULT_SECCOMP_CAPS).toBe([...DEFAULT_CAPS].sort().join(','));
    expect(JSON.parse(DEFAULT_SECCOMP_JSON)).toEqual(resolveProfile(defaultProfile(), DEFAULT_CAPS, { arch: 'x64', kernel: '4.8' }));
  });

  it('resolves for x86_64 with its i386 and x32 sub-architectures; refuses keys, bpf, io_uring, mount, namespaces', () => {
    const s = resolveProfile(defaultProfile(), DEFAULT_CAPS, host);
    expect(s.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(s.defaultErrnoRet).toBe(1);
    expect(s.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const n = names(s);
    for (const allowed of ['read', 'write', 'execve', 'arch_prctl', 'modify_ldt', 'chroot', 'ptrace', 'socket', 'personality'])
      expect(n, allowed).toContain(allowed);
    for (const refused of ['add_key', 'keyctl', 'request_key', 'bpf', 'io_uring_setup', 'mount', 'unshare', 'setns', 'kexec_load',
      'open_by_handle_at', 'perf_event_open', 'userfaultfd', 'reboot', 'init_module', 'kcmp', 'set_tls', 's390_runtime_instr'])
      expect(n, refused).not.toContain(refused);
    // clone only without namespace flags, clone3 answered with ENOSYS
    expect(rulesFor(s, 'clone')).toEqual([{ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, op: 'SCMP_CMP_MASKED_EQ' }] }]);
    expect(rulesFor(s, 'clone3')).toEqual([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
    // socket: every family but AF_ALG (38) and AF_VSOCK (40)
    expect(rulesFor(s, 'socket').map((r) => r.args)).toEqual([
      [{ index: 0, value: 38, op: 'SCMP_CMP_LT' }], [{ index: 0, value: 39, op: 'SCMP_CMP_EQ' }], [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }],
    ]);
    expect(rulesFor(s, 'personality').map((r) => r.args![0]!.value)).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
  });

  it('capabilities widen it as Docker does', () => {
    const admin = resolveProfile(defaultProfile(), [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'], host);
    for (const n of ['mount', 'umount2', 'unshare', 'setns', 'bpf', 'perf_event_open', 'sethostname']) expect(names(admin), n).toContain(n);
    expect(rulesFor(admin, 'clone')).toEqual([expect.objectContaining({ names: expect.arrayContaining(['clone']), action: 'SCMP_ACT_ALLOW' })]);
    expect(rulesFor(admin, 'clone')[0]!.args).toBeUndefined();
    expect(rulesFor(admin, 'clone3').every((r) => r.action === 'SCMP_ACT_ALLOW')).toBe(true);
    const caps: [string, string[]][] = [
      ['CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise']], ['CAP_SYS_BOOT', ['reboot']],
      ['CAP_SYS_MODULE', ['init_module', 'finit_module', 'delete_module']], ['CAP_SYS_TIME', ['settimeofday', 'clock_settime']],
      ['CAP_SYS_NICE', ['mbind', 'set_mempolicy']], ['CAP_SYS_PACCT', ['acct']], ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
      ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']], ['CAP_BPF', ['bpf']], ['CAP_PERFMON', ['perf_event_open']], ['CAP_SYSLOG', ['syslog']],
    ];
    for (const [cap, calls] of caps) {
      const s = resolveProfile(defaultProfile(), [...DEFAULT_CAPS, cap], host);
      for (const c of calls) expect(names(s), `${cap}: ${c}`).toContain(c);
    }
    // without CAP_SYS_CHROOT, no chroot
    expect(names(resolveProfile(defaultProfile(), DEFAULT_CAPS.filter((c) => c !== 'CAP_SYS_CHROOT'), host))).not.toContain('chroot');
    // everything (--cap-add ALL) still leaves out keys and io_uring
    const all = names(resolveProfile(defaultProfile(), ALL_CAPS, host));
    for (const n of ['keyctl', 'add_key', 'io_uring_setup', 'userfaultfd']) expect(all).not.toContain(n);
  });

  it('minKernel and arches: ptrace before 4.8 needs CAP_SYS_PTRACE; s390 and arm rules never on x86_64', () => {
    expect(names(resolveProfile(defaultProfile(), DEFAULT_CAPS, { arch: 'x64', kernel: '4.4.0' }))).not.toContain('ptrace');
    expect(names(resolveProfile(defaultProfile(), DEFAULT_CAPS, { arch: 'x64', kernel: '4.8.0' }))).toContain('ptrace');
    const arm = resolveProfile(defaultProfile(), DEFAULT_CAPS, { arch: 'arm64', kernel: '6.1' });
    expect(arm.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(names(arm)).toContain('set_tls');
    expect(names(arm)).not.toContain('arch_prctl');
    const s390 = resolveProfile(defaultProfile(), DEFAULT_CAPS, { arch: 's390x', kernel: '6.1' });
    expect(rulesFor(s390, 'clone')[0]!.args![0]!.index).toBe(1);
  });
});

describe('Docker-format profiles', () => {
  const bad = (v: unknown, msg: RegExp) => {
    expect(() => checkProfile('p.json', v)).toThrow(CtrError);
    expect(() => checkProfile('p.json', v)).toThrow(msg);
  };

  it('accepts the old "name" form, architectures, includes/excludes and errnoRet', () => {
    const p = checkProfile('p.json', {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { name: 'mkdir', action: 'SCMP_ACT_ERRNO', errnoRet: 18 },
        { names: ['mount'], action: 'SCMP_ACT_ERRNO', excludes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['chown'], action: 'SCMP_ACT_KILL', includes: { minKernel: '99.0' } },
      ],
    });
    const s = resolveProfile(p, DEFAULT_CAPS, host);
    expect(s).toEqual({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 18 }, { names: ['mount'], action: 'SCMP_ACT_ERRNO' }],
    });
    expect(resolveProfile(p, ALL_CAPS, host).syscalls).toHaveLength(1);
  });

  it('refuses what it cannot honour, with the reason', () => {
    bad('x', /not a JSON object/);
    bad({}, /defaultAction is missing/);
    bad({ defaultAction: 'SCMP_ACT_NOTIFY' }, /seccomp agent/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: -1 }, /defaultErrnoRet/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_VAX'] }, /unknown architecture SCMP_ARCH_VAX/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86'], archMap: [{ architecture: 'SCMP_ARCH_X86_64' }] }, /both/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', flags: ['SECCOMP_FILTER_FLAG_NEW_LISTENER'] }, /unsupported flag/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: {} }, /syscalls must be a list/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'] }] }, /action is missing/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ALLOW' }] }, /both 'name' and 'names'/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read;'], action: 'SCMP_ACT_ALLOW' }] }, /syscall names/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] }] }, /0 to 5/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_LIKE' }] }] }, /unknown op/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }] }, /non-negative/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4' } }] }, /minKernel/);
    bad({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', includes: { users: [] } }] }, /unknown field/);
  });
});

describe('--security-opt', () => {
  const settings = (opts: string[], privileged = false, caps = DEFAULT_CAPS) => securitySettings(parseSecurityOpts(opts), caps, privileged);

  it('seccomp: the default (prebuilt for the default capabilities), unconfined, off with --privileged', () => {
    const d = settings([]);
    expect(typeof d.seccomp === 'string' || process.arch !== 'x64').toBe(true);
    expect(settings(['seccomp=unconfined']).seccomp).toBeNull();
    expect(settings(['seccomp:unconfined']).seccomp).toBeNull();
    expect(settings([], true, ALL_CAPS).seccomp).toBeNull();
    const admin = settings([], false, [...DEFAULT_CAPS, 'CAP_SYS_ADMIN']).seccomp as OciSeccomp;
    if (process.arch === 'x64') expect(names(admin)).toContain('mount');
  });

  it('the prebuilt JSON lands in config.json as linux.seccomp', () => {
    const s = settings([]);
    if (typeof s.seccomp !== 'string') return;
    const text = specText({ linux: { seccomp: '\u0000ctr-seccomp\u0000' } }, s);
    expect(JSON.parse(text).linux.seccomp).toEqual(JSON.parse(DEFAULT_SECCOMP_JSON));
  });

  it('no-new-privileges, mask, unmask, systempaths, label, apparmor', () => {
    expect(settings([]).noNewPrivileges).toBe(true);
    expect(settings([], true, ALL_CAPS).noNewPrivileges).toBe(false);
    expect(settings(['no-new-privileges'], true, ALL_CAPS).noNewPrivileges).toBe(true);
    expect(settings(['no-new-privileges=false']).noNewPrivileges).toBe(false);
    expect(settings(['no-new-privileges:true'], true).noNewPrivileges).toBe(true);
    const m = settings(['mask=/a:/b', 'unmask=/proc/kcore:/proc/sys']);
    expect(m.maskedPaths).toEqual([...MASKED_PATHS.filter((p) => p !== '/proc/kcore'), '/a', '/b']);
    expect(m.readonlyPaths).toEqual(READONLY_PATHS.filter((p) => p !== '/proc/sys'));
    expect(settings(['unmask=ALL'])).toMatchObject({ maskedPaths: [], readonlyPaths: [] });
    expect(settings(['systempaths=unconfined', 'mask=/x'])).toMatchObject({ maskedPaths: ['/x'], readonlyPaths: [] });
    expect(settings([], true)).toMatchObject({ maskedPaths: [], readonlyPaths: [] });
    for (const ok of ['label=disable', 'label=type:spc_t', 'label=level:s0:c1,c2', 'label=nested', 'apparmor=unconfined'])
      expect(() => parseSecurityOpts([ok]), ok).not.toThrow();
    for (const [bad, msg] of [
      ['bogus', /unknown option/], ['label=enable', /label=disable/], ['apparmor=docker-default', /only apparmor=unconfined/],
      ['mask=', /absolute paths/], ['unmask=proc', /not an absolute path/], ['systempaths=confined', /systempaths=unconfined/],
      ['no-new-privileges=1', /no-new-privileges=false/], ['seccomp=', /seccomp=unconfined/],
    ] as const)
      expect(() => parseSecurityOpts([bad]), bad).toThrow(msg);
  });
});
