/**
 * The image store: plain files under $ROOT, safe against concurrent ctr processes and kill -9.
 *
 *   blobs/sha256/<hex>           blobs as received (compressed layers, configs, manifests)
 *   layers/<chainhex>/diff/      an unpacked layer (overlay format), complete when the dir has its final name
 *   layers/<chainhex>/layer.json LayerMeta
 *   images/<idhex>/image.json    ImageMeta (config inline, layers, digests)
 *   tags.json                    { "docker.io/library/busybox:latest": "sha256:<id>" }
 *   leases/<owner>.json          what a running load/import is using (protects it from GC)
 *   tmp/                         staging of loads; .tmp-<owner>-* and .rm-<owner>-* names anywhere
 *                                are half-made or half-removed things, collected once their owner is gone
 *   store.lock                   held for every metadata change (short, synchronous)
 *
 * <owner> is "<pid>-<starttime>" of the process that made the name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from '../util/random';
import { context } from '../state/context';
import { storeDir } from '../state/dirs';
import { readJson, writeJsonAtomic } from '../state/fsatomic';
import { processStartTime, withLockSync } from '../state/lock';
import { CtrError, errnoCode, writeFailure } from '../util/errors';
import { runHelperSync } from '../util/helper';
import { chainIds, hexOf, isSha256Digest } from './digest';
import { formatReference, hasExplicitDomain, parseReference, withDefaultTag, repositoryOf } from './reference';
import type { ImageConfigBlob, ImageRecord, LayerRecord } from './types';

// ---------------------------------------------------------------- layout

/** The store's top directory, made and checked (owner, mode) on first use. */
export function storeRoot(): string {
  return storeDir();
}
export const blobsDir = () => path.join(storeRoot(), 'blobs', 'sha256');
export const layersDir = () => path.join(storeRoot(), 'layers');
export const imagesDir = () => path.join(storeRoot(), 'images');
export const tmpDir = () => path.join(storeRoot(), 'tmp');
export const leasesDir = () => path.join(storeRoot(), 'leases');
export const tagsFile = () => path.join(storeRoot(), 'tags.json');
const lockFile = () => path.join(storeRoot(), 'store.lock');

export function blobPath(digest: string): string {
  return path.join(blobsDir(), hexOf(digest));
}
export function layerPath(chainId: string): string {
  return path.join(layersDir(), hexOf(chainId));
}
export function layerDiffDir(chainId: string): string {
  return path.join(layerPath(chainId), 'diff');
}

