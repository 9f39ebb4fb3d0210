/**
 * `ctr system check`: a consistency check of the container and image store (Podman's
 * `system check`). It looks for records that cannot be read (container.json, state.json,
 * exit.json, image.json, tags.json), names that point nowhere, images whose layers are gone,
 * layers and blobs nothing uses, and what killed commands left behind. With `repair` it fixes
 * what can be fixed without losing anything that might still be in use: it rebuilds an index
 * or a record from the per-object files where it can (tags.json from the image records,
 * image.json from the config blob and the layers, state.json from the running monitor, a
 * name link from its container), removes what nothing uses, and leaves a damaged container
 * that runs (or a damaged image a container uses) alone unless `force`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { forceStop, removeContainers } from '../container/rm';
import { removeDirs } from '../container/remove';
import { bootId, isActive, runtimeState, type RuntimeState } from '../container/state';
import {
  containerDir,
  containersUsingImage,
  leftoverDirs,
  listContainerRecords,
  nameTargetExists,
  namesDir,
  relinkName,
  releaseName,
} from '../container/store';
import type { ContainerRecord } from '../container/types';
import { hexOf, isSha256Digest } from '../image/digest';
import { readLayerMeta } from '../image/layers';
import {
  blobPath,
  blobsDir,
  deadTempName,
  deleteImageLocked,
  imagesDir,
  layerPath,
  layersDir,
  layersFromConfig,
  leasesDir,
  listImageHexes,
  ownerAliveOf,
  readImageMetaChecked,
  readLease,
  readTagsFile,
  removeTrees,
  tagsFile,
  tagsFromRecords,
  tempName,
  tmpDir,
  untagLocked,
  withStoreLock,
  writeTagsLocked,
  type BlobDescriptor,
  type ImageLayerMeta,
  type ImageMeta,
  type TagIndex,
} from '../image/store';
import { writeJsonAtomic } from './fsatomic';
import { humanSize } from '../util/format';

export type FindingKind = 'container' | 'name' | 'image' | 'tag' | 'tags' | 'layer' | 'blob' | 'leftover' | 'runroot';

export interface Finding {
  kind: FindingKind;
  /** what it is about: a short ID (and name), a name, a path */
  subject: string;
  problem: string;
  /** what --repair does (or did, or why it leaves it alone) */
  action: string;
  fixed: boolean;
  path?: string;
}

export interface CheckOptions {
  repair: boolean;
  /** repair also removes damaged containers that run and damaged images that containers use */
  force: boolean;
  /** skip the blob check (reads every blob name and every image's references) */
  quick: boolean;
  /** layers nothing uses that are younger than this are not reported (ms) */
  maxAgeMs: number;
}

interface Pending {
  finding: Omit<Finding, 'action' | 'fixed'>;
  /** what repair does ("removes it") and did ("removed"), and how */
  fix?: { does: string; done: string; run: () => void | Promise<void> };
  /** why repair leaves it alone (and what the user can do) */
  leave?: string;
}

const short = (id: string) => hexOf(id).slice(0, 12);
const ZERO_TIME = '0001-01-01T00:00:00Z';

function readdirSafe(d: string): string[] {
  try {
    return fs.readdirSync(d);
  } catch {
    return [];
  }
}

