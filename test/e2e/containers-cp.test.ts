// ctr cp: both directions, Docker's path rules, `-` tar streams, running and stopped containers
// (all three storage drivers), symlinks resolved inside the container, `..`, ownership, errors.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCtrEnv, describeResult, isRoot, run, uniqueName, useCtr, type CtrEnv } from './lib';
import { lines, ok, refused, runDetached } from './containers-util';

const ctr = useCtr({ images: ['busybox'] });

let box = ''; // running
let stopped = ''; // created, never started
let work = '';
beforeAll(async () => {
  box = uniqueName('cp-run');
  stopped = uniqueName('cp-stop');
  await runDetached(ctr, ['--name', box, '--network', 'none', 'busybox', 'sleep', '600']);
  ok(await ctr.run(['create', '--name', stopped, '--network', 'none', 'busybox', 'true']), 'create');
  work = path.join(ctr.dir, 'cpwork');
  fs.mkdirSync(path.join(work, 'tree/sub'), { recursive: true });
  fs.writeFileSync(path.join(work, 'tree/top.txt'), 'top\n');
  fs.writeFileSync(path.join(work, 'tree/sub/deep.txt'), 'deep\n');
  fs.chmodSync(path.join(work, 'tree/sub/deep.txt'), 0o640);
  fs.symlinkSync('top.txt', path.join(work, 'tree/rel-link'));
  fs.writeFileSync(path.join(work, 'one.txt'), 'one\n');
}, 60_000);
afterAll(async () => {
  await ctr.run(['rm', '-f', box, stopped]);
});

const cp = (args: string[], opts: { input?: Buffer } = {}) => ctr.run(['cp', ...args], opts);
const sh = async (c: string, ref = box) => ok(await ctr.run(['exec', ref, 'sh', '-c', c]), `exec ${c}`).stdout;
const host = (...p: string[]) => path.join(work, ...p);
const fresh = (name: string) => {
  const d = host(name);
  fs.mkdirSync(d);
  return d;
};
/** `tar -tv` of an archive, as "TYPE NAME" lines. */
const tarList = (file: string) =>
  lines(execFileSync('tar', ['-tvf', file], { encoding: 'utf8' })).map((l) => `${l[0]} ${l.split(/\s+/).slice(5).join(' ')}`);

describe('cp host -> container', () => {
  it('a file into an existing directory, to a new name, and over an existing file; root-owned', async () => {
    ok(await cp([host('one.txt'), `${box}:/tmp`]), 'cp file dir');
    ok(await cp([host('one.txt'), `${box}:/tmp/renamed.txt`]), 'cp file newname');
    ok(await cp([host('tree/top.txt'), `${box}:/tmp/one.txt`]), 'cp file over file');
    expect(await sh('cat /tmp/one.txt /tmp/renamed.txt; stat -c "%u:%g %a" /tmp/renamed.txt')).toBe('top\none\n0:0 644\n');
  });

  it('a directory: new name gets the contents, existing dir gets it inside, /. gets the contents', async () => {
    ok(await cp([host('tree'), `${box}:/srv-new`]), 'cp dir new');
    await sh('mkdir -p /opt');
    ok(await cp([host('tree'), `${box}:/opt`]), 'cp dir into');
    await sh('mkdir /merge && chmod 700 /merge');
    ok(await cp([`${host('tree')}/.`, `${box}:/merge`]), 'cp dir/. into');
    const out = await sh('cd /srv-new && find . | sort; cat /opt/tree/sub/deep.txt; ls /merge | sort; stat -c "%a %u" /merge /opt/tree/sub/deep.txt; readlink /opt/tree/rel-link');
    expect(out).toBe(['.', './rel-link', './sub', './sub/deep.txt', './top.txt', 'deep', 'rel-link', 'sub', 'top.txt', '700 0', '640 0', 'top.txt', ''].join('\n'));
  });

  it('sees the change inside the running container at once, and lands in a stopped one', async () => {
    ok(await cp([host('one.txt'), `${stopped}:/root/`]), 'cp into stopped');
    ok(await cp([`${stopped}:/root/one.txt`, host('back-from-stopped.txt')]), 'cp out of stopped');
    expect(fs.readFileSync(host('back-from-stopped.txt'), 'utf8')).toBe('one\n');
    const r = ok(await ctr.run(['start', '-a', stopped]), 'start');
    expect(r.code).toBe(0);
    // the file is in the container's writable layer: `diff` lists it
    expect(ok(await ctr.run(['diff', stopped]), 'diff').stdout).toMatch(/^A \/root\/one\.txt$/m);
  });

  it('-a keeps the uid/gid; without it everything is root:root', async () => {
    const uid = process.getuid!();
    await sh('mkdir -p /keep');
    ok(await cp(['-a', host('tree'), `${box}:/keep`]), 'cp -a');
    expect(await sh('stat -c "%u:%g" /keep/tree/sub/deep.txt')).toBe(`${uid}:${process.getgid!()}\n`);
    expect(await sh('stat -c "%u:%g" /opt/tree/sub/deep.txt')).toBe('0:0\n');
  });

  it('- unpacks a tar from stdin into an existing directory, and nothing else', async () => {
    const tar = execFileSync('tar', ['-C', work, '-cf', '-', 'one.txt', 'tree']);
    await sh('mkdir -p /from-stdin');
    ok(await cp(['-', `${box}:/from-stdin`], { input: tar }), 'cp - dir');
    expect(await sh('ls /from-stdin | sort; cat /from-stdin/tree/sub/deep.txt')).toBe('one.txt\ntree\ndeep\n');
    refused(await cp(['-', `${box}:/etc/passwd`], { input: tar }), 'cp - onto file', /must be an existing directory/, 1);
    refused(await cp(['-', `${box}:/no-such-dir`], { input: tar }), 'cp - missing', /must be an existing directory/, 1);
  });

  it('a destination symlink to an absolute path is resolved inside the container', async () => {
    await sh('mkdir -p /target && ln -s /target /tmp/abs-link && ln -s ../../../../../../etc /tmp/climb');
    ok(await cp([host('one.txt'), `${box}:/tmp/abs-link`]), 'cp into abs link');
    expect(await sh('cat /target/one.txt')).toBe('one\n');
    // a symlink climbing with .. stops at the container's root: /etc of the container
    ok(await cp([host('one.txt'), `${box}:/tmp/climb/cp-test-marker`]), 'cp through climbing link');
    expect(await sh('cat /etc/cp-test-marker')).toBe('one\n');
    expect(fs.existsSync('/etc/cp-test-marker')).toBe(false);
    ok(await cp([host('one.txt'), `${box}:../../../../tmp/dotdot.txt`]), 'cp ..');
    expect(await sh('cat /tmp/dotdot.txt')).toBe('one\n');
  });

  it('refuses a directory onto a file, a file into a missing dir/, a missing parent, a missing source', async () => {
    refused(await cp([host('tree'), `${box}:/etc/passwd`]), 'dir onto file', /cannot copy a directory onto the file/, 1);
    refused(await cp([host('one.txt'), `${box}:/no/such/`]), 'file into missing dir/', /does not exist/, 1);
    refused(await cp([host('one.txt'), `${box}:/no/such/file`]), 'missing parent', /\/no\/such does not exist/, 1);
    refused(await cp([host('missing.txt'), `${box}:/tmp`]), 'missing source', /no such file or directory/, 1);
    await sh('mkdir -p /clash/one.txt');
    refused(await cp([host('one.txt'), `${box}:/clash`]), 'file over dir', /cannot overwrite directory/, 1);
    expect(await sh('test -d /clash/one.txt && echo kept')).toBe('kept\n');
  });
});

