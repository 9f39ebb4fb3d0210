import * as fs from 'node:fs';
import * as path from 'node:path';
import { CtrError } from '../util/errors';
import { runHelperSync } from '../util/helper';
import { removeDirs, removeDirsLater } from './remove';
import { isActive, monitorAlive, runtimeState, type RuntimeState } from './state';
import { stopContainer } from './runtime';
import { leftovers, monitorDir, unpublish } from './store';
import type { ContainerRecord } from './types';
import { releaseEndpoints } from '../network/store';

/** How messages name a container (a damaged record may not know its name). */
export const label = (rec: ContainerRecord): string => rec.name || rec.id.slice(0, 12);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * rm -f: SIGKILL through the monitor, which reports the exit. When the monitor cannot be
 * reached (its runtime dir is gone, or it does not answer), what is known is killed directly:
 * every process of the container's PID namespace (the helper joins its user namespace), then
 * the monitor itself if it does not end on its own.
 */
export async function forceStop(rec: ContainerRecord, st: RuntimeState): Promise<void> {
  if (fs.existsSync(path.join(monitorDir(rec.id), 'attach'))) {
    try {
      await stopContainer(rec, 9, 0);
      return;
    } catch {
      /* killed directly below */
    }
  }
  if (st.pid) {
    try {
      runHelperSync(['signal-all', String(st.pid), '9']);
    } catch {
      /* gone already, or not ours: the monitor is next */
    }
  }
  for (let i = 0; i < 50 && monitorAlive(st.monitorPid); i++) await sleep(100);
  if (monitorAlive(st.monitorPid)) {
    try {
      process.kill(st.monitorPid, 'SIGKILL');
    } catch {
      /* gone */
    }
    for (let i = 0; i < 20 && monitorAlive(st.monitorPid); i++) await sleep(50);
    if (monitorAlive(st.monitorPid)) throw new Error(`its monitor (pid ${st.monitorPid}) does not exit`);
  }
}

/**
 * Removes containers: each leaves the store at once (rename), then every directory goes in one
 * helper call, in the background. Running ones are refused unless force, which kills them first.
 */
export async function removeContainersAsync(recs: ContainerRecord[], o: { force: boolean }): Promise<{ removed: ContainerRecord[]; errors: string[] }> {
  const removed: ContainerRecord[] = [];
  const errors: string[] = [];
  const dirs: string[] = [];
  for (const rec of recs) {
    const st = runtimeState(rec);
    if (isActive(st)) {
      if (!o.force) {
        errors.push(`cannot remove container ${label(rec)}: it is ${st.status}; stop it first or use rm -f`);
        continue;
      }
      try {
        await forceStop(rec, st);
      } catch (e) {
        errors.push(`cannot kill container ${label(rec)}: ${(e as Error).message}`);
        continue;
      }
    }
    try {
      dirs.push(...unpublish(rec));
      releaseEndpoints(rec.id, rec.networks);
      removed.push(rec);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT') {
        removed.push(rec); // removed by its monitor (--rm) or another ctr meanwhile
        continue;
      }
      errors.push(`cannot remove container ${label(rec)}: ${(e as Error).message}`);
    }
  }
  dirs.push(...leftovers());
  // out of sight already: the files go in the background
  removeDirsLater(dirs);
  return { removed, errors };
}

/** Synchronous removal of containers known not to be running (clean-up paths). */
export function removeContainers(recs: ContainerRecord[]): void {
  const dirs: string[] = [];
  for (const rec of recs) {
    try {
      dirs.push(...unpublish(rec));
      releaseEndpoints(rec.id, rec.networks);
    } catch {
      /* already gone */
    }
  }
  if (dirs.length) removeDirs(dirs);
}

export function throwIfErrors(errors: string[], stderr: NodeJS.WritableStream): void {
  if (!errors.length) return;
  for (const e of errors.slice(0, -1)) stderr.write(`Error: ${e}\n`);
  throw new CtrError(errors[errors.length - 1]!);
}
