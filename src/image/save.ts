/**
 * `ctr save`: writes images as a docker-archive (manifest.json, <id>.json configs,
 * uncompressed <diffid>.tar layers, shared layers once) or an OCI archive (oci-layout,
 * index.json, blobs/sha256/* exactly as stored, so digests are kept). Streams: layers are never
 * held in memory.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import { CtrError } from '../util/errors';
import { MT } from './archive';
import { hexOf, sha256Digest } from './digest';
import { blobTarStream } from './layers';
import { blobPath, readImageMeta, type BlobDescriptor, type ImageMeta } from './store';
import { TarWriter } from './tarstream';

export type SaveFormat = 'docker-archive' | 'oci-archive';

export interface SaveItem {
  id: string;
  /** normalised names to record for it (none: saved by ID without tags) */
  names: string[];
}

function metaOf(id: string): ImageMeta {
  const m = readImageMeta(id);
  if (!m) throw new CtrError(`no such image: ${id}`);
  return m;
}

function mergeItems(items: SaveItem[]): { meta: ImageMeta; names: string[] }[] {
  const out = new Map<string, { meta: ImageMeta; names: string[] }>();
  for (const it of items) {
    let e = out.get(it.id);
    if (!e) {
      e = { meta: metaOf(it.id), names: [] };
      out.set(it.id, e);
    }
    for (const n of it.names) if (!e.names.includes(n)) e.names.push(n);
  }
  return [...out.values()];
}

function needBlob(d: string, what: string): string {
  const p = blobPath(d);
  if (!fs.existsSync(p)) throw new CtrError(`cannot save: ${what} ${d} is missing from the store; remove the image and load or pull it again`);
  return p;
}

async function* verified(src: AsyncIterable<Buffer>, diffId: string, what: string): AsyncGenerator<Buffer> {
  const h = createHash('sha256');
  for await (const b of src) {
    h.update(b);
    yield b;
  }
  const got = `sha256:${h.digest('hex')}`;
  if (got !== diffId) throw new CtrError(`cannot save: ${what} is damaged in the store (diff ID ${diffId}, content ${got})`);
}

export async function saveDockerArchive(items: SaveItem[], out: Writable, close = true): Promise<void> {
  const images = mergeItems(items);
  const w = new TarWriter(out);
  const written = new Set<string>();
  const manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  for (const { meta, names } of images) {
    const configName = `${hexOf(meta.id)}.json`;
    if (!written.has(configName)) {
      await w.file(configName, fs.readFileSync(needBlob(meta.id, 'config')));
      written.add(configName);
    }
    const layerNames: string[] = [];
    for (const [k, l] of meta.layers.entries()) {
      const name = `${hexOf(l.diffId)}.tar`;
      layerNames.push(name);
      if (written.has(name)) continue;
      if (!l.blob) throw new CtrError(`cannot save: layer ${k + 1} of image ${meta.id.slice(7, 19)} has no stored blob`);
      needBlob(l.blob.digest, 'layer blob');
      const what = `layer ${k + 1} of image ${meta.id.slice(7, 19)}`;
      await w.fileStream(name, l.diffSize, verified(await blobTarStream(l.blob.digest), l.diffId, what));
      written.add(name);
    }
    manifest.push({ Config: configName, RepoTags: names.length ? names : null, Layers: layerNames });
  }
  await w.file('manifest.json', Buffer.from(JSON.stringify(manifest)));
  await w.end(close);
}

export async function saveOciArchive(items: SaveItem[], out: Writable, close = true): Promise<void> {
  const images = mergeItems(items);
  const w = new TarWriter(out);
  const written = new Set<string>();
  await w.dir('blobs');
  await w.dir('blobs/sha256');
  const putBlob = async (d: string, what: string, data?: Buffer) => {
    const name = `blobs/sha256/${hexOf(d)}`;
    if (written.has(name)) return;
    if (data) await w.file(name, data);
    else {
      const p = needBlob(d, what);
      const size = fs.statSync(p).size;
      await w.fileStream(name, size, fs.createReadStream(p, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>);
    }
    written.add(name);
  };
  const index: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[] = [];
  for (const { meta, names } of images) {
    let manifest: BlobDescriptor;
    let manifestData: Buffer | undefined;
    if (meta.manifest && fs.existsSync(blobPath(meta.manifest.digest))) {
      manifest = meta.manifest;
    } else {
      const man = {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: meta.configBlob,
        layers: meta.layers.map((l, k) => {
          if (!l.blob) throw new CtrError(`cannot save: layer ${k + 1} of image ${meta.id.slice(7, 19)} has no stored blob`);
          return { mediaType: l.blob.mediaType, digest: l.blob.digest, size: l.blob.size };
        }),
      };
      manifestData = Buffer.from(JSON.stringify(man));
      manifest = { digest: sha256Digest(manifestData), size: manifestData.length, mediaType: MT.ociManifest };
    }
    for (const [k, l] of meta.layers.entries()) {
      if (!l.blob) throw new CtrError(`cannot save: layer ${k + 1} of image ${meta.id.slice(7, 19)} has no stored blob`);
      await putBlob(l.blob.digest, 'layer blob');
    }
    await putBlob(meta.configBlob.digest, 'config');
    await putBlob(manifest.digest, 'manifest', manifestData);
    const desc = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size };
    if (names.length === 0) index.push(desc);
    for (const n of names) index.push({ ...desc, annotations: { 'io.containerd.image.name': n, 'org.opencontainers.image.ref.name': n } });
  }
  await w.file('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  await w.file('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: index })));
  await w.end(close);
}

export async function saveImages(items: SaveItem[], format: SaveFormat, out: Writable, close = true): Promise<void> {
  if (format === 'oci-archive') await saveOciArchive(items, out, close);
  else await saveDockerArchive(items, out, close);
}
