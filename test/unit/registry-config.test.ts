import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseToml } from '../../src/registry/toml';
import { endpointsFor, findRegistry, isInsecureHost, loadRegistryConfig, parseRegistriesConf, registryConfigFiles, resetRegistryConfig, type RegistryConfig } from '../../src/registry/config';
import { CtrError } from '../../src/util/errors';

const cfg = (text: string): RegistryConfig => {
  const p = parseRegistriesConf(text);
  return { unqualifiedSearch: p.unqualifiedSearch ?? ['docker.io'], registries: p.registries };
};

describe('TOML subset', () => {
  it('parses tables, arrays of tables, strings, booleans, numbers, multi-line arrays and comments', () => {
    const t = parseToml(`
# comment
a = "x\\"y\\u0041" # trailing
b = 'lit\\eral'
c = [ "one", # first
  'two',
]
n = 1_000
f = 1.5
[t]
k = true
"quoted key" = false
[[arr]]
x = 1
[[arr.sub]]
y = 2
[[arr]]
x = 3
inline = { p = "q", r = [1, 2] }
`);
    expect(t).toEqual({
      a: 'x"yA',
      b: 'lit\\eral',
      c: ['one', 'two'],
      n: 1000,
      f: 1.5,
      t: { k: true, 'quoted key': false },
      arr: [{ x: 1, sub: [{ y: 2 }] }, { x: 3, inline: { p: 'q', r: [1, 2] } }],
    });
  });

  it('names the line of an error', () => {
    expect(() => parseToml('a = 1\nb = nope\n')).toThrow(/line 2: invalid value "nope"/);
    expect(() => parseToml('a = "x\n')).toThrow(/line 1: unterminated string/);
    expect(() => parseToml('a = 1\na = 2\n')).toThrow(/duplicate key/);
    expect(() => parseToml('[t\n')).toThrow(/line 1/);
  });

  it('reads the distribution shortnames.conf layout (quoted keys in [aliases])', () => {
    const t = parseToml('[aliases]\n  # x\n  "opensuse/leap" = "registry.opensuse.org/opensuse/leap"\n');
    expect((t.aliases as Record<string, string>)['opensuse/leap']).toBe('registry.opensuse.org/opensuse/leap');
  });
});

