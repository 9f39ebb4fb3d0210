import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CtrError, errnoCode } from '../util/errors';
import { acquireLockSync, procStat } from '../state/lock';
import { noteRootfsMountFailure } from '../storage/driver-cache';
import { findHelper, forwardNotes, helperArgs, helperError, ensureRunroot } from '../util/helper';
import { spawn, spawnSync } from 'node:child_process';
import { containerDir, monitorDir } from './store';
import { isActive, monitorAlive, pausedMarker, runtimeState, type RuntimeState } from './state';
import type { ContainerRecord } from './types';
import { relinkIfLost } from '../network/attach';
import { checkPortsFree } from '../network/publish';

export interface AttachOptions {
  stdin: boolean;
  tty: boolean;
  detachKeys?: string;
  sigProxy: boolean;
  stdout?: boolean;
  stderr?: boolean;
}

/**
 * The monitor of the container's last run reports the exit before it has finished (the
 * overlay's unmount completes after the exit frame): a new run waits for it to be gone, so
 * that two overlays never share the upper dir. Usually it is gone already; at most 2 s.
 */
function waitPreviousMonitor(rec: ContainerRecord): void {
  let pid = 0;
  try {
    pid = (JSON.parse(fs.readFileSync(path.join(containerDir(rec.id), 'state.json'), 'utf8')) as { monitorPid?: number }).monitorPid ?? 0;
  } catch {
    return; // never started
  }
  const until = Date.now() + 2000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (monitorAlive(pid) && Date.now() < until) Atomics.wait(pause, 0, 0, 1);
}

function clearRunState(rec: ContainerRecord): void {
  waitPreviousMonitor(rec);
  const dir = containerDir(rec.id);
  for (const f of ['exit.json', 'state.json', 'paused']) fs.rmSync(path.join(dir, f), { force: true });
  fs.mkdirSync(monitorDir(rec.id), { recursive: true, mode: 0o700 });
}

function attachFlags(o: AttachOptions): string[] {
  const a: string[] = [];
  if (o.stdin) a.push('--stdin');
  if (o.tty) a.push('--tty');
  if (o.detachKeys !== undefined) a.push('--detach-keys', o.detachKeys);
  if (o.sigProxy) a.push('--sig-proxy');
  if (o.stdout === false) a.push('--no-stdout');
  if (o.stderr === false) a.push('--no-stderr');
  return a;
}

/**
 * The per-container start lock: two `ctr start` of one container at once must not start two
 * monitors (the second one would clear the first one's state files). Held from the state check
 * until the monitor has written state.json (or exit.json); kill -9 of the holder frees it.
 */
function startLock(rec: ContainerRecord): () => void {
  try {
    return acquireLockSync(path.join(containerDir(rec.id), 'start.lock'), 120000, { mkdir: false });
  } catch (e) {
    if (!fs.existsSync(containerDir(rec.id))) throw new CtrError(`no such container: ${rec.name}`);
    if (e instanceof CtrError) throw e; // e.g. no room for the lock file: trying again will not help
    throw new CtrError(`cannot start container ${rec.name}: ${(e as Error).message}; try again`);
  }
}

/**
 * Takes the start locks of these containers (in ID order, so two callers never deadlock), for
 * removal: a `start` running at the same time either finishes first (and rm sees it running)
 * or finds the container gone. Containers already gone are skipped. Returns the release.
 */
export function lockStarts(recs: ContainerRecord[]): () => void {
  const releases: (() => void)[] = [];
  for (const rec of [...recs].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    try {
      releases.push(startLock(rec));
    } catch {
      /* removed meanwhile: nothing to guard */
    }
  }
  return () => {
    for (const r of releases.reverse()) r();
  };
}

/**
 * Starts a created or exited container and returns once its process runs. Returns false (and
 * does nothing) when it is already running: another `ctr start` won the race (Docker: no-op).
 */
export function startDetached(rec: ContainerRecord): boolean {
  ensureRunroot();
  const release = startLock(rec);
  try {
    if (isActive(runtimeState(rec))) return false;
    checkPortsFree(rec);
    clearRunState(rec);
    relinkIfLost(rec);
    const r = spawnSync(findHelper(), helperArgs(['run', containerDir(rec.id)]), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) throw new CtrError(`cannot run ctr-helper: ${r.error.message}`);
    forwardNotes(r.stderr);
    if (r.status !== 0) {
      // removed by another ctr meanwhile (rm -f racing this start)
      if (!fs.existsSync(containerDir(rec.id))) throw new CtrError(`no such container: ${rec.name}`);
      const msg = helperError(r.stderr);
      const reset = noteRootfsMountFailure(rec.driver, msg);
      throw new CtrError(reset ? `${msg} (the automatic storage driver choice will be probed again for new containers)` : msg, r.status && r.status > 0 ? r.status : 125);
    }
    return true;
  } finally {
    release();
  }
}

