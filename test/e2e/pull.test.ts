// ctr pull and run/create --pull against a real registry (Debian's docker-registry, images
// seeded with skopeo): OCI and Docker media types, by tag and digest, -a, -q, --platform with a
// manifest list, skipped layers, pull policies, errors, concurrent pulls, digests as skopeo
// sees them, unqualified-search registries.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeResult, fixturePath, fixtures, run, useCtr, useRegistry, type CtrEnv, type RunResult } from './lib';
import { imageIds as ids, ok, PULL_PROGRESS, refused as refusedWith, storeEntries as ls } from './checks';
import { startConnectProxy } from './registries';

/** One error line besides the progress lines. */
const refused = (r: RunResult, what: string, pattern?: RegExp) => refusedWith(r, what, pattern, 125, PULL_PROGRESS);

const ctr = useCtr();
const reg = useRegistry({ images: ['busybox', 'layered'] });
const TLS = '--tls-verify=false';

async function removeAll(env: CtrEnv): Promise<void> {
  const ps = ok(await env.run(['ps', '-aq']), 'ps -aq').stdout.split('\n').filter(Boolean);
  if (ps.length) ok(await env.run(['rm', '-f', ...ps]), 'rm -f');
  const all = await ids(env);
  if (all.length) ok(await env.run(['rmi', '-f', ...all]), 'rmi -f all');
}

async function inspect(env: CtrEnv, ref: string): Promise<{ Id: string; RepoTags: string[]; RepoDigests: string[]; Digest: string; Architecture?: string }> {
  const r = ok(await env.run(['image', 'inspect', ref]), `inspect ${ref}`);
  return (JSON.parse(r.stdout) as never[])[0]!;
}

function registriesConf(env: CtrEnv, host: string): string {
  const f = path.join(env.dir, `registries-${host.replace(/[^0-9a-z]/gi, '_')}.conf`);
  fs.writeFileSync(f, `unqualified-search-registries = ["${host}"]\n\n[[registry]]\nlocation = "${host}"\ninsecure = true\n`);
  return f;
}

const skopeoEnv = () => ({ HOME: ctr.dir, XDG_RUNTIME_DIR: path.join(ctr.dir, 'xr'), TMPDIR: path.join(ctr.dir, 'tmp') });

async function skopeo(args: string[]): Promise<string> {
  const r = await run(['skopeo', ...args], { env: skopeoEnv(), timeout: 120_000 });
  if (r.code !== 0) throw new Error(describeResult(`skopeo ${args.join(' ')}`, r));
  return r.stdout;
}

