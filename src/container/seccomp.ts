/**
 * Seccomp profiles: Docker's JSON profile format (defaultAction, defaultErrnoRet,
 * architectures or archMap, syscalls with name/names, action, errnoRet, args, includes and
 * excludes by caps/arches/minKernel), checked and resolved, as Docker resolves it, into the
 * OCI `linux.seccomp` object for one container: the rules that apply to its capabilities, the
 * host's architecture and kernel. The helper compiles that object into BPF (native/seccomp.c),
 * so an external OCI runtime could run the same bundle.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { CtrError } from '../util/errors';

export interface ProfileArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface ProfileFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface ProfileRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: ProfileArg[];
  includes?: ProfileFilter;
  excludes?: ProfileFilter;
}

export interface Profile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures: string[] | null }[];
  flags?: string[];
  syscalls: ProfileRule[];
}

/** The OCI runtime spec's linux.seccomp. */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  flags?: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: ProfileArg[] }[];
}

const ACTIONS = new Set([
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG',
]);
const OPS = new Set(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);
const FLAGS = new Set(['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW']);
const ARCHES = new Set([
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_LOONGARCH64',
]);

/** Node's process.arch → libseccomp's name (Docker's includes/excludes arches) and the native SCMP arch. */
const NATIVE: Record<string, [string, string]> = {
  x64: ['amd64', 'SCMP_ARCH_X86_64'],
  ia32: ['x86', 'SCMP_ARCH_X86'],
  arm64: ['arm64', 'SCMP_ARCH_AARCH64'],
  arm: ['arm', 'SCMP_ARCH_ARM'],
  s390x: ['s390x', 'SCMP_ARCH_S390X'],
  ppc64: ['ppc64le', 'SCMP_ARCH_PPC64LE'],
  riscv64: ['riscv64', 'SCMP_ARCH_RISCV64'],
  loong64: ['loong64', 'SCMP_ARCH_LOONGARCH64'],
};

/** Architectures the helper can filter (native/seccomp.c has x86_64 tables only). */
export const seccompSupported = (): boolean => process.arch === 'x64';

function fail(where: string, why: string): never {
  throw new CtrError(`invalid seccomp profile ${where}: ${why}`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function checkErrno(where: string, v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 4095) fail(where, `${what} must be an errno number (0 to 4095)`);
  return v;
}

function checkFilter(where: string, v: unknown, what: string): ProfileFilter | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) fail(where, `${what} must be an object`);
  const f: ProfileFilter = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'caps' || k === 'arches') {
      if (x === null) continue;
      if (!strList(x)) fail(where, `${what}.${k} must be a list of strings`);
      f[k] = x;
    } else if (k === 'minKernel') {
      if (x === '' || x === null) continue;
      if (typeof x !== 'string' || !/^[0-9]+\.[0-9]+$/.test(x) || /^0+\.0+$/.test(x))
        fail(where, `${what}.minKernel must be "<kernel>.<major>", such as "4.8"`);
      f.minKernel = x;
    } else fail(where, `unknown field ${what}.${k}`);
  }
  return f;
}

