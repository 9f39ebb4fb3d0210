import * as path from 'node:path';
import { context } from '../state/context';
import { runHelperSync } from '../util/helper';
import { changesSource } from './diff';
import { containerDir } from './store';
import type { ContainerRecord } from './types';
import * as fs from 'node:fs';

/**
 * Size of each container's writable layer (files may belong to sub-IDs: counted inside the user
 * namespace): the disk use of its overlay upper dir; for vfs, the size of its changes as a layer
 * (what commit would store, `ctr-helper tar-dir --size`).
 */
export function containerSizes(recs: ContainerRecord[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of recs) {
    if (r.driver !== 'vfs') continue;
    try {
      const ann = (JSON.parse(fs.readFileSync(path.join(containerDir(r.id), 'config.json'), 'utf8')) as { annotations?: Record<string, string> }).annotations ?? {};
      const src = changesSource(r, ann);
      if (src) out.set(r.id, Number(runHelperSync(['tar-dir', '--size', ...src.tarDirArgs]).trim()) || 0);
    } catch {
      /* shown as 0 */
    }
  }
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
