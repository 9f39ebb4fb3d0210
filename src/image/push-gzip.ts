/**
 * Layer compression for commit and push: a tar stream becomes a gzip blob in blobs/.
 *
 * The input is cut into fixed 4 MiB pieces that are deflated in parallel on libuv's thread
 * pool and written in order as consecutive gzip members (RFC 1952 allows several members
 * in one file; Go's, zlib's and Python's readers read them as one stream). The output depends
 * only on the input bytes, the piece size and the level, so compressing the same layer again
 * gives the same digest.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { CtrError, writeFailure } from '../util/errors';
import { helperError, helperExit, spawnHelper } from '../util/helper';
import { commitBlobFile } from './layers';
import { blobsDir, ensureStoreDirs, tempName, type BlobDescriptor } from './store';

const PIECE = 4 << 20;
/**
 * zlib level for the layers ctr compresses (commit, first push of a plain layer). Measured on
 * the Debian minbase layer (128 MB of tar): level 1 takes ~0.97 s of CPU for 53.2 MB, level 3
 * ~1.13 s for 51.8 MB (+2.6% bytes for -15% CPU), the default 6 about twice level 3's time.
 * Compression is what a first push waits for, so 1. CTR_GZIP_LEVEL (1-9) overrides it.
 */
export const GZIP_LEVEL = ((): number => {
  const v = Number(process.env.CTR_GZIP_LEVEL);
  return Number.isInteger(v) && v >= 1 && v <= 9 ? v : 1;
})();

/** Read size that hands the compressor whole pieces (no copy into a piece buffer). */
export const PIECE_SIZE = PIECE;

/**
 * One piece, deflated on the thread pool with 1 MiB output buffers (zlib's default 16 KiB
 * made the job come back to the main thread for every 16 KiB of output: ~20% of a push's
 * CPU went to that).
 */
function gzipPiece(buf: Buffer, level: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    zlib.gzip(buf, { level, chunkSize: 1 << 20 }, (err, out) => (err ? reject(err) : resolve(out))),
  );
}

export interface CompressResult {
  /** the gzip blob */
  blob: BlobDescriptor;
  /** sha256 of the uncompressed input (undefined: not hashed again, see compressFile) */
  diffId: string | undefined;
  diffSize: number;
}

/**
 * A push-based compressor writing a gzip blob: write() the uncompressed bytes (await each
 * call: it applies back-pressure), then finish(). abort() removes the temp file.
 */
export class BlobCompressor {
  private readonly tmp: string;
  private fh: fs.promises.FileHandle | undefined;
  private readonly outHash = createHash('sha256');
  private readonly inHash = createHash('sha256');
  private outSize = 0;
  private inSize = 0;
  private pending: Buffer[] = [];
  private pendingSize = 0;
  private readonly inflight: Promise<Buffer>[] = [];
  private readonly width = Math.max(2, Math.min(8, availableParallelism() + 1));
  private done = false;

  /** `onPiece` sees each compressed piece, in order, as it is written (a streamed upload). */
  constructor(
    private readonly level = GZIP_LEVEL,
    private readonly onPiece?: (z: Buffer) => Promise<void> | void,
  ) {
    ensureStoreDirs();
    this.tmp = path.join(blobsDir(), tempName('.tmp'));
  }

  private async flushOne(): Promise<void> {
    const z = await this.inflight.shift()!;
    this.outHash.update(z);
    this.outSize += z.length;
    try {
      this.fh ??= await fs.promises.open(this.tmp, 'w', 0o644);
    } catch (e) {
      throw writeFailure(e, this.tmp);
    }
    if (this.onPiece) await Promise.all([this.writeOut(z), this.onPiece(z)]);
    else await this.writeOut(z);
  }

  /** All of z (a full disk shows first as a short write), errors naming the file. */
  private async writeOut(z: Buffer): Promise<void> {
    try {
      for (let off = 0; off < z.length; ) off += (await this.fh!.write(z, off, z.length - off)).bytesWritten;
    } catch (e) {
      throw writeFailure(e, this.tmp);
    }
  }

