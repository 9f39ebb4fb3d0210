/**
 * The registry client (OCI distribution spec over undici): ping and auth (anonymous, Basic,
 * Bearer tokens cached per scope and renewed on 401), manifests, blobs with Range resume,
 * uploads, cross-repository mounts, tags and the catalog. Mirrors from registries.conf are
 * tried in order before the origin for reads; writes go to the origin only.
 *
 * Every failure is a RegistryError whose message is the one line the user sees.
 */
import { request, type Dispatcher } from 'undici';
import { createHash } from 'node:crypto';
import { sha256HexOf } from '../util/sha256';
import { Readable } from 'node:stream';
import { debug } from '../state/context';
import { VERSION } from '../version';
import { endpointsFor, isInsecureHost, loadRegistryConfig, type Endpoint } from './config';
import { getCredentials, type Credentials } from './credentials';
import { parseChallenges, pickChallenge, type Challenge } from './challenge';
import { RegistryError, isRetryableTransport, transportError } from './errors';
import { forgetHost, recallHost, rememberHost } from './hostcache';
import { dispatcherFor } from './transport';

export { RegistryError } from './errors';

export interface ClientOptions {
  /** --tls-verify; undefined = from the configuration (insecure registries). */
  tlsVerify?: boolean;
  /** --creds; else the stored credentials (getCredentials). */
  credentials?: Credentials;
  /** true (default): mirrors first, then the origin, for reads. */
  forPull?: boolean;
  userAgent?: string;
}

export const MEDIA_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MEDIA_DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const MEDIA_SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];
export const DEFAULT_ACCEPT = [MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST];
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
const DEFAULT_CHUNK = 64 * 1024 * 1024;
const MAX_RETRIES = 4;
const MAX_RESUMES = 6;
const MAX_REDIRECTS = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function backoffMs(attempt: number, retryAfter?: string | string[]): number {
  const base = Number(process.env.CTR_REGISTRY_BACKOFF_MS ?? 250);
  const ra = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  if (Number.isFinite(ra) && ra > 0) return Math.min(ra * 1000, 10_000);
  return Math.min(base * 2 ** (attempt - 1), 5_000) * (0.75 + Math.random() / 2);
}

