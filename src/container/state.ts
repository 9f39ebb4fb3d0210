import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJson } from '../state/fsatomic';
import { containerDir } from './store';
import type { ContainerRecord } from './types';

/** Written by the monitor when the container process started (PROTOCOL.md). */
export interface StartState {
  pid: number;
  monitorPid: number;
  startedAt: string;
  bootId: string;
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
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const st = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return comm.startsWith('ctr-monitor') && st !== 'Z';
  } catch {
    return false;
  }
}

export const pausedMarker = (id: string) => path.join(containerDir(id), 'paused');

export function runtimeState(rec: ContainerRecord): RuntimeState {
  const dir = containerDir(rec.id);
  const start = safeRead<StartState>(path.join(dir, 'state.json'));
  const exit = safeRead<ExitState>(path.join(dir, 'exit.json'));
  const s: RuntimeState = {
    status: 'created',
    pid: 0,
    monitorPid: 0,
    exitCode: 0,
    startedAt: ZERO_TIME,
    finishedAt: ZERO_TIME,
    error: '',
  };
  if (exit) {
    s.status = 'exited';
    s.exitCode = exit.exitCode;
    s.finishedAt = exit.finishedAt;
    s.error = exit.error ?? '';
    if (start) s.startedAt = start.startedAt;
    return s;
  }
  if (!start) return s;
  s.startedAt = start.startedAt;
  if (start.bootId === bootId() && monitorAlive(start.monitorPid)) {
    s.status = fs.existsSync(pausedMarker(rec.id)) ? 'paused' : 'running';
    s.pid = start.pid;
    s.monitorPid = start.monitorPid;
    return s;
  }
  // The monitor is gone without an exit file: a reboot, or it was killed.
  s.status = 'exited';
  s.exitCode = 255;
  s.finishedAt = start.startedAt;
  return s;
}

function safeRead<T>(file: string): T | undefined {
  try {
    return readJson<T>(file);
  } catch {
    return undefined;
  }
}

export function isActive(s: RuntimeState): boolean {
  return s.status === 'running' || s.status === 'paused';
}
