// The helper's seccomp compiler (native/seccomp.c), checked exhaustively: native/tests/seccomp-sim.c
// compiles a profile, runs the BPF program in an interpreter for every syscall number of every
// ABI (and numbers past the tables, argument values around each compared value, a foreign
// architecture) and compares each answer with a direct reading of the profile.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_CAPS, DEFAULT_CAPS } from '../../src/container/options';
import { resolveProfile, type Profile } from '../../src/container/seccomp';
import { defaultProfile } from '../../src/container/seccomp-default';
import { repoRoot } from '../e2e/paths';

const x86 = process.arch === 'x64';
let dir = '';
let sim = '';

beforeAll(() => {
  if (!x86) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctr-seccomp-sim-'));
  sim = path.join(dir, 'sim');
  const n = path.join(repoRoot, 'native');
  const srcs = ['tests/seccomp-sim.c', 'seccomp.c', 'json.c', 'rtutil.c'].map((f) => path.join(n, f));
  const cc = spawnSync('sh', ['-c', 'command -v musl-gcc || command -v cc'], { encoding: 'utf8' }).stdout.trim();
  execFileSync(cc, ['-D_GNU_SOURCE', '-O1', `-I${n}`, '-o', sim, ...srcs], { stdio: 'pipe' });
}, 120_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function check(name: string, oci: object): string {
  const f = path.join(dir, `${name}.json`);
  fs.writeFileSync(f, JSON.stringify(oci));
  const r = spawnSync(sim, [f], { encoding: 'utf8' });
  expect(r.stdout + r.stderr, name).toMatch(/^ok \d+ \d+\n$/);
  return r.stdout;
}

const host = { arch: 'x64', kernel: '6.1' };

describe.skipIf(!x86)('seccomp BPF compiler', () => {
  it('Docker’s default profile, for the default capabilities, SYS_ADMIN, SYS_PTRACE and all of them', () => {
    for (const [name, caps] of [
      ['default', DEFAULT_CAPS], ['admin', [...DEFAULT_CAPS, 'CAP_SYS_ADMIN']], ['ptrace', [...DEFAULT_CAPS, 'CAP_SYS_PTRACE']], ['all', ALL_CAPS],
    ] as const) {
      const out = check(name, resolveProfile(defaultProfile(), [...caps], host));
      // a tree, not a list: well under the 4096-instruction limit
      expect(Number(out.split(' ')[2])).toBeLessThan(1000);
    }
  });

  it('every comparison operator on 64-bit values, several conditional rules per call, disagreeing unconditional rules', () => {
    const args = (op: string, value: number, valueTwo?: number, index = 1) => [{ index, value, op, ...(valueTwo !== undefined ? { valueTwo } : {}) }];
    const p: Profile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 13,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['openat'], action: 'SCMP_ACT_ERRNO', errnoRet: 2, args: args('SCMP_CMP_EQ', 2 ** 33 + 5) },
        { names: ['openat'], action: 'SCMP_ACT_TRAP', args: args('SCMP_CMP_NE', 7, undefined, 0) },
        { names: ['openat'], action: 'SCMP_ACT_ALLOW' },
        { names: ['ioctl'], action: 'SCMP_ACT_ALLOW', args: args('SCMP_CMP_LT', 2 ** 32) },
        { names: ['fcntl'], action: 'SCMP_ACT_ALLOW', args: args('SCMP_CMP_LE', 2 ** 32 + 1) },
        { names: ['mmap'], action: 'SCMP_ACT_ALLOW', args: args('SCMP_CMP_GT', 0xffffffff) },
        { names: ['mprotect'], action: 'SCMP_ACT_ALLOW', args: args('SCMP_CMP_GE', 2 ** 40) },
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2 ** 36 + 0x7e020000, valueTwo: 2 ** 36, op: 'SCMP_CMP_MASKED_EQ' }] },
        { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 3, op: 'SCMP_CMP_LE' }] },
        { names: ['kill'], action: 'SCMP_ACT_ALLOW' },
        { names: ['kill'], action: 'SCMP_ACT_KILL_PROCESS' },
        { names: ['kill'], action: 'SCMP_ACT_LOG' },
        { names: ['getpid'], action: 'SCMP_ACT_TRACE', errnoRet: 9 },
        { names: ['no_such_call', 'socketcall', 'arch_prctl'], action: 'SCMP_ACT_ALLOW' },
      ],
    };
    check('ops', resolveProfile(p, DEFAULT_CAPS, host));
  });

  it('a default that allows (no ENOSYS past the table), x86_64 alone (i386 and x32 killed)', () => {
    check('allow', { defaultAction: 'SCMP_ACT_ALLOW', architectures: [], syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 18 }] });
    check('empty', { defaultAction: 'SCMP_ACT_KILL', syscalls: [] });
  });

  it('a program with far jumps: a different errno for every call', () => {
    const names = ['read', 'write', 'open', 'close', 'stat', 'fstat', 'lstat', 'poll', 'lseek', 'mmap', 'mprotect', 'munmap', 'brk',
      'rt_sigaction', 'rt_sigprocmask', 'ioctl', 'pread64', 'pwrite64', 'readv', 'writev', 'access', 'pipe', 'select', 'sched_yield',
      'mremap', 'msync', 'mincore', 'madvise', 'shmget', 'shmat', 'shmctl', 'dup', 'dup2', 'pause', 'nanosleep', 'getitimer', 'alarm',
      'setitimer', 'getpid', 'sendfile', 'socket', 'connect', 'accept', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'shutdown', 'bind',
      'listen', 'getsockname', 'getpeername', 'socketpair', 'setsockopt', 'getsockopt', 'clone', 'fork', 'vfork', 'execve', 'exit'];
    const syscalls = names.flatMap((n, i) => [
      { names: [n], action: 'SCMP_ACT_ERRNO', errnoRet: i + 1, args: [{ index: i % 6, value: i * 1000, op: 'SCMP_CMP_GT' }] },
      { names: [n], action: 'SCMP_ACT_ERRNO', errnoRet: 200 + i },
    ]);
    const out = check('far', { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls });
    expect(Number(out.split(' ')[2])).toBeGreaterThan(600);
  });
});
