/**
 * The registry client against misbehaving servers (small HTTP servers in this process) and a
 * real docker-registry: Range resume on a dropped connection, retries on 5xx, redirects that
 * must not carry Authorization to another host, redirect loops, oversized / schema 1 / non-JSON
 * manifests, Link pagination, token renewal on 401, chunked uploads and mounts.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { resetRegistryConfig } from '../../src/registry/config.js';
import { tmpBase } from './paths';
import { seedImage, startConnectProxy, startOpenRegistry, type ConnectProxy } from './registries';
import type { Registry } from './lib';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function serve(handler: Handler): Promise<{ port: number; close: () => Promise<void> }> {
  const s = http.createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return {
    port: (s.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const BLOB: Buffer = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 251));
const BLOB_D = sha(BLOB);
const CREDS = { username: 'u', password: 'p' };
const BASIC = 'Basic ' + Buffer.from('u:p').toString('base64');

async function readAll(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of it) parts.push(b);
  return Buffer.concat(parts);
}

const log: { path: string; auth?: string; range?: string }[] = [];
let other: { port: number; close: () => Promise<void> };
let main: { port: number; close: () => Promise<void> };
const counters = new Map<string, number>();
const count = (k: string) => {
  const n = (counters.get(k) ?? 0) + 1;
  counters.set(k, n);
  return n;
};
let host = '';

function mainHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const p = url.pathname;
  log.push({ path: p + url.search, auth: req.headers.authorization, range: req.headers.range });
  if (req.headers.authorization !== BASIC && !p.startsWith('/v2/bearer')) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"', 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}');
    return;
  }
  if (p === '/v2/') return void res.writeHead(200).end('{}');
  if (p === `/v2/flaky/blobs/${BLOB_D}`) {
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const n = count('flaky');
    if (range) res.writeHead(206, { 'content-length': BLOB.length - start, 'content-range': `bytes ${start}-${BLOB.length - 1}/${BLOB.length}` });
    else res.writeHead(200, { 'content-length': BLOB.length });
    if (n <= 2) {
      // send a part, then drop the connection
      res.write(BLOB.subarray(start, start + 100_000), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    res.end(BLOB.subarray(start));
    return;
  }
  if (p === `/v2/norange/blobs/${BLOB_D}`) {
    const n = count('norange');
    res.writeHead(200, { 'content-length': BLOB.length });
    if (n === 1) return void res.write(BLOB.subarray(0, 50_000), () => setTimeout(() => req.socket.destroy(), 20));
    res.end(BLOB); // ignores Range: the client must skip what it has
    return;
  }
  if (p === `/v2/long/blobs/${BLOB_D}`) return void res.writeHead(200).end(Buffer.concat([BLOB, Buffer.from('extra')]));
  if (p === '/v2/five/manifests/x') {
    if (count('five') <= 2) return void res.writeHead(503).end('busy');
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] });
    return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(body);
  }
  if (p === '/v2/always500/manifests/x') return void res.writeHead(500).end('{"errors":[{"code":"UNKNOWN","message":"boom"}]}');
  if (p === `/v2/redir/blobs/${BLOB_D}`) return void res.writeHead(307, { location: `http://localhost:${other.port}/storage/blob` }).end();
  if (p === `/v2/samehost/blobs/${BLOB_D}`) return void res.writeHead(302, { location: `/v2/flaky-free/blob` }).end();
  if (p === '/v2/flaky-free/blob') return void res.writeHead(200, { 'content-length': BLOB.length }).end(BLOB);
  if (p.startsWith('/v2/loop/blobs/')) return void res.writeHead(302, { location: url.search ? p : `${p}?again=1` }).end();
  if (p === '/v2/big/manifests/x') {
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': 5 * 1024 * 1024 });
    return void res.end(Buffer.alloc(5 * 1024 * 1024, 32));
  }
  if (p === '/v2/bigchunked/manifests/x') {
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
    for (let i = 0; i < 5; i++) res.write(Buffer.alloc(1024 * 1024, 32));
    return void res.end();
  }
  if (p === '/v2/s1/manifests/x')
    return void res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }).end('{"schemaVersion":1,"fsLayers":[]}');
  if (p === '/v2/notjson/manifests/x') return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end('<html>hello</html>');
  if (p.startsWith('/v2/lying/manifests/'))
    return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': 'sha256:' + '0'.repeat(64) }).end('{"schemaVersion":2}');
  if (p === '/v2/pages/tags/list') {
    if (!url.searchParams.get('last')) return void res.writeHead(200, { link: '</v2/pages/tags/list?last=b&n=2>; rel="next"' }).end('{"name":"pages","tags":["a","b"]}');
    return void res.writeHead(200).end('{"name":"pages","tags":["c"]}');
  }
  res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}');
}

const otherLog: { auth?: string }[] = [];

beforeAll(async () => {
  process.env.CTR_REGISTRY_BACKOFF_MS = '5';
  const dir = fs.mkdtempSync(path.join((fs.mkdirSync(tmpBase(), { recursive: true }), tmpBase()), 'cconf-'));
  process.env.CTR_REGISTRIES_CONF = path.join(dir, 'empty.conf');
  fs.writeFileSync(process.env.CTR_REGISTRIES_CONF, '');
  resetRegistryConfig();
  other = await serve((req, res) => {
    otherLog.push({ auth: req.headers.authorization });
    res.writeHead(200, { 'content-length': BLOB.length }).end(BLOB);
  });
  main = await serve(mainHandler);
  host = `127.0.0.1:${main.port}`;
});
afterAll(async () => {
  await main?.close();
  await other?.close();
});

const client = (repo: string) => new RegistryClient(host, repo, { tlsVerify: false, credentials: CREDS });

describe('blobs', () => {
  it('resume a dropped download with Range requests', async () => {
    log.length = 0;
    const got = await readAll(client('flaky').blob(BLOB_D, { size: BLOB.length }));
    expect(got.equals(BLOB)).toBe(true);
    const ranges = log.filter((l) => l.path.includes('/flaky/')).map((l) => l.range);
    expect(ranges).toEqual([undefined, 'bytes=100000-', 'bytes=200000-']);
  });

  it('a server that ignores Range: the bytes already read are skipped', async () => {
    const got = await readAll(client('norange').blob(BLOB_D));
    expect(got.equals(BLOB)).toBe(true);
    expect(counters.get('norange')).toBe(2);
  });

  it('a blob longer than its size is refused', async () => {
    await expect(readAll(client('long').blob(BLOB_D, { size: BLOB.length }))).rejects.toThrow(/is longer than its 300000 bytes/);
  });

  it('redirects to another host are followed without the Authorization header', async () => {
    otherLog.length = 0;
    log.length = 0;
    const got = await readAll(client('redir').blob(BLOB_D));
    expect(got.equals(BLOB)).toBe(true);
    expect(log.find((l) => l.path.includes('/redir/'))?.auth).toBe(BASIC);
    expect(otherLog).toEqual([{ auth: undefined }]);
  });

  it('redirects on the same host keep it', async () => {
    log.length = 0;
    expect((await readAll(client('samehost').blob(BLOB_D))).equals(BLOB)).toBe(true);
    expect(log.find((l) => l.path === '/v2/flaky-free/blob')?.auth).toBe(BASIC);
  });

  it('redirect loops are detected', async () => {
    await expect(readAll(client('loop').blob(BLOB_D))).rejects.toThrow(/redirect loop/);
  });
});

describe('manifests', () => {
  it('5xx answers are retried with backoff', async () => {
    const m = await client('five').getManifest('x');
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(counters.get('five')).toBe(3);
  });

  it('a registry that keeps failing: one line with its message', async () => {
    await expect(client('always500').getManifest('x')).rejects.toThrow(`${host} answered 500 for ${host}/always500:x: boom`);
  });

  it('over 4 MiB (announced or streamed), schema 1, not JSON, wrong digest: refused clearly', async () => {
    await expect(client('big').getManifest('x')).rejects.toMatchObject({ code: 'TOO_LARGE', message: expect.stringMatching(/more than the 4 MiB allowed/) });
    await expect(client('bigchunked').getManifest('x')).rejects.toMatchObject({ code: 'TOO_LARGE' });
    await expect(client('s1').getManifest('x')).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/schema 1 manifest, which ctr does not support/) });
    await expect(client('notjson').getManifest('x')).rejects.toThrow(`manifest ${host}/notjson:x is not valid JSON`);
    await expect(client('lying').getManifest('x')).rejects.toThrow(/does not match the digest/);
    await expect(client('lying').getManifest('sha256:' + 'a'.repeat(64))).rejects.toThrow(/does not match its digest/);
  });

  it('unknown repository and wrong credentials', async () => {
    await expect(client('nothere').getManifest('x')).rejects.toThrow(`manifest unknown: ${host}/nothere:x`);
    const bad = new RegistryClient(host, 'five', { tlsVerify: false, credentials: { username: 'u', password: 'bad' } });
    await expect(bad.getManifest('x')).rejects.toThrow(`unauthorized: ${host} refused the stored credentials for ${host}/five:x; run ctr login ${host}`);
  });

  it('tags follow Link pagination', async () => {
    expect(await client('pages').listTags()).toEqual(['a', 'b', 'c']);
  });
});

describe('bearer tokens', () => {
  let tokenSrv: { port: number; close: () => Promise<void> };
  let reg: { port: number; close: () => Promise<void> };
  const issued: string[] = [];
  let accepted = new Set<string>();
  beforeAll(async () => {
    tokenSrv = await serve((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const t = `tok${issued.length + 1}`;
      issued.push(`${t} ${url.searchParams.getAll('scope').join(' ')}`);
      accepted.add(t);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: t, expires_in: 300 }));
    });
    reg = await serve((req, res) => {
      const auth = req.headers.authorization ?? '';
      const t = auth.replace(/^Bearer /, '');
      if (!accepted.has(t)) {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${tokenSrv.port}/token",service="fake",scope="repository:app:pull"` });
        return void res.end();
      }
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end('{"schemaVersion":2,"manifests":[]}');
    });
  });
  afterAll(async () => {
    await reg.close();
    await tokenSrv.close();
  });

  it('one token per scope, cached, renewed when the registry answers 401', async () => {
    const c = new RegistryClient(`127.0.0.1:${reg.port}`, 'app', { tlsVerify: false });
    await c.getManifest('1');
    await c.getManifest('2');
    expect(issued).toEqual(['tok1 repository:app:pull']);
    accepted = new Set(); // the registry forgets it (expired)
    await c.getManifest('3');
    expect(issued).toEqual(['tok1 repository:app:pull', 'tok2 repository:app:pull']);
  });
});

describe('uploads against docker-registry', () => {
  let reg: Registry;
  beforeAll(async () => {
    reg = await startOpenRegistry();
    await seedImage(reg, 'src/app:1', 'busybox');
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('chunked and monolithic uploads, mount, manifest PUT; the blobs read back', async () => {
    const c = new RegistryClient(reg.host, 'dst/app', { tlsVerify: false, forPull: false });
    expect(await c.hasBlob(BLOB_D)).toBe(false);
    let reported = 0;
    await c.uploadBlob(BLOB_D, BLOB.length, async function* () {
      for (let i = 0; i < BLOB.length; i += 70_000) yield BLOB.subarray(i, i + 70_000);
    }, { chunkSize: 128 * 1024, onBytes: (n) => (reported += n) });
    expect(reported).toBe(BLOB.length);
    expect(await c.hasBlob(BLOB_D)).toBe(true);
    const small = Buffer.from('{"hello":"world"}');
    await c.uploadBlob(sha(small), small.length, async function* () {
      yield small;
    });
    expect((await readAll(c.blob(sha(small)))).equals(small)).toBe(true);
    expect((await readAll(c.blob(BLOB_D))).equals(BLOB)).toBe(true);
    await expect(c.uploadBlob('sha256:' + '1'.repeat(64), small.length, async function* () {
      yield small;
    })).rejects.toThrow(/answered 400|DIGEST_INVALID|digest/i);

    const srcClient = new RegistryClient(reg.host, 'src/app', { tlsVerify: false });
    const m = await srcClient.getManifest('1');
    const parsed = JSON.parse(m.body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [parsed.config.digest, ...parsed.layers.map((l) => l.digest)]) expect(await c.mountBlob(d, 'src/app')).toBe(true);
    expect(await c.mountBlob('sha256:' + '2'.repeat(64), 'src/app')).toBe(false);
    expect(await c.putManifest('v2', m.body, m.mediaType)).toBe(m.digest);
    expect((await c.headManifest('v2'))?.digest).toBe(m.digest);
    expect(await c.headManifest('nope')).toBeUndefined();
    expect((await RegistryClient.catalog(reg.host, { tlsVerify: false })).sort()).toEqual(['dst/app', 'src/app']);
  });

  it('a streamed upload whose digest is known only at the end (compress while uploading)', async () => {
    const c = new RegistryClient(reg.host, 'stream/app', { tlsVerify: false, forPull: false });
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
    let produced = false;
    let reported = 0;
    const sent = await c.uploadStream(
      (async function* () {
        for (let i = 0; i < data.length; i += 300_000) {
          await new Promise((r) => setTimeout(r, 2)); // a producer slower than the network
          yield data.subarray(i, i + 300_000);
        }
        produced = true;
      })(),
      async () => {
        expect(produced).toBe(true); // asked only once every byte went out
        return sha(data);
      },
      { onBytes: (n) => (reported += n) },
    );
    expect(sent).toBe(data.length);
    expect(reported).toBe(data.length);
    expect(await c.hasBlob(sha(data))).toBe(true);
    expect((await readAll(c.blob(sha(data)))).equals(data)).toBe(true);
    // a digest that is not the bytes': the registry refuses it at the PUT
    await expect(
      c.uploadStream(
        (async function* () {
          yield Buffer.from('other bytes');
        })(),
        async () => sha(data),
      ),
    ).rejects.toThrow(/answered 400|DIGEST_INVALID|digest/i);
    // a producer that fails: the upload fails with its error
    await expect(
      c.uploadStream(
        (async function* () {
          yield Buffer.from('some');
          throw new Error('producer broke');
        })(),
        async () => sha(data),
      ),
    ).rejects.toThrow(/producer broke|reset|aborted|closed/i);
  });
});

describe('proxies', () => {
  const saved = { ...process.env };
  let proxy: ConnectProxy;
  beforeAll(async () => {
    proxy = await startConnectProxy('registry.test');
  });
  afterAll(async () => {
    process.env = { ...saved };
    await proxy.stop();
  });

  it('HTTP_PROXY/HTTPS_PROXY are used, NO_PROXY bypasses them', async () => {
    for (const k of ['http_proxy', 'https_proxy', 'no_proxy', 'NO_PROXY']) delete process.env[k];
    process.env.HTTP_PROXY = proxy.url;
    process.env.HTTPS_PROXY = proxy.url;
    const c = new RegistryClient(`registry.test:${main.port}`, 'pages', { tlsVerify: false, credentials: CREDS });
    expect(await c.listTags()).toEqual(['a', 'b', 'c']);
    expect(proxy.tunnels).toContain(`registry.test:${main.port}`);
    process.env.NO_PROXY = 'registry.test';
    const direct = new RegistryClient(`registry.test:${main.port + 0}`, 'five', { tlsVerify: true, credentials: CREDS });
    await expect(direct.getManifest('x')).rejects.toThrow(/cannot resolve registry\.test/);
  });
});
