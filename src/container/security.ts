/**
 * `--security-opt` (Docker's and Podman's keys) and what they make of a container's spec:
 * the seccomp filter, no_new_privs, masked and read-only kernel paths.
 *
 *   seccomp=unconfined | builtin | PROFILE.json   no filter | Docker's default | a Docker-format profile
 *   no-new-privileges[=true|false] (or :true)      no_new_privs (ctr sets it by default unless --privileged)
 *   mask=PATH[:PATH...]                            more paths masked (Podman)
 *   unmask=ALL | PATH[:PATH...]                    paths taken out of the default masked and read-only lists (Podman)
 *   systempaths=unconfined                         same as unmask=ALL (Docker)
 *   label=disable | user:/role:/type:/level:/filetype:X | nested   accepted: ctr applies no SELinux labels
 *   apparmor=unconfined                            accepted: ctr applies no AppArmor profile
 */
import * as os from 'node:os';
import { CtrError } from '../util/errors';
import { loadProfileFile, resolveProfile, type OciSeccomp, type Profile } from './seccomp';
import { defaultProfile } from './seccomp-default';
import { DEFAULT_SECCOMP_CAPS, DEFAULT_SECCOMP_JSON } from './seccomp-default-resolved';
import { MASKED_PATHS, READONLY_PATHS } from './spec';

export interface SecurityRequest {
  seccomp: 'default' | 'unconfined' | { file: string; profile: Profile };
  noNewPrivileges?: boolean;
  mask: string[];
  unmask: string[] | 'ALL';
}

export interface SecuritySettings {
  /** linux.seccomp, as an object or as JSON text (the prebuilt default); null: none */
  seccomp: OciSeccomp | string | null;
  noNewPrivileges: boolean;
  maskedPaths: string[];
  readonlyPaths: string[];
}

function bad(opt: string, why: string): never {
  throw new CtrError(`invalid --security-opt "${opt}": ${why}`);
}

function pathList(opt: string, v: string): string[] {
  const list = v.split(':').filter((p) => p !== '');
  if (!list.length) bad(opt, 'give one or more absolute paths separated by ":"');
  for (const p of list) if (!p.startsWith('/')) bad(opt, `"${p}" is not an absolute path`);
  return list;
}

/** Parses the --security-opt values (every one checked; a profile file read and checked now). */
export function parseSecurityOpts(opts: string[]): SecurityRequest {
  const req: SecurityRequest = { seccomp: 'default', mask: [], unmask: [] };
  for (const opt of opts) {
    // Docker's older spelling KEY:VALUE for these two
    const m = /^(no-new-privileges|seccomp|apparmor|label)([=:])(.*)$/s.exec(opt) ?? /^([^=]+)=(.*)$/s.exec(opt);
    const key = m ? m[1]! : opt;
    const value = m ? (m.length === 4 ? m[3]! : m[2]!) : undefined;
    switch (key) {
      case 'seccomp':
        if (value === undefined || value === '') bad(opt, 'use seccomp=unconfined or seccomp=PROFILE.json');
        if (value === 'unconfined') req.seccomp = 'unconfined';
        else if (value === 'builtin' || value === 'default') req.seccomp = 'default';
        else req.seccomp = { file: value, profile: loadProfileFile(value) };
        break;
      case 'no-new-privileges':
        if (value === undefined || value === '' || value === 'true') req.noNewPrivileges = true;
        else if (value === 'false') req.noNewPrivileges = false;
        else bad(opt, 'use no-new-privileges, no-new-privileges=true or no-new-privileges=false');
        break;
      case 'mask':
        req.mask.push(...pathList(opt, value ?? ''));
        break;
      case 'unmask':
        if (value === 'ALL') req.unmask = 'ALL';
        else if (req.unmask !== 'ALL') req.unmask.push(...pathList(opt, value ?? ''));
        break;
      case 'systempaths':
        if (value !== 'unconfined') bad(opt, 'use systempaths=unconfined');
        req.unmask = 'ALL';
        break;
      case 'label':
        if (!value || !/^(disable|nested|(user|role|type|level|filetype):.+)$/.test(value))
          bad(opt, 'use label=disable, label=nested or label=user:|role:|type:|level:|filetype:VALUE');
        break; // no SELinux labelling here: accepted as Podman does where SELinux is off
      case 'apparmor':
        if (value !== 'unconfined') bad(opt, 'ctr applies no AppArmor profiles; only apparmor=unconfined is accepted');
        break;
      default:
        bad(opt, 'unknown option (known: seccomp=, no-new-privileges, mask=, unmask=, systempaths=unconfined, label=, apparmor=unconfined)');
    }
  }
  return req;
}

/**
 * What the spec gets. --privileged: no filter (unless a profile file was given), no masked or
 * read-only paths, no_new_privs off; --security-opt settles each explicitly.
 */
export function securitySettings(req: SecurityRequest, bounding: string[], privileged: boolean): SecuritySettings {
  let seccomp: OciSeccomp | string | null = null;
  if (typeof req.seccomp === 'object') {
    if (process.arch !== 'x64') throw new CtrError(`seccomp profiles are not supported on ${process.arch} yet; use --security-opt seccomp=unconfined`);
    seccomp = resolveProfile(req.seccomp.profile, bounding);
  } else if (req.seccomp === 'default' && !privileged && process.arch === 'x64') {
    const [maj = 0, min = 0] = os.release().split('.').map((x) => parseInt(x, 10));
    // the common case takes the profile resolved at build time (no profile built nor resolved)
    if ((maj > 4 || (maj === 4 && min >= 8)) && [...bounding].sort().join(',') === DEFAULT_SECCOMP_CAPS) seccomp = DEFAULT_SECCOMP_JSON;
    else seccomp = resolveProfile(defaultProfile(), bounding);
  }
  const unmasked = (p: string) => req.unmask === 'ALL' || req.unmask.includes(p);
  const maskedPaths = privileged ? [] : MASKED_PATHS.filter((p) => !unmasked(p));
  for (const p of req.mask) if (!maskedPaths.includes(p)) maskedPaths.push(p);
  const readonlyPaths = privileged ? [] : READONLY_PATHS.filter((p) => !unmasked(p));
  return { seccomp, noNewPrivileges: req.noNewPrivileges ?? !privileged, maskedPaths, readonlyPaths };
}

const SECCOMP_MARK = '\u0000ctr-seccomp\u0000';

/** The spec's linux.seccomp value: the object, or a mark that specText replaces with the prebuilt JSON. */
export function seccompSpecValue(s: SecuritySettings): OciSeccomp | string | undefined {
  return s.seccomp === null ? undefined : typeof s.seccomp === 'string' ? SECCOMP_MARK : s.seccomp;
}

/** config.json's text for SPEC (ociSpec's result), with the prebuilt seccomp JSON put in place. */
export function specText(spec: object, s: SecuritySettings): string {
  const text = JSON.stringify(spec, null, 1) + '\n';
  return typeof s.seccomp === 'string' ? text.replace(JSON.stringify(SECCOMP_MARK), s.seccomp) : text;
}
