// Bad input to the container commands: one `Error: ...` line on stderr, exit 125, and
// nothing half-made (no container, no reserved name, no leftover directory).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCtr } from './lib';
import { allIds, ok, refused, runDetached } from './containers-util';

const ctr = useCtr({ images: ['busybox'] });

function ls(sub: string): string[] {
  try {
    return fs.readdirSync(path.join(ctr.root, sub)).sort();
  } catch {
    return [];
  }
}

/** What a refused create must leave as it was: the container list, the store's dirs and names. */
async function snapshot() {
  return { ids: await allIds(ctr), containers: ls('containers'), names: ls('names') };
}

let existing = '';
beforeAll(async () => {
  // one container in the store, so "unchanged" is checked against a non-empty state
  existing = await runDetached(ctr, ['--name', 'bad-input-keeper', 'busybox', 'sleep', '600']);
}, 60_000);

describe('run and create refuse bad input and create nothing', () => {
  const hostDir = () => ctr.dir;
  const cases: [string, () => string[], RegExp][] = [
    ['an unknown image', () => ['no-such-image'], /no-such-image/],
    ['an unknown image tag', () => ['busybox:no-such-tag'], /busybox:no-such-tag/],
    ['-u with bad characters', () => ['-u', 'bad user!', 'busybox'], /user/],
    ['-u with an empty name', () => ['-u', ':0', 'busybox'], /user/],
    ['-u with an ID out of range', () => ['-u', '99999999999', 'busybox'], /user|range/],
    ['-u with an unknown user', () => ['-u', 'nosuchuser', 'busybox'], /nosuchuser/],
    ['-u with an unknown group', () => ['-u', 'app:nosuchgroup', 'busybox'], /nosuchgroup/],
    ['-v with a missing host path', () => ['-v', '/no/such/dir:/data', 'busybox'], /\/no\/such\/dir/],
    ['-v with a relative container path', () => ['-v', `${hostDir()}:data`, 'busybox'], /absolute/],
    ['-v without a container path', () => ['-v', `${hostDir()}:`, 'busybox'], /volume/],
    ['-v with an unknown option', () => ['-v', `${hostDir()}:/data:rx`, 'busybox'], /rx/],
    ['-v with too many fields', () => ['-v', `${hostDir()}:/a:ro:extra`, 'busybox'], /volume/],
    ['--log-opt without =', () => ['--log-opt', 'max-size', 'busybox'], /max-size/],
    ['--log-opt with a bad size', () => ['--log-opt', 'max-size=lots', 'busybox'], /lots|size/],
    ['--log-opt with an unknown key', () => ['--log-opt', 'colour=blue', 'busybox'], /colour/],
    ['--log-driver other than json-file', () => ['--log-driver', 'syslog', 'busybox'], /syslog/],
    ['--cap-add of an unknown capability', () => ['--cap-add', 'CAP_FLY', 'busybox'], /CAP_FLY/i],
    ['--network of an unknown mode', () => ['--network', 'nosuchnet', 'busybox'], /nosuchnet/],
    ['-w relative', () => ['-w', 'relative/dir', 'busybox'], /absolute/],
    ['--name with a slash', () => ['--name', 'bad/name', 'busybox'], /bad\/name/],
    ['--hostname with bad characters', () => ['--hostname', 'bad_host!', 'busybox'], /hostname/],
    ['--stop-signal unknown', () => ['--stop-signal', 'SIGNOPE', 'busybox'], /SIGNOPE/],
    ['-e with an empty name', () => ['-e', '=value', 'busybox'], /environment|name/],
    ['-l with an empty key', () => ['-l', '=value', 'busybox'], /label/],
    ['an unknown flag', () => ['--no-such-flag', 'busybox'], /no-such-flag/],
    ['no image at all', () => [], /./],
  ];
  for (const [what, args, pattern] of cases) {
    it(`${what}`, async () => {
      const before = await snapshot();
      for (const cmd of [['run', '--rm'], ['run', '-d'], ['create']]) {
        const r = await ctr.run([...cmd, ...args(), ...(args().length ? ['true'] : [])]);
        refused(r, `${cmd.join(' ')} with ${what}`, pattern);
        expect(r.stdout).toBe('');
      }
      expect(await snapshot()).toEqual(before);
    });
  }

  // Node reads its own --env-file anywhere in argv unless a "--" comes first: the single binary
  // puts one before the user's arguments (scripts/package.sh), so the option reaches ctr.
  it('--env-file with a missing file', async () => {
    const before = await snapshot();
    refused(await ctr.run(['run', '--rm', '--env-file', '/no/such/file', 'busybox', 'true']), 'missing env file', /\/no\/such\/file/);
    expect(await snapshot()).toEqual(before);
  });

  it('a name in use (also by a stopped container)', async () => {
    const before = await snapshot();
    refused(await ctr.run(['run', '--name', 'bad-input-keeper', 'busybox', 'true']), 'name in use', /bad-input-keeper/);
    expect(await snapshot()).toEqual(before);
  });
});

describe('commands on an unknown container: one line, 125', () => {
  const cmds: string[][] = [
    ['start'], ['stop'], ['kill'], ['rm'], ['rm', '-f'], ['wait'], ['restart'], ['pause'], ['unpause'], ['attach'],
    ['logs'], ['top'], ['container', 'inspect'], ['exec', 'NAME', 'true'], ['rename', 'NAME', 'newname'],
  ];
  for (const c of cmds) {
    it(c.join(' ').replace('NAME', '<unknown>'), async () => {
      const before = await snapshot();
      const args = c.includes('NAME') ? c.map((a) => (a === 'NAME' ? 'no-such-container' : a)) : [...c, 'no-such-container'];
      const r = await ctr.run(args);
      refused(r, args.join(' '), /no-such-container|no such/i);
      expect(await snapshot()).toEqual(before);
    });
  }

  it('the kept container is still there and running', async () => {
    expect(await allIds(ctr)).toContain(existing);
    ok(await ctr.run(['rm', '-f', existing]), 'rm -f');
  });
});