export function ensureStoreDirs(): void {
  fs.mkdirSync(storeRoot(), { recursive: true, mode: 0o700 });
  for (const d of [blobsDir(), layersDir(), imagesDir(), tmpDir(), leasesDir()]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
}

let ownerToken: string | undefined;
/** "<pid>-<starttime>" of this process: embedded in temp names so GC can tell when their maker is gone. */
export function owner(): string {
  if (!ownerToken) ownerToken = `${process.pid}-${processStartTime(process.pid) ?? '0'}`;
  return ownerToken;
}

export function tempName(prefix: '.tmp' | '.rm', tag = ''): string {
  return `${prefix}-${owner()}-${randomBytes(4).toString('hex')}${tag ? '-' + tag : ''}`;
}

/** Is the process that made a `.tmp-`/`.rm-`/lease name still running? */
export function ownerAliveOf(name: string): boolean {
  const m = /^(?:\.tmp-|\.rm-|load-|import-|probe-)?(\d+)-(\d+)/.exec(name);
  if (!m) return false;
  const pid = Number(m[1]);
  if (pid === process.pid) return m[2] === (processStartTime(pid) ?? '0');
  const st = processStartTime(pid);
  return st !== undefined && st === m[2];
}

export function withStoreLock<T>(fn: () => T): T {
  ensureStoreDirs();
  return withLockSync(lockFile(), fn, 120000);
}

// ---------------------------------------------------------------- metadata

export interface BlobDescriptor {
  digest: string;
  mediaType: string;
  size: number;
}

/** layers/<chainhex>/layer.json */
export interface LayerMeta {
  chainId: string;
  diffId: string;
  /** unpacked size (bytes of file contents) */
  size: number;
  /** size of the uncompressed tar stream */
  diffSize: number;
  created: string;
}

export interface ImageLayerMeta extends LayerMeta {
  /** the blob as received (compressed or not), in blobs/ */
  blob?: BlobDescriptor;
  /** when `blob` is an uncompressed tar: its gzip version made by the first push, kept so that later pushes send the same bytes */
  compressed?: BlobDescriptor;
}

/** images/<idhex>/image.json */
export interface ImageMeta {
  schemaVersion: 1;
  id: string;
  config: ImageConfigBlob;
  /** the config blob (digest = id) */
  configBlob: BlobDescriptor;
  manifest?: BlobDescriptor;
  layers: ImageLayerMeta[];
  repoDigests: string[];
  /** every name the image has had, newest first (Podman's NamesHistory) */
  namesHistory?: string[];
  /**
   * the names tags.json gives the image now, kept with the record so that the index can be
   * rebuilt from the records when it is damaged (records written by older versions lack it)
   */
  names?: string[];
  /** image this one was built on (build), hides untagged parents from `images` without -a */
  parent?: string;
  loaded: string;
  size: number;
}

export type TagIndex = Record<string, string>;

/** The tag index as stored, or what is wrong with tags.json (undefined: the file does not exist). */
export function readTagsFile(): { tags: TagIndex } | { damaged: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(tagsFile(), 'utf8');
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT') return undefined;
    if (code === 'EACCES' || code === 'EPERM') throw new CtrError(`cannot read ${tagsFile()}: permission denied`);
    return { damaged: `cannot be read (${code ?? (e as Error).message})` };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { damaged: text.trim() === '' ? 'it is empty' : `not valid JSON: ${(e as Error).message}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { damaged: 'it does not hold an object' };
  for (const [k, id] of Object.entries(v)) if (!isSha256Digest(id)) return { damaged: `the name ${JSON.stringify(k).slice(0, 80)} does not point to an image ID` };
  return { tags: v as TagIndex };
}

/** what was wrong with tags.json when this process last read it (a change writes it whole then) */
let tagsDamage: string | undefined;
let tagsWarned = false;

/**
 * The tag index (name -> image ID). When tags.json is damaged, the names come from the image
 * records themselves (the names each one keeps; see tagsFromRecords) with a one-line warning,
 * and the next change of a name writes the index whole again (the damaged file is kept beside
 * it as tags.json.damaged).
 */
export function readTags(): TagIndex {
  const r = readTagsFile();
  tagsDamage = r && 'damaged' in r ? r.damaged : undefined;
  if (!r) return {};
  if ('tags' in r) return r.tags;
  if (!tagsWarned)
    process.stderr.write(`warning: the image name index ${tagsFile()} is damaged (${r.damaged}); names are taken from the image records until it is written again (ctr system check --repair)\n`);
  tagsWarned = true;
  return tagsFromRecords();
}

/**
 * The tag index rebuilt from the image records: each record keeps its current names
 * (`names`); a record written before it did gives the names of its name history, each to the
 * image that had it most recently (the lowest position, then the latest image), which may
 * bring back a name removed since.
 */
export function tagsFromRecords(): TagIndex {
  const exact = new Map<string, { id: string; loaded: string }>();
  const guessed = new Map<string, { id: string; rank: number; loaded: string }>();
  for (const hex of listImageHexes()) {
    const meta = readImageMeta(hex);
    if (!meta) continue;
    const loaded = typeof meta.loaded === 'string' ? meta.loaded : '';
    if (Array.isArray(meta.names)) {
      for (const name of meta.names) {
        if (typeof name !== 'string') continue;
        const b = exact.get(name);
        if (!b || loaded > b.loaded) exact.set(name, { id: meta.id, loaded });
      }
      continue;
    }
    (meta.namesHistory ?? []).forEach((name, rank) => {
      if (typeof name !== 'string') return;
      const b = guessed.get(name);
      if (!b || rank < b.rank || (rank === b.rank && loaded > b.loaded)) guessed.set(name, { id: meta.id, rank, loaded });
    });
  }
  const all = new Map<string, string>();
  for (const [name, b] of guessed) all.set(name, b.id);
  for (const [name, b] of exact) all.set(name, b.id);
  const out: TagIndex = {};
  for (const name of [...all.keys()].sort()) out[name] = all.get(name)!;
  return out;
}

function writeTags(t: TagIndex): void {
  if (tagsDamage !== undefined) {
    try {
      fs.copyFileSync(tagsFile(), `${tagsFile()}.damaged`);
    } catch {
      /* gone meanwhile */
    }
    tagsDamage = undefined;
  }
  writeJsonAtomic(tagsFile(), t);
}

/** Writes the tag index (system check --repair); a damaged one is kept as tags.json.damaged. */
export function writeTagsLocked(t: TagIndex): void {
  const r = readTagsFile();
  if (r && 'damaged' in r) tagsDamage = r.damaged;
  writeTags(t);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What makes a parsed image.json unusable (the fields ctr relies on), or undefined. */
function imageMetaProblem(v: unknown, hex: string): string | undefined {
  if (!isObj(v)) return 'does not hold an object';
  if (v.id !== `sha256:${hex}`) return 'holds another ID';
  if (!isObj(v.config) || !isObj(v.config.rootfs) || !Array.isArray(v.config.rootfs.diff_ids)) return 'has no valid "config"';
  if (!isObj(v.configBlob) || typeof v.configBlob.digest !== 'string') return 'has no valid "configBlob"';
  if (!Array.isArray(v.layers) || !v.layers.every((l) => isObj(l) && typeof l.chainId === 'string' && typeof l.diffId === 'string'))
    return 'has no valid "layers"';
  if (v.repoDigests !== undefined && !Array.isArray(v.repoDigests)) return 'has no valid "repoDigests"';
  return undefined;
}

/** An image record as stored: its meta, what is wrong with its image.json, or undefined (no such image). */
export function readImageMetaChecked(idOrHex: string): { meta: ImageMeta } | { damaged: string } | undefined {
  const hex = hexOf(idOrHex);
  const dir = path.join(imagesDir(), hex);
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, 'image.json'), 'utf8');
  } catch (e) {
    const code = errnoCode(e);
    if ((code === 'ENOENT' || code === 'ENOTDIR') && !fs.existsSync(dir)) return undefined;
    return { damaged: code === 'ENOENT' ? 'image.json is missing' : `image.json cannot be read (${code ?? (e as Error).message})` };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { damaged: text.trim() === '' ? 'image.json is empty' : `image.json is not valid JSON (${(e as Error).message})` };
  }
  const problem = imageMetaProblem(v, hex);
  return problem === undefined ? { meta: v as ImageMeta } : { damaged: `image.json ${problem}` };
}

/** The image's record; undefined when there is no such image or its record is damaged. */
export function readImageMeta(idOrHex: string): ImageMeta | undefined {
  const r = readImageMetaChecked(idOrHex);
  return r && 'meta' in r ? r.meta : undefined;
}

const warnedImages = new Set<string>();
/** One line on stderr per damaged image record (per process). */
function warnDamagedImage(hex: string, why: string): void {
  if (warnedImages.has(hex)) return;
  warnedImages.add(hex);
  process.stderr.write(
    `warning: image ${hex.slice(0, 12)} is damaged (${path.join(imagesDir(), hex)}: ${why}); pull it again, or remove it with ctr rmi ${hex.slice(0, 12)} (ctr system check --repair)\n`,
  );
}

/** An image whose image.json is damaged: `resolveImage` names it so instead of "no such image". */
export class DamagedImageError extends CtrError {
  constructor(
    readonly ref: string,
    readonly imageId: string,
    readonly why: string,
  ) {
    super(`image ${ref} is damaged (${path.join(imagesDir(), hexOf(imageId))}: ${why}): pull it again, or remove it with ctr rmi ${ref}`);
  }
}

/**
 * The chain IDs of an image's layers from its config blob (the blob is the image ID), for an
 * image whose record is damaged; undefined when the config blob is missing or unreadable.
 */
export function layersFromConfig(idOrHex: string): { config: ImageConfigBlob; chains: string[]; size: number } | undefined {
  try {
    const file = blobPath(`sha256:${hexOf(idOrHex)}`);
    const buf = fs.readFileSync(file);
    const config = JSON.parse(buf.toString('utf8')) as ImageConfigBlob;
    const diffIds = config?.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || !diffIds.every((d) => isSha256Digest(d))) return undefined;
    return { config, chains: chainIds(diffIds), size: buf.length };
  } catch {
    return undefined;
  }
}

/** Hex IDs of complete images (a dir with the final 64-hex name). */
export function listImageHexes(): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(imagesDir());
  } catch {
    return [];
  }
  return names.filter((n) => /^[a-f0-9]{64}$/.test(n));
}

function tagsByImage(tags: TagIndex): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [name, id] of Object.entries(tags)) {
    const list = m.get(id);
    if (list) list.push(name);
    else m.set(id, [name]);
  }
  return m;
}

export function toRecord(meta: ImageMeta, repoTags: string[]): ImageRecord {
  const layers: LayerRecord[] = meta.layers.map((l) => ({ chainId: l.chainId, diffId: l.diffId, dir: layerDiffDir(l.chainId), size: l.diffSize ?? l.size }));
  const rec: ImageRecord = {
    id: meta.id,
    repoTags,
    repoDigests: meta.repoDigests ?? [],
    config: meta.config,
    layers,
    size: meta.size,
    loaded: meta.loaded,
  };
  if (meta.manifest) rec.digest = meta.manifest.digest;
  if (meta.parent) rec.parent = meta.parent;
  if (meta.namesHistory) rec.namesHistory = meta.namesHistory;
  return rec;
}

/** Every complete image, unordered. A damaged record is left out, with a warning on stderr. */
export function listImages(): ImageRecord[] {
  const byImage = tagsByImage(readTags());
  const out: ImageRecord[] = [];
  for (const hex of listImageHexes()) {
    const r = readImageMetaChecked(hex);
    if (!r) continue;
    if ('damaged' in r) {
      warnDamagedImage(hex, r.damaged);
      continue;
    }
    out.push(toRecord(r.meta, byImage.get(r.meta.id) ?? []));
  }
  return out;
}

/** Whether an image record is there, damaged or not. */
const present = (id: string) => readImageMetaChecked(id) !== undefined;

/**
 * The image with this ID; undefined when there is none. A damaged record is refused
 * (DamagedImageError naming `ref`), or with `damaged` given as a record that has only the ID,
 * the names and `damaged` (what rmi needs).
 */
function imageById(id: string, tags: TagIndex | undefined, ref: string, o: ResolveOptions = {}): ImageRecord | undefined {
  const r = readImageMetaChecked(id);
  if (!r) return undefined;
  const t = tags ?? readTags();
  if ('damaged' in r) {
    const full = `sha256:${hexOf(id)}`;
    if (!o.damaged) throw new DamagedImageError(ref, full, r.damaged);
    const names = Object.keys(t).filter((k) => t[k] === full);
    const config: ImageConfigBlob = { architecture: '', os: '', rootfs: { type: 'layers', diff_ids: [] } };
    return { id: full, repoTags: names, repoDigests: [], config, layers: [], size: 0, loaded: '', damaged: r.damaged };
  }
  const meta = r.meta;
  return toRecord(
    meta,
    Object.keys(t).filter((k) => t[k] === meta.id),
  );
}

export interface ResolveOptions {
  /** also resolve an image whose record is damaged (rmi); otherwise DamagedImageError */
  damaged?: boolean;
}

export interface ResolvedImage {
  image: ImageRecord;
  /** how the argument matched: a tag name (the normalised name), a digest reference, or the ID */
  via: 'tag' | 'digest' | 'id';
  /** the normalised tag name when via === 'tag' */
  name?: string;
}

/**
 * Resolves what a user typed: name[:tag], name@digest, a full or short image ID
 * ("sha256:" optional), any unique ID prefix. Names without a registry also match a local
 * image whose name ends with the same path and tag ("foo" finds "localhost/foo:latest")
 * when exactly one does.
 */
export function resolveImage(ref: string, o: ResolveOptions = {}): ResolvedImage {
  const input = ref.trim();
  if (input === '') throw new CtrError('image name must not be empty');
  const tags = readTags();
  let idHex: string | undefined;
  const idm = /^(?:sha256:)?([a-f0-9]{64})$/.exec(input);
  if (idm) idHex = idm[1];
  if (idHex) {
    const img = imageById(idHex, tags, input, o);
    if (img) return { image: img, via: 'id' };
  }
  let parsed;
  let parseError: unknown;
  if (!idHex) {
    try {
      parsed = parseReference(input);
    } catch (e) {
      parseError = e;
    }
  }
  if (parsed) {
    if (parsed.digest !== undefined) {
      const repo = repositoryOf(parsed);
      const want = `${repo}@${parsed.digest}`;
      for (const img of listImages()) {
        if (img.repoDigests.includes(want)) return { image: img, via: 'digest' };
      }
      for (const img of listImages()) {
        if (img.digest === parsed.digest && (img.repoTags.some((t) => t.startsWith(repo + ':')) || img.repoDigests.some((d) => d.startsWith(repo + '@'))))
          return { image: img, via: 'digest' };
      }
    } else {
      const name = formatReference(withDefaultTag(parsed));
      const id = tags[name];
      if (id) {
        const img = imageById(id, tags, input, o);
        if (img) return { image: img, via: 'tag', name };
      }
      if (!hasExplicitDomain(input)) {
        // short name: "foo" or "ns/foo" matches "<any registry>/[library/]foo:tag" when unique
        const rest = input.includes('/') ? parsed.path : parsed.path.replace(/^library\//, '');
        const tag = parsed.tag ?? 'latest';
        const hits = Object.keys(tags).filter((k) => {
          const i = k.lastIndexOf(':');
          if (i < 0 || k.slice(i + 1) !== tag) return false;
          const repo = k.slice(0, i);
          return repo.endsWith('/' + rest) && present(tags[k]!);
        });
        const ids = new Set(hits.map((h) => tags[h]));
        if (ids.size === 1) {
          const img = imageById(tags[hits[0]!]!, tags, input, o);
          if (img) return { image: img, via: 'tag', name: hits[0]! };
        } else if (ids.size > 1) {
          throw new CtrError(`short name "${input}" matches several images (${hits.join(', ')}); use the full name`);
        }
      }
    }
  }
  // ID prefix
  const pm = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(input);
  if (pm) {
    const prefix = pm[1]!;
    const hits = listImageHexes().filter((h) => h.startsWith(prefix) && present(h));
    if (hits.length === 1) {
      const img = imageById(hits[0]!, tags, input, o);
      if (img) return { image: img, via: 'id' };
    }
    if (hits.length > 1) throw new CtrError(`image ID prefix "${input}" is ambiguous: it matches ${hits.length} images; give more digits`);
  }
  if (parseError && !pm) throw parseError;
  throw new CtrError(`no such image: ${input}`);
}

/** The image a reference, an ID or an ID prefix names; unknown → CtrError("no such image: REF"). */
export function findImage(ref: string): ImageRecord {
  return resolveImage(ref).image;
}

// ---------------------------------------------------------------- changes (all under the store lock)

/** Points `names` (normalised tag references) at image `id`. */
export function setTagsLocked(id: string, names: string[]): void {
  const tags = readTags();
  const touched = new Set<string>();
  for (const n of names) {
    if (tags[n] !== id) {
      if (tags[n]) touched.add(tags[n]!); // the image that loses the name
      tags[n] = id;
      touched.add(id);
    }
  }
  // a damaged index read above is written whole again by any change
  if (touched.size || tagsDamage !== undefined) writeTags(tags);
  if (names.length) touched.add(id);
  for (const img of touched)
    updateMetaLocked(img, (meta) => {
      if (img === id) meta.namesHistory = [...names.slice().reverse(), ...(meta.namesHistory ?? []).filter((n) => !names.includes(n))];
      meta.names = namesIn(tags, img);
    });
}

/** The names the index gives image `id`, sorted. */
function namesIn(tags: TagIndex, id: string): string[] {
  return Object.keys(tags)
    .filter((k) => tags[k] === id)
    .sort();
}

/** Changes an image record (when it exists and is readable); written only when `fn` changed it. */
function updateMetaLocked(id: string, fn: (meta: ImageMeta) => void): void {
  const meta = readImageMeta(id);
  if (!meta) return;
  const before = JSON.stringify(meta);
  fn(meta);
  if (JSON.stringify(meta) !== before) writeJsonAtomic(path.join(imagesDir(), hexOf(id), 'image.json'), meta);
}

export function tagImage(id: string, names: string[]): void {
  withStoreLock(() => {
    if (!readImageMeta(id)) throw new CtrError(`no such image: ${id}`);
    setTagsLocked(id, names);
  });
}

/** Removes names from the tag index; returns the ones that were there. `deleting`: an image about to go (its record is not updated). */
export function untagLocked(names: string[], deleting?: string): string[] {
  const tags = readTags();
  const gone: string[] = [];
  const touched = new Set<string>();
  for (const n of names) {
    if (n in tags) {
      touched.add(tags[n]!);
      delete tags[n];
      gone.push(n);
    }
  }
  if (gone.length || tagsDamage !== undefined) writeTags(tags);
  for (const img of touched) if (img !== deleting) updateMetaLocked(img, (meta) => void (meta.names = namesIn(tags, img)));
  return gone;
}

/**
 * Records a complete image (its blobs and layers must already be in place) and points its
 * names at it. Returns the missing layers / blobs when something vanished meanwhile (the caller
 * restores them and calls again), or [] when done.
 */
export function commitImage(meta: ImageMeta, names: string[]): { missingLayers: string[]; missingBlobs: string[] } {
  return withStoreLock(() => {
    const missingLayers = meta.layers.filter((l) => !fs.existsSync(path.join(layerPath(l.chainId), 'layer.json'))).map((l) => l.chainId);
    const blobs = [meta.configBlob.digest, ...(meta.manifest ? [meta.manifest.digest] : []), ...meta.layers.flatMap((l) => (l.blob ? [l.blob.digest] : []))];
    const missingBlobs = blobs.filter((d) => !fs.existsSync(blobPath(d)));
    if (missingLayers.length || missingBlobs.length) return { missingLayers, missingBlobs };
    const dir = path.join(imagesDir(), hexOf(meta.id));
    const existing = readImageMeta(meta.id);
    if (existing) {
      const digests = [...existing.repoDigests, ...meta.repoDigests.filter((d) => !existing.repoDigests.includes(d))];
      if (digests.length !== existing.repoDigests.length || (!existing.manifest && meta.manifest)) {
        existing.repoDigests = digests;
        if (!existing.manifest && meta.manifest) existing.manifest = meta.manifest;
        writeJsonAtomic(path.join(dir, 'image.json'), existing);
      }
    } else {
      // a record that cannot be read is replaced whole (a pull of the image repairs it)
      const damaged = fs.existsSync(dir) ? path.join(imagesDir(), tempName('.rm')) : undefined;
      if (damaged) fs.renameSync(dir, damaged);
      const tmp = path.join(imagesDir(), tempName('.tmp'));
      fs.mkdirSync(tmp, { mode: 0o700 });
      if (names.length) meta = { ...meta, namesHistory: [...names.slice().reverse(), ...(meta.namesHistory ?? []).filter((n) => !names.includes(n))] };
      // its names once setTagsLocked below has run (a replaced damaged record keeps the ones the index gives it)
      const tags = readTags();
      meta = { ...meta, names: [...new Set([...names, ...namesIn(tags, meta.id)])].sort() };
      writeJsonAtomic(path.join(tmp, 'image.json'), meta);
      // names first, the image dir last: a kill in between leaves names that point nowhere
      // (ignored, swept by GC), never a complete image without its names
      setTagsLocked(meta.id, names);
      try {
        fs.renameSync(tmp, dir);
      } catch (e) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw e;
      }
      if (damaged) fs.rmSync(damaged, { recursive: true, force: true });
      return { missingLayers: [], missingBlobs: [] };
    }
    setTagsLocked(meta.id, names);
    return { missingLayers: [], missingBlobs: [] };
  });
}

/**
 * Removes an image record and its tags (the caller checked containers); layers and blobs no
 * other image uses go with it. Returns the removed names.
 */
export function deleteImageLocked(id: string): { untagged: string[]; trash: string[] } {
  const tags = readTags();
  const names = Object.keys(tags).filter((k) => tags[k] === id);
  untagLocked(names, id);
  const dir = path.join(imagesDir(), hexOf(id));
  const trash: string[] = [];
  const moved = path.join(imagesDir(), tempName('.rm'));
  try {
    fs.renameSync(dir, moved);
    trash.push(moved);
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw e;
  }
  trash.push(...sweepUnreferencedLocked());
  return { untagged: names, trash };
}

// ---------------------------------------------------------------- leases and garbage collection

export interface LeaseContent {
  layers: string[];
  blobs: string[];
}

/**
 * What a running ctr is about to use (layers and blobs it made or found, before its image
 * refers to them): GC keeps them while the owner lives. The file is only ever appended to, one
 * JSON line per add: replacing it (temp + rename over it) cost ~1 ms per add on ext4, where
 * the replaced file's blocks are freed at once.
 */
export class Lease {
  private content: LeaseContent = { layers: [], blobs: [] };
  private made = false;
  readonly file: string;
  constructor() {
    ensureStoreDirs();
    this.file = path.join(leasesDir(), `${owner()}-${randomBytes(4).toString('hex')}.json`);
  }
  /** Protects these from GC from now on (written before it returns; not fsynced: a lease only matters while its owner runs). */
  add(what: { layers?: string[]; blobs?: string[] }): void {
    const layers = (what.layers ?? []).filter((l) => !this.content.layers.includes(l));
    const blobs = (what.blobs ?? []).filter((b) => !this.content.blobs.includes(b));
    if (!layers.length && !blobs.length) return;
    this.content.layers.push(...layers);
    this.content.blobs.push(...blobs);
    // made by the first add, then appended to (a reader ignores a line not yet complete)
    try {
      fs.writeFileSync(this.file, JSON.stringify({ layers, blobs }) + '\n', { flag: this.made ? 'a' : 'wx', mode: 0o644 });
    } catch (e) {
      if (!this.made) fs.rmSync(this.file, { force: true }); // made, then no room for its line
      throw writeFailure(e, this.file);
    }
    this.made = true;
  }
  release(): void {
    if (!this.made) return;
    try {
      fs.unlinkSync(this.file);
    } catch {
      /* gone */
    }
  }
}

/**
 * The layers and blobs a lease file protects: its complete lines (a line being appended right
 * now is not yet relied on by its owner). Older ctr wrote one indented JSON object.
 */
export function readLease(text: string): LeaseContent {
  const out: LeaseContent = { layers: [], blobs: [] };
  const take = (v: unknown) => {
    const c = v as Partial<LeaseContent> | null;
    if (typeof c !== 'object' || c === null) return;
    if (Array.isArray(c.layers)) out.layers.push(...c.layers.filter((x): x is string => typeof x === 'string'));
    if (Array.isArray(c.blobs)) out.blobs.push(...c.blobs.filter((x): x is string => typeof x === 'string'));
  };
  try {
    take(JSON.parse(text));
    return out;
  } catch {
    /* lines */
  }
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a line still being written
  for (const l of lines) {
    try {
      take(JSON.parse(l));
    } catch {
      /* not a line of ours */
    }
  }
  return out;
}

function readdirSafe(d: string): string[] {
  try {
    return fs.readdirSync(d);
  } catch {
    return [];
  }
}

/**
 * Under the store lock: renames every unreferenced layer to a .rm- name, unlinks unreferenced
 * blobs, drops dead leases and the temp names of dead owners. Returns paths to remove (outside
 * the lock, with removeTrees).
 */
export function sweepUnreferencedLocked(): string[] {
  const layers = new Set<string>();
  const blobs = new Set<string>();
  // A damaged image record keeps what it may use: the layers its config blob names; all the
  // layers when that is unreadable too; the blobs (its compressed layers are not known)
  // until it is repaired or removed.
  let keepAllLayers = false;
  let keepAllBlobs = false;
  for (const hex of listImageHexes()) {
    const r = readImageMetaChecked(hex);
    if (!r) continue;
    if ('damaged' in r) {
      keepAllBlobs = true;
      const c = layersFromConfig(hex);
      if (c) for (const chain of c.chains) layers.add(hexOf(chain));
      else keepAllLayers = true;
      continue;
    }
    const meta = r.meta;
    for (const l of meta.layers) {
      layers.add(hexOf(l.chainId));
      if (l.blob) blobs.add(hexOf(l.blob.digest));
      if (l.compressed) blobs.add(hexOf(l.compressed.digest));
    }
    blobs.add(hexOf(meta.configBlob.digest));
    if (meta.manifest) blobs.add(hexOf(meta.manifest.digest));
  }
  for (const f of readdirSafe(leasesDir())) {
    const p = path.join(leasesDir(), f);
    if (!ownerAliveOf(f)) {
      try {
        fs.unlinkSync(p);
      } catch {
        /* gone */
      }
      continue;
    }
    try {
      const c = readLease(fs.readFileSync(p, 'utf8'));
      for (const l of c.layers) layers.add(hexOf(l));
      for (const b of c.blobs) blobs.add(hexOf(b));
    } catch {
      /* gone meanwhile: its owner is done with it */
    }
  }
  const trash: string[] = [];
  for (const n of readdirSafe(layersDir())) {
    const p = path.join(layersDir(), n);
    if (/^[a-f0-9]{64}$/.test(n)) {
      if (!layers.has(n) && !keepAllLayers) {
        const moved = path.join(layersDir(), tempName('.rm'));
        try {
          fs.renameSync(p, moved);
          trash.push(moved);
        } catch {
          /* gone */
        }
      }
    } else if (deadTempName(n)) {
      trash.push(p);
    }
  }
  for (const n of readdirSafe(blobsDir())) {
    const p = path.join(blobsDir(), n);
    if (/^[a-f0-9]{64}$/.test(n)) {
      if (!blobs.has(n) && !keepAllBlobs) {
        try {
          fs.unlinkSync(p);
        } catch {
          /* gone */
        }
      }
    } else if (n.startsWith('.tmp-') && !ownerAliveOf(n)) {
      try {
        fs.unlinkSync(p);
      } catch {
        /* gone */
      }
    }
  }
  for (const n of readdirSafe(imagesDir())) {
    if (deadTempName(n)) trash.push(path.join(imagesDir(), n));
  }
  // names whose image never got its final dir (a commit killed half-way)
  const complete = new Set(listImageHexes());
  const tags = readTags();
  const dangling = Object.keys(tags).filter((k) => !complete.has(hexOf(tags[k]!)));
  if (dangling.length) untagLocked(dangling);
  for (const n of readdirSafe(tmpDir())) {
    if (!ownerAliveOf(n)) trash.push(path.join(tmpDir(), n));
  }
  return trash;
}

/** Removes paths that may hold files owned by sub-IDs (through ctr-helper rmtree when needed). */
export function removeTrees(paths: string[]): void {
  if (!paths.length) return;
  const viaHelper: string[] = [];
  const layers = layersDir() + path.sep;
  for (const p of paths) {
    if (p.startsWith(layers)) {
      viaHelper.push(p);
      continue;
    }
    try {
      fs.rmSync(p, { recursive: true, force: true });
    } catch {
      viaHelper.push(p);
    }
  }
  for (let i = 0; i < viaHelper.length; i += 200) runHelperSync(['rmtree', ...viaHelper.slice(i, i + 200)]);
}

/**
 * Collects garbage left by killed or failed loads and removals. The full sweep (every image
 * record read under the store lock) runs only when something was left behind: a dead owner's
 * lease or temp name, which is what a killed ctr leaves; `always` for a caller that has just
 * failed and may have left unreferenced layers under their final names.
 */
export function collectGarbage(o: { always?: boolean } = {}): void {
  if (!fs.existsSync(storeRoot())) return;
  if (!o.always && !leftovers()) return;
  const trash = withStoreLock(() => sweepUnreferencedLocked());
  try {
    removeTrees(trash);
  } catch (e) {
    // leftovers stay under .rm-/.tmp- names and are retried next time
    if (context().logLevel === 'debug') process.stderr.write(`debug: garbage collection: ${(e as Error).message}\n`);
  }
}

/** A `.tmp-`/`.rm-` name whose maker is gone. */
export function deadTempName(n: string): boolean {
  return (n.startsWith('.tmp-') || n.startsWith('.rm-')) && !ownerAliveOf(n);
}

/** Whether a killed ctr left anything in the store: leases or temp names of dead owners. */
function leftovers(): boolean {
  for (const f of readdirSafe(leasesDir())) if (!ownerAliveOf(f)) return true;
  for (const d of [layersDir(), blobsDir(), imagesDir()]) for (const n of readdirSafe(d)) if (deadTempName(n)) return true;
  for (const n of readdirSafe(tmpDir())) if (!ownerAliveOf(n)) return true;
  return false;
}

/** Whether a digest names a blob of the store. */
export function hasBlob(digest: string): boolean {
  return isSha256Digest(digest) && fs.existsSync(blobPath(digest));
}