function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The host ctr connects to for a configured host (Docker Hub's API lives elsewhere). */
export function networkHost(host: string): string {
  return host === 'docker.io' || host === 'index.docker.io' ? 'registry-1.docker.io' : host;
}

const isDigest = (ref: string) => ref.includes(':');

type Response = Dispatcher.ResponseData;
type Body = Buffer | string | AsyncIterable<Uint8Array> | null | undefined;

interface HostState {
  base?: string;
  challenge?: Challenge | null;
  ping?: Promise<void>;
  /** base and challenge come from the host cache (not yet confirmed by an answer) */
  fromCache?: boolean;
  /** the challenge was answered by the host itself, in this process, over verified TLS */
  challengeVerified?: boolean;
  /** a fresh ping replacing a remembered challenge, shared by concurrent requests */
  reverify?: Promise<void>;
}
const hostStates = new Map<string, HostState>();
const tokens = new Map<string, { token: string; expires: number }>();

/** Reads a response body up to `max` bytes (else TOO_LARGE). */
async function readCapped(res: Response, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > max) {
      res.body.destroy();
      throw new RegistryError('TOO_LARGE', `${what} is larger than ${max} bytes: refused`);
    }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

interface ErrorContext {
  host: string;
  /** "host/repo:tag", "host/repo@digest", "host/repo" */
  what: string;
  kind: 'manifest' | 'blob' | 'repository' | 'upload' | 'catalog' | 'ping';
  hasCreds: boolean;
}

/** Maps a non-success response to one line (the body is read and discarded). */
export async function responseError(res: Response, ctx: ErrorContext): Promise<RegistryError> {
  let text = '';
  try {
    text = (await readCapped(res, 65536, 'error body')).toString('utf8');
  } catch {
    /* ignore */
  }
  let code = '';
  let message = '';
  try {
    const j = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    code = String(j.errors?.[0]?.code ?? '');
    message = String(j.errors?.[0]?.message ?? '');
  } catch {
    message = text.trim().split('\n')[0]!.slice(0, 200);
  }
  const st = res.statusCode;
  const login = `run ctr login ${ctx.host}`;
  if (st === 401 || code === 'UNAUTHORIZED') {
    return new RegistryError(
      'UNAUTHORIZED',
      ctx.hasCreds ? `unauthorized: ${ctx.host} refused the stored credentials for ${ctx.what}; ${login}` : `unauthorized: ${login}`,
      st,
    );
  }
  if (st === 403 || code === 'DENIED') return new RegistryError('DENIED', `denied: access to ${ctx.what} refused${ctx.hasCreds ? '' : `; ${login}`}`, st);
  if (st === 429 || code === 'TOOMANYREQUESTS')
    return new RegistryError('TOOMANYREQUESTS', `too many requests to ${ctx.host}: wait and try again${ctx.hasCreds ? '' : ` (or ${login})`}`, st);
  if (code === 'MANIFEST_UNKNOWN' || (st === 404 && ctx.kind === 'manifest')) return new RegistryError(code === 'NAME_UNKNOWN' ? 'NAME_UNKNOWN' : 'MANIFEST_UNKNOWN', `manifest unknown: ${ctx.what}`, st);
  if (code === 'BLOB_UNKNOWN' || (st === 404 && ctx.kind === 'blob')) return new RegistryError('BLOB_UNKNOWN', `blob unknown: ${ctx.what}`, st);
  if (code === 'NAME_UNKNOWN' || (st === 404 && ctx.kind === 'repository')) return new RegistryError('NAME_UNKNOWN', `repository unknown: ${ctx.what}`, st);
  if (code === 'UNSUPPORTED' || st === 405) return new RegistryError('UNSUPPORTED', `${ctx.host} does not support this operation on ${ctx.what}${message ? `: ${message}` : ''}`, st);
  if (st === 413) return new RegistryError('TOO_LARGE', `${ctx.host} refused ${ctx.what}: too large`, st);
  const detail = message || code;
  return new RegistryError('PROTOCOL', `${ctx.host} answered ${st} for ${ctx.what}${detail ? `: ${detail}` : ''}`, st);
}

interface SendOptions {
  headers?: Record<string, string>;
  body?: Body;
  scopes?: string[];
  signal?: AbortSignal;
  /** the body can be sent again (retries, 401 renewal); true unless the body is a stream */
  replayable?: boolean;
  /** follow 3xx (default: GET/HEAD only) */
  followRedirects?: boolean;
}

/** A connection to one registry host with one TLS mode and one identity. */
export class Conn {
  readonly netHost: string;
  private readonly state: HostState;
  private readonly key: string;
  constructor(
    /** host[:port] as configured (docker.io) */
    readonly host: string,
    /** plain http / unverified TLS allowed */
    readonly insecure: boolean,
    readonly creds: Credentials | undefined,
    readonly userAgent: string,
    /** verify TLS of other hosts (redirect targets, token realms) */
    readonly verifyOthers = true,
  ) {
    this.netHost = networkHost(host);
    const key = `${this.netHost}|${insecure ? 'i' : 's'}`;
    this.key = key;
    let st = hostStates.get(key);
    if (!st) hostStates.set(key, (st = {}));
    this.state = st;
  }

  get base(): string {
    return this.state.base!;
  }

  get challenge(): Challenge | null | undefined {
    return this.state.challenge;
  }

  /**
   * GET /v2/ once per host: picks https or (insecure only) http, and learns the auth challenge.
   * What an earlier ctr learnt (hostcache.ts) stands in for the ping unless `fresh`; a request
   * that fails on it pings again (send).
   */
  ready(fresh = false): Promise<void> {
    if (fresh && this.state.fromCache) this.dropCached();
    if (!this.state.ping && !fresh) {
      let c = recallHost(this.key);
      if (c && !this.allowedBase(c.base)) {
        // a memory may say how to talk to this host, never send us elsewhere or to plain HTTP
        debug(`${this.host}: the remembered ${c.base} is not ${this.allowedBases().join(' or ')}: dropped`);
        forgetHost(this.key);
        c = undefined;
      }
      if (c) {
        this.state.base = c.base;
        this.state.challenge = c.challenge;
        this.state.challengeVerified = false;
        this.state.fromCache = true;
        this.state.ping = Promise.resolve();
        debug(`${this.host}: ${c.base}, auth ${c.challenge?.scheme ?? 'none'} (remembered)`);
        return this.state.ping;
      }
    }
    this.state.ping ??= this.ping().catch((e) => {
      this.state.ping = undefined;
      throw e;
    });
    return this.state.ping;
  }

  private async ping(): Promise<void> {
    const schemes = this.insecure ? ['https', 'http'] : ['https'];
    let lastErr: unknown;
    for (const scheme of schemes) {
      const url = new URL(`${scheme}://${this.netHost}/v2/`);
      for (let attempt = 0; ; attempt++) {
        let res: Response;
        try {
          res = await request(url, { method: 'GET', headers: { 'user-agent': this.userAgent }, dispatcher: dispatcherFor(url, !this.insecure) });
        } catch (e) {
          lastErr = e;
          if (isRetryableTransport(e) && attempt < 2 && scheme === schemes[schemes.length - 1]) {
            await sleep(backoffMs(attempt + 1));
            continue;
          }
          debug(`ping ${url.href}: ${(e as Error).message}`);
          break;
        }
        if (res.statusCode >= 500 && attempt < MAX_RETRIES) {
          await res.body.dump();
          await sleep(backoffMs(attempt + 1, res.headers['retry-after']));
          continue;
        }
        if (res.statusCode === 404) {
          await res.body.dump();
          throw new RegistryError('PROTOCOL', `${this.host} is not a container registry (GET /v2/ answered 404)`, 404);
        }
        if (res.statusCode >= 500) throw await responseError(res, { host: this.host, what: this.host, kind: 'ping', hasCreds: !!this.creds });
        this.state.challenge = res.statusCode === 401 ? (pickChallenge(parseChallenges(res.headers['www-authenticate'])) ?? null) : null;
        if (res.statusCode === 401 && !this.state.challenge)
          debug(`${this.host}: 401 without a usable WWW-Authenticate challenge: ${String(res.headers['www-authenticate'])}`);
        await res.body.dump();
        this.state.base = `${scheme}://${this.netHost}`;
        this.state.challengeVerified = scheme === 'https' && !this.insecure;
        this.state.fromCache = false;
        rememberHost(this.key, this.state.base, this.state.challenge);
        debug(`${this.host}: ${this.state.base}, auth ${this.state.challenge?.scheme ?? 'none'}`);
        return;
      }
    }
    throw transportError(lastErr, this.host);
  }

  /** Forgets a remembered ping answer that did not hold (the next ready() pings). */
  private dropCached(): void {
    debug(`${this.host}: the remembered ${this.state.base} did not answer as expected; asking /v2/ again`);
    forgetHost(this.key);
    this.state.fromCache = false;
    this.state.ping = undefined;
    this.state.base = undefined;
    this.state.challenge = undefined;
    this.state.challengeVerified = false;
  }

  /** The only bases this host may be reached at: itself over https, or plain http where allowed (insecure). */
  private allowedBases(): string[] {
    return this.insecure ? [`https://${this.netHost}`, `http://${this.netHost}`] : [`https://${this.netHost}`];
  }

  private allowedBase(base: string): boolean {
    return this.allowedBases().includes(base);
  }

  /** The token realm of the current challenge, when it is on another host than the registry. */
  private foreignRealm(): URL | undefined {
    const ch = this.state.challenge;
    if (!ch || ch.scheme !== 'bearer' || !ch.params['realm']) return undefined;
    try {
      const u = new URL(ch.params['realm']);
      return u.host === this.netHost ? undefined : u;
    } catch {
      return undefined;
    }
  }

  /**
   * Why the stored credentials must not go to this token realm, or undefined when they may.
   * They go to the registry's own host and port (over TLS unless the registry is insecure),
   * and to another host only when the registry named it over verified TLS, in this process
   * (not from the host memory), and it is https too. An insecure registry's token service on
   * the same machine (another port) is as trusted as the registry itself.
   */
  private realmRefusal(url: URL): string | undefined {
    const plain = url.protocol !== 'https:';
    if (url.host === this.netHost) {
      if (plain && !this.insecure) return `${this.host} asked for its credentials over plain HTTP (${url.origin}): refused; it is not configured as insecure`;
      return undefined;
    }
    if (!this.state.challengeVerified) {
      const registryName = new URL(`http://${this.netHost}`).hostname;
      if (this.insecure && url.hostname === registryName) return undefined;
      return `${this.host} named a token service on another host (${url.host}) over a connection that is not verified: the credentials for ${this.host} are only sent there over TLS; configure TLS for ${this.host} (certs.d) or serve its tokens from ${registryName}`;
    }
    if (plain) return `${this.host} named a token service over plain HTTP (${url.origin}): refused to send the credentials for ${this.host} there`;
    return undefined;
  }

  private basic(): string | undefined {
    return this.creds ? 'Basic ' + Buffer.from(`${this.creds.username}:${this.creds.password}`, 'utf8').toString('base64') : undefined;
  }

  /** A Bearer token for these scopes (cached until it expires unless `fresh`). */
  async token(scopes: string[], fresh = false): Promise<string> {
    const ch = this.state.challenge;
    if (!ch || ch.scheme !== 'bearer') throw new Error('no bearer challenge');
    const sorted = [...new Set(scopes)].sort();
    const key = `${this.netHost}|${this.creds?.username ?? ''}|${this.creds ? createHash('sha256').update(this.creds.password).digest('hex').slice(0, 16) : ''}|${sorted.join(' ')}`;
    const c = tokens.get(key);
    if (c && !fresh && c.expires > Date.now() + 5_000) return c.token;
    const realm = ch.params['realm'];
    let url: URL;
    try {
      url = new URL(realm ?? '');
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
    } catch {
      throw new RegistryError('PROTOCOL', `${this.host} asked for a token from an invalid realm "${realm ?? ''}"`);
    }
    if (ch.params['service']) url.searchParams.set('service', ch.params['service']);
    for (const s of sorted) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    const b = this.basic();
    if (b) {
      const refused = this.realmRefusal(url);
      if (refused) throw new RegistryError('PROTOCOL', refused);
      headers.authorization = b;
    }
    const verify = url.host === this.netHost ? !this.insecure : this.verifyOthers;
    let res: Response | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await request(url, { method: 'GET', headers, dispatcher: dispatcherFor(url, verify) });
      } catch (e) {
        if (isRetryableTransport(e) && attempt < MAX_RETRIES) {
          await sleep(backoffMs(attempt + 1));
          continue;
        }
        throw transportError(e, url.host);
      }
      if (res.statusCode >= 500 && attempt < MAX_RETRIES) {
        await res.body.dump();
        await sleep(backoffMs(attempt + 1, res.headers['retry-after']));
        continue;
      }
      break;
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      await res.body.dump();
      throw new RegistryError(
        'UNAUTHORIZED',
        this.creds ? `unauthorized: ${this.host} refused the credentials of ${this.creds.username}; run ctr login ${this.host}` : `unauthorized: run ctr login ${this.host}`,
        res.statusCode,
      );
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new RegistryError('PROTOCOL', `token service ${url.host} answered ${res.statusCode}`, res.statusCode);
    }
    let j: { token?: string; access_token?: string; expires_in?: number };
    try {
      j = JSON.parse((await readCapped(res, 1024 * 1024, 'token answer')).toString('utf8')) as typeof j;
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      throw new RegistryError('PROTOCOL', `token service ${url.host} sent an answer that is not JSON`);
    }
    const token = j.token || j.access_token;
    if (!token) throw new RegistryError('PROTOCOL', `token service ${url.host} sent no token`);
    const ttl = typeof j.expires_in === 'number' && j.expires_in > 0 ? j.expires_in : 60;
    tokens.set(key, { token, expires: Date.now() + ttl * 1000 });
    return token;
  }

  private async authorization(scopes: string[], fresh: boolean): Promise<string | undefined> {
    const ch = this.state.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') return this.basic();
    if (ch.scheme === 'bearer') return 'Bearer ' + (await this.token(scopes, fresh));
    return undefined;
  }

  /**
   * One request with auth, retries (5xx, 429, resets; replayable bodies only), and redirects
   * (Authorization only for the registry's own origin; loops detected). The caller reads or
   * dumps the body.
   */
  async send(method: string, target: string | URL, o: SendOptions = {}): Promise<Response & { url: URL }> {
    await this.ready();
    // credentials go to a token service elsewhere only when the registry named it live over
    // verified TLS: a remembered challenge is asked again first
    if (this.creds && this.state.fromCache && this.foreignRealm()) {
      this.state.reverify ??= this.ready(true).finally(() => {
        this.state.reverify = undefined;
      });
    }
    // (also when another request of this command started it: the base is being asked again)
    if (this.state.reverify) await this.state.reverify;
    let own = new URL(this.base).origin;
    const relative = typeof target === 'string' && !/^https?:\/\//.test(target);
    let url = relative ? new URL(this.base + target) : new URL(target);
    /** A remembered ping answer was wrong: ping again and restart this request (once). */
    const repinged = async (): Promise<boolean> => {
      if (!this.state.fromCache || !relative) return false;
      this.dropCached();
      await this.ready();
      own = new URL(this.base).origin;
      url = new URL(this.base + target);
      return true;
    };
    const replayable = o.replayable ?? !(o.body && typeof o.body === 'object' && !Buffer.isBuffer(o.body));
    const follow = o.followRedirects ?? (method === 'GET' || method === 'HEAD');
    let scopes = o.scopes ?? [];
    let fresh = false;
    let authRetried = false;
    let attempt = 0;
    const seen = new Set<string>();
    for (;;) {
      const sameOrigin = url.origin === own;
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...o.headers };
      if (sameOrigin) {
        let a: string | undefined;
        try {
          a = await this.authorization(scopes, fresh);
        } catch (e) {
          if (await repinged()) continue;
          throw e;
        }
        if (a) headers.authorization = a;
      }
      fresh = false;
      let res: Response;
      try {
        res = await request(url, {
          method: method as Dispatcher.HttpMethod,
          headers,
          body: o.body && typeof o.body === 'object' && !Buffer.isBuffer(o.body) ? Readable.from(o.body, { objectMode: false }) : (o.body ?? null),
          signal: o.signal,
          dispatcher: dispatcherFor(url, sameOrigin ? !this.insecure : this.verifyOthers),
        });
      } catch (e) {
        if (o.signal?.aborted) throw e;
        if ((replayable || !o.body) && (await repinged())) continue;
        if (replayable && isRetryableTransport(e) && attempt < MAX_RETRIES) {
          attempt++;
          debug(`${method} ${url.href}: ${(e as Error).message}; retry ${attempt}`);
          await sleep(backoffMs(attempt));
          continue;
        }
        throw transportError(e, sameOrigin ? this.host : url.host);
      }
      const st = res.statusCode;
      if (this.state.fromCache && sameOrigin) {
        // plain HTTP to a server that now speaks TLS answers 400 (Go) or closes (above)
        if (st === 400 && url.protocol === 'http:' && replayable && relative) {
          await res.body.dump();
          await repinged();
          continue;
        }
        if (st < 500) this.state.fromCache = false;
      }
      if (st === 401 && sameOrigin && !authRetried && replayable) {
        const ch = pickChallenge(parseChallenges(res.headers['www-authenticate']));
        if (ch) {
          const prevScheme = this.state.challenge?.scheme;
          this.state.challenge = ch;
          this.state.challengeVerified = url.protocol === 'https:' && !this.insecure;
          rememberHost(this.key, this.base, ch);
          if (ch.scheme === 'bearer' && ch.params['scope']) scopes = [...new Set([...scopes, ...ch.params['scope'].split(' ')])];
          if (ch.scheme === 'bearer' || (ch.scheme === 'basic' && this.creds && prevScheme !== 'basic')) {
            authRetried = true;
            fresh = true;
            await res.body.dump();
            continue;
          }
        }
      }
      if (follow && (st === 301 || st === 302 || st === 303 || st === 307 || st === 308)) {
        const loc = header(res.headers, 'location');
        await res.body.dump();
        if (!loc) throw new RegistryError('PROTOCOL', `${this.host} sent a redirect without a location`);
        seen.add(url.href);
        const next = new URL(loc, url);
        if (seen.has(next.href) || seen.size > MAX_REDIRECTS)
          throw new RegistryError('PROTOCOL', `redirect loop from ${this.host} (${url.pathname})`);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new RegistryError('PROTOCOL', `${this.host} redirected to an unsupported URL`);
        url = next;
        continue;
      }
      if (replayable && ((st >= 500 && st !== 501 && st !== 505) || st === 429) && attempt < MAX_RETRIES) {
        attempt++;
        await res.body.dump();
        debug(`${method} ${url.href}: ${st}; retry ${attempt}`);
        await sleep(backoffMs(attempt, res.headers['retry-after']));
        continue;
      }
      return Object.assign(res, { url });
    }
  }
}

