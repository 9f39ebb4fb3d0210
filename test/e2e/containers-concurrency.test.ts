// Many ctr processes at once, and ctr killed half-way: the store stays consistent.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResult, run, uniqueName, useCtr } from './lib';
import { allIds, lines, ok, sleep } from './containers-util';

const ctr = useCtr({ images: ['busybox'] });

function shQuote(a: string): string {
  return `'${a.replace(/'/g, `'\\''`)}'`;
}
const shCtr = () => ctr.argv([]).map(shQuote).join(' ');

describe('concurrency', () => {
  it('5 shells × 4 `run -d` at once: all succeed, ps -a lists exactly 20, names unique; ps works meanwhile', async () => {
    const label = `conc=${uniqueName('c')}`;
    const shells = [0, 1, 2, 3, 4].map((s) =>
      run(['sh', '-c', `for i in 1 2 3 4; do ${shCtr()} run -d -l ${label} --name s${s}-$i-${label.slice(5)} busybox sleep 120 || exit 1; done`], {
        env: ctr.env,
        timeout: 120_000,
      }),
    );
    // ps keeps working while the containers are being made
    let polls = 0;
    let done = false;
    const all = Promise.all(shells).finally(() => (done = true));
    while (!done) {
      const p = await ctr.run(['ps', '-a', '--format', '{{.ID}} {{.Names}} {{.State}}']);
      expect(p.code, describeResult('ps during creation', p)).toBe(0);
      expect(p.stderr).toBe('');
      polls++;
    }
    const results = await all;
    for (const r of results) expect(r.code, describeResult('shell', r)).toBe(0);
    const out = results.flatMap((r) => lines(r.stdout));
    expect(out).toHaveLength(20);
    for (const id of out) expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(out).size).toBe(20);
    const listed = lines(ok(await ctr.run(['ps', '-a', '--no-trunc', '--filter', `label=${label}`, '--format', '{{.ID}} {{.Names}} {{.State}}']), 'ps').stdout);
    expect(listed).toHaveLength(20);
    expect(listed.map((l) => l.split(' ')[0]).sort()).toEqual([...out].sort());
    expect(new Set(listed.map((l) => l.split(' ')[1])).size).toBe(20);
    for (const l of listed) expect(l.split(' ')[2]).toBe('running');
    expect(polls).toBeGreaterThan(0);
    // and removed in parallel too
    const rms = await Promise.all([0, 1, 2, 3].map((i) => ctr.run(['rm', '-f', ...out.slice(i * 5, i * 5 + 5)])));
    for (const r of rms) expect(r.code, describeResult('rm -f', r)).toBe(0);
    expect(await allIds(ctr)).toEqual([]);
  }, 120_000);

  it('the same name from several shells at once: exactly one wins, the others get one clear error', async () => {
    const name = uniqueName('race');
    const rs = await Promise.all([0, 1, 2, 3, 4].map(() => ctr.run(['run', '-d', '--name', name, 'busybox', 'sleep', '60'])));
    const winners = rs.filter((r) => r.code === 0);
    expect(winners, rs.map((r) => describeResult('run', r)).join('\n')).toHaveLength(1);
    for (const r of rs.filter((x) => x.code !== 0)) {
      expect(r.code).toBe(125);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(/^Error: .*already in use/)]);
    }
    expect(await allIds(ctr)).toEqual([winners[0]!.stdout.trim()]);
    ok(await ctr.run(['rm', '-f', name]), 'rm -f');
  });

  it('ctr killed with SIGKILL during `run -d`: ps -a works, each container is listed whole or not at all, rm works', async () => {
    // how long a whole `run -d` takes here; the kills are spread over that time
    let full = Infinity;
    for (let i = 0; i < 2; i++) {
      const t0 = Date.now();
      const id = ok(await ctr.run(['run', '-d', 'busybox', 'true']), 'run -d').stdout.trim();
      full = Math.min(full, Date.now() - t0);
      ok(await ctr.run(['rm', '-f', id]), 'rm');
    }
    const steps = 16;
    for (let i = 0; i < steps; i++) {
      const name = uniqueName('k');
      const p = ctr.spawn(['run', '-d', '--name', name, 'busybox', 'sleep', '120']);
      await sleep(Math.round((full * (0.25 + (0.9 * i) / steps))));
      p.kill('SIGKILL');
      await p.wait(10_000);
      const ps = await ctr.run(['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}} {{.State}}']);
      expect(ps.code, describeResult('ps -a after a kill', ps)).toBe(0);
      expect(ps.stderr).toBe('');
      const row = lines(ps.stdout).find((l) => l.split(' ')[1] === name);
      if (row) {
        // whole: inspect works, and it runs (or can be started)
        const [id, , state] = row.split(' ') as [string, string, string];
        const i = await ctr.run(['inspect', '--format', '{{.Id}} {{.Name}}', id]);
        expect(i.code, describeResult('inspect', i)).toBe(0);
        expect(i.stdout).toBe(`${id} /${name}\n`);
        expect(['created', 'running'], `state of ${name}`).toContain(state);
        if (state === 'created') ok(await ctr.run(['start', id]), `start ${name} (created when ctr was killed)`);
      } else {
        // not at all: the name is free again
        const again = await ctr.run(['run', '-d', '--name', name, 'busybox', 'sleep', '120']);
        expect(again.code, describeResult(`reuse ${name} after a killed run -d`, again)).toBe(0);
      }
    }
    const ids = await allIds(ctr);
    expect(ids.length).toBeGreaterThan(0);
    ok(await ctr.run(['rm', '-f', ...ids]), 'rm -f all');
    expect(await allIds(ctr)).toEqual([]);
    // nothing left behind: no container dirs, no reserved names
    const left = (sub: string) => (fs.existsSync(path.join(ctr.root, sub)) ? fs.readdirSync(path.join(ctr.root, sub)) : []);
    expect(left('containers').filter((n) => !n.startsWith('.'))).toEqual([]);
    expect(left('names')).toEqual([]);
  }, 120_000);

  it('ctr rm killed with SIGKILL: the container is either still there or gone; rm finishes the job', async () => {
    for (let i = 0; i < 6; i++) {
      const id = ok(await ctr.run(['run', '-d', 'busybox', 'sleep', '120']), 'run -d').stdout.trim();
      const p = ctr.spawn(['rm', '-f', id]);
      await sleep(40 + i * 40);
      p.kill('SIGKILL');
      await p.wait(10_000);
      const ps = await ctr.run(['ps', '-a', '-q', '--no-trunc']);
      expect(ps.code, describeResult('ps after a killed rm', ps)).toBe(0);
      if (lines(ps.stdout).includes(id)) ok(await ctr.run(['rm', '-f', id]), 'rm -f again');
      expect(await allIds(ctr)).not.toContain(id);
    }
  }, 120_000);
});
