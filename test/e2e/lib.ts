/**
 * Helpers for ctr's end-to-end tests. They drive the real built binary (dist/bin/ctr or
 * $CTR_BIN) as whoever runs the tests (test/run.sh runs *.test.ts as the unprivileged test
 * user and *.root.test.ts as root), each test file with its own store.
 *
 * Typical file:
 *
 *   import { describe, expect, it } from 'vitest';
 *   import { useCtr } from './lib';
 *
 *   const ctr = useCtr({ images: ['busybox'] });   // temp store + `ctr load` once, cleanup after
 *
 *   describe('run', () => {
 *     it('echoes', async () => {
 *       const r = await ctr.run(['run', '--rm', 'busybox', 'echo', 'hi']);
 *       expect(r.code, r.stderr).toBe(0);
 *       expect(r.stdout).toBe('hi\n');
 *     });
 *   });
 *
 * API (everything else in this file is internal):
 *   useCtr(opts?)                 -> CtrEnv, registered with beforeAll/afterAll of the file
 *   createCtrEnv(opts?)           -> CtrEnv you manage yourself (call .cleanup())
 *   CtrEnv.run(args, opts?)       -> Promise<RunResult>  ctr with this env's store
 *   CtrEnv.runOk(args, opts?)     -> Promise<RunResult>  same, throws (with output) unless exit 0
 *   CtrEnv.spawn(args, opts?)     -> Proc                 long-running ctr (logs -f, attach ...)
 *   CtrEnv.tty(args, opts?)       -> TtySession           ctr on a pseudo-terminal (for -t)
 *   CtrEnv.runTty(args, opts?)    -> Promise<TtyResult>   ctr on a pty, input written, waits for exit
 *   CtrEnv.load(images, format?)  -> Promise<void>        `ctr load -i` fixture images ('busybox', 'layered';
 *                                                         format 'docker' by default, see ArchiveFormat)
 *   CtrEnv.cleanup()              -> Promise<void>        rm -f all containers, remove the store
 *   run(argv, opts?)              -> Promise<RunResult>   any host command (no ctr store)
 *   spawnProc(argv, opts?)        -> Proc                 any long-running host command
 *   useRegistry(opts?) / startRegistry(opts?) -> Registry a local docker-registry on 127.0.0.1:<free port>,
 *                                                         fixture images pushed with skopeo
 *   spawnTty(argv, opts?)         -> TtySession           any host command on a pty
 *   fixtures() / fixturePath(rel) the fixture set (test/fixtures/build.py): images with their IDs and
 *                                 digests, the rootfs tarball, hostile archives with the host paths
 *                                 they aim at (fixtures().hostile.*.escapes)
 *   compileStatic(src, out)       a C test program built static (musl-gcc, else gcc -static)
 *   waitFor(fn, opts?)            polls until fn() returns a truthy value
 *   uniqueName(prefix?)           a container/image name unique to this run
 *   isRoot, ctrBin, helperBin, repoRoot
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { ctrBinPath, fixturesDir, helperPath, python3, tmpBase, uid } from './paths';

export { repoRoot } from './paths';

/** True when the tests run as real root (ctr uses /var/lib/ctr-style rootful mode). */
export const isRoot: boolean = uid() === 0;
/** Absolute path of the ctr binary under test. */
export const ctrBin: string = ctrBinPath();
/** Absolute path of ctr-helper (used by cleanup to remove sub-ID-owned files). */
export const helperBin: string = helperPath();

const osSignals = osConstants.signals as Record<string, number>;

// ------------------------------------------------------------------------------ processes

export interface RunResult {
  /** Exit status; 128+N when killed by signal N; -1 when it could not be started. */
  code: number;
  stdout: string;
  stderr: string;
  /** Name of the signal that ended the process, if any. */
  signal: NodeJS.Signals | null;
  /** True when the timeout killed it. */
  timedOut: boolean;
  durationMs: number;
}