/**
 * Starts the container with our stdio attached (the helper is the attach client) and resolves
 * with the container's exit code (or 0 when the user detached). When another `ctr start` got
 * there first, attaches to the running container instead.
 */
export function startAttached(rec: ContainerRecord, o: AttachOptions): Promise<number> {
  ensureRunroot();
  const release = startLock(rec);
  try {
    if (isActive(runtimeState(rec))) {
      release();
      return attachRunning(rec, o);
    }
    checkPortsFree(rec);
    clearRunState(rec);
    relinkIfLost(rec);
  } catch (e) {
    release();
    throw e;
  }
  const dir = containerDir(rec.id);
  let running = true;
  // the lock goes once the monitor reports the start (or the failure), or the helper is gone
  const poll = setInterval(() => {
    if (!running || fs.existsSync(path.join(dir, 'state.json')) || fs.existsSync(path.join(dir, 'exit.json'))) {
      clearInterval(poll);
      release();
    }
  }, 10);
  return runAttachedHelper(['run', dir, '--attach', ...attachFlags(o)]).then((code) => {
    if (code >= 125) noteRootfsMountFailure(rec.driver, runtimeState(rec).error);
    return code;
  }).finally(() => {
    running = false;
    clearInterval(poll);
    release();
  });
}

/** Attaches to a running container through the helper's attach client. */
export function attachRunning(rec: ContainerRecord, o: AttachOptions): Promise<number> {
  const sock = path.join(monitorDir(rec.id), 'attach');
  if (!fs.existsSync(sock) && isActive(runtimeState(rec))) throw socketGone(rec, sock);
  return runAttachedHelper(['attach', sock, ...attachFlags(o)]);
}

export function runAttachedHelper(args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    // With a tty the helper must stay in our (foreground) process group to drive the terminal;
    // ^C and friends are bytes in raw mode there. Without one it gets a session of its own, so
    // a signal reaches it exactly once: from us, whether it was sent to ctr alone (kill PID)
    // or to the terminal's whole process group (^C).
    const tty = args.includes('--tty');
    const child = spawn(findHelper(), helperArgs(args), {
      stdio: 'inherit',
      detached: !tty,
      env: { ...(env ?? process.env), CTR_ERROR_PREFIX: 'Error: ' },
    });
    const forward = (sig: NodeJS.Signals) => () => {
      try {
        child.kill(sig);
      } catch {
        /* gone */
      }
    };
    const handlers: [NodeJS.Signals, () => void][] = tty
      ? [
          ['SIGINT', () => {}],
          ['SIGTERM', forward('SIGTERM')],
          ['SIGHUP', forward('SIGHUP')],
          ['SIGQUIT', () => {}],
        ]
      : (['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as NodeJS.Signals[]).map((sig) => [sig, forward(sig)]);
    for (const [s, h] of handlers) process.on(s, h);
    child.on('error', (e) => reject(new CtrError(`cannot run ctr-helper: ${e.message}`)));
    child.on('exit', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(code ?? 128 + (signal ? (os.constants.signals[signal]) : 0));
    });
  });
}

/** The monitor of a running container has no socket where this ctr looks for it. */
class SocketGone extends CtrError {}

function socketGone(rec: ContainerRecord, sock: string): SocketGone {
  return new SocketGone(
    `cannot reach the monitor of ${rec.name}: its socket ${sock} is gone (the runtime directory was removed, or this ctr uses another one than the one the container started with: check XDG_RUNTIME_DIR and --runroot)`,
  );
}

/** A connection to the monitor's attach socket, as a control client (no stdio). */
function control(rec: ContainerRecord): Promise<net.Socket> {
  const sock = path.join(monitorDir(rec.id), 'attach');
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    s.once('connect', () => {
      s.write(Buffer.from([7, 0, 0, 0, 1, 0]));
      resolve(s);
    });
    s.once('error', (e) => {
      const code = errnoCode(e);
      reject(code === 'ENOENT' || code === 'ECONNREFUSED' ? socketGone(rec, sock) : new CtrError(`cannot reach the monitor of ${rec.name}: ${e.message}`));
    });
  });
}

/**
 * Signals the container's init directly, without its monitor's socket (gone with the runtime
 * directory): ctr may, as the owner of the user namespace. Only a process whose parent is the
 * container's monitor is signalled (a PID reused meanwhile belongs to somebody else). False
 * when there is no such process.
 */
