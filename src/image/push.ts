/**
 * `ctr push`: an image of the store goes to a registry (OCI distribution spec).
 *
 * Blobs (layers, then the config) are sent in parallel, each one: skipped when the registry
 * has it (HEAD), mounted from another repository of the same registry when this store knows
 * the blob came from or went to one (RepoDigests), uploaded otherwise. The manifest goes last,
 * by tag or by digest. After the push the image records `HOST/REPO@DIGEST` in RepoDigests.
 *
 * Layers are pushed compressed: the blob as pulled or loaded when it is compressed already (so
 * a pulled image keeps its digests), otherwise (loaded archives with plain tar layers) a gzip
 * made on the first push and kept beside the plain blob, so every later push sends the same
 * bytes and the same manifest digest.
 *
 * Manifest format: the image's own manifest when it has one that fits (its type is the
 * default, as Podman does), otherwise one is written in the format asked for: `oci` (default
 * for images without a Docker manifest) or `v2s2`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RegistryClient, type ClientOptions } from '../registry/client';
import { debug } from '../state/context';
import { writeJsonAtomic } from '../state/fsatomic';
import { CtrError } from '../util/errors';
import { MT } from './archive';
import { hexOf, sha256Digest } from './digest';
import { blobCompression } from './layers';
import { ByteChannel, compressFile, type CompressResult } from './push-gzip';
import { formatReference, parseReference, type Reference } from './reference';
import { blobPath, imagesDir, Lease, listImageHexes, readImageMeta, resolveImage, withStoreLock, type BlobDescriptor, type ImageMeta } from './store';

export type PushFormat = 'oci' | 'v2s2';

export interface PushOptions {
  format?: PushFormat;
  tlsVerify?: boolean;
  credentials?: { username: string; password: string };
  /** progress display (src/util/progress.ts shape); none with -q */
  progress?: PushProgress;
  /** uploads at once (default 3) */
  parallel?: number;
}

export interface PushResult {
  /** manifest digest */
  digest: string;
  /** where it went: HOST/REPO:TAG or HOST/REPO@DIGEST */
  reference: string;
  size: number;
  mediaType: string;
}

const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const DOCKER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const FOREIGN = /foreign|nondistributable/;

/** The part of util/progress's Progress that push uses. */
export interface PushProgress {
  line(text: string): void;
  start(key: string, label: string, total?: number): void;
  add(key: string, n: number): void;
  finish(key: string, status?: string): void;
}

interface Plan {
  /** blob as it goes into the manifest */
  desc: BlobDescriptor;
  what: 'blob' | 'config';
  /** false: no local copy (only HEAD or a mount can provide it) */
  local: boolean;
}

function layerTypeFor(format: PushFormat, desc: BlobDescriptor, file: string): string {
  const mt = desc.mediaType;
  const zstd = mt.includes('zstd') || (!mt.includes('gzip') && blobCompression(file) === 'zstd');
  if (format === 'v2s2') {
    if (zstd) throw new CtrError('a layer of this image is zstd-compressed, which Docker v2 schema 2 manifests cannot carry; push with --format oci');
    return DOCKER_GZIP;
  }
  return zstd ? OCI_ZSTD : OCI_GZIP;
}

function isCompressedBlob(desc: BlobDescriptor, file: string): boolean {
  if (/gzip|zstd/.test(desc.mediaType)) return true;
  const c = blobCompression(file);
  return c === 'gzip' || c === 'zstd';
}

function updateImageLocked(id: string, fn: (m: ImageMeta) => boolean): void {
  const meta = readImageMeta(id);
  if (!meta) return;
  if (fn(meta)) writeJsonAtomic(path.join(imagesDir(), hexOf(id), 'image.json'), meta);
}

/** Records the gzip version of a plain layer blob in every image that has that layer blob. */
function recordCompressed(plainDigest: string, gz: BlobDescriptor): void {
  withStoreLock(() => {
    for (const hex of listImageHexes()) {
      const meta = readImageMeta(hex);
      if (!meta || !meta.layers.some((l) => l.blob?.digest === plainDigest && l.compressed?.digest !== gz.digest)) continue;
      for (const l of meta.layers) if (l.blob?.digest === plainDigest) l.compressed = gz;
      writeJsonAtomic(path.join(imagesDir(), hex, 'image.json'), meta);
    }
  });
}

/** A layer blob to send; `local` false: not in this store (the registry may have it, or mount it). */
type LayerBlob = BlobDescriptor & { local: boolean };

