/**
 * The pull pipeline: reference → manifest (platform picked from an index) → config (verified)
 * → layers, several at once, each streamed in one pass:
 *
 *   registry body ─┬─ sha256 (compressed; must equal the manifest's digest)
 *                  ├─ blobs/.tmp-* (kept as blobs/sha256/<hex>, so push reproduces the digests)
 *                  └─ gunzip / zstd / none ─ sha256 (diff ID; must equal the config's) ─ ctr-helper untar
 *
 * Download, decompression and unpacking overlap; each layer unpacks into its own directory
 * (layers/<chainhex>/diff), so layers do not wait for their parents. Everything is written under
 * temp names owned by this process and protected by a lease; the image is committed last
 * (commitImage, under the store lock). A kill -9 at any moment leaves only temp names and a dead
 * lease, which the next ctr collects; an image that lists is always complete.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RegistryClient, type ClientOptions } from '../registry/client';
import { loadRegistryConfig } from '../registry/config';
import { RegistryError } from '../registry/errors';
import { preloadSpawn } from '../util/helper';
import { context } from '../state/context';
import { CtrError, errnoCode } from '../util/errors';
import { createProgress, humanBytes, progressMode, type Progress } from '../util/progress';
import { goArch, MT } from './archive';
import { chainIds, hexOf, isSha256Digest, Sha256, sha256Digest } from './digest';
import { abandonUntar, commitBlobFile, commitLayer, readLayerMeta, sendToUntar, startUntar, unpackLayerBuffer, unpackLayerStream, unpackWhole, writeBlob, type Untar } from './layers';
import type { PulledImage, PullOptions } from './pull';
import { formatReference, hasExplicitDomain, parseReference, repositoryOf, type Reference } from './reference';
import {
  blobPath,
  blobsDir,
  collectGarbage,
  commitImage,
  ensureStoreDirs,
  Lease,
  readImageMeta,
  storeRoot,
  tempName,
  type BlobDescriptor,
  type ImageLayerMeta,
  type ImageMeta,
} from './store';
import type { ImageConfigBlob, ImageRecord } from './types';

/** Layers fetched at once (CTR_PULL_JOBS overrides). */
const DEFAULT_JOBS = 3;
/** Layers up to this size are fetched whole and unpacked from memory (fewer, larger writes than a stream). */
const SMALL_LAYER = 8 << 20;
/** An image config is held in memory: refuse absurd claims. */
const MAX_CONFIG = 32 << 20;

const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: Platform;
}

interface ImageManifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

class PullError extends CtrError {}

/** `--log-level debug`: where the time of a pull goes (ms since the process started). */
function trace(msg: string): void {
  if (context().logLevel === 'debug') process.stderr.write(`debug: +${performance.now().toFixed(1)} ms pull: ${msg}\n`);
}

function bad(msg: string): never {
  throw new PullError(msg);
}

// ---------------------------------------------------------------- platforms

function hostVariant(arch: string): string | undefined {
  if (arch === 'arm64') return 'v8';
  if (arch === 'arm') return `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}`;
  return undefined;
}

export function parsePlatform(p: string | undefined): Platform {
  if (p === undefined || p === '') {
    const arch = goArch();
    const v = hostVariant(arch);
    return v ? { os: 'linux', architecture: arch, variant: v } : { os: 'linux', architecture: arch };
  }
  const parts = p.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => !/^[a-z0-9_.-]+$/.test(x)))
    bad(`invalid --platform "${p}": use OS/ARCH[/VARIANT], e.g. linux/arm64 or linux/arm/v7`);
  const arch = parts[1] === 'x86_64' ? 'amd64' : parts[1] === 'aarch64' ? 'arm64' : parts[1]!;
  return parts[2] ? { os: parts[0]!, architecture: arch, variant: parts[2] } : { os: parts[0]!, architecture: arch };
}

function platformString(p: Partial<Platform> | undefined): string {
  if (!p) return 'unknown';
  return `${p.os ?? '?'}/${p.architecture ?? '?'}${p.variant ? '/' + p.variant : ''}`;
}