function signalInit(st: RuntimeState, sig: number): boolean {
  if (!st.pid || !st.monitorPid) return false;
  const ps = procStat(st.pid);
  if (!ps || ps.state === 'Z' || ps.ppid !== st.monitorPid) return false;
  try {
    process.kill(st.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Polls until the container is no longer running; false after timeoutMs. */
async function waitInactive(rec: ContainerRecord, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (!isActive(runtimeState(rec))) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits on an open control connection for the exit frame; resolves with the exit code or undefined on timeout. */
function waitExitFrame(s: net.Socket, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (v: number | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.removeAllListeners('data');
      resolve(v);
    };
    const timer = timeoutMs >= 0 ? setTimeout(() => finish(undefined), timeoutMs) : undefined;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 5) {
        const type = buf[0]!;
        const len = buf.readUInt32BE(1);
        if (buf.length < 5 + len) break;
        if (type === 3 && len >= 4) finish(buf.readInt32BE(5));
        buf = buf.subarray(5 + len);
      }
    });
    s.on('close', () => finish(-1));
  });
}

function signalFrame(sig: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = 6;
  b.writeUInt32BE(4, 1);
  b.writeUInt32BE(sig, 5);
  return b;
}

/** Sends a signal to the container's init (through its monitor). */
export async function killContainer(rec: ContainerRecord, sig: number): Promise<void> {
  let s: net.Socket;
  try {
    s = await control(rec);
  } catch (e) {
    if (e instanceof SocketGone && signalInit(runtimeState(rec), sig)) return;
    throw e;
  }
  await new Promise<void>((r) => s.write(signalFrame(sig), () => r()));
  // The frame is in the socket: close it now. end() alone would wait for the monitor to close
  // its side, which it does only when the container exits (never, for a signal PID 1 ignores).
  s.destroy();
}

/**
 * Stops: stop signal, then SIGKILL after timeoutSec. Resolves when the container has exited.
 * `keep`: the monitor keeps a --rm container when it ends (restart).
 */
export async function stopContainer(rec: ContainerRecord, stopSignal: number, timeoutSec: number, o: { keep?: boolean } = {}): Promise<void> {
  let st = runtimeState(rec);
  if (!isActive(st)) return;
  let s: net.Socket;
  try {
    s = await control(rec);
  } catch (e) {
    // The socket is gone but the monitor runs on (the runtime directory was removed): signal
    // the init directly and watch the state the monitor writes when it ends.
    if (e instanceof SocketGone && !o.keep && signalInit(st, st.status === 'paused' ? 18 : 0)) {
      if (timeoutSec > 0 && signalInit(st, stopSignal) && (await waitInactive(rec, timeoutSec * 1000))) return;
      signalInit(st, 9);
      if (await waitInactive(rec, 10_000)) return;
    }
    // A monitor that is ending (another ctr stopped it) has removed its socket already:
    // give it a moment to finish before calling this a failure.
    for (let i = 0; i < 50; i++) {
      st = runtimeState(rec);
      if (!isActive(st)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw e;
  }
  if (o.keep) s.write(Buffer.from([8, 0, 0, 0, 0])); // keep frame: no --rm removal this time
  if (st.status === 'paused') s.write(signalFrame(18)); // SIGCONT so the signal can be handled
  if (timeoutSec > 0) {
    s.write(signalFrame(stopSignal));
    const code = await waitExitFrame(s, timeoutSec * 1000);
    if (code !== undefined) {
      s.destroy();
      return;
    }
  }
  s.write(signalFrame(9));
  await waitExitFrame(s, -1);
  s.destroy();
}

/** Resolves with the exit code once the container has exited. */
export async function waitContainer(rec: ContainerRecord): Promise<number> {
  for (;;) {
    const st: RuntimeState = runtimeState(rec);
    if (st.status === 'exited') return st.exitCode;
    // a created container being started has its monitor's socket before its state file
    const starting = st.status === 'created' && fs.existsSync(path.join(monitorDir(rec.id), 'attach'));
    if (isActive(st) || starting) {
      try {
        const s = await control(rec);
        const code = await waitExitFrame(s, -1);
        s.destroy();
        // --rm removes the container before the exit frame: the frame is all there is.
        if (code !== undefined && code >= 0 && !fs.existsSync(containerDir(rec.id))) return code;
      } catch {
        /* monitor gone between the checks: re-read */
      }
      const after = runtimeState(rec);
      if (after.status === 'exited') return after.exitCode;
    }
    // created: poll often, so the monitor of a short-lived --rm container (gone with its
    // record) is caught while it runs; its exit frame is the only place its code is left
    await new Promise((r) => setTimeout(r, st.status === 'created' ? 15 : 100));
    if (!fs.existsSync(containerDir(rec.id))) throw new CtrError(`no such container: ${rec.name}`);
  }
}

export { pausedMarker };