/** The layer descriptors of the image's stored manifest, when it has one. */
function storedManifestLayers(meta: ImageMeta): BlobDescriptor[] | undefined {
  if (!meta.manifest || !fs.existsSync(blobPath(meta.manifest.digest))) return undefined;
  try {
    const m = JSON.parse(fs.readFileSync(blobPath(meta.manifest.digest), 'utf8')) as { layers?: BlobDescriptor[] };
    return Array.isArray(m.layers) && m.layers.length === meta.layers.length ? m.layers : undefined;
  } catch {
    return undefined;
  }
}

/** A plain layer blob that has no compressed version yet: compressed on the way (streamLayer). */
interface PlainLayer {
  plain: BlobDescriptor;
  diffId: string;
  index: number;
}

/**
 * The layer blobs to send, bottom first. Plain layers without a kept gzip version are
 * compressed here when `compressNow` (a push by digest needs the digests before any upload),
 * otherwise returned as PlainLayer to be compressed while they upload.
 */
async function compressedLayers(meta: ImageMeta, lease: Lease, compressNow: boolean, progress?: PushProgress): Promise<(LayerBlob | PlainLayer)[]> {
  const out: (LayerBlob | PlainLayer)[] = [];
  const manifestLayers = storedManifestLayers(meta);
  for (const [k, l] of meta.layers.entries()) {
    if (!l.blob || !fs.existsSync(blobPath(l.blob.digest))) {
      // pulled when the layer was here already (from another image): its compressed blob was
      // never fetched. The registry may have it or mount it; `pushBlob` says so if not.
      const d = manifestLayers?.[k];
      if (d && /gzip|zstd/.test(d.mediaType ?? '')) {
        out.push({ digest: d.digest, size: d.size, mediaType: d.mediaType, local: false });
        continue;
      }
      throw new CtrError(`cannot push: the blob of layer ${k + 1} of image ${meta.id.slice(7, 19)} is not in the store; remove the image and load or pull it again`);
    }
    const file = blobPath(l.blob.digest);
    if (isCompressedBlob(l.blob, file)) {
      out.push({ ...l.blob, local: true });
      continue;
    }
    if (l.compressed && fs.existsSync(blobPath(l.compressed.digest))) {
      lease.add({ blobs: [l.compressed.digest] });
      out.push({ ...l.compressed, local: true });
      continue;
    }
    if (!compressNow) {
      out.push({ plain: l.blob, diffId: l.diffId, index: k });
      continue;
    }
    const key = `gzip-${l.diffId}`;
    progress?.start(key, `Compressing layer ${hexOf(l.diffId).slice(0, 12)}`);
    const res = await compressFile(file, {
      beforeCommit: (d) => lease.add({ blobs: [d] }),
      onBytes: (n) => progress?.add(key, n),
    });
    progress?.finish(key, `done (${hexOf(res.blob.digest).slice(0, 12)})`);
    out.push(checkedCompressed(meta, { plain: l.blob, diffId: l.diffId, index: k }, res));
  }
  return out;
}

function checkedCompressed(meta: ImageMeta, p: PlainLayer, res: CompressResult): LayerBlob {
  if ((res.diffId !== undefined && res.diffId !== p.diffId) || res.diffSize !== p.plain.size)
    throw new CtrError(
      `cannot push: layer ${p.index + 1} of image ${meta.id.slice(7, 19)} is damaged in the store (diff ID ${p.diffId}, ${p.plain.size} bytes; content ${res.diffId ?? '?'}, ${res.diffSize} bytes)`,
    );
  recordCompressed(p.plain.digest, res.blob);
  return { ...res.blob, local: true };
}

/**
 * Compresses a plain layer into a kept gzip blob while uploading the same bytes (the digest
 * is named at the end of the upload). When the streamed upload fails, the blob is uploaded
 * again from the kept copy the usual way.
 */
async function streamLayer(client: RegistryClient, meta: ImageMeta, p: PlainLayer, lease: Lease, ctx: BlobContext): Promise<LayerBlob> {
  const { progress } = ctx;
  const key = `blob-${p.plain.digest}`;
  progress?.start(key, `Copying blob ${p.plain.digest}`); // compressed bytes: their total is known at the end
  const channel = new ByteChannel();
  const produced = (async () => {
    try {
      const res = await compressFile(blobPath(p.plain.digest), {
        onPiece: (z) => channel.push(z),
        onBytes: (n) => progress?.add(key, n),
        beforeCommit: (d) => lease.add({ blobs: [d] }),
      });
      channel.end();
      return res;
    } catch (e) {
      channel.fail(e);
      throw e;
    }
  })();
  produced.catch(() => undefined); // awaited below
  let uploaded = false;
  try {
    await client.uploadStream(channel, async () => (await produced).blob.digest);
    uploaded = true;
  } catch (e) {
    channel.discard();
    await produced; // a failure of the compression is the one to report
    // (an expired token or a registry that refuses streamed uploads: the usual path renews
    // the one and uploads monolithically or in chunks of known size for the other)
    debug(`streamed upload of layer ${p.index + 1}: ${(e as Error).message}; uploading the compressed blob`);
  }
  const blob = checkedCompressed(meta, p, await produced);
  if (!uploaded) {
    await pushBlob(client, { desc: { digest: blob.digest, size: blob.size, mediaType: blob.mediaType }, what: 'blob', local: true }, ctx);
  }
  progress?.finish(key, 'done');
  return blob;
}