function digestOf(body: Buffer): string {
  return 'sha256:' + sha256HexOf(body);
}

/** Hands out exact-length pieces of a byte stream (for chunked uploads). */
class ChunkReader {
  private left: Buffer | undefined;
  constructor(private readonly it: AsyncIterator<Buffer>) {}
  async *take(n: number, onBytes?: (n: number) => void): AsyncGenerator<Buffer> {
    let need = n;
    while (need > 0) {
      let c = this.left;
      this.left = undefined;
      if (!c) {
        const r = await this.it.next();
        if (r.done) throw new RegistryError('PROTOCOL', `upload data ended ${need} bytes early`);
        c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      }
      if (c.length > need) {
        this.left = c.subarray(need);
        c = c.subarray(0, need);
      }
      need -= c.length;
      onBytes?.(c.length);
      yield c;
    }
  }
}

function parseLinkNext(link: string | undefined): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /<([^>]*)>\s*;(.*)/.exec(part.trim());
    if (m && /rel="?next"?/.test(m[2]!)) return m[1];
  }
  return undefined;
}

function tlsInsecure(ep: { host: string; insecure: boolean }, tlsVerify: boolean | undefined): boolean {
  if (tlsVerify === false) return true;
  if (tlsVerify === true) return false;
  return ep.insecure;
}

