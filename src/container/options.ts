import * as fs from 'node:fs';
import * as path from 'node:path';
import { CtrError } from '../util/errors';

/** Docker's default capability set for a container. */
export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Every capability the kernel knows, by number (0..40). */
export const ALL_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export function normalizeCap(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return 'ALL';
  const full = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPS.includes(full)) throw new CtrError(`unknown capability "${name}": see capabilities(7) for the names`);
  return full;
}

/** The capability set after --cap-add/--cap-drop/--privileged (Docker's rules: drop first, then add). */
export function capabilitySet(add: string[], drop: string[], privileged: boolean): string[] {
  if (privileged) return [...ALL_CAPS];
  const adds = add.map(normalizeCap);
  const drops = drop.map(normalizeCap);
  let caps = drops.includes('ALL') ? [] : DEFAULT_CAPS.filter((c) => !drops.includes(c));
  if (adds.includes('ALL')) caps = [...ALL_CAPS];
  else for (const c of adds) if (!caps.includes(c)) caps.push(c);
  return caps;
}

const USER_PART = '[A-Za-z0-9_][A-Za-z0-9_.-]*';
const USER_RE = new RegExp(`^${USER_PART}(:${USER_PART})?$`);

/** Validates a `-u` value: name|uid[:group|gid]. */
export function checkUser(u: string): string {
  if (!USER_RE.test(u)) throw new CtrError(`invalid user "${u}": use -u NAME|UID[:GROUP|GID]`);
  for (const part of u.split(':')) {
    if (/^[0-9]+$/.test(part) && Number(part) > 4294967294) throw new CtrError(`invalid user "${u}": ID ${part} out of range`);
  }
  return u;
}

export interface BindMount {
  source: string;
  destination: string;
  readonly: boolean;
  options: string[];
}

/** Parses `-v HOST:CONTAINER[:OPTIONS]` (bind mounts; named volumes come with the volume commands). */
export function parseVolume(spec: string, cwd = process.cwd()): BindMount {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || parts.some((p, i) => p === '' && i < 2))
    throw new CtrError(`invalid volume "${spec}": use -v HOST-DIR:CONTAINER-DIR[:ro|rw]`);
  const [src, dst, opts = ''] = parts as [string, string, string?];
  if (!src.startsWith('/') && !src.startsWith('.'))
    throw new CtrError(`invalid volume "${spec}": named volumes are not supported yet; give an absolute host path`);
  if (!dst.startsWith('/')) throw new CtrError(`invalid volume "${spec}": the container path "${dst}" must be absolute`);
  let readonly = false;
  const options: string[] = [];
  for (const o of opts ? opts.split(',') : []) {
    if (o === 'ro') readonly = true;
    else if (o === 'rw') readonly = false;
    else if (o === 'z' || o === 'Z' || o === 'U') continue; // SELinux relabel / chown: nothing to do here
    else if (['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave', 'nocopy', 'bind', 'rbind'].includes(o)) options.push(o);
    else throw new CtrError(`invalid volume "${spec}": unknown option "${o}" (use ro or rw)`);
  }
  const source = path.resolve(cwd, src);
  if (!fs.existsSync(source)) throw new CtrError(`invalid volume "${spec}": host path ${source} does not exist`);
  return { source, destination: path.posix.normalize(dst), readonly, options };
}

