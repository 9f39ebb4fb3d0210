// Damaged metadata: a container.json, state.json, image.json or tags.json that cannot be read
// (truncated, garbage, the wrong shape) never hides a running container, never blocks a name or
// the other containers and images, and can be removed; `system check [--repair]` reports and
// fixes what is left over. Also a commit killed while the container is paused (the pause has
// an owner: the next command resumes a pause whose owner is gone) and a killed rm (its
// runtime dir is swept).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResult, fixtures, uniqueName, useCtr, useRegistry, waitFor, type RunResult } from './lib';
import { fmt, lines, ok, pidAlive, pidState, refused, runDetached, waitLog } from './containers-util';

const ctr = useCtr({ images: ['busybox', 'layered'] });
const reg = useRegistry({ images: ['busybox'] });
const TLS = '--tls-verify=false';

const containerFile = (id: string, f: string) => path.join(ctr.root, 'containers', id, f);

/** What a crash or a full disk leaves: an empty file, bytes that are not JSON, JSON of the wrong shape. */
type Damage = 'truncate' | 'garbage' | 'shape';
function damage(file: string, how: Damage): void {
  expect(fs.existsSync(file), file).toBe(true);
  if (how === 'truncate') fs.truncateSync(file, 0);
  else if (how === 'garbage') fs.writeFileSync(file, Buffer.from([0x7b, 0x22, 0x69, 0x00, 0xff, 0xfe, 0x13, 0x37, 0x0a]));
  else fs.writeFileSync(file, '[1, "two", null]\n');
}

async function hostPid(ref: string): Promise<number> {
  const pid = Number(await fmt(ctr, ref, '{{.State.Pid}}'));
  expect(pid).toBeGreaterThan(0);
  expect(pidAlive(pid)).toBe(true);
  return pid;
}

/** `ps -a` rows as "ID NAME STATUS" (ID 12 characters). */
async function psRows(args: string[] = ['-a']): Promise<string[]> {
  return lines(ok(await ctr.run(['ps', ...args, '--format', '{{.ID}}|{{.Names}}|{{.Image}}|{{.Status}}']), 'ps').stdout);
}

async function waitGone(pid: number): Promise<void> {
  await waitFor(() => !pidAlive(pid), { timeout: 10_000, what: `host pid ${pid} to be gone` });
}

/** Other work goes on beside a damaged record. */
async function othersWork(): Promise<void> {
  ok(await ctr.run(['ps']), 'ps');
  ok(await ctr.run(['images']), 'images');
  const r = ok(await ctr.run(['run', '--rm', '--network', 'none', 'busybox', 'echo', 'fine']), 'run --rm');
  expect(r.stdout).toBe('fine\n');
}

/** A running container (sleep) and its host PID. */
async function running(name: string): Promise<{ id: string; pid: number }> {
  const id = await runDetached(ctr, ['--name', name, '--network', 'none', 'busybox', 'sh', '-c', 'echo ready; exec sleep 1000']);
  await waitLog(ctr, id, /ready/);
  return { id, pid: await hostPid(id) };
}

