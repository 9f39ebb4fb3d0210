/**
 * `ctr load`: docker-archive (manifest.json; legacy <id>/layer.tar or blobs/ layout) and OCI
 * archives (oci-layout + index.json), gzip/zstd-compressed or not, from a file or stdin.
 *
 * One streaming pass stages every member of the archive as a file (hashing it on the way;
 * only small members are also kept in memory), then the manifests are checked, blobs move
 * into blobs/, layers are unpacked from them (diff IDs verified) and the image is committed
 * last. A failure removes what this load made; a kill -9 leaves temp names and a dead lease
 * that the next run collects.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from '../util/random';
import { CtrError } from '../util/errors';
import { findHelper } from '../util/helper';
import { decompressed, DecompressError, layerMediaType, detectCompression } from './compression';
import { chainIds, hexOf, isSha256Digest, sha256Digest } from './digest';
import { blobTarStream, commitBlobFile, commitLayer, readLayerMeta, unpackLayerStream, writeBlob } from './layers';
import { parseTagReference, formatReference, InvalidReferenceError } from './reference';
import {
  blobPath,
  collectGarbage,
  commitImage,
  ensureStoreDirs,
  Lease,
  listImageHexes,
  owner,
  readImageMeta,
  tmpDir,
  type BlobDescriptor,
  type ImageLayerMeta,
  type ImageMeta,
} from './store';
import { cleanArchivePath, readTar, TarFormatError } from './tarstream';
import type { ImageConfigBlob } from './types';

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
};

interface Member {
  file?: string;
  digest?: string;
  size?: number;
  data?: Buffer;
  link?: string;
  /** moved into blobs/ already */
  stored?: boolean;
}

// small members (manifests, configs, index) are also kept in memory; bigger ones are read back when needed
const KEEP_IN_MEMORY = 256 << 10;

export class ArchiveError extends CtrError {}

function bad(msg: string): never {
  throw new ArchiveError(msg);
}

export function goArch(): string {
  const a = process.arch as string;
  return ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' } as Record<string, string>)[a] ?? a;
}

/** One image found in an archive, ready to be installed. */
export interface PendingImage {
  configBytes: Buffer;
  config: ImageConfigBlob;
  layers: { blob: BlobDescriptor; file?: () => string; diffId: string }[];
  manifestBytes?: Buffer;
  manifestMediaType?: string;
  names: string[];
  repoDigests: string[];
}

export interface LoadedImage {
  id: string;
  names: string[];
}

class Staging {
  readonly dir: string;
  members = new Map<string, Member>();
  private n = 0;
  constructor() {
    ensureStoreDirs();
    this.dir = path.join(tmpDir(), `load-${owner()}-${randomBytes(4).toString('hex')}`);
    fs.mkdirSync(this.dir, { mode: 0o700 });
  }

  async readArchive(input: AsyncIterable<Buffer>): Promise<void> {
    const { stream } = await decompressed(input);
    for await (const { entry, body } of readTar(stream)) {
      const name = cleanArchivePath(entry.name);
      if (name === undefined) bad(`member "${entry.name}" points outside the archive`);
      if (name === '') continue;
      if (entry.type === 'file') {
        const file = path.join(this.dir, String(this.n++));
        const fh = await fs.promises.open(file, 'w', 0o600);
        const hash = createHash('sha256');
        const keep: Buffer[] | undefined = entry.size <= KEEP_IN_MEMORY ? [] : undefined;
        try {
          for await (const chunk of body) {
            hash.update(chunk);
            keep?.push(chunk);
            await fh.write(chunk);
          }
        } finally {
          await fh.close();
        }
        const m: Member = { file, digest: `sha256:${hash.digest('hex')}`, size: entry.size };
        if (keep) m.data = Buffer.concat(keep);
        this.members.set(name, m);
      } else if (entry.type === 'symlink') {
        const target = entry.linkname.startsWith('/') ? cleanArchivePath(entry.linkname) : cleanArchivePath(path.posix.join(path.posix.dirname(name), entry.linkname));
        if (target === undefined) bad(`member "${entry.name}" links outside the archive`);
        this.members.set(name, { link: target });
      } else if (entry.type === 'hardlink') {
        const target = cleanArchivePath(entry.linkname);
        if (target === undefined) bad(`member "${entry.name}" links outside the archive`);
        this.members.set(name, { link: target });
      }
    }
  }

