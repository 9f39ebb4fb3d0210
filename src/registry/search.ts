/**
 * `ctr search`: Docker Hub's search API for docker.io, the /v2/_catalog of other registries
 * filtered by the term. A term "HOST/words" searches HOST only; otherwise every
 * unqualified-search registry is searched (one failing is a warning while others answer).
 */
import { CtrError } from '../util/errors';
import { loadRegistryConfig } from './config';

export interface SearchResult {
  Index: string;
  Name: string;
  Description: string;
  Stars: number;
  Official: string;
  Automated: string;
  Tag: string;
}

export interface SearchFilter {
  stars?: number;
  official?: boolean;
  automated?: boolean;
}

export function parseSearchFilters(filters: string[]): SearchFilter {
  const f: SearchFilter = {};
  const bool = (k: string, v: string) => {
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw new CtrError(`invalid filter "${k}=${v}": use ${k}=true or ${k}=false`);
  };
  for (const raw of filters) {
    const i = raw.indexOf('=');
    const k = i < 0 ? raw : raw.slice(0, i);
    const v = i < 0 ? '' : raw.slice(i + 1);
    if (k === 'stars') {
      if (!/^\d+$/.test(v)) throw new CtrError(`invalid filter "${raw}": stars needs a number (stars=N)`);
      f.stars = Number(v);
    } else if (k === 'is-official') f.official = bool(k, v);
    else if (k === 'is-automated') f.automated = bool(k, v);
    else throw new CtrError(`invalid filter "${raw}": use stars=N, is-official=true|false or is-automated=true|false`);
  }
  return f;
}

export function applyFilter(rows: SearchResult[], f: SearchFilter): SearchResult[] {
  return rows.filter(
    (r) =>
      (f.stars === undefined || r.Stars >= f.stars) &&
      (f.official === undefined || (r.Official === '[OK]') === f.official) &&
      (f.automated === undefined || (r.Automated === '[OK]') === f.automated),
  );
}

/** Splits "HOST/term" (HOST has a '.' or ':' or is localhost) from a plain term. */
export function splitTerm(term: string): { host?: string; term: string } {
  const i = term.indexOf('/');
  if (i > 0) {
    const first = term.slice(0, i);
    if (first.includes('.') || first.includes(':') || first === 'localhost') return { host: first === 'index.docker.io' ? 'docker.io' : first, term: term.slice(i + 1) };
  }
  return { term };
}

/** Rows from Docker Hub's /v1/search answer. */
export function hubRows(json: unknown): SearchResult[] {
  const results = (json as { results?: unknown }).results;
  if (!Array.isArray(results)) return [];
  return results.map((r: { name?: string; description?: string; star_count?: number; is_official?: boolean; is_automated?: boolean }) => {
    const name = String(r.name ?? '');
    return {
      Index: 'docker.io',
      Name: `docker.io/${name.includes('/') ? name : `library/${name}`}`,
      Description: String(r.description ?? ''),
      Stars: Number(r.star_count ?? 0),
      Official: r.is_official ? '[OK]' : '',
      Automated: r.is_automated ? '[OK]' : '',
      Tag: '',
    };
  });
}

/** Catalog entries matching the term (case-insensitive substring), as rows. */
export function catalogRows(host: string, repos: string[], term: string): SearchResult[] {
  const t = term.toLowerCase();
  return repos
    .filter((r) => r.toLowerCase().includes(t))
    .map((r) => ({ Index: host, Name: `${host}/${r}`, Description: '', Stars: 0, Official: '', Automated: '', Tag: '' }));
}

export interface SearchOptions {
  limit: number;
  filter: SearchFilter;
  tlsVerify?: boolean;
  listTags?: boolean;
  warn: (msg: string) => void;
}

async function searchOne(host: string, term: string, o: SearchOptions): Promise<SearchResult[]> {
  const { fetchJson, RegistryClient } = await import('./client.js');
  if (o.listTags) {
    const repo = term.includes('/') || host !== 'docker.io' ? term : `library/${term}`;
    const tags = await new RegistryClient(host, repo, { tlsVerify: o.tlsVerify }).listTags();
    return tags.slice(0, o.limit).map((t) => ({ Index: host, Name: `${host}/${repo}`, Description: '', Stars: 0, Official: '', Automated: '', Tag: t }));
  }
  let rows: SearchResult[];
  if (host === 'docker.io') {
    const url = new URL('https://index.docker.io/v1/search');
    url.searchParams.set('q', term);
    url.searchParams.set('n', String(Math.max(o.limit, 25)));
    rows = hubRows(await fetchJson(url, { host: 'docker.io' }));
  } else {
    rows = catalogRows(host, await RegistryClient.catalog(host, { tlsVerify: o.tlsVerify }), term);
  }
  return applyFilter(rows, o.filter).slice(0, o.limit);
}

export async function search(termArg: string, o: SearchOptions): Promise<SearchResult[]> {
  const { host, term } = splitTerm(termArg);
  if (o.listTags && !term) throw new CtrError('--list-tags needs a repository name');
  const hosts = host ? [host] : loadRegistryConfig().unqualifiedSearch;
  if (!hosts.length) throw new CtrError('no registry to search: give HOST/TERM or set unqualified-search-registries in registries.conf');
  const out: SearchResult[] = [];
  let firstErr: unknown;
  let ok = 0;
  for (const h of hosts) {
    try {
      out.push(...(await searchOne(h, term, o)));
      ok++;
    } catch (e) {
      firstErr ??= e;
      if (hosts.length > 1) o.warn(`searching ${h}: ${(e as Error).message}`);
    }
  }
  if (!ok && firstErr) throw firstErr;
  return out;
}
