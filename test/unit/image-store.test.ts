import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setGlobalOptions } from '../../src/state/context';
import { writeJsonAtomic } from '../../src/state/fsatomic';
import {
  collectGarbage,
  ensureStoreDirs,
  findImage,
  imagesDir,
  layersDir,
  blobsDir,
  leasesDir,
  tmpDir,
  Lease,
  listImages,
  readLease,
  resolveImage,
  readImageMeta,
  readTags,
  setTagsLocked,
  tagsFromRecords,
  untagLocked,
  withStoreLock,
  DamagedImageError,
  type ImageMeta,
} from '../../src/image/store';

let root: string;
const hex = (c: string) => c.repeat(64);
const ID1 = `sha256:${'ab' + hex('1').slice(2)}`;
const ID2 = `sha256:${'ac' + hex('2').slice(2)}`;
const MAN = `sha256:${hex('9')}`;

function meta(id: string, layer: string): ImageMeta {
  return {
    schemaVersion: 1,
    id,
    config: { architecture: 'amd64', os: 'linux', created: '2025-01-01T00:00:00Z', rootfs: { type: 'layers', diff_ids: [layer] } },
    configBlob: { digest: id, size: 2, mediaType: 'application/vnd.oci.image.config.v1+json' },
    manifest: { digest: MAN, size: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    layers: [{ chainId: layer, diffId: layer, size: 10, diffSize: 1024, created: '', blob: { digest: layer, size: 5, mediaType: 'x' } }],
    repoDigests: id === ID1 ? [`docker.io/library/one@${MAN}`] : [],
    loaded: '2025-01-02T00:00:00Z',
    size: 10,
  };
}

function addImage(m: ImageMeta, names: string[]) {
  const d = path.join(imagesDir(), m.id.slice(7));
  fs.mkdirSync(d, { recursive: true });
  writeJsonAtomic(path.join(d, 'image.json'), m);
  const l = path.join(layersDir(), m.layers[0]!.chainId.slice(7));
  fs.mkdirSync(path.join(l, 'diff'), { recursive: true });
  writeJsonAtomic(path.join(l, 'layer.json'), m.layers[0]);
  for (const b of [m.id, MAN, m.layers[0]!.blob!.digest]) fs.writeFileSync(path.join(blobsDir(), b.slice(7)), 'x');
  withStoreLock(() => setTagsLocked(m.id, names));
}

beforeAll(() => {
  // layer dirs are removed through ctr-helper rmtree
  process.env.CTR_HELPER ??= path.resolve(__dirname, '..', '..', 'native', 'build', 'ctr-helper');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ctr-store-'));
  setGlobalOptions({ root, runroot: path.join(root, 'run') });
  ensureStoreDirs();
  addImage(meta(ID1, `sha256:${hex('a')}`), ['docker.io/library/one:latest', 'localhost/solo:1']);
  addImage(meta(ID2, `sha256:${hex('b')}`), ['quay.io/x/two:latest']);
});
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
  setGlobalOptions({});
});

describe('findImage', () => {
  it('by name, normalised name, tag, ID, prefix, digest', () => {
    expect(findImage('one').id).toBe(ID1);
    expect(findImage('docker.io/library/one:latest').id).toBe(ID1);
    expect(findImage(ID1).id).toBe(ID1);
    expect(findImage(ID1.slice(7)).id).toBe(ID1);
    expect(findImage(ID1.slice(7, 19)).id).toBe(ID1);
    expect(findImage('ab1').id).toBe(ID1);
    expect(findImage(`sha256:${ID2.slice(7, 12)}`).id).toBe(ID2);
    expect(findImage(`one@${MAN}`).id).toBe(ID1);
    expect(resolveImage('one').via).toBe('tag');
    expect(resolveImage(ID1.slice(7, 19)).via).toBe('id');
  });
  it('short names match any registry when unique', () => {
    expect(findImage('solo:1').id).toBe(ID1);
    expect(findImage('x/two').id).toBe(ID2);
    expect(findImage('two').id).toBe(ID2);
  });
  it('unknown, ambiguous and invalid', () => {
    expect(() => findImage('nothere')).toThrow(/^no such image: nothere$/);
    expect(() => findImage('a')).toThrow(/ambiguous/);
    expect(() => findImage('one:2')).toThrow(/no such image/);
    expect(() => findImage('Bad')).toThrow(/invalid reference format/);
  });
  it('listImages gives records with tags and layer dirs', () => {
    const all = listImages().sort((a, b) => a.id.localeCompare(b.id));
    expect(all.map((i) => i.id)).toEqual([ID1, ID2]);
    expect(all[0]!.repoTags).toEqual(['docker.io/library/one:latest', 'localhost/solo:1']);
    expect(all[0]!.layers[0]!.dir).toBe(path.join(root, 'layers', hex('a'), 'diff'));
    expect(all[0]!.digest).toBe(MAN);
  });
});

