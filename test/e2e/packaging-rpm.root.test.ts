// The RPM (rpm/ctr.spec through packaging/build-rpm.sh), built once here, offline, from this
// checkout with its vendored node_modules and the pinned runtime packages (CTR_TEST_RPM=FILE:
// check that RPM instead, built before from this tree):
//   - what it holds, requires and provides (by hand: nothing bundled is offered to the system)
//     and that EL7's rpm 4.11 can read its headers;
//   - the installed files alone, as the root of a mount namespace with no other C library (a
//     static busybox, /proc, /sys, /dev, /etc/passwd, /etc/subuid), run ctr as root and as a user: load,
//     run, exec, stop, rm, pull from a registry named in that root's /etc/hosts; the plain
//     binary cannot even start there;
//   - the installed binary on this host (its lib directory put at /usr/libexec/ctr/lib in a
//     private mount namespace): the programs ctr starts keep the host's C library and get no
//     LD_LIBRARY_PATH, the host's passwd and hosts files answer its lookups, and on a 3.10-like
//     kernel (no getrandom, old uname) with an entropy pool that never fills it still starts,
//     where the plain binary waits forever; EL7's first-use problems get one clear line each.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrBin, describeResult, fixturePath, fixtures, helperBin, isRoot, repoRoot, run, spawnProc, useRegistry, waitFor, type Proc, type RunResult } from './lib';

const which = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
const have = (cmd: string) => which(cmd) !== '';
const ready = isRoot && ['rpmbuild', 'rpm', 'rpm2cpio', 'cpio', 'readelf', 'gcc', 'setarch', 'unshare', 'nsenter', 'pivot_root'].every(have);
const lines = (t: string) => t.split('\n').map((l) => l.trim()).filter(Boolean);
const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
const errLines = (r: RunResult) => lines(r.stderr);
const USER = process.env.CTR_TEST_USER || 'ctrtest';
const idOf = (flag: '-u' | '-g') => Number(spawnSync('id', [flag, USER], { encoding: 'utf8' }).stdout.trim());
const LIBDIR = '/usr/libexec/ctr/lib';
const LIBS = ['ld-linux-x86-64.so.2', 'libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'libgcc_s.so.1', 'libstdc++.so.6', 'libctr-entropy.so'];
const plainBin = ctrBin; // dist/bin/ctr: the plain flavour, linked against the host's libraries

// What rpm 4.11.3 (EL7) knows: lib/rpmds.c, rpmlibProvides[], at rpm-4.11.3-release (EL7's rpm
// is built with bzip2, xz, Lua and libcap, so the optional ones are there too).
const RPM411_RPMLIB: Record<string, string> = {
  VersionedDependencies: '3.0.3-1',
  CompressedFileNames: '3.0.4-1',
  PayloadIsBzip2: '3.0.5-1',
  PayloadIsXz: '5.2-1',
  PayloadIsLzma: '4.4.2-1',
  PayloadFilesHavePrefix: '4.0-1',
  ExplicitPackageProvide: '4.0-1',
  HeaderLoadSortsTags: '4.0.1-1',
  ScriptletInterpreterArgs: '4.0.3-1',
  PartialHardlinkSets: '4.0.4-1',
  ConcurrentAccess: '4.1-1',
  BuiltinLuaScripts: '4.2.2-1',
  FileDigests: '4.6.0-1',
  FileCaps: '4.6.1-1',
  ScriptletExpansion: '4.9.0-1',
  TildeInVersions: '4.10.0-1',
};
// payload decompressors of rpm 4.11 (rpmio: gzdio, bzdio, xzdio, lzdio) and its file digest
// algorithms (PGPHASHALGO_*: MD5 1, SHA1 2, SHA256 8, SHA384 9, SHA512 10)
const RPM411_COMPRESSORS = ['gzip', 'bzip2', 'xz', 'lzma'];
const RPM411_DIGESTS = ['1', '2', '8', '9', '10'];

/** Compares dotted versions with an optional -release, numerically field by field. */
function versionLe(a: string, b: string): boolean {
  const pa = a.split(/[.-]/).map(Number);
  const pb = b.split(/[.-]/).map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x < y;
  }
  return true;
}

let dir = '';
let rpmFile = '';
let payload = '';
let kernel310 = '';

