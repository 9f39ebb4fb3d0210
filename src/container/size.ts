import * as path from 'node:path';
import { context } from '../state/context';
import { runHelperSync } from '../util/helper';
import { containerDir } from './store';
import type { ContainerRecord } from './types';
import * as fs from 'node:fs';

/** Size of each container's writable layer (files may belong to sub-IDs: counted inside the user namespace). */
export function containerSizes(recs: ContainerRecord[]): Map<string, number> {
  const out = new Map<string, number>();
  const dirs = recs.map((r) => path.join(containerDir(r.id), 'upper')).filter((d) => fs.existsSync(d));
  if (!dirs.length) return out;
  let text = '';
  try {
    text = context().rootless
      ? runHelperSync(['userns-exec', '--', 'du', '-s', '-B1', ...dirs])
      : require('node:child_process').execFileSync('du', ['-s', '-B1', ...dirs], { encoding: 'utf8' });
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(.*)\/upper$/.exec(line);
    if (m) out.set(path.basename(m[2]!), Number(m[1]));
  }
  return out;
}