describe('cp container -> host', () => {
  it('a file into a directory, to a new name, over a file; owned by the invoking user', async () => {
    const d = fresh('out1');
    ok(await cp([`${box}:/etc/passwd`, d]), 'cp file into dir');
    ok(await cp([`${box}:/etc/group`, path.join(d, 'g')]), 'cp file new name');
    fs.writeFileSync(path.join(d, 'over'), 'old contents that are longer\n');
    ok(await cp([`${box}:/etc/hostname`, path.join(d, 'over')]), 'cp over file');
    expect(fs.readFileSync(path.join(d, 'passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
    expect(fs.readFileSync(path.join(d, 'g'), 'utf8')).toMatch(/^root:x:0:/);
    expect(fs.readFileSync(path.join(d, 'over'), 'utf8').trim()).toBe((await sh('cat /etc/hostname')).trim());
    for (const f of ['passwd', 'g', 'over']) expect(fs.statSync(path.join(d, f)).uid).toBe(process.getuid!());
  });

  it('a directory: to a new name, into an existing dir, and /. contents into an existing dir', async () => {
    await sh('mkdir -p /data/sub && echo a > /data/a && echo b > /data/sub/b && ln -s /etc/passwd /data/abs-link && chown -R 1000:1000 /data');
    const d = fresh('out2');
    ok(await cp([`${box}:/data`, path.join(d, 'newname')]), 'cp dir new');
    ok(await cp([`${box}:/data`, d]), 'cp dir into');
    fs.mkdirSync(path.join(d, 'contents'));
    ok(await cp([`${box}:/data/.`, path.join(d, 'contents')]), 'cp dir/. into');
    for (const t of ['newname', 'data', 'contents']) {
      expect(fs.readdirSync(path.join(d, t)).sort(), t).toEqual(['a', 'abs-link', 'sub']);
      expect(fs.readFileSync(path.join(d, t, 'sub/b'), 'utf8')).toBe('b\n');
      expect(fs.readlinkSync(path.join(d, t, 'abs-link'))).toBe('/etc/passwd');
      expect(fs.lstatSync(path.join(d, t, 'sub/b')).uid).toBe(process.getuid!());
    }
  });

  it('-a keeps the container owner (as the sub-ID it maps to)', async () => {
    const d = fresh('out-a');
    ok(await cp(['-a', `${box}:/data/a`, d]), 'cp -a out');
    const st = fs.statSync(path.join(d, 'a'));
    if (isRoot) expect(st.uid).toBe(1000);
    else expect(st.uid).not.toBe(process.getuid!());
    // without -a: the invoking user
    ok(await cp([`${box}:/data/a`, path.join(d, 'b')]), 'cp out');
    expect(fs.statSync(path.join(d, 'b')).uid).toBe(process.getuid!());
  });

  it('a symlink in the container is copied as a link; -L copies what it points to, in the container', async () => {
    const d = fresh('out3');
    await sh('echo container-secret > /secret && ln -s /secret /tmp/to-secret && ln -s ../../../../secret /tmp/climb-secret');
    ok(await cp([`${box}:/tmp/to-secret`, d]), 'cp link');
    expect(fs.readlinkSync(path.join(d, 'to-secret'))).toBe('/secret');
    ok(await cp(['-L', `${box}:/tmp/to-secret`, path.join(d, 'followed')]), 'cp -L');
    expect(fs.readFileSync(path.join(d, 'followed'), 'utf8')).toBe('container-secret\n');
    ok(await cp(['-L', `${box}:/tmp/climb-secret`, path.join(d, 'climbed')]), 'cp -L climbing');
    expect(fs.readFileSync(path.join(d, 'climbed'), 'utf8')).toBe('container-secret\n');
    // a symlinked directory in the middle of the path: resolved in the container, not on the host
    await sh('ln -s /etc /tmp/etc-link');
    ok(await cp([`${box}:/tmp/etc-link/passwd`, path.join(d, 'passwd')]), 'cp via link dir');
    expect(fs.readFileSync(path.join(d, 'passwd'), 'utf8')).toBe(await sh('cat /etc/passwd'));
    ok(await cp([`${box}:../../../../etc/hostname`, path.join(d, 'hn')]), 'cp ..');
    expect(fs.readFileSync(path.join(d, 'hn'), 'utf8')).toBe(await sh('cat /etc/hostname'));
  });

  it('- writes a tar stream to stdout, named as Docker does', async () => {
    const f1 = host('stream1.tar');
    const f2 = host('stream2.tar');
    const q = (a: string[]) => a.map((x) => `'${x}'`).join(' ');
    let r = await run(['sh', '-c', `${q(ctr.argv(['cp', `${box}:/data`, '-']))} > ${f1}`], { env: ctr.env });
    expect(r.code, describeResult('cp to -', r)).toBe(0);
    expect(tarList(f1)).toEqual(['d data/', '- data/a', 'l data/abs-link -> /etc/passwd', 'd data/sub/', '- data/sub/b']);
    r = await run(['sh', '-c', `${q(ctr.argv(['cp', `${stopped}:/root/.`, '-']))} > ${f2}`], { env: ctr.env });
    expect(r.code, describeResult('cp stopped/. to -', r)).toBe(0);
    expect(tarList(f2)).toContain('- ./one.txt');
  });

  it('refuses: missing source, dir onto a file, missing dest dir, unknown container, two containers, none', async () => {
    const d = fresh('out4');
    fs.writeFileSync(path.join(d, 'file'), 'x');
    refused(await cp([`${box}:/no/such/file`, d]), 'missing source', /could not find \/no\/such\/file in container .*: no such file or directory/, 1);
    refused(await cp([`${box}:/data`, path.join(d, 'file')]), 'dir onto file', /cannot copy a directory onto the file/, 1);
    refused(await cp([`${box}:/etc/passwd`, path.join(d, 'missing') + '/']), 'missing dir/', /does not exist/, 1);
    refused(await cp([`${box}:/etc/passwd`, path.join(d, 'missing/x')]), 'missing parent', /does not exist/, 1);
    refused(await cp([`${box}:/etc/passwd/`, d]), 'file as dir', /not a directory/, 1);
    refused(await cp([`no-such-container-${Date.now()}:/etc`, d]), 'unknown container', /no such container/);
    refused(await cp([`${box}:/a`, `${stopped}:/b`]), 'two containers', /between containers/);
    refused(await cp([host('one.txt'), d]), 'no container', /at least one container/);
    expect(fs.readdirSync(d)).toEqual(['file']);
  });
});

describe('cp on stopped containers with each storage driver', () => {
  for (const driver of ['overlay', 'fuse-overlayfs', 'vfs']) {
    it(`${driver}: in and out of a created container; the file is in the container when it runs`, async () => {
      const env: CtrEnv = createCtrEnv({ globalArgs: ['--storage-driver', driver] });
      try {
        await env.load('busybox');
        const name = uniqueName(`cp-${driver}`);
        ok(await env.run(['create', '--name', name, '--network', 'none', 'busybox', 'cat', '/etc/copied']), 'create');
        ok(await env.run(['cp', host('one.txt'), `${name}:/etc/copied`]), 'cp in');
        const out = path.join(env.dir, 'out.txt');
        ok(await env.run(['cp', `${name}:/etc/copied`, out]), 'cp out');
        expect(fs.readFileSync(out, 'utf8')).toBe('one\n');
        const r = ok(await env.run(['start', '-a', name]), 'start -a');
        expect(r.stdout).toBe('one\n');
        await env.run(['rm', '-f', name]);
      } finally {
        await env.cleanup();
      }
    }, 60_000);
  }
});
