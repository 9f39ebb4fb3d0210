/**
 * `ctr cp`: copies between a container and the host with Docker's rules.
 *
 * Two helper processes joined by a pipe carry a tar stream: `cp-out` writes one path (its top
 * entry renamed as the rules say) and `cp-in` / `untar` unpacks it. The container's end runs
 * chrooted into the container (its live root when it runs, its rootfs mounted otherwise), so
 * every path there, absolute symlinks and `..` included, resolves inside the container. The
 * host's end follows the host's rules. The decisions (where to unpack, under which name, what
 * is an error) are made here, from the two sides' stat results: see planCopy().
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CtrError, errnoCode } from '../util/errors';
import { forwardNotes, helperError, spawnHelper } from '../util/helper';
import { spawnInRootfs } from './export';
import type { ContainerRecord } from './types';

/** Exit status of a copy that fails on a path (Docker's). */
export const EXIT_CP = 1;

// ---------------------------------------------------------------------------- pure rules

/** `CONTAINER:PATH` or a local path (absolute, `./x:y`, or without a colon), as Docker splits them. */
export function parseCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/')) return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0 || arg.startsWith('.')) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

/** True when the path says "the contents of this directory": ends with `/.`, or is `.`. */
export function isContentsForm(p: string): boolean {
  return p === '.' || p.endsWith('/.');
}

/** True when the path must name a directory (ends with `/` or `/.`). */
export function assertsDirectory(p: string): boolean {
  return p.endsWith('/') || isContentsForm(p);
}

/**
 * A path in the container, absolute and cleaned (`..` cannot climb above `/`), keeping a
 * trailing `/` or `/.`, which carry meaning.
 */
export function containerPath(p: string): string {
  const clean = path.posix.normalize('/' + p);
  if (clean === '/') return p.endsWith('/.') || p === '.' ? '/.' : '/';
  if (isContentsForm(p)) return clean.replace(/\/$/, '') + '/.';
  if (p.endsWith('/')) return clean.endsWith('/') ? clean : clean + '/';
  return clean;
}

/** The name of the copy's top entry: the last component as the user wrote it, `.` for contents. */
export function copyBaseName(p: string): string {
  if (isContentsForm(p)) return '.';
  const trimmed = p.replace(/\/+$/, '');
  if (trimmed === '') return '.'; // "/": the root's contents
  return path.posix.basename(trimmed);
}

export interface DestInfo {
  /** The destination after a symlink at its end was followed. */
  path: string;
  exists: boolean;
  isDir: boolean;
}

export type CopyPlan = { dir: string; name: string } | { error: 'dir-onto-file' | 'dest-dir-missing' };

/**
 * Where a copy unpacks and under which name its top entry lands (Docker's rules):
 * - destination is an existing directory: into it, under the source's own name (`.`: its contents);
 * - destination is an existing file: a file replaces it, a directory is an error;
 * - destination does not exist: created under that name in its parent (a directory source becomes
 *   that directory, with the contents), unless it ends with `/` and the source is a file (error).
 */
export function planCopy(srcIsDir: boolean, srcName: string, dst: DestInfo, dstAssertsDir: boolean): CopyPlan {
  const parent = path.posix.dirname(dst.path.replace(/\/+\.?$/, '') || '/');
  const base = path.posix.basename(dst.path.replace(/\/+\.?$/, '')) || '.';
  if (dst.exists && dst.isDir) return { dir: dst.path.replace(/\/+\.?$/, '') || '/', name: srcName };
  if (dst.exists && srcIsDir) return { error: 'dir-onto-file' };
  if (dst.exists) return { dir: parent, name: base };
  if (srcIsDir) return { dir: parent, name: base };
  if (dstAssertsDir) return { error: 'dest-dir-missing' };
  return { dir: parent, name: base };
}

// ---------------------------------------------------------------------------- host side

/** Makes a local path absolute, keeping a trailing `/` or `/.`. */
function absLocal(p: string): string {
  const abs = path.resolve(p);
  if (isContentsForm(p)) return abs === '/' ? '/.' : abs + '/.';
  if (p.endsWith('/') && abs !== '/') return abs + '/';
  return abs;
}

