/**
 * Test registries for the registry, pull and push e2e tests: Debian's docker-registry
 * (distribution v2) on 127.0.0.1 free ports, started by the test files themselves.
 *
 *   startRegistries(which?)  -> Registries  { open, basic, token, mirror, tls, stop() }, only the
 *                                            ones named in `which` (default open, basic, token, mirror)
 *   useRegistries(which?)    -> Registries  same, started in beforeAll / stopped in afterAll
 *   startOpenRegistry()      -> Registry    no auth, plain HTTP (= lib.ts startRegistry)
 *   startBasicRegistry()     -> Registry    htpasswd Basic auth, user BASIC_USER/BASIC_PASS
 *                                            (ctruser/ctrpass); a fixed bcrypt entry (BASIC_HTPASSWD)
 *   startTokenRegistry()     -> Registry & { tokens: TokenServer }  Bearer token auth: the
 *                                            token service runs in this process (JWT RS256,
 *                                            x5c cert the registry trusts); user ctruser/ctrpass
 *                                            gets every action asked for, anonymous gets nothing
 *   startTlsRegistry()       -> Registry & { certsDir, caFile }  HTTPS with a self-signed
 *                                            certificate for 127.0.0.1; certsDir is a certs.d-style
 *                                            dir (certsDir/127.0.0.1:PORT/ca.crt) for CTR_CERTS_DIR
 *   mirror                   a second open registry; seed it with the same images and list it
 *                            as a mirror of `open` in a registries.conf (writeRegistriesConf)
 *   seedImage(reg, 'repo:tag', image)  skopeo copy of a fixture image (ImageName, or an
 *                            "oci-archive:PATH"/"docker-archive:PATH" source) into reg, with
 *                            reg.creds when it has auth, --format oci|v2s2
 *   writeRegistriesConf(dir, text) -> path  a registries.conf for CTR_REGISTRIES_CONF
 *
 * Each Registry: { host: '127.0.0.1:PORT', dir, creds?, tls?, push(), stop() } (see lib.ts).
 * Plain-HTTP registries need --tls-verify=false or `insecure = true` in registries.conf.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { describeResult, fixturePath, fixtures, run, startRegistry, type ImageName, type Registry } from './lib';
import { tmpBase } from './paths';

export const BASIC_USER = 'ctruser';
export const BASIC_PASS = 'ctrpass';
/**
 * The registry's htpasswd line for them (`htpasswd -Bbn -C 5 ctruser ctrpass`), written once:
 * htpasswd needs the getrandom system call, which the EL7-like runs (test/el7/kernel310) lack.
 */
const BASIC_HTPASSWD = 'ctruser:$2y$05$UJ9TK4h4YFQL65EeYcJoLeQfFHj2jxxp8vcHCgYiNsozkmLvYOlz2\n';
export const TOKEN_SERVICE = 'ctr-test-registry';
export const TOKEN_ISSUER = 'ctr-test-token-issuer';

function tmpDir(prefix: string): string {
  fs.mkdirSync(tmpBase(), { recursive: true });
  return fs.mkdtempSync(path.join(tmpBase(), prefix));
}

async function sh(argv: string[], what: string): Promise<string> {
  const r = await run(argv, { timeout: 60_000 });
  if (r.code !== 0) throw new Error(describeResult(what, r));
  return r.stdout;
}

