/**
 * Pull policies for `run`/`create` and the entry point of `ctr pull`.
 *
 * This module stays light on purpose: `ctr run IMAGE` with the image present and the default
 * policy (missing) only reads the store; the registry client and the pull pipeline
 * (pull-engine.ts) are loaded with import() only when something must be fetched.
 */
import * as fs from 'node:fs';
import { CtrError } from '../util/errors';
import { DamagedImageError, resolveImage, type ResolvedImage } from './store';

export type PullPolicy = 'always' | 'missing' | 'never' | 'newer';
const POLICIES: PullPolicy[] = ['always', 'missing', 'never', 'newer'];

export interface PullOptions {
  /** os/arch[/variant] (default: the host's) */
  platform?: string;
  /** undefined: from registries.conf (insecure registries), else the given value */
  tlsVerify?: boolean;
  /** USER:PASSWORD */
  creds?: string;
  /** auth.json to read credentials from (REGISTRY_AUTH_FILE) */
  authfile?: string;
  /** every tag of the repository */
  allTags?: boolean;
  /** no progress output */
  quiet?: boolean;
  /** where progress goes (default stderr) */
  progressStream?: NodeJS.WriteStream;
}

export interface PulledImage {
  /** image ID (config digest) */
  id: string;
  /** the name it got (tag reference), or the digest reference for a pull by digest */
  name: string;
  /** manifest digest as served (the index's when the registry gave one) */
  digest: string;
}

export function parsePullPolicy(value: string | undefined): PullPolicy {
  if (value === undefined || value === '') return 'missing';
  const v = value.toLowerCase();
  if (v === 'true') return 'always';
  if (v === 'false') return 'missing';
  if ((POLICIES as string[]).includes(v)) return v as PullPolicy;
  throw new CtrError(`invalid --pull "${value}": use always, missing, never or newer`);
}

/** The local image; undefined when there is none, or its record is damaged (`damaged`: a pull replaces it). */
function lookupLocal(ref: string): { local?: ResolvedImage; damaged?: DamagedImageError } {
  try {
    return { local: resolveImage(ref) };
  } catch (e) {
    if (e instanceof DamagedImageError) return { damaged: e };
    if (e instanceof CtrError && e.message.startsWith('no such image')) return {};
    throw e;
  }
}

/** Pulls `ref` (every tag with allTags); prints progress unless quiet. */
export async function pullImage(ref: string, opts: PullOptions = {}): Promise<PulledImage[]> {
  if (opts.authfile !== undefined) {
    if (!fs.existsSync(opts.authfile)) throw new CtrError(`--authfile ${opts.authfile}: no such file`);
    process.env.REGISTRY_AUTH_FILE = opts.authfile;
  }
  const engine = await import('./pull-engine.js');
  return engine.pull(ref, opts);
}

/**
 * Makes sure `ref` is in the store according to `policy` before a container is created from it:
 *  - missing (default): pull only when no local image matches;
 *  - never: never contact a registry;
 *  - always: pull every time;
 *  - newer: pull when the registry's digest for the reference differs from the local image's
 *    (a registry that cannot be reached keeps the local image, with a warning).
 * Returns the image ID when a pull happened.
 */
export async function ensureImage(ref: string, policy: string | undefined, opts: PullOptions = {}): Promise<string | undefined> {
  const pol = parsePullPolicy(policy);
  const found = pol === 'always' ? {} : lookupLocal(ref);
  const local = found.local;
  if (local && pol !== 'newer') return undefined;
  if (pol === 'never') {
    if (local) return undefined;
    if (found.damaged) throw found.damaged;
    throw new CtrError(`no such image: ${ref} (--pull never: pull it first with ctr pull ${ref})`);
  }
  if (local && pol === 'newer') {
    const engine = await import('./pull-engine.js');
    let changed: boolean;
    try {
      changed = await engine.remoteDiffers(local.name ?? ref, local.image, opts);
    } catch (e) {
      process.stderr.write(`warning: cannot check ${ref} for a newer image (${(e as Error).message}); using the local image\n`);
      return undefined;
    }
    if (!changed) return undefined;
  }
  const pulled = await pullImage(ref, opts);
  return pulled[0]?.id;
}