function choosePlatform(list: Descriptor[], want: Platform, explicit: boolean, what: string): Descriptor {
  const usable = list.filter((d) => d.platform && d.platform.os !== 'unknown' && d.platform.architecture !== 'unknown');
  const same = usable.filter((d) => d.platform!.os === want.os && d.platform!.architecture === want.architecture);
  let pick: Descriptor | undefined;
  if (want.variant) {
    pick = same.find((d) => d.platform!.variant === want.variant);
    // arm64's variant is often left out; a host default must not be stricter than the registry
    if (!pick && (!explicit || want.architecture === 'arm64')) pick = same.find((d) => !d.platform!.variant) ?? (!explicit ? same[0] : undefined);
  } else {
    pick = same.find((d) => !d.platform!.variant) ?? same[0];
  }
  if (!pick && !explicit && usable.length === 0 && list.length === 1) pick = list[0];
  if (!pick) {
    const have = [...new Set(usable.map((d) => platformString(d.platform)))].join(', ') || 'none';
    bad(`no image for ${platformString(want)} in the manifest list of ${what} (available: ${have}); choose one with --platform`);
  }
  return pick;
}

// ---------------------------------------------------------------- manifests

function descriptor(raw: unknown, what: string): Descriptor {
  const d = raw as Partial<Descriptor> | null;
  if (typeof d !== 'object' || d === null) bad(`${what} is not a descriptor`);
  if (!isSha256Digest(d.digest)) bad(`${what} has an invalid or unsupported digest ${JSON.stringify(d.digest)}`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) bad(`${what} has an invalid size ${JSON.stringify(d.size)}`);
  const out: Descriptor = { digest: d.digest, size: d.size };
  if (typeof d.mediaType === 'string') out.mediaType = d.mediaType;
  if (d.platform && typeof d.platform === 'object') out.platform = d.platform;
  return out;
}

type Parsed = { kind: 'index'; manifests: Descriptor[] } | { kind: 'image'; manifest: ImageManifest };

function parseManifest(body: Buffer, served: string, what: string): Parsed {
  let j: { schemaVersion?: unknown; mediaType?: unknown; manifests?: unknown; config?: unknown; layers?: unknown; fsLayers?: unknown };
  try {
    j = JSON.parse(body.toString('utf8'));
  } catch {
    bad(`the registry sent a manifest for ${what} that is not valid JSON`);
  }
  if (typeof j !== 'object' || j === null) bad(`the registry sent a manifest for ${what} that is not a JSON object`);
  if (j.schemaVersion === 1 || j.fsLayers !== undefined)
    bad(`${what} has a Docker schema 1 manifest, which is not supported (deprecated since 2017); push it again with a current client`);
  const mt = typeof j.mediaType === 'string' ? j.mediaType : served;
  if (Array.isArray(j.manifests) || mt === MT.ociIndex || mt === MT.dockerList) {
    if (!Array.isArray(j.manifests)) bad(`the manifest list of ${what} has no "manifests" array`);
    return { kind: 'index', manifests: j.manifests.map((m, i) => descriptor(m, `manifest ${i + 1} of the list of ${what}`)) };
  }
  if (j.schemaVersion !== 2) bad(`the manifest of ${what} has an unsupported schemaVersion ${JSON.stringify(j.schemaVersion)}`);
  if (!j.config || !Array.isArray(j.layers)) bad(`the manifest of ${what} is not an image manifest (no config or layers)`);
  const config = descriptor(j.config, `the config descriptor of ${what}`);
  const layers = j.layers.map((l, i) => descriptor(l, `layer ${i + 1} of ${what}`));
  for (const [i, l] of layers.entries()) {
    if (l.mediaType !== undefined && !LAYER_TYPES.has(l.mediaType))
      bad(`layer ${i + 1} of ${what} has the unsupported media type ${l.mediaType} (encrypted or not a filesystem layer)`);
  }
  return { kind: 'image', manifest: { mediaType: mt || MT.ociManifest, config, layers } };
}

function parseConfig(bytes: Buffer, what: string, layers: number): ImageConfigBlob {
  let c: ImageConfigBlob;
  try {
    c = JSON.parse(bytes.toString('utf8')) as ImageConfigBlob;
  } catch {
    bad(`the config of ${what} is not valid JSON`);
  }
  if (typeof c !== 'object' || c === null) bad(`the config of ${what} is not an image configuration`);
  const ids = c.rootfs?.diff_ids;
  if (!Array.isArray(ids)) bad(`the config of ${what} has no rootfs.diff_ids`);
  for (const d of ids) if (!isSha256Digest(d)) bad(`the config of ${what} has an invalid diff ID ${JSON.stringify(d)}`);
  if (ids.length !== layers) bad(`the manifest of ${what} lists ${layers} layers but its config has ${ids.length} diff IDs`);
  return c;
}

