// ctr commit: a container's changes (added, modified, deleted files) become a new image on
// top of its image: -m/-a/-c, the container's command as the new CMD, history, --pause of a
// running container, dangling commits, shared base layers, bad input.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCtrEnv, describeResult, fixtures, uniqueName, useCtr, waitFor } from './lib';
import { ok, refused } from './checks';

const ctr = useCtr({ images: ['busybox'] });

async function inspect(ref: string): Promise<Record<string, any>> {
  return JSON.parse(ok(await ctr.run(['image', 'inspect', ref]), `inspect ${ref}`).stdout)[0];
}

const layerDirs = () => fs.readdirSync(path.join(ctr.root, 'layers')).filter((n) => /^[0-9a-f]{64}$/.test(n));

describe('commit', () => {
  it('records added, modified and deleted files, -m, -a and -c CMD; the base layer is shared', async () => {
    const name = uniqueName('c');
    ok(
      await ctr.run(['run', '--name', name, 'busybox', 'sh', '-c', 'echo added > /added.txt; echo extra-line >> /etc/passwd; rm /bin/vi; mkdir -p /new/dir; echo deep > /new/dir/f']),
      'run',
    );
    const layersBefore = layerDirs();
    const r = ok(await ctr.run(['commit', '-m', 'my commit message', '-a', 'Jane Doe <jane@example.com>', '-c', 'CMD ["cat", "/added.txt"]', '-c', 'ENV COMMITTED=yes', name, 'committed:v1']), 'commit');
    const id = r.stdout.trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    // one new layer dir; the base layer is the busybox one (stored once)
    const layersAfter = layerDirs();
    expect(layersAfter.length).toBe(layersBefore.length + 1);
    for (const l of layersBefore) expect(layersAfter).toContain(l);

    const x = await inspect('committed:v1');
    const base = fixtures().images.busybox;
    expect(x.Id).toBe(id);
    expect(x.RepoTags).toEqual(['docker.io/library/committed:v1']);
    expect(x.Author).toBe('Jane Doe <jane@example.com>');
    expect(x.Comment).toBe('my commit message');
    expect(x.Parent).toBe(base.id);
    expect(x.Config.Cmd).toEqual(['cat', '/added.txt']);
    expect(x.Config.Env).toContain('COMMITTED=yes');
    expect(x.Config.Env.some((e: string) => e.startsWith('HOSTNAME='))).toBe(false);
    expect(x.RootFS.Layers.slice(0, base.diffIds.length)).toEqual(base.diffIds);
    expect(x.RootFS.Layers).toHaveLength(base.diffIds.length + 1);

    // the new image runs with the changes and the CMD
    expect(ok(await ctr.run(['run', '--rm', 'committed:v1']), 'run committed').stdout).toBe('added\n');
    const check = await ctr.run(['run', '--rm', 'committed:v1', 'sh', '-c', 'tail -n1 /etc/passwd; cat /new/dir/f; test -e /bin/vi && echo vi-present || echo vi-gone; echo $COMMITTED']);
    expect(check.stdout, describeResult('run check', check)).toBe('extra-line\ndeep\nvi-gone\nyes\n');
    // the base image is untouched
    const b = await ctr.run(['run', '--rm', 'busybox', 'sh', '-c', 'test -e /bin/vi && echo vi-present; test -e /added.txt || echo no-added']);
    expect(b.stdout).toBe('vi-present\nno-added\n');

    // history: newest first, with the message and the container's command
    const h = ok(await ctr.run(['history', '--no-trunc', '--format', '{{.Comment}}|{{.CreatedBy}}', 'committed:v1']), 'history');
    const first = h.stdout.split('\n')[0]!;
    expect(first).toMatch(/^my commit message\|sh -c echo added/);
    ok(await ctr.run(['rm', name]), 'rm');
  });

  it('ctr-made mount points (/etc/hosts & co.) are not part of the commit', async () => {
    const name = uniqueName('c');
    ok(await ctr.run(['run', '--name', name, 'busybox', 'true']), 'run');
    const id = ok(await ctr.run(['commit', name]), 'commit').stdout.trim();
    const x = await inspect(id);
    // nothing changed: no new layer, an empty_layer history entry
    expect(x.RootFS.Layers).toEqual(fixtures().images.busybox.diffIds);
    expect(x.History[x.History.length - 1].empty_layer).toBe(true);
    // the container's command is the new image's command (as Docker commits it)
    expect(x.Config.Cmd).toEqual(['true']);
    ok(await ctr.run(['rm', name]), 'rm');
  });

  it('commits a running container, pausing it meanwhile (and leaves it running), --pause=false too', async () => {
    const name = uniqueName('c');
    // the counter is replaced by a rename: a read never sees it truncated and empty
    ok(await ctr.run(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /counter.new; mv /counter.new /counter; sleep 0.05; done']), 'run -d');
    await waitFor(async () => (await ctr.run(['exec', name, 'cat', '/counter'])).stdout.trim() !== '', { what: 'counter' });
    const id = ok(await ctr.run(['commit', '-q', name, 'snap:1']), 'commit running').stdout.trim();
    expect(id).toMatch(/^sha256:/);
    const st = JSON.parse(ok(await ctr.run(['inspect', name]), 'inspect').stdout)[0].State;
    expect(st.Status).toBe('running');
    expect(st.Paused).toBe(false);
    // it keeps working after the commit
    const a = Number((await ctr.run(['exec', name, 'cat', '/counter'])).stdout);
    await new Promise((r) => setTimeout(r, 400));
    const b = Number((await ctr.run(['exec', name, 'cat', '/counter'])).stdout);
    expect(b).toBeGreaterThan(a);
    const c = await ctr.run(['run', '--rm', '--entrypoint', 'cat', 'snap:1', '/counter']);
    expect(Number(c.stdout), describeResult('counter in image', c)).toBeGreaterThan(0);
    ok(await ctr.run(['commit', '--pause=false', name, 'snap:2']), 'commit --pause=false');
    expect((await inspect('snap:2')).Config.Cmd[0]).toBe('sh');
    ok(await ctr.run(['rm', '-f', name]), 'rm -f');
  });

  it('without a name the image is dangling (<none>) and image prune removes it', async () => {
    const name = uniqueName('c');
    ok(await ctr.run(['run', '--name', name, 'busybox', 'sh', '-c', 'echo x > /x']), 'run');
    const id = ok(await ctr.run(['commit', name]), 'commit').stdout.trim();
    const rows = ok(await ctr.run(['images', '--no-trunc', '--format', '{{.ID}} {{.Repository}} {{.Tag}}']), 'images').stdout;
    expect(rows).toContain(`${id} <none> <none>`);
    ok(await ctr.run(['rm', name]), 'rm');
    const p = ok(await ctr.run(['image', 'prune', '-f']), 'prune');
    expect(p.stdout).toContain(id.slice(7));
    refused(await ctr.run(['image', 'inspect', id]), 'inspect pruned', /no such image/);
  });

  it('container commit and --format docker record a Docker manifest type', async () => {
    const name = uniqueName('c');
    ok(await ctr.run(['run', '--name', name, 'busybox', 'sh', '-c', 'echo d > /d']), 'run');
    ok(await ctr.run(['container', 'commit', '--format', 'docker', name, 'dockerfmt:1']), 'container commit');
    const root = ctr.root;
    const id = (await inspect('dockerfmt:1')).Id.slice(7);
    const meta = JSON.parse(fs.readFileSync(path.join(root, 'images', id, 'image.json'), 'utf8'));
    expect(meta.manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    ok(await ctr.run(['rm', name]), 'rm');
  });

  it('refuses an unknown container, a bad --change, a bad name, leaving nothing behind', async () => {
    const before = ok(await ctr.run(['images', '-aq']), 'images').stdout;
    refused(await ctr.run(['commit', 'no-such-container-xyz', 'x:1']), 'unknown', /no such container: no-such-container-xyz/);
    const name = uniqueName('c');
    ok(await ctr.run(['run', '--name', name, 'busybox', 'sh', '-c', 'echo x > /x']), 'run');
    refused(await ctr.run(['commit', '-c', 'FROB x', name, 'x:1']), 'bad change', /FROB is not supported/);
    refused(await ctr.run(['commit', name, 'UPPER/Case']), 'bad name', /invalid reference|repository name must be lowercase/i);
    refused(await ctr.run(['commit', '--pause=maybe', name]), 'bad pause', /--pause/);
    expect(ok(await ctr.run(['images', '-aq']), 'images').stdout).toBe(before);
    const tmp = fs.readdirSync(path.join(ctr.root, 'layers')).filter((n) => n.startsWith('.tmp-'));
    expect(tmp).toEqual([]);
    ok(await ctr.run(['rm', name]), 'rm');
  });

  it('with the vfs driver: the copy compared with its layers gives the changes overlay gives; commit and diff work', async () => {
    const vfs = createCtrEnv({ globalArgs: ['--storage-driver', 'vfs'] });
    try {
      await vfs.load('busybox');
      const script = [
        'echo added > /added.txt', 'echo extra-line >> /etc/passwd', 'rm /bin/vi', 'mkdir -p /new/dir', 'echo deep > /new/dir/f',
        'chmod 0600 /etc/group', 'ln -s /nowhere /link', 'rm -r /root', 'touch /etc/hostname',
      ].join('; ');
      const a = uniqueName('c');
      const b = uniqueName('c');
      ok(await ctr.run(['run', '--name', a, 'busybox', 'sh', '-c', script]), 'run (default driver)');
      ok(await vfs.run(['run', '--name', b, 'busybox', 'sh', '-c', script]), 'run (vfs)');
      const want = ok(await ctr.run(['diff', a]), 'diff (default driver)').stdout;
      const got = ok(await vfs.run(['diff', b]), 'diff (vfs)').stdout;
      expect(got).toBe(want);
      expect(got).toContain('A /added.txt\n');
      expect(got).toContain('D /bin/vi\n');
      expect(got).toContain('C /etc/group\n');
      // committed: a new layer of those changes on the shared base
      ok(await vfs.run(['commit', b, 'vfs:1']), 'commit (vfs)');
      const x = JSON.parse(ok(await vfs.run(['image', 'inspect', 'vfs:1']), 'inspect').stdout)[0];
      expect(x.RootFS.Layers).toHaveLength(fixtures().images.busybox.diffIds.length + 1);
      const check = await vfs.run(['run', '--rm', 'vfs:1', 'sh', '-c',
        'cat /added.txt; tail -n1 /etc/passwd; cat /new/dir/f; test -e /bin/vi || echo vi-gone; test -e /root || echo root-gone; stat -c %a /etc/group; readlink /link']);
      expect(check.stdout, describeResult('run vfs:1', check)).toBe('added\nextra-line\ndeep\nvi-gone\nroot-gone\n600\n/nowhere\n');
      // nothing changed: no layer
      const c = uniqueName('c');
      ok(await vfs.run(['run', '--name', c, 'busybox', 'true']), 'run true (vfs)');
      expect(ok(await vfs.run(['diff', c]), 'diff (vfs, nothing changed)').stdout).toBe('');
      const id = ok(await vfs.run(['commit', c]), 'commit (vfs, nothing changed)').stdout.trim();
      expect(JSON.parse(ok(await vfs.run(['image', 'inspect', id]), 'inspect').stdout)[0].RootFS.Layers).toEqual(fixtures().images.busybox.diffIds);
      ok(await ctr.run(['rm', a]), 'rm');
    } finally {
      await vfs.cleanup();
    }
  });
});
