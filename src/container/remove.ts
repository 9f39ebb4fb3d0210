import * as fs from 'node:fs';
import { context } from '../state/context';
import { runHelperSync } from '../util/helper';

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
