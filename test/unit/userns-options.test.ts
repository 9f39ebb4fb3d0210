import { describe, expect, it } from 'vitest';
import { parsePidsLimit } from '../../src/container/options';
import { keepIdMap, parseUserns } from '../../src/container/userns';
import { rewriteHostnameFlag } from '../../src/main';

describe('--userns', () => {
  it('host, empty and absent are the default; keep-id takes uid= and gid=', () => {
    expect(parseUserns(undefined)).toEqual({ mode: 'host' });
    expect(parseUserns('')).toEqual({ mode: 'host' });
    expect(parseUserns('host')).toEqual({ mode: 'host' });
    expect(parseUserns('keep-id')).toEqual({ mode: 'keep-id' });
    expect(parseUserns('keep-id:uid=1000,gid=100')).toEqual({ mode: 'keep-id', uid: 1000, gid: 100 });
    expect(parseUserns('keep-id:gid=0')).toEqual({ mode: 'keep-id', gid: 0 });
  });

  it('refuses other modes and bad keep-id options with one message each', () => {
    expect(() => parseUserns('auto')).toThrow(/--userns=auto is not supported: use host \(the default\) or keep-id/);
    expect(() => parseUserns('ns:/proc/1/ns/user')).toThrow(/--userns=ns:\/proc\/1\/ns\/user is not supported/);
    expect(() => parseUserns('keep-ids')).toThrow(/invalid --userns "keep-ids"/);
    expect(() => parseUserns('keep-id:size=10')).toThrow(/unknown keep-id option "size"/);
    expect(() => parseUserns('keep-id:uid=-1')).toThrow(/uid must be a number from 0 to 4294967294/);
    expect(() => parseUserns('keep-id:uid=4294967295')).toThrow(/uid must be a number/);
  });

  it('keep-id maps the user (0 of the per-user namespace) to N, the sub-IDs around it', () => {
    // per-user namespace: 0 = the user, 1..65536 = sub-IDs
    expect(keepIdMap(1001, 65537)).toEqual([
      { containerID: 0, hostID: 1, size: 1001 },
      { containerID: 1001, hostID: 0, size: 1 },
      { containerID: 1002, hostID: 1002, size: 64535 },
    ]);
    expect(keepIdMap(0, 65537)).toEqual([
      { containerID: 0, hostID: 0, size: 1 },
      { containerID: 1, hostID: 1, size: 65536 },
    ]);
    // more than the sub-IDs: what is below N is mapped as far as they go
    expect(keepIdMap(200000, 65537)).toEqual([
      { containerID: 0, hostID: 1, size: 65536 },
      { containerID: 200000, hostID: 0, size: 1 },
    ]);
  });
});

describe('--pids-limit', () => {
  it('a positive number, or 0 / -1 for no limit (recorded as 0)', () => {
    expect(parsePidsLimit('100')).toBe(100);
    expect(parsePidsLimit('0')).toBe(0);
    expect(parsePidsLimit('-1')).toBe(0);
    for (const v of ['', 'x', '1.5', '-2', '10k', '99999999999999999999'])
      expect(() => parsePidsLimit(v), v).toThrow(/invalid --pids-limit/);
  });

  it('a negative number after a value option is its value (Docker), not an option', () => {
    expect(rewriteHostnameFlag(['run', '--pids-limit', '-1', 'busybox', 'true'])).toEqual(['run', '--pids-limit=-1', 'busybox', 'true']);
    expect(rewriteHostnameFlag(['create', '--rm', '--pids-limit', '5', '-h', 'x', 'busybox'])).toEqual(['create', '--rm', '--pids-limit', '5', '--hostname', 'x', 'busybox']);
    expect(rewriteHostnameFlag(['run', '--name', '-x', 'busybox'])).toEqual(['run', '--name', '-x', 'busybox']);
  });
});
