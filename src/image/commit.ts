/**
 * `ctr commit`: a container's changes become a new image on top of the container's image.
 *
 * The new layer is the container's overlay upper dir as an OCI diff (`ctr-helper tar-dir
 * --diff`: whiteout devices become `.wh.` entries), or for vfs the differences between its copy
 * and the image's layers as the same kind of diff (`tar-dir --diff-from`), without the mount points ctr itself made
 * (/etc/hosts & co., -v targets). That tar stream is read once: it is hashed (diff ID),
 * unpacked into a new layer dir, and gzip-compressed into blobs/ (the blob `push` and `save`
 * use). The image's other layers are the base image's, shared (stored once). Config: the
 * container's (Cmd, Entrypoint, Env, WorkingDir, User, Labels, ExposedPorts, Volumes), as
 * Docker commits it, then the --change lines; a history entry records the command, the
 * author and the message.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { containerDir } from '../container/store';
import { pausedMarker, pauseOwner, runtimeState } from '../container/state';
import type { ContainerRecord } from '../container/types';
import { CtrError } from '../util/errors';
import { writeFileChecked } from '../state/fsatomic';
import { forwardNotes, helperError, helperExit, runHelperSync, spawnHelper } from '../util/helper';
import { MT } from './archive';
import { applyChanges } from './change';
import { chainIds, sha256Digest } from './digest';
import { commitLayer, readLayerMeta, unpackLayerStream, writeBlob, type UnpackResult } from './layers';
import { BlobCompressor, type CompressResult } from './push-gzip';
import { filterTar } from './push-tar';
import { collectGarbage, commitImage, Lease, readImageMeta, removeTrees, type ImageLayerMeta, type ImageMeta } from './store';
import type { ImageConfigBlob, ImageRuntimeConfig } from './types';
import { changesSource, inImageLayers } from '../container/diff';

export interface CommitOptions {
  /** normalised tag name; none: a dangling image */
  name?: string;
  message?: string;
  author?: string;
  changes: string[];
  /** pause a running container while its changes are read (default true) */
  pause: boolean;
  /** manifest type recorded for the image: oci (default) or docker (v2s2) */
  format?: 'oci' | 'docker';
}

interface SpecAnnotations {
  annotations?: Record<string, string>;
}

/** Runtime settings of a container that are not the user's: left out of the image config. */
function imageEnv(rec: ContainerRecord, baseEnv: string[] | undefined, env: string[] | undefined): string[] | undefined {
  if (!env) return baseEnv;
  const hostname = String(rec.config.Hostname ?? '');
  const inBase = new Set(baseEnv ?? []);
  return env.filter((e) => inBase.has(e) || !(e === `HOSTNAME=${hostname}` || e === 'container=ctr'));
}

function arr(v: unknown): string[] | null | undefined {
  if (v === null) return null;
  return Array.isArray(v) ? (v as string[]) : undefined;
}

function obj<T>(v: unknown): T | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as T) : undefined;
}

/** The new image's runtime config: the base image's, overridden by the container's own, then --change. */
export function commitConfig(rec: ContainerRecord, base: ImageRuntimeConfig, changes: string[]): ImageRuntimeConfig {
  const c = rec.config;
  const out: ImageRuntimeConfig = { ...base };
  const env = imageEnv(rec, base.Env, arr(c.Env) ?? undefined);
  if (env) out.Env = env;
  const cmd = arr(c.Cmd);
  if (cmd !== undefined) out.Cmd = cmd;
  const ep = arr(c.Entrypoint);
  if (ep !== undefined) out.Entrypoint = ep;
  if (typeof c.WorkingDir === 'string' && c.WorkingDir !== '') out.WorkingDir = c.WorkingDir;
  if (typeof c.User === 'string' && (c.User !== '' || base.User)) out.User = c.User;
  const labels = obj<Record<string, string>>(c.Labels);
  if (labels && Object.keys(labels).length) out.Labels = { ...(base.Labels ?? {}), ...labels };
  const ports = obj<Record<string, object>>(c.ExposedPorts);
  if (ports && Object.keys(ports).length) out.ExposedPorts = { ...(base.ExposedPorts ?? {}), ...ports };
  const vols = obj<Record<string, object>>(c.Volumes);
  if (vols && Object.keys(vols).length) out.Volumes = { ...(base.Volumes ?? {}), ...vols };
  if (typeof c.StopSignal === 'string' && c.StopSignal !== '' && (base.StopSignal || c.StopSignal !== 'SIGTERM')) out.StopSignal = c.StopSignal;
  for (const k of Object.keys(out) as (keyof ImageRuntimeConfig)[]) if (out[k] === undefined) delete out[k];
  return applyChanges(out, changes);
}

