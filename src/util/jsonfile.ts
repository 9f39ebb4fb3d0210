/**
 * Files people edit by hand that hold one JSON object (ctr.conf, auth.json): read with the
 * errors a user can act on.
 */
import * as fs from 'node:fs';
import { CtrError } from './errors';

/**
 * The object in FILE; undefined when there is no such file, {} when it is empty or blank.
 * WHAT names the file in errors ("configuration file"); FIX says what to do about bad content.
 * Throws a CtrError when the file cannot be read or does not hold a JSON object.
 */
export function readJsonObjectFile<T extends object>(file: string, what: string, fix: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new CtrError(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
  if (text.trim() === '') return {} as T;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CtrError(`${what} ${file} is not valid JSON (${(e as Error).message}): ${fix}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CtrError(`${what} ${file} is not valid JSON (not an object): ${fix}`);
  return v as T;
}