function readBlobBytes(d: string, what: string): Buffer {
  try {
    return fs.readFileSync(blobPath(d));
  } catch {
    throw new CtrError(`cannot push: the ${what} ${d} is missing from the store; remove the image and load or pull it again`);
  }
}

/** The manifest to send: the stored one when it fits, else a new one. */
function chooseManifest(meta: ImageMeta, layers: LayerBlob[], format: PushFormat | undefined): { bytes: Buffer; mediaType: string } {
  const stored = meta.manifest;
  const storedFormat: PushFormat | undefined = stored?.mediaType === MT.dockerManifest ? 'v2s2' : stored?.mediaType === MT.ociManifest ? 'oci' : undefined;
  const want: PushFormat = format ?? storedFormat ?? 'oci';
  if (stored && storedFormat === want && fs.existsSync(blobPath(stored.digest))) {
    const bytes = readBlobBytes(stored.digest, 'manifest');
    try {
      const m = JSON.parse(bytes.toString('utf8')) as { layers?: BlobDescriptor[]; config?: BlobDescriptor };
      const same = m.config?.digest === meta.configBlob.digest && m.layers?.length === layers.length && m.layers.every((l, i) => l.digest === layers[i]!.digest);
      if (same) return { bytes, mediaType: stored.mediaType };
    } catch {
      /* unreadable: write a new one */
    }
  }
  const configBytes = readBlobBytes(meta.configBlob.digest, 'config');
  const mediaType = want === 'v2s2' ? MT.dockerManifest : MT.ociManifest;
  const man = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: want === 'v2s2' ? MT.dockerConfig : MT.ociConfig, digest: meta.configBlob.digest, size: configBytes.length },
    layers: layers.map((l) => ({ mediaType: layerTypeFor(want, l, blobPath(l.digest)), digest: l.digest, size: l.size })),
  };
  return { bytes: Buffer.from(JSON.stringify(man)), mediaType };
}

/** Repositories of the same registry that hold a blob, as far as this store knows (RepoDigests of images having it). */
function mountSources(digest: string, domain: string, exceptRepo: string): string[] {
  const out: string[] = [];
  for (const hex of listImageHexes()) {
    const meta = readImageMeta(hex);
    if (!meta) continue;
    const has = meta.configBlob.digest === digest || meta.layers.some((l) => l.blob?.digest === digest || l.compressed?.digest === digest);
    if (!has) continue;
    for (const rd of meta.repoDigests ?? []) {
      const at = rd.indexOf('@');
      const repo = at > 0 ? rd.slice(0, at) : rd;
      if (!repo.startsWith(domain + '/')) continue;
      const p = repo.slice(domain.length + 1);
      if (p !== exceptRepo && !out.includes(p)) out.push(p);
    }
  }
  return out;
}

/** Parses a push destination: `[docker://]NAME[:TAG|@DIGEST]`. */
export function parseDestination(dest: string): Reference {
  let d = dest;
  if (d.startsWith('docker://')) d = d.slice('docker://'.length);
  else if (/^[a-z-]+:(?!\d)/.test(d) && !d.includes('/') && /^(oci|dir|docker-archive|oci-archive|containers-storage)/.test(d))
    throw new CtrError(`unsupported destination "${dest}": ctr pushes to registries only; use ctr save for archives`);
  return parseReference(d);
}

