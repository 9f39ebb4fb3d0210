/**
 * Unpacking layers into the store: the (possibly compressed) layer stream is decompressed
 * here, hashed (diff ID) as it flows, and piped into `ctr-helper untar` which unpacks it
 * inside the user namespace into layers/.tmp-*; the dir gets its final name
 * layers/<chainhex> only when complete and verified.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { context } from '../state/context';
import { readJson, writeJsonAtomic } from '../state/fsatomic';
import { CtrError, errnoCode, writeFailure } from '../util/errors';
import { forwardNotes, helperError, helperExit, spawnHelper } from '../util/helper';
import { sha256Digest } from './digest';
import { decompressed, DecompressError, peek, detectCompression, type Compression } from './compression';
import { blobPath, blobsDir, ensureStoreDirs, layerPath, layersDir, removeTrees, tempName, type LayerMeta } from './store';
import { TarFormatError } from './tarstream';

export interface UnpackResult {
  diffId: string;
  diffSize: number;
  size: number;
  entries: number;
  compression: Compression;
  /** the temp layer dir (layers/.tmp-*), holding diff/ */
  tmp: string;
}

function oneLine(e: unknown): string {
  if (e instanceof CtrError) return e.message;
  return ((e as Error)?.message ?? String(e)).split('\n')[0]!;
}

/** Counts and hashes the bytes of a stream as they pass. */
export async function* tap(src: AsyncIterable<Buffer>, hash: Hash, counter: { n: number }): AsyncGenerator<Buffer> {
  for await (const b of src) {
    hash.update(b);
    counter.n += b.length;
    yield b;
  }
}

/**
 * A temp layer dir (layers/.tmp-*) with its `ctr-helper untar` already running, waiting for
 * the tar stream on its stdin: a pull starts it before the layer's bytes are there, so the
 * fork (whose cost grows with the heap) and the helper's own start-up overlap the download.
 */
export interface Untar {
  /** the temp layer dir, holding diff/ */
  tmp: string;
  child: ReturnType<typeof spawnHelper>;
  exited: Promise<number>;
  stderr: () => string;
  stdout: () => string;
  pipeBroken: () => boolean;
}

/**
 * Makes a temp layer dir and starts the helper that unpacks into it. `whole`: it will get a
 * whole layer blob (unpackWhole) rather than a tar stream.
 */
export function startUntar(o: { whole?: boolean } = {}): Untar {
  ensureStoreDirs();
  const tmp = path.join(layersDir(), tempName('.tmp'));
  const diff = path.join(tmp, 'diff');
  // the helper makes both (making an inode takes up to a couple of ms on ext4: not here)
  const args = ['untar', '--mkdir'];
  if (context().rootless) args.push('--rootless-xattrs');
  if (o.whole) args.push('--whole');
  args.push(diff);
  let child;
  try {
    child = spawnHelper(args, { stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    removeTreesQuietly(tmp);
    throw e;
  }
  let stdout = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => (stdout += d));
  const { exited, stderr } = helperExit(child);
  let broken = false;
  child.stdin!.on('error', () => {
    broken = true;
  });
  return { tmp, child, exited, stderr, stdout: () => stdout, pipeBroken: () => broken };
}

/** Stops an untar that will not get (or failed with) its data, and removes its dir. */
export async function abandonUntar(u: Untar): Promise<void> {
  if (u.child.exitCode === null && u.child.signalCode === null) u.child.kill('SIGKILL');
  await u.exited;
  removeTreesQuietly(u.tmp);
}

/** Writes to an untar's stdin (and ends it, with `end`), unless the helper is already gone. */
export function sendToUntar(u: Untar, bytes: Buffer, end = false): void {
  if (u.pipeBroken() || u.child.exitCode !== null) return;
  if (end) u.child.stdin!.end(bytes);
  else u.child.stdin!.write(bytes);
}

function removeTreesQuietly(dir: string): void {
  try {
    removeTrees([dir]);
  } catch {
    /* GC removes it once we are gone */
  }
}

/** Feeds an uncompressed tar stream to a started untar; resolves with its summary. */
async function feedUntar(u: Untar, tar: AsyncIterable<Buffer>): Promise<{ entries: number; bytes: number; notes: number }> {
  const { child, exited, stderr } = u;
  let feedError: unknown;
  let draining = false;
  try {
    for await (const chunk of tar) {
      if (draining) continue; // the helper finished early and well: keep hashing what is left
      if (u.pipeBroken() || child.exitCode !== null) {
        if ((await exited) !== 0) break;
        draining = true;
        continue;
      }
      if (!child.stdin!.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            child.stdin!.off('drain', done);
            child.off('close', done);
            resolve();
          };
          child.stdin!.once('drain', done);
          child.once('close', done);
        });
      }
    }
  } catch (e) {
    feedError = e;
  }
  child.stdin!.end();
  if (feedError) child.kill('SIGKILL');
  const code = await exited;
  if (feedError) throw feedError;
  forwardNotes(stderr());
  if (code !== 0) throw new CtrError(helperError(stderr()));
  const line = u.stdout().trim().split('\n').pop() ?? '';
  try {
    const j = JSON.parse(line) as { entries?: number; bytes?: number; notes?: number };
    return { entries: j.entries ?? 0, bytes: j.bytes ?? 0, notes: j.notes ?? 0 };
  } catch {
    return { entries: 0, bytes: 0, notes: 0 };
  }
}

