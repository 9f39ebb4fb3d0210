/** Published ports of containers on disk: which ctr container holds a host port. */
import { listContainerRecords } from '../container/store';
import { runtimeState } from '../container/state';
import type { ContainerRecord } from '../container/types';
import { CtrError } from '../util/errors';
import { bindIp, mappingsFromBindings, overlaps } from './ports';

/** The start of a container whose port could not be had (its record goes with `run`). */
export const isPortError = (msg: string) => msg.startsWith('cannot publish port ');

/**
 * Before a start: a fixed host port that another running ctr container holds is refused with
 * that container's name (the monitor's own bind then only meets other programs' ports).
 */
export function checkPortsFree(rec: ContainerRecord): void {
  const wanted = mappingsFromBindings(rec.hostConfig.PortBindings).filter((m) => m.hostPort);
  if (!wanted.length) return;
  for (const other of listContainerRecords()) {
    if (other.id === rec.id || !mappingsFromBindings(other.hostConfig.PortBindings).length) continue;
    const st = runtimeState(other);
    if (st.status !== 'running' && st.status !== 'paused') continue;
    for (const m of wanted)
      for (const held of st.ports ?? [])
        if (overlaps(m, held)) {
          const ip = bindIp(m);
          throw new CtrError(`cannot publish port ${ip.includes(':') ? `[${ip}]` : ip}:${m.hostPort}/${m.proto}: the address is already in use by container ${other.name}`);
        }
  }
}