describe.skipIf(!ready)('RPM package (root)', () => {
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctr-rpm-test-'));
    fs.chmodSync(dir, 0o755);
    if (process.env.CTR_TEST_RPM) {
      // an RPM built before from this tree (to rerun the checks quickly): copied as the build would leave it
      fs.mkdirSync(path.join(dir, 'out'));
      rpmFile = path.join(dir, 'out', path.basename(process.env.CTR_TEST_RPM));
      fs.copyFileSync(process.env.CTR_TEST_RPM, rpmFile);
    } else {
      const r = await run(['bash', path.join(repoRoot, 'packaging/build-rpm.sh'), path.join(dir, 'out')], { timeout: 1_500_000 });
      expect(r.code, describeResult('build-rpm.sh', r)).toBe(0);
      rpmFile = lines(r.stdout).pop() ?? '';
    }
    payload = path.join(dir, 'payload');
    fs.mkdirSync(payload);
    const x = await run(['sh', '-c', `rpm2cpio ${q(rpmFile)} | (cd ${q(payload)} && cpio -idm --quiet)`], { timeout: 120_000 });
    expect(x.code, describeResult('rpm2cpio | cpio', x)).toBe(0);
    kernel310 = path.join(dir, 'kernel310');
    const cc = await run(['gcc', '-O2', '-Wall', '-Werror', '-o', kernel310, path.join(repoRoot, 'test/el7/kernel310.c')]);
    expect(cc.code, describeResult('gcc kernel310.c', cc)).toBe(0);
  }, 1_600_000);
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('packaging/build-rpm.sh builds it offline and leaves nothing but the RPM', () => {
    expect(rpmFile).toMatch(/\/ctr-[0-9][^/]*\.x86_64\.rpm$/);
    expect(fs.statSync(rpmFile).size).toBeGreaterThan(1_000_000);
    expect(fs.readdirSync(path.join(dir, 'out'))).toEqual([path.basename(rpmFile)]);
  });

  it('rpm -qpl: ctr, its helper, the bundled runtime in /usr/libexec/ctr/lib, docs and licence files; nothing else', async () => {
    const r = await run(['rpm', '-qp', '--qf', '[%{FILEFLAGS:fflags}|%{FILENAMES}\n]', rpmFile]);
    expect(r.code, describeResult('rpm -qp --qf FILENAMES', r)).toBe(0);
    const l = await run(['rpm', '-qpl', rpmFile]);
    const files = lines(l.stdout);
    const own = ['/usr/bin/ctr', '/usr/libexec/ctr', '/usr/libexec/ctr/ctr-helper', LIBDIR, ...LIBS.map((f) => `${LIBDIR}/${f}`)];
    for (const f of own) expect(files, f).toContain(f);
    const docs = files.filter((f) => f.startsWith('/usr/share/doc/'));
    expect(docs.some((f) => /\/ctr[^/]*\/README\.md$/.test(f)), files.join('\n')).toBe(true);
    expect(docs.some((f) => /\/ctr[^/]*\/PROTOCOL\.md$/.test(f)), files.join('\n')).toBe(true);
    // the runtime's licence notices and where its source is, marked %license
    const licensed = lines(r.stdout).filter((x) => x.split('|')[0]!.includes('l')).map((x) => path.basename(x.split('|')[1]!));
    expect(licensed.sort()).toEqual(['RUNTIME-SOURCES', 'gcc.copyright', 'glibc.copyright']);
    const lic = files.filter((f) => f.startsWith('/usr/share/licenses/'));
    const other = files.filter((f) => !f.startsWith('/usr/share/doc/') && !f.startsWith('/usr/share/licenses/') && !own.includes(f));
    expect(other).toEqual([]);
    const sources = fs.readFileSync(path.join(payload, lic.find((f) => f.endsWith('/RUNTIME-SOURCES'))!), 'utf8');
    expect(sources).toMatch(/glibc 2\.36-\S+, https:\/\/snapshot\.debian\.org\/package\/glibc\//);
    expect(sources).toMatch(/gcc-12 12\.\S+, https:\/\/snapshot\.debian\.org\/package\/gcc-12\//);
  });

  it('rpm -qpR: written by hand (newuidmap/newgidmap, slirp4netns 0.4, fuse-overlayfs); no library, no GLIBC above 2.17', async () => {
    const r = await run(['rpm', '-qpR', rpmFile]);
    expect(r.code, describeResult('rpm -qpR', r)).toBe(0);
    const reqs = lines(r.stdout);
    expect(reqs.filter((x) => !x.startsWith('rpmlib(')).sort()).toEqual(['/usr/bin/newgidmap', '/usr/bin/newuidmap', 'fuse-overlayfs', 'slirp4netns >= 0.4.0']);
    expect(reqs.filter((x) => /\.so\b|\(64bit\)/.test(x))).toEqual([]);
    for (const x of reqs) {
      const g = /GLIBC_(\d+\.\d+)/.exec(x);
      if (g) expect(versionLe(g[1]!, '2.17'), x).toBe(true);
      const gx = /GLIBCXX_(\d+\.\d+\.\d+)/.exec(x);
      if (gx) expect(versionLe(gx[1]!, '3.4.19'), x).toBe(true);
    }
  });

  it('rpm -qp --provides: the package itself only, nothing of the bundled runtime', async () => {
    const r = await run(['rpm', '-qp', '--provides', rpmFile]);
    expect(r.code, describeResult('rpm -qp --provides', r)).toBe(0);
    const v = (await run(['rpm', '-qp', '--qf', '%{VERSION}-%{RELEASE}', rpmFile])).stdout;
    expect(lines(r.stdout).sort()).toEqual([`ctr = ${v}`, `ctr(x86-64) = ${v}`]);
  });

  it('headers EL7 rpm 4.11 reads: known rpmlib() features only, no rich dependencies, xz/gzip payload, a known digest', async () => {
    const r = await run(['rpm', '-qpR', rpmFile]);
    for (const x of lines(r.stdout)) {
      expect(x.startsWith('('), `rich dependency ${x}`).toBe(false);
      const m = /^rpmlib\(([^)]+)\)\s*(?:<=|=)?\s*(\S*)/.exec(x);
      if (!m) continue;
      expect(Object.keys(RPM411_RPMLIB), `rpm 4.11 does not know ${x}`).toContain(m[1]);
      if (m[2]) expect(versionLe(m[2], RPM411_RPMLIB[m[1]!]!), x).toBe(true);
    }
    for (const tag of ['RECOMMENDNAME', 'SUGGESTNAME', 'SUPPLEMENTNAME', 'ENHANCENAME', 'CONFLICTNAME', 'OBSOLETENAME']) {
      const t = await run(['rpm', '-qp', '--qf', `[%{${tag}}\n]`, rpmFile]);
      for (const x of lines(t.stdout)) expect(x.startsWith('('), `rich ${tag} ${x}`).toBe(false);
    }
    const h = await run(['rpm', '-qp', '--qf', '%{PAYLOADCOMPRESSOR} %{PAYLOADFORMAT} %{FILEDIGESTALGO}', rpmFile]);
    const [comp, format, digest] = h.stdout.trim().split(' ');
    expect(RPM411_COMPRESSORS).toContain(comp);
    expect(format).toBe('cpio');
    expect(RPM411_DIGESTS).toContain(digest);
    // no scriptlets that would need a shell or Lua at install time
    const s = await run(['rpm', '-qp', '--scripts', rpmFile]);
    expect(s.stdout.trim()).toBe('');
  });

  it('the installed binary: interpreter and DT_RPATH (not RUNPATH) in /usr/libexec/ctr/lib, libctr-entropy.so first', async () => {
    const bin = path.join(payload, 'usr/bin/ctr');
    const l = await run(['readelf', '-lW', bin]);
    expect(l.stdout).toContain(`[Requesting program interpreter: ${LIBDIR}/ld-linux-x86-64.so.2]`);
    const d = await run(['readelf', '-dW', bin]);
    expect(d.stdout).toMatch(new RegExp(`\\(RPATH\\)\\s+Library rpath: \\[${LIBDIR}\\]`));
    expect(d.stdout).not.toContain('RUNPATH');
    const needed = [...d.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    expect(needed[0]).toBe('libctr-entropy.so');
    for (const n of needed) expect(LIBS, `${n} is needed but not bundled`).toContain(n);
    // and the bundled runtime needs nothing outside itself
    for (const f of LIBS) {
      const dd = await run(['readelf', '-dW', path.join(payload, LIBDIR, f)]);
      for (const m of dd.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) expect(LIBS, `${f} needs ${m[1]}`).toContain(m[1]);
    }
  });

  // ------------------------------------------------------------------------------------------
  describe('in a root filesystem with only the installed files, a static busybox and no other libc', () => {
    const reg = useRegistry({ images: ['busybox'] });
    let R = '';
    let holder: Proc | undefined;
    const uid = idOf('-u');
    const gid = idOf('-g');
    const userEnv = ['HOME=/home/ctrtest', `XDG_RUNTIME_DIR=/run/user/${uid}`, 'PATH=/usr/bin:/bin', 'LANG=C.UTF-8'];
    /**
     * Runs ARGV inside the root, as root or as the user: nsenter takes the holder's mount
     * namespace, whose root it is (pivot_root: a chroot would not do, the kernel refuses a
     * chrooted process a user namespace), and starts ARGV there with a clean environment.
     */
    const inRoot = (who: 'root' | 'user', argv: string[], env = userEnv, timeout = 120_000) =>
      run(
        ['env', '-i', ...(who === 'root' ? ['HOME=/root', 'PATH=/usr/bin:/bin'] : env), which('nsenter'), '-t', String(holder!.pid), '-m', '-r', '-w',
          ...(who === 'user' ? ['-S', String(uid), '-G', String(gid)] : []), '--', ...argv],
        { timeout },
      );
    const ctrU = (args: string[], timeout?: number) => inRoot('user', ['/usr/bin/ctr', ...args], userEnv, timeout);

    beforeAll(async () => {
      R = path.join(dir, 'rootfs');
      const cp = await run(['cp', '-a', `${payload}/.`, R]);
      expect(cp.code, describeResult('cp payload', cp)).toBe(0);
      for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'home/ctrtest', `run/user/${uid}`]) fs.mkdirSync(path.join(R, d), { recursive: true });
      fs.chmodSync(path.join(R, 'tmp'), 0o1777);
      fs.chownSync(path.join(R, 'home/ctrtest'), uid, gid);
      fs.chownSync(path.join(R, `run/user/${uid}`), uid, gid);
      fs.chmodSync(path.join(R, `run/user/${uid}`), 0o700);
      fs.copyFileSync('/bin/busybox', path.join(R, 'bin/busybox'));
      fs.chmodSync(path.join(R, 'bin/busybox'), 0o755);
      for (const a of ['sh', 'cat', 'ls', 'id', 'true']) fs.symlinkSync('busybox', path.join(R, 'bin', a));
      const subid = (f: string) => fs.readFileSync(f, 'utf8').split('\n').filter((x) => x.startsWith(`${USER}:`) || x.startsWith(`${uid}:`)).join('\n') + '\n';
      const etc: Record<string, string> = {
        passwd: `root:x:0:0:root:/root:/bin/sh\nctrtest:x:${uid}:${gid}::/home/ctrtest:/bin/sh\n`,
        group: `root:x:0:\nctrtest:x:${gid}:\n`,
        subuid: subid('/etc/subuid'),
        subgid: subid('/etc/subgid'),
        'nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
        hosts: '127.0.0.1 localhost\n127.0.0.1 registry.ctr-test\n',
      };
      for (const [f, t] of Object.entries(etc)) fs.writeFileSync(path.join(R, 'etc', f), t, { mode: 0o644 });
      fs.copyFileSync(fixturePath(fixtures().images.busybox.files.docker!), path.join(R, 'tmp/busybox.tar'));
      fs.chmodSync(path.join(R, 'tmp/busybox.tar'), 0o644);
      fs.mkdirSync(path.join(R, '.old'));
      // a mount namespace whose root is R (from here on only R's static busybox can run in it)
      holder = spawnProc(['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
        `mount --bind ${q(R)} ${q(R)} && mount -t proc proc ${q(R)}/proc && mount --rbind /dev ${q(R)}/dev && mount --rbind /sys ${q(R)}/sys && cd ${q(R)} && ` +
        `${which('pivot_root')} . .old && /bin/busybox umount -l /.old && /bin/busybox rmdir /.old && echo ready && exec /bin/busybox sleep 100000`], { ignoreStdin: true });
      await holder.waitForOutput('ready', { timeout: 10_000 });
    }, 120_000);
    afterAll(async () => {
      if (holder) {
        const ids = await ctrU(['ps', '-aq'], 30_000);
        if (ids.stdout.trim()) await ctrU(['rm', '-f', ...lines(ids.stdout)], 60_000);
        const pf = path.join(R, `run/user/${uid}/ctr/pause.pid`);
        const pid = fs.existsSync(pf) ? Number(fs.readFileSync(pf, 'utf8').split(' ')[0]) : 0;
        if (pid > 1) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        holder.kill('SIGKILL');
        await holder.wait(10_000);
      }
    }, 120_000);

    it('holds no C library or loader but the bundled one, and a static busybox', async () => {
      const found: string[] = [];
      const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (['proc', 'sys', 'dev'].some((m) => p === path.join(R, m))) continue;
          if (e.isDirectory()) walk(p);
          else if (/^(libc\.so|libc-|ld-linux|ld-musl|libc\.musl|libstdc\+\+)/.test(e.name)) found.push(p.slice(R.length));
        }
      };
      walk(R);
      expect(found.sort()).toEqual([`${LIBDIR}/ld-linux-x86-64.so.2`, `${LIBDIR}/libc.so.6`, `${LIBDIR}/libstdc++.so.6`]);
      const bb = await run(['readelf', '-lW', path.join(R, 'bin/busybox')]);
      expect(bb.stdout).not.toContain('INTERP');
    });

    it('ctr version and ctr info work, as root and as the user; the plain binary cannot start there', async () => {
      const v = await inRoot('root', ['/usr/bin/ctr', 'version']);
      expect(v.code, describeResult('ctr version (root)', v)).toBe(0);
      expect(v.stdout).toMatch(/^ctr version [0-9]/);
      const vu = await ctrU(['version']);
      expect(vu.code, describeResult('ctr version (user)', vu)).toBe(0);
      const info = await ctrU(['info']);
      expect(info.code, describeResult('ctr info', info)).toBe(0);
      // found through its own path (process.execPath = /usr/bin/ctr, not the loader)
      expect(info.stdout).toContain('path: /usr/libexec/ctr/ctr-helper');
      expect(info.stdout).toMatch(/graphDriverName: (overlay|vfs)/);
      // no newuidmap here: a single-ID mapping, and one warning that names the package
      expect(info.stdout).toContain(`{"container_id":0,"host_id":${uid},"size":1}`);
      expect(errLines(info).filter((x) => x.startsWith('warning:')).join('\n')).toMatch(/newuidmap\/newgidmap not found.*shadow-utils 4\.6 or later \(EL 7\.7/);
      // the same binary unpatched needs the host's loader, which this root does not have
      fs.copyFileSync(plainBin, path.join(R, 'usr/bin/ctr-plain'));
      fs.chmodSync(path.join(R, 'usr/bin/ctr-plain'), 0o755);
      try {
        const p = await inRoot('root', ['/usr/bin/ctr-plain', 'version']);
        expect(p.code, describeResult('plain ctr version', p)).not.toBe(0);
        expect(p.stdout).toBe('');
        expect(p.stderr).toMatch(/No such file or directory/);
      } finally {
        fs.rmSync(path.join(R, 'usr/bin/ctr-plain'));
      }
    }, 120_000);

    it("getpwuid through the bundled C library reads this root's /etc/passwd (no HOME given)", async () => {
      const r = await inRoot('user', ['/usr/bin/ctr', 'info', '--format', '{{.Store.GraphRoot}}'], ['PATH=/usr/bin:/bin', `XDG_RUNTIME_DIR=/run/user/${uid}`]);
      expect(r.code, describeResult('ctr info without HOME', r)).toBe(0);
      expect(r.stdout.trim()).toBe('/home/ctrtest/.local/share/ctr');
    });

    it('as the user: load, run --rm, run -d, exec, stop, rm', async () => {
      const l = await ctrU(['load', '-i', '/tmp/busybox.tar']);
      expect(l.code, describeResult('load', l)).toBe(0);
      const r = await ctrU(['run', '--rm', 'busybox', 'sh', '-c', 'echo hello from $(id -u)']);
      expect(r.code, describeResult('run --rm', r)).toBe(0);
      expect(r.stdout).toBe('hello from 0\n');
      const d = await ctrU(['run', '-d', '--name', 'el7', 'busybox', 'sleep', '1000']);
      expect(d.code, describeResult('run -d', d)).toBe(0);
      const e = await ctrU(['exec', 'el7', 'cat', '/proc/1/cmdline']);
      expect(e.code, describeResult('exec', e)).toBe(0);
      expect(e.stdout).toBe('sleep\u00001000\u0000');
      const s = await ctrU(['stop', '-t', '1', 'el7']);
      expect(s.code, describeResult('stop', s)).toBe(0);
      const ps = await ctrU(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
      expect(ps.stdout).toMatch(/^el7 Exited/);
      const rm = await ctrU(['rm', 'el7']);
      expect(rm.code, describeResult('rm', rm)).toBe(0);
      expect((await ctrU(['ps', '-aq'])).stdout.trim()).toBe('');
    }, 180_000);

    it("as the user: pull from a registry named in this root's /etc/hosts, then run it", async () => {
      const port = reg.host.split(':')[1];
      const ref = `registry.ctr-test:${port}/busybox:latest`;
      const p = await ctrU(['pull', '--tls-verify=false', ref]);
      expect(p.code, describeResult('pull', p)).toBe(0);
      const r = await ctrU(['run', '--rm', ref, 'echo', 'pulled']);
      expect(r.code, describeResult('run pulled', r)).toBe(0);
      expect(r.stdout).toBe('pulled\n');
    }, 180_000);
  });

  // ------------------------------------------------------------------------------------------
  describe('on this host, with the lib directory at /usr/libexec/ctr/lib (a private mount namespace)', () => {
    const reg = useRegistry({ images: ['busybox'] });
    const uid = idOf('-u');
    let home = '';
    const graft = () => path.join(repoRoot, 'test/el7/graft.sh');
    const bin = () => path.join(payload, 'usr/bin/ctr');
    interface HostOpts {
      /** sh, as root, in the new mount and IPC namespaces before anything else */
      prelude?: string;
      /** what runuser runs under (setarch, kernel310) */
      under?: string[];
      /** environment on top of the usual (a value of undefined drops the variable) */
      env?: Record<string, string | undefined>;
      /** ctr's --root and --runroot (default: the section's store); null: none given */
      store?: { root: string; runroot: string } | null;
      binary?: string;
      timeout?: number;
    }
    /** ctr as the user, with the bundled lib dir grafted at /usr/libexec/ctr/lib (graft.sh). */
    const hostArgv = (args: string[], o: HostOpts = {}) => {
      const e: Record<string, string | undefined> = {
        HOME: home, XDG_RUNTIME_DIR: `${home}/xr`, PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', CTR_HELPER: helperBin, ...o.env,
      };
      const store = o.store === null ? [] : ['--root', o.store?.root ?? `${home}/data`, '--runroot', o.store?.runroot ?? `${home}/xr/ctr`];
      const inner = [graft(), `${path.join(payload, LIBDIR)}:${LIBDIR}`, '--', ...(o.under ?? []), 'runuser', '-u', USER, '--', 'env', '-i',
        ...Object.entries(e).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`), o.binary ?? bin(), ...store, ...args];
      return ['unshare', '--mount', '--ipc', '--propagation', 'private', 'sh', '-c', `${o.prelude ?? 'true'} && exec ${inner.map(q).join(' ')}`];
    };
    const hostRun = (args: string[], o: HostOpts = {}) => run(hostArgv(args, o), { timeout: o.timeout ?? 120_000 });

    beforeAll(async () => {
      home = fs.mkdtempSync(path.join(dir, 'home-'));
      fs.chmodSync(home, 0o755);
      fs.mkdirSync(`${home}/xr`, { mode: 0o700 });
      fs.chownSync(home, uid, uid);
      fs.chownSync(`${home}/xr`, uid, uid);
      const l = await hostRun(['load', '-i', fixturePath(fixtures().images.busybox.files.docker!)]);
      expect(l.code, describeResult('load', l)).toBe(0);
    }, 180_000);
    afterAll(async () => {
      if (!home) return;
      const ids = await hostRun(['ps', '-aq'], { timeout: 30_000 });
      if (ids.stdout.trim()) await hostRun(['rm', '-f', ...lines(ids.stdout)], { timeout: 60_000 });
      await run(['runuser', '-u', USER, '--', 'env', '-i', `HOME=${home}`, 'PATH=/usr/bin:/bin', helperBin, '--rundir', `${home}/xr/ctr`, 'rmtree', `${home}/data`], { timeout: 60_000 });
      const pf = `${home}/xr/ctr/pause.pid`;
      const pid = fs.existsSync(pf) ? Number(fs.readFileSync(pf, 'utf8').split(' ')[0]) : 0;
      if (pid > 1) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }, 180_000);

    const maps = (pid: number) => fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
    const environ = (pid: number) => fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const libcOf = (pid: number) => [...new Set(lines(maps(pid)).map((x) => x.split(/\s+/)[5] ?? '').filter((f) => /\/libc\.so\.6$|\/libc-[\d.]+\.so$/.test(f)))];
    /** Processes whose executable is EXE (and whose command line holds `has`). */
    const procsOf = (exe: string, has = '') =>
      fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((p) => {
        try {
          return fs.readlinkSync(`/proc/${p}/exe`) === exe && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(has);
        } catch {
          return false;
        }
      });
    const killPause = (runroot: string) => {
      const pf = `${runroot}/pause.pid`;
      const p = fs.existsSync(pf) ? Number(fs.readFileSync(pf, 'utf8').split(' ')[0]) : 0;
      try {
        if (p > 1) process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    /** A fresh runroot the user owns: a new pause process, so newuidmap runs again. */
    const freshRunroot = (name: string) => {
      const d = fs.mkdtempSync(path.join(home, `${name}-`));
      fs.chownSync(d, uid, uid);
      return d;
    };

    it("ctr runs on the bundled libc as its own /proc/self/exe; what it starts keeps the host's libc and gets no LD_ variable", async () => {
      // newuidmap is found through PATH: a shell script in front of it records its libc and environment
      const wrap = path.join(dir, 'wrap');
      fs.mkdirSync(wrap, { mode: 0o755 });
      const log = path.join(home, 'newuidmap.log');
      fs.writeFileSync(path.join(wrap, 'newuidmap'), `#!/bin/sh\n{ grep libc /proc/$$/maps; env; } > ${q(log)}\nexec /usr/bin/newuidmap "$@"\n`, { mode: 0o755 });
      const xr = freshRunroot('leak');
      const o: HostOpts = { env: { PATH: `${wrap}:/usr/local/bin:/usr/bin:/bin`, XDG_RUNTIME_DIR: xr }, store: { root: `${home}/data`, runroot: `${xr}/ctr` } };
      const r = await hostRun(['--storage-driver', 'fuse-overlayfs', 'run', '-d', '--name', 'leak', 'busybox', 'sleep', '1000'], o);
      expect(r.code, describeResult('run -d', r)).toBe(0);
      try {
        const wlog = fs.readFileSync(log, 'utf8');
        expect(wlog).toMatch(/\/lib\/x86_64-linux-gnu\/libc\.so\.6|\/lib64\/libc/);
        expect(wlog).not.toContain(LIBDIR);
        expect(lines(wlog).filter((x) => x.startsWith('LD_'))).toEqual([]);
        const pid = Number((await hostRun(['inspect', '--format', '{{.State.Pid}}', 'leak'], o)).stdout.trim());
        expect(pid).toBeGreaterThan(1);
        const monitor = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]);
        const slirp = procsOf('/usr/bin/slirp4netns').filter((p) => Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]) === monitor);
        expect(slirp, 'slirp4netns of the container').toHaveLength(1);
        const fuse = procsOf('/usr/bin/fuse-overlayfs', `${home}/data/`);
        expect(fuse, 'fuse-overlayfs of the container').toHaveLength(1);
        for (const p of [...slirp, ...fuse]) {
          const libc = libcOf(p);
          expect(libc, `libc of ${fs.readlinkSync(`/proc/${p}/exe`)}`).toHaveLength(1);
          expect(maps(p)).not.toContain(LIBDIR);
          expect(environ(p).filter((x) => x.startsWith('LD_'))).toEqual([]);
        }
        // a long-running ctr (logs -f): its executable is ctr itself, its libc the bundled one
        const logs = spawnProc(hostArgv(['logs', '-f', 'leak'], o), { ignoreStdin: true });
        try {
          const ctrPid = await waitFor(() => procsOf(bin(), 'logs')[0], { what: 'the ctr logs -f process' });
          await waitFor(() => libcOf(ctrPid).length > 0, { what: 'its libc mapped' });
          expect(libcOf(ctrPid)).toEqual([`${LIBDIR}/libc.so.6`]);
          expect(maps(ctrPid)).toContain(`${LIBDIR}/libctr-entropy.so`);
          expect(environ(ctrPid).filter((x) => x.startsWith('LD_'))).toEqual([]);
        } finally {
          logs.kill('SIGKILL');
          for (const p of procsOf(bin(), 'logs')) process.kill(p, 'SIGKILL');
          await logs.wait(10_000);
        }
      } finally {
        await hostRun(['rm', '-f', 'leak'], o);
        killPause(`${xr}/ctr`);
      }
    }, 240_000);

    it("the host's passwd and hosts files answer the bundled libc: no HOME given, and a pull from localhost", async () => {
      const pw = lines(fs.readFileSync('/etc/passwd', 'utf8')).find((x) => x.startsWith(`${USER}:`))!.split(':')[5];
      const h = await hostRun(['info', '--format', '{{.Store.GraphRoot}}'], { env: { HOME: undefined }, store: null });
      expect(h.code, describeResult('info (no HOME)', h)).toBe(0);
      expect(h.stdout.trim()).toBe(`${pw}/.local/share/ctr`);
      const port = reg.host.split(':')[1];
      const p = await hostRun(['pull', '--tls-verify=false', `localhost:${port}/busybox:latest`]);
      expect(p.code, describeResult('pull from localhost', p)).toBe(0);
    }, 180_000);

    it('no getrandom and an old uname (3.10-like), /dev/random never ready: the bundled ctr starts at once, the plain one waits', async () => {
      const fifo = path.join(dir, 'random-fifo');
      if (!fs.existsSync(fifo)) spawnSync('mkfifo', ['-m', '0666', fifo]);
      const o: HostOpts = { prelude: `mount --bind ${q(fifo)} /dev/random`, under: ['setarch', 'x86_64', '--uname-2.6', kernel310], timeout: 20_000 };
      const t0 = Date.now();
      const b = await hostRun(['version'], o);
      const bundledMs = Date.now() - t0;
      expect(b.code, describeResult('bundled ctr version', b)).toBe(0);
      const ps = await hostRun(['ps', '-a'], o);
      expect(ps.code, describeResult('bundled ctr ps', ps)).toBe(0);
      // the plain binary (the system's libc, no libctr-entropy.so): OpenSSL waits for /dev/random
      const p = await hostRun(['version'], { ...o, binary: plainBin, timeout: 4_000 });
      try {
        expect(p.timedOut, describeResult('plain ctr version', p)).toBe(true);
      } finally {
        for (const x of procsOf(plainBin, home)) process.kill(x, 'SIGKILL');
      }
      console.log(`3.10-like kernel, /dev/random never ready: bundled ctr version took ${bundledMs} ms; plain ctr version still waiting after 4000 ms`);
    }, 120_000);

    it('user namespaces disabled (EL7: user.max_user_namespaces = 0): one line naming the sysctl and the file, nothing made', async () => {
      const zero = path.join(dir, 'zero');
      fs.writeFileSync(zero, '0\n', { mode: 0o644 });
      const xr = freshRunroot('nouserns');
      const o: HostOpts = {
        prelude: `mount --bind ${q(zero)} /proc/sys/user/max_user_namespaces`,
        under: [kernel310, '--userns-off'],
        env: { XDG_RUNTIME_DIR: xr },
        store: { root: `${xr}/data`, runroot: `${xr}/ctr` },
      };
      const r = await hostRun(['load', '-i', fixturePath(fixtures().images.busybox.files.docker!)], o);
      expect(r.code, describeResult('load', r)).toBe(125);
      expect(errLines(r)).toHaveLength(1);
      expect(r.stderr).toMatch(/user namespaces are disabled \(sysctl user\.max_user_namespaces = 0\).*echo user\.max_user_namespaces=\d+ > \/etc\/sysctl\.d\/\S+\.conf && sysctl --system/);
      const imgs = await hostRun(['images', '-q'], o);
      expect(imgs.code, describeResult('images', imgs)).toBe(0);
      expect(imgs.stdout.trim()).toBe('');
      expect(fs.existsSync(`${xr}/ctr/pause.pid`)).toBe(false);
    }, 120_000);

    it('no overlay in a user namespace (before 5.11), then no FUSE either: auto picks fuse-overlayfs, then vfs, and ctr info says why', async () => {
      const under = ['setarch', 'x86_64', '--uname-2.6', kernel310, '--overlay-off'];
      const d = freshRunroot('auto');
      const o: HostOpts = { under, store: { root: `${d}/data`, runroot: `${home}/xr/ctr` } };
      const fmt = ['info', '--format', '{{.Store.GraphDriverName}}|{{.Store.GraphDriverReason}}'];
      const a = await hostRun(fmt, o);
      expect(a.code, describeResult('info', a)).toBe(0);
      const [name, reason] = a.stdout.trim().split('|');
      expect(name).toBe('fuse-overlayfs');
      expect(reason).toMatch(/overlay probe failed \(.*Linux 2\.6\.\S+ is older than 5\.11, the first to mount overlay in a user namespace\); fuse-overlayfs mounts work/);
      // /dev/fuse not usable (EL7 before 7.8 cannot mount FUSE in a user namespace): vfs
      const fake = path.join(d, 'fuse-0600');
      fs.writeFileSync(fake, '', { mode: 0o600 });
      fs.rmSync(`${d}/data`, { recursive: true, force: true });
      const b = await hostRun(fmt, { ...o, prelude: `mount --bind ${q(fake)} /dev/fuse` });
      expect(b.code, describeResult('info', b)).toBe(0);
      const [name2, reason2] = b.stdout.trim().split('|');
      expect(name2).toBe('vfs');
      expect(reason2).toMatch(/fuse-overlayfs probe failed \(\/dev\/fuse is not available; Linux 2\.6\.\S+ is older than 4\.18, the first to mount FUSE in a user namespace \(EL 7\.8 and later have it\)\); using vfs/);
    }, 120_000);
  });
});