const SIZE_RE = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b?)?$/i;
export function parseSize(v: string): number {
  const m = SIZE_RE.exec(v.trim());
  if (!m) throw new CtrError(`invalid size "${v}": use a number with an optional unit k, m or g (e.g. 10m)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

/**
 * `--pids-limit N`: a positive number of processes, or 0 / -1 for no limit (Docker's). Enforcing
 * it needs a pids cgroup; see pidsLimitWarning.
 */
export function parsePidsLimit(v: string): number {
  const t = v.trim();
  if (!/^-?[0-9]+$/.test(t)) throw new CtrError(`invalid --pids-limit "${v}": use a number of processes (0 or -1: no limit)`);
  const n = Number(t);
  if (n < -1 || !Number.isSafeInteger(n)) throw new CtrError(`invalid --pids-limit "${v}": use a number of processes (0 or -1: no limit)`);
  return n <= 0 ? 0 : n;
}

/** The one honest line about a limit that is recorded but not enforced (ctr makes no cgroups yet). */
export function pidsLimitWarning(n: number): string {
  return `warning: --pids-limit ${n} is recorded but not enforced: ctr does not create cgroups yet; a pids limit needs a cgroup of the container's own (a delegated cgroup v2 subtree, e.g. a systemd user slice, or cgroup v1 as root)`;
}

export interface LogOptions {
  /** bytes per file; 0: no limit */
  maxSize: number;
  /** files kept, the log included */
  maxFiles: number;
  /** what inspect shows as HostConfig.LogConfig.Config: the options in effect, as given */
  raw: Record<string, string>;
}

/**
 * The log cap when neither --log-opt nor the configuration file says otherwise: 10 MiB per file
 * and 5 files, so a container that prints without end costs at most 50 MiB of disk (a hundred
 * such containers 5 GB), while the log still holds hundreds of thousands of recent lines.
 * Rotation renames files, so a larger count costs nothing per line.
 */
export const LOG_DEFAULTS: Readonly<Record<'max-size' | 'max-file', string>> = { 'max-size': '10m', 'max-file': '5' };

/** A value of a log option with where it came from, for the error message. */
export interface LogOptSource {
  key: string;
  value: unknown;
  /** for errors: `--log-opt "max-size=abc"`, `max-file 0 in "log-opts" of /home/u/.config/ctr/ctr.conf` */
  where: string;
}

const LOG_INFO_KEYS = ['tag', 'path', 'mode', 'labels', 'env'];

/** `max-size=10m,max-file=5` as Docker and Podman take it (commas inside labels=a,b stay). */
export function splitLogOpt(o: string): string[] {
  return o.split(/,(?=[A-Za-z][A-Za-z0-9_-]*=)/);
}

function logOptValue(key: string, value: unknown, where: string): { text: string; n: number } {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : undefined;
  if (key === 'max-size') {
    if (text === '-1') return { text, n: 0 };
    let n = NaN;
    if (text !== undefined && /^[0-9]+(\.[0-9]+)?\s*[kmg]?i?b?$/i.test(text)) n = parseSize(text);
    if (!(n >= 1)) throw new CtrError(`invalid ${where}: max-size must be a size with an optional unit k, m or g (e.g. 10m), or -1 for no limit`);
    return { text: text!, n };
  }
  if (text === undefined || !/^[1-9][0-9]{0,3}$/.test(text) || Number(text) > 1000)
    throw new CtrError(`invalid ${where}: max-file must be a number of files from 1 to 1000`);
  return { text, n: Number(text) };
}

/**
 * Parses `--log-opt KEY=VALUE[,KEY=VALUE]` (json-file options: max-size, max-file) over the
 * defaults (the configuration file's "log-opts", then LOG_DEFAULTS).
 */
export function parseLogOpts(opts: string[], defaults: LogOptSource[] = []): LogOptions {
  const given: LogOptSource[] = [];
  for (const o of opts)
    for (const part of splitLogOpt(o)) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new CtrError(`invalid --log-opt "${part}": use KEY=VALUE (e.g. max-size=10m)`);
      const key = part.slice(0, eq);
      if (key !== 'max-size' && key !== 'max-file' && !LOG_INFO_KEYS.includes(key))
        throw new CtrError(`invalid --log-opt "${part}": unknown option "${key}" (known: max-size, max-file)`);
      given.push({ key, value: part.slice(eq + 1), where: `--log-opt "${part}"` });
    }
  for (const d of defaults)
    if (d.key !== 'max-size' && d.key !== 'max-file')
      throw new CtrError(`invalid ${d.where}: unknown option "${d.key}" (known: max-size, max-file)`);
  const pick = (key: 'max-size' | 'max-file') => {
    const g = given.filter((x) => x.key === key).pop() ?? defaults.filter((x) => x.key === key).pop();
    // a bad default is reported even when --log-opt overrides it: the file needs fixing
    for (const d of defaults) if (d.key === key) logOptValue(key, d.value, d.where);
    return g ? logOptValue(key, g.value, g.where) : logOptValue(key, LOG_DEFAULTS[key], 'built-in default');
  };
  const size = pick('max-size');
  const files = pick('max-file');
  const raw: Record<string, string> = { 'max-size': size.text, 'max-file': files.text };
  for (const g of given) if (LOG_INFO_KEYS.includes(g.key)) raw[g.key] = String(g.value);
  return { maxSize: size.n, maxFiles: files.n, raw };
}

/** Merges environment lists: later entries override earlier keys; `KEY` alone takes the host's value. */
export function mergeEnv(...lists: string[][]): string[] {
  const map = new Map<string, string>();
  for (const list of lists)
    for (const e of list) {
      const eq = e.indexOf('=');
      if (eq === 0) throw new CtrError(`invalid environment variable "${e}": the name is empty`);
      if (eq < 0) {
        const hv = process.env[e];
        if (hv !== undefined) map.set(e, hv);
        continue;
      }
      map.set(e.slice(0, eq), e.slice(eq + 1));
    }
  return [...map].map(([k, v]) => `${k}=${v}`);
}

/** Reads `--env-file` files: KEY=VALUE lines, # comments and blank lines skipped. */
export function readEnvFiles(files: string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch (e) {
      throw new CtrError(`cannot read env file ${f}: ${(e as Error).message.replace(/^[A-Z]+: /, '')}`);
    }
    for (const raw of text.split('\n')) {
      const line = raw.replace(/\r$/, '');
      if (!line.trim() || line.trimStart().startsWith('#')) continue;
      out.push(line.trimStart());
    }
  }
  return out;
}

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12,
  PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23,
  XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31,
};

/** Signal name or number → number ("SIGTERM", "TERM", "15", "RTMIN+3"). */
export function parseSignal(s: string): number {
  const t = s.trim().toUpperCase().replace(/^SIG/, '');
  if (/^[0-9]+$/.test(t)) {
    const n = Number(t);
    if (n >= 1 && n <= 64) return n;
  } else if (SIGNALS[t] !== undefined) return SIGNALS[t]!;
  const rt = /^RTMIN(?:\+([0-9]+))?$/.exec(t);
  if (rt) {
    const n = 34 + Number(rt[1] ?? 0);
    if (n <= 64) return n;
  }
  throw new CtrError(`invalid signal "${s}": use a name such as SIGTERM or a number`);
}

export function signalName(n: number): string {
  for (const [k, v] of Object.entries(SIGNALS)) if (v === n && k !== 'IOT' && k !== 'POLL') return `SIG${k}`;
  return String(n);
}

/** Docker's -l/--label KEY=VALUE (KEY alone means an empty value). */
export function parseLabels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf('=');
    if (eq === 0) throw new CtrError(`invalid label "${l}": the key is empty`);
    if (eq < 0) out[l] = '';
    else out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}