export interface RunOptions {
  /** Written to stdin, which is then closed. Without it stdin is /dev/null (`ignoreStdin`) or an empty pipe. */
  input?: string | Buffer;
  /** stdin is /dev/null instead of a pipe (some commands behave differently on EOF vs. nothing). */
  ignoreStdin?: boolean;
  /** Milliseconds before the process group is killed with SIGKILL (default 30 000). */
  timeout?: number;
  /** Extra environment (merged over the env's own; undefined deletes a variable). */
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  write(data: string | Buffer): void;
  closeStdin(): void;
  /** Waits until stdout (or stderr with {stream:'stderr'}) matches; resolves with the whole text. */
  waitForOutput(pattern: RegExp | string, opts?: { timeout?: number; stream?: 'stdout' | 'stderr' }): Promise<string>;
  /** Sends a signal to the process (not its group). */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when it exits (kills the group with SIGKILL after `timeout` ms, default 30 000). */
  wait(timeout?: number): Promise<RunResult>;
}

const DEFAULT_TIMEOUT = 30_000;

function baseEnv(): Record<string, string> {
  const keep = ['HOME', 'USER', 'LOGNAME', 'XDG_RUNTIME_DIR', 'LANG', 'TZ', 'CI'];
  const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  if (!env.LANG) env.LANG = 'C.UTF-8';
  return env;
}

function mergeEnv(base: Record<string, string>, extra?: Record<string, string | undefined>): Record<string, string> {
  const env = { ...base };
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
}

/**
 * Resolves with `value()` once `text()` holds `pattern` (checked now and whenever the process
 * calls its `waiters`); rejects after `timeout` ms, or when the process has exited without it.
 */
function untilOutput<T>(
  pattern: string | RegExp,
  o: { text: () => string; value: () => T; exited: () => boolean; waiters: Array<() => void>; timeout: number; timeoutError: () => string; exitError: () => string },
): Promise<T> {
  const matches = () => {
    const t = o.text();
    return typeof pattern === 'string' ? t.includes(pattern) : pattern.test(t);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(o.timeoutError())), o.timeout);
    const check = () => {
      if (matches()) {
        clearTimeout(timer);
        resolve(o.value());
      } else if (o.exited()) {
        clearTimeout(timer);
        reject(new Error(o.exitError()));
      } else o.waiters.push(check);
    };
    check();
  });
}

/**
 * Starts argv[0] with argv[1..] in its own process group (so a timeout can kill everything
 * it started). Low level: prefer run() / CtrEnv.spawn().
 */
export function spawnProc(argv: string[], opts: RunOptions & { baseEnv?: Record<string, string> } = {}): Proc {
  const started = Date.now();
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: opts.cwd ?? '/',
    env: mergeEnv(opts.baseEnv ?? baseEnv(), opts.env),
    stdio: [opts.ignoreStdin ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const waiters: Array<() => void> = [];
  const notify = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.on('data', (b: Buffer) => {
    out.push(b);
    notify();
  });
  child.stderr!.on('data', (b: Buffer) => {
    err.push(b);
    notify();
  });
  child.stdin?.on('error', () => {
    /* EPIPE when the process does not read its input */
  });
  let spawnError: Error | undefined;
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.on('error', (e) => {
      spawnError = e;
      exited = { code: -1, signal: null };
      notify();
      resolve();
    });
    child.on('close', (code, signal) => {
      exited = { code, signal };
      notify();
      resolve();
    });
  });
  if (opts.input !== undefined && child.stdin) child.stdin.end(opts.input);
  const text = (bufs: Buffer[]) => Buffer.concat(bufs).toString('utf8');
  let timedOut = false;

  const proc: Proc = {
    child,
    pid: child.pid ?? -1,
    stdout: () => text(out),
    stderr: () => text(err),
    write: (d) => child.stdin?.write(d),
    closeStdin: () => child.stdin?.end(),
    kill: (signal = 'SIGTERM') => {
      try {
        child.kill(signal);
      } catch {
        /* gone */
      }
    },
    waitForOutput(pattern, o = {}) {
      const timeout = o.timeout ?? DEFAULT_TIMEOUT;
      const get = o.stream === 'stderr' ? proc.stderr : proc.stdout;
      return untilOutput(pattern, {
        text: get,
        value: get,
        exited: () => exited !== undefined,
        waiters,
        timeout,
        timeoutError: () => `timed out after ${timeout} ms waiting for ${pattern} in ${o.stream ?? 'stdout'} of ${argv.join(' ')}\nstdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`,
        exitError: () => `${argv.join(' ')} exited (${exited!.code ?? exited!.signal}) before printing ${pattern}\nstdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`,
      });
    },
    async wait(timeout = DEFAULT_TIMEOUT) {
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child);
      }, timeout);
      await exitPromise;
      clearTimeout(timer);
      const e = exited!;
      const sigNum = e.signal ? (osSignals[e.signal] ?? 0) : 0;
      return {
        code: spawnError ? -1 : e.code ?? 128 + sigNum,
        stdout: proc.stdout(),
        stderr: spawnError ? `${proc.stderr()}cannot start ${argv[0]}: ${spawnError.message}\n` : proc.stderr(),
        signal: e.signal,
        timedOut,
        durationMs: Date.now() - started,
      };
    },
  };
  return proc;
}