// ---------------------------------------------------------------- references

/** The references an input stands for: itself when it names a registry, else one per unqualified-search registry. */
export function candidates(input: string): Reference[] {
  const ref = parseReference(input);
  if (hasExplicitDomain(input)) return [ref];
  const search = loadRegistryConfig().unqualifiedSearch;
  if (!search.length) bad(`short name "${input}" and no unqualified-search registries are configured; use a full name such as docker.io/library/${input}`);
  const namePart = input.split('@')[0]!.replace(/:[^/]*$/, '');
  const short = namePart.includes('/') ? ref.path : ref.path.replace(/^library\//, '');
  return search.map((domain) => {
    const d = domain === 'index.docker.io' ? 'docker.io' : domain;
    const p = d === 'docker.io' && !short.includes('/') ? `library/${short}` : short;
    const r: Reference = { domain: d, path: p };
    if (ref.tag !== undefined) r.tag = ref.tag;
    if (ref.digest !== undefined) r.digest = ref.digest;
    return r;
  });
}

function clientOptions(opts: PullOptions): ClientOptions {
  const o: ClientOptions = { forPull: true };
  if (opts.tlsVerify !== undefined) o.tlsVerify = opts.tlsVerify;
  if (opts.creds !== undefined) {
    const i = opts.creds.indexOf(':');
    if (i <= 0) bad('invalid --creds: use USERNAME:PASSWORD');
    o.credentials = { username: opts.creds.slice(0, i), password: opts.creds.slice(i + 1) };
  }
  return o;
}

// ---------------------------------------------------------------- blobs

async function fetchSmallBlob(
  client: RegistryClient,
  d: Descriptor,
  what: string,
  limit: number,
  opts: { signal?: AbortSignal; onBytes?: (n: number) => void; verify?: boolean; into?: Buffer; onChunk?: (chunk: Buffer) => void } = {},
): Promise<Buffer> {
  if (d.size > limit) throw new PullError(`${what} claims ${humanBytes(d.size)}, more than the ${humanBytes(limit)} allowed; the registry is misbehaving`);
  // one buffer of the announced size, filled (and hashed) as the chunks come
  const body = opts.into ?? Buffer.allocUnsafeSlow(d.size);
  const hash = opts.verify === false ? undefined : new Sha256();
  let n = 0;
  for await (const chunk of client.blob(d.digest, { size: d.size, signal: opts.signal, onBytes: opts.onBytes })) {
    if (n + chunk.length > d.size) bad(`${what} ${d.digest}: the registry sent more than the ${d.size} bytes it claims`);
    chunk.copy(body, n);
    hash?.update(chunk);
    n += chunk.length;
    opts.onChunk?.(chunk);
  }
  if (n !== d.size) bad(`${what} ${d.digest}: the registry sent ${n} bytes, the manifest says ${d.size}`);
  if (hash) checkDigest(body, d.digest, what, hash.digest());
  return body;
}

function checkDigest(body: Buffer, digest: string, what: string, got = sha256Digest(body)): void {
  if (got !== digest) bad(`${what} ${digest} does not match its digest (got ${got}); the registry sent corrupt data`);
}

/** A new file written on the thread pool (callback fs: fs.promises loads a dozen more modules). */
function writeFileAsync(file: string, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => fs.writeFile(file, data, { mode: 0o644, flag: 'wx' }, (e) => (e ? reject(e) : resolve())));
}

/** A write stream whose writes the generator waits for only when its buffer is full. */
function blobWriter(file: string): { write(b: Buffer): Promise<void> | undefined; end(): Promise<void>; destroy(): void } {
  const ws = fs.createWriteStream(file, { flags: 'wx', mode: 0o644, highWaterMark: 1 << 20 });
  let failure: Error | undefined;
  ws.on('error', (e) => (failure = e));
  return {
    write(b) {
      if (failure) throw failure;
      if (ws.write(b)) return undefined;
      return new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          ws.off('error', onError);
          resolve();
        };
        const onError = (e: Error) => {
          ws.off('drain', onDrain);
          reject(e);
        };
        ws.once('drain', onDrain);
        ws.once('error', onError);
      });
    },
    end() {
      return new Promise<void>((resolve, reject) => {
        if (failure) return reject(failure);
        ws.once('error', reject);
        ws.end(() => (failure ? reject(failure) : resolve()));
      });
    },
    destroy() {
      ws.destroy();
    },
  };
}

