// Assertions and store views shared by the e2e test files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { describeResult, type CtrEnv, type RunResult } from './lib';

/** Asserts exit 0 and returns the result. */
export function ok(r: RunResult, what: string): RunResult {
  expect(r.code, describeResult(what, r)).toBe(0);
  return r;
}

/** Non-empty lines of a text. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** The progress lines a pull writes on stderr before its error (Podman's wording). */
export const PULL_PROGRESS = /^(Trying to pull|Getting image source|Copying |Writing manifest)/;
/** The progress lines a push writes on stderr before its error. */
export const PUSH_PROGRESS = /^(Getting image|Copying |Compressing |Writing manifest)/;

/**
 * ctr's own error: exit 125 (unless told), exactly one `Error: ...` line on stderr (besides the
 * progress lines `progress` matches, when given), no stack trace.
 */
export function refused(r: RunResult, what: string, pattern?: RegExp, code = 125, progress?: RegExp): void {
  expect(r.code, describeResult(what, r)).toBe(code);
  const l = lines(r.stderr).filter((x) => !progress?.test(x));
  expect(l, r.stderr).toHaveLength(1);
  expect(l[0]).toMatch(/^Error: /);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  if (pattern) expect(l[0]).toMatch(pattern);
}

/** The sorted names in a directory of the store (none when it does not exist). */
export function storeEntries(env: CtrEnv, sub: string): string[] {
  try {
    return fs.readdirSync(path.join(env.root, sub)).sort();
  } catch {
    return [];
  }
}

/** The store's visible content plus leftovers: images, layers, blobs, temp and lease names. */
export function storeState(env: CtrEnv) {
  return {
    images: storeEntries(env, 'images'),
    layers: storeEntries(env, 'layers'),
    blobs: storeEntries(env, 'blobs/sha256'),
    tmp: storeEntries(env, 'tmp'),
    leases: storeEntries(env, 'leases'),
  };
}

/** Full image IDs (`images -aq --no-trunc`, or the listing `args` asks for), sorted. */
export async function imageIds(env: CtrEnv, args: string[] = ['images', '-aq', '--no-trunc']): Promise<string[]> {
  const r = ok(await env.run(args), args.join(' '));
  return lines(r.stdout).sort();
}
