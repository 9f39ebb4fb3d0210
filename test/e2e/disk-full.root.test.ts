// A container that fills the disk holding the store (root only, to arrange it: a small tmpfs
// owned by the test user, who runs ctr with --root on it). The exit code survives, the log says
// what it dropped, and commands that need room fail with one line naming the file, leaving
// nothing half made.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrBin, describeResult, fixturePath, fixtures, helperBin, isRoot, run, type RunResult } from './lib';

const USER = process.env.CTR_TEST_USER || 'ctrtest';
const uidOf = (u: string) => {
  const r = spawnSync('id', ['-u', u], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
};
const uid = uidOf(USER);
const errLines = (r: RunResult) => r.stderr.split('\n').filter((l) => l.trim() !== '');
const ls = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);

describe.skipIf(!isRoot || uid === undefined)('a container fills the disk of the store (root: tmpfs, ctr as the test user)', () => {
  let dir = '';
  let mnt = '';
  let store = '';
  const env = () => [
    `HOME=${dir}`, `XDG_RUNTIME_DIR=${dir}/xr`, `XDG_DATA_HOME=${dir}/data`, `XDG_CONFIG_HOME=${dir}/cfg`, `TMPDIR=${dir}/tmp`,
    'PATH=/usr/local/bin:/usr/bin:/bin', `CTR_HELPER=${helperBin}`, 'LANG=C.UTF-8',
  ];
  const ctr = (args: string[], timeout = 120_000) =>
    run(['runuser', '-u', USER, '--', 'env', '-i', ...env(), ctrBin, '--root', store, ...args], { timeout });
  const okRun = async (args: string[]) => {
    const r = await ctr(args);
    expect(r.code, describeResult(`ctr ${args.join(' ')}`, r)).toBe(0);
    return r;
  };
  /** Exactly one `Error: no space left on device while writing PATH` line, PATH in the store, exit 125. */
  const refusedFull = (r: RunResult, what: string) => {
    expect(r.code, describeResult(what, r)).toBe(125);
    const e = errLines(r);
    expect(e, r.stderr).toHaveLength(1);
    expect(e[0]).toMatch(new RegExp(`^Error: .*no space left on device while writing ${store.replace(/[.]/g, '\\.')}/\\S+`));
  };
  /** What the store holds, leftovers included (temp names, half-made containers and layers). */
  const snapshot = () => ({
    containers: ls(path.join(store, 'containers')),
    names: ls(path.join(store, 'names')),
    images: ls(path.join(store, 'images')),
    layers: ls(path.join(store, 'layers')),
    blobs: ls(path.join(store, 'blobs', 'sha256')),
  });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctr-full-'));
    fs.chmodSync(dir, 0o755);
    for (const d of ['xr', 'data', 'cfg', 'tmp']) fs.mkdirSync(path.join(dir, d), { mode: 0o700 });
    mnt = path.join(dir, 'small');
    fs.mkdirSync(mnt);
    for (const d of ['', 'xr', 'data', 'cfg', 'tmp', 'small']) fs.chownSync(path.join(dir, d), uid!, uid!);
    const m = await run(['mount', '-t', 'tmpfs', '-o', `size=24m,mode=0700,uid=${uid},gid=${uid}`, 'tmpfs', mnt]);
    if (m.code !== 0) throw new Error(describeResult('mount tmpfs', m));
    store = path.join(mnt, 'store');
    await okRun(['load', '-i', fixturePath(fixtures().images.busybox.files.docker!)]);
  }, 180_000);

  afterAll(async () => {
    if (!dir) return;
    const ps = await ctr(['ps', '-aq']);
    const ids = ps.stdout.split(/\s+/).filter(Boolean);
    if (ids.length) await ctr(['rm', '-f', ...ids]);
    await run(['umount', '-l', mnt]);
    const pauseFile = path.join(dir, 'xr', 'ctr', 'pause.pid');
    const pid = Number((fs.existsSync(pauseFile) ? fs.readFileSync(pauseFile, 'utf8') : '0').split(' ')[0]);
    if (pid > 1) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('exit code kept, dropped output noted in the log; run -d, start and commit refuse with one line, nothing half made', async () => {
    // made while there is room; started once the disk is full
    const late = (await okRun(['create', '--name', 'late', 'busybox', 'true'])).stdout.trim();
    const fill = (await okRun([
      'run', '-d', '--name', 'fill', 'busybox', 'sh', '-c',
      'echo before; dd if=/dev/zero of=/fill bs=64k; yes "a line written once the disk was full" | head -c 300000; exit 0',
    ])).stdout.trim();
    const w = await okRun(['wait', fill]);
    expect(w.stdout.trim()).toBe('0');
    expect((await okRun(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', fill])).stdout.trim()).toBe('exited 0');
    expect((await okRun(['ps', '-a', '--filter', 'name=fill', '--format', '{{.Status}}'])).stdout).toMatch(/^Exited \(0\)/);
    expect(fs.existsSync(path.join(store, 'containers', fill, 'exit.json'))).toBe(true);
    const log = await okRun(['logs', fill]);
    expect(log.stdout.startsWith('before\n')).toBe(true);
    expect(log.stderr).toMatch(/^\[ctr\] dropped \d+ bytes of output: no space left on device$/m);
    // the disk is still full (the container's /fill is in its layer)
    const before = snapshot();
    refusedFull(await ctr(['run', '-d', 'busybox', 'true']), 'run -d on a full disk');
    expect(snapshot()).toEqual(before);
    refusedFull(await ctr(['start', late]), 'start on a full disk');
    // a start that failed: Created, or Exited (125) with the reason when its record found room
    const st = (await okRun(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}', late])).stdout.trim();
    expect(st).toMatch(/^created 0$|^exited 125 no space left on device while writing /);
    refusedFull(await ctr(['commit', fill, 'filled:1']), 'commit on a full disk');
    expect(snapshot()).toEqual(before);
    expect((await okRun(['images', '-q'])).stdout.trim().split('\n')).toHaveLength(1);
    // room again: the same commands work
    await okRun(['rm', '-f', fill, late]);
    const again = (await okRun(['run', '-d', 'busybox', 'sh', '-c', 'echo fine'])).stdout.trim();
    expect((await okRun(['wait', again])).stdout.trim()).toBe('0');
    await okRun(['rm', again]);
  }, 300_000);

  it('a container that fills the disk and exits 3 is Exited (3)', async () => {
    const id = (await okRun(['run', '-d', 'busybox', 'sh', '-c', 'echo before; dd if=/dev/zero of=/fill bs=64k; exit 3'])).stdout.trim();
    expect((await okRun(['wait', id])).stdout.trim()).toBe('3');
    expect((await okRun(['ps', '-a', '--filter', `id=${id}`, '--format', '{{.Status}}'])).stdout).toMatch(/^Exited \(3\)/);
    const log = await okRun(['logs', id]);
    expect(log.stdout).toBe('before\n');
    expect(log.stderr).toMatch(/No space left on device/); // dd's own message: the reserve kept room for it
    await okRun(['rm', id]);
  }, 180_000);
});
