/**
 * SHA-256 (FIPS 180-4) in plain JavaScript, for the small documents a pull hashes (manifests,
 * configs, chain IDs): loading node:crypto costs ~2.5 ms of start-up (it loads every cipher,
 * key and certificate module with it), and a pull of small layers needs nothing else from it
 * now that ctr-helper hashes the layers. Anything past SMALL goes to node:crypto, which is
 * many times faster on large inputs.
 */
import { createHash, type Hash } from 'node:crypto';

const SMALL = 64 << 10;

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const W = new Int32Array(64);

function blocks(h: Int32Array, p: Uint8Array, off: number, end: number): void {
  for (; off + 64 <= end; off += 64) {
    for (let t = 0; t < 16; t++) {
      const i = off + 4 * t;
      W[t] = (p[i]! << 24) | (p[i + 1]! << 16) | (p[i + 2]! << 8) | p[i + 3]!;
    }
    for (let t = 16; t < 64; t++) {
      const a = W[t - 15]!;
      const b = W[t - 2]!;
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      W[t] = (W[t - 16]! + s0 + W[t - 7]! + s1) | 0;
    }
    let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!, f = h[5]!, g = h[6]!, hh = h[7]!;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[t]! + W[t]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0]! + a) | 0;
    h[1] = (h[1]! + b) | 0;
    h[2] = (h[2]! + c) | 0;
    h[3] = (h[3]! + d) | 0;
    h[4] = (h[4]! + e) | 0;
    h[5] = (h[5]! + f) | 0;
    h[6] = (h[6]! + g) | 0;
    h[7] = (h[7]! + hh) | 0;
  }
}

/** SHA-256 of one whole input in JavaScript (any size; meant for small ones). */
export function sha256Js(data: Uint8Array): Buffer {
  const h = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const n = data.length;
  const full = n - (n % 64);
  blocks(h, data, 0, full);
  // the last partial block, the 0x80 byte, zeros, and the length in bits (big-endian)
  const tail = new Uint8Array(n % 64 < 56 ? 64 : 128);
  tail.set(data.subarray(full));
  tail[n % 64] = 0x80;
  const bits = n * 8;
  const dv = new DataView(tail.buffer);
  dv.setUint32(tail.length - 8, Math.floor(bits / 2 ** 32));
  dv.setUint32(tail.length - 4, bits >>> 0);
  blocks(h, tail, 0, tail.length);
  const out = Buffer.allocUnsafe(32);
  for (let i = 0; i < 8; i++) out.writeInt32BE(h[i]!, 4 * i);
  return out;
}

/** Hex SHA-256 of a string (UTF-8) or bytes: in JavaScript when small, node:crypto otherwise. */
export function sha256HexOf(data: string | Uint8Array): string {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (bytes.length <= SMALL) return sha256Js(bytes).toString('hex');
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * An incremental SHA-256 that stays in JavaScript while the input is small (kept until the
 * digest) and moves to node:crypto once it grows past SMALL.
 */
export class Sha256 {
  private parts: Uint8Array[] = [];
  private size = 0;
  private big: Hash | undefined;
  update(data: Uint8Array): this {
    if (this.big) {
      this.big.update(data);
      return this;
    }
    this.parts.push(data);
    this.size += data.length;
    if (this.size > SMALL) {
      this.big = createHash('sha256');
      for (const p of this.parts) this.big.update(p);
      this.parts = [];
    }
    return this;
  }
  /** "sha256:" and the hex digest */
  digest(): string {
    if (this.big) return `sha256:${this.big.digest('hex')}`;
    return `sha256:${sha256Js(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts)).toString('hex')}`;
  }
}