interface LayerJob {
  index: number;
  count: number;
  desc: Descriptor;
  diffId: string;
  chainId: string;
}

function shortHex(d: string): string {
  return hexOf(d).slice(0, 12);
}

/**
 * A small layer whose download and untar were started as soon as the manifest named it, while
 * the config is still on its way (the config says whether the layer is needed at all).
 */
interface Early {
  body: Promise<Buffer>;
  /** started once the downloads are under way (attachUntar) */
  untar?: Untar;
  ac: AbortController;
  /** bytes so far, until the progress has a row for the layer */
  bytes: number;
  onBytes?: (n: number) => void;
  /** the layer's buffer, bytes in it, how many of those the untar has, and whether it has them all */
  buf: Buffer;
  filled: number;
  sent: number;
  ended: boolean;
  downloaded: boolean;
}

function startEarly(client: RegistryClient, d: Descriptor): Early {
  const ac = new AbortController();
  const e: Early = { body: Promise.resolve(Buffer.alloc(0)), ac, bytes: 0, buf: Buffer.allocUnsafeSlow(d.size), filled: 0, sent: 0, ended: false, downloaded: false };
  e.body = fetchSmallBlob(client, d, 'blob', SMALL_LAYER, {
    signal: ac.signal,
    onBytes: (k) => (e.onBytes ? e.onBytes(k) : (e.bytes += k)),
    verify: false, // ctr-helper untar --whole hashes it
    into: e.buf,
    onChunk: (chunk) => {
      e.filled += chunk.length;
      if (e.untar) feed(e.untar, chunk, e);
    },
  });
  e.body.then(
    () => {
      // the helper inflates and unpacks it while the config may still be on its way
      e.downloaded = true;
      if (e.untar) endFeed(e);
    },
    () => undefined, // awaited by fetchLayer, or dropped by dropEarly
  );
  trace(`layer ${shortHex(d.digest)}: early start`);
  return e;
}

/** Writes to a whole-blob untar as the bytes come (the helper hashes them meanwhile). */
function feed(u: Untar, chunk: Buffer, e: { sent: number }): void {
  sendToUntar(u, chunk);
  e.sent += chunk.length;
}

/** Starts an early layer's untar and gives it what has arrived so far. */
function attachUntar(e: Early): void {
  e.untar = startUntar({ whole: true });
  if (e.filled > e.sent) feed(e.untar, e.buf.subarray(e.sent, e.filled), e);
  if (e.downloaded) endFeed(e);
}

/** The whole (verified by the helper) blob is there: the untar gets the rest and its end. */
function endFeed(e: Early): void {
  if (e.ended) return;
  e.ended = true;
  sendToUntar(e.untar!, e.buf.subarray(e.sent, e.filled), true);
  e.sent = e.filled;
}

async function dropEarly(e: Early): Promise<void> {
  e.ac.abort();
  await e.body.catch(() => undefined);
  if (e.untar) await abandonUntar(e.untar);
}