  private async piece(p: Buffer): Promise<void> {
    const job = gzipPiece(p, this.level);
    job.catch(() => {}); // awaited in order by flushOne
    this.inflight.push(job);
    if (this.inflight.length >= this.width) await this.flushOne();
  }

  async write(chunk: Buffer): Promise<void> {
    this.inHash.update(chunk);
    this.inSize += chunk.length;
    let b = chunk;
    // whole pieces straight from the caller's buffer (reads of PIECE_SIZE): no copy
    while (this.pendingSize === 0 && b.length >= PIECE) {
      await this.piece(b.subarray(0, PIECE));
      b = b.subarray(PIECE);
    }
    while (b.length) {
      const take = Math.min(PIECE - this.pendingSize, b.length);
      this.pending.push(b.subarray(0, take));
      this.pendingSize += take;
      b = b.subarray(take);
      if (this.pendingSize === PIECE) {
        const p = Buffer.concat(this.pending, PIECE);
        this.pending = [];
        this.pendingSize = 0;
        await this.piece(p);
      }
    }
  }

  /**
   * Completes the blob and moves it into blobs/ under its digest; `beforeCommit` runs just
   * before (to lease the digest against a concurrent garbage collection).
   */
  async finish(beforeCommit?: (digest: string) => void): Promise<CompressResult> {
    if (this.pendingSize || this.inSize === 0) await this.piece(Buffer.concat(this.pending, this.pendingSize));
    this.pending = [];
    while (this.inflight.length) await this.flushOne();
    this.fh ??= await fs.promises.open(this.tmp, 'w', 0o644);
    await this.fh.close();
    this.fh = undefined;
    const digest = `sha256:${this.outHash.digest('hex')}`;
    beforeCommit?.(digest);
    commitBlobFile(this.tmp, digest);
    this.done = true;
    return {
      blob: { digest, size: this.outSize, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
      diffId: `sha256:${this.inHash.digest('hex')}`,
      diffSize: this.inSize,
    };
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await Promise.allSettled(this.inflight);
    await this.fh?.close().catch(() => {});
    fs.rmSync(this.tmp, { force: true });
  }
}

/**
 * Compresses a whole stream into a gzip blob; `onBytes` sees the uncompressed bytes consumed,
 * `onPiece` each compressed piece as it is written.
 */
export async function compressToBlob(
  src: AsyncIterable<Buffer>,
  opts: { level?: number; onBytes?: (n: number) => void; onPiece?: (z: Buffer) => Promise<void> | void; beforeCommit?: (digest: string) => void } = {},
): Promise<CompressResult> {
  const c = new BlobCompressor(opts.level, opts.onPiece);
  try {
    for await (const b of src) {
      await c.write(b);
      opts.onBytes?.(b.length);
    }
    return await c.finish(opts.beforeCommit);
  } catch (e) {
    await c.abort();
    throw e;
  }
}

export interface CompressFileOptions {
  level?: number;
  /** each compressed chunk, in order, as it is written (a streamed upload) */
  onPiece?: (z: Buffer) => Promise<void> | void;
  /** compressed bytes produced */
  onBytes?: (n: number) => void;
  beforeCommit?: (digest: string) => void;
}

/**
 * Compresses a stored plain layer file (blobs/sha256/<diff ID>) into a gzip blob in blobs/.
 * `ctr-helper gzip` (libdeflate, the pieces deflated on every CPU) does it when the helper has
 * it, about twice as fast as zlib; otherwise, or with CTR_GZIP_NATIVE=0, Node's zlib
 * (BlobCompressor). Both cut the input in PIECE_SIZE members.
 *
 * The helper's path does not hash the input again (diffId undefined, diffSize from the file):
 * on two CPUs that hash was a tenth of a push's CPU, and the file is named by that very digest
 * (written verified by load, pull or commit).
 */
export async function compressFile(file: string, opts: CompressFileOptions = {}): Promise<CompressResult> {
  const level = opts.level ?? GZIP_LEVEL;
  const onPiece = (z: Buffer) => {
    opts.onBytes?.(z.length);
    return opts.onPiece?.(z);
  };
  if (process.env.CTR_GZIP_NATIVE !== '0') {
    const res = await compressFileNative(file, level, onPiece, opts.beforeCommit);
    if (res) return res;
  }
  return compressToBlob(fs.createReadStream(file, { highWaterMark: PIECE }) as AsyncIterable<Buffer>, { level, onPiece, beforeCommit: opts.beforeCommit });
}

/** The helper's answer when it was built without libdeflate. */
const NOT_BUILT_IN = /gzip: not built in/;

async function compressFileNative(
  file: string,
  level: number,
  onPiece: (z: Buffer) => Promise<void> | void,
  beforeCommit?: (digest: string) => void,
): Promise<CompressResult | undefined> {
  ensureStoreDirs();
  const size = fs.statSync(file).size;
  const tmp = path.join(blobsDir(), tempName('.tmp'));
  // the helper writes the blob itself and says how far it got after each member: the new
  // bytes are read back from the file (page cache) in a few large reads, hashed and sent
  const child = spawnHelper(['gzip', '--level', String(level), '--piece', String(PIECE), '--output', tmp, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const { exited, stderr } = helperExit(child);
  const outHash = createHash('sha256');
  let outSize = 0;
  let fh: fs.promises.FileHandle | undefined;
  let committed = false;
  try {
    let partial = '';
    for await (const text of child.stdout!.setEncoding('latin1') as AsyncIterable<string>) {
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      const end = lines.length ? Number(lines[lines.length - 1]) : outSize;
      if (!Number.isSafeInteger(end) || end < outSize) throw new CtrError(`ctr-helper gzip: unexpected output ${JSON.stringify(lines.join(' '))}`);
      if (end === outSize) continue;
      fh ??= await fs.promises.open(tmp, 'r');
      const z = Buffer.allocUnsafe(end - outSize);
      const { bytesRead } = await fh.read(z, 0, z.length, outSize);
      if (bytesRead !== z.length) throw new CtrError(`ctr-helper gzip: ${tmp} is shorter than it said`);
      outHash.update(z);
      outSize = end;
      await onPiece(z);
    }
    const code = await exited;
    if (code !== 0) {
      if (outSize === 0 && NOT_BUILT_IN.test(stderr())) return undefined;
      throw new CtrError(helperError(stderr()));
    }
    await fh?.close();
    fh = undefined;
    const digest = `sha256:${outHash.digest('hex')}`;
    beforeCommit?.(digest);
    commitBlobFile(tmp, digest);
    committed = true;
    return { blob: { digest, size: outSize, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }, diffId: undefined, diffSize: size };
  } finally {
    if (!committed) {
      child.kill('SIGKILL');
      await fh?.close().catch(() => undefined);
      fs.rmSync(tmp, { force: true });
    }
  }
}

/**
 * A bounded hand-over of byte chunks from one producer (push, await it: back-pressure past
 * `max` bytes queued) to one consumer (for await). end() or fail(e) close it; discard() makes
 * every later push a no-op (the consumer is gone).
 */
export class ByteChannel implements AsyncIterable<Buffer> {
  private q: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private error: unknown;
  private discarding = false;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(private readonly max = 16 << 20) {}

  private wake(which: 'consumer' | 'producer'): void {
    const f = which === 'consumer' ? this.wakeConsumer : this.wakeProducer;
    if (which === 'consumer') this.wakeConsumer = undefined;
    else this.wakeProducer = undefined;
    f?.();
  }

  async push(b: Buffer): Promise<void> {
    if (this.discarding || this.ended || this.error !== undefined) return;
    this.q.push(b);
    this.bytes += b.length;
    this.wake('consumer');
    while (this.bytes > this.max && !this.discarding) await new Promise<void>((r) => (this.wakeProducer = r));
  }

  end(): void {
    this.ended = true;
    this.wake('consumer');
  }

  fail(e: unknown): void {
    this.error = e ?? new Error('failed');
    this.wake('consumer');
  }

  discard(): void {
    this.discarding = true;
    this.q = [];
    this.bytes = 0;
    this.wake('producer');
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.error !== undefined) throw this.error;
      const b = this.q.shift();
      if (b) {
        this.bytes -= b.length;
        if (this.bytes <= this.max) this.wake('producer');
        yield b;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wakeConsumer = r));
    }
  }
}
