import { sha256HexOf } from '../util/sha256';

export { Sha256 } from '../util/sha256';

export const SHA256_RE = /^sha256:[a-f0-9]{64}$/;

/** (small inputs are hashed without loading node:crypto: util/sha256.ts) */
export function sha256Hex(data: string | Buffer): string {
  return sha256HexOf(data);
}

export function sha256Digest(data: string | Buffer): string {
  return `sha256:${sha256Hex(data)}`;
}

export function isSha256Digest(d: unknown): d is string {
  return typeof d === 'string' && SHA256_RE.test(d);
}

/** "sha256:<hex>" → "<hex>" */
export function hexOf(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice(7) : digest;
}

/** OCI chain IDs: chain(0) = diff(0); chain(n) = sha256(chain(n-1) + " " + diff(n)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  let prev: string | undefined;
  for (const d of diffIds) {
    prev = prev === undefined ? d : sha256Digest(`${prev} ${d}`);
    out.push(prev);
  }
  return out;
}