describe('garbage collection', () => {
  it('removes dead temp names, dead leases and unreferenced layers/blobs; keeps live leases', () => {
    const dead = '999999999-1';
    fs.mkdirSync(path.join(layersDir(), `.tmp-${dead}-aaaa`));
    fs.mkdirSync(path.join(tmpDir(), `load-${dead}-bbbb`));
    fs.writeFileSync(path.join(leasesDir(), `${dead}-cccc.json`), '{"layers":[],"blobs":[]}');
    fs.writeFileSync(path.join(blobsDir(), hex('c')), 'orphan');
    fs.mkdirSync(path.join(layersDir(), hex('d')));
    // a live lease protects its layer
    const lease = new Lease();
    lease.add({ layers: [`sha256:${hex('e')}`] });
    fs.mkdirSync(path.join(layersDir(), hex('e')));
    collectGarbage();
    expect(fs.readdirSync(layersDir()).sort()).toEqual([hex('a'), hex('b'), hex('e')]);
    expect(fs.readdirSync(tmpDir())).toEqual([]);
    expect(fs.readdirSync(blobsDir()).includes(hex('c'))).toBe(false);
    expect(fs.readdirSync(leasesDir())).toEqual([path.basename(lease.file)]);
    lease.release();
    // nothing dead left behind: the plain call skips the sweep (a failed command asks for it)
    collectGarbage();
    expect(fs.readdirSync(layersDir()).sort()).toEqual([hex('a'), hex('b'), hex('e')]);
    collectGarbage({ always: true });
    expect(fs.readdirSync(layersDir()).sort()).toEqual([hex('a'), hex('b')]);
    expect(listImages()).toHaveLength(2);
  });

  it('sweeps when a dead lease is all that is left, and keeps what a live appended lease names', () => {
    fs.mkdirSync(path.join(layersDir(), hex('d')));
    const lease = new Lease();
    lease.add({ layers: [`sha256:${hex('e')}`] });
    lease.add({ blobs: [`sha256:${hex('f')}`] });
    fs.mkdirSync(path.join(layersDir(), hex('e')));
    fs.writeFileSync(path.join(blobsDir(), hex('f')), 'kept');
    fs.writeFileSync(path.join(leasesDir(), '999999999-1-dddd.json'), '{"layers":[],"blobs":[]}\n');
    collectGarbage();
    expect(fs.readdirSync(layersDir()).sort()).toEqual([hex('a'), hex('b'), hex('e')]);
    expect(fs.readdirSync(blobsDir()).includes(hex('f'))).toBe(true);
    expect(fs.readdirSync(leasesDir())).toEqual([path.basename(lease.file)]);
    lease.release();
  });
});

describe('lease files', () => {
  it('reads every complete line, ignores one being written, and reads the older one-object form', () => {
    const a = `sha256:${hex('a')}`;
    const b = `sha256:${hex('b')}`;
    expect(readLease(`{"layers":["${a}"],"blobs":[]}\n{"layers":[],"blobs":["${b}"]}\n`)).toEqual({ layers: [a], blobs: [b] });
    expect(readLease(`{"layers":["${a}"],"blobs":[]}\n{"layers":[],"blo`)).toEqual({ layers: [a], blobs: [] });
    expect(readLease(`{\n "layers": [\n  "${a}"\n ],\n "blobs": []\n}\n`)).toEqual({ layers: [a], blobs: [] });
    expect(readLease('')).toEqual({ layers: [], blobs: [] });
  });
});