describe('damaged container.json', () => {
  for (const how of ['truncate', 'garbage', 'shape'] as Damage[]) {
    it(`running container, ${how}: listed as Damaged with its name and image, refused by exec, rm -f kills it and frees the name`, async () => {
      const name = uniqueName('dmg');
      const { id, pid } = await running(name);
      damage(containerFile(id, 'container.json'), how);
      const row = (await psRows()).find((l) => l.startsWith(id.slice(0, 12)));
      expect(row, (await psRows()).join('\n')).toBeDefined();
      const [, rname, image, st] = row!.split('|');
      expect(rname).toBe(name);
      expect(image).toMatch(/busybox/);
      expect(st).toMatch(/^Damaged/);
      // it runs: plain ps lists it too
      expect((await psRows([])).some((l) => l.startsWith(id.slice(0, 12)))).toBe(true);
      await othersWork();
      refused(await ctr.run(['exec', name, 'true']), 'exec of a damaged container', /damaged/);
      // its name stays its own until it is removed
      refused(await ctr.run(['create', '--name', name, 'busybox', 'true']), 'name in use', /already in use/);
      // a running damaged container is not removed without -f
      refused(await ctr.run(['rm', name]), 'rm without -f', /running|rm -f/);
      expect(pidAlive(pid)).toBe(true);
      const rm = ok(await ctr.run(['rm', '-f', name]), 'rm -f damaged');
      expect(rm.stdout).toBe(`${name}\n`);
      await waitGone(pid);
      expect((await psRows()).some((l) => l.startsWith(id.slice(0, 12)))).toBe(false);
      expect(fs.existsSync(path.join(ctr.root, 'names', name))).toBe(false);
      const again = ok(await ctr.run(['run', '-d', '--name', name, '--network', 'none', 'busybox', 'sleep', '1000']), 'name free again');
      ok(await ctr.run(['rm', '-f', again.stdout.trim()]), 'rm -f');
    });
  }

  it('stopped container, garbage: listed as Damaged (exited), removed by ID prefix with rm -f', async () => {
    const name = uniqueName('dmg');
    const r = await ctr.run(['run', '--name', name, '--network', 'none', 'busybox', 'sh', '-c', 'exit 3']);
    expect(r.code).toBe(3);
    const full = lines(ok(await ctr.run(['ps', '-aq', '--no-trunc', '--filter', `name=${name}`]), 'ps').stdout)[0]!;
    damage(containerFile(full, 'container.json'), 'garbage');
    const row = (await psRows()).find((l) => l.startsWith(full.slice(0, 12)));
    expect(row).toMatch(new RegExp(`\\|${name}\\|.*\\|Damaged.*Exited \\(3\\)`));
    expect((await psRows([])).some((l) => l.startsWith(full.slice(0, 12)))).toBe(false);
    await othersWork();
    refused(await ctr.run(['start', name]), 'start of a damaged container', /damaged.*rm -f/);
    ok(await ctr.run(['rm', '-f', full.slice(0, 12)]), 'rm -f by prefix');
    expect(fs.existsSync(path.join(ctr.root, 'names', name))).toBe(false);
    expect(fs.existsSync(path.join(ctr.root, 'containers', full))).toBe(false);
  });

  it('container.json and state.json both damaged, running: rm -f still finds the monitor and kills the container', async () => {
    const name = uniqueName('dmg');
    const { id, pid } = await running(name);
    damage(containerFile(id, 'container.json'), 'truncate');
    damage(containerFile(id, 'state.json'), 'truncate');
    expect((await psRows([])).find((l) => l.startsWith(id.slice(0, 12)))).toMatch(/\|Damaged.*Up/);
    ok(await ctr.run(['rm', '-f', id]), 'rm -f');
    await waitGone(pid);
  });
});

