import * as fs from 'node:fs';
import * as path from 'node:path';
import { processStartTime, procStat } from '../state/lock';
import { errnoCode } from '../util/errors';
import { runHelperSync } from '../util/helper';
import { containerDir, monitorDir } from './store';
import type { ContainerRecord } from './types';
import { validActualPorts, type PortMapping } from '../network/ports';

/** Written by the monitor when the container process started (PROTOCOL.md). */
export interface StartState {
  pid: number;
  monitorPid: number;
  startedAt: string;
  bootId: string;
  /** the published ports the monitor holds (host ports as bound) */
  ports?: unknown;
}
/** Written by the monitor when the container ended. */
export interface ExitState {
  exitCode: number;
  finishedAt: string;
  signal?: number;
  error?: string;
}

export type Status = 'created' | 'running' | 'paused' | 'exited';

export interface RuntimeState {
  status: Status;
  pid: number;
  monitorPid: number;
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  error: string;
  /** the state or exit file could not be read: what is wrong (the rest was found from the monitor's process) */
  damaged?: string;
  /** paused by a ctr process that resumes it when done: its PID and command (`commit`) */
  pausedBy?: { pid: number; command: string };
  /** running: the published ports, as the monitor bound them */
  ports?: PortMapping[];
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
let bootIdCache: string | undefined;
export function bootId(): string {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootIdCache = '';
    }
  }
  return bootIdCache;
}

export function monitorAlive(pid: number): boolean {
  if (!pid) return false;
  const st = procStat(pid);
  return !!st && st.comm.startsWith('ctr-monitor') && st.state !== 'Z';
}

/**
 * `paused`: the container is paused. Empty: by `ctr pause` (until `ctr unpause`). Otherwise
 * "PID STARTTIME WHAT" of the ctr process that paused it for a while (`commit`) and resumes it
 * when done; a pause whose owner is gone (killed) is resumed by the next ctr that sees it.
 */
export const pausedMarker = (id: string) => path.join(containerDir(id), 'paused');

/** The owner line of a pause by this process (for `what`, e.g. "commit"). */
export function pauseOwner(what: string): string {
  return `${process.pid} ${processStartTime(process.pid) ?? '0'} ${what}\n`;
}

type FileRead<T> = { value: T } | { missing: true } | { damaged: string };

/** One of the monitor's JSON files: its value, missing, or damaged (unreadable, not JSON, the wrong shape). */
function readRuntimeFile<T>(file: string, valid: (v: Record<string, unknown>) => boolean): FileRead<T> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return { missing: true };
    return { damaged: `${path.basename(file)} cannot be read (${code ?? (e as Error).message})` };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { damaged: text.trim() === '' ? `${path.basename(file)} is empty` : `${path.basename(file)} is not valid JSON (${(e as Error).message})` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !valid(v as Record<string, unknown>)) return { damaged: `${path.basename(file)} does not hold a valid state` };
  return { value: v as T };
}

const validStart = (v: Record<string, unknown>) => Number.isInteger(v.pid) && Number.isInteger(v.monitorPid) && typeof v.startedAt === 'string';
const validExit = (v: Record<string, unknown>) => Number.isInteger(v.exitCode) && typeof v.finishedAt === 'string';

export function runtimeState(rec: ContainerRecord): RuntimeState {
  const dir = containerDir(rec.id);
  const start = readRuntimeFile<StartState>(path.join(dir, 'state.json'), validStart);
  const exit = readRuntimeFile<ExitState>(path.join(dir, 'exit.json'), validExit);
  const s: RuntimeState = {
    status: 'created',
    pid: 0,
    monitorPid: 0,
    exitCode: 0,
    startedAt: ZERO_TIME,
    finishedAt: ZERO_TIME,
    error: '',
  };
  if ('value' in exit) {
    s.status = 'exited';
    s.exitCode = exit.value.exitCode;
    s.finishedAt = exit.value.finishedAt;
    s.error = exit.value.error ?? '';
    if ('value' in start) s.startedAt = start.value.startedAt;
    else if ('damaged' in start) s.damaged = start.damaged;
    return s;
  }
  if ('damaged' in exit) {
    // the monitor writes its exit file when the container has ended: the code is lost
    s.status = 'exited';
    s.exitCode = 255;
    s.damaged = exit.damaged;
    s.error = `the exit code is lost: ${exit.damaged}`;
    s.finishedAt = mtimeIso(path.join(dir, 'exit.json'));
    if ('value' in start) s.startedAt = start.value.startedAt;
    return s;
  }
  if ('missing' in start) {
    // never started, or starting (the monitor's socket comes before its state file); a socket
    // without a state file may also be a state file deleted under a running container
    if (!fs.existsSync(path.join(monitorDir(rec.id), 'attach'))) return s;
    const found = findMonitor(rec.id);
    if (!found) return s;
    return running(rec, s, found);
  }
  if ('damaged' in start) {
    s.damaged = start.damaged;
    const found = findMonitor(rec.id);
    if (found) return running(rec, s, found);
    s.status = 'exited';
    s.exitCode = 255;
    s.error = `the exit code is lost: ${start.damaged} and no monitor runs for the container`;
    s.finishedAt = mtimeIso(path.join(dir, 'state.json'));
    return s;
  }
  s.startedAt = start.value.startedAt;
  if (start.value.bootId === bootId() && monitorAlive(start.value.monitorPid)) return running(rec, s, start.value);
  // The monitor is gone without an exit file: a reboot, or it was killed.
  s.status = 'exited';
  s.exitCode = 255;
  s.finishedAt = start.value.startedAt;
  return s;
}

