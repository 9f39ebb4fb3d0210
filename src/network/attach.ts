/**
 * The per-user network namespace that holds the networks' bridges (native/netns.c) is made by
 * the first container on a network, and again when its holder is gone. Running containers were
 * linked into the lost one: before a container on a network starts, they are linked into the
 * new one, so a lost namespace costs their links for a moment, not for good.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runrootDir } from '../state/dirs';
import { procStat } from '../state/lock';
import { debug } from '../state/context';
import { runHelperSync } from '../util/helper';
import { endpointsText } from '../container/spec';
import { listContainerRecords } from '../container/store';
import { isActive, runtimeState } from '../container/state';
import type { ContainerRecord } from '../container/types';

/** The holder named in netns.pid runs (a zombie left to an init that does not reap counts as gone). */
function holderAlive(): boolean {
  try {
    const [pid, start] = fs.readFileSync(path.join(runrootDir(), 'netns.pid'), 'utf8').trim().split(' ');
    if (!pid || !start) return false;
    const st = procStat(Number(pid));
    return !!st && st.state !== 'Z' && st.state !== 'X' && st.startTime === start;
  } catch {
    return false;
  }
}

/** Called before REC (on user networks) starts: relinks running containers when the holder is gone. */
export function relinkIfLost(rec: ContainerRecord): void {
  if (!rec.networks || holderAlive()) return;
  debug('the namespace of the networks is gone: running containers are linked into a new one');
  for (const other of listContainerRecords()) {
    if (other.id === rec.id || !other.networks || !Object.keys(other.networks).length) continue;
    const st = runtimeState(other);
    if (!isActive(st) || !st.pid) continue;
    debug(`linking ${other.name} (pid ${st.pid}) into its networks again`);
    try {
      runHelperSync(['net-attach', String(st.pid), endpointsText(other.networks)]);
    } catch (e) {
      process.stderr.write(`ctr: warning: container ${other.name} could not be linked into its networks again: ${(e as Error).message}\n`);
    }
  }
}