/** Downloads (or reads from blobs/) one layer, verifying both digests, and commits it. */
async function fetchLayer(client: RegistryClient, job: LayerJob, progress: Progress, signal: AbortSignal, early?: Early): Promise<ImageLayerMeta> {
  const { desc } = job;
  const what = `layer ${job.index + 1} of ${job.count} (${shortHex(desc.digest)})`;
  const key = desc.digest;
  const blob: BlobDescriptor = { digest: desc.digest, size: desc.size, mediaType: desc.mediaType ?? 'application/vnd.oci.image.layer.v1.tar+gzip' };
  const have = !early && fs.existsSync(blobPath(desc.digest));
  if (!have && desc.size <= SMALL_LAYER) {
    // small: downloaded whole and verified, kept, then unpacked from memory
    trace(`${what}: start (whole${early ? ', started early' : ''})`);
    if (early && !early.untar) attachUntar(early);
    const untar = early?.untar ?? startUntar({ whole: true });
    const fed = early ?? { sent: 0 };
    let body: Buffer;
    try {
      if (early) {
        progress.add(key, early.bytes);
        early.onBytes = (k) => progress.add(key, k);
        const onAbort = () => early.ac.abort();
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          body = await early.body;
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
      } else
        body = await fetchSmallBlob(client, desc, `blob`, SMALL_LAYER, {
          signal,
          onBytes: (k) => progress.add(key, k),
          verify: false, // ctr-helper untar --whole hashes it
          onChunk: (chunk) => feed(untar, chunk, fed),
        });
    } catch (e) {
      await abandonUntar(untar);
      throw e;
    }
    trace(`${what}: downloaded (${body.length} bytes)`);
    // kept under a temp name while it unpacks (written meanwhile on the thread pool); both
    // get their names only when the layer is good
    const tmp = path.join(blobsDir(), tempName('.tmp'));
    const kept = writeFileAsync(tmp, body);
    kept.catch(() => undefined); // awaited below
    let res;
    try {
      // the helper inflates, hashes and unpacks it; when it cannot take it whole, it is
      // checked and unpacked here
      res = await unpackWhole(untar, body, what, desc.digest, job.diffId, fed);
      if (!res) {
        checkDigest(body, desc.digest, 'blob');
        res = await unpackLayerBuffer(body, what, job.diffId);
      }
      await kept;
    } catch (e) {
      await kept.catch(() => undefined);
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    trace(`${what}: unpacked`);
    commitBlobFile(tmp, desc.digest);
    const meta = commitLayer(res, job.chainId);
    progress.finish(key, 'done');
    return { ...meta, blob };
  }
  const tmpBlob = have ? undefined : path.join(blobsDir(), tempName('.tmp'));
  const out = tmpBlob ? blobWriter(tmpBlob) : undefined;
  const source: AsyncIterable<Buffer> = have
    ? fs.createReadStream(blobPath(desc.digest), { highWaterMark: 1 << 20 })
    : client.blob(desc.digest, { size: desc.size, signal, onBytes: (n) => progress.add(key, n) });
  const hash = createHash('sha256');
  let n = 0;
  const tee = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      if (signal.aborted) throw new PullError('aborted');
      n += chunk.length;
      if (n > desc.size) bad(`blob ${desc.digest}: the registry sent more than the ${desc.size} bytes the manifest says`);
      hash.update(chunk);
      if (out) {
        const w = out.write(chunk);
        if (w) await w;
      }
      yield chunk;
    }
    if (n !== desc.size) bad(`blob ${desc.digest}: got ${n} bytes, the manifest says ${desc.size}`);
    trace(`${what}: ${have ? 'read from the store' : 'downloaded'} (${n} bytes; the unpacking follows it)`);
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== desc.digest) bad(`blob ${desc.digest} does not match its digest (got ${got}); the registry sent corrupt data`);
  };
  try {
    trace(`${what}: start`);
    const res = await unpackLayerStream(tee(), what, job.diffId);
    trace(`${what}: unpacked (${n} bytes)`);
    if (out) {
      await out.end();
      commitBlobFile(tmpBlob!, desc.digest);
    }
    const meta = commitLayer(res, job.chainId);
    trace(`${what}: committed`);
    progress.finish(key, 'done');
    return { ...meta, blob };
  } catch (e) {
    out?.destroy();
    if (tmpBlob) fs.rmSync(tmpBlob, { force: true });
    throw e;
  }
}

