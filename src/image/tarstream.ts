/**
 * A small streaming tar reader and writer for image archives (docker-archive, OCI layout).
 * The reader verifies header checksums, understands ustar, GNU long names and PAX path/size
 * records, and reports truncation; it never buffers an entry's body. Layer contents are not
 * parsed here: ctr-helper unpacks those.
 */
import type { Writable } from 'node:stream';

export class TarFormatError extends Error {}

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  name: string;
  type: TarEntryType;
  size: number;
  mode: number;
  mtime: number;
  linkname: string;
}

/** Pulls exact byte counts out of an async chunk source. */
class ByteSource {
  private chunks: Buffer[] = [];
  private have = 0;
  private done = false;
  constructor(private it: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.have < n && !this.done) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        break;
      }
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
      if (b.length === 0) continue;
      this.chunks.push(b);
      this.have += b.length;
    }
    return this.have >= n;
  }

  /** Exactly n bytes, or fewer when the stream ended. */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    const take = Math.min(n, this.have);
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, take);
    const rest = all.subarray(take);
    this.chunks = rest.length ? [rest] : [];
    this.have = rest.length;
    return out;
  }

  /** Yields up to n bytes as they come; throws TarFormatError when the stream ends early. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.have === 0) {
        await this.fill(1);
        if (this.have === 0) throw new TarFormatError('unexpected end of archive (truncated file?)');
      }
      const head = this.chunks[0]!;
      if (head.length <= left) {
        this.chunks.shift();
        this.have -= head.length;
        left -= head.length;
        yield head;
      } else {
        this.chunks[0] = head.subarray(left);
        this.have -= left;
        const part = head.subarray(0, left);
        left = 0;
        yield part;
      }
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n)) {
      /* drop */
    }
  }
}

function cstr(buf: Buffer, off: number, len: number): string {
  const slice = buf.subarray(off, off + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

function octal(buf: Buffer, off: number, len: number, what: string): number {
  const field = buf.subarray(off, off + len);
  if (field[0]! & 0x80) {
    // GNU base-256
    let v = 0;
    for (let i = 1; i < len; i++) v = v * 256 + field[i]!;
    if (field[0] === 0xff) throw new TarFormatError(`negative ${what} in tar header`);
    return v + (field[0]! & 0x7f) * 256 ** (len - 1);
  }
  const s = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`invalid ${what} field in tar header`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let stored: number;
  try {
    stored = octal(h, 148, 8, 'checksum');
  } catch {
    return false;
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp === -1) break;
    const len = parseInt(data.subarray(off, sp).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0 || off + len > data.length) throw new TarFormatError('invalid PAX header');
    const rec = data.subarray(sp + 1, off + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

const META_MAX = 1 << 20;

/**
 * Iterates the entries of a tar stream. For each entry, `body` must be fully consumed
 * (or ignored: it is skipped) before asking for the next one.
 */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<{ entry: TarEntry; body: AsyncIterable<Buffer> }> {
  const src = new ByteSource(source[Symbol.asyncIterator]());
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  let globalPax: Record<string, string> = {};
  let sawHeader = false;
  for (;;) {
    const h = await src.read(512);
    if (h.length === 0) {
      if (!sawHeader) throw new TarFormatError('empty archive');
      return; // some writers omit the end-of-archive blocks
    }
    if (h.length < 512) throw new TarFormatError('unexpected end of archive (truncated file?)');
    if (h.every((b) => b === 0)) return; // end of archive
    if (!checksumOk(h)) throw new TarFormatError(sawHeader ? 'tar header checksum mismatch (corrupt archive)' : 'not a tar archive (bad header checksum)');
    sawHeader = true;
    const typeflag = String.fromCharCode(h[156]!);
    let size = octal(h, 124, 12, 'size');
    if (pax.size !== undefined) size = Number(pax.size);
    const padded = Math.ceil(size / 512) * 512;
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > META_MAX) throw new TarFormatError('oversized tar extension header');
      const data = Buffer.concat(await collect(src.stream(padded)));
      const body = data.subarray(0, size);
      if (typeflag === 'x') pax = { ...globalPax, ...parsePax(body) };
      else if (typeflag === 'g') globalPax = { ...globalPax, ...parsePax(body) };
      else if (typeflag === 'L') longName = cstr(body, 0, body.length);
      else longLink = cstr(body, 0, body.length);
      continue;
    }
    let name = cstr(h, 0, 100);
    const magic = h.subarray(257, 263).toString('latin1');
    if (magic.startsWith('ustar')) {
      const prefix = cstr(h, 345, 155);
      if (prefix && magic === 'ustar\0') name = `${prefix}/${name}`;
    }
    if (longName !== undefined) name = longName;
    if (pax.path !== undefined) name = pax.path;
    let linkname = cstr(h, 157, 100);
    if (longLink !== undefined) linkname = longLink;
    if (pax.linkpath !== undefined) linkname = pax.linkpath;
    let type: TarEntryType;
    if (typeflag === '0' || typeflag === '\0' || typeflag === '7') type = name.endsWith('/') && size === 0 ? 'dir' : 'file';
    else if (typeflag === '5') type = 'dir';
    else if (typeflag === '2') type = 'symlink';
    else if (typeflag === '1') type = 'hardlink';
    else type = 'other';
    const entry: TarEntry = {
      name,
      type,
      size: type === 'file' ? size : 0,
      mode: octal(h, 100, 8, 'mode'),
      mtime: pax.mtime !== undefined ? Math.floor(Number(pax.mtime)) : octal(h, 136, 12, 'mtime'),
      linkname,
    };
    longName = longLink = undefined;
    pax = { ...globalPax };
    let left = size;
    const body = (async function* () {
      for await (const b of src.stream(left)) {
        left -= b.length;
        yield b;
      }
    })();
    yield { entry, body };
    await src.skip(left);
    await src.skip(padded - size);
  }
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of it) out.push(b);
  return out;
}

/** Normalises a member name of an image archive: no leading "./" or "/", no "..". */
export function cleanArchivePath(name: string): string | undefined {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
      continue;
    }
    parts.push(p);
  }
  return parts.join('/');
}

