// Hosts that are not set up all the way, seen by a real unprivileged user (these need root to
// arrange: another user, a private mount namespace):
//   - a user without /etc/subuid ranges: one warning, a single-ID mapping, containers run as root
//   - /dev/fuse not accessible: the fuse-overlayfs driver fails with one line that says what to do
//   - --userns=keep-id without sub-IDs or without /dev/fuse: one line each
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrBin, describeResult, fixturePath, fixtures, helperBin, isRoot, run, type RunResult } from './lib';

const NOSUB = process.env.CTR_TEST_NOSUB_USER || 'ctrnosub';
const TESTUSER = process.env.CTR_TEST_USER || 'ctrtest';
const uidOf = (u: string) => {
  const r = spawnSync('id', ['-u', u], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
};
const hasRanges = (u: string) => fs.readFileSync('/etc/subuid', 'utf8').split('\n').some((l) => l.startsWith(`${u}:`) || l.startsWith(`${uidOf(u)}:`));
const ready = isRoot && uidOf(NOSUB) !== undefined && !hasRanges(NOSUB) && uidOf(TESTUSER) !== undefined;
const errLines = (r: RunResult) => r.stderr.split('\n').filter((l) => l.trim() !== '');

/** A private store for USER under a fresh dir it owns; ctr runs through runuser (optionally under `unshare -m` with a prelude run as root). */
function userEnv(user: string) {
  const uid = uidOf(user)!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ctr-hosts-${user}-`));
  fs.chmodSync(dir, 0o755);
  fs.chownSync(dir, uid, uid);
  const env = [
    `HOME=${dir}`, `XDG_RUNTIME_DIR=${dir}/xr`, `XDG_DATA_HOME=${dir}/data`, `XDG_CONFIG_HOME=${dir}/cfg`, `TMPDIR=${dir}`,
    'PATH=/usr/local/bin:/usr/bin:/bin', `CTR_HELPER=${helperBin}`, 'LANG=C.UTF-8',
  ];
  fs.mkdirSync(`${dir}/xr`, { mode: 0o700 });
  fs.chownSync(`${dir}/xr`, uid, uid);
  const argv = (args: string[]) => ['runuser', '-u', user, '--', 'env', '-i', ...env, ctrBin, ...args];
  return {
    dir,
    run: (args: string[], timeout = 120_000) => run(argv(args), { timeout }),
    /** As `run`, inside a new mount namespace where `prelude` (sh, as root) ran first. */
    runIn: (prelude: string, args: string[]) => {
      const q = argv(args).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      return run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', `${prelude} && exec ${q}`], { timeout: 120_000 });
    },
    cleanup: async () => {
      await run(argv(['unshare', 'rm', '-rf', `${dir}/data`]), { timeout: 60_000 });
      const pid = Number((fs.existsSync(`${dir}/xr/ctr/pause.pid`) ? fs.readFileSync(`${dir}/xr/ctr/pause.pid`, 'utf8') : '0').split(' ')[0]);
      if (pid > 1) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.skipIf(!ready)(`a user without sub-IDs (${NOSUB})`, () => {
  let u: ReturnType<typeof userEnv>;
  beforeAll(() => {
    u = userEnv(NOSUB);
  });
  afterAll(async () => u && (await u.cleanup()), 120_000);

  it('one warning that names the fix, then a single-ID mapping: containers run as root (its own UID outside)', async () => {
    const l = await u.run(['load', '-i', fixturePath(fixtures().images.busybox.files.docker!)]);
    expect(l.code, describeResult('load', l)).toBe(0);
    const warnings = errLines(l).filter((x) => x.startsWith('warning:'));
    expect(warnings, l.stderr).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`no subordinate IDs for ${NOSUB} in /etc/subuid.*single-ID mapping.*usermod --add-subuids`));
    // the image's app user (1000) is not mapped and 65534 neither: those files stay root's, one note says so
    const notes = errLines(l).filter((x) => x.startsWith('note:'));
    expect(notes, l.stderr).toHaveLength(1);
    expect(notes[0]).toMatch(/^note: 1 entry is owned by IDs outside this user namespace \(it maps UIDs 0-0, GIDs 0-0; first: home\/app\/, 1000:1000\): it belongs to root \(65534 is not mapped either\) instead, without set-ID bits or file capabilities$/);
    const home = await u.run(['run', '--rm', 'busybox', 'stat', '-c', '%u:%g %a', '/home/app']);
    expect(home.stdout, describeResult('stat', home)).toBe('0:0 755\n');
    const r = await u.run(['run', '--rm', 'busybox', 'sh', '-c', 'id -u; cat /proc/self/uid_map']);
    expect(r.code, describeResult('run', r)).toBe(0);
    expect(r.stderr).not.toMatch(/warning/); // said once, when the namespace was made
    const [idu, map] = r.stdout.trim().split('\n');
    expect(idu).toBe('0');
    expect(map!.trim().split(/\s+/)).toEqual(['0', String(uidOf(NOSUB)), '1']);
    const info = await u.run(['info']);
    expect(info.stdout).toMatch(new RegExp(`"container_id":0,"host_id":${uidOf(NOSUB)},"size":1`));
    // a UID the namespace cannot map: one line, the right code, no container left
    const bad = await u.run(['run', '--rm', '-u', '1000', 'busybox', 'id']);
    expect(bad.code, describeResult('run -u 1000', bad)).toBe(125);
    expect(errLines(bad).filter((x) => x.startsWith('Error:'))).toHaveLength(1);
    expect(errLines(bad).filter((x) => x.startsWith('Error:'))[0]).toMatch(/not mapped/);
    const ps = await u.run(['ps', '-aq']);
    expect(ps.stdout.trim()).toBe('');
  }, 180_000);

  it('--userns=keep-id needs sub-IDs: one line naming the fix, no container', async () => {
    const r = await u.run(['run', '--rm', '--userns=keep-id', 'busybox', 'true']);
    expect(r.code, describeResult('run keep-id', r)).toBe(125);
    const errs = errLines(r).filter((x) => !x.startsWith('warning:'));
    expect(errs, r.stderr).toHaveLength(1);
    expect(errs[0]).toMatch(new RegExp(`^Error: --userns=keep-id needs subordinate IDs .* for ${NOSUB}: .*usermod --add-subuids`));
    expect((await u.run(['ps', '-aq'])).stdout.trim()).toBe('');
  });
});

describe.skipIf(!ready || !fs.existsSync('/usr/bin/fuse-overlayfs'))('/dev/fuse not accessible', () => {
  let u: ReturnType<typeof userEnv>;
  let fake = '';
  beforeAll(async () => {
    u = userEnv(TESTUSER);
    fake = path.join(u.dir, 'fuse-0600');
    fs.writeFileSync(fake, '', { mode: 0o600 });
    const l = await u.run(['load', '-i', fixturePath(fixtures().images.busybox.files.docker!)]);
    expect(l.code, describeResult('load', l)).toBe(0);
  }, 120_000);
  afterAll(async () => u && (await u.cleanup()), 120_000);

  it('--storage-driver fuse-overlayfs: one line naming /dev/fuse and the ways out (chmod, vfs), nothing left', async () => {
    const r = await u.runIn(`mount --bind '${fake}' /dev/fuse`, ['--storage-driver', 'fuse-overlayfs', 'run', '--rm', 'busybox', 'true']);
    expect(r.code, describeResult('run', r)).toBe(125);
    const errs = errLines(r);
    expect(errs, r.stderr).toHaveLength(1);
    expect(errs[0]).toMatch(/^Error: \/dev\/fuse is not accessible.*chmod 0666 \/dev\/fuse.*vfs/);
    expect((await u.run(['ps', '-aq'])).stdout.trim()).toBe('');
  });

  it('--userns=keep-id (its rootfs is a fuse-overlayfs mount): one line naming /dev/fuse, nothing left', async () => {
    const r = await u.runIn(`mount --bind '${fake}' /dev/fuse`, ['run', '--rm', '--userns=keep-id', 'busybox', 'true']);
    expect(r.code, describeResult('run', r)).toBe(125);
    const errs = errLines(r);
    expect(errs, r.stderr).toHaveLength(1);
    expect(errs[0]).toMatch(/^Error: --userns=keep-id needs fuse-overlayfs, and \/dev\/fuse is not accessible .*chmod 0666 \/dev\/fuse/);
    expect((await u.run(['ps', '-aq'])).stdout.trim()).toBe('');
  });
});
