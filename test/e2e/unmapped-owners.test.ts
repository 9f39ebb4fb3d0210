// Layer files owned by IDs outside the user's mapping (200000 when the per-user namespace maps
// 0-65536). The kernel refuses such a chown; the file must not stay root's with its set-ID bit
// (a set-UID-root program inside) nor keep file capabilities. Rule (PROTOCOL.md, Layers): the
// unmapped ID becomes the overflow ID 65534 (nobody), set-UID/set-GID bits and the
// security.capability xattr are dropped on that entry, and one note counts them. Each path
// that unpacks archives is covered: `ctr load` (untar from a stream), `ctr pull` from a real
// registry (a small layer: `untar --whole`), `ctr cp` into a running container (cp-in), and the
// vfs driver's copy of the layers (mkrootfs) of that image.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeResult, fixturePath, isRoot, repoRoot, run, uniqueName, useCtr, useRegistry } from './lib';
import { ok } from './checks';
import { python3 } from './paths';

const ctr = useCtr({ images: ['busybox'] });
const reg = useRegistry({ images: [] });
const TLS = '--tls-verify=false';

// A v2 capability set (cap_net_raw, effective): struct vfs_cap_data, little endian.
const CAP_NET_RAW_XATTR = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

// The hostile layer and a docker-archive of busybox + it, built with the fixture builder's
// deterministic tar writer (python tarfile, PAX).
const BUILD = String.raw`
import io, json, sys, tarfile
sys.path.insert(0, sys.argv[1])
import build as fx
busybox_layer, out_layer, out_archive, cap = sys.argv[2], sys.argv[3], sys.argv[4], bytes.fromhex(sys.argv[5])
t = fx.Tar()
t.dir("unmapped")
def f(name, uid, gid, mode, xattrs=None):
    ti = t._info("unmapped/" + name, tarfile.REGTYPE, mode, uid, gid)
    data = b"#!/bin/sh\necho hi\n"
    ti.size = len(data)
    if xattrs:
        ti.pax_headers = {"SCHILY.xattr." + k: v.decode("latin-1") for k, v in xattrs.items()}
    t.tf.addfile(ti, io.BytesIO(data))
f("suid", 200000, 200000, 0o4755)
f("sgid", 0, 300000, 0o2755)
f("cap", 200000, 0, 0o755, {"security.capability": cap})
t.dir("unmapped/dir", 0o2775, 200000, 200000)
ti = t._info("unmapped/link", tarfile.SYMTYPE, 0o777, 4000000000, 200000)
ti.linkname = "suid"
t.tf.addfile(ti)
f("mapped-suid", 1000, 1000, 0o4755)
f("mapped-cap", 0, 0, 0o755, {"security.capability": cap})
layer = t.bytes()
open(out_layer, "wb").write(layer)
base = open(busybox_layer, "rb").read()
img = fx.Image("unmapped", "latest", [base, layer], {"Env": [fx.PATH_ENV], "Cmd": ["sh"]},
               [{"created": fx.CREATED, "created_by": "busybox"}, {"created": fx.CREATED, "created_by": "unmapped owners"}])
fx.write_archive(out_archive, fx.docker_legacy_files([img]))
`;

const STAT = ['stat', '-c', '%n %u:%g %a', '/unmapped/suid', '/unmapped/sgid', '/unmapped/cap', '/unmapped/dir', '/unmapped/link', '/unmapped/mapped-suid', '/unmapped/mapped-cap'];
// IDs outside 0-65536 -> 65534; set-ID bits gone on those entries; mapped ones untouched.
const EXPECTED = [
  '/unmapped/suid 65534:65534 755',
  '/unmapped/sgid 0:65534 755',
  '/unmapped/cap 65534:0 755',
  '/unmapped/dir 65534:65534 775',
  '/unmapped/link 65534:65534 777',
  '/unmapped/mapped-suid 1000:1000 4755',
  '/unmapped/mapped-cap 0:0 755',
].join('\n') + '\n';
const NOTE = /^note: 5 entries are owned by IDs outside this user namespace \(it maps UIDs 0-65536, GIDs 0-65536; first: unmapped\/suid, 200000:200000\): they belong to nobody \(65534\) instead, without set-ID bits or file capabilities$/m;

