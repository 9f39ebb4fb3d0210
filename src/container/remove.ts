import * as fs from 'node:fs';
import { context } from '../state/context';
import { runHelperSync, spawnHelper } from '../util/helper';

/** Removes directories whose files may belong to sub-IDs (through the helper when rootless). */
export function removeDirs(dirs: string[]): void {
  const present = dirs.filter((d) => fs.existsSync(d));
  if (!present.length) return;
  if (!context().rootless) {
    for (const d of present) fs.rmSync(d, { recursive: true, force: true });
    return;
  }
  runHelperSync(['rmtree', ...present]);
}

/**
 * Deletes directories that are already out of sight (renamed to `.rm-` names) in the
 * background: a detached helper does the work while ctr exits, since deleting a container's
 * files costs far more than the rest of `rm` on some file systems (ext4 with discard: about a
 * millisecond per file). Whatever a killed helper leaves, the next rm or prune finds again
 * (store.ts leftovers()).
 */
export function removeDirsLater(dirs: string[]): void {
  if (!dirs.length) return;
  try {
    const child = spawnHelper(['rmtree', ...dirs], { detached: true, stdio: 'ignore' });
    child.on('error', () => {
      /* left for leftovers() */
    });
    child.unref();
  } catch {
    removeDirs(dirs);
  }
}