describe('damaged state.json', () => {
  for (const how of ['truncate', 'garbage', 'shape'] as Damage[]) {
    it(`running container, ${how}: shown Up with its PID (from its monitor), stop stops it`, async () => {
      const name = uniqueName('dst');
      const { id, pid } = await running(name);
      damage(containerFile(id, 'state.json'), how);
      expect(await fmt(ctr, name, '{{.State.Status}} {{.State.Running}} {{.State.Pid}}')).toBe(`running true ${pid}`);
      expect((await psRows([])).find((l) => l.startsWith(id.slice(0, 12)))).toMatch(/\|Up /);
      ok(await ctr.run(['exec', name, 'true']), 'exec');
      ok(await ctr.run(['stop', '-t', '1', name]), 'stop');
      await waitGone(pid);
      expect(await fmt(ctr, name, '{{.State.Status}}')).toBe('exited');
      ok(await ctr.run(['rm', name]), 'rm');
    });
  }

  it('running container, garbage state.json: rm -f kills it', async () => {
    const name = uniqueName('dst');
    const { id, pid } = await running(name);
    damage(containerFile(id, 'state.json'), 'garbage');
    ok(await ctr.run(['rm', '-f', name]), 'rm -f');
    await waitGone(pid);
  });

  it('stopped container: its exit code stays (exit.json), a damaged exit.json shows as exited', async () => {
    const name = uniqueName('dst');
    expect((await ctr.run(['run', '--name', name, '--network', 'none', 'busybox', 'sh', '-c', 'exit 7'])).code).toBe(7);
    const id = (await fmt(ctr, name, '{{.Id}}')).trim();
    damage(containerFile(id, 'state.json'), 'garbage');
    expect(await fmt(ctr, name, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 7');
    damage(containerFile(id, 'exit.json'), 'truncate');
    expect(await fmt(ctr, name, '{{.State.Status}}')).toBe('exited');
    ok(await ctr.run(['rm', name]), 'rm');
  });

  it('the monitor socket gone too (runtime dir removed): rm -f kills through the PIDs it knows', async () => {
    const name = uniqueName('dst');
    const { id, pid } = await running(name);
    fs.rmSync(path.join(ctr.runroot, 'c', id.slice(0, 12)), { recursive: true, force: true });
    const t0 = Date.now();
    ok(await ctr.run(['rm', '-f', name]), 'rm -f');
    await waitGone(pid);
    expect(Date.now() - t0).toBeLessThan(8000);
  });
});

describe('damaged image records', () => {
  const imageJson = (id: string) => path.join(ctr.root, 'images', id.replace(/^sha256:/, ''), 'image.json');

  it('images lists the others and names the damaged one; rmi removes it; load brings it back', async () => {
    const fx = fixtures().images;
    for (const how of ['truncate', 'garbage'] as Damage[]) {
      damage(imageJson(fx.layered.id), how);
      const r = ok(await ctr.run(['images', '--format', '{{.Repository}}:{{.Tag}}']), 'images');
      expect(lines(r.stdout)).toContain('docker.io/library/busybox:latest');
      expect(lines(r.stdout)).not.toContain('docker.io/library/layered:latest');
      expect(lines(r.stderr), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^warning: .*${fx.layered.id.slice(7, 19)}.*damaged`));
      refused(await ctr.run(['run', '--rm', '--pull', 'never', 'layered', 'true']), 'run a damaged image', /damaged/);
      await othersWork();
      const rm = ok(await ctr.run(['rmi', 'layered']), 'rmi damaged');
      expect(rm.stdout).toMatch(/Deleted: /);
      expect(fs.existsSync(path.dirname(imageJson(fx.layered.id)))).toBe(false);
      await ctr.load('layered');
      ok(await ctr.run(['run', '--rm', '--network', 'none', 'layered', 'true']), 'run layered again');
    }
  });

  it('pulling the image again repairs a damaged image.json', async () => {
    const ref = `${reg.host}/busybox:latest`;
    ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 120_000 }), 'pull');
    const id = fixtures().images.busybox.id;
    damage(imageJson(id), 'truncate');
    const w = ok(await ctr.run(['images']), 'images');
    expect(w.stderr).toMatch(/damaged/);
    ok(await ctr.run(['pull', '-q', TLS, ref], { timeout: 120_000 }), 'pull again');
    const r = ok(await ctr.run(['images']), 'images after the pull');
    expect(r.stderr).toBe('');
    expect(JSON.parse(fs.readFileSync(imageJson(id), 'utf8')).id).toBe(id);
    ok(await ctr.run(['run', '--rm', '--network', 'none', ref, 'true']), 'run');
    ok(await ctr.run(['rmi', ref]), 'rmi');
  });

  for (const how of ['truncate', 'garbage'] as Damage[]) {
    it(`tags.json ${how}: images still lists every image by name (with a warning), a tag repairs the index`, async () => {
      const tags = path.join(ctr.root, 'tags.json');
      damage(tags, how);
      const r = ok(await ctr.run(['images', '--format', '{{.Repository}}:{{.Tag}}']), 'images');
      expect(lines(r.stdout)).toEqual(expect.arrayContaining(['docker.io/library/busybox:latest', 'docker.io/library/layered:latest']));
      expect(lines(r.stderr), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/^warning: .*tags\.json.*damaged/);
      await othersWork();
      ok(await ctr.run(['tag', 'busybox', 'busybox:again']), 'tag');
      expect(JSON.parse(fs.readFileSync(tags, 'utf8'))).toMatchObject({ 'docker.io/library/busybox:again': fixtures().images.busybox.id });
      const after = ok(await ctr.run(['images', '--format', '{{.Repository}}:{{.Tag}}']), 'images');
      expect(after.stderr).toBe('');
      expect(lines(after.stdout)).toEqual(expect.arrayContaining(['docker.io/library/busybox:latest', 'docker.io/library/layered:latest', 'docker.io/library/busybox:again']));
      ok(await ctr.run(['rmi', 'busybox:again']), 'rmi tag');
    });
  }

  it('rmi of an image whose tags.json is damaged works', async () => {
    damage(path.join(ctr.root, 'tags.json'), 'garbage');
    ok(await ctr.run(['rmi', 'layered']), 'rmi');
    expect(lines(ok(await ctr.run(['images', '--format', '{{.Repository}}']), 'images').stdout)).toEqual(['docker.io/library/busybox']);
    await ctr.load('layered');
  });
});

describe('system check', () => {
  const check = (args: string[] = []) => ctr.run(['system', 'check', ...args]);

  it('reports damaged records, dangling names, orphaned layers and leftovers; --repair fixes what is safe, --force the rest', async () => {
    const clean = await check();
    expect(clean.code, describeResult('check of a clean store', clean)).toBe(0);
    // a damaged stopped container, a damaged running one, a dangling name, an orphaned layer,
    // a leftover runtime dir, a damaged state file of a running container
    const stopped = uniqueName('chk');
    ok(await ctr.run(['run', '--name', stopped, '--network', 'none', 'busybox', 'true']), 'run');
    const stoppedId = (await fmt(ctr, stopped, '{{.Id}}')).trim();
    damage(containerFile(stoppedId, 'container.json'), 'truncate');
    const live = uniqueName('chk');
    const { id: liveId, pid: livePid } = await running(live);
    damage(containerFile(liveId, 'container.json'), 'garbage');
    const stateName = uniqueName('chk');
    const { id: stateId, pid: statePid } = await running(stateName);
    damage(containerFile(stateId, 'state.json'), 'truncate');
    fs.symlinkSync('f'.repeat(64), path.join(ctr.root, 'names', 'ghost-name'));
    const orphan = path.join(ctr.root, 'layers', 'e'.repeat(64));
    fs.mkdirSync(path.join(orphan, 'diff'), { recursive: true });
    fs.writeFileSync(path.join(orphan, 'diff', 'f'), 'x');
    fs.writeFileSync(path.join(orphan, 'layer.json'), JSON.stringify({ chainId: `sha256:${'e'.repeat(64)}`, diffId: `sha256:${'e'.repeat(64)}`, size: 1, diffSize: 1024, created: new Date().toISOString() }));
    const leftover = path.join(ctr.runroot, 'c', 'abcdef012345');
    fs.mkdirSync(leftover, { recursive: true });

    const r = await check();
    expect(r.code, describeResult('check', r)).not.toBe(0);
    const out = r.stdout;
    expect(out).toMatch(new RegExp(`container ${stoppedId.slice(0, 12)}.*${stopped}.*damaged.*container\\.json`));
    expect(out).toMatch(new RegExp(`container ${liveId.slice(0, 12)}.*${live}.*damaged.*running`));
    expect(out).toMatch(new RegExp(`container ${stateId.slice(0, 12)}.*damaged.*state\\.json.*running`));
    expect(out).toMatch(/name ghost-name.*ffffffffffff/);
    expect(out).toMatch(/layer eeeeeeeeeeee.*not used/);
    expect(out).toMatch(/abcdef012345.*left/);
    expect(lines(out).at(-1)).toMatch(/^6 problems found/);
    // a check changes nothing
    expect(fs.existsSync(orphan)).toBe(true);
    const json = await check(['--format', 'json']);
    const parsed = JSON.parse(json.stdout) as { kind: string; fixed: boolean }[];
    expect(parsed.map((f) => f.kind).sort()).toEqual(['container', 'container', 'container', 'layer', 'name', 'runroot']);

    const rep = await check(['--repair']);
    expect(rep.code, describeResult('check --repair', rep)).not.toBe(0); // the running damaged container remains
    expect(rep.stdout).toMatch(new RegExp(`container ${liveId.slice(0, 12)}.*left alone.*--force`));
    expect(lines(rep.stdout).at(-1)).toMatch(/^6 problems found, 5 repaired, 1 remains/);
    expect(fs.existsSync(orphan)).toBe(false);
    expect(fs.existsSync(leftover)).toBe(false);
    expect(fs.existsSync(path.join(ctr.root, 'names', 'ghost-name'))).toBe(false);
    expect(fs.existsSync(path.join(ctr.root, 'containers', stoppedId))).toBe(false);
    expect(pidAlive(livePid)).toBe(true);
    // the state file is rewritten from the monitor: the container is untouched
    expect(pidAlive(statePid)).toBe(true);
    expect(JSON.parse(fs.readFileSync(containerFile(stateId, 'state.json'), 'utf8')).pid).toBe(statePid);

    const force = await check(['--repair', '--force']);
    expect(force.code, describeResult('check --repair --force', force)).toBe(0);
    await waitGone(livePid);
    const after = await check();
    expect(after.code, describeResult('check after repair', after)).toBe(0);
    ok(await ctr.run(['rm', '-f', stateName]), 'rm -f');
  });

  it('a damaged image record: reported; --repair rebuilds it from its config and layers', async () => {
    const id = fixtures().images.layered.id;
    const file = path.join(ctr.root, 'images', id.slice(7), 'image.json');
    damage(file, 'truncate');
    const r = await check();
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(new RegExp(`image ${id.slice(7, 19)}.*damaged.*image\\.json`));
    const rep = await check(['--repair']);
    expect(rep.code, describeResult('check --repair', rep)).toBe(0);
    expect(rep.stdout).toMatch(/rebuilt/);
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).id).toBe(id);
    const images = ok(await ctr.run(['images', '--format', '{{.Repository}}:{{.Tag}}']), 'images');
    expect(images.stderr).toBe('');
    expect(lines(images.stdout)).toContain('docker.io/library/layered:latest');
    ok(await ctr.run(['run', '--rm', '--network', 'none', 'layered', 'true']), 'run the rebuilt image');
  });

  it('a damaged tags.json: --repair rebuilds the index from the image records', async () => {
    const tags = path.join(ctr.root, 'tags.json');
    damage(tags, 'garbage');
    const r = await check();
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/tags\.json.*damaged/);
    ok(await check(['--repair']), 'check --repair');
    expect(JSON.parse(fs.readFileSync(tags, 'utf8'))).toMatchObject({
      'docker.io/library/busybox:latest': fixtures().images.busybox.id,
      'docker.io/library/layered:latest': fixtures().images.layered.id,
    });
  });
});

describe('killed commands', () => {
  it('a commit killed while the container is paused: exec says paused meanwhile, the next command resumes it', async () => {
    const name = uniqueName('cmt');
    // 48 MB that gzip cannot shrink: the commit reads (and compresses) for a while
    const id = await runDetached(ctr, ['--name', name, '--network', 'none', 'busybox', 'sh', '-c', 'head -c 50331648 /dev/urandom > /big; echo ready; exec sleep 1000']);
    await waitLog(ctr, id, /ready/, 30_000);
    const pid = await hostPid(name);
    const commit = ctr.spawn(['commit', name, 'killed:1']);
    await waitFor(() => pidState(pid) === 'T', { timeout: 20_000, interval: 5, what: 'the container to be stopped by commit' });
    // the commit is frozen where it is (the container paused), so that nothing depends on how long it takes
    process.kill(commit.pid, 'SIGSTOP');
    // paused by a live commit: exec says so
    const ex = await ctr.run(['exec', name, 'true']);
    refused(ex, 'exec while commit pauses', /paused/);
    expect(ex.stderr).not.toMatch(/start it first/);
    expect(pidState(pid)).toBe('T');
    commit.kill('SIGKILL');
    const res: RunResult = await commit.wait();
    expect(res.signal).toBe('SIGKILL');
    expect(pidState(pid)).toBe('T');
    // the pause's owner is gone: the next command resumes the container
    const e2 = await ctr.run(['exec', name, 'echo', 'alive']);
    expect(e2.code, describeResult('exec after the killed commit', e2)).toBe(0);
    expect(e2.stdout).toBe('alive\n');
    expect(pidState(pid)).not.toBe('T');
    expect(await fmt(ctr, name, '{{.State.Status}} {{.State.Paused}}')).toBe('running false');
    ok(await ctr.run(['rm', '-f', name]), 'rm -f');
  });

  it('a pause without an owner found by ps is resumed by it', async () => {
    const name = uniqueName('cmt');
    const { id, pid } = await running(name);
    ok(await ctr.run(['pause', name]), 'pause');
    expect(pidState(pid)).toBe('T');
    // a user's pause stays
    expect((await psRows([])).find((l) => l.startsWith(id.slice(0, 12)))).toMatch(/Paused/);
    expect(pidState(pid)).toBe('T');
    refused(await ctr.run(['exec', name, 'true']), 'exec paused', /is paused.*unpause/);
    // a pause whose owner is a process that is gone (what a killed commit leaves)
    fs.writeFileSync(containerFile(id, 'paused'), '999999999 12345 commit\n');
    expect((await psRows([])).find((l) => l.startsWith(id.slice(0, 12)))).not.toMatch(/Paused/);
    expect(pidState(pid)).not.toBe('T');
    expect(fs.existsSync(containerFile(id, 'paused'))).toBe(false);
    ok(await ctr.run(['rm', '-f', name]), 'rm -f');
  });

  it('a killed rm leaves no runtime dir behind: the next rm sweeps it', async () => {
    // what an rm killed between taking the container out of the store and its runtime dir leaves
    const name = uniqueName('krm');
    const { id } = await running(name);
    ok(await ctr.run(['stop', '-t', '0', name]), 'stop');
    const rt = path.join(ctr.runroot, 'c', id.slice(0, 12));
    expect(fs.existsSync(rt)).toBe(true);
    fs.renameSync(path.join(ctr.root, 'containers', id), path.join(ctr.root, 'containers', `.rm-${id}`));
    fs.rmSync(path.join(ctr.root, 'names', name), { force: true });
    const other = await runDetached(ctr, ['--network', 'none', 'busybox', 'true']);
    ok(await ctr.run(['rm', '-f', other]), 'rm another');
    expect(fs.existsSync(rt)).toBe(false);
    // and rm killed at random moments never leaves a runtime dir without its container
    for (let i = 0; i < 8; i++) {
      const c = await runDetached(ctr, ['--network', 'none', 'busybox', 'sleep', '1000']);
      const p = ctr.spawn(['rm', '-f', c]);
      await new Promise((r) => setTimeout(r, 20 + i * 25));
      p.kill('SIGKILL');
      await p.wait();
      await ctr.run(['rm', '-f', c]); // done, or not yet (then this one does it)
    }
    ok(await ctr.run(['ps', '-a']), 'ps');
    const left = fs.readdirSync(path.join(ctr.runroot, 'c')).filter((n) => !n.startsWith('.'));
    const ids = lines(ok(await ctr.run(['ps', '-aq']), 'ps -aq').stdout);
    expect(left.filter((n) => !ids.includes(n))).toEqual([]);
  });
});
