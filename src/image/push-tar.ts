/**
 * Drops entries from a tar stream without rewriting the others: every kept entry (its PAX or
 * GNU long-name records, its header and its data) passes through byte for byte. Used by
 * `commit` to leave ctr's own mount points out of a container's diff.
 */

class Blocks {
  private chunks: Buffer[] = [];
  private have = 0;
  private ended = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<void> {
    while (this.have < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
      if (!b.length) continue;
      this.chunks.push(b);
      this.have += b.length;
    }
  }

  /** Exactly n bytes (fewer at the end of the stream). */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const take = Math.min(n, all.length);
    const rest = all.subarray(take);
    this.chunks = rest.length ? [rest] : [];
    this.have = rest.length;
    return all.subarray(0, take);
  }

  /** n bytes as they come (whatever is buffered first); throws at a premature end. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (!this.have) await this.fill(1);
      if (!this.have) throw new Error('tar stream ended in the middle of an entry');
      const b = this.chunks.shift()!;
      this.have -= b.length;
      if (b.length > left) {
        this.chunks.unshift(b.subarray(left));
        this.have += b.length - left;
        yield b.subarray(0, left);
        left = 0;
      } else {
        left -= b.length;
        yield b;
      }
    }
  }

  async *rest(): AsyncGenerator<Buffer> {
    for (const b of this.chunks) yield b;
    this.chunks = [];
    this.have = 0;
    for (;;) {
      const r = await this.it.next();
      if (r.done) return;
      yield r.value;
    }
  }
}

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? s.length : z).toString('utf8');
}

function numField(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = cstr(b, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(data.subarray(i, sp).toString('latin1'));
    if (!Number.isInteger(len) || len <= 0) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/**
 * What to do with an entry: pass it on, drop it, or (for a directory) hold it back and pass
 * it on only if an entry below it is passed on.
 */
export type TarVerdict = 'keep' | 'drop' | 'defer';

/** Passes a tar stream on, leaving out the entries `verdict` refuses. */
export async function* filterTar(src: AsyncIterable<Buffer>, verdict: (name: string, type: string) => TarVerdict): AsyncGenerator<Buffer> {
  const r = new Blocks(src[Symbol.asyncIterator]());
  let held: Buffer[] = [];
  let deferred: { name: string; bytes: Buffer[] }[] = [];
  let paxPath: string | undefined;
  let paxSize: number | undefined;
  let longName: string | undefined;
  for (;;) {
    const h = await r.read(512);
    if (h.length < 512) {
      if (h.length) throw new Error('tar stream ended in the middle of a header');
      return;
    }
    if (h.every((x) => x === 0)) {
      yield h;
      yield* r.rest();
      return;
    }
    const type = String.fromCharCode(h[156]!);
    const size = paxSize ?? numField(h, 124, 12);
    const padded = Math.ceil(size / 512) * 512;
    if (type === 'x' || type === 'L' || type === 'K') {
      const data = await r.read(padded);
      if (type === 'x') {
        const recs = paxRecords(data.subarray(0, size));
        if (recs.path !== undefined) paxPath = recs.path;
        if (recs.size !== undefined) paxSize = Number(recs.size);
      } else if (type === 'L') longName = cstr(data, 0, size);
      held.push(h, data);
      continue;
    }
    if (type === 'g') {
      yield h;
      yield await r.read(padded);
      continue;
    }
    let name = cstr(h, 0, 100);
    if (h.subarray(257, 263).toString('latin1') === 'ustar\0') {
      const prefix = cstr(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (longName !== undefined) name = longName;
    if (paxPath !== undefined) name = paxPath;
    // hard links, symlinks and dirs carry no data whatever the size field says
    const dataLen = type === '1' || type === '2' || type === '3' || type === '4' || type === '5' || type === '6' ? 0 : padded;
    const v = verdict(name, type);
    if (v === 'keep') {
      const under = name.replace(/\/+$/, '') + '/';
      const before = deferred.filter((d) => under.startsWith(d.name.replace(/\/+$/, '') + '/'));
      if (before.length) {
        deferred = deferred.filter((d) => !before.includes(d));
        for (const d of before) for (const b of d.bytes) yield b;
      }
      for (const b of held) yield b;
      yield h;
      yield* r.stream(dataLen);
    } else if (v === 'defer' && dataLen === 0) {
      deferred.push({ name, bytes: [...held, h] });
    } else {
      for await (const _ of r.stream(dataLen)) {
        /* dropped */
      }
    }
    held = [];
    paxPath = paxSize = longName = undefined;
  }
}
