/**
 * `--userns`: which user namespace a container gets.
 *
 *   host (or nothing)   the IDs ctr itself runs with: the host's as root; rootless, the
 *                       per-user namespace (root inside = the user outside, 1..N = sub-IDs).
 *   keep-id[:uid=N,gid=N]
 *                       rootless only: a user namespace of the container's own, nested in
 *                       the per-user one, where the user's UID/GID outside are N inside
 *                       (default: the same numbers), 0..N-1 the first sub-IDs and the rest the
 *                       others. The process runs as N by default, with a passwd/group entry
 *                       when the image has none. The image's files must still look as the
 *                       image made them (root's root), which a mapping shifts: the rootfs is
 *                       mounted by fuse-overlayfs with the same mapping (the kernel's overlay
 *                       cannot be ID-mapped rootless). Bind mounts are seen as they are:
 *                       the user's files are N's inside, and what N makes there is the user's.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CtrError } from '../util/errors';
import { runHelperSync } from '../util/helper';
import { which } from '../util/which';

export type UsernsMode = { mode: 'host' } | { mode: 'keep-id'; uid?: number; gid?: number };

/** One line of an ID map (OCI linux.uidMappings): container IDs [containerID, +size) are hostID.. of the parent namespace. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

const SUPPORTED = 'use host (the default) or keep-id[:uid=N,gid=N]';

function keepIdId(opt: string, v: string, value: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) > 4294967294) throw new CtrError(`invalid --userns "${value}": ${opt} must be a number from 0 to 4294967294`);
  return Number(v);
}

/** Parses --userns; undefined and "" mean the default (host). */
export function parseUserns(value: string | undefined): UsernsMode {
  if (value === undefined || value === '' || value === 'host') return { mode: 'host' };
  const [kind, opts] = value.split(/:(.*)/s, 2) as [string, string | undefined];
  if (kind === 'keep-id') {
    const out: UsernsMode = { mode: 'keep-id' };
    for (const o of opts ? opts.split(',') : []) {
      const eq = o.indexOf('=');
      const k = eq < 0 ? o : o.slice(0, eq);
      const v = eq < 0 ? '' : o.slice(eq + 1);
      if (k === 'uid') out.uid = keepIdId('uid', v, value);
      else if (k === 'gid') out.gid = keepIdId('gid', v, value);
      else throw new CtrError(`invalid --userns "${value}": unknown keep-id option "${k}" (known: uid=N, gid=N)`);
    }
    return out;
  }
  const known = ['auto', 'nomap', 'private', 'ns', 'container'];
  if (known.includes(kind)) throw new CtrError(`--userns=${value} is not supported: ${SUPPORTED}`);
  throw new CtrError(`invalid --userns "${value}": ${SUPPORTED}`);
}

/** The ID maps of the per-user namespace, seen from inside it: `[inside, size]` ranges. */
function namespaceSizes(): { uids: number; gids: number } {
  const out = runHelperSync(['id-map']);
  let uids = 0;
  let gids = 0;
  for (const line of out.split('\n')) {
    const m = /^(uid|gid) (\d+) (\d+) (\d+)$/.exec(line.trim());
    if (!m) continue;
    const end = Number(m[2]) + Number(m[4]);
    if (m[1] === 'uid') uids = Math.max(uids, end);
    else gids = Math.max(gids, end);
  }
  return { uids, gids };
}

/**
 * keep-id's map for one kind of ID, in the per-user namespace's terms (0 = the user, 1..n =
 * sub-IDs): inside 0..N-1 -> 1..N, N -> 0 (the user), N+1.. -> N+1..n.
 */
export function keepIdMap(inside: number, total: number): IdMapping[] {
  const n = total - 1; // sub-IDs
  const maps: IdMapping[] = [];
  const below = Math.min(inside, n);
  if (below > 0) maps.push({ containerID: 0, hostID: 1, size: below });
  maps.push({ containerID: inside, hostID: 0, size: 1 });
  if (n > inside) maps.push({ containerID: inside + 1, hostID: inside + 1, size: n - inside });
  return maps;
}

export interface KeepId {
  uid: number;
  gid: number;
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
}

/**
 * Checks that keep-id can work here and computes its maps. DRIVER is the storage driver the
 * container would otherwise get.
 */
export function prepareKeepId(m: { uid?: number; gid?: number }, rootless: boolean, driver: string): KeepId {
  if (!rootless)
    throw new CtrError('--userns=keep-id is only supported rootless: as root, the IDs inside are the host\'s already (--userns=host)');
  if (driver === 'vfs')
    throw new CtrError('--userns=keep-id needs the overlay or fuse-overlayfs storage driver (its rootfs is mounted by fuse-overlayfs with the ID mapping); the vfs driver cannot map IDs');
  if (!which('fuse-overlayfs'))
    throw new CtrError('--userns=keep-id needs fuse-overlayfs, which shows the image\'s files with their own owners in the mapped namespace (the kernel\'s overlay cannot be ID-mapped rootless): install the fuse-overlayfs package');
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch (e) {
    throw new CtrError(`--userns=keep-id needs fuse-overlayfs, and /dev/fuse is not accessible (${(e as NodeJS.ErrnoException).code}); run \`chmod 0666 /dev/fuse\` as root`);
  }
  const uid = m.uid ?? os.userInfo().uid;
  const gid = m.gid ?? os.userInfo().gid;
  const sizes = namespaceSizes();
  if (sizes.uids < 2 || sizes.gids < 2)
    throw new CtrError(`--userns=keep-id needs subordinate IDs (/etc/subuid and /etc/subgid) for ${os.userInfo().username}: the per-user namespace maps only your own ID, so root inside would have none; add a range with: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${os.userInfo().username}`);
  return { uid, gid, uidMappings: keepIdMap(uid, sizes.uids), gidMappings: keepIdMap(gid, sizes.gids) };
}

function hasId(text: string | undefined, id: number): boolean {
  return (text ?? '').split('\n').some((l) => l.split(':')[2] === String(id));
}

/**
 * Podman's keep-id user entry: when the image's /etc/passwd (/etc/group) has no entry for the
 * ID, a copy with one added is written into the bundle DIR (FINALDIR once published) and bound
 * over the image's.
 * Returns the bind mounts (none when the image has the entries or the user mounts /etc).
 */
export function keepIdFiles(
  k: KeepId,
  dir: string,
  finalDir: string,
  imageFile: (rel: string) => string | undefined,
  binds: { destination: string }[],
): { destination: string; source: string }[] {
  const mounts: { destination: string; source: string }[] = [];
  const covered = (f: string) => binds.some((b) => b.destination === '/etc' || b.destination === f);
  const me = os.userInfo();
  const user = me.username.replace(/[:\n]/g, '') || `user${k.uid}`;
  const add = (rel: string, text: string | undefined, id: number, line: string, fallback: string) => {
    if (covered(`/${rel}`) || hasId(text, id)) return;
    const base = text ?? fallback;
    const name = path.basename(rel);
    fs.writeFileSync(path.join(dir, name), `${base}${base === '' || base.endsWith('\n') ? '' : '\n'}${line}\n`, { mode: 0o644 });
    mounts.push({ destination: `/${rel}`, source: path.join(finalDir, name) });
  };
  add('etc/passwd', imageFile('etc/passwd'), k.uid, `${user}:*:${k.uid}:${k.gid}:${user}:${me.homedir}:/bin/sh`, 'root:x:0:0:root:/root:/bin/sh\n');
  add('etc/group', imageFile('etc/group'), k.gid, `${user}:x:${k.gid}:`, 'root:x:0:\n');
  return mounts;
}