/**
 * The local source (Docker's CopyInfoSourcePath): the directory part resolved, the last
 * component taken as it is unless -L or a trailing `/` / `/.`.
 */
export function hostSource(p: string, follow: boolean): { path: string; isDir: boolean; name: string } {
  const abs = absLocal(p);
  const name = copyBaseName(abs);
  let resolved: string;
  try {
    if (follow || assertsDirectory(abs)) {
      resolved = fs.realpathSync(abs.replace(/\/\.$/, '/'));
      if (assertsDirectory(abs) && !fs.statSync(resolved).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
      if (isContentsForm(abs)) resolved = resolved === '/' ? '/.' : resolved + '/.';
    } else {
      resolved = path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
    }
    const st = fs.lstatSync(resolved);
    return { path: resolved, isDir: st.isDirectory(), name };
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT') throw new CtrError(`could not find the local file ${p}: no such file or directory`, EXIT_CP);
    if (code === 'ENOTDIR') throw new CtrError(`${p}: not a directory`, EXIT_CP);
    if (code === 'EACCES') throw new CtrError(`cannot read ${p}: permission denied`, EXIT_CP);
    throw new CtrError(`cannot read ${p}: ${(e as Error).message}`, EXIT_CP);
  }
}

/**
 * The local destination (Docker's CopyInfoDestinationPath): symlinks at the end are followed;
 * a destination that does not exist needs an existing parent directory.
 */
export function hostDest(p: string): DestInfo {
  let cur = path.resolve(p);
  for (let n = 0; ; n++) {
    if (n > 40) throw new CtrError(`too many symbolic links in ${p}`, EXIT_CP);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cur);
    } catch (e) {
      const code = errnoCode(e);
      if (code !== 'ENOENT') throw new CtrError(`cannot use the destination ${p}: ${(e as Error).message}`, EXIT_CP);
      const parent = path.dirname(cur);
      let ps: fs.Stats;
      try {
        ps = fs.statSync(parent);
      } catch {
        throw new CtrError(`the destination directory ${parent} does not exist: create it first`, EXIT_CP);
      }
      if (!ps.isDirectory()) throw new CtrError(`the destination's parent ${parent} is not a directory`, EXIT_CP);
      return { path: cur, exists: false, isDir: false };
    }
    if (!st.isSymbolicLink()) return { path: cur, exists: true, isDir: st.isDirectory() };
    const target = fs.readlinkSync(cur);
    cur = path.resolve(path.dirname(cur), target);
  }
}

// ---------------------------------------------------------------------------- processes

function readFirstLine(stream: Readable): Promise<string | undefined> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) {
        stream.off('data', onData);
        stream.off('end', onEnd);
        stream.pause();
        resolve(buf.slice(0, i));
      }
    };
    const onEnd = () => resolve(undefined);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onEnd);
  });
}

interface Finished {
  code: number;
  stderr: string;
}

/** Collects stderr and resolves when the process has exited and its stderr has ended. */
function finished(child: ChildProcess): Promise<Finished> {
  let stderr = '';
  child.stdin?.on('error', () => {}); // the helper may stop reading early; its exit status tells why
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const ended = child.stderr ? new Promise<void>((r) => child.stderr!.on('close', () => r())) : Promise.resolve();
  return new Promise((resolve, reject) => {
    child.on('error', (e) => reject(new CtrError(`cannot run ctr-helper: ${e.message}`)));
    child.on('exit', (code, signal) => {
      void ended.then(() => resolve({ code: code ?? 128 + (signal ? 9 : 0), stderr }));
    });
  });
}

function writeAll(w: Writable, data: string): Promise<void> {
  return new Promise((resolve, reject) => w.write(data, (e) => (e ? reject(e) : resolve())));
}

