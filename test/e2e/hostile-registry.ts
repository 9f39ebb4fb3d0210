/**
 * A registry that misbehaves on purpose (plain HTTP, anonymous), for the pull tests. It serves
 * the distribution API's read side (`/v2/`, manifests, blobs, tags) for a fixed set of
 * repositories built in memory from the fixture layers:
 *
 *   good/busybox, good/layered      well-formed OCI images (gzip layers)
 *   bad/blob-digest                 the layer's bytes do not match its digest (one byte flipped)
 *   bad/truncated-gzip              a layer that is a gzip stream cut in half (digest of what is sent)
 *   bad/not-json                    the manifest is not JSON
 *   bad/schema1                     a Docker schema 1 manifest
 *   bad/huge-config                 the config descriptor claims 4 GiB
 *   bad/huge-layer                  a layer descriptor claims 4 GiB (the bytes are the real, small ones)
 *   bad/disk-size                   a layer descriptor claims 1 PiB
 *   bad/redirect-loop               every blob request redirects to itself (with a new query)
 *   bad/traversal, bad/hardlink     layers with ../ names / hard links out of the layer
 *   bad/platform                    an index with only linux/s390x and linux/mips64le
 *   flaky/busybox                   blob GETs answer 503 twice, then work
 *   drop/busybox                    the first layer GET sends half the bytes and drops the connection
 *                                   (a request with Range gets the rest: 206)
 *   slow/layered                    blobs sent at about `slowBytesPerSec` (for kill tests)
 *
 * `requests` records every request (method, path, Range header).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import { fixturePath, fixtures } from './lib';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER_GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
const LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Manifest {
  body: Buffer;
  mediaType: string;
}

interface Repo {
  manifests: Map<string, Manifest>;
  blobs: Map<string, Buffer>;
  /** return true when the request was answered */
  blobHook?: (req: http.IncomingMessage, res: http.ServerResponse, digest: string, data: Buffer) => boolean;
  manifestHook?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export interface RequestLog {
  method: string;
  path: string;
  range?: string;
}

export interface HostileRegistry {
  /** 127.0.0.1:PORT (plain HTTP) */
  host: string;
  requests: RequestLog[];
  /** bytes per second for slow/* blobs */
  slowBytesPerSec: number;
  /** digests of the layers of a repo's image (tag latest) */
  layerDigests(repo: string): string[];
  /** manifest digest of repo:latest */
  manifestDigest(repo: string): string;
  /** image ID (config digest) of repo:latest */
  configDigest(repo: string): string;
  stop(): Promise<void>;
}

interface LayerSpec {
  /** bytes as sent */
  blob: Buffer;
  mediaType: string;
  diffId: string;
  /** override the size the manifest claims */
  claimedSize?: number;
  /** override the digest the manifest claims */
  claimedDigest?: string;
}

function gzLayer(tar: Buffer): LayerSpec {
  return { blob: zlib.gzipSync(tar, { level: 1 }), mediaType: LAYER_GZ, diffId: sha(tar) };
}

function buildImage(layers: LayerSpec[], opts: { configSize?: number; arch?: string } = {}): { repo: Repo; manifest: Manifest; config: Buffer } {
  const arch = opts.arch ?? ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      created: '2025-01-01T00:00:00Z',
      config: { Cmd: ['sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created: '2025-01-01T00:00:00Z', created_by: 'hostile-registry' })),
    }),
  );
  const blobs = new Map<string, Buffer>();
  blobs.set(sha(config), config);
  for (const l of layers) blobs.set(l.claimedDigest ?? sha(l.blob), l.blob);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha(config), size: opts.configSize ?? config.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.claimedDigest ?? sha(l.blob), size: l.claimedSize ?? l.blob.length })),
    }),
  );
  const m: Manifest = { body: manifest, mediaType: OCI_MANIFEST };
  const repo: Repo = { manifests: new Map([['latest', m], [sha(manifest), m]]), blobs };
  return { repo, manifest: m, config };
}

function readLayer(rel: string): Buffer {
  return fs.readFileSync(fixturePath(rel));
}

