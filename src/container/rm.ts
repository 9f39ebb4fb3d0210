import { CtrError } from '../util/errors';
import { removeDirs, removeDirsLater } from './remove';
import { isActive, runtimeState } from './state';
import { stopContainer } from './runtime';
import { leftovers, unpublish } from './store';
import type { ContainerRecord } from './types';

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
        errors.push(`cannot remove container ${rec.name}: it is ${st.status}; stop it first or use rm -f`);
        continue;
      }
      try {
        await stopContainer(rec, 9, 0);
      } catch (e) {
        errors.push(`cannot kill container ${rec.name}: ${(e as Error).message}`);
        continue;
      }
    }
    try {
      dirs.push(...unpublish(rec));
      removed.push(rec);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT') {
        removed.push(rec); // removed by its monitor (--rm) or another ctr meanwhile
        continue;
      }
      errors.push(`cannot remove container ${rec.name}: ${(e as Error).message}`);
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
