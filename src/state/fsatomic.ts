import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFailure } from '../util/errors';
import { randomBytes } from '../util/random';

/**
 * Writes a file so that readers see the old or the new content, never a mix (temp + rename):
 * safe against a killed ctr. `durable` adds an fsync so it also survives a power cut; it costs
 * about a millisecond per file on a disk with discard, so hot paths whose files a crash only
 * loses (container bundles) skip it.
 */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644, durable = true): void {
  const tmp = path.join(path.dirname(file), `.tmp-${path.basename(file)}-${randomBytes(4).toString('hex')}`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'w', mode);
  } catch (e) {
    throw writeFailure(e, file);
  }
  try {
    // a full disk shows as a short write first: never publish a cut file
    writeAllSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (durable) fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw writeFailure(e, file);
  }
}

/** Writes all of buf at the fd's position (a short write is continued; its error thrown). */
export function writeAllSync(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
}

/** fs.writeFileSync whose errors name the file when the disk is full (see writeFailure). */
export function writeFileChecked(file: string, data: string | Buffer, opts?: fs.WriteFileOptions): void {
  try {
    fs.writeFileSync(file, data, opts);
  } catch (e) {
    throw writeFailure(e, file);
  }
}

export function writeJsonAtomic(file: string, value: unknown, mode = 0o644, durable = true): void {
  writeFileAtomic(file, JSON.stringify(value, null, 1) + '\n', mode, durable);
}

export function readJson<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw e;
  }
  return JSON.parse(text) as T;
}
