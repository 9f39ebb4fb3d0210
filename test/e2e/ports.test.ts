// Port publishing: -p/-P/--expose through the relay in the container's monitor, `ctr port`,
// `ps` PORTS, `inspect` NetworkSettings.Ports / HostConfig.PortBindings, bad input. busybox
// httpd serves a page inside the container; the host side is Node's own http and dgram. UDP is
// answered by a tiny static echo responder (udp-echo.c, built here) bind-mounted in.
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileStatic, repoRoot, run, useCtr, waitFor } from './lib';
import { allIds, inspect, lines, ok, refused, runDetached, waitStatus } from './containers-util';

const ctr = useCtr({ images: ['busybox', 'layered'] });
let echo = '';
let sender = '';

beforeAll(async () => {
  echo = path.join(ctr.dir, 'udp-echo');
  const src = path.join(repoRoot, 'test', 'e2e', 'udp-echo.c');
  ok(await compileStatic(src, echo), 'compiling the UDP echo responder');
  // bench/port-client.c: `serve PORT SIZE` sends SIZE bytes in 1 MiB writes to each client
  sender = path.join(ctr.dir, 'port-client');
  ok(await compileStatic(path.join(repoRoot, 'bench', 'port-client.c'), sender), 'compiling the bulk sender');
}, 90_000);

/** A host port nobody listens on now (TCP, on 127.0.0.1 and 0.0.0.0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '0.0.0.0', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** GET http://HOST:PORT/ once; the body, or the error's code. */
function get(host: string, port: number, timeout = 3000): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', timeout, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

/** Waits until the page comes through (httpd needs a moment to listen). */
async function page(host: string, port: number): Promise<string> {
  let last: unknown;
  return waitFor(async () => {
    const r = await get(host, port);
    last = r;
    return r.status === 200 ? r.body : undefined;
  }, { timeout: 10_000, what: `the page on ${host}:${port} (last: ${JSON.stringify(last)})` });
}

/** One UDP request/answer through HOST:PORT. */
function udpAsk(host: string, port: number, text: string, timeout = 1000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const t = setTimeout(() => { s.close(); resolve(undefined); }, timeout);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m.toString()); });
    s.send(text, port, host);
  });
}

