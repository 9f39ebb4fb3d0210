import * as os from 'node:os';
import * as path from 'node:path';

export type StorageDriverName = 'auto' | 'overlay' | 'fuse-overlayfs' | 'vfs';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Global options, given before the command (`ctr --root DIR ps`). */
export interface GlobalOptions {
  root?: string;
  runroot?: string;
  storageDriver?: StorageDriverName;
  logLevel?: LogLevel;
}

/** Where this invocation keeps its state, derived once per process. */
export interface Context {
  uid: number;
  gid: number;
  rootless: boolean;
  root: string;
  runroot: string;
  /** where root came from: --root, CTR_ROOT, or the default */
  rootFrom: 'option' | 'env' | 'default';
  /** where runroot came from: --runroot, CTR_RUNROOT, $XDG_RUNTIME_DIR/ctr, or the default (/tmp/ctr-UID, /run/ctr) */
  runrootFrom: 'option' | 'env' | 'xdg' | 'default';
  storageDriver: StorageDriverName;
  logLevel: LogLevel;
  configDir: string;
}

let current: Context | undefined;
let globals: GlobalOptions = {};

export function setGlobalOptions(g: GlobalOptions): void {
  globals = g;
  current = undefined;
}

export function getGlobalOptions(): GlobalOptions {
  return globals;
}

export function context(): Context {
  if (current) return current;
  const uid = process.getuid ? process.getuid() : 0;
  const gid = process.getgid ? process.getgid() : 0;
  const rootless = uid !== 0;
  const home = process.env.HOME || os.homedir();
  let root: string;
  let runroot: string;
  let configDir: string;
  let runrootFrom: Context['runrootFrom'] = 'default';
  if (rootless) {
    root = path.join(process.env.XDG_DATA_HOME || path.join(home, '.local/share'), 'ctr');
    const xdgRun = process.env.XDG_RUNTIME_DIR;
    runroot = xdgRun ? path.join(xdgRun, 'ctr') : `/tmp/ctr-${uid}`;
    if (xdgRun) runrootFrom = 'xdg';
    configDir = path.join(process.env.XDG_CONFIG_HOME || path.join(home, '.config'), 'ctr');
  } else {
    root = '/var/lib/ctr';
    runroot = '/run/ctr';
    configDir = '/etc/ctr';
  }
  current = {
    uid,
    gid,
    rootless,
    root: path.resolve(globals.root ?? (process.env.CTR_ROOT || root)),
    runroot: path.resolve(globals.runroot ?? (process.env.CTR_RUNROOT || runroot)),
    rootFrom: globals.root !== undefined ? 'option' : process.env.CTR_ROOT ? 'env' : 'default',
    runrootFrom: globals.runroot !== undefined ? 'option' : process.env.CTR_RUNROOT ? 'env' : runrootFrom,
    storageDriver: globals.storageDriver ?? (process.env.CTR_STORAGE_DRIVER as StorageDriverName | undefined) ?? 'auto',
    logLevel: globals.logLevel ?? 'warn',
    configDir,
  };
  return current;
}

export function debug(msg: string): void {
  if (context().logLevel === 'debug') process.stderr.write(`debug: ${msg}\n`);
}
