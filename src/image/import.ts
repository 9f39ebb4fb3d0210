/**
 * `ctr import`: a root filesystem tarball (gzip, zstd or plain) becomes a one-layer image.
 * The input is streamed once: the bytes as received go to a blob (kept, so `save`/`push` keep
 * its digest), the uncompressed stream is hashed (diff ID) and unpacked by ctr-helper.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CtrError } from '../util/errors';
import { findHelper } from '../util/helper';
import { goArch, installImages } from './archive';
import { applyChanges } from './change';
import { layerMediaType } from './compression';
import { commitBlobFile, commitLayer, unpackLayerStream } from './layers';
import { blobsDir, collectGarbage, ensureStoreDirs, Lease, removeTrees, tempName } from './store';
import type { ImageConfigBlob, ImageRuntimeConfig } from './types';

export interface ImportOptions {
  /** normalised tag name, or none */
  name?: string;
  changes: string[];
  message?: string;
  /** what to write into the history ("-" for stdin, or the file name) */
  source: string;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** Writes the raw bytes into a temp blob file while passing them on; returns the digest when done. */
async function* teeToFile(src: AsyncIterable<Buffer>, file: string, result: { digest?: string; size: number }): AsyncGenerator<Buffer> {
  const fh = await fs.promises.open(file, 'w', 0o644);
  const h = createHash('sha256');
  try {
    for await (const b of src) {
      h.update(b);
      result.size += b.length;
      await fh.write(b);
      yield b;
    }
  } finally {
    await fh.close();
  }
  result.digest = `sha256:${h.digest('hex')}`;
}

export async function importTarball(input: AsyncIterable<Buffer>, opts: ImportOptions): Promise<string> {
  // the changes are checked before any data is read
  const runtime: ImageRuntimeConfig = applyChanges({}, opts.changes);
  findHelper(); // the rootfs is unpacked by the helper: without it, fail before anything is written
  collectGarbage();
  ensureStoreDirs();
  const lease = new Lease();
  const blobTmp = path.join(blobsDir(), tempName('.tmp'));
  let ok = false;
  try {
    const raw = { size: 0 } as { digest?: string; size: number };
    const res = await unpackLayerStream(teeToFile(input, blobTmp, raw), opts.source === '-' ? 'the tarball from stdin' : opts.source);
    if (!raw.digest || raw.size === 0) {
      removeTrees([res.tmp]);
      throw new CtrError(`import: ${opts.source === '-' ? 'stdin' : opts.source} is empty; give a tar archive of a root filesystem`);
    }
    lease.add({ layers: [res.diffId], blobs: [raw.digest] });
    commitBlobFile(blobTmp, raw.digest);
    commitLayer(res, res.diffId);
    const now = new Date().toISOString();
    const config: ImageConfigBlob = {
      created: now,
      architecture: opts.platform?.architecture ?? goArch(),
      os: opts.platform?.os ?? 'linux',
      config: runtime,
      rootfs: { type: 'layers', diff_ids: [res.diffId] },
      history: [{ created: now, created_by: '', comment: opts.message ?? `Imported from ${opts.source}` }],
    };
    if (opts.platform?.variant) config.variant = opts.platform.variant;
    const configBytes = Buffer.from(JSON.stringify(config));
    const [img] = await installImages(
      [
        {
          configBytes,
          config,
          layers: [{ blob: { digest: raw.digest, size: raw.size, mediaType: layerMediaType(res.compression) }, diffId: res.diffId }],
          names: opts.name ? [opts.name] : [],
          repoDigests: [],
        },
      ],
      lease,
    );
    ok = true;
    return img!.id;
  } finally {
    fs.rmSync(blobTmp, { force: true });
    lease.release();
    if (!ok) collectGarbage({ always: true });
  }
}
