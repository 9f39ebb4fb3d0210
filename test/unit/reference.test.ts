import { describe, expect, it } from 'vitest';
import { familiarName, normalizeReference, parseReference, parseTagReference, InvalidReferenceError } from '../../src/image/reference';

const D = 'sha256:' + 'a'.repeat(64);

describe('normalizeReference', () => {
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['user/app', 'docker.io/user/app:latest'],
    ['user/app:v2', 'docker.io/user/app:v2'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/ns/app:tag', 'localhost:5000/ns/app:tag'],
    ['quay.io/a/b/c:1', 'quay.io/a/b/c:1'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000/x:latest'],
    ['[::1]:5000/x:y', '[::1]:5000/x:y'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`],
    ['ns/a_b__c-d--e.f', 'docker.io/ns/a_b__c-d--e.f:latest'],
    ['a_b.io/x', 'invalid'],
    ['Foo.io/bar', 'Foo.io/bar:latest'],
    ['x:V1_.-a', 'docker.io/library/x:V1_.-a'],
  ];
  for (const [input, want] of cases)
    it(`${input} -> ${want}`, () => (want === 'invalid' ? expect(() => normalizeReference(input)).toThrow(/invalid registry host/) : expect(normalizeReference(input)).toBe(want)));
});

describe('invalid references', () => {
  const cases: [string, RegExp][] = [
    ['', /empty reference/],
    ['Busybox', /must be lowercase/],
    ['user/App:1', /must be lowercase/],
    ['busybox:', /empty tag/],
    ['busybox@', /empty digest/],
    ['busybox@sha256:abc', /64 lower-case hex/],
    ['busybox@md5:' + 'a'.repeat(32), /unsupported digest algorithm/],
    ['busybox@sha256:' + 'A'.repeat(64), /64 lower-case hex/],
    ['bu sy', /white space/],
    ['busybox:-x', /invalid tag/],
    ['busybox:' + 'a'.repeat(129), /invalid tag/],
    ['a//b', /empty path component/],
    ['-a', /invalid repository name component/],
    ['a/b_', /invalid repository name component/],
    ['a'.repeat(64), /image ID/],
    ['host:port/x', /invalid registry port/],
    [':tag', /at least one component/],
    ['docker.io/' + 'a'.repeat(250), /255/],
  ];
  for (const [input, re] of cases)
    it(`refuses ${JSON.stringify(input.slice(0, 40))}`, () => {
      let err: unknown;
      try {
        parseReference(input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidReferenceError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toMatch(/^invalid reference format/);
    });
});

describe('parts and display', () => {
  it('splits domain, path, tag, digest', () => {
    expect(parseReference(`localhost:5000/a/b:c@${D}`)).toEqual({ domain: 'localhost:5000', path: 'a/b', tag: 'c', digest: D });
    expect(parseReference('busybox')).toEqual({ domain: 'docker.io', path: 'library/busybox' });
  });
  it('familiar names drop docker.io and library/', () => {
    expect(familiarName(parseReference('busybox:1'))).toBe('busybox:1');
    expect(familiarName(parseReference('user/app'))).toBe('user/app');
    expect(familiarName(parseReference('quay.io/x/y:z'))).toBe('quay.io/x/y:z');
  });
  it('tag references refuse digests and add latest', () => {
    expect(parseTagReference('x')).toEqual({ domain: 'docker.io', path: 'library/x', tag: 'latest' });
    expect(() => parseTagReference(`x@${D}`)).toThrow(/digest reference cannot be used as a tag/);
  });
});