/** Runs a host command to completion (no ctr store involved). */
export function run(argv: string[], opts: RunOptions & { baseEnv?: Record<string, string> } = {}): Promise<RunResult> {
  const p = spawnProc(argv, opts);
  if (opts.input === undefined && !opts.ignoreStdin) p.closeStdin();
  return p.wait(opts.timeout);
}

/** Compiles the C test program SRC into the static binary OUT (musl-gcc, else gcc -static),
 * made executable when it builds; the compiler's result. */
export async function compileStatic(src: string, out: string): Promise<RunResult> {
  let r = await run(['musl-gcc', '-static', '-O1', '-o', out, src], { timeout: 60_000 });
  if (r.code !== 0) r = await run(['gcc', '-static', '-O1', '-o', out, src], { timeout: 60_000 });
  if (r.code === 0) fs.chmodSync(out, 0o755);
  return r;
}

/** Formats a result for an assertion message. */
export function describeResult(what: string, r: RunResult): string {
  return `${what} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}---`;
}

// ------------------------------------------------------------------------------ pty

export interface TtyOptions {
  rows?: number;
  cols?: number;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill after this many ms (default 30 000). */
  timeout?: number;
}

export interface TtyResult {
  code: number;
  /** Everything read from the pty master (stdout and stderr together, with \r\n line ends). */
  output: string;
  timedOut: boolean;
}

export interface TtySession {
  pid: number;
  /** Writes to the terminal (as if typed; use '\x03' for ^C, '\x04' for ^D, '\x10\x11' for ^P^Q). */
  write(data: string): void;
  /** Changes the window size (the process gets SIGWINCH). */
  resize(rows: number, cols: number): void;
  /** All output so far. */
  output(): string;
  /** Waits until the output (from `from`, default 0) matches; resolves with the whole output. */
  expect(pattern: RegExp | string, opts?: { timeout?: number; from?: number }): Promise<string>;
  kill(signal?: NodeJS.Signals): void;
  wait(timeout?: number): Promise<TtyResult>;
}