// ---------------------------------------------------------------- writer

function writeOctal(buf: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8);
  if (s.length <= len - 1) {
    buf.write(s.padStart(len - 1, '0') + '\0', off, len, 'latin1');
    return;
  }
  // GNU base-256 for big values
  buf[off] = 0x80;
  let v = value;
  for (let i = len - 1; i > 0; i--) {
    buf[off + i] = v % 256;
    v = Math.floor(v / 256);
  }
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return Buffer.from(`${len}${body}`, 'utf8');
}

function rawHeader(name: string, size: number, typeflag: string, mode: number, mtime: number, linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  writeOctal(h, 100, 8, mode);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156);
  h.write(typeflag, 156, 1, 'latin1');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'latin1');
  h.write('00', 263, 2, 'latin1');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

/** Writes a tar stream entry by entry with backpressure. */
export class TarWriter {
  constructor(private out: Writable) {}

  private async write(b: Buffer): Promise<void> {
    if (!this.out.write(b)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          this.out.off('error', onError);
          resolve();
        };
        const onError = (e: Error) => {
          this.out.off('drain', onDrain);
          reject(e);
        };
        this.out.once('drain', onDrain);
        this.out.once('error', onError);
      });
    }
  }

  private async header(name: string, size: number, typeflag: string, mode: number, mtime: number): Promise<void> {
    if (Buffer.byteLength(name) > 99) {
      const pax = paxRecord('path', name);
      await this.write(rawHeader('PaxHeader', pax.length, 'x', 0o644, mtime));
      await this.write(pad(pax));
      name = name.slice(0, 99);
    }
    await this.write(rawHeader(name, size, typeflag, mode, mtime));
  }

  async dir(name: string, mtime = 0): Promise<void> {
    await this.header(name.endsWith('/') ? name : `${name}/`, 0, '5', 0o755, mtime);
  }

  async file(name: string, data: Buffer, mtime = 0): Promise<void> {
    await this.header(name, data.length, '0', 0o644, mtime);
    await this.write(pad(data));
  }

  /** A file whose size is known in advance and whose bytes come from a stream; the stream must deliver exactly `size` bytes. */
  async fileStream(name: string, size: number, body: AsyncIterable<Buffer>, mtime = 0): Promise<void> {
    await this.header(name, size, '0', 0o644, mtime);
    let n = 0;
    for await (const chunk of body) {
      n += chunk.length;
      if (n > size) throw new Error(`${name}: more data than its recorded size ${size}`);
      await this.write(chunk);
    }
    if (n !== size) throw new Error(`${name}: ${n} bytes instead of its recorded size ${size}`);
    const rem = size % 512;
    if (rem) await this.write(Buffer.alloc(512 - rem));
  }

  /** Writes the end-of-archive blocks; closes the output unless `close` is false (stdout). */
  async end(close = true): Promise<void> {
    await this.write(Buffer.alloc(1024));
    await new Promise<void>((resolve, reject) => {
      this.out.once('error', reject);
      if (close) this.out.end(() => resolve());
      else this.out.write(Buffer.alloc(0), () => resolve());
    });
  }
}

function pad(b: Buffer): Buffer {
  const rem = b.length % 512;
  return rem ? Buffer.concat([b, Buffer.alloc(512 - rem)]) : b;
}

export interface SmallTarEntry {
  name: string;
  type?: 'file' | 'dir';
  data?: string | Buffer;
  mode?: number;
}

/** Builds a small uncompressed tar in memory (probes, tests). */
export function tarBuffer(entries: SmallTarEntry[], mtime = 0): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.type === 'dir') {
      parts.push(rawHeader(e.name.endsWith('/') ? e.name : `${e.name}/`, 0, '5', e.mode ?? 0o755, mtime));
    } else {
      const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
      parts.push(rawHeader(e.name, data.length, '0', e.mode ?? 0o644, mtime), pad(data));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
