import * as fs from 'node:fs';

/**
 * Random bytes from the kernel (/dev/urandom, as crypto.randomBytes uses) without loading
 * node:crypto, which costs a few milliseconds of start-up: container IDs, names and temp
 * names need nothing more. Served from a small pool.
 */
let pool = Buffer.alloc(0);
let used = 0;

function fill(min: number): void {
  const size = Math.max(256, min);
  const buf = Buffer.allocUnsafe(size);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    let off = 0;
    while (off < size) {
      const r = fs.readSync(fd, buf, off, size - off, null);
      if (r <= 0) throw new Error('/dev/urandom: short read');
      off += r;
    }
  } finally {
    fs.closeSync(fd);
  }
  pool = buf;
  used = 0;
}

export function randomBytes(n: number): Buffer {
  if (pool.length - used < n) fill(n);
  const out = Buffer.from(pool.subarray(used, used + n));
  pool.fill(0, used, used + n);
  used += n;
  return out;
}

/** A uniform random integer in [0, max) (max <= 2^32). */
export function randomInt(max: number): number {
  if (!(max > 0 && max <= 2 ** 32)) throw new RangeError(`randomInt: bad range ${max}`);
  const limit = 2 ** 32 - (2 ** 32 % max);
  for (;;) {
    const v = randomBytes(4).readUInt32BE(0);
    if (v < limit) return v % max;
  }
}
