// A hostile local user against the test user: two real accounts, the victim (ctrtest, who has
// logged in to a registry with htpasswd auth) and the attacker (ctrevil), who prepares the
// victim's /tmp/ctr-UID (world-writable, or a symbolic link to a directory of their own), plants
// a registry memory (registry-hosts.json) that points at a fake registry of theirs, offers an
// XDG_RUNTIME_DIR or a store of their own, and records every Authorization header their server
// receives. No credential may ever reach that server, and ctr refuses each trap with one line
// that names the directory and the fix.
//
// Every command of either user sees a private /tmp (a directory of this test bind-mounted on
// /tmp in a mount namespace of its own), so the test never touches the machine's real
// /tmp/ctr-UID nor races other test runs.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ctrBin, describeResult, fixturePath, fixtures, helperBin, isRoot, run, spawnProc, type Proc, type RunResult } from './lib';
import { tmpBase } from './paths';
import { BASIC_PASS, BASIC_USER, seedImage, startBasicRegistry } from './registries';
import type { Registry } from './lib';

const VICTIM = process.env.CTR_TEST_USER || 'ctrtest';
const EVIL = process.env.CTR_TEST_EVIL_USER || 'ctrevil';
const uidOf = (u: string) => {
  const r = spawnSync('id', ['-u', u], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
};
const gidOf = (u: string) => Number(spawnSync('id', ['-g', u], { encoding: 'utf8' }).stdout.trim());
const VUID = uidOf(VICTIM);
const EUID = uidOf(EVIL);
const ready = isRoot && VUID !== undefined && EUID !== undefined;

const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
const errLines = (r: RunResult) => r.stderr.split('\n').filter((l) => l.trim() !== '');
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The attacker's registry: answers 401 Basic to everything (so a client would send credentials) and records each request. */
const EVIL_SERVER = `
const http = require('http');
const fs = require('fs');
const log = process.argv[2];
const s = http.createServer((req, res) => {
  fs.appendFileSync(log, JSON.stringify({ method: req.method, url: req.url, auth: req.headers.authorization || null }) + '\\n');
  if (req.url.startsWith('/token')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end('{"token":"evil","access_token":"evil"}');
  }
  res.writeHead(401, { 'www-authenticate': 'Basic realm="evil"', 'content-type': 'application/json' });
  res.end('{"errors":[{"code":"UNAUTHORIZED","message":"who are you"}]}');
});
s.listen(0, '127.0.0.1', () => console.log('port ' + s.address().port));
`;

describe.skipIf(!ready)(`a hostile local user (${EVIL}) against ${VICTIM}`, () => {
  let S = '';
  let tmp = '';
  let vdir = '';
  let edir = '';
  let reg: Registry;
  let evil: Proc;
  let evilPort = 0;
  let evilLog = '';
  const fakes: http.Server[] = [];
  const rtdir = () => path.join(tmp, `ctr-${VUID}`);

  /** argv run in a mount namespace where /tmp is this test's own, as USER with exactly ENV. */
  function inNs(user: string, env: Record<string, string>, argv: string[], timeout = 120_000): Promise<RunResult> {
    const envArgs = Object.entries(env).map(([k, v]) => q(`${k}=${v}`)).join(' ');
    // The tree under test may itself live in /tmp (a clone there): its top directory is bound
    // into the private /tmp at the same path, so the binaries stay reachable.
    const keep = [...new Set([ctrBin, helperBin].filter((p) => p.startsWith('/tmp/')).map((p) => '/tmp/' + p.split('/')[2]))];
    const binds = keep.map((d) => `mkdir -p ${q(tmp + d.slice(4))} && mount --bind ${q(d)} ${q(tmp + d.slice(4))} && `).join('');
    const script = `${binds}mount --rbind ${q(tmp)} /tmp && exec runuser -u ${q(user)} -- env -i ${envArgs} ${argv.map(q).join(' ')}`;
    return run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script], { timeout });
  }

  /** ctr as the victim: XDG_RUNTIME_DIR unset unless given, credentials in the victim's own auth file. */
  function victim(args: string[], o: { xdg?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
    const env: Record<string, string> = {
      HOME: path.join(vdir, 'home'),
      XDG_DATA_HOME: path.join(vdir, 'data'),
      XDG_CONFIG_HOME: path.join(vdir, 'config'),
      REGISTRY_AUTH_FILE: path.join(vdir, 'auth.json'),
      PATH: '/usr/local/bin:/usr/bin:/bin',
      CTR_HELPER: helperBin,
      CTR_REGISTRY_BACKOFF_MS: '5',
      LANG: 'C.UTF-8',
      ...(o.xdg ? { XDG_RUNTIME_DIR: o.xdg } : {}),
      ...o.env,
    };
    return inNs(VICTIM, env, [ctrBin, ...args]);
  }

  /** A shell script as the attacker (same private /tmp). */
  async function attacker(script: string): Promise<void> {
    const r = await inNs(EVIL, { PATH: '/usr/bin:/bin', HOME: edir }, ['sh', '-c', script]);
    if (r.code !== 0) throw new Error(describeResult(`attacker: ${script}`, r));
  }

  const evilRequests = () =>
    fs.existsSync(evilLog)
      ? fs.readFileSync(evilLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { method: string; url: string; auth: string | null })
      : [];
  const credentialsSeen = () => evilRequests().filter((r) => r.auth !== null);

  /** A registry memory entry sending HOST elsewhere (both TLS modes). */
  const plantedMemory = (host: string, base: string) =>
    JSON.stringify({
      [`${host}|s`]: { base, challenge: { scheme: 'basic', params: { realm: 'evil' } }, at: Date.now() },
      [`${host}|i`]: { base, challenge: { scheme: 'basic', params: { realm: 'evil' } }, at: Date.now() },
    });

  function writeAuth(entries: Record<string, string>): void {
    const auths = Object.fromEntries(Object.entries(entries).map(([h, up]) => [h, { auth: b64(up) }]));
    fs.writeFileSync(path.join(vdir, 'auth.json'), JSON.stringify({ auths }), { mode: 0o600 });
    fs.chownSync(path.join(vdir, 'auth.json'), VUID!, gidOf(VICTIM));
  }

  async function fake(handler: http.RequestListener): Promise<number> {
    const s = http.createServer(handler);
    fakes.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return (s.address() as AddressInfo).port;
  }

  beforeAll(async () => {
    // not under /tmp: every command sees this test's own directory there instead
    S = fs.mkdtempSync(path.join(tmpBase() === '/tmp' ? '/var/tmp' : tmpBase(), 'chostile-'));
    fs.chmodSync(S, 0o755);
    tmp = path.join(S, 'tmp');
    fs.mkdirSync(tmp);
    fs.chmodSync(tmp, 0o1777);
    vdir = path.join(S, 'v');
    edir = path.join(S, 'e');
    for (const [d, u] of [[vdir, VICTIM], [edir, EVIL]] as const) {
      fs.mkdirSync(d, { mode: 0o755 });
      fs.chownSync(d, uidOf(u)!, gidOf(u));
    }
    for (const d of ['home', 'data', 'config', 'xr']) {
      fs.mkdirSync(path.join(vdir, d), { mode: 0o700 });
      fs.chownSync(path.join(vdir, d), VUID!, gidOf(VICTIM));
    }
    fs.writeFileSync(path.join(edir, 'server.js'), EVIL_SERVER, { mode: 0o644 });
    evilLog = path.join(edir, 'requests.log');
    evil = spawnProc(['runuser', '-u', EVIL, '--', process.execPath, path.join(edir, 'server.js'), evilLog], { ignoreStdin: true });
    evilPort = Number(/port (\d+)/.exec(await evil.waitForOutput(/port \d+/, { timeout: 15_000 }))![1]);

    reg = await startBasicRegistry();
    await seedImage(reg, 'private/app:latest', 'busybox');
    const load = await victim(['load', '-i', fixturePath(fixtures().images.busybox.files.docker!)], { xdg: path.join(vdir, 'xr') });
    expect(load.code, describeResult('load', load)).toBe(0);
    // the victim's credentials for the real registry, stored by ctr login (in a runtime dir of its own)
    const login = await victim(['login', '--tls-verify=false', '-u', BASIC_USER, '-p', BASIC_PASS, reg.host], { xdg: path.join(vdir, 'xr') });
    expect(login.code, describeResult('login', login)).toBe(0);
  }, 300_000);

  afterAll(async () => {
    if (evil) {
      try {
        process.kill(-evil.pid, 'SIGKILL'); // runuser and the server it started
      } catch {
        /* gone */
      }
    }
    for (const s of fakes) {
      s.closeAllConnections();
      s.close();
    }
    await reg?.stop();
    if (S) {
      // the victim's files are owned by its sub-IDs: remove them from inside its namespace
      await victim(['unshare', 'rm', '-rf', path.join(vdir, 'data')], { xdg: path.join(vdir, 'xr') });
      fs.rmSync(S, { recursive: true, force: true }); // the pause exits when its runtime dir goes
    }
  }, 120_000);

  beforeEach(async () => {
    fs.rmSync(evilLog, { force: true });
    for (const n of fs.readdirSync(tmp)) fs.rmSync(path.join(tmp, n), { recursive: true, force: true });
    writeAuth({ [reg.host]: `${BASIC_USER}:${BASIC_PASS}` });
  });

  it("another user's /tmp/ctr-UID (0777) with a planted registry memory: refused with one line, no credential sent, nothing made there", async () => {
    await attacker(
      `mkdir -m 0777 /tmp/ctr-${VUID} && chmod 0777 /tmp/ctr-${VUID} && printf '%s' ${q(plantedMemory(reg.host, `http://127.0.0.1:${evilPort}`))} > /tmp/ctr-${VUID}/registry-hosts.json && chmod 666 /tmp/ctr-${VUID}/registry-hosts.json`,
    );
    for (const args of [['pull', `${reg.host}/private/app`], ['pull', '--tls-verify=false', `${reg.host}/private/app`]]) {
      const r = await victim(args);
      expect(credentialsSeen()).toEqual([]);
      expect(r.code, describeResult(args.join(' '), r)).toBe(125);
      expect(errLines(r), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`runtime directory /tmp/ctr-${VUID} belongs to ${EVIL} \\(uid ${EUID}\\), not to you.*permission denied.*XDG_RUNTIME_DIR`));
    }
    const runIt = await victim(['run', '--rm', 'busybox', 'true']);
    expect(runIt.code, describeResult('run', runIt)).toBe(125);
    expect(runIt.stderr).toMatch(new RegExp(`/tmp/ctr-${VUID} belongs to ${EVIL}`));
    expect(credentialsSeen()).toEqual([]);
    expect(evilRequests()).toEqual([]);
    // no attach socket, pause PID or lock of the victim's in the attacker's directory
    expect(fs.readdirSync(rtdir())).toEqual(['registry-hosts.json']);
  }, 120_000);

  it('/tmp/ctr-UID as a symbolic link to a directory of the attacker: not followed', async () => {
    await attacker(
      `mkdir -m 0777 /tmp/evil-rt && chmod 0777 /tmp/evil-rt && ln -s /tmp/evil-rt /tmp/ctr-${VUID} && printf '%s' ${q(plantedMemory(reg.host, `http://127.0.0.1:${evilPort}`))} > /tmp/evil-rt/registry-hosts.json && chmod 666 /tmp/evil-rt/registry-hosts.json`,
    );
    const pull = await victim(['pull', '--tls-verify=false', `${reg.host}/private/app`]);
    expect(credentialsSeen()).toEqual([]);
    expect(pull.code, describeResult('pull', pull)).toBe(125);
    expect(errLines(pull), pull.stderr).toHaveLength(1);
    expect(pull.stderr).toMatch(new RegExp(`runtime directory /tmp/ctr-${VUID} is a symbolic link made by ${EVIL}.*refusing to follow it.*XDG_RUNTIME_DIR`));
    const r = await victim(['run', '--rm', 'busybox', 'true']);
    expect(r.code, describeResult('run', r)).toBe(125);
    expect(credentialsSeen()).toEqual([]);
    expect(fs.readdirSync(path.join(tmp, 'evil-rt'))).toEqual(['registry-hosts.json']);
  }, 120_000);

  it("XDG_RUNTIME_DIR of another user: refused (nothing written there, credentials neither), naming XDG_RUNTIME_DIR", async () => {
    await attacker('mkdir -m 0777 /tmp/evil-xdg && chmod 0777 /tmp/evil-xdg');
    const r = await victim(['run', '--rm', 'busybox', 'true'], { xdg: '/tmp/evil-xdg' });
    expect(r.code, describeResult('run', r)).toBe(125);
    expect(errLines(r), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`XDG_RUNTIME_DIR \\(/tmp/evil-xdg\\) belongs to ${EVIL} \\(uid ${EUID}\\).*set XDG_RUNTIME_DIR to a directory of yours`));
    // ctr login would store the password in $XDG_RUNTIME_DIR/containers/auth.json
    const login = await victim(['login', '--tls-verify=false', '-u', BASIC_USER, '-p', BASIC_PASS, reg.host], {
      xdg: '/tmp/evil-xdg',
      env: { REGISTRY_AUTH_FILE: '' },
    });
    expect(login.code, describeResult('login', login)).toBe(125);
    expect(login.stderr).toMatch(/XDG_RUNTIME_DIR \(\/tmp\/evil-xdg\) belongs to/);
    expect(fs.readdirSync(path.join(tmp, 'evil-xdg'))).toEqual([]);
  }, 120_000);

  it('a remembered registry address that changes the host or port is dropped: the pull goes to the real registry', async () => {
    const xr = path.join(vdir, 'xr');
    const memory = path.join(xr, 'ctr', 'registry-hosts.json');
    fs.mkdirSync(path.dirname(memory), { recursive: true, mode: 0o700 });
    fs.writeFileSync(memory, plantedMemory(reg.host, `http://127.0.0.1:${evilPort}`), { mode: 0o600 });
    fs.chownSync(path.dirname(memory), VUID!, gidOf(VICTIM));
    fs.chownSync(memory, VUID!, gidOf(VICTIM));
    const r = await victim(['pull', '--tls-verify=false', `${reg.host}/private/app`], { xdg: xr });
    expect(credentialsSeen()).toEqual([]);
    expect(evilRequests()).toEqual([]);
    expect(r.code, describeResult('pull', r)).toBe(0);
    const kept = JSON.parse(fs.readFileSync(memory, 'utf8')) as Record<string, { base: string }>;
    expect(kept[`${reg.host}|i`]?.base).toBe(`http://${reg.host}`);
  }, 120_000);

  it('a remembered plain-HTTP address for a host that must speak TLS is dropped: no credentials in clear text', async () => {
    // the victim has credentials for host H (as for any TLS registry); the memory says http://H
    const h = `127.0.0.1:${evilPort}`;
    writeAuth({ [h]: 'victim:s3cret-tls-only' });
    const xr = path.join(vdir, 'xr');
    const memory = path.join(xr, 'ctr', 'registry-hosts.json');
    fs.mkdirSync(path.dirname(memory), { recursive: true, mode: 0o700 });
    fs.writeFileSync(memory, JSON.stringify({ [`${h}|s`]: { base: `http://${h}`, challenge: { scheme: 'basic', params: { realm: 'evil' } }, at: Date.now() } }), { mode: 0o600 });
    fs.chownSync(memory, VUID!, gidOf(VICTIM));
    const r = await victim(['pull', `${h}/app`], { xdg: xr });
    expect(credentialsSeen()).toEqual([]);
    expect(r.code, describeResult('pull', r)).toBe(125);
    expect(errLines(r), r.stderr).toHaveLength(1);
  }, 120_000);

  it('a redirect to another host carries neither the Basic credentials nor the bearer token', async () => {
    const creds = 'Basic ' + b64('victim:redirected');
    const seen: (string | undefined)[] = [];
    const basicPort = await fake((req, res) => {
      seen.push(req.headers.authorization);
      if (req.headers.authorization !== creds) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      res.writeHead(307, { location: `http://127.0.0.1:${evilPort}${req.url}` }).end();
    });
    const bearerPort: number = await fake((req, res) => {
      if (req.url?.startsWith('/token')) {
        if (req.headers.authorization !== creds) return void res.writeHead(401).end();
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"registry-token"}');
      }
      if (req.headers.authorization !== 'Bearer registry-token')
        return void res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${bearerPort}/token",service="s"` }).end();
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      res.writeHead(307, { location: `http://localhost:${evilPort}${req.url}` }).end();
    });
    writeAuth({ [`127.0.0.1:${basicPort}`]: 'victim:redirected', [`127.0.0.1:${bearerPort}`]: 'victim:redirected' });
    for (const port of [basicPort, bearerPort]) {
      const r = await victim(['pull', '--tls-verify=false', `127.0.0.1:${port}/app`], { xdg: path.join(vdir, 'xr') });
      expect(r.code, describeResult('pull', r)).toBe(125);
    }
    expect(seen).toContain(creds); // the registry itself got them
    expect(evilRequests().length).toBeGreaterThan(0); // the redirects were followed
    expect(credentialsSeen()).toEqual([]);
  }, 120_000);

  it('an insecure registry naming a token service on another host: the credentials do not go there', async () => {
    const port = await fake((req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://localhost:${evilPort}/token",service="s"` }).end();
    });
    writeAuth({ [`127.0.0.1:${port}`]: 'victim:realm-secret' });
    const r = await victim(['pull', '--tls-verify=false', `127.0.0.1:${port}/app`], { xdg: path.join(vdir, 'xr') });
    expect(credentialsSeen()).toEqual([]);
    expect(r.code, describeResult('pull', r)).toBe(125);
    expect(errLines(r), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(/named a token service on another host \(localhost:\d+\)/);
    expect(credentialsSeen()).toEqual([]);
  }, 120_000);

  it("a store of another user (0700): permission denied naming it, never 'damaged ... remove it'", async () => {
    await attacker(`mkdir -m 0700 ${q(path.join(edir, 'store'))} && echo '{}' > ${q(path.join(edir, 'store', 'tags.json'))}`);
    for (const args of [['images'], ['ps', '-a'], ['run', '--rm', 'busybox', 'true']]) {
      const r = await victim(['--root', path.join(edir, 'store'), ...args], { xdg: path.join(vdir, 'xr') });
      expect(r.code, describeResult(args.join(' '), r)).toBe(125);
      expect(errLines(r), r.stderr).toHaveLength(1);
      expect(r.stderr).toContain(path.join(edir, 'store'));
      expect(r.stderr).toMatch(/permission denied/);
      expect(r.stderr).not.toMatch(/damaged|remove it/);
    }
  }, 120_000);
});
