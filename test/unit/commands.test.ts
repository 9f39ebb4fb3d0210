import { describe, expect, it } from 'vitest';
import { commandModules, commandsFor } from '../../src/cli/index';

describe('command table', () => {
  it("every module lists the first word of each of its commands' paths", async () => {
    for (const m of commandModules) {
      for (const c of await m.load()) {
        for (const p of c.paths ?? []) expect(m.words, `${c.name} path ${p.join(' ')}`).toContain(p[0]);
      }
    }
  });

  it('loads only the modules a first word needs, and everything for an unknown word', async () => {
    const run = await commandsFor(['run', 'busybox']);
    expect(run.map((c) => c.name)).toEqual(['RunCommand']);
    const all = await commandsFor(['bogus']);
    expect(all.length).toBeGreaterThan(30);
    const container = (await commandsFor(['container', 'ls'])).map((c) => c.name);
    expect(container).toContain('PsCommand');
    expect(container).toContain('StopCommand');
  });
});
