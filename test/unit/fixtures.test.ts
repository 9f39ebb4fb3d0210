// The fixture builder (test/fixtures/build.py): archives are well formed, blobs match their
// digests, diff IDs match the layers, and two builds give the same bytes.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureBuilder, python3 } from '../e2e/paths';

const sha = (b: Buffer) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');
let tmp: string;
let a: string;
let b: string;

function build(dir: string): void {
  const r = spawnSync(python3(), [fixtureBuilder, dir, '--force'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

function untar(file: string, into: string): string {
  fs.mkdirSync(into, { recursive: true });
  const r = spawnSync('tar', ['-xf', file, '-C', into], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return into;
}

function listTar(file: string): string[] {
  const r = spawnSync('tar', ['-tf', file], { encoding: 'utf8', maxBuffer: 16 << 20 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

const haveSkopeo = spawnSync('skopeo', ['--version']).status === 0;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctr-fixtures-'));
  a = path.join(tmp, 'a');
  b = path.join(tmp, 'b');
  build(a);
  build(b);
}, 120_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('fixture builder', () => {
  it('is reproducible: two builds give identical files', () => {
    const files = (d: string) =>
      fs.readdirSync(d, { recursive: true, withFileTypes: false }).map(String).filter((f) => fs.statSync(path.join(d, f)).isFile()).sort();
    expect(files(a)).toEqual(files(b));
    for (const f of files(a)) expect(sha(fs.readFileSync(path.join(a, f))), f).toBe(sha(fs.readFileSync(path.join(b, f))));
  });

  it('skips a rebuild when nothing changed', () => {
    const r = spawnSync(python3(), [fixtureBuilder, a], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/up to date/);
  });

  it('docker-archive: manifest, config and diff IDs agree', () => {
    const fx = JSON.parse(fs.readFileSync(path.join(a, 'fixtures.json'), 'utf8'));
    for (const name of ['busybox', 'layered']) {
      const img = fx.images[name];
      const d = untar(path.join(a, img.files.docker), path.join(tmp, `x-${name}`));
      const manifest = JSON.parse(fs.readFileSync(path.join(d, 'manifest.json'), 'utf8'));
      expect(manifest).toHaveLength(1);
      expect(manifest[0].RepoTags).toEqual([img.ref]);
      const config = fs.readFileSync(path.join(d, manifest[0].Config));
      expect(sha(config)).toBe(img.id);
      const diffIds = manifest[0].Layers.map((l: string) => sha(fs.readFileSync(path.join(d, l))));
      expect(diffIds).toEqual(JSON.parse(config.toString()).rootfs.diff_ids);
      expect(diffIds).toEqual(img.diffIds);
      expect(fs.existsSync(path.join(d, 'repositories'))).toBe(true);
    }
  });

  it('OCI archive: every blob matches its digest; index names the image', () => {
    const fx = JSON.parse(fs.readFileSync(path.join(a, 'fixtures.json'), 'utf8'));
    for (const name of ['busybox', 'layered']) {
      const img = fx.images[name];
      const d = untar(path.join(a, img.files.oci), path.join(tmp, `o-${name}`));
      expect(JSON.parse(fs.readFileSync(path.join(d, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
      for (const blob of fs.readdirSync(path.join(d, 'blobs/sha256')))
        expect(sha(fs.readFileSync(path.join(d, 'blobs/sha256', blob)))).toBe('sha256:' + blob);
      const index = JSON.parse(fs.readFileSync(path.join(d, 'index.json'), 'utf8'));
      expect(index.manifests[0].digest).toBe(img.manifestDigest);
      expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('latest');
      expect(index.manifests[0].annotations['io.containerd.image.name']).toBe(img.fullRef);
      const man = JSON.parse(fs.readFileSync(path.join(d, 'blobs/sha256', img.manifestDigest.slice(7)), 'utf8'));
      expect(man.config.digest).toBe(img.id);
      expect(man.layers).toHaveLength(img.layers);
    }
  });

  it('busybox layer: applets, users, modes', () => {
    const entries = listTar(path.join(a, 'layers/busybox-1.tar'));
    for (const e of ['bin/busybox', 'bin/sh', 'etc/passwd', 'etc/group', 'tmp/', 'root/', 'home/app/']) expect(entries).toContain(e);
    const r = spawnSync('tar', ['-tvf', path.join(a, 'layers/busybox-1.tar'), 'tmp/', 'root/', 'home/app/'], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/^drwxrwxrwt 0\/0 .* tmp\/$/m);
    expect(r.stdout).toMatch(/^drwx------ 0\/0 .* root\/$/m);
    expect(r.stdout).toMatch(/^drwxr-xr-x 1000\/1000 .* home\/app\/$/m);
    const d = untar(path.join(a, 'layers/busybox-1.tar'), path.join(tmp, 'bb'));
    expect(fs.readFileSync(path.join(d, 'etc/group'), 'utf8')).toMatch(/^staff:x:50:app$/m);
    expect(fs.readFileSync(path.join(d, 'etc/passwd'), 'utf8')).toMatch(/^app:x:1000:1000:.*:\/home\/app:\/bin\/sh$/m);
  });

  it('layered: whiteout and opaque markers are in layer 3', () => {
    const entries = listTar(path.join(a, 'layers/layered-3.tar'));
    expect(entries).toContain('data/.wh.remove-me.txt');
    expect(entries).toContain('data/dir/.wh..wh..opq');
    expect(listTar(path.join(a, 'layers/layered-2.tar'))).toContain('data/remove-me.txt');
  });

  it('rootfs tarball has ./-prefixed names', () => {
    const entries = listTar(path.join(a, 'busybox-rootfs.tar'));
    expect(entries[0]).toBe('./');
    expect(entries).toContain('./bin/busybox');
  });

  it('hostile layers carry the hostile entries', () => {
    const names = (f: string) => {
      const r = spawnSync(python3(), ['-c', 'import sys,tarfile\nfor m in tarfile.open(sys.argv[1]): print(m.name, m.linkname)', path.join(a, f)], { encoding: 'utf8' });
      return r.stdout;
    };
    expect(names('hostile/traversal.tar')).toMatch(/^(\.\.\/)+tmp\/ctr-hostile-traversal /m);
    expect(names('hostile/absolute.tar')).toMatch(/^\/tmp\/ctr-hostile-absolute /m);
    expect(names('hostile/symlink.tar')).toMatch(/^escape \/tmp$/m);
    expect(names('hostile/hardlink.tar')).toMatch(/^hl-abs \/tmp\/ctr-hostile-hardlink-target$/m);
    const bad = spawnSync(python3(), ['-c', 'import sys,tarfile\nlist(tarfile.open(sys.argv[1]))', path.join(a, 'hostile/bad-checksum.tar')], { encoding: 'utf8' });
    const gz = spawnSync('gzip', ['-t', path.join(a, 'hostile/truncated-gzip.tar.gz')]);
    expect(gz.status).not.toBe(0);
    // tarfile stops at the bad header (it treats it as the end) or raises: either way the 2nd entry is not read
    expect(bad.stdout).not.toMatch(/file-with-bad-checksum/);
  });

  it.skipIf(!haveSkopeo)('skopeo can read the archives', () => {
    const fx = JSON.parse(fs.readFileSync(path.join(a, 'fixtures.json'), 'utf8'));
    const cases: Array<[string, string]> = [];
    for (const name of ['busybox', 'layered']) {
      const f = fx.images[name].files;
      cases.push([`docker-archive:${path.join(a, f.docker)}`, fx.images[name].id]);
      cases.push([`docker-archive:${path.join(a, f.dockerBlobs)}`, fx.images[name].id]);
      cases.push([`oci-archive:${path.join(a, f.oci)}`, fx.images[name].id]);
    }
    cases.push([`oci-archive:${path.join(a, fx.images.busybox.files.ociUncompressed)}`, fx.images.busybox.id]);
    cases.push([`docker-archive:${path.join(a, fx.images.busybox.files.dockerGzLayers)}`, fx.images.busybox.id]);
    for (const [ref, id] of cases) {
      const r = spawnSync('skopeo', ['inspect', '--config', ref], { encoding: 'utf8' });
      expect(r.status, `${ref}: ${r.stderr}`).toBe(0);
      expect(sha(Buffer.from(spawnSync('skopeo', ['inspect', '--raw', '--config', ref]).stdout)), ref).toBe(id);
    }
  }, 60_000);
});
