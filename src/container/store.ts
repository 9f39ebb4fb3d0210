import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from '../util/random';
import { runrootDir, storeDir } from '../state/dirs';
import { readJson, writeFileChecked, writeJsonAtomic } from '../state/fsatomic';
import { processStartTime } from '../state/lock';
import { CtrError, errnoCode } from '../util/errors';
import type { ContainerRecord } from './types';
import { invalidName, randomName } from './names';
import { removeDirs } from './remove';

export function containersDir(): string {
  return path.join(storeDir(), 'containers');
}
export function namesDir(): string {
  return path.join(storeDir(), 'names');
}
export function containerDir(id: string): string {
  return path.join(containersDir(), id);
}
/** Short per-container runtime dir (unix socket paths must stay under 108 bytes). */
export function monitorDir(id: string): string {
  return path.join(runrootDir(), 'c', id.slice(0, 12));
}

/** `.new-<id>/creator`: "PID STARTTIME" of the ctr process filling that directory. */
const CREATOR = 'creator';

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
  return !!pid && processStartTime(Number(pid)) === start;
}

/** The directory exists and is not a killed create's leftover. */
export function beingCreated(id: string): boolean {
  const tmp = path.join(containersDir(), `.new-${id}`);
  return fs.existsSync(tmp) && creatorAlive(tmp);
}

/**
 * The container's record; undefined when the container is gone (removed meanwhile). A
 * container.json that cannot be read (a truncated or garbage file, the wrong shape) gives a
 * damaged record (`damaged` says why) with what is still known, so that the container is
 * listed and can be removed instead of vanishing while its name and processes live on.
 */