  member(name: string): Member | undefined {
    let n = cleanArchivePath(name);
    for (let i = 0; i < 16 && n !== undefined; i++) {
      const m = this.members.get(n);
      if (!m) return undefined;
      if (m.link === undefined) return m;
      n = m.link;
    }
    return undefined;
  }

  bytes(m: Member): Buffer {
    if (m.data) return m.data;
    return fs.readFileSync(m.stored ? blobPath(m.digest!) : m.file!);
  }

  json<T>(name: string, what: string): T {
    const m = this.member(name);
    if (!m) bad(`${what} "${name}" is missing`);
    try {
      return JSON.parse(this.bytes(m).toString('utf8')) as T;
    } catch {
      bad(`${what} "${name}" is not valid JSON`);
    }
  }

  /** The member holding blob `digest` in an OCI layout, verified. */
  blob(digest: unknown, size: unknown, what: string): Member {
    if (!isSha256Digest(digest)) bad(`${what}: invalid or unsupported digest ${JSON.stringify(digest)}`);
    const m = this.member(`blobs/sha256/${hexOf(digest)}`);
    if (!m) bad(`${what}: blob ${digest} is missing`);
    if (m.digest !== digest) bad(`${what}: blob ${digest} does not match its digest (got ${m.digest})`);
    if (typeof size === 'number' && size !== m.size) bad(`${what}: blob ${digest} has ${m.size} bytes, the manifest says ${size}`);
    return m;
  }