/**
 * Unpacks a layer stream (gzip, zstd or plain tar) into a new temp layer dir. When
 * `expectDiffId` is given, a stream with another digest fails. On failure nothing is left.
 * `what` names the layer in errors.
 */
export async function unpackLayerStream(source: AsyncIterable<Buffer>, what: string, expectDiffId?: string): Promise<UnpackResult> {
  const u = startUntar();
  const hash = createHash('sha256');
  const counter = { n: 0 };
  try {
    const { kind, stream } = await decompressed(source);
    let summary;
    try {
      summary = await feedUntar(u, tap(stream, hash, counter));
    } catch (e) {
      if (e instanceof DecompressError || e instanceof TarFormatError) throw new CtrError(`${what}: ${e.message}`);
      if (e instanceof CtrError) {
        // the disk filled up under the helper: name the file it was writing, as other writes do
        const full = /^untar: (.+): [^:]+: (No space left on device|Disk quota exceeded)$/.exec(e.message);
        if (full) throw new CtrError(`${what}: ${full[2]!.toLowerCase()} while writing ${path.join(u.tmp, 'diff', full[1]!)}`);
        throw new CtrError(`${what}: ${e.message.replace(/^untar: /, '')}`);
      }
      throw new CtrError(`${what}: ${oneLine(e)}`);
    }
    const diffId = `sha256:${hash.digest('hex')}`;
    if (expectDiffId && diffId !== expectDiffId)
      throw new CtrError(`${what}: content does not match the image config (diff ID ${expectDiffId}, got ${diffId}); the archive is corrupt`);
    return { diffId, diffSize: counter.n, size: summary.bytes || counter.n, entries: summary.entries, compression: kind, tmp: u.tmp };
  } catch (e) {
    await abandonUntar(u);
    throw e;
  }
}

/**
 * Unpacks a small layer blob held in memory through an untar started with `whole` (`fed`: what
 * was already written to it): the helper
 * inflates it, hashes both the blob and the tar, and unpacks, on its own core. Resolves
 * undefined (and leaves nothing) when the helper cannot take this blob whole (a build without
 * libdeflate, zstd, too large once inflated): the caller unpacks it as a stream. Throws, leaving
 * nothing, when the blob is not `digest` or the tar is not `diffId`.
 */