function ageMs(p: string): number {
  try {
    return Date.now() - fs.lstatSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

// ------------------------------------------------------------------ containers

function containerLabel(rec: ContainerRecord): string {
  return rec.name ? `${short(rec.id)} (${rec.name})` : short(rec.id);
}

function checkContainers(o: CheckOptions, out: Pending[]): ContainerRecord[] {
  const recs = listContainerRecords();
  for (const rec of recs) {
    const st = runtimeState(rec);
    const active = isActive(st);
    const subject = containerLabel(rec);
    const dir = containerDir(rec.id);
    if (rec.damaged) {
      const where = active ? `running (pid ${st.pid})` : 'not running';
      const p: Pending = { finding: { kind: 'container', subject, problem: `damaged record: ${rec.damaged}; ${where}`, path: dir } };
      if (!active || o.force)
        p.fix = {
          does: active ? 'kills and removes it' : 'removes it',
          done: active ? 'killed and removed' : 'removed',
          run: async () => {
            if (active) await forceStop(rec, st);
            removeContainers([rec]);
          },
        };
      else p.leave = `left alone while it runs: ctr rm -f ${rec.name || short(rec.id)} or --repair --force removes it`;
      out.push(p);
      continue;
    }
    if (st.damaged) out.push(stateFinding(rec, st, subject, dir));
    // the record's name must be in the names index, or another container can take it
    let target: string | undefined;
    try {
      target = fs.readlinkSync(path.join(namesDir(), rec.name));
    } catch {
      /* no link */
    }
    if (target !== rec.id)
      out.push({
        finding: { kind: 'name', subject: rec.name, problem: `the name of container ${short(rec.id)} is not in the names index${target ? ` (it points to ${short(target)})` : ''}`, path: path.join(namesDir(), rec.name) },
        ...(target
          ? { leave: `rename one of the containers (ctr rename ${short(rec.id)} NEWNAME)` }
          : {
              fix: {
                does: 'links it again',
                done: 'linked again',
                run: () => {
                  if (!relinkName(rec.name, rec.id)) throw new Error('the name was taken meanwhile');
                },
              },
            }),
      });
  }
  return recs;
}

/** A container whose state.json or exit.json is damaged: rewritten from what is known. */
function stateFinding(rec: ContainerRecord, st: RuntimeState, subject: string, dir: string): Pending {
  const active = isActive(st);
  const finding = {
    kind: 'container' as const,
    subject,
    problem: `damaged state: ${st.damaged}; ${active ? `running (pid ${st.pid}, found from its monitor ${st.monitorPid})` : st.status}`,
    path: dir,
  };
  if (active)
    return {
      finding,
      fix: {
        does: 'rewrites state.json from its running monitor',
        done: 'state.json rewritten from its running monitor',
        run: () => writeJsonAtomic(path.join(dir, 'state.json'), { pid: st.pid, monitorPid: st.monitorPid, startedAt: st.startedAt, bootId: bootId() }),
      },
    };
  return {
    finding,
    fix: {
      does: 'records it as exited (the exit code is lost: 255)',
      done: 'recorded as exited (255)',
      run: () => {
        const exitFile = path.join(dir, 'exit.json');
        let exitOk = false;
        try {
          exitOk = Number.isInteger(JSON.parse(fs.readFileSync(exitFile, 'utf8')).exitCode);
        } catch {
          /* missing or damaged */
        }
        if (!exitOk) writeJsonAtomic(exitFile, { exitCode: 255, finishedAt: st.finishedAt, error: st.error || 'the exit code was lost' });
        const stateFile = path.join(dir, 'state.json');
        let stateOk = true;
        try {
          JSON.parse(fs.readFileSync(stateFile, 'utf8'));
        } catch (e) {
          stateOk = (e as { code?: string }).code === 'ENOENT';
        }
        if (!stateOk) writeJsonAtomic(stateFile, { pid: 0, monitorPid: 0, startedAt: st.startedAt || ZERO_TIME, bootId: '' });
      },
    },
  };
}

function checkNames(out: Pending[]): void {
  for (const n of readdirSafe(namesDir())) {
    const link = path.join(namesDir(), n);
    let target: string;
    try {
      target = fs.readlinkSync(link);
    } catch {
      out.push({
        finding: { kind: 'name', subject: n, problem: 'not a link to a container', path: link },
        fix: { does: 'removes it', done: 'removed', run: () => fs.rmSync(link, { recursive: true, force: true }) },
      });
      continue;
    }
    if (!nameTargetExists(target)) {
      out.push({
        finding: { kind: 'name', subject: n, problem: `points to ${target.slice(0, 12)}, which is not a container`, path: link },
        fix: {
          does: 'removes it',
          done: 'removed',
          run: () => {
            if (!nameTargetExists(target)) releaseName(n, target);
          },
        },
      });
      continue;
    }
    // a name reserved by a rename that was killed before the record changed: it blocks the
    // name for good (a minute's grace for a rename going on now)
    let recName: string | undefined;
    try {
      recName = (JSON.parse(fs.readFileSync(path.join(containerDir(target), 'container.json'), 'utf8')) as { name?: unknown }).name as string;
    } catch {
      continue; // being created, or damaged (reported with the container)
    }
    if (typeof recName === 'string' && recName !== n && ageMs(link) > 60_000) {
      let own: string | undefined;
      try {
        own = fs.readlinkSync(path.join(namesDir(), recName));
      } catch {
        /* none */
      }
      if (own === target)
        out.push({
          finding: { kind: 'name', subject: n, problem: `points to container ${target.slice(0, 12)}, which is named ${recName}`, path: link },
          fix: { does: 'removes it', done: 'removed', run: () => releaseName(n, target) },
        });
    }
  }
}

function checkLeftovers(out: Pending[]): void {
  for (const l of leftoverDirs()) {
    const what = l.what === 'runtime' ? 'left behind by a container that is gone' : l.what === 'create' ? 'left by a killed create' : 'left by a killed removal';
    out.push({
      finding: { kind: l.what === 'runtime' ? 'runroot' : 'leftover', subject: l.path, problem: what, path: l.path },
      fix: { does: 'removes it', done: 'removed', run: () => removeDirs([l.path]) },
    });
  }
}

// ------------------------------------------------------------------ images

/** image.json rebuilt from the config blob (the image ID), the layers' own records, and a stored manifest naming the config. */
export function rebuildImageMeta(hex: string, tags: TagIndex): ImageMeta | undefined {
  const c = layersFromConfig(hex);
  if (!c) return undefined;
  const id = `sha256:${hex}`;
  const layers: ImageLayerMeta[] = [];
  for (const chain of c.chains) {
    const lm = readLayerMeta(chain);
    if (!lm || !fs.existsSync(path.join(layerPath(chain), 'diff'))) return undefined;
    layers.push({ ...lm });
  }
  const man = findManifest(hex, layers.length);
  if (man)
    man.layers.forEach((b, i) => {
      if (fs.existsSync(blobPath(b.digest))) layers[i]!.blob = b;
    });
  let loaded = new Date().toISOString();
  try {
    loaded = fs.statSync(path.join(imagesDir(), hex)).mtime.toISOString();
  } catch {
    /* now */
  }
  const meta: ImageMeta = {
    schemaVersion: 1,
    id,
    config: c.config,
    configBlob: { mediaType: man?.configMediaType ?? 'application/vnd.oci.image.config.v1+json', digest: id, size: c.size },
    layers,
    repoDigests: [],
    namesHistory: Object.keys(tags).filter((k) => tags[k] === id),
    names: Object.keys(tags)
      .filter((k) => tags[k] === id)
      .sort(),
    loaded,
    size: layers.reduce((s, l) => s + (l.diffSize ?? l.size), 0),
  };
  if (man) meta.manifest = man.self;
  return meta;
}

/** A manifest among the blobs whose config is image `hex` (small JSON blobs only). */
function findManifest(hex: string, nLayers: number): { self: BlobDescriptor; configMediaType?: string; layers: BlobDescriptor[] } | undefined {
  for (const n of readdirSafe(blobsDir())) {
    if (!/^[a-f0-9]{64}$/.test(n)) continue;
    const p = path.join(blobsDir(), n);
    let buf: Buffer;
    try {
      if (fs.statSync(p).size > 4 << 20) continue;
      buf = fs.readFileSync(p);
    } catch {
      continue;
    }
    if (buf[0] !== 0x7b) continue; // not a JSON object
    let m: { mediaType?: string; config?: { digest?: string; mediaType?: string }; layers?: { digest?: unknown; size?: unknown; mediaType?: unknown }[] };
    try {
      m = JSON.parse(buf.toString('utf8'));
    } catch {
      continue;
    }
    if (m.config?.digest !== `sha256:${hex}` || !Array.isArray(m.layers) || m.layers.length !== nLayers) continue;
    if (!m.layers.every((l) => isSha256Digest(l.digest) && typeof l.size === 'number')) continue;
    return {
      self: { digest: `sha256:${n}`, size: buf.length, mediaType: m.mediaType ?? 'application/vnd.oci.image.manifest.v1+json' },
      configMediaType: m.config.mediaType,
      layers: m.layers.map((l) => ({ digest: l.digest as string, size: l.size as number, mediaType: typeof l.mediaType === 'string' ? l.mediaType : 'application/vnd.oci.image.layer.v1.tar+gzip' })),
    };
  }
  return undefined;
}

interface ImageRefs {
  layers: Set<string>;
  blobs: Set<string>;
  /** a damaged image whose layers cannot be known: no layer counts as unused */
  layersUnknown: boolean;
  /** a damaged image: its compressed blobs are not known */
  blobsUnknown: boolean;
}

/** What the images, the live leases and the containers' bundles use (hex names). */
function imageRefs(recs: ContainerRecord[]): ImageRefs {
  const refs: ImageRefs = { layers: new Set(), blobs: new Set(), layersUnknown: false, blobsUnknown: false };
  for (const hex of listImageHexes()) {
    const r = readImageMetaChecked(hex);
    if (!r) continue;
    if ('damaged' in r) {
      refs.blobsUnknown = true;
      refs.blobs.add(hex);
      const c = layersFromConfig(hex);
      if (c) for (const chain of c.chains) refs.layers.add(hexOf(chain));
      else refs.layersUnknown = true;
      continue;
    }
    const m = r.meta;
    refs.blobs.add(hexOf(m.configBlob.digest));
    if (m.manifest) refs.blobs.add(hexOf(m.manifest.digest));
    for (const l of m.layers) {
      refs.layers.add(hexOf(l.chainId));
      if (l.blob) refs.blobs.add(hexOf(l.blob.digest));
      if (l.compressed) refs.blobs.add(hexOf(l.compressed.digest));
    }
  }
  for (const f of readdirSafe(leasesDir())) {
    if (!ownerAliveOf(f)) continue;
    try {
      const c = readLease(fs.readFileSync(path.join(leasesDir(), f), 'utf8'));
      for (const l of c.layers) refs.layers.add(hexOf(l));
      for (const b of c.blobs) refs.blobs.add(hexOf(b));
    } catch {
      /* released meanwhile */
    }
  }
  // the layers a container's rootfs is mounted from (its bundle says), whatever its image
  const layerRoot = layersDir() + path.sep;
  for (const rec of recs) {
    try {
      const spec = JSON.parse(fs.readFileSync(path.join(containerDir(rec.id), 'config.json'), 'utf8')) as { annotations?: Record<string, string> };
      for (const lower of (spec.annotations?.['ctr.rootfs.lower'] ?? '').split(':'))
        if (lower.startsWith(layerRoot)) refs.layers.add(lower.slice(layerRoot.length).split(path.sep)[0]!);
    } catch {
      /* no bundle (vfs copies, or damaged) */
    }
  }
  return refs;
}

function checkImages(o: CheckOptions, recs: ContainerRecord[], out: Pending[]): void {
  // the tag index
  const tf = readTagsFile();
  let tags: TagIndex = {};
  if (tf && 'damaged' in tf) {
    tags = tagsFromRecords();
    out.push({
      finding: { kind: 'tags', subject: tagsFile(), problem: `damaged name index (${tf.damaged})`, path: tagsFile() },
      fix: {
        does: `rebuilds it from the image records (${Object.keys(tags).length} names; the damaged file is kept as tags.json.damaged)`,
        done: 'rebuilt from the image records',
        run: () => withStoreLock(() => writeTagsLocked(tagsFromRecords())),
      },
    });
  } else if (tf) tags = tf.tags;

  const hexes = listImageHexes();
  const known = new Set(hexes);
  for (const [name, id] of Object.entries(tags)) {
    if (known.has(hexOf(id))) continue;
    out.push({
      finding: { kind: 'tag', subject: name, problem: `points to image ${short(id)}, which is not in the store`, path: tagsFile() },
      fix: { does: 'removes the name', done: 'removed', run: () => withStoreLock(() => void untagLocked([name])) },
    });
  }

  for (const hex of hexes) {
    const r = readImageMetaChecked(hex);
    if (!r) continue;
    const id = `sha256:${hex}`;
    const names = Object.keys(tags).filter((k) => tags[k] === id);
    const subject = names.length ? `${hex.slice(0, 12)} (${names.join(', ')})` : hex.slice(0, 12);
    const dir = path.join(imagesDir(), hex);
    let problem: string | undefined;
    if ('damaged' in r) problem = `damaged record: ${r.damaged}`;
    else {
      const missing = r.meta.layers.filter((l) => !readLayerMeta(l.chainId)).map((l) => short(l.chainId));
      if (missing.length) problem = `${missing.length === 1 ? 'layer' : 'layers'} ${missing.join(', ')} missing`;
      else if (!fs.existsSync(blobPath(r.meta.configBlob.digest))) problem = 'its config blob is missing';
    }
    if (!problem) continue;
    const rebuilt = 'damaged' in r ? rebuildImageMeta(hex, tags) : undefined;
    const p: Pending = { finding: { kind: 'image', subject, problem, path: dir } };
    if (rebuilt) {
      p.fix = {
        does: 'rebuilds it from its config blob and layers',
        done: 'rebuilt from its config blob and layers',
        run: () =>
          withStoreLock(() => {
            const again = readImageMetaChecked(hex);
            if (again && 'damaged' in again) writeJsonAtomic(path.join(dir, 'image.json'), rebuilt);
          }),
      };
    } else {
      const users = containersUsingImage(id);
      if (users.length && !o.force) p.leave = `left alone: container ${users.map(short).join(', ')} uses it; pull it again, or --repair --force removes it`;
      else
        p.fix = {
          does: 'removes it (pull it again to have it back)',
          done: 'removed',
          run: () => {
            const trash = withStoreLock(() => deleteImageLocked(id).trash);
            removeTrees(trash);
          },
        };
    }
    out.push(p);
  }

  // what nothing uses, and what killed loads and pulls left
  const refs = imageRefs(recs);
  if (!refs.layersUnknown) {
    for (const n of readdirSafe(layersDir())) {
      if (!/^[a-f0-9]{64}$/.test(n) || refs.layers.has(n)) continue;
      const p = path.join(layersDir(), n);
      if (ageMs(p) < o.maxAgeMs) continue;
      const size = readLayerMeta(`sha256:${n}`)?.size;
      out.push({
        finding: { kind: 'layer', subject: n.slice(0, 12), problem: `not used by any image or container${size !== undefined ? ` (${humanSize(size)})` : ''}`, path: p },
        fix: {
          does: 'removes it',
          done: 'removed',
          run: () => {
            const trash = withStoreLock(() => {
              if (imageRefs(listContainerRecords()).layers.has(n)) return [];
              const moved = path.join(layersDir(), tempName('.rm'));
              fs.renameSync(p, moved);
              return [moved];
            });
            removeTrees(trash);
          },
        },
      });
    }
  }
  if (!o.quick && !refs.blobsUnknown) {
    for (const n of readdirSafe(blobsDir())) {
      if (!/^[a-f0-9]{64}$/.test(n) || refs.blobs.has(n)) continue;
      const p = path.join(blobsDir(), n);
      out.push({
        finding: { kind: 'blob', subject: n.slice(0, 12), problem: 'not used by any image', path: p },
        fix: {
          does: 'removes it',
          done: 'removed',
          run: () =>
            withStoreLock(() => {
              if (!imageRefs(listContainerRecords()).blobs.has(n)) fs.rmSync(p, { force: true });
            }),
        },
      });
    }
  }
  const dead: string[] = [];
  for (const d of [layersDir(), blobsDir(), imagesDir()]) for (const n of readdirSafe(d)) if (deadTempName(n)) dead.push(path.join(d, n));
  for (const n of readdirSafe(tmpDir())) if (!ownerAliveOf(n)) dead.push(path.join(tmpDir(), n));
  for (const n of readdirSafe(leasesDir())) if (!ownerAliveOf(n)) dead.push(path.join(leasesDir(), n));
  for (const p of dead)
    out.push({
      finding: { kind: 'leftover', subject: p, problem: 'left by a killed ctr', path: p },
      fix: { does: 'removes it', done: 'removed', run: () => removeTrees([p]) },
    });
}

// ------------------------------------------------------------------ the check

/** Runs the checks (and the repairs); returns one finding per problem. */
export async function checkStore(o: CheckOptions): Promise<Finding[]> {
  const pending: Pending[] = [];
  const recs = checkContainers(o, pending);
  checkNames(pending);
  checkLeftovers(pending);
  if (fs.existsSync(imagesDir()) || fs.existsSync(layersDir()) || fs.existsSync(tagsFile())) checkImages(o, recs, pending);
  const out: Finding[] = [];
  for (const p of pending) {
    let action: string;
    let fixed = false;
    if (p.fix && o.repair) {
      try {
        await p.fix.run();
        action = p.fix.done;
        fixed = true;
      } catch (e) {
        action = `repair failed: ${(e as Error).message}`;
      }
    } else if (p.fix) {
      action = `--repair ${p.fix.does}`;
    } else {
      action = p.leave ?? 'no repair known';
    }
    out.push({ ...p.finding, action, fixed });
  }
  return out;
}
