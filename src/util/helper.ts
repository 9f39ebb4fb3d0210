import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { context } from '../state/context';
import { runrootDir } from '../state/dirs';
import { CtrError } from './errors';

let helperPath: string | undefined;

/**
 * Finds ctr-helper: $CTR_HELPER, next to the ctr binary, <prefix>/libexec/ctr/, or the
 * source tree's native/build (development).
 */
export function findHelper(): string {
  if (helperPath) return helperPath;
  const candidates: string[] = [];
  if (process.env.CTR_HELPER) candidates.push(process.env.CTR_HELPER);
  const exeDir = path.dirname(fs.realpathSync(process.execPath));
  const scriptDir = process.argv[1] ? path.dirname(path.resolve(process.argv[1])) : exeDir;
  for (const dir of new Set([exeDir, scriptDir])) {
    candidates.push(path.join(dir, 'ctr-helper'));
    candidates.push(path.join(dir, '..', 'libexec', 'ctr', 'ctr-helper'));
    candidates.push(path.join(dir, '..', 'native', 'build', 'ctr-helper'));
    candidates.push(path.join(dir, '..', '..', 'native', 'build', 'ctr-helper'));
  }
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      helperPath = c;
      return c;
    } catch {
      /* next */
    }
  }
  throw new CtrError(
    process.env.CTR_HELPER
      ? `ctr-helper not found or not executable at CTR_HELPER=${process.env.CTR_HELPER}`
      : 'ctr-helper not found next to ctr or in ../libexec/ctr/; reinstall ctr or set CTR_HELPER to its path',
  );
}

export function helperArgs(args: string[]): string[] {
  const ctx = context();
  const pre = ['--rundir', runrootDir()];
  if (ctx.logLevel === 'debug') pre.push('--log-level', 'debug');
  return [...pre, ...args];
}

/** Makes the runtime dir when missing and checks that it is the user's own (src/state/dirs.ts). */
export function ensureRunroot(): void {
  runrootDir();
}

/** Last non-empty line of the helper's stderr, without its `ctr-helper: ` prefix. */
export function helperError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('note:') && !l.startsWith('warning:'));
  const last = lines[lines.length - 1] ?? 'ctr-helper failed';
  return last.replace(/^ctr-helper: /, '');
}

/** Passes the helper's note:/warning: lines through to our stderr. */
export function forwardNotes(stderr: string): void {
  for (const l of stderr.split('\n')) if (l.startsWith('note:') || l.startsWith('warning:')) process.stderr.write(l + '\n');
}

/** Runs the helper to completion, returns stdout; a failure becomes a CtrError. */
export function runHelperSync(args: string[], opts: { input?: string | Buffer; exitCode?: number } = {}): string {
  ensureRunroot();
  const r = spawnSync(findHelper(), helperArgs(args), { input: opts.input, maxBuffer: 64 << 20, encoding: 'buffer' });
  const stderr = r.stderr ? r.stderr.toString() : '';
  if (r.error) throw new CtrError(`cannot run ctr-helper: ${r.error.message}`);
  forwardNotes(stderr);
  if (r.status !== 0) throw new CtrError(helperError(stderr), opts.exitCode ?? (r.status && r.status > 0 ? r.status : 125));
  return r.stdout.toString();
}

/** Loads node:child_process (and what it needs: net, dgram, ...) ahead of a spawn. */
export function preloadSpawn(): void {
  void spawn;
}

/** Spawns the helper; the caller wires stdio. */
export function spawnHelper(args: string[], opts: SpawnOptions = {}) {
  ensureRunroot();
  return spawn(findHelper(), helperArgs(args), opts);
}

/**
 * Collects a spawned helper's stderr (its notes and error line) and resolves with its exit
 * code: 125 when it could not run at all (the reason is added to the stderr text), 128 when a
 * signal ended it.
 */
export function helperExit(child: ReturnType<typeof spawnHelper>): { exited: Promise<number>; stderr: () => string } {
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (stderr += d));
  const exited = new Promise<number>((resolve) => {
    child.on('error', (e) => {
      stderr += `\nctr-helper: cannot run ctr-helper: ${e.message}`;
      resolve(125);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 125)));
  });
  return { exited, stderr: () => stderr };
}