  /** Moves a member's file into blobs/ (once); returns its digest. */
  store(m: Member): string {
    if (!m.stored) {
      commitBlobFile(m.file!, m.digest!);
      m.stored = true;
    }
    return m.digest!;
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function parseConfig(bytes: Buffer, what: string): ImageConfigBlob {
  let c: ImageConfigBlob;
  try {
    c = JSON.parse(bytes.toString('utf8')) as ImageConfigBlob;
  } catch {
    bad(`${what} is not valid JSON`);
  }
  if (typeof c !== 'object' || c === null) bad(`${what} is not an image configuration`);
  const ids = c.rootfs?.diff_ids;
  if (!Array.isArray(ids)) bad(`${what} has no rootfs.diff_ids`);
  for (const d of ids) if (!isSha256Digest(d)) bad(`${what}: invalid diff ID ${JSON.stringify(d)}`);
  return c;
}

function normalizeNames(names: unknown[], warn: (s: string) => void): string[] {
  const out: string[] = [];
  for (const n of names) {
    if (typeof n !== 'string' || n === '') continue;
    try {
      const full = formatReference(parseTagReference(n));
      if (!out.includes(full)) out.push(full);
    } catch (e) {
      warn(`ignoring invalid image name "${n}" in the archive: ${e instanceof InvalidReferenceError ? e.reason : (e as Error).message}`);
    }
  }
  return out;
}

function dockerArchiveImages(st: Staging, warn: (s: string) => void): PendingImage[] {
  const manifest = st.json<unknown>('manifest.json', 'manifest');
  if (!Array.isArray(manifest) || manifest.length === 0) bad('manifest.json lists no images');
  const out: PendingImage[] = [];
  for (const [i, raw] of manifest.entries()) {
    const item = raw as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
    const where = `manifest.json entry ${i + 1}`;
    if (typeof item?.Config !== 'string') bad(`${where} has no Config`);
    if (!Array.isArray(item.Layers) || item.Layers.some((l) => typeof l !== 'string')) bad(`${where} has no Layers list`);
    const cm = st.member(item.Config);
    if (!cm) bad(`config "${item.Config}" listed in manifest.json is missing`);
    const configBytes = st.bytes(cm);
    const id = sha256Digest(configBytes);
    const named = /([a-f0-9]{64})(?:\.json)?$/.exec(item.Config);
    if (named && named[1] !== hexOf(id)) bad(`config "${item.Config}" does not match its digest (got ${id})`);
    const config = parseConfig(configBytes, `config "${item.Config}"`);
    const layerNames = item.Layers as string[];
    if (layerNames.length !== config.rootfs.diff_ids.length)
      bad(`${where} lists ${layerNames.length} layers but its config has ${config.rootfs.diff_ids.length} diff IDs`);
    const layers = layerNames.map((ln, k) => {
      const m = st.member(ln);
      if (!m) bad(`layer "${ln}" listed in manifest.json is missing`);
      const hm = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(cleanArchivePath(ln) ?? '');
      if (hm && hm[1] !== hexOf(m.digest!)) bad(`layer "${ln}" does not match its digest (got ${m.digest})`);
      const head = m.data ? m.data.subarray(0, 6) : readHead(m);
      const kind = detectCompression(head);
      return {
        blob: { digest: m.digest!, size: m.size!, mediaType: layerMediaType(kind === 'bzip2' || kind === 'xz' ? 'none' : kind) },
        file: () => st.store(m),
        diffId: config.rootfs.diff_ids[k]!,
      };
    });
    const names = Array.isArray(item.RepoTags) ? normalizeNames(item.RepoTags, warn) : [];
    out.push({ configBytes, config, layers, names, repoDigests: [] });
  }
  return out;
}

function readHead(m: Member): Buffer {
  const fd = fs.openSync(m.stored ? blobPath(m.digest!) : m.file!, 'r');
  try {
    const b = Buffer.alloc(6);
    const n = fs.readSync(fd, b, 0, 6, 0);
    return b.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

interface Descriptor {
  mediaType?: string;
  digest?: unknown;
  size?: unknown;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

function ociImages(st: Staging, warn: (s: string) => void): PendingImage[] {
  const index = st.json<{ manifests?: Descriptor[] }>('index.json', 'index');
  if (!Array.isArray(index.manifests) || index.manifests.length === 0) bad('index.json lists no images');
  const byDigest = new Map<string, PendingImage>();
  const order: PendingImage[] = [];
  const addManifest = (desc: Descriptor, names: string[], depth: number): void => {
    const what = `manifest ${String(desc.digest)}`;
    const m = st.blob(desc.digest, desc.size, what);
    const bytes = st.bytes(m);
    let man: { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    try {
      man = JSON.parse(bytes.toString('utf8'));
    } catch {
      bad(`${what} is not valid JSON`);
    }
    const mt = man.mediaType ?? desc.mediaType;
    if (mt === MT.ociIndex || mt === MT.dockerList || Array.isArray(man.manifests)) {
      if (depth > 2) bad('image index nested too deeply');
      const list = man.manifests ?? [];
      const arch = goArch();
      const pick = list.find((d) => d.platform?.os === 'linux' && d.platform?.architecture === arch) ?? (list.length === 1 ? list[0] : undefined);
      if (!pick) {
        const have = list.map((d) => `${d.platform?.os}/${d.platform?.architecture}`).join(', ');
        bad(`no image for linux/${arch} in the archive's image index (found: ${have || 'none'})`);
      }
      addManifest(pick, names, depth + 1);
      return;
    }
    const digest = m.digest!;
    const prev = byDigest.get(digest);
    if (prev) {
      for (const n of names) if (!prev.names.includes(n)) prev.names.push(n);
      return;
    }
    if (!man.config || !Array.isArray(man.layers)) bad(`${what} is not an image manifest (no config or layers)`);
    const cm = st.blob(man.config.digest, man.config.size, `config of ${what}`);
    const configBytes = st.bytes(cm);
    const config = parseConfig(configBytes, `config ${cm.digest}`);
    if (man.layers.length !== config.rootfs.diff_ids.length)
      bad(`${what} lists ${man.layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff IDs`);
    const layers = man.layers.map((ld, k) => {
      const lm = st.blob(ld.digest, ld.size, `layer ${k + 1} of ${what}`);
      return {
        blob: { digest: lm.digest!, size: lm.size!, mediaType: ld.mediaType ?? layerMediaType(detectCompression(readHead(lm))) },
        file: () => st.store(lm),
        diffId: config.rootfs.diff_ids[k]!,
      };
    });
    const img: PendingImage = { configBytes, config, layers, manifestBytes: bytes, manifestMediaType: mt ?? MT.ociManifest, names: [...names], repoDigests: [] };
    byDigest.set(digest, img);
    order.push(img);
  };
  for (const d of index.manifests) {
    const a = d.annotations ?? {};
    const raw = a['io.containerd.image.name'] ?? a['org.opencontainers.image.ref.name'];
    // a bare tag ("latest") names no repository: such images load without a name
    const candidates = raw && (raw.includes('/') || raw.includes(':')) ? [raw] : [];
    addManifest(d, normalizeNames(candidates, warn), 0);
  }
  return order;
}

function friendlyError(e: unknown, label: string): CtrError {
  if (e instanceof DecompressError || e instanceof TarFormatError || e instanceof ArchiveError) return new CtrError(`invalid archive ${label}: ${e.message}`);
  if (e instanceof CtrError) return /^(invalid archive|cannot load) /.test(e.message) ? e : new CtrError(`cannot load ${label}: ${e.message}`, e.exitCode);
  const code = (e as { code?: string }).code;
  if (code === 'ENOSPC') return new CtrError(`cannot load ${label}: no space left on the device holding the image store`);
  return new CtrError(`cannot load ${label}: ${((e as Error).message ?? String(e)).split('\n')[0]}`);
}

/** Checks that a stored layer blob decompresses to `diffId` (no unpacking). */
async function verifyBlob(digest: string, diffId: string, what: string): Promise<void> {
  const h = createHash('sha256');
  try {
    for await (const b of await blobTarStream(digest)) h.update(b);
  } catch (e) {
    throw new CtrError(`${what}: ${(e as Error).message}`);
  }
  const got = `sha256:${h.digest('hex')}`;
  if (got !== diffId) throw new CtrError(`${what}: content does not match the image config (diff ID ${diffId}, got ${got}); the archive is corrupt`);
}

/** Installs verified images: blobs into blobs/, layers unpacked (shared ones reused), image committed. */
export async function installImages(pending: PendingImage[], lease: Lease): Promise<LoadedImage[]> {
  findHelper(); // every layer goes through `ctr-helper untar`
  let known: Map<string, string> | undefined;
  /** layer blobs of committed images (verified when they were loaded) → their diff IDs */
  const verified = (): Map<string, string> => {
    if (!known) {
      known = new Map();
      for (const hex of listImageHexes()) for (const l of readImageMeta(hex)?.layers ?? []) if (l.blob) known.set(l.blob.digest, l.diffId);
    }
    return known;
  };
  const loaded: LoadedImage[] = [];
  for (const img of pending) {
    const id = sha256Digest(img.configBytes);
    const configBlob: BlobDescriptor = { mediaType: MT.ociConfig, digest: id, size: img.configBytes.length };
    let manifestBytes = img.manifestBytes;
    let manifestMediaType = img.manifestMediaType;
    if (!manifestBytes) {
      const man = {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: configBlob,
        layers: img.layers.map((l) => ({ mediaType: l.blob.mediaType, digest: l.blob.digest, size: l.blob.size })),
      };
      manifestBytes = Buffer.from(JSON.stringify(man));
      manifestMediaType = MT.ociManifest;
    }
    const manifest: BlobDescriptor = { mediaType: manifestMediaType!, digest: sha256Digest(manifestBytes), size: manifestBytes.length };
    const chains = chainIds(img.layers.map((l) => l.diffId));
    lease.add({ layers: chains, blobs: [id, manifest.digest, ...img.layers.map((l) => l.blob.digest)] });
    writeBlob(id, img.configBytes);
    writeBlob(manifest.digest, manifestBytes);
    for (const l of img.layers) l.file?.();
    const metas: ImageLayerMeta[] = [];
    const ensure = async (k: number): Promise<ImageLayerMeta> => {
      const l = img.layers[k]!;
      const chainId = chains[k]!;
      let meta = readLayerMeta(chainId);
      if (meta && verified().get(l.blob.digest) !== l.diffId) {
        // the layer is here already, but this blob was never checked against its diff ID
        await verifyBlob(l.blob.digest, l.diffId, `layer ${k + 1} of ${img.layers.length} (${l.blob.digest.slice(7, 19)})`);
      }
      if (!meta) {
        const res = await unpackLayerStream(
          fs.createReadStream(blobPath(l.blob.digest), { highWaterMark: 1 << 20 }),
          `layer ${k + 1} of ${img.layers.length} (${l.blob.digest.slice(7, 19)})`,
          l.diffId,
        );
        meta = commitLayer(res, chainId);
      }
      return { ...meta, blob: l.blob };
    };
    for (let k = 0; k < img.layers.length; k++) metas.push(await ensure(k));
    const meta: ImageMeta = {
      schemaVersion: 1,
      id,
      config: img.config,
      configBlob,
      manifest,
      layers: metas,
      repoDigests: img.repoDigests,
      loaded: new Date().toISOString(),
      // like Podman: the size of the uncompressed layer tars
      size: metas.reduce((s, l) => s + (l.diffSize ?? l.size), 0),
    };
    for (let attempt = 0; ; attempt++) {
      const r = commitImage(meta, img.names);
      if (!r.missingLayers.length && !r.missingBlobs.length) break;
      if (attempt >= 2) throw new CtrError('the image store changed while loading (layers removed by another ctr); try again');
      if (r.missingBlobs.length) throw new CtrError('the image store changed while loading (blobs removed by another ctr); try again');
      for (const c of r.missingLayers) {
        const k = chains.indexOf(c);
        if (k >= 0) metas[k] = await ensure(k);
      }
    }
    loaded.push({ id, names: img.names });
  }
  return loaded;
}

/**
 * Loads every image of an archive stream. `label` names the input in errors ("FILE" or
 * "from stdin"); `warn` receives notes (invalid names skipped...).
 */
export async function loadArchive(input: AsyncIterable<Buffer>, label: string, warn: (s: string) => void): Promise<LoadedImage[]> {
  findHelper(); // layers are unpacked by the helper: without it, fail before anything is written
  collectGarbage();
  const st = new Staging();
  const lease = new Lease();
  let ok = false;
  try {
    try {
      await st.readArchive(input);
    } catch (e) {
      throw friendlyError(e, label);
    }
    let pending: PendingImage[];
    try {
      if (st.member('manifest.json')) pending = dockerArchiveImages(st, warn);
      else if (st.member('index.json')) pending = ociImages(st, warn);
      else if (st.members.size === 0) bad('the archive is empty');
      else if (st.member('repositories')) bad('legacy docker-archive without manifest.json (Docker < 1.10) is not supported');
      else bad('not an image archive: neither manifest.json (docker-archive) nor index.json (OCI layout) found');
    } catch (e) {
      throw friendlyError(e, label);
    }
    const res = await installImages(pending, lease);
    ok = true;
    return res;
  } catch (e) {
    throw friendlyError(e, label);
  } finally {
    st.cleanup();
    lease.release();
    if (!ok) collectGarbage({ always: true });
  }
}
