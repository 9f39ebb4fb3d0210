import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CtrError } from '../util/errors';
import { ensureRunroot, findHelper, helperArgs, helperError } from '../util/helper';
import { containerDir } from './store';
import type { ContainerRecord } from './types';

export interface Change {
  Path: string;
  Kind: 0 | 1 | 2; // Docker: 0 modified, 1 added, 2 deleted
}

/** True when REL (a path relative to the rootfs) exists in one of the image's layer directories (LOWERS). */
export function inImageLayers(lowers: readonly string[], rel: string): boolean {
  return lowers.some((l) => {
    try {
      fs.lstatSync(path.join(l, rel));
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Where a container's changes come from, as `ctr-helper tar-dir` arguments: its overlay upper
 * dir (overlay, fuse-overlayfs), or its vfs copy compared with the layers it was copied from
 * (the image's layers, topmost first). Undefined for a vfs container made before ctr recorded
 * those layers. `lowers` are the image's layer dirs, topmost first.
 */
export function changesSource(rec: ContainerRecord, ann: Record<string, string>): { tarDirArgs: string[]; lowers: string[] } | undefined {
  const lowers = (ann['ctr.rootfs.lower'] ?? '').split(':').filter(Boolean);
  const upper = ann['ctr.rootfs.upper'];
  if (upper) return { tarDirArgs: ['--diff', upper], lowers };
  if (ann['ctr.rootfs.driver'] === 'vfs' && 'ctr.rootfs.lower' in ann)
    return { tarDirArgs: ['--diff-from', lowers.join(':'), path.join(containerDir(rec.id), 'rootfs')], lowers };
  return undefined;
}

/** Changes of the container's writable layer against its image (Docker's `diff`). */
export async function containerChanges(rec: ContainerRecord): Promise<Change[]> {
  const dir = containerDir(rec.id);
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { annotations: Record<string, string> };
  const src = changesSource(rec, spec.annotations ?? {});
  if (!src) throw new CtrError(`diff cannot read the changes of ${rec.name}: it was created by an older ctr with the ${rec.driver} storage driver; create it again`);
  const inImage = (p: string) => inImageLayers(src.lowers, p);
  ensureRunroot();
  const { Parser } = await import('tar'); // on use: a module wanting only inImageLayers (commit) need not load tar
  const names: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(findHelper(), helperArgs(['tar-dir', ...src.tarDirArgs]), { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const parser = new Parser({ onReadEntry: (e) => (names.push(e.path), e.resume()) });
    child.stdout.pipe(parser);
    child.on('error', (e) => reject(new CtrError(`cannot run ctr-helper: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new CtrError(`diff of ${rec.name} failed: ${helperError(err)}`))));
  });
  // Mount points ctr itself created for /etc/hosts & co. and -v are not the user's changes.
  const mountPoints = new Set(['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', ...rec.mounts.map((m) => m.Destination)]);
  const out = new Map<string, Change>();
  const skipped: string[] = [];
  for (const raw of names) {
    const rel = raw.replace(/\/$/, '');
    const base = path.posix.basename(rel);
    const parent = path.posix.dirname(rel);
    if (base === '.wh..wh..opq') continue;
    if (base.startsWith('.wh.')) {
      const p = `/${path.posix.join(parent, base.slice(4))}`.replace(/^\/\.\//, '/');
      out.set(p, { Path: p, Kind: 2 });
      continue;
    }
    const p = `/${rel}`;
    if (mountPoints.has(p) && !inImage(rel)) {
      skipped.push(p);
      continue;
    }
    out.set(p, { Path: p, Kind: inImage(rel) ? 0 : 1 });
  }
  // A directory of the image that is in the upper layer only because a mount point was made in
  // it (/etc for /etc/hosts) is not a change either, unless something else changed inside it.
  const ancestors = new Set<string>();
  for (const m of skipped) for (let d = path.posix.dirname(m); d !== '/'; d = path.posix.dirname(d)) ancestors.add(d);
  for (const d of [...ancestors].sort((a, b) => b.length - a.length)) {
    if (out.get(d)?.Kind !== 0) continue;
    if (![...out.keys()].some((k) => k.startsWith(`${d}/`))) out.delete(d);
  }
  return [...out.values()].sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
}
