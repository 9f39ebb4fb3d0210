import { CtrError } from '../util/errors';

/** `--flag`, `--flag=true|false` (Docker's spelling of boolean flags with a value). */
export function boolFlag(v: string | boolean | undefined, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new CtrError(`invalid value "${v}" for ${name}: use true or false`);
}
