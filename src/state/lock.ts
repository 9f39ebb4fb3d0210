import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFailure } from '../util/errors';

/** What /proc/PID/stat says of a process: its name, state letter (Z: zombie), parent and start time (field 22). */
export interface ProcStat {
  comm: string;
  state: string;
  ppid: number;
  startTime: string;
}

/** /proc/PID/stat of a process, or undefined when it is gone. */
export function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const rest = stat.slice(close + 2).split(' ');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), state: rest[0]!, ppid: Number(rest[1]), startTime: rest[19]! };
  } catch {
    return undefined;
  }
}

/** Start time of a process (field 22 of /proc/PID/stat), or undefined when it is gone. */
export function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.startTime;
}

const selfStart = () => processStartTime(process.pid) ?? '0';

function ownerAlive(content: string): boolean {
  const [pidText, start] = content.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const now = processStartTime(pid);
  return now !== undefined && now === start;
}

const sleepBuf = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleepBuf, 0, 0, ms);
}

/**
 * A lock file that survives kill -9 of its owner: it holds "PID STARTTIME"; a lock whose owner
 * is gone is taken over. Synchronous on purpose: held for short metadata updates only.
 */
export function withLockSync<T>(lockFile: string, fn: () => T, timeoutMs = 30000): T {
  const release = acquireLockSync(lockFile, timeoutMs);
  try {
    return fn();
  } finally {
    release();
  }
}

/**
 * Takes the lock (as withLockSync) and returns the function that releases it: for a lock held
 * across asynchronous work (e.g. until a container has started). Releasing twice is harmless.
 */
export function acquireLockSync(lockFile: string, timeoutMs = 30000, o: { mkdir?: boolean } = {}): () => void {
  // mkdir false: the lock guards its directory's contents; when the directory goes, so does the lock (ENOENT)
  if (o.mkdir !== false) fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const me = `${process.pid} ${selfStart()}\n`;
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    try {
      const fd = fs.openSync(lockFile, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      try {
        fs.writeSync(fd, me);
      } catch (e) {
        // no room for our PID: the lock is not ours, and an empty file would hold up others
        fs.closeSync(fd);
        fs.rmSync(lockFile, { force: true });
        throw writeFailure(e, lockFile);
      }
      fs.closeSync(fd);
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
    }
    let content = '';
    try {
      content = fs.readFileSync(lockFile, 'utf8');
    } catch {
      continue;
    }
    // An empty file may be a lock being written right now: only stale after a while.
    if ((content !== '' && !ownerAlive(content)) || (content === '' && isOld(lockFile))) {
      // Take over atomically: only one contender's rename of the stale file succeeds.
      const stale = `${lockFile}.stale-${process.pid}`;
      try {
        fs.renameSync(lockFile, stale);
        const moved = fs.readFileSync(stale, 'utf8');
        if (moved !== content) {
          // We moved a fresh lock by mistake: put it back if nobody took the name since.
          try {
            fs.linkSync(stale, lockFile);
          } catch {
            /* the next holder has it */
          }
        }
        fs.unlinkSync(stale);
      } catch {
        /* someone else cleaned it */
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lockFile} held by ${content.trim()}`);
    sleepMs(delay);
    delay = Math.min(delay * 2, 50);
  }
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    try {
      // only our own lock: a stale-lock takeover may have replaced it (owner killed and back?)
      if (fs.readFileSync(lockFile, 'utf8') === me) fs.unlinkSync(lockFile);
    } catch {
      /* gone */
    }
  };
}

function isOld(file: string): boolean {
  try {
    return Date.now() - fs.statSync(file).mtimeMs > 2000;
  } catch {
    return true;
  }
}
