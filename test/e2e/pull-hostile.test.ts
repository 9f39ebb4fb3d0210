// ctr pull against a registry that lies (test/e2e/hostile-registry.ts): every bad answer ends
// in one clear line, exit 125 and nothing stored, and the next good pull works; transient
// failures (5xx, a dropped connection) are survived; a pull killed with SIGKILL at random
// moments never leaves an image that lists but cannot run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostileRegistry, type HostileRegistry } from './hostile-registry';
import { describeResult, fixtures, useCtr, type CtrEnv, type RunResult } from './lib';
import { imageIds as ids, ok, PULL_PROGRESS, refused as refusedWith, storeEntries as ls, storeState } from './checks';

/** One error line besides the progress lines. */
const refused = (r: RunResult, what: string, pattern?: RegExp) => refusedWith(r, what, pattern, 125, PULL_PROGRESS);

const ctr = useCtr({ env: { CTR_REGISTRY_BACKOFF_MS: '10' } });
let reg: HostileRegistry;
beforeAll(async () => {
  reg = await startHostileRegistry();
}, 60_000);
afterAll(async () => {
  await reg?.stop();
});

const TLS = '--tls-verify=false';

async function removeAll(env: CtrEnv): Promise<void> {
  const all = await ids(env);
  if (all.length) ok(await env.run(['rmi', '-f', ...all]), 'rmi -f all');
}

async function goodPullWorks(): Promise<void> {
  const ref = `${reg.host}/good/busybox`;
  ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 60_000 }), 'good pull');
  expect(ok(await ctr.run(['run', '--rm', ref, 'echo', 'good'], { timeout: 60_000 }), 'run good').stdout).toBe('good\n');
  await removeAll(ctr);
}

describe('hostile registry', () => {
  const cases: [string, RegExp][] = [
    ['bad/blob-digest', /does not match its digest/],
    ['bad/truncated-gzip', /truncated gzip/],
    ['bad/not-json', /not valid JSON/],
    ['bad/schema1', /schema 1/],
    ['bad/huge-config', /claims 4\.0GiB/],
    ['bad/huge-layer', /4294967296|bytes|length/i],
    ['bad/disk-size', /free/],
    ['bad/redirect-loop', /redirect/i],
    ['bad/platform', /no image for linux\/\w+ .*available: linux\/s390x, linux\/mips64le/],
    ['bad/nosuchrepo', /manifest unknown|name unknown|not known/i],
  ];
  for (const [repo, pattern] of cases) {
    it(`${repo}: one clear line, nothing stored, the next pull works`, async () => {
      await removeAll(ctr);
      const before = storeState(ctr);
      const r = await ctr.run(['pull', TLS, `${reg.host}/${repo}`], { timeout: 120_000 });
      refused(r, `pull ${repo}`, pattern);
      console.log(`${repo} (${r.durationMs} ms): ${r.stderr.trim().split('\n').pop()}`);
      expect(storeState(ctr)).toEqual(before);
      expect(await ids(ctr)).toEqual([]);
      await goodPullWorks();
    });
  }

  it('a layer with ../ names writes nothing outside its layer', async () => {
    await removeAll(ctr);
    const h = fixtures().hostile.traversal;
    for (const p of h.escapes) fs.rmSync(p, { force: true });
    const r = await ctr.run(['pull', TLS, `${reg.host}/bad/traversal`], { timeout: 60_000 });
    expect([0, 125]).toContain(r.code);
    if (r.code === 125) refused(r, 'traversal');
    for (const p of h.escapes) expect(fs.existsSync(p), p).toBe(false);
    await removeAll(ctr);
    await goodPullWorks();
  });

  it('a layer with hard links out of the layer is refused, the target untouched', async () => {
    await removeAll(ctr);
    const target = '/tmp/ctr-hostile-hardlink-target';
    let mine = false;
    try {
      fs.writeFileSync(target, 'original\n', { flag: 'wx' });
      mine = true;
    } catch {
      /* another test file made it: only check what we can */
    }
    const before = storeState(ctr);
    refused(await ctr.run(['pull', TLS, `${reg.host}/bad/hardlink`], { timeout: 60_000 }), 'hardlink');
    expect(storeState(ctr)).toEqual(before);
    if (mine) {
      expect(fs.readFileSync(target, 'utf8')).toBe('original\n');
      expect(fs.statSync(target).nlink).toBe(1);
      fs.rmSync(target, { force: true });
    }
    await goodPullWorks();
  });

  it('a layer claiming more bytes than it has fails fast at the default backoff (a resume that brings nothing ends the pull)', async () => {
    await removeAll(ctr);
    reg.requests.length = 0;
    const before = storeState(ctr);
    const r = await ctr.run(['pull', TLS, `${reg.host}/bad/huge-layer`], { timeout: 60_000, env: { CTR_REGISTRY_BACKOFF_MS: undefined } });
    refused(r, 'huge-layer at the default backoff', /ended after \d+ of 4294967296 bytes/);
    // was 14 s (six resumes backing off up to 5 s each)
    expect(r.durationMs).toBeLessThan(5_000);
    const [layer] = reg.layerDigests('bad/huge-layer');
    expect(reg.requests.filter((q) => q.method === 'GET' && q.path.endsWith(`/blobs/${layer}`)).length).toBeLessThanOrEqual(2);
    expect(storeState(ctr)).toEqual(before);
  });

  it("a registry's scheme and auth challenge are remembered between pulls; a wrong memory is corrected", async () => {
    const cache = path.join(ctr.runroot, 'registry-hosts.json');
    const key = `${reg.host}|i`;
    const pings = () => reg.requests.filter((q) => q.path === '/v2/' || q.path === '/v2').length;
    const pullGood = async (what: string) => {
      await removeAll(ctr);
      reg.requests.length = 0;
      ok(await ctr.run(['pull', '-q', TLS, `${reg.host}/good/busybox`], { timeout: 60_000 }), what);
    };
    fs.rmSync(cache, { force: true });
    await pullGood('first pull');
    expect(pings()).toBe(1);
    const j = JSON.parse(fs.readFileSync(cache, 'utf8')) as Record<string, { base: string; challenge: unknown }>;
    expect(j[key]).toMatchObject({ base: `http://${reg.host}`, challenge: null });
    expect(fs.statSync(cache).mode & 0o077).toBe(0);
    // the next pull asks nothing of /v2/ (and makes no https attempt)
    await pullGood('second pull');
    expect(pings()).toBe(0);
    // a memory that no longer holds (https for this plain-HTTP registry): pinged again, corrected
    j[key]!.base = `https://${reg.host}`;
    fs.writeFileSync(cache, JSON.stringify(j));
    await pullGood('pull with a wrong memory');
    expect(pings()).toBe(1);
    expect((JSON.parse(fs.readFileSync(cache, 'utf8')) as typeof j)[key]!.base).toBe(`http://${reg.host}`);
    // a corrupt file is only a ping
    fs.writeFileSync(cache, '{not json');
    await pullGood('pull with a corrupt memory');
    expect(pings()).toBe(1);
    await removeAll(ctr);
  });

  it('5xx answers are retried', async () => {
    await removeAll(ctr);
    reg.requests.length = 0;
    const ref = `${reg.host}/flaky/busybox`;
    ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 120_000 }), 'flaky pull');
    const [layer] = reg.layerDigests('flaky/busybox');
    expect(reg.requests.filter((q) => q.method === 'GET' && q.path.endsWith(`/blobs/${layer}`)).length).toBeGreaterThanOrEqual(3);
    expect(ok(await ctr.run(['run', '--rm', ref, 'echo', 'flaky'], { timeout: 60_000 }), 'run').stdout).toBe('flaky\n');
  });

  it('a connection dropped in the middle of a blob resumes with a Range request', async () => {
    await removeAll(ctr);
    reg.requests.length = 0;
    const ref = `${reg.host}/drop/busybox`;
    ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 120_000 }), 'pull with a drop');
    const [layer] = reg.layerDigests('drop/busybox');
    const gets = reg.requests.filter((q) => q.method === 'GET' && q.path.endsWith(`/blobs/${layer}`));
    expect(gets.length).toBeGreaterThanOrEqual(2);
    expect(gets.some((q) => /^bytes=[1-9]\d*-/.test(q.range ?? ''))).toBe(true);
    expect(ok(await ctr.run(['run', '--rm', ref, 'echo', 'resumed'], { timeout: 60_000 }), 'run').stdout).toBe('resumed\n');
  });

  it('an image already present costs no blob download', async () => {
    await removeAll(ctr);
    const ref = `${reg.host}/good/layered`;
    ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 60_000 }), 'first pull');
    reg.requests.length = 0;
    ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 60_000 }), 'second pull');
    expect(reg.requests.filter((q) => q.path.includes('/blobs/'))).toEqual([]);
  });
});