describe('registries.conf', () => {
  const text = `
unqualified-search-registries = ["registry.local:5000", "docker.io"]

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror-a.local:5000/hub"
insecure = true
[[registry.mirror]]
location = "mirror-b.local"

[[registry]]
location = "registry.local:5000"
insecure = true

[[registry]]
prefix = "docker.io/library/blocked"
blocked = true

[[registry]]
prefix = "example.com/team"
location = "internal.example.com:8443/mirror/team"

[[registry]]
prefix = "*.corp.example"
insecure = true
`;
  const c = cfg(text);

  it('parses search registries, insecure, blocked, locations and mirrors', () => {
    expect(c.unqualifiedSearch).toEqual(['registry.local:5000', 'docker.io']);
    expect(c.registries).toHaveLength(5);
    expect(c.registries[0]!.mirrors).toEqual([
      { location: 'mirror-a.local:5000/hub', insecure: true },
      { location: 'mirror-b.local', insecure: false },
    ]);
    expect(c.registries[1]).toMatchObject({ prefix: 'registry.local:5000', location: 'registry.local:5000', insecure: true });
  });

  it('pull endpoints: mirrors in order, then the origin, with the path rewritten', () => {
    const eps = endpointsFor('docker.io/library/busybox', true, false, c);
    expect(eps).toEqual([
      { host: 'mirror-a.local:5000', pathPrefix: 'hub', insecure: true, mirror: true, repository: 'hub/library/busybox' },
      { host: 'mirror-b.local', pathPrefix: '', insecure: false, mirror: true, repository: 'library/busybox' },
      { host: 'docker.io', pathPrefix: '', insecure: false, mirror: false, repository: 'library/busybox' },
    ]);
  });

  it('push endpoints: the origin only', () => {
    expect(endpointsFor('docker.io/library/busybox', false, false, c)).toEqual([
      { host: 'docker.io', pathPrefix: '', insecure: false, mirror: false, repository: 'library/busybox' },
    ]);
  });

  it('location rewrite of a path prefix, longest prefix wins', () => {
    expect(endpointsFor('example.com/team/app', true, false, c)).toEqual([
      { host: 'internal.example.com:8443', pathPrefix: 'mirror/team', insecure: false, mirror: false, repository: 'mirror/team/app' },
    ]);
    expect(findRegistry('example.com/teamx/app', c)).toBeUndefined();
    expect(endpointsFor('example.com/teamx/app', true, false, c)[0]).toMatchObject({ host: 'example.com', repository: 'teamx/app' });
  });

  it('blocked registries are refused with the reason', () => {
    expect(() => endpointsFor('docker.io/library/blocked', true, false, c)).toThrow(/blocked in registries.conf/);
    expect(() => endpointsFor('docker.io/library/blocked', true, false, c)).toThrow(CtrError);
  });

  it('wildcard prefixes, insecure hosts', () => {
    expect(endpointsFor('a.corp.example/x', true, false, c)).toEqual([
      { host: 'a.corp.example', pathPrefix: '', insecure: true, mirror: false, repository: 'x' },
    ]);
    expect(isInsecureHost('registry.local:5000', c)).toBe(true);
    expect(isInsecureHost('mirror-a.local:5000', c)).toBe(true);
    expect(isInsecureHost('docker.io', c)).toBe(false);
  });

  it('mirror-by-digest-only and pull-from-mirror', () => {
    const d = cfg(`
[[registry]]
prefix = "q.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m1"
[[registry]]
prefix = "r.io"
[[registry.mirror]]
location = "m2"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "m3"
pull-from-mirror = "tag-only"
`);
    expect(endpointsFor('q.io/a', true, false, d).map((e) => e.host)).toEqual(['q.io']);
    expect(endpointsFor('q.io/a', true, true, d).map((e) => e.host)).toEqual(['m1', 'q.io']);
    expect(endpointsFor('r.io/a', true, false, d).map((e) => e.host)).toEqual(['m3', 'r.io']);
    expect(endpointsFor('r.io/a', true, true, d).map((e) => e.host)).toEqual(['m2', 'r.io']);
  });

  it('v1 format tables', () => {
    const v1 = cfg(`
[registries.search]
registries = ['quay.io', 'docker.io']
[registries.insecure]
registries = ['localhost:5000']
[registries.block]
registries = ['evil.example']
`);
    expect(v1.unqualifiedSearch).toEqual(['quay.io', 'docker.io']);
    expect(isInsecureHost('localhost:5000', v1)).toBe(true);
    expect(() => endpointsFor('evil.example/x', true, false, v1)).toThrow(/blocked/);
  });

  it('bad files name the file and the problem', () => {
    expect(() => parseRegistriesConf('[[registry]]\ninsecure = "yes"\nprefix = "a"\n', '/x.conf')).toThrow(/\/x.conf: registry.insecure must be true or false/);
    expect(() => parseRegistriesConf('unqualified-search-registries = "docker.io"\n', '/x.conf')).toThrow(/must be a list/);
    expect(() => parseRegistriesConf('[[registry]]\ninsecure = true\n', '/x.conf')).toThrow(/needs a prefix or a location/);
    expect(() => parseRegistriesConf('a = \n', '/x.conf')).toThrow(/cannot parse \/x.conf: line 1/);
  });
});

describe('configuration files', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    resetRegistryConfig();
  });

  it('per-user file over the system one, drop-ins merged; CTR_REGISTRIES_CONF alone when set', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'regconf-'));
    try {
      process.env.XDG_CONFIG_HOME = dir;
      delete process.env.CTR_REGISTRIES_CONF;
      delete process.env.CONTAINERS_REGISTRIES_CONF;
      fs.mkdirSync(path.join(dir, 'containers', 'registries.conf.d'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'containers', 'registries.conf'), 'unqualified-search-registries = ["a.io"]\n[[registry]]\nlocation = "a.io"\n');
      fs.writeFileSync(path.join(dir, 'containers', 'registries.conf.d', '50-b.conf'), '[[registry]]\nlocation = "a.io"\ninsecure = true\n');
      const files = registryConfigFiles();
      expect(files[0]).toBe(path.join(dir, 'containers', 'registries.conf'));
      expect(files[files.length - 1]).toBe(path.join(dir, 'containers', 'registries.conf.d', '50-b.conf'));
      resetRegistryConfig();
      const c = loadRegistryConfig();
      expect(c.unqualifiedSearch).toEqual(['a.io']);
      expect(c.registries.find((r) => r.prefix === 'a.io')?.insecure).toBe(true);

      const only = path.join(dir, 'only.conf');
      fs.writeFileSync(only, 'unqualified-search-registries = []\n');
      process.env.CTR_REGISTRIES_CONF = only;
      resetRegistryConfig();
      expect(registryConfigFiles()).toEqual([only]);
      expect(loadRegistryConfig().unqualifiedSearch).toEqual([]);
      process.env.CTR_REGISTRIES_CONF = path.join(dir, 'missing.conf');
      resetRegistryConfig();
      expect(() => loadRegistryConfig()).toThrow(/does not exist/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
