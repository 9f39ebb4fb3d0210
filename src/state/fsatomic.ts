import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from '../util/random';

/**
 * Writes a file so that readers see the old or the new content, never a mix (temp + rename):
 * safe against a killed ctr. `durable` adds an fsync so it also survives a power cut; it costs
 * about a millisecond per file on a disk with discard, so hot paths whose files a crash only
 * loses (container bundles) skip it.
 */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644, durable = true): void {
  const tmp = path.join(path.dirname(file), `.tmp-${path.basename(file)}-${randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    if (typeof data === "string") fs.writeSync(fd, data);
    else fs.writeSync(fd, data);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
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
