/**
 * The light half of the storage-driver choice (no probing, no image code): the configured
 * driver, the cached `auto` result in $ROOT/storage-driver.json, and dropping that cache when a
 * container's rootfs could not be mounted with it. `ctr start` loads only this.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { context, getGlobalOptions } from '../state/context';
import { readJson } from '../state/fsatomic';
import { storeDir } from '../state/dirs';
import { CtrError } from '../util/errors';
import { loadConfig } from './config';

export type DriverName = 'overlay' | 'fuse-overlayfs' | 'vfs';
export const DRIVERS: DriverName[] = ['overlay', 'fuse-overlayfs', 'vfs'];

export interface DriverChoice {
  name: DriverName;
  reason: string;
}

export interface CacheFile {
  driver: DriverName;
  reason: string;
  probedAt: string;
  key: string;
  attempts?: Record<string, string>;
}

export const cacheFile = () => path.join(storeDir(), 'storage-driver.json');

function validate(value: string, where: string): DriverName | 'auto' {
  if (value === 'auto' || (DRIVERS as string[]).includes(value)) return value as DriverName | 'auto';
  throw new CtrError(`invalid storage driver "${value}" ${where}: use one of auto, ${DRIVERS.join(', ')}`);
}

/** The configured driver (without probing): an explicit name, or 'auto' with where it came from. */
export function configuredDriver(): { name: DriverName | 'auto'; reason: string } {
  const g = getGlobalOptions().storageDriver;
  if (g) return { name: g, reason: 'set by --storage-driver' };
  const env = process.env.CTR_STORAGE_DRIVER;
  if (env) return { name: validate(env, 'in CTR_STORAGE_DRIVER'), reason: 'set by CTR_STORAGE_DRIVER' };
  const { config, sources } = loadConfig();
  const d = config.storage?.driver;
  if (d !== undefined) {
    const src = sources['storage.driver'] ?? 'the configuration file';
    if (typeof d !== 'string') throw new CtrError(`invalid storage.driver in ${src}: expected a string`);
    return { name: validate(d, `in ${src}`), reason: `set in ${src}` };
  }
  return { name: 'auto', reason: 'auto' };
}

export function readCache(): CacheFile | undefined {
  try {
    const c = readJson<CacheFile>(cacheFile());
    if (c && (DRIVERS as string[]).includes(c.driver) && typeof c.key === 'string') return c;
  } catch {
    /* damaged: probe again */
  }
  return undefined;
}

export function dropCache(): void {
  try {
    fs.unlinkSync(cacheFile());
  } catch {
    /* none */
  }
}

/** The cached auto choice, without probing (undefined when none yet). */
export function cachedStorageDriver(): DriverChoice | undefined {
  const conf = configuredDriver();
  if (conf.name !== 'auto') return { name: conf.name, reason: conf.reason };
  const c = readCache();
  return c ? { name: c.driver, reason: c.reason } : undefined;
}

/** The helper's messages for a rootfs that could not be mounted (native/rootfs.c). */
const MOUNT_FAILURE = /mounting the overlay rootfs|fuse-overlayfs could not mount|fuse-overlayfs not found|\/dev\/fuse is not accessible/;

/**
 * Call when a container failed to start: when its rootfs could not be mounted with the driver
 * that `auto` chose (and cached), the cached choice is dropped, so the next container made is
 * probed again (a kernel, module or package change the probe key did not see). True when it did.
 */
export function noteRootfsMountFailure(driver: string, message: string): boolean {
  if (!message || !MOUNT_FAILURE.test(message)) return false;
  try {
    if (configuredDriver().name !== 'auto') return false;
    if (readCache()?.driver !== driver) return false;
  } catch {
    return false;
  }
  dropCache();
  return true;
}
