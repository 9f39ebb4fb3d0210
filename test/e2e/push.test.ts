// ctr push against a real registry (Debian's docker-registry), checked with an independent
// client (skopeo): loaded docker and OCI archives, committed images, by tag and by digest,
// --format oci|v2s2, blobs skipped on a second push, cross-repository mounts, RepoDigests,
// a registry that wants credentials, bad input.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCtrEnv, fixtures, run, uniqueName, useCtr, useRegistry, type RunResult } from './lib';
import { BASIC_PASS, BASIC_USER, useRegistries } from './registries';
import { ok, PUSH_PROGRESS, refused as refusedWith } from './checks';

/** One error line besides the progress lines. */
const refused = (r: RunResult, what: string, pattern?: RegExp) => refusedWith(r, what, pattern, 125, PUSH_PROGRESS);

const ctr = useCtr({ images: ['busybox'] });
const reg = useRegistry();

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function push(args: string[]): Promise<{ r: RunResult; digest: string }> {
  const df = path.join(ctr.dir, `digest-${uniqueName()}`);
  const r = ok(await ctr.run(['push', '--tls-verify=false', '--digestfile', df, ...args], { timeout: 120_000 }), `push ${args.join(' ')}`);
  const digest = fs.readFileSync(df, 'utf8').trim();
  expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(r.stderr).toContain(`digest: ${digest}`);
  return { r, digest };
}

async function skopeo(args: string[]): Promise<RunResult> {
  return ok(await run(['skopeo', ...args], { env: ctr.env, timeout: 120_000 }), `skopeo ${args.join(' ')}`);
}

