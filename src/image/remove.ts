/** `rmi` and `image prune`: untagging and removal, refused while containers use an image. */
import { containersUsingImage, listContainerRecords } from '../container/store';
import { CtrError } from '../util/errors';
import { readImageMeta, readImageMetaChecked, readTags, removeTrees, resolveImage, deleteImageLocked, untagLocked, withStoreLock, listImages, collectGarbage } from './store';
import type { ImageRecord } from './types';
import { shortId, imageRows, type ImageFilter } from './view';

export interface RemoveEvent {
  untagged: string[];
  deleted?: string;
}

/**
 * Removes one image argument, Docker's way: a name that is one of several tags of the
 * image only loses that tag; otherwise the image goes with all its tags. An image used by a
 * container is refused (`force`: its tags go, the image stays for the container). An ID
 * naming an image with several tags needs `force`.
 */
export function removeImage(arg: string, force: boolean): RemoveEvent {
  // a damaged record can be removed (its layers go unless another image uses them)
  const r = resolveImage(arg, { damaged: true });
  const id = r.image.id;
  const trash: string[] = [];
  const ev = withStoreLock((): RemoveEvent => {
    if (!readImageMetaChecked(id)) throw new CtrError(`no such image: ${arg}`);
    const tags = readTags();
    const names = Object.keys(tags).filter((k) => tags[k] === id);
    if (r.via === 'tag' && r.name && names.length > 1) {
      return { untagged: untagLocked([r.name]) };
    }
    const users = containersUsingImage(id);
    if (users.length) {
      if (!force) {
        const more = users.length > 1 ? ` (and ${users.length - 1} more)` : '';
        throw new CtrError(`image is in use by a container: ${users[0]!.slice(0, 12)}${more}; remove the container first or use -f to untag the image`);
      }
      return { untagged: untagLocked(names) };
    }
    if (r.via !== 'tag' && names.length > 1 && !force)
      throw new CtrError(`image ${shortId(id)} has several names (${names.join(', ')}): remove them one by one or use -f to remove the image`);
    const res = deleteImageLocked(id);
    trash.push(...res.trash);
    return { untagged: res.untagged, deleted: id };
  });
  removeTreesQuietly(trash);
  return ev;
}

function removeTreesQuietly(trash: string[]): void {
  try {
    removeTrees(trash);
  } catch {
    /* left under .rm- names: the next garbage collection retries */
  }
}

/** `image prune`: dangling images (all unused ones with `all`) that no container uses; returns the removed IDs. */
export function pruneImages(all: boolean, filters: ImageFilter[]): string[] {
  collectGarbage({ always: true });
  const used = new Set(listContainerRecords().map((c) => c.image));
  const images: ImageRecord[] = listImages();
  const rows = imageRows(images, { all: true, filters, noTrunc: true, containersOf: () => 0 });
  const candidates = [...new Set(rows.map((r) => r.image))].filter((img) => !used.has(img.id) && (all || img.repoTags.length === 0));
  const removed: string[] = [];
  const trash: string[] = [];
  for (const img of candidates) {
    withStoreLock(() => {
      const meta = readImageMeta(img.id);
      if (!meta) return;
      if (containersUsingImage(img.id).length) return;
      const tags = readTags();
      if (!all && Object.values(tags).includes(img.id)) return; // tagged meanwhile
      trash.push(...deleteImageLocked(img.id).trash);
      removed.push(img.id);
    });
  }
  removeTreesQuietly(trash);
  return removed;
}