/** A helper failure as the user's error: path problems exit 1, the rest 125. */
function failure(f: Finished, where: string): CtrError {
  const msg = helperError(f.stderr).replace(/^cp: /, '');
  if (f.code === 1) {
    if (/No such file or directory/.test(msg)) return new CtrError(`could not find ${where}: no such file or directory`, EXIT_CP);
    if (/Not a directory/.test(msg)) return new CtrError(`${where}: a component of the path is not a directory`, EXIT_CP);
    return new CtrError(`copy failed: ${msg.replace(/^untar: /, '')}`, EXIT_CP);
  }
  return new CtrError(`copy failed: ${msg}`, 125);
}

/**
 * The failure of a writer | reader pair: the writer's own message first (the reader then only
 * saw a cut archive), else the reader's (the writer then only saw the pipe close).
 */
function throwFirst(writer: [Finished, string], reader: [Finished, string]): void {
  const [w, r] = [writer[0], reader[0]];
  const said = (f: Finished) => f.stderr.split('\n').some((l) => l.startsWith('ctr-helper: '));
  if (w.code !== 0 && said(w)) throw failure(w, writer[1]);
  if (r.code !== 0) throw failure(r, reader[1]);
  if (w.code !== 0) throw failure(w, writer[1]);
}

export interface CopyOptions {
  /** -a: keep uid/gid (else: root in the container, the invoking user on the host). */
  archive: boolean;
  /** -L: follow a symbolic link in SRC_PATH. */
  follow: boolean;
}

function errorText(kind: 'dir-onto-file' | 'dest-dir-missing', dest: string): string {
  return kind === 'dir-onto-file'
    ? `cannot copy a directory onto the file ${dest}`
    : `the destination directory ${dest} does not exist: create it first, or drop the trailing "/" to copy to that name`;
}

/** Container → host (DEST `-`: a tar stream on stdout). */
export async function copyFromContainer(rec: ContainerRecord, srcArg: string, dest: string, opts: CopyOptions): Promise<void> {
  const src = containerPath(srcArg);
  const where = `${src} in container ${rec.name}`;
  const args = ['cp-out'];
  if (opts.follow) args.push('--follow');
  if (dest === '-') {
    if (process.stdout.isTTY) throw new CtrError('refusing to write a tar archive to a terminal: redirect the output');
    const p = spawnInRootfs(rec, [...args, '--name', copyBaseName(src), src], ['ignore', 'inherit', 'pipe']);
    const f = await finished(p);
    forwardNotes(f.stderr);
    if (f.code !== 0) throw failure(f, where);
    return;
  }
  const dst = hostDest(dest);
  if (!opts.archive) args.push('--owner', '0:0');
  args.push('--no-dot', '--info-fd', '3', src);
  const p = spawnInRootfs(rec, args, ['pipe', 'pipe', 'pipe', 'pipe']);
  const pDone = finished(p);
  const line = await readFirstLine(p.stdio[3] as Readable);
  (p.stdio[3] as Readable).destroy();
  if (line === undefined) {
    p.stdin!.end();
    const f = await pDone;
    throw failure(f.code === 0 ? { code: 125, stderr: 'ctr-helper: cp-out ended without a word' } : f, where);
  }
  const info = JSON.parse(line) as { type: string };
  const srcIsDir = info.type === 'dir';
  const plan = planCopy(srcIsDir, copyBaseName(src), dst, assertsDirectory(dest));
  let refusal: string | undefined;
  if ('error' in plan) refusal = errorText(plan.error, dest);
  else if (plan.name !== '.') {
    const target = path.join(plan.dir, plan.name);
    try {
      const st = fs.lstatSync(target);
      if (st.isDirectory() && !srcIsDir) refusal = `cannot overwrite the directory ${target} with a non-directory`;
      if (!st.isDirectory() && srcIsDir) refusal = `cannot overwrite the non-directory ${target} with a directory`;
    } catch {
      /* not there: created */
    }
  }
  if (refusal || 'error' in plan) {
    p.stdin!.end('\n');
    p.stdout!.destroy();
    await pDone;
    throw new CtrError(refusal!, EXIT_CP);
  }
  const u = spawnHelper(['untar', plan.dir], { stdio: [p.stdout!, 'pipe', 'pipe'] });
  p.stdout!.destroy();
  const uDone = finished(u);
  u.stdout!.resume();
  p.stdin!.end(plan.name + '\n');
  const [fp, fu] = await Promise.all([pDone, uDone]);
  forwardNotes(fp.stderr);
  forwardNotes(fu.stderr.split('\n').filter((l) => !/kept the current owner/.test(l)).join('\n'));
  throwFirst([fp, where], [fu, dest]);
}

