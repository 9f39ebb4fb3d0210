/**
 * Registry configuration, Podman's registries.conf (v2, and the old v1 tables):
 *
 *   unqualified-search-registries = ["docker.io"]
 *   [[registry]]
 *   prefix = "docker.io"            # what references it applies to (host[/path], or *.domain)
 *   location = "registry.local:5000/hub"   # where they really are (default: the prefix)
 *   insecure = false                # plain http or unverified TLS
 *   blocked = false
 *   mirror-by-digest-only = false
 *   [[registry.mirror]]             # tried in order before the location, for pulls only
 *   location = "mirror.local:5000"
 *   insecure = true
 *
 * Files: $CTR_REGISTRIES_CONF (or $CONTAINERS_REGISTRIES_CONF) alone when set; otherwise
 * ~/.config/containers/registries.conf when it exists, else /etc/containers/registries.conf,
 * then the drop-ins /etc/containers/registries.conf.d/*.conf and
 * ~/.config/containers/registries.conf.d/*.conf in name order (a drop-in replaces the search
 * list when it sets one, and a registry entry with the same prefix).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CtrError } from '../util/errors';
import { parseToml, TomlError } from './toml';

export interface MirrorConfig {
  location: string;
  insecure: boolean;
  /** "all" (default), "digest-only" or "tag-only" */
  pullFromMirror?: string;
}

export interface RegistryEntry {
  prefix: string;
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrors: MirrorConfig[];
  mirrorByDigestOnly?: boolean;
}

export interface RegistryConfig {
  unqualifiedSearch: string[];
  registries: RegistryEntry[];
  /** The files read, in order (for messages and `ctr info`). */
  files?: string[];
}

/** A place to talk to for a reference. */
export interface Endpoint {
  /** host[:port] as written in the configuration (docker.io stays docker.io). */
  host: string;
  /** Repository path prefix at that host ("" when the location has no path). */
  pathPrefix: string;
  insecure: boolean;
  mirror: boolean;
  /** The repository path at this endpoint (the reference's path rewritten for the location). */
  repository: string;
}

export const DEFAULT_SEARCH = ['docker.io'];

type Raw = Record<string, unknown>;

function str(v: unknown, what: string, file: string): string {
  if (typeof v !== 'string') throw new CtrError(`${file}: ${what} must be a string`);
  return v;
}
function bool(v: unknown, what: string, file: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new CtrError(`${file}: ${what} must be true or false`);
  return v;
}
function strList(v: unknown, what: string, file: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new CtrError(`${file}: ${what} must be a list of strings`);
  return v as string[];
}

function stripScheme(loc: string): string {
  return loc.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
}