function sendBlob(res: http.ServerResponse, data: Buffer, head: boolean): void {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length, 'Docker-Content-Digest': sha(data) });
  res.end(head ? undefined : data);
}

export async function startHostileRegistry(): Promise<HostileRegistry> {
  const fx = fixtures();
  const repos = new Map<string, Repo>();
  const busyboxTar = readLayer(fx.images.busybox.files.layers[0]!);
  const busybox = () => gzLayer(busyboxTar);
  const layered = () => fx.images.layered.files.layers.map((l) => gzLayer(readLayer(l)));

  repos.set('good/busybox', buildImage([busybox()]).repo);
  repos.set('good/layered', buildImage(layered()).repo);

  {
    const l = busybox();
    const flipped = Buffer.from(l.blob);
    const mid = flipped.length >> 1;
    flipped[mid] = flipped[mid]! ^ 0xff;
    repos.set('bad/blob-digest', buildImage([{ ...l, blob: flipped, claimedDigest: sha(l.blob) }]).repo);
  }
  {
    const half = readLayer(fx.hostile['truncated-gzip'].layer!);
    repos.set('bad/truncated-gzip', buildImage([{ blob: half, mediaType: LAYER_GZ, diffId: sha('not the real diff id') }]).repo);
  }
  {
    const r = buildImage([busybox()]).repo;
    const junk: Manifest = { body: Buffer.from('<html>this is not a manifest {'), mediaType: OCI_MANIFEST };
    r.manifests.set('latest', junk);
    repos.set('bad/not-json', r);
  }
  {
    const r = buildImage([busybox()]).repo;
    const s1: Manifest = {
      body: Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'bad/schema1', tag: 'latest', architecture: 'amd64', fsLayers: [{ blobSum: sha('x') }], history: [] })),
      mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
    };
    r.manifests.set('latest', s1);
    repos.set('bad/schema1', r);
  }
  repos.set('bad/huge-config', buildImage([busybox()], { configSize: 4 * 1024 ** 3 }).repo);
  repos.set('bad/huge-layer', buildImage([{ ...busybox(), claimedSize: 4 * 1024 ** 3 }]).repo);
  repos.set('bad/disk-size', buildImage([{ ...busybox(), claimedSize: 2 ** 50 }]).repo);
  {
    const r = buildImage([busybox()]).repo;
    r.blobHook = (req, res) => {
      const u = new URL(req.url!, 'http://x');
      const n = Number(u.searchParams.get('hop') ?? '0');
      if (!u.pathname.includes('/blobs/')) return false;
      res.writeHead(307, { Location: `${u.pathname}?hop=${n + 1}` });
      res.end();
      return true;
    };
    repos.set('bad/redirect-loop', r);
  }
  {
    const tar = readLayer(fx.hostile.traversal.layer!);
    repos.set('bad/traversal', buildImage([{ blob: tar, mediaType: LAYER_TAR, diffId: sha(tar) }]).repo);
    const hl = readLayer(fx.hostile.hardlink.layer!);
    repos.set('bad/hardlink', buildImage([{ blob: hl, mediaType: LAYER_TAR, diffId: sha(hl) }]).repo);
  }
  {
    const a = buildImage([busybox()], { arch: 's390x' });
    const b = buildImage([busybox()], { arch: 'mips64le' });
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: sha(a.manifest.body), size: a.manifest.body.length, platform: { os: 'linux', architecture: 's390x' } },
          { mediaType: OCI_MANIFEST, digest: sha(b.manifest.body), size: b.manifest.body.length, platform: { os: 'linux', architecture: 'mips64le' } },
        ],
      }),
    );
    const r: Repo = { manifests: new Map(), blobs: new Map([...a.repo.blobs, ...b.repo.blobs]) };
    r.manifests.set(sha(a.manifest.body), a.manifest);
    r.manifests.set(sha(b.manifest.body), b.manifest);
    r.manifests.set('latest', { body: index, mediaType: OCI_INDEX });
    repos.set('bad/platform', r);
  }
  {
    const r = buildImage([busybox()]).repo;
    const failures = new Map<string, number>();
    r.blobHook = (req, res, digest) => {
      const n = failures.get(digest) ?? 0;
      if (req.method === 'GET' && n < 2) {
        failures.set(digest, n + 1);
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'try again' }] }));
        return true;
      }
      return false;
    };
    repos.set('flaky/busybox', r);
  }
  {
    const img = buildImage([busybox()]);
    const layerDigest = [...img.repo.blobs.keys()].find((d) => img.repo.blobs.get(d)!.length > 10000)!;
    let dropped = false;
    img.repo.blobHook = (req, res, digest, data) => {
      if (digest !== layerDigest || req.method !== 'GET') return false;
      const range = req.headers.range;
      if (!dropped && !range) {
        dropped = true;
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length });
        res.write(data.subarray(0, data.length >> 1), () => {
          setTimeout(() => res.socket?.destroy(), 50);
        });
        return true;
      }
      const m = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
      if (m) {
        const start = Number(m[1]);
        const end = m[2] ? Number(m[2]) : data.length - 1;
        const part = data.subarray(start, end + 1);
        res.writeHead(206, { 'Content-Type': 'application/octet-stream', 'Content-Length': part.length, 'Content-Range': `bytes ${start}-${end}/${data.length}` });
        res.end(part);
        return true;
      }
      return false;
    };
    repos.set('drop/busybox', img.repo);
  }
  const handle: Partial<HostileRegistry> = { slowBytesPerSec: 2 << 20 };
  {
    const r = buildImage(layered()).repo;
    r.blobHook = (req, res, _digest, data) => {
      if (req.method !== 'GET' || data.length < 4096) return false;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length });
      const chunk = Math.max(1024, Math.floor(handle.slowBytesPerSec! / 20));
      let off = 0;
      const tick = () => {
        if (res.destroyed) return;
        const end = Math.min(data.length, off + chunk);
        res.write(data.subarray(off, end));
        off = end;
        if (off >= data.length) res.end();
        else setTimeout(tick, 50);
      };
      tick();
      res.on('close', () => (off = data.length));
      return true;
    };
    repos.set('slow/layered', r);
  }

  const requests: RequestLog[] = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const log: RequestLog = { method: req.method ?? 'GET', path: u.pathname };
    if (req.headers.range) log.range = String(req.headers.range);
    requests.push(log);
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    const head = req.method === 'HEAD';
    if (u.pathname === '/v2/' || u.pathname === '/v2') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\/([^/]+)$/.exec(u.pathname);
    const repo = m ? repos.get(m[1]!) : undefined;
    const notFound = (code: string, message: string) => {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(head ? undefined : JSON.stringify({ errors: [{ code, message }] }));
    };
    if (!m || !repo) return notFound('NAME_UNKNOWN', 'repository name not known to registry');
    const [, name, kind, ref] = m;
    if (kind === 'tags') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ name, tags: [...repo.manifests.keys()].filter((k) => !k.startsWith('sha256:')) }));
      return;
    }
    if (kind === 'manifests') {
      if (repo.manifestHook?.(req, res)) return;
      const man = repo.manifests.get(ref!);
      if (!man) return notFound('MANIFEST_UNKNOWN', 'manifest unknown');
      res.writeHead(200, { 'Content-Type': man.mediaType, 'Content-Length': man.body.length, 'Docker-Content-Digest': sha(man.body) });
      res.end(head ? undefined : man.body);
      return;
    }
    const data = repo.blobs.get(ref!);
    if (repo.blobHook?.(req, res, ref!, data ?? Buffer.alloc(0))) return;
    if (!data) return notFound('BLOB_UNKNOWN', 'blob unknown to registry');
    sendBlob(res, data, head);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const manifestOf = (repo: string) => {
    const r = repos.get(repo);
    if (!r) throw new Error(`no repo ${repo}`);
    return JSON.parse(r.manifests.get('latest')!.body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  };
  return Object.assign(handle, {
    host: `127.0.0.1:${port}`,
    requests,
    layerDigests: (repo: string) => manifestOf(repo).layers.map((l) => l.digest),
    manifestDigest: (repo: string) => sha(repos.get(repo)!.manifests.get('latest')!.body),
    configDigest: (repo: string) => manifestOf(repo).config.digest,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  }) as HostileRegistry;
}