// A tiny pty runner: makes a pty, runs argv on its slave as the controlling terminal, copies
// our stdin to the master and the master to our stdout, applies "rows cols" lines read from
// fd 3 as window sizes, exits with the child's status (128+N for signal N).
const PTY_PY = String.raw`
import os, sys, pty, select, struct, fcntl, termios, errno, time
rows, cols = int(sys.argv[1]), int(sys.argv[2])
argv = sys.argv[3:]
def winsz(fd, r, c):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', r, c, 0, 0))
pid, master = pty.fork()
if pid == 0:
    try:
        winsz(0, rows, cols)
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, ('pty: cannot run %s: %s\n' % (argv[0], e.strerror)).encode())
        os._exit(127)
ins = [0, 3]
try:
    os.fstat(3)
except OSError:
    ins = [0]
status = None
deadline = None
ctl = b''
while True:
    if status is None:
        p, st = os.waitpid(pid, os.WNOHANG)
        if p == pid:
            status = st
            deadline = time.time() + 1.0
    if deadline is not None and time.time() > deadline:
        break
    r, _, _ = select.select([master] + ins, [], [], 0.05)
    if master in r:
        try:
            data = os.read(master, 65536)
        except OSError as e:
            if e.errno == errno.EIO:
                data = b''
            else:
                raise
        if not data:
            if status is not None:
                break
            time.sleep(0.02)
        else:
            os.write(1, data)
            if deadline is not None:
                deadline = time.time() + 0.2
    if 0 in r:
        data = os.read(0, 65536)
        if data:
            os.write(master, data)
        else:
            ins.remove(0)
    if 3 in r:
        data = os.read(3, 4096)
        if not data:
            ins.remove(3)
        else:
            ctl += data
            while b'\n' in ctl:
                line, ctl = ctl.split(b'\n', 1)
                try:
                    r_, c_ = [int(x) for x in line.split()]
                    winsz(master, r_, c_)
                except ValueError:
                    pass
if status is None:
    _, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
`;

/** Runs any host command on a fresh pseudo-terminal (python3's pty module). */
export function spawnTty(argv: string[], opts: TtyOptions & { baseEnv?: Record<string, string> } = {}): TtySession {
  const env = mergeEnv(opts.baseEnv ?? baseEnv(), { TERM: 'xterm', ...opts.env });
  const child = spawn(python3(), ['-c', PTY_PY, String(opts.rows ?? 24), String(opts.cols ?? 80), ...argv], {
    cwd: opts.cwd ?? '/',
    env,
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const out: Buffer[] = [];
  const errOut: Buffer[] = [];
  const waiters: Array<() => void> = [];
  const notify = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.on('data', (b: Buffer) => {
    out.push(b);
    notify();
  });
  child.stderr!.on('data', (b: Buffer) => errOut.push(b));
  child.stdin!.on('error', () => {});
  const ctl = child.stdio[3] as NodeJS.WritableStream & { on: Function };
  ctl.on('error', () => {});
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.on('error', (e) => {
      errOut.push(Buffer.from(`cannot start ${python3()}: ${e.message}\n`));
      exited = { code: -1, signal: null };
      notify();
      resolve();
    });
    child.on('close', (code, signal) => {
      exited = { code, signal };
      notify();
      resolve();
    });
  });
  const output = () => Buffer.concat(out).toString('utf8');
  let timedOut = false;
  const overall = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, opts.timeout ?? DEFAULT_TIMEOUT);
  const session: TtySession = {
    pid: child.pid ?? -1,
    write: (d) => child.stdin!.write(d),
    resize: (rows, cols) => ctl.write(`${rows} ${cols}\n`),
    output,
    kill: (signal = 'SIGTERM') => killGroup(child, signal),
    expect(pattern, o = {}) {
      const timeout = o.timeout ?? DEFAULT_TIMEOUT;
      const from = o.from ?? 0;
      return untilOutput(pattern, {
        text: () => output().slice(from),
        value: output,
        exited: () => exited !== undefined,
        waiters,
        timeout,
        timeoutError: () => `timed out after ${timeout} ms waiting for ${pattern} on the tty of ${argv.join(' ')}\noutput: ${JSON.stringify(output())}`,
        exitError: () => `${argv.join(' ')} exited before printing ${pattern}\noutput: ${JSON.stringify(output())}\n${Buffer.concat(errOut).toString()}`,
      });
    },
    async wait(timeout = DEFAULT_TIMEOUT) {
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child);
      }, timeout);
      await exitPromise;
      clearTimeout(timer);
      clearTimeout(overall);
      const e = exited!;
      return { code: e.code ?? 128 + (e.signal ? (osSignals[e.signal] ?? 0) : 0), output: output(), timedOut };
    },
  };
  return session;
}

