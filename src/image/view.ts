/** What `images`, `history` and `image inspect` show: rows, filters and Docker's inspect shape. */
import { CtrError } from '../util/errors';
import { goTime, humanSize, timeAgo } from '../util/format';
import { parseReference, familiarName, repositoryOf } from './reference';
import { findImage, layerDiffDir } from './store';
import type { ImageRecord } from './types';

export function createdOf(img: ImageRecord): string {
  return img.config.created || img.loaded;
}

export function createdMs(img: ImageRecord): number {
  const t = Date.parse(createdOf(img));
  return Number.isFinite(t) ? t : 0;
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

function splitName(full: string): { repo: string; tag: string } {
  const at = full.indexOf('@');
  if (at >= 0) return { repo: full.slice(0, at), tag: '<none>' };
  const i = full.lastIndexOf(':');
  if (i > full.lastIndexOf('/')) return { repo: full.slice(0, i), tag: full.slice(i + 1) };
  return { repo: full, tag: '<none>' };
}

export interface ImageRow {
  ID: string;
  Id: string;
  Repository: string;
  Tag: string;
  Digest: string;
  Created: string;
  CreatedSince: string;
  CreatedAt: string;
  CreatedTime: string;
  Size: string;
  VirtualSize: string;
  SharedSize: string;
  UniqueSize: string;
  Containers: number;
  Labels: Record<string, string> | null;
  Names: string[];
  RepoTags: string[];
  RepoDigests: string[];
  Dangling: boolean;
  image: ImageRecord;
}

const FILTER_KEYS = ['reference', 'dangling', 'label', 'before', 'since', 'id', 'until'];

export interface ImageFilter {
  key: string;
  value: string;
}

export function parseFilters(list: string[]): ImageFilter[] {
  return list.map((f) => {
    const eq = f.indexOf('=');
    const key = eq > 0 ? f.slice(0, eq) : f;
    if (!FILTER_KEYS.includes(key)) throw new CtrError(`invalid filter "${f}": use one of ${FILTER_KEYS.map((k) => k + '=').join(', ')}`);
    if (eq <= 0) throw new CtrError(`invalid filter "${f}": expected ${key}=VALUE`);
    const value = f.slice(eq + 1);
    if (key === 'dangling' && !['true', 'false', '1', '0'].includes(value)) throw new CtrError(`invalid filter "${f}": dangling takes true or false`);
    return { key, value };
  });
}

/** Shell-style glob (*, ?, [...]) to a RegExp; `*` does not cross "/" only when `path` is set. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const j = glob.indexOf(']', i + 1);
      if (j < 0) re += '\\[';
      else {
        re += '[' + glob.slice(i + 1, j).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']';
        i = j;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function referenceMatches(pattern: string, name: string): boolean {
  const re = globToRegExp(pattern);
  const forms = new Set<string>([name]);
  const { repo, tag } = splitName(name);
  forms.add(repo);
  try {
    const r = parseReference(name);
    forms.add(familiarName(r));
    forms.add(familiarName({ ...r, tag: undefined, digest: undefined }));
    forms.add(r.path + (tag !== '<none>' ? `:${tag}` : ''));
    forms.add(r.path);
    forms.add(repositoryOf(r));
  } catch {
    /* keep the raw forms */
  }
  for (const f of forms) if (re.test(f)) return true;
  return false;
}

function labelMatches(img: ImageRecord, spec: string): boolean {
  const labels = img.config.config?.Labels ?? {};
  const eq = spec.indexOf('=');
  if (eq < 0) return spec in labels;
  return labels[spec.slice(0, eq)] === spec.slice(eq + 1);
}

function timeFilter(value: string): number {
  // an image reference, or a timestamp / duration for "until"
  try {
    return createdMs(findImage(value));
  } catch (e) {
    const t = Date.parse(value);
    if (Number.isFinite(t)) return t;
    const d = /^(\d+)(s|m|h)$/.exec(value);
    if (d) return Date.now() - Number(d[1]) * ({ s: 1000, m: 60000, h: 3600000 } as Record<string, number>)[d[2]!]!;
    throw e;
  }
}

