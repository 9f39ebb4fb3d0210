// zstd-compressed layers (application/vnd.oci.image.layer.v1.tar+zstd) against a real registry
// (Debian's docker-registry): the busybox fixture with its layer recompressed with zstd, seeded
// with skopeo; ctr pulls it (diff ID checked against the config), runs it, and pushes it again
// with the same digests. A zstd layer with corrupt data is refused with one line.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeResult, fixturePath, fixtures, run, useCtr, useRegistry } from './lib';
import { ok } from './checks';

const ctr = useCtr();
const reg = useRegistry({ images: [] });
const TLS = '--tls-verify=false';
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

const z = zlib as unknown as { zstdCompressSync?: (b: Buffer) => Buffer };

const skopeoEnv = () => ({ HOME: ctr.dir, XDG_RUNTIME_DIR: path.join(ctr.dir, 'xr'), TMPDIR: path.join(ctr.dir, 'tmp') });
async function skopeo(args: string[]): Promise<string> {
  fs.mkdirSync(path.join(ctr.dir, 'tmp'), { recursive: true });
  const r = await run(['skopeo', ...args], { env: skopeoEnv(), timeout: 120_000 });
  if (r.code !== 0) throw new Error(describeResult(`skopeo ${args.join(' ')}`, r));
  return r.stdout;
}

interface Built {
  manifestDigest: string;
  layerDigest: string;
  configDigest: string;
}

/** The busybox OCI fixture with every layer recompressed by `recompress`, tagged `name` in an OCI layout. */
async function zstdLayout(dir: string, name: string, recompress: (tar: Buffer) => Buffer): Promise<Built> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  ok(await run(['tar', '-xf', fixturePath(fixtures().images.busybox.files.oci!), '-C', dir]), 'untar busybox');
  const blob = (d: string) => path.join(dir, 'blobs', 'sha256', d.slice(7));
  const put = (b: Buffer): { digest: string; size: number } => {
    const digest = `sha256:${createHash('sha256').update(b).digest('hex')}`;
    fs.writeFileSync(blob(digest), b);
    return { digest, size: b.length };
  };
  const man = JSON.parse(fs.readFileSync(blob(fixtures().images.busybox.manifestDigest), 'utf8')) as {
    config: { digest: string };
    layers: { mediaType: string; digest: string; size: number }[];
  };
  man.layers = man.layers.map((l) => {
    const raw = fs.readFileSync(blob(l.digest));
    const tar = raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw;
    return { ...l, mediaType: ZSTD, ...put(recompress(tar)) };
  });
  const m = put(Buffer.from(JSON.stringify(man)));
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': name } }],
    }),
  );
  return { manifestDigest: m.digest, layerDigest: man.layers[0]!.digest, configDigest: man.config.digest };
}

describe.skipIf(!z.zstdCompressSync)('zstd layers', () => {
  let good: Built;
  beforeAll(async () => {
    good = await zstdLayout(path.join(ctr.dir, 'zstd-oci'), 'zstd', (tar) => z.zstdCompressSync!(tar));
    await skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${path.join(ctr.dir, 'zstd-oci')}:zstd`, `docker://${reg.host}/zstd/busybox:latest`]);
    // corrupt zstd data: a valid frame header, then garbage (the digests are those of these bytes)
    await zstdLayout(path.join(ctr.dir, 'zstd-bad'), 'bad', (tar) => {
      const b = Buffer.from(z.zstdCompressSync!(tar));
      for (let i = 64; i < b.length - 16; i += 7) b[i] = b[i]! ^ 0x5a;
      return b;
    });
    await skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${path.join(ctr.dir, 'zstd-bad')}:bad`, `docker://${reg.host}/zstd/bad:latest`]);
  }, 180_000);

  it('pulls a zstd layer (diff ID verified), runs it, and pushes it again with the same digests', async () => {
    const ref = `${reg.host}/zstd/busybox:latest`;
    const r = ok(await ctr.run(['pull', TLS, ref], { timeout: 120_000 }), 'pull zstd');
    // the config is busybox's own: same image ID
    expect(r.stdout.trim()).toBe(fixtures().images.busybox.id.replace('sha256:', ''));
    expect(ok(await ctr.run(['run', '--rm', '--network', 'none', ref, 'echo', 'zstd ok'], { timeout: 60_000 }), 'run').stdout).toBe('zstd ok\n');
    const img = (JSON.parse(ok(await ctr.run(['image', 'inspect', ref]), 'inspect').stdout) as { RepoDigests: string[] }[])[0]!;
    expect(img.RepoDigests).toContain(`${reg.host}/zstd/busybox@${good.manifestDigest}`);
    // the zstd blob is kept: a push sends the same bytes and the same manifest
    const dest = `${reg.host}/zstd/again:1`;
    ok(await ctr.run(['push', TLS, ref, dest], { timeout: 120_000 }), 'push zstd');
    const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${dest}`])) as { layers: { mediaType: string; digest: string }[] };
    expect(raw.layers.map((l) => [l.mediaType, l.digest])).toEqual([[ZSTD, good.layerDigest]]);
    const dig = (await skopeo(['inspect', '--format', '{{.Digest}}', '--tls-verify=false', `docker://${dest}`])).trim();
    expect(dig).toBe(good.manifestDigest);
    ok(await ctr.run(['rmi', '-f', ref]), 'rmi');
  });

  it('corrupt zstd data: one clear line, nothing stored', async () => {
    const before = fs.readdirSync(path.join(ctr.root, 'layers')).filter((n) => !n.startsWith('.')).sort();
    const r = await ctr.run(['pull', TLS, `${reg.host}/zstd/bad:latest`], { timeout: 120_000 });
    expect(r.code, describeResult('pull bad zstd', r)).toBe(125);
    const lines = r.stderr.split('\n').filter((l) => l.trim() && !/^(Trying to pull|Getting image source|Copying |Writing manifest)/.test(l));
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^Error: .*(zstd|does not match)/);
    console.log(`zstd/bad (${r.durationMs} ms): ${lines[0]}`);
    expect(fs.readdirSync(path.join(ctr.root, 'layers')).filter((n) => !n.startsWith('.')).sort()).toEqual(before);
    expect(ok(await ctr.run(['images', '-q']), 'images').stdout.trim()).toBe('');
  });
});
