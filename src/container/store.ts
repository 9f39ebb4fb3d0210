import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from '../util/random';
import { context } from '../state/context';
import { readJson, writeFileChecked, writeJsonAtomic } from '../state/fsatomic';
import { CtrError } from '../util/errors';
import type { ContainerRecord } from './types';
import { invalidName, randomName } from './names';
import { removeDirs } from './remove';

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

/** `.new-<id>/creator`: "PID STARTTIME" of the ctr process filling that directory. */
const CREATOR = 'creator';

function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** True while the ctr that is creating container `id` (its `.new-` dir) is alive. */
function creatorAlive(tmpDir: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(path.join(tmpDir, CREATOR), 'utf8');
  } catch {
    // no stamp (yet, or an old layout): trust it for a minute
    return ageMs(tmpDir) < 60000;
  }
  const [pid, start] = text.trim().split(' ');
  return !!pid && startTime(Number(pid)) === start;
}

/** The directory exists and is not a killed create's leftover. */
function beingCreated(id: string): boolean {
  const tmp = path.join(containersDir(), `.new-${id}`);
  return fs.existsSync(tmp) && creatorAlive(tmp);
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
  const ids = listContainerRecords()
    .filter((c) => c.image === imageId)
    .map((c) => c.id);
  // containers being created are not listed yet, but their record already names the image
  let names: string[] = [];
  try {
    names = fs.readdirSync(containersDir()).filter((n) => n.startsWith('.new-'));
  } catch {
    /* no containers */
  }
  for (const n of names) {
    const dir = path.join(containersDir(), n);
    try {
      const rec = readJson<ContainerRecord>(path.join(dir, 'container.json'));
      if (rec && rec.image === imageId && creatorAlive(dir)) ids.push(rec.id);
    } catch {
      /* not written yet */
    }
  }
  return ids;
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
    // A name whose container is gone (killed half-way through create or rm) is stale. The
    // creator makes its .new- dir before it links the name, and publishing renames .new-ID to
    // ID: look at .new-ID first so that a rename in between cannot look like neither.
    let target = '';
    try {
      target = fs.readlinkSync(link);
    } catch {
      continue;
    }
    const owner = beingCreated(target) || fs.existsSync(containerDir(target));
    if (!owner) {
      try {
        if (fs.readlinkSync(link) === target) fs.unlinkSync(link);
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
 * Creates a container: its directory is filled under a temp name (`.new-<id>`, stamped with our
 * PID) and published by one rename, so a killed `ctr` leaves either nothing visible or a whole
 * container. `fill` returns the record; `prepare(tmpDir, rec)` makes the rest of the directory
 * (rootfs, bundle) with paths that point at the final directory, and may update `rec`.
 */
export function createRecord(
  name: string | undefined,
  fill: (id: string, name: string) => ContainerRecord,
  prepare?: (tmpDir: string, rec: ContainerRecord) => void,
): ContainerRecord {
  if (name !== undefined) {
    const bad = invalidName(name);
    if (bad) throw new CtrError(bad);
  }
  const id = newId();
  const tmp = path.join(containersDir(), `.new-${id}`);
  fs.mkdirSync(containersDir(), { recursive: true, mode: 0o700 });
  fs.mkdirSync(tmp, { mode: 0o700 });
  let chosen: string | undefined;
  try {
    writeFileChecked(path.join(tmp, CREATOR), `${process.pid} ${startTime(process.pid) ?? ''}\n`);
    chosen = name;
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
    const rec = fill(id, chosen);
    // the record first: `rmi` sees the image in use while the rest is made
    writeJsonAtomic(path.join(tmp, 'container.json'), rec, 0o644, false);
    if (prepare) {
      prepare(tmp, rec);
      writeJsonAtomic(path.join(tmp, 'container.json'), rec, 0o644, false);
    }
    fs.renameSync(tmp, containerDir(id));
    fs.rmSync(path.join(containerDir(id), CREATOR), { force: true });
    return rec;
  } catch (e) {
    try {
      removeDirs([tmp]);
    } catch {
      /* left for leftovers() */
    }
    if (chosen !== undefined) releaseName(chosen, id);
    throw e;
  }
}

export function updateRecord(rec: ContainerRecord): void {
  writeJsonAtomic(path.join(containerDir(rec.id), 'container.json'), rec);
}

/** Runtime dirs of removed containers waiting for deletion: `.rm-<short id>` beside the live ones. */
function monitorTrash(id: string): string {
  return path.join(context().runroot, 'c', `.rm-${id.slice(0, 12)}`);
}

/**
 * Takes the container out of the store at once (renames: removing even an empty directory
 * costs milliseconds on some file systems), returns the dirs left to delete.
 */
export function unpublish(rec: ContainerRecord): string[] {
  const gone = path.join(containersDir(), `.rm-${rec.id}`);
  fs.renameSync(containerDir(rec.id), gone);
  releaseName(rec.name, rec.id);
  const dirs = [gone];
  try {
    fs.renameSync(monitorDir(rec.id), monitorTrash(rec.id));
    dirs.push(monitorTrash(rec.id));
  } catch {
    fs.rmSync(monitorDir(rec.id), { recursive: true, force: true });
  }
  return dirs;
}

/**
 * A `.rm-` dir is being deleted by whoever renamed it (a monitor after --rm, the helper an rm
 * started) for a while; after a minute it counts as left behind by a killed one. The rename
 * set its ctime.
 */
function abandoned(p: string): boolean {
  try {
    return Date.now() - fs.lstatSync(p).ctimeMs > 60_000;
  } catch {
    return false;
  }
}

/** Leftovers of killed creates and removals (their names are released here too). */
export function leftovers(): string[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(containersDir());
  } catch {
    return [];
  }
  const dirs = names
    .filter((n) => n.startsWith('.rm-') || n.startsWith('.new-'))
    .map((n) => path.join(containersDir(), n))
    .filter((p) => (p.includes('/.rm-') ? abandoned(p) : !creatorAlive(p)));
  try {
    const rc = path.join(context().runroot, 'c');
    for (const n of fs.readdirSync(rc)) if (n.startsWith('.rm-') && abandoned(path.join(rc, n))) dirs.push(path.join(rc, n));
  } catch {
    /* no runtime dir */
  }
  releaseStaleNames();
  return dirs;
}

/** Removes name links whose container is neither published nor being created. */
function releaseStaleNames(): void {
  let links: string[] = [];
  try {
    links = fs.readdirSync(namesDir());
  } catch {
    return;
  }
  for (const n of links) {
    const link = path.join(namesDir(), n);
    try {
      const target = fs.readlinkSync(link);
      if (!beingCreated(target) && !fs.existsSync(containerDir(target)) && fs.readlinkSync(link) === target) fs.unlinkSync(link);
    } catch {
      /* raced or not a link */
    }
  }
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