/** Parses one registries.conf text (v1 or v2) into a partial config. */
export function parseRegistriesConf(text: string, file = 'registries.conf'): { unqualifiedSearch?: string[]; registries: RegistryEntry[] } {
  let raw: Raw;
  try {
    raw = parseToml(text);
  } catch (e) {
    if (e instanceof TomlError) throw new CtrError(`cannot parse ${file}: ${e.message}`);
    throw e;
  }
  const out: { unqualifiedSearch?: string[]; registries: RegistryEntry[] } = { registries: [] };
  if (raw['unqualified-search-registries'] !== undefined)
    out.unqualifiedSearch = strList(raw['unqualified-search-registries'], 'unqualified-search-registries', file).map(stripScheme);
  const regs = raw['registry'];
  if (regs !== undefined) {
    if (!Array.isArray(regs)) throw new CtrError(`${file}: "registry" must be written [[registry]]`);
    for (const r of regs as Raw[]) {
      const prefixRaw = r['prefix'] !== undefined ? stripScheme(str(r['prefix'], 'registry.prefix', file)) : undefined;
      const locRaw = r['location'] !== undefined ? stripScheme(str(r['location'], 'registry.location', file)) : undefined;
      const prefix = prefixRaw || locRaw;
      if (!prefix) throw new CtrError(`${file}: a [[registry]] needs a prefix or a location`);
      if (prefix.startsWith('*.') && locRaw) throw new CtrError(`${file}: registry with wildcard prefix "${prefix}" cannot have a location`);
      const mirrors: MirrorConfig[] = [];
      const ms = r['mirror'];
      if (ms !== undefined) {
        if (!Array.isArray(ms)) throw new CtrError(`${file}: "registry.mirror" must be written [[registry.mirror]]`);
        for (const m of ms as Raw[]) {
          const location = stripScheme(str(m['location'], 'registry.mirror.location', file));
          if (!location) throw new CtrError(`${file}: a [[registry.mirror]] needs a location`);
          const mc: MirrorConfig = { location, insecure: bool(m['insecure'], 'registry.mirror.insecure', file) };
          if (m['pull-from-mirror'] !== undefined) {
            const p = str(m['pull-from-mirror'], 'pull-from-mirror', file);
            if (!['all', 'digest-only', 'tag-only'].includes(p)) throw new CtrError(`${file}: pull-from-mirror must be all, digest-only or tag-only`);
            mc.pullFromMirror = p;
          }
          mirrors.push(mc);
        }
      }
      out.registries.push({
        prefix,
        location: prefix.startsWith('*.') ? '' : locRaw || prefix,
        insecure: bool(r['insecure'], 'registry.insecure', file),
        blocked: bool(r['blocked'], 'registry.blocked', file),
        mirrors,
        mirrorByDigestOnly: bool(r['mirror-by-digest-only'], 'mirror-by-digest-only', file),
      });
    }
  }
  // v1: [registries.search] registries = [...], [registries.insecure], [registries.block]
  const v1 = raw['registries'];
  if (v1 && typeof v1 === 'object' && !Array.isArray(v1)) {
    const t = v1 as Raw;
    const list = (k: string): string[] => {
      const sec = t[k] as Raw | undefined;
      return sec && sec['registries'] !== undefined ? strList(sec['registries'], `registries.${k}.registries`, file).map(stripScheme) : [];
    };
    const search = list('search');
    if (search.length) out.unqualifiedSearch = search;
    const entry = (host: string) => {
      let e = out.registries.find((r) => r.prefix === host);
      if (!e) out.registries.push((e = { prefix: host, location: host, insecure: false, blocked: false, mirrors: [] }));
      return e;
    };
    for (const h of list('insecure')) entry(h).insecure = true;
    for (const h of list('block')) entry(h).blocked = true;
  }
  return out;
}

function merge(into: RegistryConfig, part: { unqualifiedSearch?: string[]; registries: RegistryEntry[] }): void {
  if (part.unqualifiedSearch) into.unqualifiedSearch = part.unqualifiedSearch;
  for (const r of part.registries) {
    const i = into.registries.findIndex((x) => x.prefix === r.prefix);
    if (i >= 0) into.registries[i] = r;
    else into.registries.push(r);
  }
}

function userConfigDir(): string {
  return path.join(process.env.XDG_CONFIG_HOME || path.join(process.env.HOME || os.homedir(), '.config'), 'containers');
}

function dropIns(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.conf'))
      .sort()
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/** The files that make up the configuration, in the order they apply. */
export function registryConfigFiles(): string[] {
  const override = process.env.CTR_REGISTRIES_CONF || process.env.CONTAINERS_REGISTRIES_CONF;
  if (override) return [override];
  const user = path.join(userConfigDir(), 'registries.conf');
  const main = fs.existsSync(user) ? user : '/etc/containers/registries.conf';
  return [main, ...dropIns('/etc/containers/registries.conf.d'), ...dropIns(path.join(userConfigDir(), 'registries.conf.d'))];
}

let cached: RegistryConfig | undefined;

/** Reads the configuration (once per process). A file that cannot be parsed is a CtrError naming it. */
export function loadRegistryConfig(): RegistryConfig {
  if (cached) return cached;
  const cfg: RegistryConfig = { unqualifiedSearch: [...DEFAULT_SEARCH], registries: [], files: [] };
  const files = registryConfigFiles();
  const override = files.length === 1 && (process.env.CTR_REGISTRIES_CONF || process.env.CONTAINERS_REGISTRIES_CONF);
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT' && !override) continue;
      if (code === 'ENOENT') throw new CtrError(`registries configuration ${f} does not exist (check CTR_REGISTRIES_CONF)`);
      throw new CtrError(`cannot read ${f}: ${(e as Error).message}`);
    }
    merge(cfg, parseRegistriesConf(text, f));
    cfg.files!.push(f);
  }
  cached = cfg;
  return cfg;
}

