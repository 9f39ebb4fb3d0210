// The pure parts of commit/push: the tar entry filter (kept entries byte for byte, long PAX
// names, deferred directories) and the parallel gzip compressor (deterministic, readable as one
// gzip stream).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setGlobalOptions } from '../../src/state/context';
import { compressToBlob } from '../../src/image/push-gzip';
import { filterTar, type TarVerdict } from '../../src/image/push-tar';
import { blobPath } from '../../src/image/store';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctr-push-parts-'));
  setGlobalOptions({ root: path.join(dir, 'store'), runroot: path.join(dir, 'run') });
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  setGlobalOptions({});
});

async function* chunks(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of it) out.push(b);
  return Buffer.concat(out);
}

function names(tar: Buffer): string[] {
  const f = path.join(dir, `t-${Math.random()}.tar`);
  fs.writeFileSync(f, tar);
  return execFileSync('tar', ['-tf', f], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

/** A PAX tar of a small tree made by GNU tar (long names get PAX records). */
let tarCache: Buffer | undefined;
function makeTar(): Buffer {
  if (tarCache) return tarCache;
  const src = path.join(dir, 'src');
  const long = 'l'.repeat(150);
  fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(src, 'keep', long), { recursive: true });
  fs.writeFileSync(path.join(src, 'etc', 'hosts'), '');
  fs.writeFileSync(path.join(src, 'keep', long, 'file.txt'), 'x'.repeat(3000));
  fs.writeFileSync(path.join(src, 'drop-me'), 'y'.repeat(700));
  fs.symlinkSync('keep', path.join(src, 'link'));
  tarCache = execFileSync('tar', ['--format=pax', '--sort=name', '-C', src, '-cf', '-', 'drop-me', 'etc', 'keep', 'link']);
  return tarCache;
}

describe('filterTar', () => {
  it('passes everything through unchanged when every entry is kept, whatever the chunking', async () => {
    const t = makeTar();
    for (const size of [1, 511, 512, 4096, 1 << 20]) expect((await collect(filterTar(chunks(t, size), () => 'keep'))).equals(t)).toBe(true);
  });

  it('drops entries with their PAX records and data; deferred dirs go only with kept entries below them', async () => {
    const t = makeTar();
    const verdict = (n: string): TarVerdict => (n.startsWith('drop-me') || n === 'etc/hosts' ? 'drop' : n.replace(/\/$/, '') === 'etc' ? 'defer' : 'keep');
    const out = await collect(filterTar(chunks(t, 1000), verdict));
    const got = names(out);
    expect(got).not.toContain('drop-me');
    expect(got).not.toContain('etc/');
    expect(got).not.toContain('etc/hosts');
    expect(got).toContain(`keep/${'l'.repeat(150)}/file.txt`);
    expect(got).toContain('link');
    // a kept entry below a deferred dir brings the dir back, before it
    const out2 = await collect(filterTar(chunks(t, 777), (n) => (n.replace(/\/$/, '') === 'etc' ? 'defer' : 'keep')));
    const got2 = names(out2);
    expect(got2.indexOf('etc/')).toBeGreaterThanOrEqual(0);
    expect(got2.indexOf('etc/')).toBeLessThan(got2.indexOf('etc/hosts'));
  });
});

describe('compressToBlob', () => {
  it('is deterministic, hashes both sides, and reads back as one gzip stream', async () => {
    const data = Buffer.alloc(9 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251 < 120 ? 65 + (i % 26) : (i >> 8) & 0xff;
    const a = await compressToBlob(chunks(data, 100_000));
    const b = await compressToBlob(chunks(data, 1 << 20));
    expect(a.blob.digest).toBe(b.blob.digest);
    expect(a.diffId).toBe(`sha256:${createHash('sha256').update(data).digest('hex')}`);
    expect(a.diffSize).toBe(data.length);
    const gz = fs.readFileSync(blobPath(a.blob.digest));
    expect(`sha256:${createHash('sha256').update(gz).digest('hex')}`).toBe(a.blob.digest);
    expect(gz.length).toBe(a.blob.size);
    expect(zlib.gunzipSync(gz).equals(data)).toBe(true);
    const plain = path.join(dir, 'roundtrip');
    fs.writeFileSync(plain + '.gz', gz);
    execFileSync('gzip', ['-d', '-f', plain + '.gz']);
    expect(fs.readFileSync(plain).equals(data)).toBe(true);
  });

  it('an empty input is a valid empty gzip', async () => {
    const r = await compressToBlob(chunks(Buffer.alloc(0), 1));
    expect(zlib.gunzipSync(fs.readFileSync(blobPath(r.blob.digest))).length).toBe(0);
  });
});