export interface ListOptions {
  all: boolean;
  filters: ImageFilter[];
  noTrunc: boolean;
  containersOf: (id: string) => number;
}

/** Rows for `ctr images`: one per name (or one <none> row), newest first. */
export function imageRows(images: ImageRecord[], opts: ListOptions): ImageRow[] {
  const parents = new Set(images.map((i) => i.parent).filter((p): p is string => !!p));
  const byKey = new Map<string, ImageFilter[]>();
  for (const f of opts.filters) byKey.set(f.key, [...(byKey.get(f.key) ?? []), f]);
  const before = byKey.get('before')?.map((f) => timeFilter(f.value));
  const since = byKey.get('since')?.map((f) => timeFilter(f.value));
  const until = byKey.get('until')?.map((f) => timeFilter(f.value));
  const now = Date.now();
  const rows: ImageRow[] = [];
  const sorted = images.slice().sort((a, b) => createdMs(b) - createdMs(a) || a.id.localeCompare(b.id));
  for (const img of sorted) {
    const dangling = img.repoTags.length === 0;
    if (!opts.all && dangling && parents.has(img.id)) continue;
    const dang = byKey.get('dangling');
    if (dang && !dang.every((f) => (f.value === 'true' || f.value === '1') === dangling)) continue;
    const labels = byKey.get('label');
    if (labels && !labels.every((f) => labelMatches(img, f.value))) continue;
    const ids = byKey.get('id');
    if (ids && !ids.some((f) => img.id.replace(/^sha256:/, '').startsWith(f.value.replace(/^sha256:/, '')))) continue;
    const c = createdMs(img);
    if (before && !before.every((t) => c < t)) continue;
    if (since && !since.every((t) => c > t)) continue;
    if (until && !until.every((t) => c <= t)) continue;
    let names: string[] = img.repoTags.length ? img.repoTags : [];
    const refs = byKey.get('reference');
    if (refs) {
      names = names.filter((n) => refs.some((f) => referenceMatches(f.value, n)));
      if (!names.length) continue;
    }
    const size = humanSize(img.size);
    const base = {
      ID: opts.noTrunc ? img.id : shortId(img.id),
      Id: img.id,
      Digest: img.digest ?? '',
      Created: timeAgo(createdOf(img), now),
      CreatedSince: timeAgo(createdOf(img), now),
      CreatedAt: goTime(createdOf(img)),
      CreatedTime: createdOf(img),
      Size: size,
      VirtualSize: size,
      SharedSize: '0 B',
      UniqueSize: size,
      Containers: opts.containersOf(img.id),
      Labels: img.config.config?.Labels ?? null,
      Names: img.repoTags,
      RepoTags: img.repoTags,
      RepoDigests: img.repoDigests,
      Dangling: dangling,
    } as Omit<ImageRow, 'Repository' | 'Tag' | 'image'>;
    // the record rides along for the caller, hidden from {{json .}}
    const withImage = (r: Omit<ImageRow, 'image'>): ImageRow => Object.defineProperty(r, 'image', { value: img, enumerable: false }) as ImageRow;
    if (names.length === 0) {
      const fromDigest = img.repoDigests[0] ? splitName(img.repoDigests[0]).repo : '<none>';
      rows.push(withImage({ ...base, Repository: fromDigest, Tag: '<none>' }));
    } else {
      for (const n of names) {
        const { repo, tag } = splitName(n);
        rows.push(withImage({ ...base, Repository: repo, Tag: tag }));
      }
    }
  }
  return rows;
}