/** Runs `fn` over `items` with at most `jobs` at once; the first failure aborts the rest. */
async function pool<T, R>(items: T[], jobs: number, fn: (item: T, signal: AbortSignal) => Promise<R>): Promise<R[]> {
  const ac = new AbortController();
  const results: R[] = new Array(items.length);
  let next = 0;
  let firstError: unknown;
  const worker = async () => {
    while (!ac.signal.aborted) {
      const i = next++;
      if (i >= items.length) return;
      try {
        results[i] = await fn(items[i]!, ac.signal);
      } catch (e) {
        if (firstError === undefined) firstError = e;
        ac.abort();
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
  if (firstError !== undefined) throw firstError;
  return results;
}

function jobs(): number {
  const v = Number(process.env.CTR_PULL_JOBS);
  return Number.isInteger(v) && v >= 1 && v <= 16 ? v : DEFAULT_JOBS;
}

// ---------------------------------------------------------------- errors

function friendly(e: unknown, ref: string): CtrError {
  const msg = (e as Error)?.message ?? String(e);
  const code = errnoCode(e);
  if (code === 'ENOSPC' || /no space left on device|ENOSPC/i.test(msg))
    return new CtrError(`cannot pull ${ref}: no space left on the device holding the image store (${storeRoot()}); free some space (ctr image prune -a) and pull again`);
  if (code === 'EDQUOT' || /quota exceeded/i.test(msg))
    return new CtrError(`cannot pull ${ref}: disk quota exceeded on the image store (${storeRoot()}); free some space and pull again`);
  const line = msg.split('\n')[0]!;
  // every error names what was pulled (a `run` that pulls says which image failed)
  const named = line.includes(ref) || line.includes(ref.split('@')[0]!.split(':')[0]!);
  if (e instanceof CtrError) return named ? e : new CtrError(`cannot pull ${ref}: ${line}`, e.exitCode);
  return new CtrError(`cannot pull ${ref}: ${line}`);
}

/** Refuses a pull that cannot fit before writing anything. */
function checkSpace(bytes: number, ref: string): void {
  if (bytes <= 0) return;
  let free: number;
  try {
    const st = fs.statfsSync(storeRoot());
    free = st.bavail * st.bsize;
  } catch {
    return;
  }
  if (bytes > free)
    throw new CtrError(
      `cannot pull ${ref}: it needs at least ${humanBytes(bytes)} and the device holding the image store (${storeRoot()}) has ${humanBytes(free)} free; free some space and pull again`,
    );
}

// ---------------------------------------------------------------- pull

interface Target {
  ref: Reference;
  client: RegistryClient;
}

async function pullResolved(t: Target, opts: PullOptions, progress: Progress, platform: Platform): Promise<PulledImage> {
  const { ref, client } = t;
  const repo = repositoryOf(ref);
  const shown = formatReference(ref);
  const wanted = ref.digest ?? ref.tag ?? 'latest';
  // Layers are unpacked by spawned helpers: what spawning needs is loaded before the first
  // connection makes undici's parser, after which Node's built-in modules load without their
  // code cache (see llhttp in scripts/build.mjs).
  preloadSpawn();
  trace(`manifest request ${shown}`);
  const top = await client.getManifest(wanted);
  trace(`manifest ${top.digest} (${top.mediaType})`);
  // said once the registry answered: a pull that fails at once prints its one error line only
  progress.line(`Trying to pull ${formatReference(ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: 'latest' } : ref)}...`);
  const repoDigests = [`${repo}@${top.digest}`];
  let parsed = parseManifest(top.body, top.mediaType, shown);
  let manBody = top.body;
  let manDigest = top.digest;
  let manType = top.mediaType;
  if (parsed.kind === 'index') {
    const pick = choosePlatform(parsed.manifests, platform, opts.platform !== undefined && opts.platform !== '', shown);
    const inner = await client.getManifest(pick.digest);
    if (inner.digest !== pick.digest) bad(`manifest ${pick.digest} of ${shown} does not match its digest (got ${inner.digest})`);
    parsed = parseManifest(inner.body, inner.mediaType, `${shown} (${platformString(pick.platform)})`);
    if (parsed.kind !== 'image') bad(`the manifest list of ${shown} points to another list; nested lists are not supported`);
    manBody = inner.body;
    manDigest = inner.digest;
    manType = inner.mediaType;
    repoDigests.push(`${repo}@${inner.digest}`);
  }
  const man = parsed.manifest;
  const id = man.config.digest;
  progress.line('Getting image source signatures');

  ensureStoreDirs();
  const lease = new Lease();
  // The config of an image already here is read from the store (the config blob that a
  // concurrent GC might remove meanwhile is fetched again by the commit loop below).
  const existing = readImageMeta(id);
  const early = new Map<string, Early>();
  try {
    let config: ImageConfigBlob;
    let configBytes: Buffer | undefined;
    if (existing) {
      config = existing.config;
      if (config.rootfs.diff_ids.length !== man.layers.length) bad(`the manifest of ${shown} lists ${man.layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff IDs`);
    } else {
      const configP = fetchSmallBlob(client, man.config, 'the config blob', MAX_CONFIG);
      configP.catch(() => undefined); // awaited below
      // Small layers whose blobs are not here start downloading now, while the config comes
      // (a round trip less), bounded by the number of parallel layers; their untar helpers
      // start once the requests are out.
      for (const l of man.layers)
        if (early.size < jobs() && l.size <= SMALL_LAYER && !early.has(l.digest) && !fs.existsSync(blobPath(l.digest))) early.set(l.digest, startEarly(client, l));
      if (early.size) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        for (const e of early.values()) if (!e.untar) attachUntar(e);
      }
      configBytes = await configP;
      config = parseConfig(configBytes, shown, man.layers.length);
    }
    trace('config ready');
    const chains = chainIds(config.rootfs.diff_ids);
    // Protect what we will use before looking at what is there (GC of another ctr runs under
    // the lock): one lease write for the blobs and the layers.
    lease.add({ blobs: [id, manDigest, ...man.layers.map((l) => l.digest)], layers: chains });

    const metas: (ImageLayerMeta | undefined)[] = new Array(man.layers.length);
    const todo: LayerJob[] = [];
    for (const [k, l] of man.layers.entries()) {
      const chainId = chains[k]!;
      const lm = readLayerMeta(chainId);
      const blob: BlobDescriptor = { digest: l.digest, size: l.size, mediaType: l.mediaType ?? 'application/vnd.oci.image.layer.v1.tar+gzip' };
      if (lm) {
        // present: the blob file is recorded only when we have it (a layer from `load` may have come in another compression)
        metas[k] = fs.existsSync(blobPath(l.digest)) ? { ...lm, blob } : { ...lm };
        progress.start(l.digest, `Copying blob ${l.digest}`, l.size);
        progress.finish(l.digest, 'skipped: already exists');
      } else {
        todo.push({ index: k, count: man.layers.length, desc: l, diffId: config.rootfs.diff_ids[k]!, chainId });
      }
    }
    checkSpace(todo.reduce((s, j) => s + (fs.existsSync(blobPath(j.desc.digest)) ? 0 : j.desc.size), 0), shown);
    for (const j of todo) progress.start(j.desc.digest, `Copying blob ${j.desc.digest}`, j.desc.size);
    // an early download the config shows unneeded (the layer is here) goes now
    const wanted = new Set(todo.map((j) => j.desc.digest));
    for (const [digest, e] of early)
      if (!wanted.has(digest)) {
        early.delete(digest);
        await dropEarly(e);
      }
    const fetched = await pool(todo, jobs(), (j, signal) => {
      const e = early.get(j.desc.digest);
      early.delete(j.desc.digest); // one layer per early download (a digest may repeat)
      return fetchLayer(client, j, progress, signal, e);
    });
    todo.forEach((j, i) => (metas[j.index] = fetched[i]));
    trace('layers done');

    progress.start(id, `Copying config ${id}`, man.config.size);
    progress.finish(id, 'done');
    progress.line('Writing manifest to image destination');
    if (configBytes) writeBlob(id, configBytes);
    writeBlob(manDigest, manBody);
    const layers = metas as ImageLayerMeta[];
    const meta: ImageMeta = {
      schemaVersion: 1,
      id,
      config,
      configBlob: { mediaType: man.config.mediaType ?? MT.ociConfig, digest: id, size: man.config.size },
      manifest: { mediaType: man.mediaType || manType, digest: manDigest, size: manBody.length },
      layers,
      repoDigests,
      loaded: new Date().toISOString(),
      size: layers.reduce((s, l) => s + (l.diffSize ?? l.size), 0),
    };
    const names = ref.digest === undefined ? [formatReference({ ...ref, tag: ref.tag ?? 'latest' })] : [];
    for (let attempt = 0; ; attempt++) {
      const r = commitImage(meta, names);
      if (!r.missingLayers.length && !r.missingBlobs.length) break;
      if (attempt >= 2) throw new CtrError(`the image store changed while pulling ${shown} (layers removed by another ctr); pull again`);
      if (r.missingBlobs.includes(id) && !configBytes) {
        configBytes = await fetchSmallBlob(client, man.config, 'the config blob', MAX_CONFIG);
        writeBlob(id, configBytes);
      }
      if (r.missingBlobs.includes(manDigest)) writeBlob(manDigest, manBody);
      // layers (or their blobs) removed meanwhile: fetch those again
      const again = man.layers
        .map((l, k) => ({ index: k, count: man.layers.length, desc: l, diffId: config.rootfs.diff_ids[k]!, chainId: chains[k]! }))
        .filter((j) => r.missingLayers.includes(j.chainId) || (layers[j.index]!.blob && r.missingBlobs.includes(j.desc.digest)));
      for (const j of again) {
        if (readLayerMeta(j.chainId) && !fs.existsSync(blobPath(j.desc.digest))) {
          // the layer is there but its blob went: record the layer without it
          const { blob: _b, ...rest } = layers[j.index]!;
          layers[j.index] = rest;
          continue;
        }
        progress.start(j.desc.digest, `Copying blob ${j.desc.digest}`, j.desc.size);
        layers[j.index] = await fetchLayer(client, j, progress, new AbortController().signal);
      }
    }
    trace('image committed');
    return { id, name: names[0] ?? `${repo}@${top.digest}`, digest: top.digest };
  } finally {
    // early downloads no layer took (a failure before the layers ran)
    for (const e of early.values()) await dropEarly(e);
    lease.release();
  }
}

function wantsNextCandidate(e: unknown): boolean {
  return e instanceof RegistryError && ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN', 'UNAUTHORIZED', 'DENIED', 'CONNECTION', 'TLS'].includes(e.code);
}

/** Resolves the input to a registry that has it (unqualified-search registries in order). */
async function pullOne(input: string, opts: PullOptions, progress: Progress, platform: Platform): Promise<PulledImage> {
  const refs = candidates(input);
  const copts = clientOptions(opts);
  const errors: { ref: Reference; e: unknown }[] = [];
  for (const ref of refs) {
    const client = new RegistryClient(ref.domain, ref.path, copts);
    try {
      return await pullResolved({ ref, client }, opts, progress, platform);
    } catch (e) {
      if (refs.length > 1 && wantsNextCandidate(e)) {
        errors.push({ ref, e });
        continue;
      }
      throw e;
    }
  }
  if (errors.length === 1) throw errors[0]!.e;
  throw new CtrError(
    `cannot pull ${input} from any unqualified-search registry: ${errors.map((x) => `${x.ref.domain}: ${(x.e as Error).message}`).join('; ')}`,
  );
}

/** `ctr pull` and the pull of `run --pull`. */
export async function pull(input: string, opts: PullOptions): Promise<PulledImage[]> {
  const out = opts.progressStream ?? process.stderr;
  const progress = createProgress(out, progressMode(out, opts.quiet === true));
  const platform = parsePlatform(opts.platform);
  try {
    collectGarbage();
    if (!opts.allTags) return [await pullOne(input, opts, progress, platform)];
    const base = parseReference(input);
    if (base.tag !== undefined || base.digest !== undefined) bad(`--all-tags takes a repository without a tag or digest, not "${input}"`);
    const refs = candidates(input);
    let lastError: unknown;
    for (const ref of refs) {
      const client = new RegistryClient(ref.domain, ref.path, clientOptions(opts));
      let tags: string[];
      try {
        tags = await client.listTags();
      } catch (e) {
        lastError = e;
        if (refs.length > 1 && wantsNextCandidate(e)) continue;
        throw e;
      }
      if (!tags.length) bad(`${repositoryOf(ref)} has no tags`);
      const res: PulledImage[] = [];
      for (const tag of tags) {
        const r: Reference = { domain: ref.domain, path: ref.path, tag };
        res.push(await pullResolved({ ref: r, client }, opts, progress, platform));
      }
      return res;
    }
    throw lastError;
  } catch (e) {
    // layers this pull committed before it failed are referenced by no image
    try {
      collectGarbage({ always: true });
    } catch {
      /* the next sweep */
    }
    throw friendly(e, input);
  } finally {
    progress.close();
  }
}

/** `--pull newer`: does the registry serve another manifest than the local image's for `input`? */
export async function remoteDiffers(input: string, local: ImageRecord, opts: PullOptions): Promise<boolean> {
  const ref = candidates(input)[0]!;
  const client = new RegistryClient(ref.domain, ref.path, clientOptions(opts));
  const head = await client.headManifest(ref.digest ?? ref.tag ?? 'latest');
  if (!head) return true;
  const repo = repositoryOf(ref);
  return !(local.repoDigests.includes(`${repo}@${head.digest}`) || local.digest === head.digest);
}

