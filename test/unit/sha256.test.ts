import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sha256, sha256HexOf, sha256Js } from '../../src/util/sha256';

const ref = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('sha256 in JavaScript', () => {
  it('matches node:crypto at every length around the block and padding edges', () => {
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096, 70_000]) {
      const b = randomBytes(n);
      expect(sha256Js(b).toString('hex'), `length ${n}`).toBe(ref(b));
      expect(sha256HexOf(b), `length ${n}`).toBe(ref(b));
    }
    expect(sha256HexOf('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
  it('incremental: small inputs in JavaScript, large ones moved to node:crypto, same digests', () => {
    for (const sizes of [[0], [10, 20, 30], [65_536], [65_537], [40_000, 40_000, 5]]) {
      const parts = sizes.map((n) => randomBytes(n));
      const h = new Sha256();
      for (const p of parts) h.update(p);
      expect(h.digest(), sizes.join('+')).toBe(`sha256:${ref(Buffer.concat(parts))}`);
    }
  });
});