/** skopeo's view: the manifest digest, its raw manifest, and the image pulled into an OCI dir with its layers' diff IDs. */
async function skopeoView(ref: string) {
  const info = JSON.parse((await skopeo(['inspect', '--no-tags', '--tls-verify=false', `docker://${ref}`])).stdout);
  const raw = JSON.parse((await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout);
  const dir = path.join(ctr.dir, `oci-${uniqueName()}`);
  await skopeo(['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}:x`]);
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
  const blob = (d: string) => fs.readFileSync(path.join(dir, 'blobs', 'sha256', d.slice(7)));
  const man = JSON.parse(blob(index.manifests[0].digest).toString());
  const config = JSON.parse(blob(man.config.digest).toString());
  const diffIds = man.layers.map((l: { digest: string; mediaType: string }) => {
    const b = blob(l.digest);
    expect(sha(b)).toBe(l.digest);
    return sha(/gzip/.test(l.mediaType) ? zlib.gunzipSync(b) : b);
  });
  return { digest: info.Digest as string, raw, configDigest: man.config.digest as string, config, diffIds: diffIds as string[], copiedManifestDigest: index.manifests[0].digest as string };
}

describe('push', () => {
  it('pushes a loaded docker-archive (plain layers): skopeo sees the same digest, image and diff IDs', async () => {
    const bb = fixtures().images.busybox;
    const dest = `${reg.host}/push/busybox:1`;
    const { r, digest } = await push(['busybox', dest]);
    expect(r.stderr).toMatch(/Copying blob sha256:[0-9a-f]{64} done/);
    expect(r.stdout).toBe('');
    const v = await skopeoView(dest);
    expect(v.digest).toBe(digest);
    expect(v.copiedManifestDigest).toBe(digest);
    expect(v.configDigest).toBe(bb.id);
    expect(v.diffIds).toEqual(bb.diffIds);
    expect(v.config.rootfs.diff_ids).toEqual(bb.diffIds);
    // default format for an image loaded from a docker-archive: OCI, gzip layers
    expect(v.raw.mediaType).toBe(OCI_MANIFEST);
    expect(v.raw.layers[0].mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    // RepoDigests recorded
    const x = JSON.parse(ok(await ctr.run(['image', 'inspect', 'busybox']), 'inspect').stdout)[0];
    expect(x.RepoDigests).toContain(`${reg.host}/push/busybox@${digest}`);
    // the image can be named by that digest now
    ok(await ctr.run(['image', 'inspect', `${reg.host}/push/busybox@${digest}`]), 'inspect by repo digest');
  });

  it('a second push skips every blob and gives the same digest (the gzip layer is kept)', async () => {
    const dest = `${reg.host}/push/again:1`;
    const first = await push(['busybox', dest]);
    const blobs = fs.readdirSync(path.join(ctr.root, 'blobs', 'sha256')).sort();
    const second = await push(['busybox', dest]);
    expect(second.digest).toBe(first.digest);
    expect(second.r.stderr).not.toMatch(/ done$/m);
    expect(second.r.stderr.match(/skipped: already exists/g)?.length).toBe(2); // the layer and the config
    expect(second.r.stderr).not.toMatch(/Compressing/);
    expect(fs.readdirSync(path.join(ctr.root, 'blobs', 'sha256')).sort()).toEqual(blobs);
  });

  it('pushing to another repository of the same registry mounts the blobs', async () => {
    const a = await push(['busybox', `${reg.host}/mount/src:1`]);
    const b = await push(['busybox', `${reg.host}/mount/dst:1`]);
    expect(b.digest).toBe(a.digest);
    expect(b.r.stderr).toMatch(/Copying blob sha256:[0-9a-f]{64} mounted from (mount\/src|push\/\w+)/);
    expect(b.r.stderr).not.toMatch(/ done$/m);
    // the registry now links the layer into the new repository
    const v = await skopeoView(`${reg.host}/mount/dst:1`);
    expect(v.diffIds).toEqual(fixtures().images.busybox.diffIds);
  });

  it('pushes an OCI archive image with its own manifest (digest kept), and as v2s2 on request', async () => {
    await ctr.load('layered', 'oci');
    const lay = fixtures().images.layered;
    const { digest } = await push(['layered', `${reg.host}/push/layered:oci`]);
    expect(digest).toBe(lay.manifestDigest);
    const v = await skopeoView(`${reg.host}/push/layered:oci`);
    expect(v.digest).toBe(lay.manifestDigest);
    expect(v.diffIds).toEqual(lay.diffIds);

    const d2 = await push(['--format', 'v2s2', 'layered', `${reg.host}/push/layered:v2s2`]);
    expect(d2.digest).not.toBe(lay.manifestDigest);
    const v2 = await skopeoView(`${reg.host}/push/layered:v2s2`);
    expect(v2.digest).toBe(d2.digest);
    expect(v2.raw.mediaType).toBe(DOCKER_MANIFEST);
    expect(v2.raw.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(v2.raw.layers.every((l: { mediaType: string }) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe(true);
    // (skopeo rewrites the config when it turns a v2s2 image into an OCI dir: compare the raw manifest)
    expect(v2.raw.config.digest).toBe(lay.id);
    expect(v2.diffIds).toEqual(lay.diffIds);
    // the layers were there already (same blobs, other manifest): nothing uploaded twice
    const again = await push(['--format', 'oci', 'layered', `${reg.host}/push/layered:oci2`]);
    expect(again.digest).toBe(lay.manifestDigest);
  });

  it('pushes by digest, and refuses a digest that is not the manifest', async () => {
    const lay = fixtures().images.layered;
    await ctr.load('layered', 'oci');
    const dest = `${reg.host}/bydigest/layered@${lay.manifestDigest}`;
    const { digest } = await push(['layered', dest]);
    expect(digest).toBe(lay.manifestDigest);
    const v = await skopeoView(dest);
    expect(v.digest).toBe(lay.manifestDigest);
    const wrong = `sha256:${'1'.repeat(64)}`;
    refused(await ctr.run(['push', '--tls-verify=false', 'layered', `${reg.host}/bydigest/layered@${wrong}`]), 'wrong digest', /manifest has digest/);
  });

  it('pushes a committed image; skopeo pulls it with the right layers', async () => {
    const name = uniqueName('c');
    ok(await ctr.run(['run', '--name', name, 'busybox', 'sh', '-c', 'echo pushed > /hello.txt; rm /bin/vi']), 'run');
    ok(await ctr.run(['commit', '-c', 'CMD ["cat", "/hello.txt"]', name, 'committed:push']), 'commit');
    const dest = `${reg.host}/push/committed:1`;
    const { digest } = await push(['committed:push', dest]);
    const x = JSON.parse(ok(await ctr.run(['image', 'inspect', 'committed:push']), 'inspect').stdout)[0];
    const v = await skopeoView(dest);
    expect(v.digest).toBe(digest);
    expect(v.configDigest).toBe(x.Id);
    expect(v.diffIds).toEqual(x.RootFS.Layers);
    expect(v.config.config.Cmd).toEqual(['cat', '/hello.txt']);
    // the base layer was in the registry already (pushed from busybox in an earlier test or now)
    ok(await ctr.run(['rm', name]), 'rm');
  });

  it('both layer compressors (the helper with libdeflate, and zlib with CTR_GZIP_NATIVE=0) push what skopeo reads, each the same bytes again', async () => {
    const bb = fixtures().images.busybox;
    const digests: Record<string, string[]> = {};
    for (const [name, env] of [['helper', {}], ['helper', {}], ['zlib', { CTR_GZIP_NATIVE: '0' }], ['zlib', { CTR_GZIP_NATIVE: '0' }]] as const) {
      // a store of its own each time: nothing compressed from an earlier push
      const e = createCtrEnv({ env });
      try {
        await e.load('busybox');
        const dest = `${reg.host}/gz/${name}:${uniqueName()}`;
        const df = path.join(e.dir, 'digest');
        ok(await e.run(['push', '-q', '--tls-verify=false', '--digestfile', df, 'busybox', dest], { timeout: 120_000 }), `push (${name})`);
        const v = await skopeoView(dest);
        expect(v.digest).toBe(fs.readFileSync(df, 'utf8'));
        expect(v.diffIds).toEqual(bb.diffIds);
        (digests[name] ??= []).push(v.digest);
      } finally {
        await e.cleanup();
      }
    }
    expect(digests.helper![1]).toBe(digests.helper![0]);
    expect(digests.zlib![1]).toBe(digests.zlib![0]);
  });

  it('a pushed image pulled back by ctr, and an image seeded by skopeo, keep their digests when pushed again', async () => {
    const other = createCtrEnv();
    try {
      const first = await push(['busybox', `${reg.host}/round/busybox:1`]);
      const pulled = ok(await other.run(['pull', '-q', '--tls-verify=false', `${reg.host}/round/busybox:1`], { timeout: 120_000 }), 'ctr pull');
      expect(pulled.stdout.trim()).toBe(fixtures().images.busybox.id.slice(7));
      const x = JSON.parse(ok(await other.run(['image', 'inspect', `${reg.host}/round/busybox:1`]), 'inspect pulled').stdout)[0];
      expect(x.RepoDigests).toContain(`${reg.host}/round/busybox@${first.digest}`);
      // pushed again from the other store: same manifest, the registry has every blob
      const df = path.join(other.dir, 'digest');
      const again = ok(await other.run(['push', '--tls-verify=false', '--digestfile', df, `${reg.host}/round/busybox:1`, `${reg.host}/round/copy:1`]), 'push pulled');
      expect(fs.readFileSync(df, 'utf8')).toBe(first.digest);
      expect(again.stderr).not.toMatch(/ done$/m);
      // an image skopeo put there (OCI, gzip layers) comes back with skopeo's digest
      await reg.push('layered', 'round/seeded:1');
      const seeded = JSON.parse((await skopeo(['inspect', '--no-tags', '--tls-verify=false', `docker://${reg.host}/round/seeded:1`])).stdout).Digest;
      ok(await other.run(['pull', '-q', '--tls-verify=false', `${reg.host}/round/seeded:1`], { timeout: 120_000 }), 'pull seeded');
      const df2 = path.join(other.dir, 'digest2');
      ok(await other.run(['push', '-q', '--tls-verify=false', '--digestfile', df2, `${reg.host}/round/seeded:1`, `${reg.host}/round/seeded-copy:1`]), 'push seeded');
      expect(fs.readFileSync(df2, 'utf8')).toBe(seeded);
      const v = await skopeoView(`${reg.host}/round/seeded-copy:1`);
      expect(v.digest).toBe(seeded);
      expect(v.diffIds).toEqual(fixtures().images.layered.diffIds);
    } finally {
      await other.cleanup();
    }
  });

  it('push -q prints nothing; DEST defaults to the image name', async () => {
    ok(await ctr.run(['tag', 'busybox', `${reg.host}/quiet/busybox:q`]), 'tag');
    const r = ok(await ctr.run(['push', '-q', '--tls-verify=false', `${reg.host}/quiet/busybox:q`]), 'push -q');
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
    const v = await skopeoView(`${reg.host}/quiet/busybox:q`);
    expect(v.configDigest).toBe(fixtures().images.busybox.id);
  });

  it('bad input: unknown image, an ID without destination, a closed port, a bad format, an archive transport', async () => {
    refused(await ctr.run(['push', '--tls-verify=false', 'no-such-image-xyz', `${reg.host}/x:1`]), 'unknown image', /no such image: no-such-image-xyz/);
    const id = fixtures().images.busybox.id;
    refused(await ctr.run(['push', '--tls-verify=false', id]), 'id without dest', /no destination/);
    refused(await ctr.run(['push', '--tls-verify=false', 'busybox', '127.0.0.1:1/x:1']), 'closed port', /127\.0\.0\.1:1/);
    refused(await ctr.run(['push', '--format', 'v1', 'busybox', `${reg.host}/x:1`]), 'bad format', /invalid --format/);
    refused(await ctr.run(['push', 'busybox', 'oci-archive:/tmp/x.tar']), 'archive transport', /registries only|invalid reference/);
    refused(await ctr.run(['push', '--tls-verify=maybe', 'busybox', `${reg.host}/x:1`]), 'bad tls-verify', /--tls-verify/);
  });
});

// ------------------------------------------------------------------- registries that want credentials

describe('push to registries with authentication (htpasswd Basic, Bearer token)', () => {
  const regs = useRegistries(['basic', 'token']);

  for (const kind of ['basic', 'token'] as const) {
    it(`${kind}: without credentials "unauthorized: run ctr login HOST", exit 125; --creds and --authfile work`, async () => {
      const host = regs[kind].host;
      refused(await ctr.run(['push', '--tls-verify=false', 'busybox', `${host}/auth/busybox:1`]), 'no login', new RegExp(`unauthorized: run ctr login ${host.replace(/\./g, '\\.')}`));
      refused(await ctr.run(['push', '--tls-verify=false', '--creds', `${BASIC_USER}:wrong`, 'busybox', `${host}/auth/busybox:1`]), 'wrong password', /unauthorized/);
      const { digest } = await push(['--creds', `${BASIC_USER}:${BASIC_PASS}`, 'busybox', `${host}/auth/busybox:1`]);
      const authfile = path.join(ctr.dir, `auth-${kind}.json`);
      fs.writeFileSync(authfile, JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${BASIC_USER}:${BASIC_PASS}`).toString('base64') } } }));
      const again = await push(['--authfile', authfile, 'busybox', `${host}/auth/busybox:2`]);
      expect(again.digest).toBe(digest);
      // a second repository of the same registry: mounted with credentials too
      expect(again.r.stderr).toMatch(/mounted from auth\/busybox|skipped: already exists/);
      const info = JSON.parse(
        (await skopeo(['inspect', '--no-tags', '--tls-verify=false', '--creds', `${BASIC_USER}:${BASIC_PASS}`, `docker://${host}/auth/busybox:2`])).stdout,
      );
      expect(info.Digest).toBe(digest);
    });
  }
});