/** Whether something accepts TCP connections on HOST:PORT. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

const HTTPD = ['sh', '-c', 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www'];

describe('ports: -p', () => {
  it('publishes a TCP port: the page comes through, ps/port/inspect show it, stop releases it', async () => {
    const port = await freePort();
    const id = await runDetached(ctr, ['-p', `${port}:80`, 'busybox', ...HTTPD]);
    expect(await page('127.0.0.1', port)).toBe(`hello from ${id.slice(0, 12)}\n`);
    // several connections in a row and at once
    const many = await Promise.all(Array.from({ length: 8 }, () => get('127.0.0.1', port)));
    for (const r of many) expect(r.status).toBe(200);

    expect(ok(await ctr.run(['port', id]), ['port', id].join(' ')).stdout).toBe(`80/tcp -> 0.0.0.0:${port}\n`);
    expect(ok(await ctr.run(['port', id, '80']), ['port', id, '80'].join(' ')).stdout).toBe(`0.0.0.0:${port}\n`);
    const none = await ctr.run(['port', id, '81/tcp']);
    expect(none.code).toBe(1);
    expect(none.stderr.trim()).toBe(`Error: no public port '81/tcp' published for ${id}`);
    const ps = ok(await ctr.run(['ps', '--filter', `id=${id}`, '--format', '{{.Ports}}']), ['ps', '--filter', `id=${id}`, '--format', '{{.Ports}}'].join(' '));
    expect(ps.stdout).toBe(`0.0.0.0:${port}->80/tcp\n`);
    const insp = await inspect(ctr, id);
    expect(insp.HostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '', HostPort: String(port) }] });
    expect(insp.NetworkSettings.Ports).toEqual({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: String(port) }] });
    expect(insp.Config.ExposedPorts).toEqual({ '80/tcp': {} });

    ok(await ctr.run(['stop', '-t', '1', id]), ['stop', '-t', '1', id].join(' '));
    expect(await listening('127.0.0.1', port)).toBe(false);
    expect((await inspect(ctr, id)).NetworkSettings.Ports).toEqual({ '80/tcp': null });
    expect(ok(await ctr.run(['port', id]), ['port', id].join(' ')).stdout).toBe('');
    // the port is free for another program
    const s = net.createServer();
    await new Promise<void>((res, rej) => { s.once('error', rej); s.listen(port, '0.0.0.0', () => res()); });
    await new Promise((res) => s.close(res));
    ok(await ctr.run(['rm', id]), ['rm', id].join(' '));
  }, 60_000);

  it('a random host port, an IPv6 listener on [::1], ranges folded in ps', async () => {
    const id = await runDetached(ctr, ['-p', '127.0.0.1::80', 'busybox', ...HTTPD]);
    const got = lines(ok(await ctr.run(['port', id, '80/tcp']), ['port', id, '80/tcp'].join(' ')).stdout);
    expect(got).toHaveLength(1);
    const m = /^127\.0\.0\.1:([0-9]+)$/.exec(got[0]!);
    expect(m, got[0]).not.toBeNull();
    expect(await page('127.0.0.1', Number(m![1]))).toBe(`hello from ${id.slice(0, 12)}\n`);
    expect((await inspect(ctr, id)).HostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
    ok(await ctr.run(['rm', '-f', id]), ['rm', '-f', id].join(' '));

    const p6 = await freePort();
    const id6 = await runDetached(ctr, ['-p', `[::1]:${p6}:80`, 'busybox', ...HTTPD]);
    expect(await page('::1', p6)).toBe(`hello from ${id6.slice(0, 12)}\n`);
    expect(ok(await ctr.run(['port', id6]), ['port', id6].join(' ')).stdout).toBe(`80/tcp -> [::1]:${p6}\n`);
    expect(await listening('127.0.0.1', p6)).toBe(false); // only ::1 was asked for
    ok(await ctr.run(['rm', '-f', id6]), ['rm', '-f', id6].join(' '));

    const base = await freePort();
    const r = await runDetached(ctr, ['-p', `127.0.0.1:${base}-${base + 2}:80-82`, 'busybox', 'sleep', '60']);
    expect(ok(await ctr.run(['ps', '--filter', `id=${r}`, '--format', '{{.Ports}}']), ['ps', '--filter', `id=${r}`, '--format', '{{.Ports}}'].join(' ')).stdout)
      .toBe(`127.0.0.1:${base}-${base + 2}->80-82/tcp\n`);
    ok(await ctr.run(['rm', '-f', r]), ['rm', '-f', r].join(' '));
  }, 60_000);

  it('bulk transfers arrive whole and end: the end of the stream is passed on however the data fell', async () => {
    const port = await freePort();
    const size = 32 * 1024 * 1024;
    const id = await runDetached(ctr, ['-p', `127.0.0.1:${port}:5001`, '-v', `${sender}:/pc:ro`, 'busybox', '/pc', 'serve', '5001', String(size)]);
    const fetch = () => new Promise<number | string>((resolve) => {
      let got = 0;
      const s = net.connect({ host: '127.0.0.1', port });
      const t = setTimeout(() => { s.destroy(); resolve(`stalled after ${got} bytes`); }, 15_000);
      s.on('data', (d) => (got += d.length));
      s.on('end', () => { clearTimeout(t); s.destroy(); resolve(got); });
      s.on('error', (e) => { clearTimeout(t); resolve(String(e)); });
    });
    await waitFor(async () => (await fetch()) === size, { timeout: 10_000, what: 'the first transfer' });
    for (let i = 0; i < 24; i++) expect(await fetch()).toBe(size);
    ok(await ctr.run(['rm', '-f', id]), 'rm');
  }, 120_000);

  it('UDP through -p .../udp, a socket per client', async () => {
    const port = await freePort();
    const id = await runDetached(ctr, ['-p', `127.0.0.1:${port}:5353/udp`, '-v', `${echo}:/udp-echo:ro`, 'busybox', '/udp-echo', '5353']);
    const answer = await waitFor(async () => udpAsk('127.0.0.1', port, 'ping-1'), { timeout: 10_000, what: 'a UDP answer' });
    expect(answer).toBe('echo:ping-1');
    const [a, b] = await Promise.all([udpAsk('127.0.0.1', port, 'from-a'), udpAsk('127.0.0.1', port, 'from-b')]);
    expect([a, b]).toEqual(['echo:from-a', 'echo:from-b']);
    expect(ok(await ctr.run(['port', id]), ['port', id].join(' ')).stdout).toBe(`5353/udp -> 127.0.0.1:${port}\n`);
    ok(await ctr.run(['rm', '-f', id]), ['rm', '-f', id].join(' '));
  }, 60_000);
});

describe('ports: -P and --expose', () => {
  it('publishes the image’s EXPOSEd port and --expose ones on free host ports', async () => {
    // layered EXPOSEs 8080/tcp; its entrypoint is sh -c
    const id = await runDetached(ctr, ['-P', '--expose', '9090/udp', 'layered',
      'mkdir -p /www && echo "exposed" > /www/index.html && exec httpd -f -p 8080 -h /www']);
    const out = lines(ok(await ctr.run(['port', id]), ['port', id].join(' ')).stdout);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^8080\/tcp -> 0\.0\.0\.0:[0-9]+$/);
    expect(out[1]).toMatch(/^9090\/udp -> 0\.0\.0\.0:[0-9]+$/);
    const port = Number(/:([0-9]+)$/.exec(out[0]!)![1]);
    expect(await page('127.0.0.1', port)).toBe('exposed\n');
    const insp = await inspect(ctr, id);
    expect(insp.HostConfig.PublishAllPorts).toBe(true);
    expect(Object.keys(insp.Config.ExposedPorts).sort()).toEqual(['8080/tcp', '9090/udp']);
    ok(await ctr.run(['rm', '-f', id]), ['rm', '-f', id].join(' '));
  }, 60_000);

  it('restart keeps the published port', async () => {
    const port = await freePort();
    const id = await runDetached(ctr, ['-p', `${port}:80`, 'busybox', ...HTTPD]);
    await page('127.0.0.1', port);
    ok(await ctr.run(['restart', '-t', '1', id]), ['restart', '-t', '1', id].join(' '));
    await waitStatus(ctr, id, 'running');
    expect(await page('127.0.0.1', port)).toBe(`hello from ${id.slice(0, 12)}\n`);
    expect(ok(await ctr.run(['port', id]), ['port', id].join(' ')).stdout).toBe(`80/tcp -> 0.0.0.0:${port}\n`);
    ok(await ctr.run(['rm', '-f', id]), ['rm', '-f', id].join(' '));
  }, 60_000);
});

describe('ports: bad input', () => {
  const bad: [string, RegExp][] = [
    ['0:80', /^Error: invalid host port 0 in "0:80": ports are 1 to 65535$/],
    ['8080:65536', /^Error: invalid container port 65536 in "8080:65536": ports are 1 to 65535$/],
    ['8080:80/sctp', /^Error: invalid protocol "sctp" in "8080:80\/sctp": use tcp or udp$/],
    ['300.1.1.1:8080:80', /^Error: invalid IP address "300.1.1.1" in "300.1.1.1:8080:80"$/],
    ['8000-8002:80-81', /^Error: invalid publish spec "8000-8002:80-81": the host range has 3 ports, the container range 2$/],
    ['[::1:8080:80', /^Error: invalid publish spec/],
  ];
  for (const [spec, want] of bad)
    it(`-p ${spec}: one line, exit 125, nothing made`, async () => {
      const before = await allIds(ctr);
      const r = await ctr.run(['run', '-d', '-p', spec, 'busybox', 'true']);
      refused(r, `-p ${spec}`, want);
      expect(await allIds(ctr)).toEqual(before);
    });

  it('a port in use: one line naming the port (and the ctr container holding it), nothing left', async () => {
    const port = await freePort();
    const holder = net.createServer();
    await new Promise<void>((res) => holder.listen(port, '127.0.0.1', () => res()));
    const before = await allIds(ctr);
    try {
      for (const mode of [['-d'], []]) {
        const r = await ctr.run(['run', ...mode, '--name', `inuse${mode.length}`, '-p', `127.0.0.1:${port}:80`, 'busybox', 'true']);
        refused(r, 'run', new RegExp(`^Error: cannot publish port 127\\.0\\.0\\.1:${port}/tcp: the address is already in use$`));
        expect(await allIds(ctr)).toEqual(before);
      }
    } finally {
      await new Promise((res) => holder.close(res));
    }
    // held by a ctr container: named
    const a = await runDetached(ctr, ['--name', 'porthold', '-p', `${port}:80`, 'busybox', 'sleep', '60']);
    const r = await ctr.run(['run', '-d', '-p', `127.0.0.1:${port}:80`, 'busybox', 'true']);
    refused(r, 'run', new RegExp(`^Error: cannot publish port 127\\.0\\.0\\.1:${port}/tcp: the address is already in use by container porthold$`));
    expect((await allIds(ctr)).sort()).toEqual([...before, a].sort());
    ok(await ctr.run(['rm', '-f', a]), ['rm', '-f', a].join(' '));
  }, 60_000);

  it('a port below the unprivileged start names the sysctl', async () => {
    const start = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
    if (start <= 1 || process.getuid?.() === 0) return; // everyone may bind low ports here
    const before = await allIds(ctr);
    const r = await ctr.run(['run', '-d', '-p', '127.0.0.1:1:80', 'busybox', 'true']);
    refused(r, 'run', new RegExp(`^Error: cannot publish port 127\\.0\\.0\\.1:1/tcp: ports below ${start} need privilege \\(sysctl net\\.ipv4\\.ip_unprivileged_port_start=${start}\\)$`));
    expect(await allIds(ctr)).toEqual(before);
  });
});
