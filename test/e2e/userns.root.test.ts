// --userns as real root: host is the host's IDs (no user namespace at all); keep-id, which maps
// the caller's own ID, is refused with one line (Podman: rootless only).
import { describe, expect, it } from 'vitest';
import { isRoot, uniqueName, useCtr } from './lib';
import { lines, ok, refused } from './checks';

describe.skipIf(!isRoot)('--userns as root', () => {
  const ctr = useCtr({ images: ['busybox'] });

  it('host: the host IDs, recorded', async () => {
    const name = uniqueName('host');
    const r = ok(await ctr.run(['run', '--name', name, '--userns=host', 'busybox', 'sh', '-c', 'id -u; cat /proc/self/uid_map']), 'run');
    expect(r.stdout.split('\n')[0]).toBe('0');
    expect(r.stdout.split('\n')[1]!.trim().split(/\s+/)).toEqual(['0', '0', '4294967295']);
    expect(ok(await ctr.run(['inspect', '-f', '{{.HostConfig.UsernsMode}}', name]), 'inspect').stdout).toBe('host\n');
    ok(await ctr.run(['rm', name]), 'rm');
  });

  it('keep-id: one line, exit 125, no container', async () => {
    refused(await ctr.run(['run', '--rm', '--userns=keep-id', 'busybox', 'true']), 'keep-id as root', /--userns=keep-id is only supported rootless/);
    expect(lines(ok(await ctr.run(['ps', '-aq']), 'ps').stdout)).toEqual([]);
  });
});