describe('pull', () => {
  const fx = () => fixtures();

  it('pulls busybox (OCI manifest), prints the ID, and the image runs', async () => {
    await removeAll(ctr);
    const ref = `${reg.host}/busybox:latest`;
    const r = ok(await ctr.run(['pull', TLS, ref], { timeout: 120_000 }), 'pull busybox');
    expect(r.stdout).toBe(`${fx().images.busybox.id.replace('sha256:', '')}\n`);
    // piped: plain lines, Podman's wording
    expect(r.stderr).toContain(`Trying to pull ${ref}...`);
    expect(r.stderr).toMatch(/^Copying blob sha256:[0-9a-f]{64} done$/m);
    expect(r.stderr).toMatch(/^Copying config sha256:[0-9a-f]{64} done$/m);
    expect(r.stderr).not.toMatch(/\x1b\[/);
    const img = await inspect(ctr, ref);
    expect(img.Id).toMatch(fx().images.busybox.id.replace('sha256:', ''));
    expect(img.RepoTags).toEqual([ref]);
    expect(img.RepoDigests).toEqual([`${reg.host}/busybox@${fx().images.busybox.manifestDigest}`]);
    const out = ok(await ctr.run(['run', '--rm', ref, 'echo', 'pulled'], { timeout: 60_000 }), 'run pulled');
    expect(out.stdout).toBe('pulled\n');
    // the compressed blob is kept as received (push reproduces the digests)
    const layer = JSON.parse(await skopeo(['inspect', '--raw', TLS, `docker://${ref}`])).layers[0].digest as string;
    expect(ls(ctr, 'blobs/sha256')).toContain(layer.slice(7));
    expect(ls(ctr, 'layers').filter((n) => n.startsWith('.'))).toEqual([]);
    expect(ls(ctr, 'leases')).toEqual([]);
  });

  it('pulls the layered image with Docker v2s2 media types; whiteouts and links as built', async () => {
    await removeAll(ctr);
    await reg.push('layered', 'layered-v2s2:latest', { format: 'v2s2' });
    const ref = `${reg.host}/layered-v2s2:latest`;
    ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 120_000 }), 'pull layered v2s2');
    const raw = JSON.parse(await skopeo(['inspect', '--raw', TLS, `docker://${ref}`]));
    expect(raw.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const img = await inspect(ctr, ref);
    expect(img.Id).toContain(fx().images.layered.id.replace('sha256:', ''));
    const exp = fx().images.layered.expect!;
    const script = [
      ...Object.keys(exp.present).map((p) => `cat ${p}`),
      ...exp.absent.map((p) => `test ! -e ${p} || echo PRESENT ${p}`),
      'ls /data/dir',
    ].join('; ');
    const r = ok(await ctr.run(['run', '--rm', ref, script], { timeout: 60_000 }), 'run layered');
    expect(r.stdout).toBe(Object.values(exp.present).join('') + exp.ls_data_dir.map((n) => n + '\n').join(''));
  });

  it('skips layers that are already present', async () => {
    await removeAll(ctr);
    ok(await ctr.run(['pull', TLS, `${reg.host}/busybox`], { timeout: 120_000 }), 'pull busybox');
    const r = ok(await ctr.run(['pull', TLS, `${reg.host}/layered`], { timeout: 120_000 }), 'pull layered');
    const base = JSON.parse(await skopeo(['inspect', '--raw', TLS, `docker://${reg.host}/layered:latest`])).layers[0].digest as string;
    expect(r.stderr).toContain(`Copying blob ${base} skipped: already exists`);
    expect((r.stderr.match(/ done$/gm) ?? []).length).toBe(3); // two layers + config
    // pulling it again fetches nothing
    const again = ok(await ctr.run(['pull', TLS, `${reg.host}/layered`], { timeout: 120_000 }), 'pull again');
    expect((again.stderr.match(/skipped: already exists/g) ?? []).length).toBe(3);
    expect(await ids(ctr)).toHaveLength(2);
  });

  it('pulls by digest: no tag, the digest recorded and usable', async () => {
    await removeAll(ctr);
    const digest = fx().images.busybox.manifestDigest;
    const ref = `${reg.host}/busybox@${digest}`;
    const r = ok(await ctr.run(['pull', TLS, ref], { timeout: 120_000 }), 'pull by digest');
    expect(r.stdout.trim()).toBe(fx().images.busybox.id.replace('sha256:', ''));
    const list = ok(await ctr.run(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}']), 'images --digests');
    expect(list.stdout).toBe(`${reg.host}/busybox <none> ${digest}\n`);
    const img = await inspect(ctr, ref);
    expect(img.RepoDigests).toEqual([ref]);
    expect(ok(await ctr.run(['run', '--rm', ref, 'echo', 'by-digest'], { timeout: 60_000 }), 'run by digest').stdout).toBe('by-digest\n');
    // a digest the registry does not have
    refused(await ctr.run(['pull', TLS, `${reg.host}/busybox@sha256:${'0'.repeat(64)}`]), 'unknown digest', /manifest unknown/i);
  });

  it('-q prints only the image ID', async () => {
    await removeAll(ctr);
    const r = ok(await ctr.run(['pull', '-q', TLS, `${reg.host}/busybox`], { timeout: 120_000 }), 'pull -q');
    expect(r.stdout).toBe(`${fx().images.busybox.id.replace('sha256:', '')}\n`);
    expect(r.stderr).toBe('');
  });

  it('-a pulls every tag of the repository', async () => {
    await removeAll(ctr);
    await reg.push('busybox', 'alltags:one');
    await reg.push('busybox', 'alltags:two');
    await reg.push('layered', 'alltags:three');
    const r = ok(await ctr.run(['pull', '-a', '-q', TLS, `${reg.host}/alltags`], { timeout: 120_000 }), 'pull -a');
    const bb = fx().images.busybox.id.replace('sha256:', '');
    const ly = fx().images.layered.id.replace('sha256:', '');
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual([bb, bb, ly].sort());
    const tags = ok(await ctr.run(['images', '--format', '{{.Repository}}:{{.Tag}}']), 'images').stdout.split('\n').filter(Boolean).sort();
    expect(tags).toEqual([`${reg.host}/alltags:one`, `${reg.host}/alltags:three`, `${reg.host}/alltags:two`]);
    refused(await ctr.run(['pull', '-a', TLS, `${reg.host}/alltags:one`]), '-a with a tag', /--all-tags/);
  });

  describe('manifest list', () => {
    const otherArch = process.arch === 'arm64' ? 'amd64' : 'arm64';
    beforeAll(async () => {
      // an OCI layout whose index lists busybox for the host and the layered image as "otherArch"
      const dir = path.join(ctr.dir, 'multi');
      fs.mkdirSync(dir, { recursive: true });
      ok(await run(['tar', '-xf', fixturePath(fixtures().images.busybox.files.oci!), '-C', dir]), 'untar busybox');
      ok(await run(['tar', '-xf', fixturePath(fixtures().images.layered.files.oci!), '-C', dir]), 'untar layered');
      const { createHash } = await import('node:crypto');
      const put = (obj: unknown): { digest: string; size: number } => {
        const b = Buffer.from(JSON.stringify(obj));
        const hex = createHash('sha256').update(b).digest('hex');
        fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hex), b);
        return { digest: `sha256:${hex}`, size: b.length };
      };
      const read = (d: string) => JSON.parse(fs.readFileSync(path.join(dir, 'blobs', 'sha256', d.slice(7)), 'utf8'));
      const bbMan = fixtures().images.busybox.manifestDigest;
      const lyMan = fixtures().images.layered.manifestDigest;
      // the layered image re-labelled as the other architecture (its config changes, so does its ID)
      const ly = read(lyMan);
      const cfg = read(ly.config.digest);
      cfg.architecture = otherArch;
      const newCfg = put(cfg);
      const newMan = put({ ...ly, config: { ...ly.config, ...newCfg } });
      const size = (d: string) => fs.statSync(path.join(dir, 'blobs', 'sha256', d.slice(7))).size;
      const goArch = process.arch === 'x64' ? 'amd64' : process.arch;
      const index = put({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...newMan, platform: { os: 'linux', architecture: otherArch } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: bbMan, size: size(bbMan), platform: { os: 'linux', architecture: goArch } },
        ],
      });
      fs.writeFileSync(
        path.join(dir, 'index.json'),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }],
        }),
      );
      await skopeo(['copy', '--quiet', '--all', '--dest-tls-verify=false', `oci:${dir}:multi`, `docker://${reg.host}/multi:latest`]);
    }, 120_000);

    it('picks the host platform, or the one --platform names', async () => {
      await removeAll(ctr);
      const ref = `${reg.host}/multi:latest`;
      const listDigest = `sha256:${(await run(['sha256sum'], { input: await skopeo(['inspect', '--raw', TLS, `docker://${ref}`]) })).stdout.split(' ')[0]}`;
      const r = ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 120_000 }), 'pull multi');
      expect(r.stdout.trim()).toBe(fixtures().images.busybox.id.replace('sha256:', ''));
      const img = await inspect(ctr, ref);
      expect(img.RepoDigests).toContain(`${reg.host}/multi@${listDigest}`);
      expect(img.RepoDigests).toContain(`${reg.host}/multi@${fixtures().images.busybox.manifestDigest}`);
      expect(ok(await ctr.run(['run', '--rm', ref, 'echo', 'host-arch'], { timeout: 60_000 }), 'run multi').stdout).toBe('host-arch\n');

      ok(await ctr.run(['pull', '-q', TLS, '--platform', `linux/${otherArch}`, ref], { timeout: 120_000 }), 'pull --platform');
      const other = await inspect(ctr, ref);
      expect(other.Architecture).toBe(otherArch);
      expect(other.Id).not.toContain(fixtures().images.busybox.id.replace('sha256:', ''));

      refused(await ctr.run(['pull', TLS, '--platform', 'linux/s390x', ref]), 'missing platform', new RegExp(`no image for linux/s390x .*available: .*linux/${otherArch}`));
      refused(await ctr.run(['pull', TLS, '--platform', 'nonsense', ref]), 'bad --platform', /invalid --platform/);
    });
  });

  describe('run/create --pull', () => {
    it('missing pulls an absent image (short name through unqualified-search registries), never refuses it', async () => {
      await removeAll(ctr);
      const env = { CTR_REGISTRIES_CONF: registriesConf(ctr, reg.host) };
      refused(await ctr.run(['run', '--rm', '--pull', 'never', 'busybox', 'true'], { env }), 'run --pull never', /no such image: busybox/);
      expect(await ids(ctr)).toEqual([]);
      const r = ok(await ctr.run(['run', '--rm', 'busybox', 'echo', 'auto'], { env, timeout: 120_000 }), 'run with pull');
      expect(r.stdout).toBe('auto\n');
      expect(r.stderr).toContain(`Trying to pull ${reg.host}/busybox:latest...`);
      expect(ok(await ctr.run(['images', '--format', '{{.Repository}}:{{.Tag}}']), 'images').stdout).toBe(`${reg.host}/busybox:latest\n`);
      // present: no registry traffic, even when the registry is unreachable
      const again = ok(await ctr.run(['run', '--rm', 'busybox', 'echo', 'local'], { env: { CTR_REGISTRIES_CONF: registriesConf(ctr, '127.0.0.1:1') } }), 'run present');
      expect(again.stdout).toBe('local\n');
      expect(again.stderr).toBe('');
      const id = ok(await ctr.run(['create', '--pull', 'missing', `${reg.host}/layered`, 'true'], { env, timeout: 120_000 }), 'create --pull missing');
      expect(id.stdout).toMatch(/^[0-9a-f]{64}\n$/);
      refused(await ctr.run(['run', '--pull', 'sometimes', 'busybox', 'true'], { env }), 'bad policy', /invalid --pull/);
    });

    it('always pulls every time; newer only when the registry has another digest', async () => {
      await removeAll(ctr);
      const ref = `${reg.host}/policy:latest`;
      await reg.push('busybox', 'policy:latest');
      const env = { CTR_REGISTRIES_CONF: registriesConf(ctr, reg.host) };
      const a = ok(await ctr.run(['run', '--rm', '--pull', 'always', ref, 'true'], { env, timeout: 120_000 }), 'run --pull always');
      expect(a.stderr).toContain(`Trying to pull ${ref}...`);
      const b = ok(await ctr.run(['run', '--rm', '--pull', 'always', ref, 'true'], { env, timeout: 120_000 }), 'run --pull always again');
      expect(b.stderr).toContain('skipped: already exists');
      const c = ok(await ctr.run(['run', '--rm', '--pull', 'newer', ref, 'true'], { env, timeout: 120_000 }), 'run --pull newer, same');
      expect(c.stderr).toBe('');
      await reg.push('layered', 'policy:latest');
      const d = ok(await ctr.run(['run', '--rm', '--pull', 'newer', ref, 'cat /etc/motd'], { env, timeout: 120_000 }), 'run --pull newer, changed');
      expect(d.stdout).toBe('layered fixture image: layer 3\n');
      // always with an unreachable registry fails even though the image is present
      ok(await ctr.run(['tag', ref, '127.0.0.1:1/policy:latest']), 'tag');
      refused(await ctr.run(['run', '--rm', '--pull', 'always', '127.0.0.1:1/policy', 'true'], { env, timeout: 60_000 }), 'always unreachable', /connection refused|127\.0\.0\.1:1/i);
      // newer with an unreachable registry keeps the local image
      const e = ok(await ctr.run(['run', '--rm', '--pull', 'newer', '127.0.0.1:1/policy', 'echo kept'], { env, timeout: 60_000 }), 'newer unreachable');
      expect(e.stdout).toBe('kept\n');
      expect(e.stderr).toMatch(/^warning: cannot check/);
    });
  });

  describe('errors', () => {
    it('unknown tag, unknown repository, connection refused, plain HTTP without --tls-verify=false', async () => {
      await removeAll(ctr);
      const before = { blobs: ls(ctr, 'blobs/sha256'), layers: ls(ctr, 'layers') };
      refused(await ctr.run(['pull', TLS, `${reg.host}/busybox:nope`]), 'unknown tag', /manifest unknown/i);
      refused(await ctr.run(['pull', TLS, `${reg.host}/no/such/repo`]), 'unknown repo', /manifest unknown|name unknown|not found/i);
      refused(await ctr.run(['pull', TLS, '127.0.0.1:1/busybox']), 'refused', /connection refused/i);
      refused(await ctr.run(['pull', `${reg.host}/busybox`], { timeout: 60_000 }), 'https to http', /tls|https/i);
      refused(await ctr.run(['pull', TLS, 'Busybox']), 'invalid ref', /invalid reference format.*lowercase/);
      refused(await ctr.run(['pull', TLS, `${reg.host}/busybox`, '--creds', 'nocolon']), 'bad creds', /--creds/);
      expect({ blobs: ls(ctr, 'blobs/sha256'), layers: ls(ctr, 'layers') }).toEqual(before);
      expect(await ids(ctr)).toEqual([]);
    });
  });

  it('two pulls of the same image at once: both succeed, one copy', async () => {
    await removeAll(ctr);
    const ref = `${reg.host}/layered:latest`;
    const a = ctr.spawn(['pull', '-q', TLS, ref]);
    const b = ctr.spawn(['pull', '-q', TLS, ref]);
    a.closeStdin();
    b.closeStdin();
    const [ra, rb] = await Promise.all([a.wait(120_000), b.wait(120_000)]);
    ok(ra, 'pull a');
    ok(rb, 'pull b');
    expect(ra.stdout).toBe(rb.stdout);
    expect(ra.stdout).toBe(`${fixtures().images.layered.id.replace('sha256:', '')}\n`);
    expect(await ids(ctr)).toHaveLength(1);
    expect(ls(ctr, 'layers').filter((n) => /^[0-9a-f]{64}$/.test(n))).toHaveLength(3);
    expect(ls(ctr, 'layers').filter((n) => n.startsWith('.'))).toEqual([]);
    expect(ls(ctr, 'blobs/sha256').filter((n) => n.startsWith('.'))).toEqual([]);
    expect(ok(await ctr.run(['run', '--rm', ref, 'cat /etc/motd'], { timeout: 60_000 }), 'run').stdout).toBe('layered fixture image: layer 3\n');
  });

  it('interop: an image seeded by skopeo pulls with the digests skopeo reports', async () => {
    await removeAll(ctr);
    await reg.push('layered', 'interop:v1', { format: 'v2s2' });
    const ref = `${reg.host}/interop:v1`;
    const info = JSON.parse(await skopeo(['inspect', TLS, `docker://${ref}`])) as { Digest: string; Layers: string[] };
    const raw = JSON.parse(await skopeo(['inspect', '--raw', TLS, `docker://${ref}`])) as { config: { digest: string } };
    ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 120_000 }), 'pull interop');
    const img = await inspect(ctr, ref);
    expect(`sha256:${img.Id.replace('sha256:', '')}`).toBe(raw.config.digest);
    expect(img.RepoDigests).toEqual([`${reg.host}/interop@${info.Digest}`]);
    expect(img.Digest).toBe(info.Digest);
    for (const l of info.Layers) expect(ls(ctr, 'blobs/sha256')).toContain(l.slice(7));
  });

  it('HTTP_PROXY/HTTPS_PROXY: the pull goes through a CONNECT proxy (the only way to reach "registry.test")', async () => {
    await removeAll(ctr);
    const proxy = await startConnectProxy('registry.test');
    try {
      const purl = proxy.url;
      const port = reg.host.split(':')[1]!;
      const ref = `registry.test:${port}/busybox:latest`;
      const env = { HTTP_PROXY: purl, HTTPS_PROXY: purl, NO_PROXY: undefined, http_proxy: undefined, https_proxy: undefined, no_proxy: undefined };
      const r = ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 120_000, env }), 'pull through the proxy');
      expect(r.stdout.trim()).toBe(fx().images.busybox.id.replace('sha256:', ''));
      expect(proxy.tunnels).toContain(`registry.test:${port}`);
      // NO_PROXY: a direct connection, which cannot resolve the name
      await removeAll(ctr);
      refused(await ctr.run(['pull', '-q', TLS, ref], { timeout: 60_000, env: { ...env, NO_PROXY: 'registry.test' } }), 'NO_PROXY', /cannot resolve registry\.test/);
    } finally {
      await proxy.stop();
    }
  });
});