export class RegistryClient {
  /** Which endpoint served the last manifest: host[:port]. */
  lastEndpoint?: string;
  private readonly reads: Endpoint[];
  private readonly origin: Endpoint;
  private preferred?: Endpoint;
  private readonly conns = new Map<string, Conn>();
  private readonly userAgent: string;

  /** ref: domain ("localhost:5000", "docker.io") + repository path ("library/busybox"). */
  constructor(
    readonly domain: string,
    readonly repository: string,
    private readonly opts: ClientOptions = {},
  ) {
    this.userAgent = opts.userAgent ?? `ctr/${VERSION}`;
    const all = endpointsFor(`${domain}/${repository}`, opts.forPull ?? true);
    this.reads = all;
    this.origin = all[all.length - 1]!;
  }

  /** The endpoints reads go to, in order (mirrors first). byDigest filters digest-only mirrors. */
  endpoints(byDigest = false): Endpoint[] {
    if (!byDigest) return this.reads;
    return endpointsFor(`${this.domain}/${this.repository}`, this.opts.forPull ?? true, true);
  }

  private conn(ep: Endpoint): Conn {
    const insecure = tlsInsecure(ep, this.opts.tlsVerify);
    const key = `${ep.host}|${insecure}`;
    let c = this.conns.get(key);
    if (!c) {
      const creds = !ep.mirror && this.opts.credentials ? this.opts.credentials : getCredentials(ep.host);
      c = new Conn(ep.host, insecure, creds, this.userAgent, this.opts.tlsVerify !== false);
      this.conns.set(key, c);
    }
    return c;
  }