let layerTar: string;
let archive: string;

/** The file's security.capability, read on the host (python: Node has no getxattr). */
async function capXattr(file: string): Promise<string> {
  const r = await run([python3(), '-c', 'import os,sys\ntry: print(os.getxattr(sys.argv[1], "security.capability").hex())\nexcept OSError as e: print("none" if e.errno == 61 else e)', file]);
  ok(r, 'getxattr');
  return r.stdout.trim();
}

/** The layer directory of the store holding unmapped/NAME (one image in the store). */
function layerFile(name: string): string {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 6) return;
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      const p = path.join(d, e.name);
      if (e.name === 'unmapped' && e.isDirectory() && fs.existsSync(path.join(p, name))) found.push(path.join(p, name));
      else if (e.isDirectory()) walk(p, depth + 1);
    }
  };
  // the unpacked layers only (a vfs container's rootfs is a copy of them elsewhere in the store)
  const layers = path.join(ctr.root, 'layers');
  walk(layers, 0);
  expect(found.length, `unmapped/${name} in ${layers}`).toBe(1);
  return found[0]!;
}

describe.skipIf(isRoot)('layer files owned by IDs outside the user namespace', () => {
  beforeAll(async () => {
    layerTar = path.join(ctr.dir, 'unmapped-layer.tar');
    archive = path.join(ctr.dir, 'unmapped.docker.tar');
    const r = await run([python3(), '-c', BUILD, path.join(repoRoot, 'test', 'fixtures'), fixturePath('layers/busybox-1.tar'), layerTar, archive, CAP_NET_RAW_XATTR.toString('hex')]);
    if (r.code !== 0) throw new Error(describeResult('build the unmapped-owner image', r));
  });

  it('load: unmapped owners become 65534 without set-ID bits or file capabilities, with one note', async () => {
    const r = ok(await ctr.run(['load', '-i', archive]), 'load');
    expect(r.stderr).toMatch(NOTE);
    expect(r.stderr.match(/^note:/gm)?.length).toBe(1);
    const s = ok(await ctr.run(['run', '--rm', 'unmapped', ...STAT]), 'stat');
    expect(s.stdout).toBe(EXPECTED);
    // file capabilities: kept where the owner is the image's, dropped where it was not
    expect(await capXattr(layerFile('mapped-cap'))).not.toBe('none');
    expect(await capXattr(layerFile('cap'))).toBe('none');
    // vfs copies the layers (mkrootfs): the same view
    const v = ok(await ctr.run(['--storage-driver', 'vfs', 'run', '--rm', 'unmapped', ...STAT]), 'stat (vfs)');
    expect(v.stdout).toBe(EXPECTED);
  });

  it('pull from a registry (a small layer: untar --whole): the same rule and note', async () => {
    fs.mkdirSync(path.join(ctr.dir, 'tmp'), { recursive: true });
    const ref = `${reg.host}/hostile/unmapped:latest`;
    const sk = await run(['skopeo', 'copy', '--quiet', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${ref}`], {
      env: { HOME: ctr.dir, XDG_RUNTIME_DIR: path.join(ctr.dir, 'xr'), TMPDIR: path.join(ctr.dir, 'tmp') },
      timeout: 120_000,
    });
    ok(sk, 'skopeo copy');
    await ctr.run(['rmi', '-f', 'unmapped']);
    const p = ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 60_000 }), 'pull');
    expect(p.stderr).toMatch(NOTE);
    const s = ok(await ctr.run(['run', '--rm', ref, ...STAT]), 'stat after pull');
    expect(s.stdout).toBe(EXPECTED);
    ok(await ctr.run(['rmi', '-f', ref]), 'rmi');
  });

  it('cp into a running container: the same rule', async () => {
    const name = uniqueName('unm');
    ok(await ctr.run(['run', '-d', '--name', name, 'busybox', 'sleep', '600']), 'run -d');
    try {
      const r = await ctr.run(['cp', '-', `${name}:/`], { input: fs.readFileSync(layerTar) });
      ok(r, 'cp -');
      const s = ok(await ctr.run(['exec', name, ...STAT]), 'stat in the container');
      expect(s.stdout).toBe(EXPECTED);
    } finally {
      await ctr.run(['rm', '-f', name]);
    }
  });
});
