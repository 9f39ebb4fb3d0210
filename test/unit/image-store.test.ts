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
  setTagsLocked,
  withStoreLock,
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
