import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { chainIds, sha256Digest } from '../../src/image/digest';
import { decompressed, detectCompression } from '../../src/image/compression';
import { cleanArchivePath, readTar, tarBuffer, TarWriter } from '../../src/image/tarstream';

async function* chunks(b: Buffer, size = 7): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function entries(b: Buffer, size?: number) {
  const out: { name: string; type: string; body: string }[] = [];
  for await (const { entry, body } of readTar(chunks(b, size))) {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c);
    out.push({ name: entry.name, type: entry.type, body: Buffer.concat(parts).toString() });
  }
  return out;
}

describe('tar reader', () => {
  const tar = tarBuffer([{ name: 'd', type: 'dir' }, { name: 'd/a.txt', data: 'hello' }, { name: 'b', data: 'x'.repeat(1000) }]);
  it('reads entries in small chunks', async () => {
    for (const size of [1, 7, 512, 100000])
      expect(await entries(tar, size)).toEqual([
        { name: 'd/', type: 'dir', body: '' },
        { name: 'd/a.txt', type: 'file', body: 'hello' },
        { name: 'b', type: 'file', body: 'x'.repeat(1000) },
      ]);
  });
  it('skips bodies that are not read', async () => {
    const names: string[] = [];
    for await (const { entry } of readTar(chunks(tar))) names.push(entry.name);
    expect(names).toEqual(['d/', 'd/a.txt', 'b']);
  });
  it('detects truncation, bad checksums and non-tar input', async () => {
    await expect(entries(tar.subarray(0, 700))).rejects.toThrow(/truncated/);
    const bad = Buffer.from(tar);
    bad[512 + 148] = 0x37; // checksum of the 2nd header
    await expect(entries(bad)).rejects.toThrow(/checksum/);
    await expect(entries(Buffer.from('x'.repeat(600)))).rejects.toThrow(/not a tar archive/);
    await expect(entries(Buffer.alloc(0))).rejects.toThrow(/empty archive/);
  });
  it('writer round trip with long names and streamed bodies', async () => {
    const pt = new PassThrough();
    const parts: Buffer[] = [];
    pt.on('data', (c: Buffer) => parts.push(c));
    const w = new TarWriter(pt);
    const long = 'blobs/sha256/' + 'f'.repeat(64) + '/and/some/more/path/to/pass/one/hundred/chars';
    await w.dir('blobs');
    await w.file('x.json', Buffer.from('{}'));
    await w.fileStream(long, 10, chunks(Buffer.from('0123456789'), 3));
    await w.end();
    expect(await entries(Buffer.concat(parts))).toEqual([
      { name: 'blobs/', type: 'dir', body: '' },
      { name: 'x.json', type: 'file', body: '{}' },
      { name: long, type: 'file', body: '0123456789' },
    ]);
  });
  it('a streamed body of the wrong size is an error', async () => {
    const w = new TarWriter(new PassThrough());
    await expect(w.fileStream('a', 5, chunks(Buffer.from('abc')))).rejects.toThrow(/recorded size/);
  });
  it('cleanArchivePath', () => {
    expect(cleanArchivePath('./a//b/')).toBe('a/b');
    expect(cleanArchivePath('/abs/x')).toBe('abs/x');
    expect(cleanArchivePath('a/../b')).toBe('b');
    expect(cleanArchivePath('../x')).toBeUndefined();
  });
});

describe('compression', () => {
  it('detects by magic bytes', () => {
    expect(detectCompression(gzipSync(Buffer.from('x')))).toBe('gzip');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]))).toBe('zstd');
    expect(detectCompression(Buffer.from('ustar'))).toBe('none');
  });
  it('decompresses gzip streams and reports truncation', async () => {
    const data = Buffer.from('a'.repeat(100000) + 'b'.repeat(1000));
    const gz = gzipSync(data);
    const { kind, stream } = await decompressed(chunks(gz, 1000));
    expect(kind).toBe('gzip');
    const out: Buffer[] = [];
    for await (const c of stream) out.push(c);
    expect(Buffer.concat(out).equals(data)).toBe(true);
    const cut = await decompressed(chunks(gz.subarray(0, gz.length - 20), 1000));
    await expect((async () => {
      for await (const _ of cut.stream) void _;
    })()).rejects.toThrow(/truncated gzip/);
  });
});

describe('digests', () => {
  it('chain IDs', () => {
    const a = sha256Digest('a');
    const b = sha256Digest('b');
    expect(chainIds([a, b])).toEqual([a, sha256Digest(`${a} ${b}`)]);
    expect(chainIds([])).toEqual([]);
  });
});
