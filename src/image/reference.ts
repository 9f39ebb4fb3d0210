/**
 * Image references with Docker's normalisation:
 *   busybox                  → docker.io/library/busybox:latest
 *   user/app                 → docker.io/user/app:latest
 *   host:5000/ns/app:tag     → host:5000/ns/app:tag
 *   name@sha256:HEX          → docker.io/library/name@sha256:HEX (no tag added)
 *   name:tag@sha256:HEX      → both kept
 * Grammar after distribution/reference: lower-case path components separated by `/`,
 * components made of [a-z0-9] runs joined by `.`, `_`, `__` or runs of `-`; tag
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; digest ALGO:HEX.
 */
import { CtrError } from '../util/errors';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_NS = 'library';
const NAME_MAX = 255;

export interface Reference {
  /** registry host[:port], e.g. "docker.io", "localhost:5000" */
  domain: string;
  /** repository path inside the registry, e.g. "library/busybox" */
  path: string;
  tag?: string;
  /** "sha256:<hex>" */
  digest?: string;
}

export class InvalidReferenceError extends CtrError {
  constructor(
    public readonly input: string,
    public readonly reason: string,
  ) {
    super(`invalid reference format "${input}": ${reason}`, 125);
    this.name = 'InvalidReferenceError';
  }
}

const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT_RE = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_RE = /^\[[a-fA-F0-9:]+\]$/;
const DIGEST_ALGO_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*$/;
const HEX64_RE = /^[a-f0-9]{64}$/;

/** Checks "ALGO:HEX"; returns the reason it is invalid, or undefined. */
export function digestProblem(d: string): string | undefined {
  const i = d.indexOf(':');
  if (i <= 0) return `invalid digest "${d}": expected ALGORITHM:HEX`;
  const algo = d.slice(0, i);
  const hex = d.slice(i + 1);
  if (!DIGEST_ALGO_RE.test(algo)) return `invalid digest algorithm "${algo}"`;
  if (algo === 'sha256') {
    if (!HEX64_RE.test(hex)) return `invalid sha256 digest "${d}": needs 64 lower-case hex digits`;
  } else if (algo === 'sha512') {
    if (!/^[a-f0-9]{128}$/.test(hex)) return `invalid sha512 digest "${d}": needs 128 lower-case hex digits`;
  } else if (!/^[a-fA-F0-9]{32,}$/.test(hex)) {
    return `invalid digest "${d}"`;
  } else {
    return `unsupported digest algorithm "${algo}"`;
  }
  return undefined;
}

function domainProblem(domain: string): string | undefined {
  let host = domain;
  const m = /^(.*):([0-9]+)$/.exec(domain);
  if (m) host = m[1]!;
  else if (domain.includes(':') && !IPV6_RE.test(domain)) return `invalid registry port in "${domain}"`;
  if (IPV6_RE.test(host)) return undefined;
  if (host === '') return 'empty registry host';
  for (const c of host.split('.')) if (!DOMAIN_COMPONENT_RE.test(c)) return `invalid registry host "${host}"`;
  return undefined;
}