export async function unpackWhole(
  u: Untar,
  blob: Buffer,
  what: string,
  digest: string,
  diffId: string,
  fed: { sent: number; ended?: boolean } = { sent: 0 },
): Promise<UnpackResult | undefined> {
  try {
    // the first `sent` bytes were written as they arrived (all of them, and the end, when `ended`)
    if (!fed.ended) sendToUntar(u, blob.subarray(fed.sent), true);
    const code = await u.exited;
    if (code === 3) {
      removeTreesQuietly(u.tmp);
      return undefined;
    }
    forwardNotes(u.stderr());
    const notTheBlob = (got: string | undefined) =>
      new CtrError(`${what}: blob ${digest} does not match its digest (got ${got}); the registry sent corrupt data`);
    if (code !== 0) {
      // bytes that are not the blob asked for are that, before whatever they fail as
      const got = sha256Digest(blob);
      if (got !== digest) throw notTheBlob(got);
      throw new CtrError(`${what}: ${helperError(u.stderr()).replace(/^untar: /, '')}`);
    }
    let j: { entries?: number; bytes?: number; blob?: string; diffId?: string; diffSize?: number };
    try {
      j = JSON.parse(u.stdout().trim().split('\n').pop() ?? '') as typeof j;
    } catch {
      throw new CtrError(`${what}: ctr-helper untar gave no result`);
    }
    if (j.blob !== digest) throw notTheBlob(j.blob);
    if (j.diffId !== diffId)
      throw new CtrError(`${what}: content does not match the image config (diff ID ${diffId}, got ${j.diffId}); the archive is corrupt`);
    const diffSize = j.diffSize ?? 0;
    return { diffId, diffSize, size: j.bytes || diffSize, entries: j.entries ?? 0, compression: detectCompression(blob.subarray(0, 6)), tmp: u.tmp };
  } catch (e) {
    await abandonUntar(u);
    throw e;
  }
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

/** Most a small layer may unpack to in memory; a larger one is unpacked as a stream. */
const MAX_INFLATED = 64 << 20;

/**
 * unpackLayerStream for a layer held in memory (a small one, already verified): decompressed
 * in one call off the main thread, hashed, and written to the helper in one piece.
 */
export async function unpackLayerBuffer(data: Buffer, what: string, expectDiffId?: string): Promise<UnpackResult> {
  const kind = detectCompression(data.subarray(0, 6));
  let tar: Buffer;
  if (kind === 'none') tar = data;
  else if (kind === 'gzip') {
    try {
      tar = await new Promise<Buffer>((resolve, reject) =>
        zlib.gunzip(data, { maxOutputLength: MAX_INFLATED, chunkSize: 1 << 20 }, (e, out) => (e ? reject(e) : resolve(out))),
      );
    } catch {
      // too large to hold (or corrupt): the stream path copes, and says what is wrong
      return unpackLayerStream(once(data), what, expectDiffId);
    }
  } else return unpackLayerStream(once(data), what, expectDiffId);
  return unpackLayerStream(once(tar), what, expectDiffId);
}

/** Gives an unpacked temp layer its final name; when another process made it first, ours goes. */
export function commitLayer(res: UnpackResult, chainId: string): LayerMeta {
  const meta: LayerMeta = { chainId, diffId: res.diffId, size: res.size, diffSize: res.diffSize, created: new Date().toISOString() };
  writeJsonAtomic(path.join(res.tmp, 'layer.json'), meta);
  const dest = layerPath(chainId);
  try {
    fs.renameSync(res.tmp, dest);
    return meta;
  } catch (e) {
    const code = errnoCode(e);
    if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw e;
  }
  try {
    removeTrees([res.tmp]);
  } catch {
    /* GC */
  }
  return readLayerMeta(chainId) ?? meta;
}

export function readLayerMeta(chainId: string): LayerMeta | undefined {
  try {
    return readJson<LayerMeta>(path.join(layerPath(chainId), 'layer.json'));
  } catch {
    return undefined;
  }
}

/** Moves a verified file into blobs/ under its digest (an existing blob with that digest is kept). */
export function commitBlobFile(file: string, digest: string): void {
  const dest = blobPath(digest);
  if (fs.existsSync(dest)) {
    fs.rmSync(file, { force: true });
    return;
  }
  fs.renameSync(file, dest);
}

/** Writes bytes to blobs/ under their digest (temp + rename). */
export function writeBlob(digest: string, data: Buffer): void {
  const dest = blobPath(digest);
  if (fs.existsSync(dest)) return;
  fs.mkdirSync(blobsDir(), { recursive: true, mode: 0o700 });
  const tmp = path.join(blobsDir(), tempName('.tmp'));
  try {
    fs.writeFileSync(tmp, data, { mode: 0o644 });
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw writeFailure(e, tmp);
  }
  fs.renameSync(tmp, dest);
}

/** The compression of a stored blob, by its magic bytes. */
export function blobCompression(file: string): Compression {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(6);
    const n = fs.readSync(fd, b, 0, 6, 0);
    return detectCompression(b.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
}

/** The uncompressed content of a stored layer blob, as a stream. */
export async function blobTarStream(digest: string): Promise<AsyncIterable<Buffer>> {
  const file = blobPath(digest);
  if (!fs.existsSync(file)) throw new CtrError(`blob ${digest} is missing from the store`);
  const { stream } = await decompressed(fs.createReadStream(file, { highWaterMark: 1 << 20 }));
  return stream;
}

export { peek };
