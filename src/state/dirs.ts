/**
 * The directories ctr trusts: the runtime dir (the pause process's PID, monitor sockets, the
 * registry memory) and the store (images, containers). Whoever can write in one of them can
 * plant what ctr believes there: a registry address that receives the user's credentials, an
 * attach socket, a pause PID. So each must be
 *
 *   - a directory, not a symbolic link made by somebody else (the user's or root's own link is
 *     followed, and its target must pass the same checks),
 *   - owned by the user, and writable by nobody else (no group or other write bit),
 *   - under a parent that belongs to the user or root and that others cannot rename it out of
 *     (a world-writable parent must be sticky, as /tmp is).
 *
 * A missing directory (and its missing parents) is made 0700 one level at a time, and then
 * checked like any other: a directory another user made first (mkdir says EEXIST) is refused.
 * The checks are made once per process, on first use: one lstat of the directory and one stat
 * of its parent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { context, type Context } from './context';
import { CtrError, errnoCode } from '../util/errors';

export interface PrivateDir {
  dir: string;
  /** what the directory is, for messages: "runtime directory" */
  what: string;
  /** what the user can do about a refusal, for messages */
  fix: string;
  /** how to name the parent in messages, when it has a name of its own ("XDG_RUNTIME_DIR") */
  parentName?: string;
}

const checked = new Set<string>();

function me(): number {
  return process.geteuid ? process.geteuid() : 0;
}

/** "ctrevil (uid 995)"; only on the error path (reads /etc/passwd). */
function who(uid: number): string {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 3 && f[2] !== '' && Number(f[2]) === uid) return `${f[0]} (uid ${uid})`;
    }
  } catch {
    /* no names */
  }
  return `uid ${uid}`;
}

const modeText = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');

function refuse(d: PrivateDir, why: string): CtrError {
  return new CtrError(`${d.what} ${d.dir} ${why}; ${d.fix}`);
}

/** Problems with a directory we are about to trust (lstat'ed as st), or undefined. */
function problem(d: PrivateDir, st: fs.Stats, uid: number): string | undefined {
  if (!st.isDirectory()) return 'is not a directory';
  if (st.uid !== uid) return `belongs to ${who(st.uid)}, not to you: refusing to use it (permission denied)`;
  if (st.mode & 0o022)
    return `can be written by ${st.mode & 0o002 ? 'every user' : 'its group'} (mode ${modeText(st.mode)}): refusing to use it (make it private with chmod 700 ${d.dir}, after checking what is in it, or remove it)`;
  return undefined;
}

function lstatOrUndefined(p: string, d: PrivateDir): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT') return undefined;
    if (code === 'EACCES' || code === 'EPERM') throw refuse(d, 'cannot be looked at: permission denied');
    if (code === 'ENOTDIR') throw refuse(d, 'has a parent that is not a directory');
    throw refuse(d, `cannot be looked at: ${(e as Error).message}`);
  }
}

/** Checks the directory itself: lstat, then the target of a link the user or root made. */
function checkSelf(d: PrivateDir, st: fs.Stats, uid: number): void {
  if (st.isSymbolicLink()) {
    if (st.uid !== uid && st.uid !== 0) throw refuse(d, `is a symbolic link made by ${who(st.uid)}: refusing to follow it`);
    let target: fs.Stats;
    try {
      target = fs.statSync(d.dir);
    } catch (e) {
      throw refuse(d, `is a symbolic link to something that cannot be used (${errnoCode(e) ?? (e as Error).message})`);
    }
    const why = problem(d, target, uid);
    if (why) throw refuse(d, `is a symbolic link to ${target.isDirectory() ? 'a directory that ' : 'something that '}${why}`);
    return;
  }
  const why = problem(d, st, uid);
  if (why) throw refuse(d, why);
}

/** The parent must belong to the user or root, and others must not be able to rename what is in it. */
function checkParent(d: PrivateDir, uid: number): void {
  const parent = path.dirname(d.dir);
  if (parent === d.dir) return;
  let st: fs.Stats;
  try {
    st = fs.statSync(parent);
  } catch (e) {
    throw refuse(d, `has a parent ${parent} that cannot be looked at (${errnoCode(e) ?? (e as Error).message})`);
  }
  const name = d.parentName ? `${d.parentName} (${parent})` : `its parent ${parent}`;
  if (st.uid !== uid && st.uid !== 0 && !unmappedInUserns(st.uid))
    throw new CtrError(`${d.what} ${d.dir} is unsafe: ${name} belongs to ${who(st.uid)}, not to you or root (permission denied); ${d.fix}`);
  if (st.mode & 0o002 && !(st.mode & 0o1000))
    throw new CtrError(`${d.what} ${d.dir} is unsafe: every user can write in ${name} (mode ${modeText(st.mode)}, not sticky); ${d.fix}`);
}

/**
 * Inside a user namespace (`ctr unshare`) root's directories (/tmp, /run/user) show the
 * overflow owner: taken as root's there, since the namespace cannot tell them apart (the
 * sticky and world-writable rules still hold). Only read on this rare path.
 */