/**
 * True when a copy to DEST would write to the container's read-only root file system (Docker
 * refuses those; a writable volume below it is fine).
 */
export function writesReadOnlyRoot(hostConfig: Record<string, unknown>, dest: string): boolean {
  if (hostConfig.ReadonlyRootfs !== true) return false;
  const d = path.posix.normalize(dest.replace(/\/+\.?$/, '') || '/');
  const binds = Array.isArray(hostConfig.Binds) ? (hostConfig.Binds as string[]) : [];
  return !binds.some((b) => {
    const [, target, mode] = b.split(':');
    if (!target || (mode ?? '').split(',').includes('ro')) return false;
    const t = path.posix.normalize(target);
    return d === t || d.startsWith(t.endsWith('/') ? t : t + '/');
  });
}

/** Host → container (SRC `-`: a tar stream from stdin, unpacked into an existing directory). */
export async function copyToContainer(rec: ContainerRecord, srcArg: string, destArg: string, opts: CopyOptions): Promise<void> {
  const dest = containerPath(destArg);
  const where = `${dest} in container ${rec.name}`;
  if (writesReadOnlyRoot(rec.hostConfig, dest))
    throw new CtrError(`container ${rec.name} has a read-only root file system (--read-only): copy into one of its writable volumes`, EXIT_CP);
  if (srcArg === '-') {
    const p = spawnInRootfs(rec, ['cp-in', '--dir-only', dest], ['inherit', 'pipe', 'pipe']);
    p.stdout!.resume();
    const f = await finished(p);
    forwardNotes(f.stderr);
    if (f.code === 1 && /cp: .*(no such directory|not a directory)$/.test(helperError(f.stderr)))
      throw new CtrError(`the destination ${rec.name}:${destArg} must be an existing directory to unpack an archive from stdin`, EXIT_CP);
    if (f.code !== 0) throw failure(f, where);
    return;
  }
  const src = hostSource(srcArg, opts.follow);
  const p = spawnInRootfs(rec, ['cp-in', dest], ['pipe', 'pipe', 'pipe']);
  const pDone = finished(p);
  const line = await readFirstLine(p.stdout!);
  if (line === undefined) {
    p.stdin!.end();
    const f = await pDone;
    throw failure(f.code === 0 ? { code: 125, stderr: 'ctr-helper: cp-in ended without a word' } : f, where);
  }
  p.stdout!.resume();
  const info = JSON.parse(line) as { exists: boolean; type: string; parent: boolean; path: string };
  if (!info.exists && !info.parent) {
    p.stdin!.end('\n');
    await pDone;
    throw new CtrError(`the destination directory ${path.posix.dirname(dest.replace(/\/+\.?$/, '') || '/')} does not exist in container ${rec.name}: create it first`, EXIT_CP);
  }
  const dst: DestInfo = { path: info.path, exists: info.exists, isDir: info.type === 'dir' };
  const plan = planCopy(src.isDir, src.name, dst, assertsDirectory(destArg));
  if ('error' in plan) {
    p.stdin!.end('\n');
    await pDone;
    throw new CtrError(errorText(plan.error, `${rec.name}:${destArg}`), EXIT_CP);
  }
  await writeAll(p.stdin!, `${src.isDir ? 'd' : 'f'}\t${plan.dir}\t${plan.name}\n`);
  const args = ['cp-out', '--no-dot', '--name', plan.name];
  if (!opts.archive) args.push('--owner', '0:0');
  const w = spawnHelper([...args, src.path], { stdio: ['ignore', p.stdin!, 'pipe'] });
  p.stdin!.destroy();
  const [fw, fp] = await Promise.all([finished(w), pDone]);
  forwardNotes(fw.stderr);
  forwardNotes(fp.stderr);
  throwFirst([fw, srcArg], [fp, where]);
}
