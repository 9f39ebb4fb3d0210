// First end-to-end checks: the binary starts, reports its version, and fails cleanly on a
// bad option. Also checks the harness itself (isolated store, pty helper, fixtures).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeResult, fixturePath, fixtures, run, useCtr, useRegistry } from './lib';

const ctr = useCtr();
const registry = useRegistry({ images: ['busybox'] });

describe('smoke', () => {
  it('ctr version prints the version and exits 0', async () => {
    const r = await ctr.run(['version']);
    expect(r.code, describeResult('ctr version', r)).toBe(0);
    expect(r.stdout).toMatch(/^ctr version \d+\.\d+\.\d+\S*\n$/);
    expect(r.stderr).toBe('');
  });

  it('ctr --bogus exits 125 with one error line and no stack trace', async () => {
    const r = await ctr.run(['--bogus'], { globals: false });
    expect(r.code, describeResult('ctr --bogus', r)).toBe(125);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    // one line naming the problem; a Podman-style "See 'ctr --help'." hint may follow
    const errors = lines.filter((l) => !/^See 'ctr .*--help'\.?$/.test(l));
    expect(errors, r.stderr).toHaveLength(1);
    expect(errors[0]).toMatch(/^Error: .*--bogus/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('ctr version works on a terminal', async () => {
    const r = await ctr.runTty(['version']);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/ctr version \d+\.\d+\.\d+/);
  });

  it('runs with an isolated store and the fixture images at hand', () => {
    expect(ctr.root.startsWith(ctr.dir)).toBe(true);
    expect(ctr.runroot.startsWith(ctr.dir)).toBe(true);
    expect(ctr.env.XDG_DATA_HOME?.startsWith(ctr.dir)).toBe(true);
    const fx = fixtures();
    for (const img of Object.values(fx.images)) {
      for (const f of Object.values(img.files).flat()) expect(fs.existsSync(fixturePath(f)), f).toBe(true);
      expect(img.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    for (const h of Object.values(fx.hostile)) expect(fs.existsSync(fixturePath(h.file)), h.file).toBe(true);
  });

  it('has a local registry with the fixture image (harness check)', async () => {
    expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
    const r = await run(['skopeo', 'inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/busybox:latest`], {
      env: { HOME: registry.dir },
    });
    expect(r.code, describeResult('skopeo inspect', r)).toBe(0);
    const digest = 'sha256:' + crypto.createHash('sha256').update(r.stdout).digest('hex');
    expect(digest).toBe(fixtures().images.busybox.manifestDigest);
  });
});