// ------------------------------------------------------------------------------ fixtures

export type ImageName = 'busybox' | 'layered';
export type ArchiveFormat = 'docker' | 'dockerBlobs' | 'dockerGz' | 'dockerGzLayers' | 'oci' | 'ociUncompressed';

export interface FixtureImage {
  /** Short reference as written in the archives, e.g. `busybox:latest`. */
  ref: string;
  /** Fully qualified, e.g. `docker.io/library/busybox:latest`. */
  fullRef: string;
  /** Image ID: the config digest (`sha256:...`), identical in every archive format. */
  id: string;
  /** Digest of the OCI manifest with gzip layers (as in <name>.oci.tar). */
  manifestDigest: string;
  /** Digest of the OCI manifest with plain tar layers (as in <name>.docker-blobs.tar). */
  manifestDigestUncompressed: string;
  diffIds: string[];
  layers: number;
  /** The image config JSON (config.Env, config.Cmd, config.Labels, ...). */
  config: { config: Record<string, unknown>; history: unknown[]; rootfs: { diff_ids: string[] } } & Record<string, unknown>;
  /** Archive file names relative to the fixtures dir, by format (busybox has all formats, layered docker/dockerBlobs/oci). */
  files: Partial<Record<ArchiveFormat, string>> & { layers: string[] };
  /** layered only: what the unpacked image must (not) contain. */
  expect?: { present: Record<string, string>; absent: string[]; ls_data_dir: string[] };
}

export interface HostileFixture {
  ref: string;
  /** docker-archive (or OCI archive for digest-mismatch) to feed `ctr load -i`. */
  file: string;
  /** The raw hostile layer (for feeding ctr-helper untar directly), or null. */
  layer: string | null;
  description: string;
  /** Host paths a vulnerable engine would create or modify; they must not appear/change. */
  escapes: string[];
}

export interface Fixtures {
  dir: string;
  busyboxVersion: string;
  arch: string;
  images: Record<ImageName, FixtureImage>;
  multiImage: { file: string; refs: string[] };
  rootfs: { tar: string; tarGz: string; sha256: string };
  hostile: Record<'traversal' | 'absolute' | 'symlink' | 'hardlink' | 'bad-checksum' | 'truncated-gzip' | 'digest-mismatch', HostileFixture>;
}

let fixturesCache: Fixtures | undefined;

/** The fixture set built by test/fixtures/build.py (global-setup.ts builds it when missing). */
export function fixtures(): Fixtures {
  if (fixturesCache) return fixturesCache;
  const dir = fixturesDir();
  const file = path.join(dir, 'fixtures.json');
  if (!fs.existsSync(file))
    throw new Error(`no fixtures in ${dir}: run the e2e suite through test/run.sh or build them with: python3 test/fixtures/build.py ${dir}`);
  fixturesCache = { dir, ...JSON.parse(fs.readFileSync(file, 'utf8')) } as Fixtures;
  return fixturesCache;
}

/** Absolute path of a file in the fixtures dir (e.g. fixturePath(fixtures().images.busybox.files.oci!)). */
export function fixturePath(rel: string): string {
  return path.join(fixtures().dir, rel);
}

// ------------------------------------------------------------------------------ ctr env

export interface CtrEnvOptions {
  /** Fixture images to `ctr load` in beforeAll (useCtr only). */
  images?: ImageName[];
  /** Archive format for those loads (default 'docker'). */
  format?: ArchiveFormat;
  /** Extra environment for every ctr call of this env. */
  env?: Record<string, string | undefined>;
  /** Global options put before every command, after --root/--runroot (e.g. ['--storage-driver', 'vfs']). */
  globalArgs?: string[];
}

export interface CtrRunOptions extends RunOptions {
  /**
   * false: pass `args` exactly, without the leading `--root DIR --runroot DIR` and globalArgs
   * (the store stays isolated anyway through XDG_DATA_HOME / XDG_RUNTIME_DIR for rootless runs).
   */
  globals?: boolean;
}