describe('damaged records', () => {
  const tagsFile = () => path.join(root, 'tags.json');
  const imageFile = (id: string) => path.join(imagesDir(), id.slice(7), 'image.json');

  it('each record keeps its current names: a moved or removed name leaves the record it left', () => {
    expect(readImageMeta(ID1)!.names).toEqual(['docker.io/library/one:latest', 'localhost/solo:1']);
    withStoreLock(() => setTagsLocked(ID2, ['localhost/solo:1']));
    expect(readImageMeta(ID1)!.names).toEqual(['docker.io/library/one:latest']);
    expect(readImageMeta(ID2)!.names).toEqual(['localhost/solo:1', 'quay.io/x/two:latest']);
    withStoreLock(() => untagLocked(['localhost/solo:1']));
    expect(readImageMeta(ID2)!.names).toEqual(['quay.io/x/two:latest']);
    // the history keeps every name; the rebuilt index only the current ones
    expect(readImageMeta(ID2)!.namesHistory).toContain('localhost/solo:1');
    expect(tagsFromRecords()).toEqual(readTags());
    withStoreLock(() => setTagsLocked(ID1, ['localhost/solo:1']));
  });

  it('a damaged tags.json: names come from the records, the next change writes the index again', () => {
    const before = readTags();
    const err = process.stderr.write;
    const lines: string[] = [];
    process.stderr.write = ((s: string) => (lines.push(String(s)), true)) as typeof process.stderr.write;
    try {
      fs.writeFileSync(tagsFile(), '{"docker.io/library/one:latest": "sha2');
      expect(readTags()).toEqual(before);
      expect(findImage('two').id).toBe(ID2);
      expect(lines.join('')).toMatch(/^warning: the image name index .*tags\.json is damaged/);
      expect(lines).toHaveLength(1);
      withStoreLock(() => setTagsLocked(ID2, ['quay.io/x/two:2']));
      expect(JSON.parse(fs.readFileSync(tagsFile(), 'utf8'))).toEqual({ ...before, 'quay.io/x/two:2': ID2 });
      expect(fs.readFileSync(`${tagsFile()}.damaged`, 'utf8')).toMatch(/sha2$/);
      withStoreLock(() => untagLocked(['quay.io/x/two:2']));
    } finally {
      process.stderr.write = err;
    }
  });

  it('a damaged image.json: left out of the list, named by lookups, resolvable for rmi, its layers kept by GC', () => {
    const good = fs.readFileSync(imageFile(ID2));
    const err = process.stderr.write;
    const lines: string[] = [];
    process.stderr.write = ((s: string) => (lines.push(String(s)), true)) as typeof process.stderr.write;
    try {
      fs.writeFileSync(imageFile(ID2), '');
      expect(listImages().map((i) => i.id)).toEqual([ID1]);
      expect(lines.join('')).toMatch(new RegExp(`^warning: image ${ID2.slice(7, 19)} is damaged .*image\\.json is empty`));
      expect(() => findImage('two')).toThrow(DamagedImageError);
      expect(() => findImage('two')).toThrow(/image two is damaged .*ctr rmi two/);
      const r = resolveImage('two', { damaged: true });
      expect(r.image.id).toBe(ID2);
      expect(r.image.damaged).toMatch(/empty/);
      expect(r.image.repoTags).toEqual(['quay.io/x/two:latest']);
      // its config blob cannot say which layers it uses: no layer is collected meanwhile
      // (e: an unreferenced layer the earlier test left)
      fs.mkdirSync(path.join(layersDir(), hex('e')), { recursive: true });
      fs.writeFileSync(path.join(leasesDir(), '999999999-1-eeee.json'), '{"layers":[],"blobs":[]}\n');
      collectGarbage();
      expect(fs.readdirSync(layersDir()).sort()).toEqual([hex('a'), hex('b'), hex('e')]);
      expect(fs.existsSync(path.join(blobsDir(), hex('b')))).toBe(true);
      fs.writeFileSync(imageFile(ID2), '[1]');
      expect(resolveImage('two', { damaged: true }).image.damaged).toMatch(/does not hold an object/);
    } finally {
      process.stderr.write = err;
      fs.writeFileSync(imageFile(ID2), good);
    }
    expect(listImages()).toHaveLength(2);
    collectGarbage({ always: true });
    expect(fs.readdirSync(layersDir()).sort()).toEqual([hex('a'), hex('b')]);
  });
});
