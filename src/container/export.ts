import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { CtrError } from '../util/errors';
import { ensureRunroot, findHelper, helperArgs, helperError } from '../util/helper';
import { containerDir } from './store';
import { isActive, runtimeState } from './state';
import type { ContainerRecord } from './types';

/**
 * Runs a helper command chrooted into the container's root filesystem: the live root of a
 * running container (/proc/PID/root), or the rootfs mounted privately for a stopped one. Every
 * path the command uses resolves inside the container.
 */
export function spawnInRootfs(rec: ContainerRecord, cmd: string[], stdio: ('pipe' | 'inherit' | 'ignore' | number)[]) {
  ensureRunroot();
  const helper = findHelper();
  const st = runtimeState(rec);
  let args: string[];
  if (isActive(st)) {
    args = helperArgs(['--chroot', `/proc/${st.pid}/root`, ...cmd]);
  } else {
    // mount-exec mounts the rootfs and execs a command with CTR_ROOTFS set; a shell passes it on.
    const inner = helperArgs(['--chroot', '@ROOTFS@', ...cmd]);
    const script = `i=0; for a in "$@"; do [ "$a" = @ROOTFS@ ] && a="$CTR_ROOTFS"; set -- "$@" "$a"; i=$((i+1)); done; shift $i; exec "$@"`;
    args = helperArgs(['mount-exec', containerDir(rec.id), '--', '/bin/sh', '-c', script, 'sh', helper, ...inner]);
  }
  return spawn(helper, args, { stdio: stdio as never, env: process.env });
}

/** Streams the container's filesystem as a tar to `out`. */
export function exportContainer(rec: ContainerRecord, out: NodeJS.WritableStream): Promise<void> {
  if (!fs.existsSync(containerDir(rec.id))) throw new CtrError(`no such container: ${rec.name}`);
  return new Promise((resolve, reject) => {
    const child = spawnInRootfs(rec, ['tar-dir', '/'], ['ignore', 'pipe', 'pipe']);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.pipe(out as NodeJS.WritableStream, { end: false });
    child.on('error', (e) => reject(new CtrError(`cannot run ctr-helper: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new CtrError(`export of ${rec.name} failed: ${helperError(err)}`));
    });
  });
}
