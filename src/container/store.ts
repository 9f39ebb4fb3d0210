import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { context } from '../state/context';
import { readJson, writeJsonAtomic } from '../state/fsatomic';
import { CtrError } from '../util/errors';
import type { ContainerRecord } from './types';
import { invalidName, randomName } from './names';

export function containersDir(): string {
  return path.join(context().root, 'containers');
}
export function namesDir(): string {
  return path.join(context().root, 'names');
}
export function containerDir(id: string): string {
  return path.join(containersDir(), id);
}
/** Short per-container runtime dir (unix socket paths must stay under 108 bytes). */
export function monitorDir(id: string): string {
  return path.join(context().runroot, 'c', id.slice(0, 12));
}

function readRecord(id: string): ContainerRecord | undefined {
  try {
    return readJson<ContainerRecord>(path.join(containerDir(id), 'container.json'));
  } catch {
    return undefined;
  }
}

function listIds(): string[] {
  try {
    return fs.readdirSync(containersDir()).filter((n) => n.length === 64 && /^[0-9a-f]+$/.test(n));
  } catch {
    return [];
  }
}

/** Every container record in the store (unordered). Records being created or removed are skipped. */
export function listContainerRecords(): ContainerRecord[] {
  const out: ContainerRecord[] = [];
  for (const id of listIds()) {
    const r = readRecord(id);
    if (r) out.push(r);
  }
  return out;
}

/** IDs of the containers created from image ID `imageId` ("sha256:..."). */
export function containersUsingImage(imageId: string): string[] {
  return listContainerRecords()
    .filter((c) => c.image === imageId)
    .map((c) => c.id);
}

/** Finds a container by name, full ID or unique ID prefix. */
export function findContainer(ref: string): ContainerRecord {
  const r = tryFindContainer(ref);
  if (!r) throw new CtrError(`no such container: ${ref}`);
  return r;
}

export function tryFindContainer(ref: string): ContainerRecord | undefined {
  if (!ref) return undefined;
  if (!ref.includes('/')) {
    let target: string | undefined;
    try {
      target = fs.readlinkSync(path.join(namesDir(), ref));
    } catch {
      /* not a name */
    }
    if (target) {
      const r = readRecord(target);
      if (r && r.name === ref) return r;
    }
  }
  if (/^[0-9a-f]+$/.test(ref)) {
    const ids = listIds().filter((id) => id.startsWith(ref));
    if (ids.length > 1) throw new CtrError(`container ID prefix "${ref}" is ambiguous (${ids.length} containers): give more characters`);
    if (ids.length === 1) return readRecord(ids[0]!);
  }
  return undefined;
}

function newId(): string {
  const taken = new Set(listIds().map((i) => i.slice(0, 12)));
  for (;;) {
    const id = randomBytes(32).toString('hex');
    if (!taken.has(id.slice(0, 12)) && !/^[0-9]+$/.test(id.slice(0, 12))) return id;
  }
}

/** Reserves a name for id: an atomic symlink names/<name> -> id. */
function reserveName(name: string, id: string, explicit: boolean): boolean {
  fs.mkdirSync(namesDir(), { recursive: true });
  const link = path.join(namesDir(), name);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.symlinkSync(id, link);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
    }
    // A name whose container is gone (killed half-way through create or rm) is stale.
    let target = '';
    try {
      target = fs.readlinkSync(link);
    } catch {
      continue;
    }
    const owner = fs.existsSync(containerDir(target)) || fs.existsSync(path.join(containersDir(), `.new-${target}`));
    const age = ageMs(link);
    if (!owner && age > 10000) {
      try {
        fs.unlinkSync(link);
      } catch {
        /* raced */
      }
      continue;
    }
    if (!explicit) return false;
    throw new CtrError(`the container name "${name}" is already in use by ${target.slice(0, 12)}: remove or rename that container, or choose another name`);
  }
  return false;
}

function ageMs(p: string): number {
  try {
    return Date.now() - fs.lstatSync(p).mtimeMs;
  } catch {
    return Infinity;
  }
}

export function releaseName(name: string, id: string): void {
  const link = path.join(namesDir(), name);
  try {
    if (fs.readlinkSync(link) === id) fs.unlinkSync(link);
  } catch {
    /* gone */
  }
}

/**
 * Creates a container record: the name is reserved first, the directory is filled under a temp
 * name and published by rename, so a killed `ctr` leaves either nothing or a whole record.
 */
export function createRecord(name: string | undefined, fill: (id: string, name: string, dir: string) => ContainerRecord): ContainerRecord {
  if (name !== undefined) {
    const bad = invalidName(name);
    if (bad) throw new CtrError(bad);
  }
  const id = newId();
  let chosen = name;
  if (chosen === undefined) {
    for (let i = 0; i < 50 && chosen === undefined; i++) {
      const n = randomName();
      if (reserveName(n, id, false)) chosen = n;
    }
    if (chosen === undefined) {
      const n = `${randomName()}_${randomBytes(2).toString('hex')}`;
      reserveName(n, id, true);
      chosen = n;
    }
  } else {
    reserveName(chosen, id, true);
  }
  const tmp = path.join(containersDir(), `.new-${id}`);
  try {
    fs.mkdirSync(tmp, { recursive: true, mode: 0o700 });
    const rec = fill(id, chosen, containerDir(id));
    writeJsonAtomic(path.join(tmp, 'container.json'), rec);
    fs.renameSync(tmp, containerDir(id));
    return rec;
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    releaseName(chosen, id);
    throw e;
  }
}

export function updateRecord(rec: ContainerRecord): void {
  writeJsonAtomic(path.join(containerDir(rec.id), 'container.json'), rec);
}

/** Takes the container out of the store at once (rename), returns the dir left to delete. */
export function unpublish(rec: ContainerRecord): string {
  const gone = path.join(containersDir(), `.rm-${rec.id}`);
  fs.renameSync(containerDir(rec.id), gone);
  releaseName(rec.name, rec.id);
  fs.rmSync(monitorDir(rec.id), { recursive: true, force: true });
  return gone;
}

/** Leftovers of killed creates and removals (older than a minute). */
export function leftovers(): string[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(containersDir());
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith('.rm-') || n.startsWith('.new-'))
    .map((n) => path.join(containersDir(), n))
    .filter((p) => p.includes('/.rm-') || ageMs(p) > 60000);
}

export function renameContainer(rec: ContainerRecord, newName: string): void {
  const bad = invalidName(newName);
  if (bad) throw new CtrError(bad);
  if (newName === rec.name) return;
  reserveName(newName, rec.id, true);
  const old = rec.name;
  rec.name = newName;
  try {
    updateRecord(rec);
  } catch (e) {
    releaseName(newName, rec.id);
    throw e;
  }
  releaseName(old, rec.id);
}