/** A self-signed certificate + key (PEM files) for CN, with SANs. */
export async function makeCert(dir: string, name: string, cn: string, san = 'IP:127.0.0.1,DNS:localhost'): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  await sh(
    ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '3', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`],
    'openssl req (apt-get install openssl)',
  );
  return { cert, key };
}

export async function startOpenRegistry(opts: { images?: ImageName[] } = {}): Promise<Registry> {
  return startRegistry(opts);
}

export async function startBasicRegistry(opts: { images?: ImageName[] } = {}): Promise<Registry> {
  const dir = tmpDir('cbasic-');
  const file = path.join(dir, 'htpasswd');
  fs.writeFileSync(file, BASIC_HTPASSWD);
  const reg = await startRegistry({
    ...opts,
    config: ['auth:', '  htpasswd:', '    realm: ctr-basic', `    path: ${file}`],
    creds: { username: BASIC_USER, password: BASIC_PASS },
  });
  const stop = reg.stop;
  reg.stop = async () => {
    await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return reg;
}

export interface TokenRequest {
  user?: string;
  scopes: string[];
  service?: string;
  status: number;
}

export interface TokenServer {
  /** the realm URL (http://127.0.0.1:PORT/token) */
  realm: string;
  /** every request, in order (tests count them to check token caching) */
  requests: TokenRequest[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** A token service issuing JWTs signed with `key` (its certificate in x5c). */
async function startTokenServer(keyPem: string, certPem: string): Promise<TokenServer> {
  const certDer = Buffer.from(certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64').toString('base64');
  const requests: TokenRequest[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    const service = url.searchParams.get('service') ?? undefined;
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const s = Buffer.from(auth.slice(6), 'base64').toString('utf8');
      const i = s.indexOf(':');
      if (s.slice(0, i) !== BASIC_USER || s.slice(i + 1) !== BASIC_PASS) {
        requests.push({ user: s.slice(0, i), scopes, service, status: 401 });
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'wrong credentials' }] }));
        return;
      }
      user = BASIC_USER;
    }
    requests.push({ user, scopes, service, status: 200 });
    const access = user
      ? scopes.map((s) => {
          const parts = s.split(':');
          return { type: parts[0], name: parts.slice(1, -1).join(':'), actions: parts[parts.length - 1]!.split(',') };
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer] };
    const claims = { iss: TOKEN_ISSUER, sub: user ?? '', aud: service ?? TOKEN_SERVICE, exp: now + 300, nbf: now - 30, iat: now, jti: crypto.randomBytes(8).toString('hex'), access };
    const body = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = crypto.createSign('RSA-SHA256').update(body).sign(keyPem);
    const token = `${body}.${b64url(sig)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export async function startTokenRegistry(opts: { images?: ImageName[] } = {}): Promise<Registry & { tokens: TokenServer }> {
  const dir = tmpDir('ctoken-');
  const { cert, key } = await makeCert(dir, 'token', 'ctr-test-token-signer', 'DNS:ctr-token');
  const tokens = await startTokenServer(fs.readFileSync(key, 'utf8'), fs.readFileSync(cert, 'utf8'));
  let reg: Registry;
  try {
    reg = await startRegistry({
      ...opts,
      config: ['auth:', '  token:', `    realm: ${tokens.realm}`, `    service: ${TOKEN_SERVICE}`, `    issuer: ${TOKEN_ISSUER}`, `    rootcertbundle: ${cert}`],
      creds: { username: BASIC_USER, password: BASIC_PASS },
    });
  } catch (e) {
    await tokens.stop();
    throw e;
  }
  const stop = reg.stop;
  return Object.assign(reg, {
    tokens,
    stop: async () => {
      await stop();
      await tokens.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  });
}

export async function startTlsRegistry(opts: { images?: ImageName[] } = {}): Promise<Registry & { certsDir: string; caFile: string }> {
  const dir = tmpDir('ctls-');
  const { cert, key } = await makeCert(dir, 'server', '127.0.0.1');
  const reg = await startRegistry({ ...opts, tls: { certificate: cert, key } });
  const certsDir = path.join(dir, 'certs.d');
  fs.mkdirSync(path.join(certsDir, reg.host), { recursive: true });
  fs.copyFileSync(cert, path.join(certsDir, reg.host, 'ca.crt'));
  fs.chmodSync(dir, 0o755);
  const stop = reg.stop;
  return Object.assign(reg, {
    certsDir,
    caFile: cert,
    stop: async () => {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** skopeo copy of a fixture image (or an archive source) into reg as repoTag. */
export async function seedImage(reg: Registry, repoTag: string, image: ImageName | string = 'busybox', opts: { format?: 'oci' | 'v2s2' } = {}): Promise<void> {
  if (!image.includes(':')) return reg.push(image as ImageName, repoTag, opts);
  const src = image;
  const args = ['skopeo', 'copy', '--quiet', '--dest-tls-verify=false'];
  if (opts.format === 'v2s2') args.push('--format', 'v2s2');
  if (reg.creds) args.push('--dest-creds', `${reg.creds.username}:${reg.creds.password}`);
  const dir = tmpDir('cseed-');
  try {
    const env = { HOME: dir, XDG_RUNTIME_DIR: dir, XDG_CONFIG_HOME: dir, PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const r = await run([...args, src, `docker://${reg.host}/${repoTag}`], { env, timeout: 120_000 });
    if (r.code !== 0) throw new Error(describeResult(`skopeo copy ${src}`, r));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Path of a fixture archive usable as a seedImage source: "oci-archive:/…/busybox.oci.tar". */
export function fixtureSource(image: ImageName): string {
  return `oci-archive:${fixturePath(fixtures().images[image].files.oci!)}`;
}

/** Writes a registries.conf into dir and returns its path (for CTR_REGISTRIES_CONF). */
export function writeRegistriesConf(dir: string, text: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const p = path.join(dir, `registries-${crypto.randomBytes(3).toString('hex')}.conf`);
  fs.writeFileSync(p, text);
  return p;
}

export type RegistryKind = 'open' | 'basic' | 'token' | 'mirror' | 'tls';

export interface Registries {
  open: Registry;
  basic: Registry;
  token: Registry & { tokens: TokenServer };
  mirror: Registry;
  tls: Registry & { certsDir: string; caFile: string };
  stop(): Promise<void>;
}

/** Starts the named registries (in parallel). Unstarted ones throw when used. */
export async function startRegistries(which: RegistryKind[] = ['open', 'basic', 'token', 'mirror'], opts: { images?: ImageName[] } = {}): Promise<Registries> {
  const out: Partial<Registries> = {};
  const started: Registry[] = [];
  const starters: Record<RegistryKind, () => Promise<Registry>> = {
    open: () => startOpenRegistry(opts),
    basic: () => startBasicRegistry(opts),
    token: () => startTokenRegistry(opts),
    mirror: () => startOpenRegistry(opts),
    tls: () => startTlsRegistry(opts),
  };
  const results = await Promise.allSettled(which.map(async (k) => [k, await starters[k]()] as const));
  for (const r of results) {
    if (r.status === 'fulfilled') {
      (out as Record<string, Registry>)[r.value[0]] = r.value[1];
      started.push(r.value[1]);
    }
  }
  const stop = async () => {
    await Promise.all(started.map((r) => r.stop().catch(() => undefined)));
  };
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return Object.assign(out, { stop }) as Registries;
}

/** startRegistries for the calling test file: started in beforeAll, stopped in afterAll. */
export function useRegistries(which?: RegistryKind[], opts: { images?: ImageName[] } = {}): Registries {
  const handle = {} as Registries;
  let regs: Registries | undefined;
  beforeAll(async () => {
    regs = await startRegistries(which, opts);
    Object.assign(handle, regs);
  }, 300_000);
  afterAll(async () => {
    await regs?.stop();
  }, 60_000);
  return handle;
}

/** A CONNECT proxy on 127.0.0.1: see startConnectProxy. */
export interface ConnectProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** every CONNECT target asked for, as "host:port" */
  tunnels: string[];
  stop(): Promise<void>;
}

/**
 * A CONNECT proxy that knows one host name no resolver has (`name`, tunnelled to 127.0.0.1 at
 * the asked port) and refuses every other target: only a proxied request can reach `name`.
 */
export async function startConnectProxy(name: string): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req: http.IncomingMessage, sock: net.Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    if (host !== name) return void sock.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
    const up = net.connect(Number(port), '127.0.0.1', () => {
      sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(sock);
      sock.pipe(up);
    });
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const port = (proxy.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    tunnels,
    stop: async () => {
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
    },
  };
}
