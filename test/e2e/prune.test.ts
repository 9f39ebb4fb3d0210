// image prune (dangling vs -a vs images in use), rmi -f $(ctr images -aq), and layers shared
// by several images: stored once, kept while one image uses them, gone with the last one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtures, uniqueName, useCtr } from './lib';
import { ok } from './checks';

const ctr = useCtr();

function ls(sub: string): string[] {
  try {
    return fs
      .readdirSync(path.join(ctr.root, sub))
      .filter((n) => /^[0-9a-f]{64}$/.test(n))
      .sort();
  } catch {
    return [];
  }
}

async function imageIds(all = true): Promise<string[]> {
  const r = ok(await ctr.run(['images', all ? '-aq' : '-q', '--no-trunc']), 'images');
  return r.stdout.split('\n').filter(Boolean).sort();
}

async function reset(): Promise<void> {
  const ps = ok(await ctr.run(['ps', '-aq']), 'ps').stdout.split('\n').filter(Boolean);
  if (ps.length) ok(await ctr.run(['rm', '-f', ...ps]), 'rm -f');
  const ids = await imageIds();
  if (ids.length) ok(await ctr.run(['rmi', '-f', ...ids]), 'rmi -f');
  expect(ls('layers')).toEqual([]);
  expect(ls('blobs/sha256')).toEqual([]);
}

/** A dangling image made by committing a small change on busybox. */
async function danglingCommit(): Promise<string> {
  const name = uniqueName('p');
  ok(await ctr.run(['run', '--name', name, 'busybox', 'sh', '-c', `echo ${name} > /mark`]), 'run');
  const id = ok(await ctr.run(['commit', name]), 'commit').stdout.trim();
  ok(await ctr.run(['rm', name]), 'rm');
  return id;
}

describe('image prune', () => {
  it('without -a removes only dangling images no container uses', async () => {
    await reset();
    await ctr.load(['busybox', 'layered']);
    const d1 = await danglingCommit();
    const d2 = await danglingCommit();
    // d2 is used by a (stopped) container: it stays
    const user = ok(await ctr.run(['create', d2, 'true']), 'create').stdout.trim();
    const r = ok(await ctr.run(['image', 'prune', '-f']), 'prune');
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([d1.slice(7)]);
    const left = await imageIds();
    expect(left).toContain(d2);
    expect(left).not.toContain(d1);
    expect(left).toContain(fixtures().images.busybox.id);
    expect(left).toContain(fixtures().images.layered.id);
    // the container still starts from it
    expect(ok(await ctr.run(['start', '-a', user]), 'start').code).toBe(0);
    ok(await ctr.run(['rm', user]), 'rm');
    expect(ok(await ctr.run(['image', 'prune', '-f']), 'prune again').stdout.trim()).toBe(d2.slice(7));
  });

  it('-a removes every image no container uses; images of running and stopped containers stay', async () => {
    await reset();
    await ctr.load(['busybox', 'layered']);
    const d = await danglingCommit();
    const running = uniqueName('p');
    ok(await ctr.run(['run', '-d', '--name', running, 'layered', 'sleep 60']), 'run -d layered');
    const stopped = ok(await ctr.run(['create', d, 'true']), 'create').stdout.trim();
    const r = ok(await ctr.run(['image', 'prune', '-a', '-f']), 'prune -a');
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([fixtures().images.busybox.id.slice(7)]);
    expect(await imageIds()).toEqual([d, fixtures().images.layered.id].sort());
    // layers: busybox's layer is layered's base and d's base: still there, stored once
    expect(ls('layers')).toHaveLength(3 + 1);
    ok(await ctr.run(['exec', running, 'cat', '/data/a.txt']), 'running container unaffected');
    ok(await ctr.run(['rm', '-f', running, stopped]), 'rm');
    ok(await ctr.run(['image', 'prune', '-a', '-f']), 'prune -a');
    expect(await imageIds()).toEqual([]);
    expect(ls('layers')).toEqual([]);
    expect(ls('blobs/sha256')).toEqual([]);
  });

  it('asks before pruning unless -f; "n" keeps everything', async () => {
    await reset();
    await ctr.load('busybox');
    const d = await danglingCommit();
    const r = ok(await ctr.run(['image', 'prune'], { input: 'n\n' }), 'prune, answer n');
    expect(r.stderr).toMatch(/Are you sure/);
    expect(await imageIds()).toContain(d);
    ok(await ctr.run(['image', 'prune'], { input: 'y\n' }), 'prune, answer y');
    expect(await imageIds()).not.toContain(d);
  });
});

describe('shared layers', () => {
  it('two images sharing a base: rmi one, the other still runs; rmi the other, layer dirs and blobs are gone', async () => {
    await reset();
    await ctr.load(['busybox']);
    const c = uniqueName('p');
    ok(await ctr.run(['run', '--name', c, 'busybox', 'sh', '-c', 'echo child > /child.txt']), 'run');
    ok(await ctr.run(['commit', c, 'child:1']), 'commit');
    ok(await ctr.run(['rm', c]), 'rm');
    const base = fixtures().images.busybox;
    // the base layer is stored once, under its chain ID
    expect(ls('layers')).toHaveLength(2);
    expect(ls('layers')).toContain(base.diffIds[0]!.slice(7));
    ok(await ctr.run(['rmi', 'busybox']), 'rmi busybox');
    expect(ls('layers')).toHaveLength(2);
    const r = ok(await ctr.run(['run', '--rm', 'child:1', 'sh', '-c', 'cat /child.txt; ls /bin/busybox']), 'child still runs');
    expect(r.stdout).toBe('child\n/bin/busybox\n');
    ok(await ctr.run(['rmi', 'child:1']), 'rmi child');
    expect(ls('layers')).toEqual([]);
    expect(ls('blobs/sha256')).toEqual([]);
    expect(fs.readdirSync(path.join(ctr.root, 'layers')).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('rmi -f $(ctr images -aq) with a container using an image: exit 0, the image stays for the container until it goes', async () => {
    await reset();
    await ctr.load(['busybox', 'layered']);
    const cid = ok(await ctr.run(['create', 'layered', 'cat /data/a.txt']), 'create').stdout.trim();
    const all = await imageIds();
    const r = ok(await ctr.run(['rmi', '-f', ...all]), 'rmi -f all');
    expect(r.stdout).toContain(`Deleted: ${fixtures().images.busybox.id.slice(7)}`);
    expect(r.stdout).toContain('Untagged: docker.io/library/layered:latest');
    expect(await imageIds()).toEqual([fixtures().images.layered.id]);
    const s = ok(await ctr.run(['start', '-a', cid]), 'container still starts');
    expect(s.stdout).toBe('a from layer 2\n');
    ok(await ctr.run(['rm', cid]), 'rm');
    ok(await ctr.run(['rmi', '-f', ...(await imageIds())]), 'rmi -f the rest');
    expect(ls('layers')).toEqual([]);
    expect(ls('blobs/sha256')).toEqual([]);
  });
});