function unmappedInUserns(owner: number): boolean {
  try {
    const overflow = Number(fs.readFileSync('/proc/sys/kernel/overflowuid', 'utf8').trim());
    const map = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return owner === overflow && !(map.length === 3 && map[0] === '0' && map[1] === '0' && map[2] === '4294967295');
  } catch {
    return false;
  }
}

/** mkdir 0700 of dir and of its missing parents; returns the directories this call made or found made by another. */
function makeDirs(d: PrivateDir, dir: string, made: string[]): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    made.push(dir);
    return;
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'EEXIST') {
      made.push(dir); // made by someone else meanwhile: checked like the ones we made
      return;
    }
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw cannotCreate(d, dir, e);
    makeDirs(d, parent, made);
  }
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if (errnoCode(e) !== 'EEXIST') throw cannotCreate(d, dir, e);
  }
  made.push(dir);
}

function cannotCreate(d: PrivateDir, dir: string, e: unknown): CtrError {
  const code = errnoCode(e);
  const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : code === 'ENOSPC' ? 'no space left on device' : (e as Error).message;
  return new CtrError(`cannot create ${d.what} ${d.dir}${dir !== d.dir ? ` (making ${dir})` : ''}: ${why}; ${d.fix}`);
}

/**
 * Makes sure d.dir is a private directory of the user (made 0700 when missing, with its
 * missing parents); throws a CtrError naming the directory and the fix otherwise. Once per
 * process and directory.
 */
export function ensurePrivateDir(d: PrivateDir): void {
  if (checked.has(d.dir)) return;
  const uid = me();
  let st = lstatOrUndefined(d.dir, d);
  // nothing is made under a parent that others control
  if (!st && fs.existsSync(path.dirname(d.dir))) checkParent(d, uid);
  if (!st) {
    const made: string[] = [];
    makeDirs(d, d.dir, made);
    // every directory this made (or found made by someone else meanwhile) gets the full check
    for (const dir of made) {
      if (dir === d.dir) continue;
      const sub: PrivateDir = { ...d, dir };
      const pst = lstatOrUndefined(dir, sub);
      const why = pst ? problem(sub, pst, uid) : 'disappeared';
      if (why) throw new CtrError(`cannot create ${d.what} ${d.dir}: ${dir} ${why}; ${d.fix}`);
    }
    st = lstatOrUndefined(d.dir, d);
    if (!st) throw new CtrError(`cannot create ${d.what} ${d.dir}: it disappeared; ${d.fix}`);
  }
  checkSelf(d, st, uid);
  checkParent(d, uid);
  checked.add(d.dir);
}

/** As ensurePrivateDir, for a directory that is only read: false (and nothing made) when it does not exist. */
export function checkPrivateDirIfPresent(d: PrivateDir): boolean {
  if (checked.has(d.dir)) return true;
  const st = lstatOrUndefined(d.dir, d);
  if (!st) return false;
  const uid = me();
  checkSelf(d, st, uid);
  checkParent(d, uid);
  checked.add(d.dir);
  return true;
}

function runrootSpec(ctx: Context): PrivateDir {
  const dir = ctx.runroot;
  switch (ctx.runrootFrom) {
    case 'option':
      return { dir, what: 'runtime directory', fix: 'give --runroot a directory of yours (mode 0700)' };
    case 'env':
      return { dir, what: 'runtime directory', fix: 'set CTR_RUNROOT to a directory of yours (mode 0700)' };
    case 'xdg':
      return {
        dir,
        what: 'runtime directory',
        parentName: 'XDG_RUNTIME_DIR',
        fix: 'set XDG_RUNTIME_DIR to a directory of yours (mode 0700), or unset it',
      };
    default:
      return {
        dir,
        what: 'runtime directory',
        fix: ctx.rootless
          ? `set XDG_RUNTIME_DIR to a directory of yours (mode 0700), or have ${dir} removed (by its owner or root) so that ctr makes it again`
          : `remove ${dir} so that ctr makes it again`,
      };
  }
}

function storeSpec(ctx: Context): PrivateDir {
  const dir = ctx.root;
  switch (ctx.rootFrom) {
    case 'option':
      return { dir, what: 'store', fix: 'give --root a directory of yours' };
    case 'env':
      return { dir, what: 'store', fix: 'set CTR_ROOT to a directory of yours' };
    default:
      return { dir, what: 'store', fix: ctx.rootless ? 'it must be yours: fix its owner and mode, or use another store (--root DIR, or XDG_DATA_HOME)' : 'it must belong to root: fix its owner and mode, or use another store (--root DIR)' };
  }
}

/** The runtime dir, made and checked on first use (ensurePrivateDir). */
export function runrootDir(): string {
  const ctx = context();
  if (!checked.has(ctx.runroot)) ensurePrivateDir(runrootSpec(ctx));
  return ctx.runroot;
}

/** The store's top directory, made and checked on first use (ensurePrivateDir). */
export function storeDir(): string {
  const ctx = context();
  if (!checked.has(ctx.root)) ensurePrivateDir(storeSpec(ctx));
  return ctx.root;
}