/** Checks a Docker-format profile (parsed JSON); WHERE names it in messages. */
export function checkProfile(where: string, v: unknown): Profile {
  if (!isObj(v)) fail(where, 'not a JSON object');
  const action = v.defaultAction;
  if (typeof action !== 'string' || !action) fail(where, 'defaultAction is missing');
  if (action === 'SCMP_ACT_NOTIFY') fail(where, 'SCMP_ACT_NOTIFY needs a seccomp agent, which ctr does not run');
  if (!ACTIONS.has(action)) fail(where, `unknown defaultAction ${action}`);
  const p: Profile = { defaultAction: action, syscalls: [] };
  p.defaultErrnoRet = checkErrno(where, v.defaultErrnoRet, 'defaultErrnoRet');
  if (v.architectures != null && v.archMap != null && (v.architectures as unknown[]).length && (v.archMap as unknown[]).length)
    fail(where, "both 'architectures' and 'archMap' are given; use one of them");
  if (v.architectures != null) {
    if (!strList(v.architectures)) fail(where, 'architectures must be a list of strings');
    for (const a of v.architectures) if (!ARCHES.has(a)) fail(where, `unknown architecture ${a}`);
    p.architectures = v.architectures;
  }
  if (v.archMap != null) {
    if (!Array.isArray(v.archMap)) fail(where, 'archMap must be a list');
    p.archMap = v.archMap.map((m) => {
      if (!isObj(m) || typeof m.architecture !== 'string') fail(where, 'each archMap entry needs an architecture');
      if (!ARCHES.has(m.architecture)) fail(where, `unknown architecture ${m.architecture}`);
      const sub = m.subArchitectures ?? [];
      if (!strList(sub)) fail(where, 'subArchitectures must be a list of strings');
      for (const a of sub) if (!ARCHES.has(a)) fail(where, `unknown architecture ${a}`);
      return { architecture: m.architecture, subArchitectures: sub };
    });
  }
  if (v.flags != null) {
    if (!strList(v.flags)) fail(where, 'flags must be a list of strings');
    for (const f of v.flags) if (!FLAGS.has(f)) fail(where, `unsupported flag ${f}`);
    p.flags = v.flags;
  }
  if (v.listenerPath) fail(where, 'listenerPath needs a seccomp agent, which ctr does not run');
  if (v.syscalls != null && !Array.isArray(v.syscalls)) fail(where, 'syscalls must be a list');
  for (const [i, r] of ((v.syscalls ?? []) as unknown[]).entries()) {
    const at = `syscalls[${i}]`;
    if (!isObj(r)) fail(where, `${at} must be an object`);
    if (r.name !== undefined && r.name !== '' && r.names !== undefined && (r.names as unknown[])?.length)
      fail(where, `${at} has both 'name' and 'names'; use one of them`);
    const names = typeof r.name === 'string' && r.name ? [r.name] : r.names ?? [];
    if (!strList(names) || names.some((n) => !/^[a-z0-9_]+$/.test(n))) fail(where, `${at}.names must be a list of syscall names`);
    if (typeof r.action !== 'string' || !r.action) fail(where, `${at}.action is missing`);
    if (r.action === 'SCMP_ACT_NOTIFY') fail(where, `${at}: SCMP_ACT_NOTIFY needs a seccomp agent, which ctr does not run`);
    if (!ACTIONS.has(r.action)) fail(where, `${at}: unknown action ${r.action}`);
    const rule: ProfileRule = { names, action: r.action };
    const e = checkErrno(where, r.errnoRet, `${at}.errnoRet`);
    if (e !== undefined) rule.errnoRet = e;
    if (r.args != null) {
      if (!Array.isArray(r.args)) fail(where, `${at}.args must be a list`);
      rule.args = r.args.map((a, j) => {
        const aat = `${at}.args[${j}]`;
        if (!isObj(a)) fail(where, `${aat} must be an object`);
        if (typeof a.index !== 'number' || !Number.isInteger(a.index) || a.index < 0 || a.index > 5) fail(where, `${aat}.index must be 0 to 5`);
        if (typeof a.op !== 'string' || !OPS.has(a.op)) fail(where, `${aat}: unknown op ${String(a.op)}`);
        for (const k of ['value', 'valueTwo'] as const)
          if (a[k] != null && (typeof a[k] !== 'number' || !Number.isInteger(a[k]) || (a[k] as number) < 0))
            fail(where, `${aat}.${k} must be a non-negative integer`);
        const out: ProfileArg = { index: a.index, value: (a.value as number) ?? 0, op: a.op };
        if (a.valueTwo != null) out.valueTwo = a.valueTwo as number;
        return out;
      });
    }
    const inc = checkFilter(where, r.includes, `${at}.includes`);
    const exc = checkFilter(where, r.excludes, `${at}.excludes`);
    if (inc) rule.includes = inc;
    if (exc) rule.excludes = exc;
    p.syscalls.push(rule);
  }
  return p;
}

/** Reads and checks a profile file (`--security-opt seccomp=FILE`). */
export function loadProfileFile(file: string): Profile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CtrError(`cannot read seccomp profile ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    fail(file, `not valid JSON (${(e as Error).message})`);
  }
  return checkProfile(file, v);
}

function kernelVersion(release = os.release()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function kernelAtLeast(v: string, kernel: [number, number]): boolean {
  const [a, b] = v.split('.').map(Number) as [number, number];
  return kernel[0] > a || (kernel[0] === a && kernel[1] >= b);
}

export interface ResolveHost {
  /** Node's process.arch */
  arch?: string;
  /** os.release() */
  kernel?: string;
}

/**
 * Docker's resolution of a profile for one container: the native architecture's archMap
 * entry, and the rules whose includes all hold and whose excludes none does (caps against
 * the container's bounding set).
 */
export function resolveProfile(p: Profile, bounding: string[], host: ResolveHost = {}): OciSeccomp {
  const [arch, scmp] = NATIVE[host.arch ?? process.arch] ?? [host.arch ?? process.arch, ''];
  const kernel = kernelVersion(host.kernel);
  const has = (c: string) => bounding.includes(c);
  let architectures = p.architectures ?? [];
  if (!architectures.length && p.archMap) {
    const m = p.archMap.find((a) => a.architecture === scmp);
    if (m) architectures = [m.architecture, ...(m.subArchitectures ?? [])];
  }
  const out: OciSeccomp = { defaultAction: p.defaultAction, architectures: [...architectures], syscalls: [] };
  if (p.defaultErrnoRet !== undefined) out.defaultErrnoRet = p.defaultErrnoRet;
  if (p.flags?.length) out.flags = [...p.flags];
  for (const r of p.syscalls) {
    const ex = r.excludes;
    if (ex) {
      if (ex.arches?.includes(arch)) continue;
      if (ex.caps?.some(has)) continue;
      if (ex.minKernel && kernelAtLeast(ex.minKernel, kernel)) continue;
    }
    const inc = r.includes;
    if (inc) {
      if (inc.arches?.length && !inc.arches.includes(arch)) continue;
      if (inc.caps?.length && !inc.caps.every(has)) continue;
      if (inc.minKernel && !kernelAtLeast(inc.minKernel, kernel)) continue;
    }
    const s: OciSeccomp['syscalls'][number] = { names: r.names, action: r.action };
    if (r.errnoRet !== undefined) s.errnoRet = r.errnoRet;
    if (r.args?.length) s.args = r.args;
    out.syscalls.push(s);
  }
  return out;
}