async function runLimited<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const x = items[next++]!;
      try {
        await fn(x);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

export async function pushImage(source: string, destination: string | undefined, opts: PushOptions = {}): Promise<PushResult> {
  const r = resolveImage(source);
  let dest: Reference;
  if (destination !== undefined) dest = parseDestination(destination);
  else if (r.via === 'id') throw new CtrError(`no destination: ${source} is an image ID; give the destination, e.g. ctr push ${source} HOST/REPO:TAG`);
  else dest = parseDestination(source);
  const domain = dest.domain;
  const repo = dest.path;
  const byDigest = dest.digest;
  const tag = byDigest ? dest.tag : (dest.tag ?? 'latest');
  const meta = readImageMeta(r.image.id);
  if (!meta) throw new CtrError(`no such image: ${source}`);
  const progress = opts.progress;
  const lease = new Lease();
  progress?.line('Getting image source signatures');
  try {
    lease.add({ blobs: [meta.configBlob.digest, ...meta.layers.flatMap((l) => (l.blob ? [l.blob.digest] : []))] });
    const sources = await compressedLayers(meta, lease, byDigest !== undefined, progress);
    const clientOpts: ClientOptions = { forPull: false };
    if (opts.tlsVerify !== undefined) clientOpts.tlsVerify = opts.tlsVerify;
    if (opts.credentials) clientOpts.credentials = opts.credentials;
    const client = new RegistryClient(domain, repo, clientOpts);
    // repositories of the destination registry this image itself came from or went to
    const ownSources = (meta.repoDigests ?? []).map((rd) => rd.slice(0, rd.indexOf('@'))).filter((r) => r.startsWith(domain + '/')).map((r) => r.slice(domain.length + 1));
    const ctx: BlobContext = { domain, repo, ownSources, progress };
    // every blob at once (bounded): plain layers compress while they upload, the others are
    // checked (HEAD), mounted or uploaded; the config goes along; the manifest goes last
    const layers: LayerBlob[] = new Array(sources.length);
    const tasks: (() => Promise<void>)[] = [];
    const seen = new Set<string>();
    const streams = new Map<string, Promise<LayerBlob>>();
    for (const [k, src] of sources.entries()) {
      if ('plain' in src) {
        const same = streams.get(src.plain.digest);
        if (same) {
          tasks.push(async () => void (layers[k] = await same));
          continue;
        }
        let start!: () => void;
        const started = new Promise<void>((r) => (start = r));
        const job = started.then(() => streamLayer(client, meta, src, lease, ctx));
        job.catch(() => undefined);
        streams.set(src.plain.digest, job);
        tasks.unshift(async () => {
          start();
          layers[k] = await job;
        });
        continue;
      }
      layers[k] = src;
      if (seen.has(src.digest) || FOREIGN.test(src.mediaType)) continue;
      seen.add(src.digest);
      tasks.push(() => pushBlob(client, { desc: { digest: src.digest, size: src.size, mediaType: src.mediaType }, what: 'blob', local: src.local }, ctx));
    }
    tasks.push(() => pushBlob(client, { desc: meta.configBlob, what: 'config', local: true }, ctx));
    await runLimited(tasks, (opts.parallel ?? 3) + 1, (t) => t());
    const manifest = chooseManifest(meta, layers, opts.format);
    const digest = sha256Digest(manifest.bytes);
    if (byDigest && byDigest !== digest)
      throw new CtrError(`cannot push to ${formatReference(dest)}: the image's manifest has digest ${digest}; push by tag, or to that digest`);
    progress?.line('Writing manifest to image destination');
    const put = await client.putManifest(tag ?? digest, manifest.bytes, manifest.mediaType);
    if (put && put !== digest) throw new CtrError(`the registry stored the manifest under digest ${put}, not ${digest}; the registry rewrote it`);
    const repoDigest = `${domain}/${repo}@${digest}`;
    withStoreLock(() =>
      updateImageLocked(meta.id, (m) => {
        if (m.repoDigests.includes(repoDigest)) return false;
        m.repoDigests = [...m.repoDigests, repoDigest];
        return true;
      }),
    );
    return {
      digest,
      reference: tag ? `${domain}/${repo}:${tag}` : repoDigest,
      size: manifest.bytes.length,
      mediaType: manifest.mediaType,
    };
  } finally {
    lease.release();
  }
}

interface BlobContext {
  domain: string;
  repo: string;
  ownSources: string[];
  progress?: PushProgress;
}

async function pushBlob(client: RegistryClient, p: Plan, ctx: BlobContext): Promise<void> {
  const { domain, repo, ownSources, progress } = ctx;
  const { digest, size } = p.desc;
  const key = `${p.what}-${digest}`;
  progress?.start(key, `Copying ${p.what} ${digest}`, size);
  if (await client.hasBlob(digest)) {
    progress?.finish(key, 'skipped: already exists');
    return;
  }
  const sources = [...mountSources(digest, domain, repo)];
  if (!p.local) for (const r of ownSources) if (r !== repo && !sources.includes(r)) sources.push(r);
  for (const from of sources) {
    if (await client.mountBlob(digest, from)) {
      progress?.finish(key, `mounted from ${from}`);
      return;
    }
  }
  const file = blobPath(digest);
  if (!fs.existsSync(file)) {
    if (!p.local)
      throw new CtrError(
        `cannot push: layer blob ${digest} is not in the store (its layer came from another image) and ${domain}/${repo} does not have it; remove the image and pull it again into an empty store, or push to the registry it came from`,
      );
    throw new CtrError(`cannot push: blob ${digest} is missing from the store; remove the image and load or pull it again`);
  }
  await client.uploadBlob(digest, size, () => fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>, { onBytes: (n) => progress?.add(key, n) });
  progress?.finish(key, 'done');
}
