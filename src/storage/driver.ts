/**
 * Storage driver choice: --storage-driver / CTR_STORAGE_DRIVER, then the config file, then
 * `auto`: a real probe mount of overlay (kernel, inside the user namespace), then
 * fuse-overlayfs, then vfs. The probe result is cached in $ROOT/storage-driver.json and
 * redone when the kernel, the helper or fuse-overlayfs changes, or when a mount with the
 * cached driver failed (invalidateStorageDriverCache).
 *
 * Layers are stored in one neutral format (unpacked dirs, whiteouts as 0:0 char devices,
 * opaque dirs as overlay xattrs) that every driver reads, so a store can switch drivers:
 * existing containers keep the driver they were created with.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from '../util/random';
import { context, getGlobalOptions } from '../state/context';
import { readJson, writeJsonAtomic } from '../state/fsatomic';
import { withLockSync } from '../state/lock';
import { storeDir } from '../state/dirs';
import { CtrError } from '../util/errors';
import { ensureRunroot, findHelper, helperArgs, helperError } from '../util/helper';
import { tarBuffer } from '../image/tarstream';
import { owner, removeTrees, tmpDir } from '../image/store';
import { cacheFile, configuredDriver, dropCache, readCache, DRIVERS, type CacheFile, type DriverChoice, type DriverName } from './driver-cache';

export type { DriverName, DriverChoice } from './driver-cache';
export { DRIVERS, configuredDriver, cachedStorageDriver, noteRootfsMountFailure } from './driver-cache';
import { which } from '../util/which';

function fileKey(p: string | undefined): string {
  if (!p) return 'none';
  try {
    const st = fs.statSync(p);
    return `${p}@${st.size}@${Math.floor(st.mtimeMs)}`;
  } catch {
    return `${p}@missing`;
  }
}

/** What the cached probe depends on: when it changes, the probe runs again. */
function probeKey(): string {
  let helper = 'none';
  try {
    helper = fileKey(findHelper());
  } catch {
    /* no helper: probes fail anyway */
  }
  return [os.release(), helper, fileKey(which('fuse-overlayfs')), context().rootless ? 'rootless' : 'root'].join('|');
}

let resolved: DriverChoice | undefined;

/**
 * The driver new containers use, and why. `auto` probes once per store (cached). Never
 * throws for auto: vfs always works.
 */
export function resolveStorageDriver(): DriverChoice {
  if (resolved) return resolved;
  const conf = configuredDriver();
  if (conf.name !== 'auto') {
    resolved = { name: conf.name, reason: conf.reason };
    return resolved;
  }
  const key = probeKey();
  const cached = readCache();
  if (cached && cached.key === key) {
    resolved = { name: cached.driver, reason: cached.reason };
    return resolved;
  }
  resolved = withLockSync(path.join(storeDir(), 'storage-driver.lock'), () => {
    const again = readCache();
    if (again && again.key === key) return { name: again.driver, reason: again.reason };
    const choice = probeAll();
    const rec: CacheFile = { driver: choice.name, reason: choice.reason, probedAt: new Date().toISOString(), key, attempts: choice.attempts };
    try {
      writeJsonAtomic(cacheFile(), rec);
    } catch {
      /* read-only store: probe again next time */
    }
    return { name: choice.name, reason: choice.reason };
  }, 120000);
  return resolved;
}

/** Forget the probe result (call when a mount with the chosen driver failed): the next use probes again. */
export function invalidateStorageDriverCache(): void {
  resolved = undefined;
  dropCache();
}

function probeAll(): DriverChoice & { attempts: Record<string, string> } {
  const attempts: Record<string, string> = {};
  const failures: string[] = [];
  for (const d of ['overlay', 'fuse-overlayfs'] as const) {
    const why = probeDriver(d);
    if (why === undefined) {
      attempts[d] = 'ok';
      const pre = failures.length ? `${failures.join('; ')}; ` : '';
      const what = d === 'overlay' ? 'kernel overlay mounts work in the user namespace' : 'fuse-overlayfs mounts work';
      return { name: d, reason: `auto: ${pre}${what}`, attempts };
    }
    attempts[d] = why;
    failures.push(`${d} probe failed (${why}${why === 'fuse-overlayfs is not installed' ? '' : kernelHint(d)})`);
  }
  return { name: 'vfs', reason: `auto: ${failures.join('; ')}; using vfs (full copies, slower, more disk)`, attempts };
}