/** Forgets the cached configuration (tests, or after the environment changed). */
export function resetRegistryConfig(config?: RegistryConfig): void {
  cached = config;
}

/** Does a registries.conf prefix apply to "host/path"? */
export function prefixMatches(prefix: string, domainAndPath: string): boolean {
  if (prefix.startsWith('*.')) {
    const host = domainAndPath.split('/')[0]!.replace(/:\d+$/, '');
    return host.endsWith(prefix.slice(1));
  }
  return domainAndPath === prefix || domainAndPath.startsWith(prefix + '/');
}

/** The entry whose prefix matches best (longest; a non-wildcard beats a wildcard). */
export function findRegistry(domainAndPath: string, config = loadRegistryConfig()): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  let bestLen = -1;
  for (const r of config.registries) {
    if (!prefixMatches(r.prefix, domainAndPath)) continue;
    const len = r.prefix.startsWith('*.') ? 0 : r.prefix.length;
    if (len > bestLen) {
      best = r;
      bestLen = len;
    }
  }
  return best;
}

function endpointAt(location: string, remainder: string, insecure: boolean, mirror: boolean): Endpoint {
  const slash = location.indexOf('/');
  const host = slash < 0 ? location : location.slice(0, slash);
  const pathPrefix = slash < 0 ? '' : location.slice(slash + 1);
  const repository = [pathPrefix, remainder.replace(/^\/+/, '')].filter(Boolean).join('/');
  return { host, pathPrefix, insecure, mirror, repository };
}

/** A CtrError for a registry blocked in the configuration. */
export class BlockedRegistryError extends CtrError {
  constructor(what: string) {
    super(`registry ${what} is blocked in registries.conf`);
  }
}

/**
 * Where to look for "host/path": for pulls the mirrors in order, then the location (origin);
 * for pushes the location only. `byDigest` tells whether the reference has a digest (for
 * mirror-by-digest-only and pull-from-mirror).
 */
export function endpointsFor(domainAndPath: string, forPull: boolean, byDigest = false, config = loadRegistryConfig()): Endpoint[] {
  const domain = domainAndPath.split('/')[0]!;
  const entry = findRegistry(domainAndPath, config);
  if (!entry) return [endpointAt(domain, domainAndPath.slice(domain.length), false, false)];
  if (entry.blocked) throw new BlockedRegistryError(domainAndPath);
  const wildcard = entry.prefix.startsWith('*.');
  const remainder = wildcard ? domainAndPath.slice(domain.length) : domainAndPath.slice(entry.prefix.length);
  const out: Endpoint[] = [];
  if (forPull && !(entry.mirrorByDigestOnly && !byDigest)) {
    for (const m of entry.mirrors) {
      if (m.pullFromMirror === 'digest-only' && !byDigest) continue;
      if (m.pullFromMirror === 'tag-only' && byDigest) continue;
      out.push(endpointAt(m.location, remainder, m.insecure, true));
    }
  }
  out.push(wildcard ? endpointAt(domain, remainder, entry.insecure, false) : endpointAt(entry.location, remainder, entry.insecure, false));
  return out;
}

/** True when the configuration marks host[:port] insecure (a [[registry]] whose location is that host). */
export function isInsecureHost(host: string, config = loadRegistryConfig()): boolean {
  const e = findRegistry(host, config);
  if (e?.insecure) return true;
  for (const r of config.registries) {
    if (r.location.split('/')[0] === host && r.insecure) return true;
    if (r.mirrors.some((m) => m.location.split('/')[0] === host && m.insecure)) return true;
  }
  return false;
}
