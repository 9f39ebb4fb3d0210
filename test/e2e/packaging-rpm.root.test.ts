// The RPM (rpm/ctr.spec through packaging/build-rpm.sh): built offline from this checkout with
// its vendored node_modules, it holds exactly ctr, ctr-helper and the docs, requires what a
// rootless host needs, and what it installs runs (ctr finds its helper in ../libexec/ctr).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeResult, isRoot, run } from './lib';
import { repoRoot } from './paths';

const hasRpmbuild = spawnSync('sh', ['-c', 'command -v rpmbuild && command -v rpm'], { encoding: 'utf8' }).status === 0;
const lines = (t: string) => t.split('\n').map((l) => l.trim()).filter(Boolean);

describe.skipIf(!isRoot || !hasRpmbuild)('RPM package (root)', () => {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctr-rpm-test-'));
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  let rpmFile = '';

  it('packaging/build-rpm.sh builds it offline and prints its path', async () => {
    const r = await run(['bash', path.join(repoRoot, 'packaging/build-rpm.sh'), path.join(dir, 'out')], { timeout: 900_000 });
    expect(r.code, describeResult('build-rpm.sh', r)).toBe(0);
    rpmFile = lines(r.stdout).pop() ?? '';
    expect(rpmFile).toMatch(/\/ctr-[0-9][^/]*\.x86_64\.rpm$/);
    expect(fs.statSync(rpmFile).size).toBeGreaterThan(1_000_000);
    // nothing left behind in the output dir but the RPM
    expect(fs.readdirSync(path.join(dir, 'out'))).toEqual([path.basename(rpmFile)]);
  }, 900_000);

  it('rpm -qlp: /usr/bin/ctr, /usr/libexec/ctr/ctr-helper and the docs, nothing else', async () => {
    expect(rpmFile).not.toBe('');
    const r = await run(['rpm', '-qlp', rpmFile]);
    expect(r.code, describeResult('rpm -qlp', r)).toBe(0);
    const files = lines(r.stdout);
    expect(files).toContain('/usr/bin/ctr');
    expect(files).toContain('/usr/libexec/ctr');
    expect(files).toContain('/usr/libexec/ctr/ctr-helper');
    const docs = files.filter((f) => f.startsWith('/usr/share/doc/'));
    expect(docs.some((f) => /\/ctr[^/]*\/README\.md$/.test(f)), files.join('\n')).toBe(true);
    expect(docs.some((f) => /\/ctr[^/]*\/PROTOCOL\.md$/.test(f)), files.join('\n')).toBe(true);
    const other = files.filter((f) => !f.startsWith('/usr/share/doc/') && !['/usr/bin/ctr', '/usr/libexec/ctr', '/usr/libexec/ctr/ctr-helper'].includes(f));
    expect(other).toEqual([]);
  });

  it('requires shadow-utils (newuidmap), slirp4netns and fuse-overlayfs', async () => {
    const r = await run(['rpm', '-qp', '--requires', rpmFile]);
    expect(r.code, describeResult('rpm -qp --requires', r)).toBe(0);
    const reqs = lines(r.stdout);
    for (const p of ['shadow-utils', 'slirp4netns', 'fuse-overlayfs']) expect(reqs).toContain(p);
  });

  it('installed into a scratch root, ctr runs and finds its helper in ../libexec/ctr', async () => {
    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    // --nodeps: this host's rpm database does not know its (dpkg) packages
    const i = await run(['rpm', '-i', '--nodeps', '--root', root, '--dbpath', '/rpmdb', rpmFile], { timeout: 120_000 });
    expect(i.code, describeResult('rpm -i --root', i)).toBe(0);
    const ctr = path.join(root, 'usr/bin/ctr');
    expect(fs.statSync(ctr).mode & 0o777).toBe(0o755);
    const v = await run([ctr, 'version']);
    expect(v.code, describeResult('ctr version', v)).toBe(0);
    expect(v.stdout).toMatch(/^ctr version [0-9]/);
    const info = await run([ctr, '--root', path.join(dir, 'store'), '--runroot', path.join(dir, 'run'), 'info'], { env: { CTR_HELPER: undefined } });
    expect(info.code, describeResult('ctr info', info)).toBe(0);
    expect(info.stdout).toContain(`path: ${path.join(root, 'usr/libexec/ctr/ctr-helper')}`);
    const h = await run([path.join(root, 'usr/libexec/ctr/ctr-helper'), 'version']);
    expect(h.stdout).toMatch(/^ctr-helper /);
  }, 120_000);
});