describe('SIGKILL during pull', () => {
  it('20 pulls killed at random moments: never an image that lists but cannot run; the next pull completes', async () => {
    await removeAll(ctr);
    reg.slowBytesPerSec = 1 << 20;
    const ref = `${reg.host}/slow/layered`;
    // how long one pull takes, to spread the kills over it
    const t0 = Date.now();
    ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 120_000 }), 'timing pull');
    const span = Math.max(300, Date.now() - t0);
    await removeAll(ctr);
    const id = reg.configDigest('slow/layered');
    let listedAfterKill = 0;
    for (let trial = 0; trial < 20; trial++) {
      const p = ctr.spawn(['pull', '-q', TLS, ref]);
      p.closeStdin();
      const delay = Math.floor(Math.random() * span * 1.3);
      await new Promise((r) => setTimeout(r, delay));
      p.kill('SIGKILL');
      await p.wait(30_000);
      const listed = await ids(ctr);
      if (listed.length) {
        listedAfterKill++;
        expect(listed).toEqual([id]);
        const r = await ctr.run(['run', '--rm', ref, 'cat', '/etc/motd'], { timeout: 60_000 });
        expect(r.code, `trial ${trial} (kill after ${delay} ms): ${describeResult('run after kill', r)}`).toBe(0);
        expect(r.stdout).toBe('layered fixture image: layer 3\n');
        await removeAll(ctr); // the next trial starts without the image, on top of whatever the kills left
      }
    }
    // the next pull completes and cleans up after the killed ones
    await removeAll(ctr);
    ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 120_000 }), 'pull after kills');
    expect(ok(await ctr.run(['run', '--rm', ref, 'cat', '/etc/motd'], { timeout: 60_000 }), 'run').stdout).toBe('layered fixture image: layer 3\n');
    const st = storeState(ctr);
    expect(st.layers.filter((n) => n.startsWith('.'))).toEqual([]);
    expect(st.blobs.filter((n) => n.startsWith('.'))).toEqual([]);
    expect(st.leases).toEqual([]);
    expect(st.tmp).toEqual([]);
    console.log(`SIGKILL trials: 20, image listed after the kill in ${listedAfterKill}`);
  }, 600_000);
});