function running(rec: ContainerRecord, s: RuntimeState, st: { pid: number; monitorPid: number; startedAt: string; ports?: unknown }): RuntimeState {
  s.status = 'running';
  const ports = validActualPorts(st.ports);
  if (ports) s.ports = ports;
  s.pid = st.pid;
  s.monitorPid = st.monitorPid;
  s.startedAt = st.startedAt;
  const pause = pauseState(rec.id, st.pid);
  if (pause.paused) {
    s.status = 'paused';
    if (pause.by) s.pausedBy = pause.by;
  }
  return s;
}

/**
 * Whether the container is paused. A pause whose owner (a `ctr commit` killed before it
 * resumed the container) is gone is undone here: the container gets SIGCONT and the marker
 * goes, so the next command that looks at the container finds it running.
 */
function pauseState(id: string, pid: number): { paused: boolean; by?: { pid: number; command: string } } {
  const marker = pausedMarker(id);
  if (!fs.existsSync(marker)) return { paused: false }; // no exception on the hot path (ps)
  let text: string;
  try {
    text = fs.readFileSync(marker, 'utf8');
  } catch {
    return { paused: false };
  }
  if (text.trim() === '') return { paused: true }; // ctr pause
  const [p, start, command] = text.trim().split(' ');
  const owner = Number(p);
  if (Number.isInteger(owner) && owner > 0 && processStartTime(owner) === start) return { paused: true, by: { pid: owner, command: command ?? 'pause' } };
  // Orphaned: claim it with a rename (one resumer), unless a new pause replaced it meanwhile.
  const claim = `${marker}.orphan-${process.pid}`;
  try {
    fs.renameSync(marker, claim);
  } catch {
    return pauseStateAfterRace(marker);
  }
  if (fs.readFileSync(claim, 'utf8') !== text) {
    // a fresh marker was moved by mistake: put it back unless another came meanwhile
    try {
      fs.linkSync(claim, marker);
    } catch {
      /* the newer one stays */
    }
    fs.rmSync(claim, { force: true });
    return pauseStateAfterRace(marker);
  }
  try {
    if (pid) runHelperSync(['signal-all', String(pid), '18']);
  } catch (e) {
    // put the marker back: the next command tries again
    try {
      fs.renameSync(claim, marker);
    } catch {
      /* gone */
    }
    process.stderr.write(`warning: cannot resume container ${id.slice(0, 12)}, left paused by a ctr that is gone: ${(e as Error).message}\n`);
    return { paused: true };
  }
  fs.rmSync(claim, { force: true });
  process.stderr.write(`note: container ${id.slice(0, 12)} was left paused by a ctr process that is gone (ctr ${command ?? 'pause'}, pid ${p}); resumed it\n`);
  return { paused: false };
}

function pauseStateAfterRace(marker: string): { paused: boolean } {
  return { paused: fs.existsSync(marker) };
}

function mtimeIso(file: string): string {
  try {
    return fs.statSync(file).mtime.toISOString();
  } catch {
    return ZERO_TIME;
  }
}

let bootTimeCache: number | undefined;
/** Seconds since the epoch of the boot (`btime` of /proc/stat). */
function bootTime(): number {
  if (bootTimeCache === undefined) {
    const m = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'));
    bootTimeCache = m ? Number(m[1]) : 0;
  }
  return bootTimeCache;
}

/**
 * The running monitor of container `id`, found from the processes themselves when its state
 * file cannot tell: a `ctr-monitor` whose command line is `... run <container dir>`; the
 * container's init is its child that is PID 1 of a PID namespace of its own. Costs a walk
 * of /proc: only for damaged state.
 */
export function findMonitor(id: string): StartState | undefined {
  const bundle = containerDir(id);
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n));
  } catch {
    return undefined;
  }
  const stats = new Map<number, { comm: string; ppid: number; start: number }>();
  for (const n of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${n}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z') continue;
      stats.set(Number(n), { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ppid: Number(rest[1]), start: Number(rest[19]) });
    } catch {
      /* gone */
    }
  }
  for (const [mpid, st] of stats) {
    if (st.comm !== 'ctr-monitor') continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${mpid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const i = argv.indexOf('run');
    if (i < 0 || argv[i + 1] !== bundle) continue;
    let pid = 0;
    for (const [cpid, c] of stats) {
      if (c.ppid !== mpid) continue;
      try {
        const m = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${cpid}/status`, 'utf8'));
        const ns = m ? m[1]!.trim().split(/\s+/) : [];
        if (ns.length > 1 && ns[ns.length - 1] === '1') pid = cpid;
      } catch {
        /* gone */
      }
    }
    if (!pid) continue; // the init is not there (yet, or any more)
    const startedAt = new Date((bootTime() + st.start / 100) * 1000).toISOString();
    return { pid, monitorPid: mpid, startedAt, bootId: bootId() };
  }
  return undefined;
}

export function isActive(s: RuntimeState): boolean {
  return s.status === 'running' || s.status === 'paused';
}