export interface CtrEnv {
  /** Temp dir holding everything of this env (short path under CTR_TEST_TMPDIR or /tmp). */
  dir: string;
  /** The --root (images, containers) and --runroot (runtime state) given to ctr. */
  root: string;
  runroot: string;
  /** Environment every ctr call gets (clean PATH/HOME/LANG plus isolated XDG dirs). */
  env: Record<string, string>;
  /** The argv prefix: [ctrBin, '--root', root, '--runroot', runroot, ...globalArgs]. */
  argv(args: string[], globals?: boolean): string[];
  run(args: string[], opts?: CtrRunOptions): Promise<RunResult>;
  runOk(args: string[], opts?: CtrRunOptions): Promise<RunResult>;
  spawn(args: string[], opts?: CtrRunOptions): Proc;
  tty(args: string[], opts?: TtyOptions & { globals?: boolean }): TtySession;
  runTty(args: string[], opts?: TtyOptions & { globals?: boolean; input?: string; inputDelayMs?: number }): Promise<TtyResult>;
  load(images: ImageName[] | ImageName, format?: ArchiveFormat): Promise<void>;
  cleanup(): Promise<void>;
}

let envCounter = 0;

/** A fresh isolated store. Call cleanup() when done (useCtr does it for you). */
export function createCtrEnv(opts: CtrEnvOptions = {}): CtrEnv {
  const base = tmpBase();
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, 'ce-'));
  const xdgRun = path.join(dir, 'xr');
  const root = path.join(dir, 'data', 'ctr');
  const runroot = path.join(xdgRun, 'ctr');
  for (const d of [xdgRun, path.join(dir, 'data'), path.join(dir, 'config'), path.join(dir, 'tmp')]) fs.mkdirSync(d, { mode: 0o700 });
  const env = mergeEnv(baseEnv(), {
    XDG_DATA_HOME: path.join(dir, 'data'),
    XDG_CONFIG_HOME: path.join(dir, 'config'),
    XDG_RUNTIME_DIR: xdgRun,
    TMPDIR: path.join(dir, 'tmp'),
    ...(process.env.CTR_HELPER ? { CTR_HELPER: process.env.CTR_HELPER } : {}),
    ...opts.env,
  });
  envCounter++;
  const globalArgs = opts.globalArgs ?? [];
  const argv = (args: string[], globals = true) =>
    globals ? [ctrBin, '--root', root, '--runroot', runroot, ...globalArgs, ...args] : [ctrBin, ...args];

  const ctrEnv: CtrEnv = {
    dir,
    root,
    runroot,
    env,
    argv,
    run(args, o = {}) {
      const p = spawnProc(argv(args, o.globals), { ...o, baseEnv: env });
      if (o.input === undefined && !o.ignoreStdin) p.closeStdin();
      return p.wait(o.timeout);
    },
    async runOk(args, o = {}) {
      const r = await ctrEnv.run(args, o);
      if (r.code !== 0) throw new Error(describeResult(`ctr ${args.join(' ')}`, r));
      return r;
    },
    spawn(args, o = {}) {
      return spawnProc(argv(args, o.globals), { ...o, baseEnv: env });
    },
    tty(args, o = {}) {
      return spawnTty(argv(args, o.globals), { ...o, baseEnv: env });
    },
    async runTty(args, o = {}) {
      const s = ctrEnv.tty(args, o);
      if (o.input !== undefined) {
        if (o.inputDelayMs) await new Promise((r) => setTimeout(r, o.inputDelayMs));
        s.write(o.input);
      }
      return s.wait(o.timeout);
    },
    async load(images, format = opts.format ?? 'docker') {
      const fx = fixtures();
      for (const name of Array.isArray(images) ? images : [images]) {
        const rel = fx.images[name]?.files[format];
        if (!rel) throw new Error(`no ${format} archive for fixture image ${name}`);
        await ctrEnv.runOk(['load', '-i', fixturePath(rel)], { timeout: 120_000 });
      }
    },
    async cleanup() {
      await cleanupEnv(ctrEnv);
    },
  };
  return ctrEnv;
}