/**
 * What a failed probe has to do with the kernel's age (EL7's 3.10 has neither): upstream Linux
 * mounts overlay in a user namespace from 5.11 and FUSE from 4.18 (EL 7.8 backports FUSE).
 * Said only when the kernel is older; a distribution kernel may allow more.
 */
function kernelHint(d: 'overlay' | 'fuse-overlayfs'): string {
  const rel = os.release();
  const m = /^(\d+)\.(\d+)/.exec(rel);
  const v = m ? Number(m[1]) * 1000 + Number(m[2]) : Infinity;
  if (d === 'overlay' && v < 5011) return `; Linux ${rel} is older than 5.11, the first to mount overlay in a user namespace`;
  if (d === 'fuse-overlayfs' && v < 4018) return `; Linux ${rel} is older than 4.18, the first to mount FUSE in a user namespace (EL 7.8 and later have it)`;
  return '';
}

const PROBE_SCRIPT =
  'r="$1"; test "$(cat "$r/probe")" = ok && test ! -e "$r/gone" && test -d "$r/d" && test ! -e "$r/d/f" && ' +
  'echo w > "$r/new" && test "$(cat "$r/new")" = w';

/** Mounts a two-layer rootfs (with a whiteout and an opaque dir) through the helper; undefined when it works, else why not. */
export function probeDriver(driver: 'overlay' | 'fuse-overlayfs'): string | undefined {
  if (driver === 'fuse-overlayfs') {
    if (!which('fuse-overlayfs')) return 'fuse-overlayfs is not installed';
    try {
      fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
    } catch {
      return '/dev/fuse is not available';
    }
  }
  let helper: string;
  try {
    helper = findHelper();
  } catch (e) {
    return (e as Error).message;
  }
  // a runtime dir that cannot be used is the user's problem to fix, not a reason to pick another driver
  ensureRunroot();
  fs.mkdirSync(tmpDir(), { recursive: true, mode: 0o700 });
  const dir = path.join(tmpDir(), `probe-${owner()}-${randomBytes(4).toString('hex')}`);
  const lowerA = path.join(dir, 'a');
  const lowerB = path.join(dir, 'b');
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  const merged = path.join(dir, 'merged');
  try {
    for (const d of [dir, lowerA, lowerB, upper, work, merged]) fs.mkdirSync(d, { mode: 0o755 });
    const xattrs = context().rootless ? ['--rootless-xattrs'] : [];
    const run = (args: string[], input?: Buffer) => {
      const r = spawnSync(helper, helperArgs(args), { input, encoding: 'buffer', timeout: 30000 });
      // the probe may be the first use of the user namespace: its one-time warnings (no sub-IDs,
      // no newuidmap) are said here or never
      for (const l of (r.stderr?.toString() ?? '').split('\n')) if (l.startsWith('warning:')) process.stderr.write(`${l}\n`);
      if (r.error) return r.error.message;
      if (r.status !== 0) return helperError(r.stderr?.toString() ?? '');
      return undefined;
    };
    let err = run(
      ['untar', ...xattrs, lowerA],
      tarBuffer([
        { name: 'probe', data: 'ok' },
        { name: 'gone', data: 'x' },
        { name: 'd', type: 'dir' },
        { name: 'd/f', data: 'x' },
      ]),
    );
    if (err) return `untar: ${err}`;
    err = run(
      ['untar', ...xattrs, lowerB],
      tarBuffer([
        { name: '.wh.gone', data: '' },
        { name: 'd', type: 'dir' },
        { name: 'd/.wh..wh..opq', data: '' },
      ]),
    );
    if (err) return `untar: ${err}`;
    const spec = {
      ociVersion: '1.0.2',
      process: { args: ['/bin/true'], cwd: '/', env: [] },
      root: { path: merged },
      annotations: {
        'ctr.rootfs.driver': driver,
        'ctr.rootfs.lower': `${lowerB}:${lowerA}`,
        'ctr.rootfs.upper': upper,
        'ctr.rootfs.work': work,
      },
    };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
    err = run(['mount-exec', dir, '--', '/bin/sh', '-c', PROBE_SCRIPT, 'probe', merged]);
    if (err) return err === 'ctr-helper failed' ? 'the probe mount did not show the expected files' : err;
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    try {
      removeTrees([dir]);
    } catch {
      /* GC gets it later */
    }
  }
}
