/**
 * A container's root filesystem on top of an image's layers.
 *   overlay, fuse-overlayfs: CONTAINERDIR/{upper,work,merged}; the helper mounts
 *     lower (the image's layers, topmost first) + upper at merged when the container starts.
 *   vfs: CONTAINERDIR/rootfs, a full copy made now by `ctr-helper mkrootfs`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CtrError } from '../util/errors';
import { findHelper, runHelperSync } from '../util/helper';
import { layerPath, removeTrees, withStoreLock } from '../image/store';
import type { ImageRecord, RootfsSpec } from '../image/types';
import { resolveStorageDriver, type DriverName } from './driver';


function checkLayers(image: ImageRecord): void {
  withStoreLock(() => {
    for (const l of image.layers) {
      if (!fs.existsSync(path.join(layerPath(l.chainId), 'layer.json')))
        throw new CtrError(`image ${image.id.slice(7, 19)} is incomplete: layer ${l.chainId} is missing from the store; remove the image and load or pull it again`);
    }
  });
}

/**
 * Creates the rootfs of a new container in `containerDir` (which must exist) and returns
 * what the bundle needs. `driver` defaults to resolveStorageDriver().
 * The caller should write the container's record before calling this, so that `rmi`
 * sees the image in use.
 */
export function createContainerRootfs(containerDir: string, image: ImageRecord, driver?: DriverName): RootfsSpec {
  findHelper(); // one clear line when it is missing (the probe would otherwise settle on vfs)
  const name = driver ?? resolveStorageDriver().name;
  checkLayers(image);
  const lowersBottomFirst = image.layers.map((l) => l.dir);
  if (name === 'vfs') {
    const rootfs = path.join(containerDir, 'rootfs');
    fs.mkdirSync(rootfs, { mode: 0o755 });
    try {
      runHelperSync(['mkrootfs', rootfs, ...lowersBottomFirst]);
    } catch (e) {
      try {
        removeTrees([rootfs]);
      } catch {
        /* left for the caller's cleanup */
      }
      throw new CtrError(`cannot create the container's root filesystem (vfs): ${(e as Error).message}`);
    }
    // the layers the copy was made from (topmost first): what diff and commit compare it with
    const from = lowersBottomFirst.slice().reverse().join(':');
    return { driver: 'vfs', rootPath: rootfs, annotations: { 'ctr.rootfs.driver': 'vfs', 'ctr.rootfs.lower': from } };
  }
  const upper = path.join(containerDir, 'upper');
  const work = path.join(containerDir, 'work');
  const merged = path.join(containerDir, 'merged');
  for (const d of [upper, work, merged]) fs.mkdirSync(d, { mode: 0o755 });
  let lowers = lowersBottomFirst.slice().reverse();
  if (lowers.length === 0) {
    // overlay needs at least one lower dir: an image without layers (empty import) gets an empty one
    const empty = path.join(containerDir, 'empty');
    fs.mkdirSync(empty, { mode: 0o755 });
    lowers = [empty];
  }
  return {
    driver: name,
    rootPath: merged,
    annotations: {
      'ctr.rootfs.driver': name,
      'ctr.rootfs.lower': lowers.join(':'),
      'ctr.rootfs.upper': upper,
      'ctr.rootfs.work': work,
    },
  };
}