/** Podman's `images --format json` element. */
export function imageJson(img: ImageRecord, containers: number): Record<string, unknown> {
  const created = createdOf(img);
  return {
    Id: img.id.replace(/^sha256:/, ''),
    ParentId: img.parent ? img.parent.replace(/^sha256:/, '') : '',
    RepoTags: img.repoTags.length ? img.repoTags : null,
    RepoDigests: img.repoDigests,
    Size: img.size,
    SharedSize: 0,
    VirtualSize: img.size,
    Labels: img.config.config?.Labels ?? null,
    Containers: containers,
    Names: img.repoTags.length ? img.repoTags : undefined,
    Digest: img.digest ?? '',
    History: img.namesHistory ?? img.repoTags,
    Created: Math.floor(Date.parse(created) / 1000) || 0,
    CreatedAt: created,
  };
}

export interface HistoryRow {
  ID: string;
  Id: string;
  Created: string;
  CreatedSince: string;
  CreatedAt: string;
  CreatedBy: string;
  Size: string;
  Comment: string;
  Tags: string;
}

/** `ctr history`: newest first; layer sizes matched to the non-empty history entries. */
export function historyRows(img: ImageRecord, noTrunc: boolean, human = true): HistoryRow[] {
  type H = { created?: string; created_by?: string; comment?: string; empty_layer?: boolean; author?: string };
  let hist: H[] = img.config.history ?? [];
  if (!hist.length) hist = img.layers.map(() => ({ created: img.config.created }));
  const now = Date.now();
  const out: HistoryRow[] = [];
  let layer = 0;
  const sizes = hist.map((h) => {
    if (h.empty_layer) return 0;
    const l = img.layers[layer++];
    return l ? l.size : 0;
  });
  for (let i = hist.length - 1; i >= 0; i--) {
    const h = hist[i]!;
    const top = i === hist.length - 1;
    let by = h.created_by ?? '';
    if (!noTrunc && by.length > 45) by = by.slice(0, 42) + '...';
    out.push({
      ID: top ? (noTrunc ? img.id : shortId(img.id)) : '<missing>',
      Id: top ? img.id : '<missing>',
      Created: human ? timeAgo(h.created, now) : (h.created ?? ''),
      CreatedSince: timeAgo(h.created, now),
      CreatedAt: h.created ?? '',
      CreatedBy: by,
      Size: human ? humanSize(sizes[i]!) : String(sizes[i]!),
      Comment: h.comment ?? '',
      Tags: top ? img.repoTags.join(', ') : '',
    });
  }
  return out;
}

/** Docker's `image inspect` shape (with Podman's extra fields). */
export function inspectImage(img: ImageRecord, driver: string): Record<string, unknown> {
  const dirs = img.layers.map((l) => l.dir);
  const graphData: Record<string, string> = {};
  if (dirs.length && driver !== 'vfs') {
    graphData.UpperDir = dirs[dirs.length - 1]!;
    graphData.WorkDir = dirs[dirs.length - 1]!.replace(/\/diff$/, '/work');
    if (dirs.length > 1) graphData.LowerDir = dirs.slice(0, -1).reverse().join(':');
  } else if (dirs.length) {
    graphData.Dir = dirs[dirs.length - 1]!;
  }
  const cfg = img.config.config ?? {};
  const hist = img.config.history ?? [];
  const lastComment = hist.length ? (hist[hist.length - 1]!.comment ?? '') : '';
  return {
    Id: img.id,
    Digest: img.digest ?? '',
    RepoTags: img.repoTags,
    RepoDigests: img.repoDigests,
    Parent: img.parent ?? '',
    Comment: lastComment,
    Created: createdOf(img),
    Config: cfg,
    Version: '',
    Author: img.config.author ?? '',
    Architecture: img.config.architecture,
    Variant: img.config.variant ?? '',
    Os: img.config.os,
    Size: img.size,
    VirtualSize: img.size,
    GraphDriver: { Name: driver, Data: graphData },
    RootFS: { Type: 'layers', Layers: img.layers.map((l) => l.diffId) },
    Metadata: { LastTagTime: img.loaded },
    Labels: cfg.Labels ?? null,
    User: cfg.User ?? '',
    History: hist,
    NamesHistory: img.namesHistory ?? [],
    ManifestType: 'application/vnd.oci.image.manifest.v1+json',
  };
}

export { layerDiffDir };
