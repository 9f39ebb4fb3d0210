import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseChallenges, pickChallenge } from '../../src/registry/challenge';
import { authFilePath, getCredentials, removeAllCredentials, removeCredentials, storeCredentials } from '../../src/registry/credentials';
import { noProxyMatches, proxyFor } from '../../src/registry/transport';
import { transportError, RegistryError } from '../../src/registry/errors';

describe('WWW-Authenticate', () => {
  it('parses Bearer with quoted parameters', () => {
    const cs = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
    expect(cs).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ]);
  });

  it('parses Basic, bare values, escaped quotes, commas inside quotes and several challenges', () => {
    const cs = parseChallenges('Basic realm="Registry, \\"x\\"", Bearer realm=https://a/t ,service=s,error="insufficient_scope"');
    expect(cs).toEqual([
      { scheme: 'basic', params: { realm: 'Registry, "x"' } },
      { scheme: 'bearer', params: { realm: 'https://a/t', service: 's', error: 'insufficient_scope' } },
    ]);
    expect(pickChallenge(cs)?.scheme).toBe('bearer');
    expect(parseChallenges(['Basic realm="r"', 'Negotiate'])).toEqual([
      { scheme: 'basic', params: { realm: 'r' } },
      { scheme: 'negotiate', params: {} },
    ]);
    expect(pickChallenge(parseChallenges('Negotiate'))).toBeUndefined();
    expect(parseChallenges(undefined)).toEqual([]);
  });
});

describe('credentials', () => {
  let dir: string;
  const saved = { ...process.env };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'creds-'));
    process.env = { ...saved, HOME: dir, XDG_RUNTIME_DIR: path.join(dir, 'run'), XDG_CONFIG_HOME: path.join(dir, 'config') };
    delete process.env.REGISTRY_AUTH_FILE;
    delete process.env.DOCKER_CONFIG;
  });
  afterEach(() => {
    process.env = { ...saved };
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores in $XDG_RUNTIME_DIR/containers/auth.json, 0600, keeping other entries', () => {
    expect(authFilePath()).toBe(path.join(dir, 'run', 'containers', 'auth.json'));
    storeCredentials('localhost:5000', 'u', 'p:a:ss');
    storeCredentials('other:1', 'x', 'y');
    const st = fs.statSync(authFilePath());
    expect(st.mode & 0o777).toBe(0o600);
    const j = JSON.parse(fs.readFileSync(authFilePath(), 'utf8'));
    expect(j.auths['localhost:5000'].auth).toBe(Buffer.from('u:p:a:ss').toString('base64'));
    expect(getCredentials('localhost:5000')).toEqual({ username: 'u', password: 'p:a:ss' });
    expect(fs.readdirSync(path.dirname(authFilePath())).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    expect(removeCredentials('localhost:5000')).toBe(true);
    expect(removeCredentials('localhost:5000')).toBe(false);
    expect(getCredentials('localhost:5000')).toBeUndefined();
    expect(getCredentials('other:1')).toEqual({ username: 'x', password: 'y' });
    expect(removeAllCredentials()).toBe(1);
    expect(getCredentials('other:1')).toBeUndefined();
  });

  it('REGISTRY_AUTH_FILE overrides; docker.io aliases; Docker config as a fallback', () => {
    fs.mkdirSync(path.join(dir, '.docker'));
    fs.writeFileSync(
      path.join(dir, '.docker', 'config.json'),
      JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') }, 'https://r.example:443': { auth: Buffer.from('a:b').toString('base64') } } }),
    );
    expect(getCredentials('docker.io')).toEqual({ username: 'hub', password: 'pw' });
    expect(getCredentials('r.example:443')).toEqual({ username: 'a', password: 'b' });
    storeCredentials('docker.io', 'mine', 'pw2');
    expect(getCredentials('index.docker.io')).toEqual({ username: 'mine', password: 'pw2' });
    const f = path.join(dir, 'custom.json');
    process.env.REGISTRY_AUTH_FILE = f;
    expect(authFilePath()).toBe(f);
    expect(getCredentials('docker.io')).toBeUndefined();
    storeCredentials('h:1', 'a', 'b');
    expect(JSON.parse(fs.readFileSync(f, 'utf8')).auths['h:1']).toBeDefined();
  });

  it('a broken auth file is a clear error', () => {
    fs.mkdirSync(path.join(dir, 'run', 'containers'), { recursive: true });
    fs.writeFileSync(authFilePath(), '{not json');
    expect(() => getCredentials('x')).toThrow(/is not valid JSON/);
    expect(() => storeCredentials('x', 'a', 'b')).toThrow(/is not valid JSON/);
  });
});

describe('proxy selection', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });
  it('NO_PROXY matching like Go', () => {
    expect(noProxyMatches('example.com', 'example.com', '443')).toBe(true);
    expect(noProxyMatches('example.com', 'a.example.com', '443')).toBe(true);
    expect(noProxyMatches('.example.com', 'a.example.com', '443')).toBe(true);
    expect(noProxyMatches('example.com', 'badexample.com', '443')).toBe(false);
    expect(noProxyMatches('example.com:5000', 'example.com', '443')).toBe(false);
    expect(noProxyMatches('example.com:5000', 'example.com', '5000')).toBe(true);
    expect(noProxyMatches('10.0.0.0/8', '10.1.2.3', '80')).toBe(true);
    expect(noProxyMatches('10.0.0.0/8', '11.1.2.3', '80')).toBe(false);
    expect(noProxyMatches('*', 'anything', '80')).toBe(true);
    expect(noProxyMatches('a.b, c.d', 'c.d', '80')).toBe(true);
  });
  it('HTTPS_PROXY/HTTP_PROXY by scheme, loopback always direct', () => {
    process.env.HTTPS_PROXY = 'proxy.local:3128';
    process.env.HTTP_PROXY = 'http://p2:8080';
    process.env.NO_PROXY = 'internal.example';
    delete process.env.https_proxy;
    delete process.env.http_proxy;
    delete process.env.no_proxy;
    expect(proxyFor(new URL('https://quay.io/v2/'))).toBe('http://proxy.local:3128');
    expect(proxyFor(new URL('http://quay.io/v2/'))).toBe('http://p2:8080');
    expect(proxyFor(new URL('https://x.internal.example/v2/'))).toBeUndefined();
    expect(proxyFor(new URL('http://127.0.0.1:5000/v2/'))).toBeUndefined();
    expect(proxyFor(new URL('http://localhost:5000/v2/'))).toBeUndefined();
  });
});

describe('transport errors', () => {
  it('map to one line naming the way out', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    expect(transportError(refused, '127.0.0.1:9').message).toBe('connection refused: 127.0.0.1:9 (is the registry running?)');
    const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const e = transportError(tls, 'r.local:5000');
    expect(e).toBeInstanceOf(RegistryError);
    expect(e.code).toBe('TLS');
    expect(e.message).toContain('--tls-verify=false');
    expect(e.message).toContain('/etc/containers/certs.d/r.local:5000/');
  });
});