/** Splits "domain/remainder" the way Docker does (the first component is a domain only when it looks like one). */
function splitDomain(name: string): { domain: string; path: string; explicitDomain: boolean } {
  const i = name.indexOf('/');
  let domain: string;
  let path: string;
  let explicitDomain = true;
  if (i === -1) {
    domain = DEFAULT_DOMAIN;
    path = name;
    explicitDomain = false;
  } else {
    const first = name.slice(0, i);
    if (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first) {
      domain = DEFAULT_DOMAIN;
      path = name;
      explicitDomain = false;
    } else {
      domain = first;
      path = name.slice(i + 1);
    }
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `${OFFICIAL_NS}/${path}`;
  return { domain, path, explicitDomain };
}

/**
 * Parses and normalises a reference. No default tag is added (see withDefaultTag).
 * Throws InvalidReferenceError naming the reason.
 */
export function parseReference(input: string): Reference {
  const s = input.trim();
  if (s === '') throw new InvalidReferenceError(input, 'empty reference');
  if (/\s/.test(s)) throw new InvalidReferenceError(input, 'white space is not allowed');
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digest === '') throw new InvalidReferenceError(input, 'empty digest after "@"');
    const p = digestProblem(digest);
    if (p) throw new InvalidReferenceError(input, p);
  }
  let tag: string | undefined;
  // A tag is after the last ':' that follows the last '/' (a ':' before a '/' is a port).
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') throw new InvalidReferenceError(input, 'empty tag after ":"');
    if (!TAG_RE.test(tag))
      throw new InvalidReferenceError(input, `invalid tag "${tag}": use letters, digits, "_", "." and "-" (at most 128, not starting with "." or "-")`);
  }
  if (rest === '') throw new InvalidReferenceError(input, 'repository name must have at least one component');
  if (HEX64_RE.test(rest) && tag === undefined && digest === undefined)
    throw new InvalidReferenceError(input, 'a 64-digit hexadecimal string is an image ID, not a repository name');
  const { domain, path, explicitDomain } = splitDomain(rest);
  if (explicitDomain) {
    const p = domainProblem(domain);
    if (p) throw new InvalidReferenceError(input, p);
  }
  if (path === '' || path.split('/').some((c) => c === ''))
    throw new InvalidReferenceError(input, 'repository name has an empty path component');
  for (const c of path.split('/')) {
    if (!COMPONENT_RE.test(c)) {
      if (c.toLowerCase() !== c && COMPONENT_RE.test(c.toLowerCase()))
        throw new InvalidReferenceError(input, `repository name "${path}" must be lowercase`);
      throw new InvalidReferenceError(
        input,
        `invalid repository name component "${c}": use lower-case letters and digits, separated by ".", "_", "__" or "-"`,
      );
    }
  }
  const full = `${domain}/${path}`;
  if (full.length > NAME_MAX) throw new InvalidReferenceError(input, `repository name must not be more than ${NAME_MAX} characters`);
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Adds ":latest" when the reference has neither tag nor digest. */
export function withDefaultTag(ref: Reference): Reference {
  if (ref.tag === undefined && ref.digest === undefined) return { ...ref, tag: DEFAULT_TAG };
  return ref;
}

/** Parses, normalises and adds the default tag: "busybox" → "docker.io/library/busybox:latest". */
export function normalizeReference(input: string): string {
  return formatReference(withDefaultTag(parseReference(input)));
}

/** "domain/path" */
export function repositoryOf(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full string form: domain/path[:tag][@digest] */
export function formatReference(ref: Reference): string {
  let s = repositoryOf(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** Docker's short display form: "busybox:latest", "user/app:1", "quay.io/x/y:z". */
export function familiarName(ref: Reference): string {
  let name = repositoryOf(ref);
  if (ref.domain === DEFAULT_DOMAIN) {
    name = ref.path.startsWith(`${OFFICIAL_NS}/`) ? ref.path.slice(OFFICIAL_NS.length + 1) : ref.path;
  }
  if (ref.tag !== undefined) name += `:${ref.tag}`;
  if (ref.digest !== undefined) name += `@${ref.digest}`;
  return name;
}

/** A tag reference (has a tag, no digest): what `tag`, `import` and `load` names must be. */
export function parseTagReference(input: string): Reference {
  const ref = withDefaultTag(parseReference(input));
  if (ref.digest !== undefined) throw new InvalidReferenceError(input, 'a digest reference cannot be used as a tag name; drop the "@..." part');
  return ref;
}

/** True when the input gave no registry (so a short-name lookup may apply). */
export function hasExplicitDomain(input: string): boolean {
  const s = input.split('@')[0]!;
  const i = s.indexOf('/');
  if (i === -1) return false;
  const first = s.slice(0, i);
  return /[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first;
}

