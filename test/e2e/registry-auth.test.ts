/**
 * login / logout / search and the registry client against real registries (Debian's
 * docker-registry): Basic (htpasswd) and Bearer token auth, credentials files, catalog
 * search, insecure configuration, TLS with certs.d, mirrors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useCtr } from './lib';
import { BASIC_PASS, BASIC_USER, seedImage, startOpenRegistry, useRegistries, writeRegistriesConf } from './registries';

const regs = useRegistries(['open', 'basic', 'token', 'mirror', 'tls']);
const ctr = useCtr();
const authFile = () => path.join(ctr.env.XDG_RUNTIME_DIR!, 'containers', 'auth.json');
const readAuth = () => JSON.parse(fs.readFileSync(authFile(), 'utf8')) as { auths: Record<string, { auth: string }> };
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('login / logout with Basic auth (htpasswd)', () => {
  it('refuses a wrong password with one line, exit 125, nothing stored', async () => {
    const r = await ctr.run(['login', '--tls-verify=false', '-u', BASIC_USER, '-p', 'wrong', regs.basic.host]);
    expect(r.code).toBe(125);
    expect(r.stderr.trim()).toBe(`Error: login to ${regs.basic.host} failed: wrong username or password`);
    expect(fs.existsSync(authFile())).toBe(false);
  });

  it('says how to log in on a 401', async () => {
    await seedImage(regs.basic, 'busybox:latest', 'busybox');
    const r = await ctr.run(['search', '--list-tags', '--tls-verify=false', `${regs.basic.host}/busybox`]);
    expect(r.code).toBe(125);
    expect(r.stderr.trim()).toBe(`Error: unauthorized: run ctr login ${regs.basic.host}`);
  });

  it('logs in (verified, stored 0600 in $XDG_RUNTIME_DIR/containers/auth.json), then uses the credentials', async () => {
    const r = await ctr.run(['login', '--tls-verify=false', '-u', BASIC_USER, '-p', BASIC_PASS, regs.basic.host]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Login Succeeded!\n');
    expect(fs.statSync(authFile()).mode & 0o777).toBe(0o600);
    expect(readAuth().auths[regs.basic.host]!.auth).toBe(b64(`${BASIC_USER}:${BASIC_PASS}`));
    const tags = await ctr.run(['search', '--list-tags', '--tls-verify=false', `${regs.basic.host}/busybox`]);
    expect(tags.code, tags.stderr).toBe(0);
    expect(tags.stdout).toMatch(new RegExp(`^NAME\\s+TAG\\n${regs.basic.host}/busybox\\s+latest\\n$`));
    const who = await ctr.run(['login', '--get-login', regs.basic.host]);
    expect(who.stdout).toBe(`${BASIC_USER}\n`);
  });

  it('a failed login keeps the stored credentials', async () => {
    const r = await ctr.run(['login', '--tls-verify=false', '-u', BASIC_USER, '--password-stdin', regs.basic.host], { input: 'nope\n' });
    expect(r.code).toBe(125);
    expect(readAuth().auths[regs.basic.host]!.auth).toBe(b64(`${BASIC_USER}:${BASIC_PASS}`));
  });

  it('logout removes them; a second logout says so', async () => {
    const r = await ctr.run(['logout', regs.basic.host]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Removed login credentials for ${regs.basic.host}\n`);
    expect(readAuth().auths[regs.basic.host]).toBeUndefined();
    const again = await ctr.run(['logout', regs.basic.host]);
    expect(again.code).toBe(125);
    expect(again.stderr.trim()).toBe(`Error: not logged into ${regs.basic.host}`);
  });

  it('--password-stdin, REGISTRY_AUTH_FILE, logout --all', async () => {
    const file = path.join(ctr.dir, 'my-auth.json');
    const env = { REGISTRY_AUTH_FILE: file };
    const r = await ctr.run(['login', '--tls-verify=false', '-u', BASIC_USER, '--password-stdin', regs.basic.host], { input: `${BASIC_PASS}\n`, env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).auths[regs.basic.host].auth).toBe(b64(`${BASIC_USER}:${BASIC_PASS}`));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const out = await ctr.run(['logout', '--all'], { env });
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).auths).toEqual({});
  });

  it('prompts for username and password on a terminal (password not echoed)', async () => {
    const s = ctr.tty(['login', '--tls-verify=false', regs.basic.host]);
    await s.expect('Username: ');
    s.write(`${BASIC_USER}\r`);
    await s.expect('Password: ');
    s.write(`${BASIC_PASS}\r`);
    const res = await s.wait(30_000);
    expect(res.code, res.output).toBe(0);
    expect(res.output).toContain('Login Succeeded!');
    expect(res.output).not.toContain(BASIC_PASS);
    expect(readAuth().auths[regs.basic.host]!.auth).toBe(b64(`${BASIC_USER}:${BASIC_PASS}`));
    await ctr.runOk(['logout', regs.basic.host]);
  });

  it('no password and no terminal: a clear error', async () => {
    const r = await ctr.run(['login', '--tls-verify=false', '-u', BASIC_USER, regs.basic.host]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/no password: use -p PASSWORD or --password-stdin/);
  });

  it("reads Docker's ~/.docker/config.json as a fallback, and logout leaves it alone", async () => {
    const dockerDir = path.join(ctr.dir, 'docker');
    fs.mkdirSync(dockerDir, { recursive: true });
    fs.writeFileSync(path.join(dockerDir, 'config.json'), JSON.stringify({ auths: { [`http://${regs.basic.host}`]: { auth: b64(`${BASIC_USER}:${BASIC_PASS}`) } } }));
    const env = { DOCKER_CONFIG: dockerDir };
    const tags = await ctr.run(['search', '--list-tags', '--tls-verify=false', `${regs.basic.host}/busybox`], { env });
    expect(tags.code, tags.stderr).toBe(0);
    const out = await ctr.run(['logout', regs.basic.host], { env });
    expect(out.code).toBe(125);
    expect(out.stderr).toMatch(/credentials in .*config\.json were left in place/);
  });
});

describe('login with Bearer token auth', () => {
  it('anonymous access gets a 401 that says to log in', async () => {
    await seedImage(regs.token, 'busybox:latest', 'busybox');
    const r = await ctr.run(['search', '--list-tags', '--tls-verify=false', `${regs.token.host}/busybox`]);
    expect(r.code).toBe(125);
    expect(r.stderr.trim()).toBe(`Error: unauthorized: run ctr login ${regs.token.host}`);
  });

  it('refuses a wrong password, accepts the right one, then uses tokens from the service', async () => {
    const bad = await ctr.run(['login', '--tls-verify=false', '-u', BASIC_USER, '-p', 'wrong', regs.token.host]);
    expect(bad.code).toBe(125);
    expect(bad.stderr.trim()).toBe(`Error: login to ${regs.token.host} failed: wrong username or password`);
    const ok = await ctr.run(['login', '--tls-verify=false', '-u', BASIC_USER, '-p', BASIC_PASS, regs.token.host]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('Login Succeeded!\n');
    const before = regs.token.tokens.requests.length;
    const tags = await ctr.run(['search', '--list-tags', '--tls-verify=false', `${regs.token.host}/busybox`]);
    expect(tags.code, tags.stderr).toBe(0);
    expect(tags.stdout).toContain(`${regs.token.host}/busybox`);
    const asked = regs.token.tokens.requests.slice(before);
    expect(asked.some((q) => q.user === BASIC_USER && q.scopes.includes('repository:busybox:pull') && q.status === 200)).toBe(true);
    const cat = await ctr.run(['search', '--tls-verify=false', `${regs.token.host}/busy`]);
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toContain(`${regs.token.host}/busybox`);
    await ctr.runOk(['logout', regs.token.host]);
  });
});

describe('search', () => {
  it("filters the open registry's catalog by the term", async () => {
    await seedImage(regs.open, 'busybox:latest', 'busybox');
    await seedImage(regs.open, 'tools/busybox-extra:1', 'busybox');
    await seedImage(regs.open, 'other/thing:1', 'busybox');
    const r = await ctr.run(['search', '--tls-verify=false', `${regs.open.host}/busybox`]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+DESCRIPTION$/);
    expect(lines.slice(1).map((l) => l.trim()).sort()).toEqual([`${regs.open.host}/busybox`, `${regs.open.host}/tools/busybox-extra`]);
    const one = await ctr.run(['search', '--tls-verify=false', '--limit', '1', '--format', '{{.Name}} {{.Index}} {{.Stars}}', `${regs.open.host}/BUSY`]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`^${regs.open.host}/\\S*busybox\\S* ${regs.open.host} 0\\n$`));
    const json = await ctr.run(['search', '--tls-verify=false', '--format', 'json', `${regs.open.host}/thing`]);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ Name: `${regs.open.host}/other/thing`, Index: regs.open.host })]);
    const none = await ctr.run(['search', '--tls-verify=false', '--filter', 'is-official=true', `${regs.open.host}/busybox`]);
    expect(none.code).toBe(0);
    expect(none.stdout.trim()).toMatch(/^NAME\s+DESCRIPTION$/);
  });

  it('bad options are refused before any network', async () => {
    for (const [args, msg] of [
      [['--filter', 'stars=x', 'foo'], /stars needs a number/],
      [['--filter', 'bogus=1', 'foo'], /use stars=N, is-official/],
      [['--limit', '0', 'foo'], /invalid --limit "0"/],
      [['--tls-verify=maybe', 'foo'], /invalid --tls-verify value "maybe"/],
    ] as [string[], RegExp][]) {
      const r = await ctr.run(['search', ...args]);
      expect(r.code, args.join(' ')).toBe(125);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('connection refused is one line', async () => {
    const r = await ctr.run(['search', '--tls-verify=false', '127.0.0.1:1/x']);
    expect(r.code).toBe(125);
    expect(r.stderr.trim()).toBe('Error: connection refused: 127.0.0.1:1 (is the registry running?)');
  });
});

describe('insecure registries and TLS', () => {
  it('a plain-HTTP registry needs --tls-verify=false or insecure = true in registries.conf', async () => {
    const plain = await ctr.run(['search', `${regs.open.host}/busybox`]);
    expect(plain.code).toBe(125);
    expect(plain.stderr).toContain(`TLS failure with ${regs.open.host}`);
    expect(plain.stderr).toContain('--tls-verify=false');
    const conf = writeRegistriesConf(ctr.dir, `[[registry]]\nlocation = "${regs.open.host}"\ninsecure = true\n`);
    const ok = await ctr.run(['search', '--format', '{{.Name}}', `${regs.open.host}/busybox`], { env: { CTR_REGISTRIES_CONF: conf } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`${regs.open.host}/busybox`);
    // --tls-verify=true overrides the configuration
    const strict = await ctr.run(['search', '--tls-verify=true', `${regs.open.host}/busybox`], { env: { CTR_REGISTRIES_CONF: conf } });
    expect(strict.code).toBe(125);
  });

  it('a self-signed HTTPS registry: TLS failure names the ways out; certs.d or --tls-verify=false work', async () => {
    await seedImage(regs.tls, 'busybox:latest', 'busybox');
    const bad = await ctr.run(['search', `${regs.tls.host}/busybox`]);
    expect(bad.code).toBe(125);
    expect(bad.stderr.trim()).toMatch(
      new RegExp(`^Error: TLS failure with ${regs.tls.host.replace(/\./g, '\\.')}: .*; use --tls-verify=false or put the CA in /etc/containers/certs\\.d/${regs.tls.host.replace(/\./g, '\\.')}/$`),
    );
    const withCa = await ctr.run(['search', '--format', '{{.Name}}', `${regs.tls.host}/busybox`], { env: { CTR_CERTS_DIR: regs.tls.certsDir } });
    expect(withCa.code, withCa.stderr).toBe(0);
    expect(withCa.stdout).toBe(`${regs.tls.host}/busybox\n`);
    const noVerify = await ctr.run(['search', '--tls-verify=false', '--format', '{{.Name}}', `${regs.tls.host}/busybox`]);
    expect(noVerify.code, noVerify.stderr).toBe(0);
    expect(noVerify.stdout).toBe(`${regs.tls.host}/busybox\n`);
  });
});

describe('mirrors (registry client)', () => {
  const saved = process.env.CTR_REGISTRIES_CONF;
  afterAll(async () => {
    if (saved === undefined) delete process.env.CTR_REGISTRIES_CONF;
    else process.env.CTR_REGISTRIES_CONF = saved;
    (await import('../../src/registry/config.js')).resetRegistryConfig();
  });

  async function clientFor(conf: string, domain: string, repo: string) {
    process.env.CTR_REGISTRIES_CONF = conf;
    const { resetRegistryConfig } = await import('../../src/registry/config.js');
    resetRegistryConfig();
    const { RegistryClient } = await import('../../src/registry/client.js');
    return new RegistryClient(domain, repo);
  }

  async function readAll(it: AsyncIterable<Buffer>): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const b of it) parts.push(b);
    return Buffer.concat(parts);
  }

  it('reads from the first mirror that answers, then the origin; the origin stopped, the mirror still serves', async () => {
    const origin = await startOpenRegistry();
    try {
      await seedImage(origin, 'team/app:1', 'busybox');
      await seedImage(regs.mirror, 'team/app:1', 'busybox');
      const conf = writeRegistriesConf(
        ctr.dir,
        [
          '[[registry]]',
          `location = "${origin.host}"`,
          'insecure = true',
          '[[registry.mirror]]',
          'location = "127.0.0.1:1"', // dead mirror: skipped
          'insecure = true',
          '[[registry.mirror]]',
          `location = "${regs.mirror.host}"`,
          'insecure = true',
          '',
        ].join('\n'),
      );
      const c = await clientFor(conf, origin.host, 'team/app');
      const m = await c.getManifest('1');
      expect(c.lastEndpoint).toBe(regs.mirror.host);
      // the origin has only what the mirror has: stop it, the pull data still comes
      await origin.stop();
      const c2 = await clientFor(conf, origin.host, 'team/app');
      const m2 = await c2.getManifest(m.digest);
      expect(m2.digest).toBe(m.digest);
      expect(c2.lastEndpoint).toBe(regs.mirror.host);
      const layer = (JSON.parse(m.body.toString()) as { layers: { digest: string; size: number }[] }).layers[0]!;
      const blob = await readAll(c2.blob(layer.digest, { size: layer.size }));
      const { createHash } = await import('node:crypto');
      expect('sha256:' + createHash('sha256').update(blob).digest('hex')).toBe(layer.digest);
      // a push client never uses mirrors
      const { RegistryClient } = await import('../../src/registry/client.js');
      await expect(new RegistryClient(origin.host, 'team/app', { forPull: false }).headManifest('1')).rejects.toThrow(/connection refused/);
    } finally {
      await origin.stop().catch(() => undefined);
    }
  });

  it('falls back to the origin when the mirror lacks the image', async () => {
    await seedImage(regs.open, 'only/origin:1', 'busybox');
    const conf = writeRegistriesConf(
      ctr.dir,
      `[[registry]]\nlocation = "${regs.open.host}"\ninsecure = true\n[[registry.mirror]]\nlocation = "${regs.mirror.host}"\ninsecure = true\n`,
    );
    const c = await clientFor(conf, regs.open.host, 'only/origin');
    await c.getManifest('1');
    expect(c.lastEndpoint).toBe(regs.open.host);
    await expect(c.getManifest('missing')).rejects.toThrow(`manifest unknown: ${regs.open.host}/only/origin:missing`);
  });
});

describe('the remembered host answers (registry-hosts.json in the runtime dir)', () => {
  /** A server that records every request (and answers 401 Basic, so a client would send credentials). */
  async function recorder(): Promise<{ port: number; seen: { url: string; auth?: string }[]; close: () => void }> {
    const http = await import('node:http');
    const seen: { url: string; auth?: string }[] = [];
    const s = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', auth: req.headers.authorization });
      if (req.url?.startsWith('/token')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}');
      res.writeHead(401, { 'www-authenticate': 'Basic realm="elsewhere"' }).end();
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return { port: (s.address() as import('node:net').AddressInfo).port, seen, close: () => (s.closeAllConnections(), s.close()) };
  }
  const memoryFile = () => path.join(ctr.runroot, 'registry-hosts.json');
  const remember = (entries: Record<string, { base: string; challenge: unknown }>) =>
    fs.writeFileSync(memoryFile(), JSON.stringify(Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, { ...v, at: Date.now() }]))), { mode: 0o600 });

  it('an address that is not the host itself is dropped: the pull goes to the registry, nothing elsewhere', async () => {
    await seedImage(regs.basic, 'kept/app:1', 'busybox');
    const login = await ctr.run(['login', '--tls-verify=false', '-u', BASIC_USER, '-p', BASIC_PASS, regs.basic.host]);
    expect(login.code, login.stderr).toBe(0);
    const rec = await recorder();
    try {
      remember({ [`${regs.basic.host}|i`]: { base: `http://127.0.0.1:${rec.port}`, challenge: { scheme: 'basic', params: { realm: 'x' } } } });
      const r = await ctr.run(['pull', '--tls-verify=false', `${regs.basic.host}/kept/app:1`]);
      expect(rec.seen).toEqual([]);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(fs.readFileSync(memoryFile(), 'utf8')) as Record<string, { base: string }>)[`${regs.basic.host}|i`]!.base).toBe(`http://${regs.basic.host}`);
    } finally {
      rec.close();
    }
  });

  it('a remembered token service on another host is asked for again before the credentials could go there', async () => {
    const rec = await recorder();
    try {
      remember({
        [`${regs.basic.host}|i`]: { base: `http://${regs.basic.host}`, challenge: { scheme: 'bearer', params: { realm: `http://localhost:${rec.port}/token`, service: 's' } } },
      });
      const r = await ctr.run(['pull', '--tls-verify=false', `${regs.basic.host}/kept/app:1`]);
      expect(rec.seen.filter((s) => s.auth)).toEqual([]);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      rec.close();
    }
  });
});
