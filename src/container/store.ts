import * as fs from 'node:fs';
import * as path from 'node:path';
import { context } from '../state/context';
import { readJson } from '../state/fsatomic';
import type { ContainerRecord } from './types';

export function containersDir(): string {
  return path.join(context().root, 'containers');
}

/** Every container record in the store (unordered). Records being created or removed are skipped. */
export function listContainerRecords(): ContainerRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(containersDir());
  } catch {
    return [];
  }
  const out: ContainerRecord[] = [];
  for (const n of names) {
    if (n.length !== 64) continue;
    try {
      const r = readJson<ContainerRecord>(path.join(containersDir(), n, 'container.json'));
      if (r) out.push(r);
    } catch {
      /* half-written: skipped */
    }
  }
  return out;
}

/** IDs of the containers created from image ID `imageId` ("sha256:..."). */
export function containersUsingImage(imageId: string): string[] {
  return listContainerRecords()
    .filter((c) => c.image === imageId)
    .map((c) => c.id);
}
