/**
 * HTTP plumbing for registries (undici): one keep-alive dispatcher per (host, TLS mode), with
 * the CA certificates and client keys of certs.d, and the proxy from HTTPS_PROXY/HTTP_PROXY
 * unless NO_PROXY (or a loopback host) says otherwise.
 *
 * certs.d: $CTR_CERTS_DIR (a ':'-separated list of directories, for tests) replaces the
 * defaults ~/.config/containers/certs.d (non-root), /etc/containers/certs.d, /etc/docker/certs.d.
 * In each, HOST[:PORT]/ holds *.crt (CAs, added to the system roots) and NAME.cert + NAME.key
 * (a client certificate).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { rootCertificates } from 'node:tls';
import { isIP } from 'node:net';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import { CtrError } from '../util/errors';

export function certsDirs(): string[] {
  const env = process.env.CTR_CERTS_DIR;
  if (env) return env.split(':').filter(Boolean);
  const dirs: string[] = [];
  const uid = process.getuid ? process.getuid() : 0;
  if (uid !== 0) dirs.push(path.join(process.env.XDG_CONFIG_HOME || path.join(process.env.HOME || os.homedir(), '.config'), 'containers', 'certs.d'));
  dirs.push('/etc/containers/certs.d', '/etc/docker/certs.d');
  return dirs;
}

export interface TlsFiles {
  ca: string[];
  cert?: string;
  key?: string;
}

/** The CA and client certificates certs.d holds for host[:port]. */
export function tlsFilesFor(host: string): TlsFiles {
  const out: TlsFiles = { ca: [] };
  for (const base of certsDirs()) {
    const dir = path.join(base, host.replace(/[/]/g, '_'));
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      const f = path.join(dir, n);
      try {
        if (n.endsWith('.crt')) out.ca.push(fs.readFileSync(f, 'utf8'));
        else if (n.endsWith('.cert') && !out.cert) {
          const keyFile = path.join(dir, n.slice(0, -5) + '.key');
          if (!fs.existsSync(keyFile)) throw new CtrError(`client certificate ${f} has no key ${keyFile}`);
          out.cert = fs.readFileSync(f, 'utf8');
          out.key = fs.readFileSync(keyFile, 'utf8');
        } else if (n.endsWith('.key') && !fs.existsSync(path.join(dir, n.slice(0, -4) + '.cert'))) {
          throw new CtrError(`client key ${f} has no certificate ${n.slice(0, -4)}.cert`);
        }
      } catch (e) {
        if (e instanceof CtrError) throw e;
        throw new CtrError(`cannot read ${f}: ${(e as Error).message}`);
      }
    }
  }
  return out;
}

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost']);

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, p) => (a << 8) + Number(p), 0) >>> 0;
}

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (LOOPBACK_NAMES.has(h) || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1';
  return false;
}

/** Go's NO_PROXY rules: "*", host names (a leading "." or not: the domain and its subdomains), IPs, CIDRs, optional :port. */
export function noProxyMatches(noProxy: string, hostname: string, port: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  for (let entry of noProxy.split(/[,\s]+/).filter(Boolean)) {
    entry = entry.toLowerCase();
    if (entry === '*') return true;
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(entry);
    if (cidr) {
      if (isIP(host) === 4) {
        const bits = Number(cidr[2]);
        const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
        if (((ipv4ToInt(host) & mask) >>> 0) === ((ipv4ToInt(cidr[1]!) & mask) >>> 0)) return true;
      }
      continue;
    }
    let entryPort = '';
    const pm = /^(.*[^:]):(\d+)$/.exec(entry);
    if (pm && !entry.includes('::')) {
      entry = pm[1]!;
      entryPort = pm[2]!;
    }
    entry = entry.replace(/^\[|\]$/g, '');
    if (entryPort && entryPort !== port) continue;
    if (entry.startsWith('*.')) entry = entry.slice(1);
    if (entry.startsWith('.')) {
      if (host.endsWith(entry) || host === entry.slice(1)) return true;
    } else if (host === entry || host.endsWith('.' + entry)) return true;
  }
  return false;
}

/** The proxy URL for a request to url, or undefined for a direct connection. */
export function proxyFor(url: URL): string | undefined {
  const env = (n: string) => process.env[n] ?? process.env[n.toLowerCase()];
  const hostname = url.hostname;
  if (isLoopback(hostname)) return undefined;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const noProxy = env('NO_PROXY');
  if (noProxy && noProxyMatches(noProxy, hostname, port)) return undefined;
  const p = url.protocol === 'https:' ? env('HTTPS_PROXY') : env('HTTP_PROXY');
  if (!p) return undefined;
  return /^[a-z]+:\/\//i.test(p) ? p : `http://${p}`;
}

const dispatchers = new Map<string, Dispatcher>();

/**
 * A dispatcher for a URL. verify=false accepts any certificate. certs.d is read for the
 * URL's host[:port] (only for https).
 */
export function dispatcherFor(url: URL, verify: boolean): Dispatcher {
  const proxy = proxyFor(url);
  const key = `${url.protocol}//${url.host}|${verify ? 1 : 0}|${proxy ?? ''}`;
  let d = dispatchers.get(key);
  if (d) return d;
  const tls: { ca?: string[]; cert?: string; key?: string; rejectUnauthorized: boolean } = { rejectUnauthorized: verify };
  if (url.protocol === 'https:') {
    const files = tlsFilesFor(url.host);
    if (files.ca.length) tls.ca = [...rootCertificates, ...files.ca];
    if (files.cert) {
      tls.cert = files.cert;
      tls.key = files.key;
    }
  }
  const common = { keepAliveTimeout: 10_000, connectTimeout: 30_000, headersTimeout: 120_000, bodyTimeout: 120_000 };
  d = proxy ? new ProxyAgent({ ...common, uri: proxy, requestTls: tls }) : new Agent({ ...common, connect: tls });
  dispatchers.set(key, d);
  return d;
}

/** Closes every pooled connection (lets the process exit at once). */
export async function closeDispatchers(): Promise<void> {
  const all = [...dispatchers.values()];
  dispatchers.clear();
  await Promise.all(all.map((d) => d.close().catch(() => undefined)));
}