/**
 * Pauses a running container for the duration of `fn` (SIGSTOP/SIGCONT of all its processes).
 * The marker, written first, names this process: if it is killed before it resumes the
 * container, the next ctr that looks at the container resumes it (container/state.ts).
 */
async function whilePaused<T>(rec: ContainerRecord, pause: boolean, fn: () => Promise<T>): Promise<T> {
  const st = runtimeState(rec);
  if (!pause || st.status !== 'running' || !st.pid) return fn();
  writeFileChecked(pausedMarker(rec.id), pauseOwner('commit'));
  try {
    runHelperSync(['signal-all', String(st.pid), '19']);
  } catch (e) {
    fs.rmSync(pausedMarker(rec.id), { force: true });
    throw e;
  }
  try {
    return await fn();
  } finally {
    try {
      runHelperSync(['signal-all', String(st.pid), '18']);
    } finally {
      fs.rmSync(pausedMarker(rec.id), { force: true });
    }
  }
}

/** The container's diff as a tar stream from the helper, with ctr's own mount points left out. */
async function* diffStream(rec: ContainerRecord, tarDirArgs: string[], lowers: string[], counter: { entries: number }): AsyncGenerator<Buffer> {
  const inImage = (rel: string) => inImageLayers(lowers, rel);
  const own = new Set(['etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'run/.containerenv', ...rec.mounts.map((m) => m.Destination.replace(/^\/+/, '').replace(/\/+$/, ''))]);
  const ownParents = new Set<string>();
  for (const o of own) for (let d = path.posix.dirname(o); d !== '.' && d !== '/' && d !== ''; d = path.posix.dirname(d)) ownParents.add(d);
  const child = spawnHelper(['tar-dir', ...tarDirArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  const { exited, stderr } = helperExit(child);
  let finished = false;
  try {
    yield* filterTar(child.stdout as AsyncIterable<Buffer>, (name) => {
      const rel = name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
      if (rel === '' || rel === '.') return 'drop';
      if (own.has(rel) && !inImage(rel)) return 'drop';
      // a dir changed only because ctr made a mount point in it goes only with other changes in it
      if (ownParents.has(rel) && inImage(rel)) return 'defer';
      counter.entries++;
      return 'keep';
    });
    finished = true;
  } finally {
    if (!finished) child.kill('SIGKILL');
  }
  const code = await exited;
  forwardNotes(stderr());
  if (code !== 0) throw new CtrError(`cannot read the changes of container ${rec.name}: ${helperError(stderr())}`);
}

/** Creates the image; returns its ID ("sha256:..."). */
export async function commitContainer(rec: ContainerRecord, opts: CommitOptions): Promise<string> {
  const base = readImageMeta(rec.image);
  if (!base) throw new CtrError(`cannot commit ${rec.name}: its image ${rec.image.slice(7, 19)} is no longer in the store`);
  // --change lines are checked before anything is written
  const runtime = commitConfig(rec, base.config.config ?? {}, opts.changes);
  let spec: SpecAnnotations;
  try {
    spec = JSON.parse(fs.readFileSync(path.join(containerDir(rec.id), 'config.json'), 'utf8')) as SpecAnnotations;
  } catch {
    throw new CtrError(`cannot commit ${rec.name}: its bundle is missing or damaged`);
  }
  const src = changesSource(rec, spec.annotations ?? {});
  if (!src)
    throw new CtrError(`cannot commit ${rec.name}: it was created by an older ctr with the ${rec.driver} storage driver, whose changes it cannot read; create it again`);
  collectGarbage();
  const lease = new Lease();
  let ok = false;
  try {
    // the base's layers stay ours while we work, even if the image is removed meanwhile
    lease.add({ layers: base.layers.map((l) => l.chainId), blobs: base.layers.flatMap((l) => (l.blob ? [l.blob.digest] : [])) });
    const counter = { entries: 0 };
    let unpacked: UnpackResult | undefined;
    let gz: CompressResult | undefined;
    await whilePaused(rec, opts.pause, async () => {
      const compressor = new BlobCompressor();
      async function* tee(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
        for await (const b of src) {
          await compressor.write(b);
          yield b;
        }
      }
      try {
        unpacked = await unpackLayerStream(tee(diffStream(rec, src.tarDirArgs, src.lowers, counter)), `the changes of ${rec.name}`);
        gz = await compressor.finish((d) => lease.add({ blobs: [d] }));
      } catch (e) {
        await compressor.abort();
        throw e;
      }
    });
    const now = new Date().toISOString();
    const layers: ImageLayerMeta[] = base.layers.map((l) => ({ ...l }));
    const diffIds = [...base.config.rootfs.diff_ids];
    const emptyLayer = counter.entries === 0;
    if (emptyLayer) {
      // nothing changed: no layer, an empty_layer history entry (as buildah does)
      removeTrees([unpacked!.tmp]);
    } else {
      diffIds.push(unpacked!.diffId);
      const chain = chainIds(diffIds)[diffIds.length - 1]!;
      lease.add({ layers: [chain], blobs: [gz!.blob.digest] });
      const lm = readLayerMeta(chain) ? (removeTrees([unpacked!.tmp]), readLayerMeta(chain)!) : commitLayer(unpacked!, chain);
      layers.push({ ...lm, blob: gz!.blob });
    }
    const docker = opts.format === 'docker';
    const createdBy = [rec.path, ...rec.args].join(' ');
    const history = [...(base.config.history ?? [])];
    const entry: NonNullable<ImageConfigBlob['history']>[number] = { created: now, created_by: createdBy };
    if (opts.author) entry.author = opts.author;
    if (opts.message) entry.comment = opts.message;
    if (emptyLayer) entry.empty_layer = true;
    history.push(entry);
    const config: ImageConfigBlob = {
      created: now,
      architecture: base.config.architecture,
      os: base.config.os,
      config: runtime,
      rootfs: { type: 'layers', diff_ids: diffIds },
      history,
    };
    if (opts.author) config.author = opts.author;
    if (base.config.variant) config.variant = base.config.variant;
    const configBytes = Buffer.from(JSON.stringify(config));
    const id = sha256Digest(configBytes);
    const configBlob = { mediaType: docker ? MT.dockerConfig : MT.ociConfig, digest: id, size: configBytes.length };
    const layerType = (mt: string) => (docker ? mt.replace('application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip').replace(/^application\/vnd\.oci\.image\.layer\.v1\.tar$/, 'application/vnd.docker.image.rootfs.diff.tar') : mt);
    const manifestObj = {
      schemaVersion: 2,
      mediaType: docker ? MT.dockerManifest : MT.ociManifest,
      config: configBlob,
      layers: layers.map((l) => {
        if (!l.blob) throw new CtrError(`cannot commit ${rec.name}: a layer of its image has no stored blob; pull or load the image again`);
        return { mediaType: layerType(l.blob.mediaType), digest: l.blob.digest, size: l.blob.size };
      }),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifestObj));
    const manifest = { mediaType: manifestObj.mediaType, digest: sha256Digest(manifestBytes), size: manifestBytes.length };
    lease.add({ blobs: [id, manifest.digest] });
    writeBlob(id, configBytes);
    writeBlob(manifest.digest, manifestBytes);
    const meta: ImageMeta = {
      schemaVersion: 1,
      id,
      config,
      configBlob,
      manifest,
      layers,
      repoDigests: [],
      parent: base.id,
      loaded: now,
      size: layers.reduce((s, l) => s + (l.diffSize ?? l.size), 0),
    };
    const r = commitImage(meta, opts.name ? [opts.name] : []);
    if (r.missingLayers.length || r.missingBlobs.length) throw new CtrError('the image store changed during the commit (layers removed by another ctr); try again');
    ok = true;
    return id;
  } finally {
    lease.release();
    if (!ok) collectGarbage({ always: true });
  }
}

