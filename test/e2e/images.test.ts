// Image store and image commands: load (every archive layout, gzip or not, stdin), save ->
// load round trips, import --change, images flags and formats, tag, rmi, inspect, history,
// hostile and corrupt archives (refused with nothing left behind), shared layers, a load
// killed half-way.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResult, fixturePath, fixtures, useCtr, type ArchiveFormat, type CtrEnv } from './lib';
import { imageIds as ids, ok, refused, storeEntries as ls, storeState } from './checks';

const ctr = useCtr();

async function removeAll(env: CtrEnv): Promise<void> {
  const all = await ids(env, ['images', '-aq']);
  if (all.length) ok(await env.run(['rmi', '-f', ...all]), 'rmi -f all');
}

describe('load', () => {
  const fx = () => fixtures();
  const formats: ArchiveFormat[] = ['docker', 'dockerBlobs', 'dockerGz', 'dockerGzLayers', 'oci', 'ociUncompressed'];
  for (const format of formats) {
    it(`loads busybox from the ${format} archive, with the same image ID`, async () => {
      await removeAll(ctr);
      const img = fx().images.busybox;
      const r = ok(await ctr.run(['load', '-i', fixturePath(img.files[format]!)], { timeout: 120_000 }), `load ${format}`);
      expect(r.stdout).toBe(`Loaded image: ${img.fullRef}\n`);
      const list = ok(await ctr.run(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']), 'images');
      expect(list.stdout).toBe(`${img.fullRef} ${img.id}\n`);
      // the unpacked layer holds busybox
      const [layer] = ls(ctr, 'layers').filter((n) => /^[0-9a-f]{64}$/.test(n));
      expect(fs.existsSync(path.join(ctr.root, 'layers', layer!, 'diff', 'bin', 'busybox'))).toBe(true);
    });
  }

  it('loads from stdin (no -i, and -i -)', async () => {
    await removeAll(ctr);
    const img = fx().images.busybox;
    const data = fs.readFileSync(fixturePath(img.files.dockerGz!));
    let r = ok(await ctr.run(['load'], { input: data, timeout: 120_000 }), 'load < stdin');
    expect(r.stdout).toBe(`Loaded image: ${img.fullRef}\n`);
    r = ok(await ctr.run(['image', 'load', '-q', '-i', '-'], { input: fs.readFileSync(fixturePath(img.files.oci!)), timeout: 120_000 }), 'load -i -');
    expect(r.stdout).toBe(`Loaded image: ${img.fullRef}\n`);
    expect(await ids(ctr)).toEqual([img.id]);
  });

  it('loads several images from one archive; shared layers are stored once', async () => {
    await removeAll(ctr);
    const f = fx();
    const r = ok(await ctr.run(['load', '-i', fixturePath(f.multiImage.file)], { timeout: 120_000 }), 'load multi');
    const loaded = r.stdout.split('\n').filter(Boolean).sort();
    expect(loaded).toEqual(f.multiImage.refs.map((x) => `Loaded image: docker.io/library/${x}`).sort());
    // busybox: 1 layer; layered: busybox's + 2 more
    expect(ls(ctr, 'layers').filter((n) => /^[0-9a-f]{64}$/.test(n))).toHaveLength(f.images.layered.layers);
  });

  it('an image without a name loads as its ID', async () => {
    await removeAll(ctr);
    const img = fixtures().images.busybox;
    ok(await ctr.run(['load', '-i', fixturePath(img.files.oci!)]), 'load');
    // saved by digest: the archive records no name
    const out = path.join(ctr.dir, 'bydigest.tar');
    ok(await ctr.run(['save', '--format', 'oci-archive', '-o', out, `busybox@${img.manifestDigest}`]), 'save by digest');
    await removeAll(ctr);
    const r = ok(await ctr.run(['load', '-i', out]), 'load unnamed');
    expect(r.stdout).toBe(`Loaded image: ${img.id}\n`);
    const row = ok(await ctr.run(['images', '--format', '{{.Repository}} {{.Tag}}']), 'images');
    expect(row.stdout).toBe('<none> <none>\n');
  });
});

describe('save', () => {
  for (const format of ['docker-archive', 'oci-archive']) {
    it(`save -> load round trip (${format}) keeps the image ID and names`, async () => {
      await removeAll(ctr);
      const f = fixtures();
      await ctr.load(['busybox', 'layered']);
      const out = path.join(ctr.dir, `rt-${format}.tar`);
      ok(await ctr.run(['save', '--format', format, '-o', out, 'busybox', 'layered'], { timeout: 120_000 }), 'save');
      expect(fs.readdirSync(ctr.dir).filter((n) => n.includes('.ctr-'))).toEqual([]); // no temp file left
      await removeAll(ctr);
      expect(storeState(ctr).layers).toEqual([]);
      const r = ok(await ctr.run(['load', '-i', out], { timeout: 120_000 }), 'load saved');
      expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual([`Loaded image: ${f.images.busybox.fullRef}`, `Loaded image: ${f.images.layered.fullRef}`]);
      expect(await ids(ctr)).toEqual([f.images.busybox.id, f.images.layered.id].sort());
      // the layered image still has its whiteouts and files
      const layers = ls(ctr, 'layers').filter((n) => /^[0-9a-f]{64}$/.test(n));
      expect(layers).toHaveLength(3);
    });
  }

  it('OCI archives keep the manifest digest', async () => {
    await removeAll(ctr);
    const img = fixtures().images.busybox;
    ok(await ctr.run(['load', '-i', fixturePath(img.files.oci!)]), 'load oci');
    const d1 = ok(await ctr.run(['images', '--format', '{{.Digest}}']), 'digest').stdout.trim();
    expect(d1).toBe(img.manifestDigest);
    const out = path.join(ctr.dir, 'keep.oci.tar');
    ok(await ctr.run(['save', '--format', 'oci-archive', '-o', out, 'busybox']), 'save');
    await removeAll(ctr);
    ok(await ctr.run(['load', '-i', out]), 'reload');
    expect(ok(await ctr.run(['images', '--format', '{{.Digest}}']), 'digest').stdout.trim()).toBe(img.manifestDigest);
  });

  it('writes to stdout when it is not a terminal, refuses a terminal', async () => {
    await removeAll(ctr);
    await ctr.load('busybox');
    const r = await ctr.run(['save', 'busybox']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(1_000_000);
    const t = await ctr.runTty(['save', 'busybox']);
    expect(t.code).toBe(125);
    expect(t.output).toMatch(/terminal/);
  });

  it('refuses an unknown image and an unknown format, leaving no file', async () => {
    await ctr.load('busybox');
    const out = path.join(ctr.dir, 'never.tar');
    refused(await ctr.run(['save', '-o', out, 'busybox', 'nosuchimage']), 'save unknown', /no such image: nosuchimage/);
    refused(await ctr.run(['save', '--format', 'zip', '-o', out, 'busybox']), 'save --format zip', /format/);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('import', () => {
  it('imports a rootfs tarball with --change and a message', async () => {
    await removeAll(ctr);
    const f = fixtures();
    const r = ok(
      await ctr.run([
        'import',
        '-c', 'CMD ["/bin/sh", "-c", "echo hi"]',
        '--change', 'ENV A=1 B="two words"',
        '-c', 'WORKDIR /srv',
        '-c', 'USER 1000:1000',
        '-c', 'LABEL org.example=yes',
        '-c', 'EXPOSE 8080 53/udp',
        '-c', 'ENTRYPOINT ["/bin/busybox"]',
        '-m', 'my message',
        fixturePath(f.rootfs.tar),
        'imported:1',
      ]),
      'import',
    );
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const id = r.stdout.trim();
    const insp = JSON.parse(ok(await ctr.run(['image', 'inspect', 'imported:1']), 'inspect').stdout);
    expect(insp[0].Id).toBe(id);
    expect(insp[0].RepoTags).toEqual(['docker.io/library/imported:1']);
    expect(insp[0].Config.Cmd).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(insp[0].Config.Entrypoint).toEqual(['/bin/busybox']);
    expect(insp[0].Config.Env).toEqual(['A=1', 'B=two words']);
    expect(insp[0].Config.WorkingDir).toBe('/srv');
    expect(insp[0].Config.User).toBe('1000:1000');
    expect(insp[0].Config.Labels).toEqual({ 'org.example': 'yes' });
    expect(insp[0].Config.ExposedPorts).toEqual({ '8080/tcp': {}, '53/udp': {} });
    expect(insp[0].RootFS.Layers).toEqual([f.rootfs.sha256]);
    const hist = ok(await ctr.run(['history', '--format', '{{.Comment}}', 'imported:1']), 'history');
    expect(hist.stdout).toBe('my message\n');
  });

  it('imports a gzip tarball from stdin, without a name', async () => {
    const f = fixtures();
    const r = ok(await ctr.run(['import', '-'], { input: fs.readFileSync(fixturePath(f.rootfs.tarGz)) }), 'import -');
    const id = r.stdout.trim();
    const row = ok(await ctr.run(['images', '--no-trunc', '--filter', `id=${id}`, '--format', '{{.Repository}} {{.Tag}} {{.ID}}']), 'images');
    expect(row.stdout).toBe(`<none> <none> ${id}\n`);
    const insp = JSON.parse(ok(await ctr.run(['image', 'inspect', id]), 'inspect').stdout);
    expect(insp[0].RootFS.Layers).toEqual([f.rootfs.sha256]);
    expect(insp[0].History[0].comment).toBe('Imported from -');
  });

  it('refuses a bad change, an empty input and a missing file', async () => {
    const f = fixtures();
    const before = storeState(ctr);
    refused(await ctr.run(['import', '-c', 'FROM busybox', fixturePath(f.rootfs.tar)]), 'import FROM', /FROM/);
    refused(await ctr.run(['import', '-'], { input: '' }), 'import empty');
    refused(await ctr.run(['import', path.join(ctr.dir, 'nope.tar')]), 'import missing', /no such file/);
    refused(await ctr.run(['import', fixturePath(f.rootfs.tar), 'Bad/Name']), 'import bad name', /invalid reference/);
    const after = storeState(ctr);
    expect(after.images).toEqual(before.images);
    expect(after.layers).toEqual(before.layers);
    expect(after.tmp).toEqual([]);
  });
});

describe('images', () => {
  it('lists with -q, --no-trunc, --digests, filters and formats', async () => {
    await removeAll(ctr);
    const f = fixtures();
    await ctr.load(['busybox', 'layered']);
    ok(await ctr.run(['tag', 'busybox', 'localhost:5000/tools/bb:v1']), 'tag');
    const table = ok(await ctr.run(['images']), 'images').stdout.split('\n');
    expect(table[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(table.slice(1).filter(Boolean)).toHaveLength(3);
    expect(table.join('\n')).toMatch(new RegExp(`docker\\.io/library/busybox\\s+latest\\s+${f.images.busybox.id.slice(7, 19)}\\s+\\d+ \\w+ ago\\s+[\\d.]+ [kMG]?B`));

    const q = ok(await ctr.run(['images', '-q']), 'images -q').stdout.split('\n').filter(Boolean);
    expect(q.sort()).toEqual([f.images.busybox.id.slice(7, 19), f.images.layered.id.slice(7, 19)].sort());
    expect(await ids(ctr)).toEqual([f.images.busybox.id, f.images.layered.id].sort());

    const dig = ok(await ctr.run(['images', '--digests']), 'images --digests').stdout;
    expect(dig.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID/);
    expect(dig).toMatch(/sha256:[0-9a-f]{64}/);

    const ref = ok(await ctr.run(['images', '--filter', 'reference=busybox', '--format', '{{.Repository}}:{{.Tag}}']), 'reference=').stdout;
    expect(ref).toBe('docker.io/library/busybox:latest\n');
    const ref2 = ok(await ctr.run(['images', '--format', '{{.Repository}}:{{.Tag}}', 'localhost:5000/tools/*']), 'images REPO').stdout;
    expect(ref2).toBe('localhost:5000/tools/bb:v1\n');
    const lab = ok(await ctr.run(['images', '-f', 'label=test.ctr.fixture=layered', '--format', '{{.Repository}}']), 'label=').stdout;
    expect(lab).toBe('docker.io/library/layered\n');
    const dang = ok(await ctr.run(['images', '-f', 'dangling=true', '-q']), 'dangling=').stdout;
    expect(dang).toBe('');

    const js = JSON.parse(ok(await ctr.run(['images', '--format', 'json']), 'json').stdout);
    expect(Array.isArray(js)).toBe(true);
    expect(js).toHaveLength(2);
    const bb = js.find((x: { Id: string }) => `sha256:${x.Id}` === f.images.busybox.id);
    expect(bb.RepoTags.sort()).toEqual(['docker.io/library/busybox:latest', 'localhost:5000/tools/bb:v1']);
    expect(typeof bb.Size).toBe('number');

    const tpl = ok(await ctr.run(['images', '--format', 'table {{.Repository}}\\t{{.Tag}}']), 'table tpl').stdout.split('\n');
    expect(tpl[0]).toMatch(/^REPOSITORY\s+TAG$/);
    const js2 = ok(await ctr.run(['images', '-f', 'reference=layered', '--format', '{{json .Labels}}']), 'json labels').stdout;
    expect(JSON.parse(js2)).toEqual(f.images.layered.config.config.Labels);

    refused(await ctr.run(['images', '--filter', 'bogus=1']), 'bad filter', /filter/);
    refused(await ctr.run(['images', '--format', '{{.Nope}}']), 'bad field', /Nope/);
  });
});

describe('tag and rmi', () => {
  it('tags, untags one name at a time, and removes by ID only with -f when several names', async () => {
    await removeAll(ctr);
    const f = fixtures();
    await ctr.load('busybox');
    ok(await ctr.run(['tag', 'busybox', 'a:1', 'quay.io/x/b:2']), 'tag two');
    const names = JSON.parse(ok(await ctr.run(['image', 'inspect', 'busybox']), 'inspect').stdout)[0].RepoTags.sort();
    expect(names).toEqual(['docker.io/library/a:1', 'docker.io/library/busybox:latest', 'quay.io/x/b:2']);
    refused(await ctr.run(['tag', 'busybox', 'Upper:1']), 'tag upper', /lowercase/);
    refused(await ctr.run(['tag', 'busybox', 'x:']), 'tag empty tag', /empty tag/);
    refused(await ctr.run(['tag', 'nosuch', 'x:1']), 'tag unknown', /no such image: nosuch/);

    let r = ok(await ctr.run(['rmi', 'a:1']), 'rmi a:1');
    expect(r.stdout).toBe('Untagged: docker.io/library/a:1\n');
    refused(await ctr.run(['rmi', f.images.busybox.id.slice(7, 19)]), 'rmi id with 2 names', /several names/);
    r = ok(await ctr.run(['rmi', '-f', f.images.busybox.id.slice(7, 19)]), 'rmi -f id');
    expect(r.stdout).toContain('Untagged: quay.io/x/b:2');
    expect(r.stdout).toContain(`Deleted: ${f.images.busybox.id.slice(7)}`);
    expect(await ids(ctr)).toEqual([]);
    expect(storeState(ctr)).toEqual({ images: [], layers: [], blobs: [], tmp: [], leases: [] });
  });

  it('refuses unknown images and ambiguous prefixes with one line', async () => {
    await removeAll(ctr);
    await ctr.load(['busybox', 'layered']);
    refused(await ctr.run(['rmi', 'nosuchimage']), 'rmi unknown', /no such image: nosuchimage/);
    refused(await ctr.run(['image', 'inspect', 'nosuchimage']), 'inspect unknown', /no such image/);
    refused(await ctr.run(['history', 'nosuchimage']), 'history unknown', /no such image/);
    refused(await ctr.run(['image', 'inspect', 'UPPER']), 'inspect invalid', /invalid reference format/);
    // an ID prefix both images share (empty prefix aside: try every hex digit)
    const [a, b] = await ids(ctr);
    let common = 0;
    while (a![7 + common] === b![7 + common]) common++;
    if (common > 0) refused(await ctr.run(['rmi', a!.slice(7, 7 + common)]), 'ambiguous', /ambiguous/);
    // any unique prefix works
    ok(await ctr.run(['image', 'inspect', a!.slice(7, 7 + common + 1)]), 'unique prefix');
    ok(await ctr.run(['image', 'inspect', a!]), 'full id');
  });

  it('layers shared by two images are kept until the last one goes', async () => {
    await removeAll(ctr);
    await ctr.load(['busybox', 'layered']);
    const layers = storeState(ctr).layers;
    expect(layers).toHaveLength(3);
    ok(await ctr.run(['rmi', 'layered']), 'rmi layered');
    expect(storeState(ctr).layers).toHaveLength(1);
    ok(await ctr.run(['image', 'inspect', 'busybox']), 'busybox intact');
    const r = await ctr.run(['create', 'busybox', 'true']);
    if (r.code === 0) await ctr.run(['rm', '-f', r.stdout.trim()]);
    ok(await ctr.run(['rmi', 'busybox']), 'rmi busybox');
    expect(storeState(ctr)).toEqual({ images: [], layers: [], blobs: [], tmp: [], leases: [] });
  });

  // needs `ctr create` / `ctr rm` from the container side
  it('an image used by a container is refused without -f; -f untags it and keeps it for the container', async () => {
    await removeAll(ctr);
    await ctr.load('busybox');
    const c = await ctr.run(['create', 'busybox', 'true']);
    expect(c.code, describeResult('create (container side)', c)).toBe(0);
    const cid = c.stdout.trim();
    refused(await ctr.run(['rmi', 'busybox']), 'rmi in use', new RegExp(`image is in use by a container: ${cid.slice(0, 12)}`));
    const r = ok(await ctr.run(['rmi', '-f', 'busybox']), 'rmi -f in use');
    expect(r.stdout).toBe('Untagged: docker.io/library/busybox:latest\n');
    expect(await ids(ctr, ['images', '-q'])).toHaveLength(1); // dangling, still there
    ok(await ctr.run(['image', 'prune', '-f']), 'prune while in use');
    expect(await ids(ctr, ['images', '-q'])).toHaveLength(1);
    ok(await ctr.run(['rm', '-f', cid]), 'rm container');
    const p = ok(await ctr.run(['image', 'prune', '-f']), 'prune');
    expect(p.stdout).toBe(`${fixtures().images.busybox.id.slice(7)}\n`);
    expect(storeState(ctr)).toEqual({ images: [], layers: [], blobs: [], tmp: [], leases: [] });
  });

  it('rmi -f $(ctr images -aq) removes everything', async () => {
    await removeAll(ctr);
    await ctr.load(['busybox', 'layered']);
    ok(await ctr.run(['tag', 'busybox', 'other:1']), 'tag');
    const all = await ids(ctr, ['images', '-aq']);
    ok(await ctr.run(['rmi', '-f', ...all]), 'rmi -f all');
    expect(storeState(ctr)).toEqual({ images: [], layers: [], blobs: [], tmp: [], leases: [] });
  });

  it('image prune -a removes unused images, prune alone only dangling ones', async () => {
    await removeAll(ctr);
    await ctr.load(['busybox', 'layered']);
    let r = ok(await ctr.run(['image', 'prune', '-f']), 'prune');
    expect(r.stdout).toBe('');
    ok(await ctr.run(['rmi', '-f', 'layered']), 'rmi');
    r = ok(await ctr.run(['image', 'prune', '-a', '-f']), 'prune -a');
    expect(r.stdout).toBe(`${fixtures().images.busybox.id.slice(7)}\n`);
    expect(await ids(ctr)).toEqual([]);
  });
});

describe('inspect and history', () => {
  it('image inspect has Docker shape; --format works', async () => {
    await removeAll(ctr);
    const f = fixtures();
    await ctr.load('layered');
    const arr = JSON.parse(ok(await ctr.run(['image', 'inspect', 'layered']), 'inspect').stdout);
    expect(arr).toHaveLength(1);
    const x = arr[0];
    for (const k of ['Id', 'RepoTags', 'RepoDigests', 'Created', 'Author', 'Config', 'Architecture', 'Os', 'Size', 'RootFS', 'GraphDriver', 'Metadata'])
      expect(x, k).toHaveProperty(k);
    expect(x.Id).toBe(f.images.layered.id);
    expect(x.RootFS).toEqual({ Type: 'layers', Layers: f.images.layered.diffIds });
    expect(x.Config).toEqual(f.images.layered.config.config);
    expect(x.Created).toBe(f.images.layered.config.created);
    expect(typeof x.GraphDriver.Name).toBe('string');
    const one = ok(await ctr.run(['image', 'inspect', '--format', '{{.Config.WorkingDir}} {{json .Config.Entrypoint}} {{.Os}}', 'layered']), 'format');
    expect(one.stdout).toBe(`${f.images.layered.config.config.WorkingDir} ${JSON.stringify(f.images.layered.config.config.Entrypoint)} linux\n`);
  });

  it('history lists the entries newest first with sizes', async () => {
    const f = fixtures();
    const r = ok(await ctr.run(['history', 'layered']), 'history');
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(lines).toHaveLength(1 + f.images.layered.config.history.length);
    expect(lines[1]).toMatch(new RegExp(`^${f.images.layered.id.slice(7, 19)}\\s`));
    expect(lines[2]).toMatch(/^<missing>\s/);
    const q = ok(await ctr.run(['history', '-q', 'layered']), 'history -q').stdout.split('\n').filter(Boolean);
    expect(q[0]).toBe(f.images.layered.id.slice(7, 19));
    const nt = ok(await ctr.run(['image', 'history', '--no-trunc', '--format', '{{.CreatedBy}}', 'layered']), 'no-trunc').stdout.split('\n').filter(Boolean);
    const want = (f.images.layered.config.history as { created_by?: string }[]).map((h) => h.created_by ?? '').reverse();
    expect(nt).toEqual(want);
  });
});

describe('hostile and corrupt archives', () => {
  const refusedKinds = ['bad-checksum', 'truncated-gzip', 'digest-mismatch', 'hardlink'] as const;
  for (const kind of refusedKinds) {
    it(`refuses ${kind} with one line and leaves nothing behind`, async () => {
      await removeAll(ctr);
      const h = fixtures().hostile[kind];
      if (kind === 'hardlink') fs.writeFileSync('/tmp/ctr-hostile-hardlink-target', 'original\n');
      const before = storeState(ctr);
      refused(await ctr.run(['load', '-i', fixturePath(h.file)]), `load ${kind}`);
      expect(storeState(ctr)).toEqual(before);
      expect(await ids(ctr)).toEqual([]);
      if (kind === 'hardlink') {
        expect(fs.readFileSync('/tmp/ctr-hostile-hardlink-target', 'utf8')).toBe('original\n');
        expect(fs.statSync('/tmp/ctr-hostile-hardlink-target').nlink).toBe(1);
        fs.rmSync('/tmp/ctr-hostile-hardlink-target', { force: true });
      }
      // the next good load works
      const r = ok(await ctr.run(['load', '-i', fixturePath(fixtures().images.busybox.files.docker!)]), 'good load');
      expect(r.stdout).toBe(`Loaded image: ${fixtures().images.busybox.fullRef}\n`);
    });
  }

  for (const kind of ['traversal', 'absolute', 'symlink'] as const) {
    it(`${kind}: nothing is written outside the layer`, async () => {
      const h = fixtures().hostile[kind];
      for (const p of h.escapes) fs.rmSync(p, { force: true });
      const r = await ctr.run(['load', '-i', fixturePath(h.file)]);
      expect([0, 125]).toContain(r.code);
      for (const p of h.escapes) expect(fs.existsSync(p), p).toBe(false);
      if (r.code === 125) refused(r, `load ${kind}`);
    });
  }

  function tarOf(files: Record<string, string | Buffer>): Buffer {
    // a minimal ustar writer for hand-made broken archives
    const parts: Buffer[] = [];
    for (const [name, data] of Object.entries(files)) {
      const body = Buffer.from(data);
      const h = Buffer.alloc(512);
      h.write(name, 0, 100);
      h.write('0000644\0', 100);
      h.write('0000000\0', 108);
      h.write('0000000\0', 116);
      h.write(body.length.toString(8).padStart(11, '0') + '\0', 124);
      h.write('00000000000\0', 136);
      h.fill(' ', 148, 156);
      h.write('0', 156);
      h.write('ustar\0' + '00', 257);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
      parts.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
    parts.push(Buffer.alloc(1024));
    return Buffer.concat(parts);
  }

  it('refuses archives without manifest.json/index.json, truncated archives, bad JSON and bad member names', async () => {
    await removeAll(ctr);
    const before = storeState(ctr);
    const dir = ctr.dir;
    const cases: [string, Buffer, RegExp][] = [
      ['no-manifest.tar', tarOf({ 'hello.txt': 'hi\n' }), /neither manifest\.json .* nor index\.json/],
      ['bad-json.tar', tarOf({ 'manifest.json': '[{"Config": ' }), /not valid JSON/],
      ['missing-config.tar', tarOf({ 'manifest.json': '[{"Config":"x.json","RepoTags":["a:1"],"Layers":[]}]' }), /config "x\.json" .* missing/],
      ['escape.tar', tarOf({ '../../evil': 'x', 'manifest.json': '[]' }), /outside the archive/],
      ['not-a-tar.tar', Buffer.from('this is not a tar archive at all, just text\n'.repeat(40)), /not a tar archive|invalid archive/],
      ['empty.tar', Buffer.alloc(0), /empty/],
    ];
    const good = fs.readFileSync(fixturePath(fixtures().images.busybox.files.docker!));
    cases.push(['truncated.tar', good.subarray(0, Math.floor(good.length / 2)), /truncated|unexpected end/]);
    const gz = fs.readFileSync(fixturePath(fixtures().images.busybox.files.dockerGz!));
    cases.push(['truncated.tar.gz', gz.subarray(0, Math.floor(gz.length / 2)), /truncated|unexpected end/]);
    for (const [name, data, pattern] of cases) {
      const p = path.join(dir, name);
      fs.writeFileSync(p, data);
      refused(await ctr.run(['load', '-i', p]), `load ${name}`, pattern);
      expect(storeState(ctr), name).toEqual(before);
    }
    refused(await ctr.run(['load', '-i', path.join(dir, 'nonexistent.tar')]), 'load missing', /no such file/);
    refused(await ctr.run(['load', '-i', dir]), 'load dir', /directory/);
  });

  it('a load killed half-way leaves no image, and the next run collects its leftovers', async () => {
    await removeAll(ctr);
    const data = fs.readFileSync(fixturePath(fixtures().images.busybox.files.docker!));
    const argv = ctr.argv(['load']);
    const child = spawn(argv[0]!, argv.slice(1), { env: ctr.env, stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin.on('error', () => {});
    child.stdin.write(data.subarray(0, Math.floor(data.length * 0.8)));
    // wait until it has staged something, then kill -9
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && ls(ctr, 'tmp').length === 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(await ids(ctr)).toEqual([]);
    ok(await ctr.run(['load', '-i', fixturePath(fixtures().images.busybox.files.docker!)]), 'next load');
    expect(await ids(ctr)).toEqual([fixtures().images.busybox.id]);
    const st = storeState(ctr);
    expect(st.tmp).toEqual([]);
    expect(st.leases).toEqual([]);
    expect(st.layers.filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('concurrent loads of the same image both succeed and store it once', async () => {
    await removeAll(ctr);
    const file = fixturePath(fixtures().images.layered.files.docker!);
    const [a, b] = await Promise.all([ctr.run(['load', '-i', file], { timeout: 120_000 }), ctr.run(['load', '-i', file], { timeout: 120_000 })]);
    ok(a, 'load A');
    ok(b, 'load B');
    expect(await ids(ctr)).toEqual([fixtures().images.layered.id]);
    expect(storeState(ctr).layers.filter((n) => /^[0-9a-f]{64}$/.test(n))).toHaveLength(3);
    expect(storeState(ctr).layers.filter((n) => n.startsWith('.'))).toEqual([]);
  });
});

describe('storage driver', () => {
  it('the config file and --storage-driver choose the driver; a bad value is refused', async () => {
    const conf = path.join(ctr.env.XDG_CONFIG_HOME!, 'ctr');
    fs.mkdirSync(conf, { recursive: true });
    fs.writeFileSync(path.join(conf, 'ctr.conf'), '{"storage":{"driver":"bogus"}}');
    try {
      refused(await ctr.run(['image', 'inspect', '--format', '{{.GraphDriver.Name}}', 'busybox']), 'bad config', /invalid storage driver "bogus"/);
      fs.writeFileSync(path.join(conf, 'ctr.conf'), '{"storage":{"driver":"vfs"}}');
      await ctr.load('busybox');
      const r = ok(await ctr.run(['image', 'inspect', '--format', '{{.GraphDriver.Name}}', 'busybox']), 'inspect vfs');
      expect(r.stdout).toBe('vfs\n');
      const r2 = ok(await ctr.run(['--storage-driver', 'overlay', 'image', 'inspect', '--format', '{{.GraphDriver.Name}}', 'busybox']), 'flag');
      expect(r2.stdout).toBe('overlay\n');
    } finally {
      fs.rmSync(path.join(conf, 'ctr.conf'), { force: true });
    }
  });
});

// needs `ctr run` from the container side
describe('one store, every storage driver', () => {
  it('containers of the layered image see the same files with overlay, fuse-overlayfs and vfs', async () => {
    await ctr.load('layered');
    const exp = fixtures().images.layered.expect!;
    const script = [
      ...Object.keys(exp.present).map((p) => `cat ${p}`),
      ...exp.absent.map((p) => `test ! -e ${p} || echo PRESENT ${p}`),
      'ls /data/dir',
    ].join('; ');
    const want = Object.values(exp.present).join('') + exp.ls_data_dir.map((n) => `${n}\n`).join('');
    for (const driver of ['overlay', 'fuse-overlayfs', 'vfs']) {
      const r = await ctr.run(['--storage-driver', driver, 'run', '--rm', '--entrypoint', '', 'layered', 'sh', '-c', script], { timeout: 60_000 });
      expect(r.code, describeResult(`run with ${driver}`, r)).toBe(0);
      expect(r.stdout, driver).toBe(want);
    }
  });
});