function readRecord(id: string): ContainerRecord | undefined {
  const dir = containerDir(id);
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, 'container.json'), 'utf8');
  } catch (e) {
    const code = errnoCode(e);
    if ((code === 'ENOENT' || code === 'ENOTDIR') && !fs.existsSync(dir)) return undefined;
    return damagedRecord(id, code === 'ENOENT' ? 'container.json is missing' : `container.json cannot be read (${code ?? (e as Error).message})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return damagedRecord(id, text.trim() === '' ? 'container.json is empty' : `container.json is not valid JSON (${(e as Error).message})`);
  }
  const problem = recordProblem(v, id);
  return problem === undefined ? (v as ContainerRecord) : damagedRecord(id, `container.json ${problem}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What makes a parsed container.json unusable (the fields every command relies on), or undefined. */
function recordProblem(v: unknown, id: string): string | undefined {
  if (!isObject(v)) return 'does not hold an object';
  if (v.id !== id) return 'holds another ID';
  for (const k of ['name', 'image', 'imageName', 'created', 'path']) if (typeof v[k] !== 'string') return `has no valid "${k}"`;
  for (const k of ['args', 'mounts']) if (!Array.isArray(v[k])) return `has no valid "${k}"`;
  for (const k of ['config', 'hostConfig']) if (!isObject(v[k])) return `has no valid "${k}"`;
  return undefined;
}

/**
 * A record for a container whose container.json is damaged: the ID, the names that point to
 * it (the names index), and from its bundle (config.json) the image, the command and the driver.
 */
export function damagedRecord(id: string, why: string): ContainerRecord {
  let spec: Record<string, unknown> = {};
  try {
    const v: unknown = JSON.parse(fs.readFileSync(path.join(containerDir(id), 'config.json'), 'utf8'));
    if (isObject(v)) spec = v;
  } catch {
    /* the bundle is gone or damaged too */
  }
  const ann = isObject(spec.annotations) ? spec.annotations : {};
  const str = (k: string) => (typeof ann[k] === 'string' ? (ann[k] as string) : '');
  const proc = isObject(spec.process) ? spec.process : {};
  const argv = Array.isArray(proc.args) ? proc.args.filter((a): a is string => typeof a === 'string') : [];
  const linked = namesOf(id);
  const annName = str('ctr.container.name');
  let created = '0001-01-01T00:00:00Z';
  try {
    const st = fs.statSync(containerDir(id));
    created = new Date(st.birthtimeMs || st.mtimeMs).toISOString();
  } catch {
    /* gone */
  }
  const image = str('ctr.image.id');
  return {
    id,
    name: linked.includes(annName) ? annName : (linked[0] ?? annName),
    image,
    imageName: image.replace(/^sha256:/, '').slice(0, 12),
    created,
    path: argv[0] ?? '',
    args: argv.slice(1),
    config: {},
    hostConfig: {},
    mounts: [],
    driver: str('ctr.rootfs.driver'),
    autoRemove: false,
    damaged: why,
  };
}

/** The names in the names index that point to container `id`. */
export function namesOf(id: string): string[] {
  let links: string[];
  try {
    links = fs.readdirSync(namesDir());
  } catch {
    return [];
  }
  return links.filter((n) => {
    try {
      return fs.readlinkSync(path.join(namesDir(), n)) === id;
    } catch {
      return false;
    }
  });
}

function listIds(): string[] {
  const dir = containersDir(); // a store that is not the user's own is an error, not an empty list
  try {
    return fs.readdirSync(dir).filter((n) => n.length === 64 && /^[0-9a-f]+$/.test(n));
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

export interface FindOptions {
  /** also return a damaged record (rm, stop, kill, inspect); otherwise it is refused with a line saying how to remove it */
  damaged?: boolean;
}

/** Finds a container by name, full ID or unique ID prefix. */
export function findContainer(ref: string, o: FindOptions = {}): ContainerRecord {
  const r = tryFindContainer(ref, o);
  if (!r) throw new CtrError(`no such container: ${ref}`);
  return r;
}

export function tryFindContainer(ref: string, o: FindOptions = {}): ContainerRecord | undefined {
  const r = lookup(ref);
  if (r?.damaged && !o.damaged)
    throw new CtrError(`container ${ref} is damaged (${r.damaged}): remove it with \`ctr rm -f ${ref}\` (\`ctr system check\` lists what is damaged)`);
  return r;
}

function lookup(ref: string): ContainerRecord | undefined {
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
      // the link is all a damaged record has to go by
      if (r?.damaged) return { ...r, name: ref };
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
    writeFileChecked(path.join(tmp, CREATOR), `${process.pid} ${processStartTime(process.pid) ?? ''}\n`);
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
  return path.join(runrootDir(), 'c', `.rm-${id.slice(0, 12)}`);
}

/**
 * Takes the container out of the store at once (renames: removing even an empty directory
 * costs milliseconds on some file systems), returns the dirs left to delete.
 */
export function unpublish(rec: ContainerRecord): string[] {
  const gone = path.join(containersDir(), `.rm-${rec.id}`);
  fs.renameSync(containerDir(rec.id), gone);
  releaseName(rec.name, rec.id);
  // a damaged record may not know all of its names: every link to it goes
  if (rec.damaged) for (const n of namesOf(rec.id)) releaseName(n, rec.id);
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
  const dirs = leftoverDirs().map((l) => (l.what === 'runtime' ? outOfSight(l.path) : l.path));
  releaseStaleNames();
  return dirs;
}

/** Renames a dir to `.rm-NAME` beside it (gone from sight at once, deleted later); its path when that fails. */
function outOfSight(p: string): string {
  const to = path.join(path.dirname(p), `.rm-${path.basename(p)}`);
  try {
    fs.renameSync(p, to);
    return to;
  } catch {
    return p;
  }
}

export interface Leftover {
  path: string;
  /** what left it: a killed create (`create`), a killed or unfinished removal (`rm`), a removed container's runtime dir (`runtime`) */
  what: 'create' | 'rm' | 'runtime';
}

/** What killed creates and removals left in the store and the runtime dir (changes nothing). */
export function leftoverDirs(): Leftover[] {
  // the runtime dirs are listed before the containers: a runtime dir is made only once its
  // container is published, so a container listed after its runtime dir is never missed
  const rt = runtimeEntries();
  let names: string[] = [];
  try {
    names = fs.readdirSync(containersDir());
  } catch {
    /* no containers */
  }
  const out: Leftover[] = [];
  for (const n of names) {
    const p = path.join(containersDir(), n);
    if (n.startsWith('.rm-') && abandoned(p)) out.push({ path: p, what: 'rm' });
    else if (n.startsWith('.new-') && !creatorAlive(p)) out.push({ path: p, what: 'create' });
  }
  for (const p of rt.trash) out.push({ path: p, what: 'rm' });
  if (rt.dirs.size) {
    const live = new Set<string>();
    for (const n of names) {
      if (n.length === 64) live.add(n.slice(0, 12));
      else if (n.startsWith('.new-')) live.add(n.slice(5, 17));
    }
    for (const [short, p] of rt.dirs) if (!live.has(short)) out.push({ path: p, what: 'runtime' });
  }
  return out;
}

/** `<runroot>/c`: abandoned `.rm-` dirs, and the runtime dir of each container (short ID -> path). */
function runtimeEntries(): { trash: string[]; dirs: Map<string, string> } {
  const out = { trash: [] as string[], dirs: new Map<string, string>() };
  let rc: string;
  let names: string[];
  try {
    rc = path.join(runrootDir(), 'c');
    names = fs.readdirSync(rc);
  } catch {
    return out; // no runtime dir
  }
  for (const n of names) {
    const p = path.join(rc, n);
    if (n.startsWith('.rm-')) {
      if (abandoned(p)) out.trash.push(p);
    } else if (/^[0-9a-f]{12}$/.test(n)) out.dirs.set(n, p);
  }
  return out;
}

/** Whether a name link's target is a container (published, or being created by a live ctr). */
export function nameTargetExists(target: string): boolean {
  return beingCreated(target) || fs.existsSync(containerDir(target));
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
      if (!nameTargetExists(target) && fs.readlinkSync(link) === target) fs.unlinkSync(link);
    } catch {
      /* raced or not a link */
    }
  }
}

/**
 * Links `name` to container `id` when the name is free (system check --repair, for a record
 * whose name lost its link); false when another container holds it.
 */
export function relinkName(name: string, id: string): boolean {
  if (invalidName(name)) return false;
  try {
    return reserveName(name, id, false);
  } catch {
    return false;
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