/**
 * Registers a CtrEnv for the calling test file: loads `opts.images` in beforeAll and cleans
 * up in afterAll. Call it at the top level of the file (or of a describe block).
 */
export function useCtr(opts: CtrEnvOptions = {}): CtrEnv {
  const env = createCtrEnv(opts);
  if (opts.images?.length) {
    beforeAll(async () => {
      await env.load(opts.images!, opts.format);
    }, 300_000);
  }
  afterAll(async () => {
    await env.cleanup();
  }, 120_000);
  return env;
}

/** Reads `PID STARTTIME` from a pause.pid file and kills that process if it is still the same one. */
function killPause(runroot: string): void {
  let text: string;
  try {
    text = fs.readFileSync(path.join(runroot, 'pause.pid'), 'utf8');
  } catch {
    return;
  }
  const [pidS, start] = text.trim().split(/\s+/);
  const pid = Number(pidS);
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const starttime = fields[19]; // field 22 of /proc/PID/stat
    if (start && starttime !== start) return;
    process.kill(pid, 'SIGKILL');
  } catch {
    /* not running */
  }
}

async function cleanupEnv(e: CtrEnv): Promise<void> {
  if (!fs.existsSync(e.dir)) return;
  // 1. containers (when ps/rm exist; errors ignored: the store goes away anyway)
  const ps = await e.run(['ps', '-aq'], { timeout: 30_000 }).catch(() => undefined);
  const ids = ps && ps.code === 0 ? ps.stdout.split(/\s+/).filter(Boolean) : [];
  if (ids.length) await e.run(['rm', '-f', ...ids], { timeout: 60_000 }).catch(() => undefined);
  // 2. the store holds files owned by sub-IDs: remove it inside the user namespace
  if (!isRoot && fs.existsSync(helperBin)) {
    await run([helperBin, '--rundir', e.runroot, 'rmtree', path.join(e.dir, 'data')], { env: e.env, timeout: 60_000 });
  }
  if (!isRoot && fs.existsSync(path.join(e.dir, 'data'))) {
    await e.run(['unshare', 'rm', '-rf', path.join(e.dir, 'data')], { timeout: 60_000 }).catch(() => undefined);
  }
  // 3. the pause process this env's runroot created, then everything else
  killPause(e.runroot);
  try {
    fs.rmSync(e.dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    console.warn(`e2e cleanup: could not remove ${e.dir}: ${(err as Error).message}`);
  }
}

// ------------------------------------------------------------------------------ registry

export interface Registry {
  /** `127.0.0.1:PORT` (plain HTTP: ctr needs --tls-verify=false or an insecure-registry setting). */
  host: string;
  /** Storage and config dir (removed by stop()). */
  dir: string;
  /**
   * Copies a fixture image into the registry with skopeo as HOST/<repo>, default repo the
   * image's own `name:latest`. format 'oci' (default: the OCI archive as it is) or 'v2s2'
   * (Docker schema 2 manifest).
   */
  push(image: ImageName, repo?: string, opts?: { format?: 'oci' | 'v2s2' }): Promise<void>;
  stop(): Promise<void>;
  /** Credentials push() uses (registries with auth, see test/e2e/registries.ts). */
  creds?: { username: string; password: string };
  /** true when it serves HTTPS (a self-signed certificate, see test/e2e/registries.ts). */
  tls?: boolean;
}

/** Extra settings for startRegistry (test/e2e/registries.ts uses them for auth, TLS, proxying). */
export interface RegistryOptions {
  images?: ImageName[];
  /** YAML lines added at the top level of the registry's config (e.g. an `auth:` section). */
  config?: string[];
  /** serve HTTPS with this PEM certificate and key (files) */
  tls?: { certificate: string; key: string };
  /** credentials push() gives skopeo */
  creds?: { username: string; password: string };
}

/** Starts Debian's docker-registry (distribution v2) on 127.0.0.1 with a free port and a temp store. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const dir = fs.mkdtempSync(path.join(tmpBase(), 'creg-'));
  fs.writeFileSync(
    path.join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log:',
      '  level: info',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${dir}/data`,
      '  delete:',
      '    enabled: true',
      'http:',
      '  addr: 127.0.0.1:0',
      '  secret: ctr-e2e',
      ...(opts.tls ? ['  tls:', `    certificate: ${opts.tls.certificate}`, `    key: ${opts.tls.key}`] : []),
      ...(opts.config ?? []),
      '',
    ].join('\n'),
  );
  const bin = fs.existsSync('/usr/bin/docker-registry') ? '/usr/bin/docker-registry' : 'registry';
  const proc = spawnProc([bin, 'serve', path.join(dir, 'config.yml')], { ignoreStdin: true });
  let host: string;
  try {
    const log = await proc.waitForOutput(/listening on (\[::\]|127\.0\.0\.1):\d+/, { stream: 'stderr', timeout: 15_000 });
    host = `127.0.0.1:${/listening on (?:\[::\]|127\.0\.0\.1):(\d+)/.exec(log)![1]!}`;
  } catch (e) {
    killGroup(proc.child);
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot start ${bin} (apt-get install docker-registry): ${(e as Error).message.split('\n')[0]}`);
  }
  const toolEnv = { ...baseEnv(), HOME: dir, XDG_DATA_HOME: path.join(dir, 'xdg'), XDG_CONFIG_HOME: path.join(dir, 'xdg'), XDG_RUNTIME_DIR: dir };
  const registry: Registry = {
    host,
    dir,
    creds: opts.creds,
    tls: !!opts.tls,
    async push(image, repo, o = {}) {
      const img = fixtures().images[image];
      const dest = `docker://${host}/${repo ?? `${image}:latest`}`;
      const args = ['skopeo', 'copy', '--quiet', '--dest-tls-verify=false'];
      if (o.format === 'v2s2') args.push('--format', 'v2s2');
      if (opts.creds) args.push('--dest-creds', `${opts.creds.username}:${opts.creds.password}`);
      const r = await run([...args, `oci-archive:${fixturePath(img.files.oci!)}`, dest], { baseEnv: toolEnv, timeout: 120_000 });
      if (r.code !== 0) throw new Error(describeResult(`skopeo copy to ${dest}`, r));
    },
    async stop() {
      killGroup(proc.child, 'SIGTERM');
      await proc.wait(5_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  for (const image of opts.images ?? []) await registry.push(image);
  return registry;
}

/**
 * A registry for the calling test file: started (and `images` pushed) in beforeAll, stopped in
 * afterAll. Read `.host` inside tests (it is empty before beforeAll ran).
 */
export function useRegistry(opts: RegistryOptions = {}): Registry {
  const handle: Registry = {
    host: '',
    dir: '',
    push: () => Promise.reject(new Error('registry not started yet (use it inside a test)')),
    stop: async () => {},
  };
  let reg: Registry | undefined;
  beforeAll(async () => {
    reg = await startRegistry(opts);
    handle.host = reg.host;
    handle.dir = reg.dir;
    handle.push = reg.push;
    handle.creds = reg.creds;
    handle.tls = reg.tls;
  }, 300_000);
  afterAll(async () => {
    await reg?.stop();
  }, 60_000);
  return handle;
}

// ------------------------------------------------------------------------------ small utilities

/** Polls `fn` every `interval` ms until it returns a truthy value (returned) or `timeout` ms pass (throws). */
export async function waitFor<T>(fn: () => T | Promise<T>, o: { timeout?: number; interval?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (o.timeout ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${o.what ?? 'condition'}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, o.interval ?? 100));
  }
}

/** A name unique to this process and call, e.g. `t-4711-3-k2j`. Lowercase, valid for containers and images. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}-${process.pid}-${++envCounter}-${Math.random().toString(36).slice(2, 5)}`;
}
