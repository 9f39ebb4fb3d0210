// The e2e helpers themselves (test/e2e/lib.ts), against plain host commands.
import { describe, expect, it } from 'vitest';
import { run, spawnProc, spawnTty, uniqueName, waitFor } from '../e2e/lib';

describe('e2e lib: run', () => {
  it('returns code, stdout and stderr', async () => {
    const r = await run(['/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false, signal: null });
  });

  it('feeds input', async () => {
    const r = await run(['/bin/cat'], { input: 'abc' });
    expect(r.stdout).toBe('abc');
  });

  it('kills the whole process group on timeout', async () => {
    const r = await run(['/bin/sh', '-c', 'sleep 30 & sleep 30'], { timeout: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.code).toBe(137);
    expect(r.durationMs).toBeLessThan(5000);
  });

  it('reports a missing program as code -1', async () => {
    const r = await run(['/nonexistent/prog']);
    expect(r.code).toBe(-1);
    expect(r.stderr).toMatch(/cannot start/);
  });

  it('spawnProc waits for output', async () => {
    const p = spawnProc(['/bin/sh', '-c', 'echo ready; read x; echo got $x']);
    await p.waitForOutput('ready');
    p.write('hello\n');
    const r = await p.wait();
    expect(r.stdout).toBe('ready\ngot hello\n');
  });

  it('waitFor polls and times out', async () => {
    let n = 0;
    expect(await waitFor(() => ++n >= 3 && n, { interval: 5 })).toBe(3);
    await expect(waitFor(() => false, { timeout: 50, what: 'nothing' })).rejects.toThrow(/nothing/);
  });

  it('uniqueName is unique and lowercase', () => {
    const a = uniqueName('c');
    expect(a).toMatch(/^c-\d+-\d+-[0-9a-z]+$/);
    expect(uniqueName('c')).not.toBe(a);
  });
});

describe('e2e lib: pty', () => {
  it('gives the command a terminal with the asked size', async () => {
    const s = spawnTty(['/bin/sh', '-c', 'test -t 0 && test -t 1 && echo is-a-tty; stty size; exit 5'], { rows: 30, cols: 100 });
    const r = await s.wait();
    expect(r.code).toBe(5);
    expect(r.output).toContain('is-a-tty');
    expect(r.output).toContain('30 100');
  });

  it('is interactive and resizable', async () => {
    const s = spawnTty(['/bin/sh', '-c', 'trap "stty size" WINCH; echo ready; read line; echo "line=$line"; read x; exit 0']);
    await s.expect('ready');
    s.write('typed\n');
    await s.expect('line=typed');
    s.resize(40, 120);
    await s.expect('40 120');
    s.write('\n');
    expect((await s.wait()).code).toBe(0);
  });

  it('reports a signal death as 128+N', async () => {
    const s = spawnTty(['/bin/sh', '-c', 'kill -TERM $$']);
    expect((await s.wait()).code).toBe(143);
  });
});