  private ctx(ep: Endpoint, kind: ErrorContext['kind'], what: string): ErrorContext {
    return { host: ep.host, what, kind, hasCreds: !!this.conn(ep).creds };
  }

  private pull(ep: Endpoint): string[] {
    return [`repository:${ep.repository}:pull`];
  }
  private push(ep: Endpoint): string[] {
    return [`repository:${ep.repository}:pull,push`];
  }

  private refName(ep: Endpoint, ref?: string): string {
    const base = `${ep.host}/${ep.repository}`;
    if (!ref) return base;
    return isDigest(ref) ? `${base}@${ref}` : `${base}:${ref}`;
  }

  private async fetchManifest(ep: Endpoint, ref: string, accept: string[]): Promise<{ body: Buffer; mediaType: string; digest: string }> {
    const conn = this.conn(ep);
    const what = this.refName(ep, ref);
    const res = await conn.send('GET', `/v2/${ep.repository}/manifests/${ref}`, { headers: { accept: accept.join(', ') }, scopes: this.pull(ep) });
    if (res.statusCode !== 200) throw await responseError(res, this.ctx(ep, 'manifest', what));
    const cl = Number(header(res.headers, 'content-length'));
    if (Number.isFinite(cl) && cl > MAX_MANIFEST_SIZE) {
      res.body.destroy();
      throw new RegistryError('TOO_LARGE', `manifest ${what} is ${cl} bytes, more than the 4 MiB allowed: refused`);
    }
    const body = await readCapped(res, MAX_MANIFEST_SIZE, `manifest ${what}`);
    let mediaType = (header(res.headers, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    let parsed: { schemaVersion?: number; mediaType?: string; manifests?: unknown; layers?: unknown; fsLayers?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
      if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
    } catch {
      throw new RegistryError('PROTOCOL', `manifest ${what} is not valid JSON`);
    }
    if (MEDIA_SCHEMA1.includes(mediaType) || parsed.schemaVersion === 1 || parsed.fsLayers !== undefined)
      throw new RegistryError('UNSUPPORTED', `${what} has a Docker schema 1 manifest, which ctr does not support (push it again with a current tool)`);
    if (!mediaType || mediaType === 'application/json' || mediaType === 'text/plain' || mediaType === 'application/octet-stream') {
      if (typeof parsed.mediaType === 'string') mediaType = parsed.mediaType;
      else mediaType = Array.isArray(parsed.manifests) ? MEDIA_OCI_INDEX : MEDIA_OCI_MANIFEST;
    }
    const digest = digestOf(body);
    if (isDigest(ref) && ref.startsWith('sha256:') && ref !== digest)
      throw new RegistryError('PROTOCOL', `manifest ${what} does not match its digest (got ${digest})`);
    const claimed = header(res.headers, 'docker-content-digest');
    if (!isDigest(ref) && claimed && claimed.startsWith('sha256:') && claimed !== digest)
      throw new RegistryError('PROTOCOL', `manifest ${what} does not match the digest ${claimed} the registry announced`);
    return { body, mediaType, digest };
  }

  /** GET a manifest by tag or digest (mirrors first). See the interface notes. */
  async getManifest(tagOrDigest: string, accept: string[] = DEFAULT_ACCEPT): Promise<{ body: Buffer; mediaType: string; digest: string }> {
    let lastErr: unknown;
    for (const ep of this.endpoints(isDigest(tagOrDigest))) {
      try {
        const r = await this.fetchManifest(ep, tagOrDigest, accept);
        this.lastEndpoint = ep.host;
        this.preferred = ep;
        return r;
      } catch (e) {
        lastErr = e;
        if (ep.mirror) debug(`mirror ${ep.host}: ${(e as Error).message}`);
      }
    }
    throw lastErr;
  }

  /** HEAD a manifest: digest, media type and size, or undefined when unknown. */
  async headManifest(tagOrDigest: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
    let lastErr: unknown;
    for (const ep of this.endpoints(isDigest(tagOrDigest))) {
      try {
        const conn = this.conn(ep);
        const res = await conn.send('HEAD', `/v2/${ep.repository}/manifests/${tagOrDigest}`, { headers: { accept: DEFAULT_ACCEPT.join(', ') }, scopes: this.pull(ep) });
        if (res.statusCode === 404) {
          await res.body.dump();
          lastErr = undefined;
          continue;
        }
        if (res.statusCode !== 200) throw await responseError(res, this.ctx(ep, 'manifest', this.refName(ep, tagOrDigest)));
        await res.body.dump();
        const digest = header(res.headers, 'docker-content-digest') ?? (isDigest(tagOrDigest) ? tagOrDigest : '');
        if (!digest) {
          // no digest header: GET it
          const m = await this.fetchManifest(ep, tagOrDigest, DEFAULT_ACCEPT);
          this.lastEndpoint = ep.host;
          return { digest: m.digest, mediaType: m.mediaType, size: m.body.length };
        }
        this.lastEndpoint = ep.host;
        return {
          digest,
          mediaType: (header(res.headers, 'content-type') ?? '').split(';')[0]!.trim(),
          size: Number(header(res.headers, 'content-length') ?? 0),
        };
      } catch (e) {
        lastErr = e;
      }
    }
    if (lastErr) throw lastErr;
    return undefined;
  }

  private blobEndpoints(): Endpoint[] {
    const p = this.preferred;
    return p ? [p, ...this.reads.filter((e) => e !== p)] : this.reads;
  }

  /**
   * The blob's bytes (NOT verified: the caller hashes). A dropped connection resumes with
   * `Range: bytes=N-`; a wrong length throws.
   */
  async *blob(digest: string, opts: { size?: number; signal?: AbortSignal; onBytes?: (n: number) => void } = {}): AsyncGenerator<Buffer> {
    const eps = this.blobEndpoints();
    let epIdx = 0;
    let offset = 0;
    let total = opts.size;
    let failures = 0;
    for (;;) {
      const ep = eps[epIdx]!;
      const conn = this.conn(ep);
      const what = `${ep.host}/${ep.repository}@${digest}`;
      let res: Response;
      try {
        res = await conn.send('GET', `/v2/${ep.repository}/blobs/${digest}`, {
          headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
          scopes: this.pull(ep),
          signal: opts.signal,
        });
        if (res.statusCode !== 200 && res.statusCode !== 206) throw await responseError(res, this.ctx(ep, 'blob', what));
      } catch (e) {
        if (offset === 0 && epIdx < eps.length - 1 && !opts.signal?.aborted) {
          debug(`blob ${digest} from ${ep.host}: ${(e as Error).message}; next endpoint`);
          epIdx++;
          continue;
        }
        throw e;
      }
      let skip = 0;
      if (offset > 0) {
        if (res.statusCode === 206) {
          const m = /bytes\s+(\d+)-(\d+)\/(\d+|\*)/.exec(header(res.headers, 'content-range') ?? '');
          if (!m || Number(m[1]) !== offset) {
            res.body.destroy();
            throw new RegistryError('PROTOCOL', `${ep.host} answered a resumed download of ${digest} with the wrong range`);
          }
          if (total !== undefined && m[3] !== '*' && Number(m[3]) !== total) {
            res.body.destroy();
            throw new RegistryError('PROTOCOL', `blob ${digest} from ${ep.host} has ${m[3]} bytes, not the ${total} bytes expected`);
          }
        } else skip = offset; // Range ignored: skip what we already have
      } else if (res.statusCode === 206) {
        res.body.destroy();
        throw new RegistryError('PROTOCOL', `${ep.host} sent part of ${digest} when the whole blob was asked for`);
      }
      if (total === undefined && res.statusCode === 200) {
        const cl = Number(header(res.headers, 'content-length'));
        if (Number.isFinite(cl) && header(res.headers, 'content-length') !== undefined) total = cl;
      }
      const before = offset;
      try {
        for await (const chunk of res.body) {
          let c = chunk as Buffer;
          if (skip) {
            if (c.length <= skip) {
              skip -= c.length;
              continue;
            }
            c = c.subarray(skip);
            skip = 0;
          }
          if (total !== undefined && offset + c.length > total) {
            res.body.destroy();
            throw new RegistryError('PROTOCOL', `blob ${digest} from ${ep.host} is longer than its ${total} bytes`);
          }
          offset += c.length;
          opts.onBytes?.(c.length);
          yield c;
        }
      } catch (e) {
        if (e instanceof RegistryError || opts.signal?.aborted) throw e;
        if (offset > before) failures = 0;
        if (!isRetryableTransport(e) || ++failures > MAX_RESUMES) {
          const te = transportError(e, ep.host);
          throw new RegistryError(te.code, `download of ${digest} from ${ep.host} failed after ${offset} bytes: ${te.message}`);
        }
        debug(`blob ${digest}: ${(e as Error).message} at ${offset}; resuming`);
        await sleep(backoffMs(failures));
        continue;
      }
      if (total !== undefined && offset < total) {
        // The body ended cleanly, short of the size expected. One resume at once (a proxy may
        // cut a long answer); a resume that brings nothing means the blob is that short (or
        // the registry lies about its size): fail now rather than back off for seconds.
        if (before > 0 && offset === before)
          throw new RegistryError('PROTOCOL', `blob ${digest} from ${ep.host} ended after ${offset} of ${total} bytes (a resumed download brought nothing more)`);
        if (offset > before) failures = 0;
        if (++failures > MAX_RESUMES)
          throw new RegistryError('PROTOCOL', `blob ${digest} from ${ep.host} ended after ${offset} of ${total} bytes`);
        if (failures > 1) await sleep(backoffMs(failures - 1));
        continue;
      }
      return;
    }
  }

  /** HEAD a blob in this repository at the origin. */
  async hasBlob(digest: string): Promise<boolean> {
    const ep = this.origin;
    const res = await this.conn(ep).send('HEAD', `/v2/${ep.repository}/blobs/${digest}`, { scopes: this.push(ep) });
    await res.body.dump();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await responseError(res, this.ctx(ep, 'blob', `${ep.host}/${ep.repository}@${digest}`));
  }

  /** Cross-repository mount: true when the registry mounted the blob (201). */
  async mountBlob(digest: string, fromRepository: string): Promise<boolean> {
    const ep = this.origin;
    const conn = this.conn(ep);
    const q = new URLSearchParams({ mount: digest, from: fromRepository });
    const res = await conn.send('POST', `/v2/${ep.repository}/blobs/uploads/?${q}`, {
      headers: { 'content-length': '0' },
      scopes: [...this.push(ep), `repository:${fromRepository}:pull`],
    });
    if (res.statusCode === 201) {
      await res.body.dump();
      return true;
    }
    if (res.statusCode === 202) {
      await res.body.dump();
      const loc = header(res.headers, 'location');
      if (loc) {
        const del = await conn.send('DELETE', new URL(loc, res.url), { scopes: this.push(ep) }).catch(() => undefined);
        await del?.body.dump();
      }
      return false;
    }
    if (res.statusCode === 401) throw await responseError(res, this.ctx(ep, 'upload', `${ep.host}/${ep.repository}`));
    if (res.statusCode >= 500) throw await responseError(res, this.ctx(ep, 'upload', `${ep.host}/${ep.repository}`));
    await res.body.dump();
    return false;
  }

  private async startUpload(ep: Endpoint): Promise<URL> {
    const conn = this.conn(ep);
    const res = await conn.send('POST', `/v2/${ep.repository}/blobs/uploads/`, { headers: { 'content-length': '0' }, scopes: this.push(ep) });
    if (res.statusCode !== 202) throw await responseError(res, this.ctx(ep, 'upload', `${ep.host}/${ep.repository}`));
    await res.body.dump();
    const loc = header(res.headers, 'location');
    if (!loc) throw new RegistryError('PROTOCOL', `${ep.host} started an upload without a location`);
    return new URL(loc, res.url);
  }

  private async uploadOnce(digest: string, size: number, data: () => AsyncIterable<Buffer>, chunkSize: number, onBytes?: (n: number) => void): Promise<void> {
    const ep = this.origin;
    const conn = this.conn(ep);
    const what = `${ep.host}/${ep.repository}@${digest}`;
    let loc = await this.startUpload(ep);
    const reader = new ChunkReader(data()[Symbol.asyncIterator]());
    const octet = { 'content-type': 'application/octet-stream' };
    if (size <= chunkSize) {
      const url = new URL(loc);
      url.searchParams.append('digest', digest);
      const res = await conn.send('PUT', url, {
        headers: { ...octet, 'content-length': String(size) },
        body: size > 0 ? reader.take(size, onBytes) : Buffer.alloc(0),
        scopes: this.push(ep),
        replayable: false,
      });
      if (res.statusCode !== 201) throw await responseError(res, this.ctx(ep, 'upload', what));
      await res.body.dump();
      return;
    }
    let sent = 0;
    while (sent < size) {
      const n = Math.min(chunkSize, size - sent);
      const res = await conn.send('PATCH', loc, {
        headers: { ...octet, 'content-length': String(n), 'content-range': `${sent}-${sent + n - 1}` },
        body: reader.take(n, onBytes),
        scopes: this.push(ep),
        replayable: false,
      });
      if (res.statusCode !== 202) throw await responseError(res, this.ctx(ep, 'upload', what));
      await res.body.dump();
      const next = header(res.headers, 'location');
      if (next) loc = new URL(next, res.url);
      sent += n;
    }
    const url = new URL(loc);
    url.searchParams.append('digest', digest);
    const res = await conn.send('PUT', url, { headers: { 'content-length': '0' }, body: Buffer.alloc(0), scopes: this.push(ep) });
    if (res.statusCode !== 201) throw await responseError(res, this.ctx(ep, 'upload', what));
    await res.body.dump();
  }

  /**
   * Uploads a blob to the origin: monolithic when size <= chunkSize (default 64 MiB), else
   * chunked PATCHes. `data` is called again if the upload must restart (reset, 5xx).
   */
  async uploadBlob(digest: string, size: number, data: () => AsyncIterable<Buffer>, opts: { chunkSize?: number; onBytes?: (n: number) => void } = {}): Promise<void> {
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK;
    for (let attempt = 0; ; attempt++) {
      let reported = 0;
      const onBytes = opts.onBytes
        ? (n: number) => {
            reported += n;
            opts.onBytes!(n);
          }
        : undefined;
      try {
        await this.uploadOnce(digest, size, data, chunkSize, onBytes);
        return;
      } catch (e) {
        const retryable =
          (e instanceof RegistryError && (e.code === 'CONNECTION' || (e.status !== undefined && e.status >= 500))) || isRetryableTransport(e);
        if (!retryable || attempt >= 2) throw e instanceof RegistryError ? e : transportError(e, this.origin.host);
        if (reported && opts.onBytes) opts.onBytes(-reported);
        debug(`upload of ${digest}: ${(e as Error).message}; restarting`);
        await sleep(backoffMs(attempt + 1));
      }
    }
  }

  /**
   * Streams a blob whose digest is known only once its bytes are all sent (a layer compressed
   * while it uploads): POST, one PATCH with the whole stream as a chunked body, then the PUT
   * that names the digest (`digestWhenDone`, called after the last byte went out). Not
   * retried: the bytes cannot be replayed; the caller falls back to uploadBlob from its copy.
   * Returns the size sent.
   */
  async uploadStream(data: AsyncIterable<Buffer>, digestWhenDone: () => Promise<string>, opts: { onBytes?: (n: number) => void } = {}): Promise<number> {
    const ep = this.origin;
    const conn = this.conn(ep);
    const where = `${ep.host}/${ep.repository}`;
    const loc = await this.startUpload(ep);
    let sent = 0;
    const counted = async function* (): AsyncGenerator<Buffer> {
      for await (const c of data) {
        sent += c.length;
        opts.onBytes?.(c.length);
        yield c;
      }
    };
    const patch = await conn.send('PATCH', loc, {
      headers: { 'content-type': 'application/octet-stream' },
      body: counted(),
      scopes: this.push(ep),
      replayable: false,
    });
    if (patch.statusCode !== 202 && patch.statusCode !== 204) throw await responseError(patch, this.ctx(ep, 'upload', where));
    await patch.body.dump();
    const next = header(patch.headers, 'location');
    const digest = await digestWhenDone();
    const url = new URL(next ? new URL(next, patch.url) : loc);
    url.searchParams.append('digest', digest);
    const res = await conn.send('PUT', url, { headers: { 'content-length': '0' }, body: Buffer.alloc(0), scopes: this.push(ep) });
    if (res.statusCode !== 201) throw await responseError(res, this.ctx(ep, 'upload', `${where}@${digest}`));
    await res.body.dump();
    return sent;
  }

  /** PUT a manifest by tag or digest at the origin; returns its digest. */
  async putManifest(tagOrDigest: string, body: Buffer, mediaType: string): Promise<string> {
    const ep = this.origin;
    const res = await this.conn(ep).send('PUT', `/v2/${ep.repository}/manifests/${tagOrDigest}`, {
      headers: { 'content-type': mediaType },
      body,
      scopes: this.push(ep),
    });
    if (res.statusCode !== 201 && res.statusCode !== 200) throw await responseError(res, this.ctx(ep, 'manifest', this.refName(ep, tagOrDigest)));
    await res.body.dump();
    return header(res.headers, 'docker-content-digest') ?? digestOf(body);
  }

  /** All tags of the repository (Link pagination followed). */
  async listTags(): Promise<string[]> {
    let lastErr: unknown;
    for (const ep of this.reads) {
      try {
        const out: string[] = [];
        await paginate(this.conn(ep), `/v2/${ep.repository}/tags/list`, this.pull(ep), this.ctx(ep, 'repository', `${ep.host}/${ep.repository}`), (j) => {
          const tags = (j as { tags?: unknown }).tags;
          if (Array.isArray(tags)) out.push(...tags.filter((t): t is string => typeof t === 'string'));
        });
        return out;
      } catch (e) {
        lastErr = e;
      }
    }
    throw lastErr;
  }

  /** The repositories of a registry (/v2/_catalog, Link pagination followed). */
  static async catalog(domain: string, opts: ClientOptions = {}): Promise<string[]> {
    const ep = endpointsFor(domain, false).pop()!;
    const insecure = tlsInsecure(ep, opts.tlsVerify);
    const conn = new Conn(ep.host, insecure, opts.credentials ?? getCredentials(ep.host), opts.userAgent ?? `ctr/${VERSION}`, opts.tlsVerify !== false);
    const out: string[] = [];
    await paginate(conn, '/v2/_catalog?n=1000', ['registry:catalog:*'], { host: ep.host, what: `the catalog of ${ep.host}`, kind: 'catalog', hasCreds: !!conn.creds }, (j) => {
      const r = (j as { repositories?: unknown }).repositories;
      if (Array.isArray(r)) out.push(...r.filter((t): t is string => typeof t === 'string'));
    });
    return out;
  }

  /**
   * Checks credentials against a registry (ctr login): resolves when they are accepted (or
   * the registry asks for none), throws RegistryError UNAUTHORIZED when refused.
   */
  static async checkLogin(host: string, creds: Credentials, opts: { tlsVerify?: boolean; userAgent?: string } = {}): Promise<void> {
    const insecure = tlsInsecure({ host, insecure: isInsecureHost(host, loadRegistryConfig()) }, opts.tlsVerify);
    const conn = new Conn(host, insecure, creds, opts.userAgent ?? `ctr/${VERSION}`, opts.tlsVerify !== false);
    await conn.ready(true);
    if (!conn.challenge) return;
    const refused = () => new RegistryError('UNAUTHORIZED', `login to ${host} failed: wrong username or password`, 401);
    let auth: string;
    if (conn.challenge.scheme === 'bearer') {
      try {
        auth = 'Bearer ' + (await conn.token([], true));
      } catch (e) {
        if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') throw refused();
        throw e;
      }
    } else auth = 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64');
    const url = new URL(conn.base + '/v2/');
    let res: Response;
    try {
      res = await request(url, { method: 'GET', headers: { authorization: auth, 'user-agent': conn.userAgent }, dispatcher: dispatcherFor(url, !insecure) });
    } catch (e) {
      throw transportError(e, host);
    }
    await res.body.dump();
    if (res.statusCode === 401 || res.statusCode === 403) throw refused();
    if (res.statusCode !== 200) throw new RegistryError('PROTOCOL', `${host} answered ${res.statusCode} to the login check`, res.statusCode);
  }
}

async function paginate(conn: Conn, first: string, scopes: string[], ctx: ErrorContext, each: (json: unknown) => void): Promise<void> {
  let target: string | URL = first;
  for (let page = 0; page < 1000; page++) {
    const res = await conn.send('GET', target, { scopes, headers: { accept: 'application/json' } });
    if (res.statusCode !== 200) throw await responseError(res, ctx);
    let j: unknown;
    try {
      j = JSON.parse((await readCapped(res, 16 * 1024 * 1024, ctx.what)).toString('utf8'));
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      throw new RegistryError('PROTOCOL', `${ctx.host} sent ${ctx.what} that is not JSON`);
    }
    each(j);
    const next = parseLinkNext(header(res.headers, 'link'));
    if (!next) return;
    target = new URL(next, res.url);
  }
}

/** A GET of JSON from any URL (Docker Hub's search API), with retries and one-line errors. */
export async function fetchJson(url: URL, opts: { tlsVerify?: boolean; userAgent?: string; host?: string } = {}): Promise<unknown> {
  const host = opts.host ?? url.host;
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await request(url, { method: 'GET', headers: { 'user-agent': opts.userAgent ?? `ctr/${VERSION}`, accept: 'application/json' }, dispatcher: dispatcherFor(url, opts.tlsVerify !== false) });
    } catch (e) {
      if (isRetryableTransport(e) && attempt < MAX_RETRIES) {
        await sleep(backoffMs(attempt + 1));
        continue;
      }
      throw transportError(e, host);
    }
    if ((res.statusCode >= 500 || res.statusCode === 429) && attempt < MAX_RETRIES) {
      await res.body.dump();
      await sleep(backoffMs(attempt + 1, res.headers['retry-after']));
      continue;
    }
    if (res.statusCode !== 200) throw await responseError(res, { host, what: url.pathname, kind: 'catalog', hasCreds: false });
    try {
      return JSON.parse((await readCapped(res, 16 * 1024 * 1024, `answer of ${host}`)).toString('utf8'));
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      throw new RegistryError('PROTOCOL', `${host} sent an answer that is not JSON`);
    }
  }
}
