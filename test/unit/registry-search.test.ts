import { describe, expect, it } from 'vitest';
import { applyFilter, catalogRows, hubRows, parseSearchFilters, splitTerm } from '../../src/registry/search';
import { parseTlsVerify, registryHost } from '../../src/registry/cli';

describe('search helpers', () => {
  it('splits HOST/term only when the first part is a host', () => {
    expect(splitTerm('localhost:5000/app')).toEqual({ host: 'localhost:5000', term: 'app' });
    expect(splitTerm('quay.io/podman/stable')).toEqual({ host: 'quay.io', term: 'podman/stable' });
    expect(splitTerm('localhost/x')).toEqual({ host: 'localhost', term: 'x' });
    expect(splitTerm('library/busybox')).toEqual({ term: 'library/busybox' });
    expect(splitTerm('busybox')).toEqual({ term: 'busybox' });
  });

  it("maps Docker Hub's answer and filters it", () => {
    const rows = hubRows({
      results: [
        { name: 'busybox', description: 'Busybox base image.', star_count: 3000, is_official: true, is_automated: false },
        { name: 'someone/busybox', description: '', star_count: 3, is_official: false, is_automated: true },
      ],
    });
    expect(rows.map((r) => r.Name)).toEqual(['docker.io/library/busybox', 'docker.io/someone/busybox']);
    expect(rows[0]).toMatchObject({ Index: 'docker.io', Stars: 3000, Official: '[OK]', Automated: '' });
    expect(applyFilter(rows, parseSearchFilters(['stars=10'])).map((r) => r.Name)).toEqual(['docker.io/library/busybox']);
    expect(applyFilter(rows, parseSearchFilters(['is-official=false'])).map((r) => r.Name)).toEqual(['docker.io/someone/busybox']);
    expect(applyFilter(rows, parseSearchFilters(['is-automated=true', 'stars=1']))).toHaveLength(1);
    expect(hubRows({})).toEqual([]);
  });

  it('filters a catalog case-insensitively', () => {
    expect(catalogRows('h:1', ['a/BusyBox', 'b/other', 'busy'], 'busy').map((r) => r.Name)).toEqual(['h:1/a/BusyBox', 'h:1/busy']);
  });

  it('refuses bad filters', () => {
    expect(() => parseSearchFilters(['stars=-1'])).toThrow(/stars needs a number/);
    expect(() => parseSearchFilters(['is-official=yes'])).toThrow(/is-official=true or is-official=false/);
    expect(() => parseSearchFilters(['label=x'])).toThrow(/use stars=N/);
  });
});

describe('registry command arguments', () => {
  it('registry hosts as users type them', () => {
    expect(registryHost('localhost:5000')).toBe('localhost:5000');
    expect(registryHost('https://Registry.Example.com/v1/')).toBe('registry.example.com');
    expect(registryHost('index.docker.io')).toBe('docker.io');
    expect(registryHost('[::1]:5000')).toBe('[::1]:5000');
    expect(() => registryHost('user@host')).toThrow(/invalid registry/);
    expect(() => registryHost('')).toThrow(/invalid registry/);
  });

  it('--tls-verify values', () => {
    expect(parseTlsVerify(undefined)).toBeUndefined();
    expect(parseTlsVerify(true)).toBe(true);
    expect(parseTlsVerify('false')).toBe(false);
    expect(parseTlsVerify('true')).toBe(true);
    expect(() => parseTlsVerify('maybe')).toThrow(/--tls-verify=true or --tls-verify=false/);
  });
});
