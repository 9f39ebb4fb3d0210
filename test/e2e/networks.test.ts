// User-defined networks: create/ls/inspect/rm/prune, their bad input, and address management
// (static --ip, addresses freed on rm, distinct addresses under concurrent creates).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCtr } from './lib';
import { allIds, inspect, lines, ok, refused } from './containers-util';

const ctr = useCtr({ images: ['busybox'] });

const netsDir = () => path.join(ctr.root, 'networks');
function ls(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}
const leases = (net: string) => ls(path.join(netsDir(), net, 'leases'));

async function netInspect(name: string): Promise<any> {
  const r = ok(await ctr.run(['network', 'inspect', name]), `network inspect ${name}`);
  const arr = JSON.parse(r.stdout);
  expect(arr).toHaveLength(1);
  return arr[0];
}

async function names(): Promise<string[]> {
  return lines(ok(await ctr.run(['network', 'ls', '--format', '{{.Name}}']), 'network ls').stdout);
}

/** What a refused command must leave as it was. */
async function snapshot() {
  const nets = ls(netsDir());
  return {
    networks: await names(),
    dirs: nets,
    leases: Object.fromEntries(nets.map((n) => [n, leases(n)])),
    containers: await allIds(ctr),
    names: ls(path.join(ctr.root, 'names')),
  };
}

describe('network ls and the built-in networks', () => {
  it('lists bridge, host and none, in Docker columns', async () => {
    const r = ok(await ctr.run(['network', 'ls']), 'network ls');
    const l = lines(r.stdout);
    expect(l[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    expect(l.slice(1).map((x) => x.split(/\s+/).slice(1).join(' '))).toEqual(['bridge bridge local', 'host host local', 'none null local']);
    const bridge = await netInspect('bridge');
    expect(bridge.Driver).toBe('bridge');
    expect(bridge.Id).toMatch(/^[0-9a-f]{64}$/);
    expect(bridge.IPAM.Config[0].Subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
  });

  it('refuses to create or remove the built-in ones', async () => {
    for (const n of ['bridge', 'host', 'none']) {
      refused(await ctr.run(['network', 'create', n]), `create ${n}`, new RegExp(`${n}.*pre-defined`));
      refused(await ctr.run(['network', 'rm', n]), `rm ${n}`, new RegExp(`${n}.*pre-defined`));
    }
  });
});

describe('network create, inspect, ls, rm', () => {
  it('makes a network in Docker inspect shape, and removes it', async () => {
    const r = ok(
      await ctr.run([
        'network', 'create', '--subnet', '10.123.0.0/24', '--gateway', '10.123.0.254', '--ip-range', '10.123.0.128/25',
        '--internal', '--label', 'team=web', '--opt', 'mtu=1400', 'shape-net',
      ]),
      'network create',
    );
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const n = await netInspect('shape-net');
    expect(n).toMatchObject({
      Name: 'shape-net',
      Id: id,
      Driver: 'bridge',
      Scope: 'local',
      EnableIPv6: false,
      Internal: true,
      Labels: { team: 'web' },
      Options: { mtu: '1400' },
      Containers: {},
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.123.0.0/24', Gateway: '10.123.0.254', IPRange: '10.123.0.128/25' }] },
    });
    expect(Date.parse(n.Created)).toBeGreaterThan(Date.now() - 600_000);
    expect(n).not.toHaveProperty('ctrAutoSubnet');
    // by ID prefix too
    expect((await netInspect(id.slice(0, 12))).Name).toBe('shape-net');
    expect(lines(ok(await ctr.run(['network', 'ls', '-q', '--filter', 'label=team=web']), 'ls -q').stdout)).toEqual([id.slice(0, 12)]);
    expect(lines(ok(await ctr.run(['network', 'ls', '--filter', 'type=custom', '--format', '{{.Name}} {{.Internal}}']), 'ls').stdout)).toContain('shape-net true');
    expect(ok(await ctr.run(['network', 'rm', 'shape-net']), 'rm').stdout).toBe('shape-net\n');
    expect(await names()).not.toContain('shape-net');
    expect(ls(netsDir()).filter((d) => !d.startsWith('.lock'))).toEqual([]);
  });

  it('picks free subnets when none is given', async () => {
    ok(await ctr.run(['network', 'create', 'auto-a']), 'create auto-a');
    ok(await ctr.run(['network', 'create', 'auto-b']), 'create auto-b');
    const a = (await netInspect('auto-a')).IPAM.Config[0];
    const b = (await netInspect('auto-b')).IPAM.Config[0];
    expect(a.Subnet).toMatch(/^10\.89\.\d+\.0\/24$/);
    expect(b.Subnet).not.toBe(a.Subnet);
    expect(a.Gateway).toBe(a.Subnet.replace(/0\/24$/, '1'));
    ok(await ctr.run(['network', 'rm', 'auto-a', 'auto-b']), 'rm');
  });

  it('refuses bad input with one line and makes nothing', async () => {
    ok(await ctr.run(['network', 'create', '--subnet', '10.124.0.0/16', 'keeper-net']), 'create keeper-net');
    const before = await snapshot();
    const cases: [string, string[], RegExp][] = [
      ['a bad name', ['bad/name'], /invalid network name/],
      ['a name in use', ['keeper-net'], /keeper-net.*already exists/],
      ['an overlapping subnet', ['--subnet', '10.124.5.0/24', 'ov'], /overlaps with network keeper-net/],
      ['a subnet holding another', ['--subnet', '10.0.0.0/8', 'ov'], /overlaps with network (keeper-net|bridge)/],
      ['host bits in the subnet', ['--subnet', '10.125.0.1/24', 'hb'], /host bits/],
      ['a subnet that is no CIDR', ['--subnet', '10.125.0.0', 'nc'], /invalid --subnet/],
      ['an octet above 255', ['--subnet', '10.300.0.0/16', 'oc'], /invalid --subnet/],
      ['a /31', ['--subnet', '10.125.0.0/31', 'sm'], /no room/],
      ['a gateway outside the subnet', ['--subnet', '10.125.0.0/24', '--gateway', '10.126.0.1', 'gw'], /not a host address/],
      ['the broadcast address as gateway', ['--subnet', '10.125.0.0/24', '--gateway', '10.125.0.255', 'gw'], /not a host address/],
      ['a gateway without a subnet', ['--gateway', '10.125.0.1', 'gw'], /needs a --subnet/],
      ['an ip-range outside the subnet', ['--subnet', '10.125.0.0/24', '--ip-range', '10.125.1.0/25', 'ir'], /not inside/],
      ['an ip-range without a subnet', ['--ip-range', '10.125.1.0/25', 'ir'], /needs a --subnet/],
      ['another driver', ['--driver', 'macvlan', 'dr'], /macvlan/],
      ['an unknown option', ['--opt', 'colour=blue', 'op'], /colour/],
      ['a bad mtu', ['--opt', 'mtu=12', 'op'], /mtu/],
      ['a label without a key', ['--label', '=x', 'lb'], /label/],
    ];
    for (const [what, args, pattern] of cases) {
      const r = await ctr.run(['network', 'create', ...args]);
      refused(r, `network create with ${what}`, pattern);
      expect(r.stdout).toBe('');
    }
    refused(await ctr.run(['network', 'rm', 'no-such-net']), 'rm unknown', /no such network: no-such-net/);
    refused(await ctr.run(['network', 'inspect', 'no-such-net']), 'inspect unknown', /no such network: no-such-net/);
    ok(await ctr.run(['network', 'rm', '-f', 'no-such-net']), 'rm -f unknown');
    expect(await snapshot()).toEqual(before);
    ok(await ctr.run(['network', 'rm', 'keeper-net']), 'rm keeper-net');
  });
});

describe('addresses of containers on a network', () => {
  it('gives each container an address, shown by inspect on both sides, freed on rm', async () => {
    ok(await ctr.run(['network', 'create', '--subnet', '10.130.0.0/24', 'addr-net']), 'create');
    const netId = (await netInspect('addr-net')).Id;
    const c1 = ok(await ctr.run(['create', '--network', 'addr-net', '--network-alias', 'web', 'busybox', 'true']), 'create c1').stdout.trim();
    const c2 = ok(await ctr.run(['create', '--network', 'addr-net', '--ip', '10.130.0.77', '--mac-address', '02:00:00:00:00:77', 'busybox', 'true']), 'create c2').stdout.trim();
    const i1 = await inspect(ctr, c1);
    const i2 = await inspect(ctr, c2);
    expect(i1.HostConfig.NetworkMode).toBe('addr-net');
    expect(i1.NetworkSettings).toMatchObject({ IPAddress: '10.130.0.2', IPPrefixLen: 24, Gateway: '10.130.0.1' });
    expect(i1.NetworkSettings.Networks['addr-net']).toMatchObject({
      NetworkID: netId, IPAddress: '10.130.0.2', Gateway: '10.130.0.1', IPPrefixLen: 24, Aliases: ['web'], IPAMConfig: null,
    });
    expect(i1.NetworkSettings.MacAddress).toMatch(/^02:42(:[0-9a-f]{2}){4}$/);
    expect(i2.NetworkSettings.Networks['addr-net']).toMatchObject({ IPAddress: '10.130.0.77', MacAddress: '02:00:00:00:00:77', IPAMConfig: { IPv4Address: '10.130.0.77' } });
    const n = await netInspect('addr-net');
    expect(Object.keys(n.Containers).sort()).toEqual([c1, c2].sort());
    expect(n.Containers[c2]).toMatchObject({ IPv4Address: '10.130.0.77/24', MacAddress: '02:00:00:00:00:77' });
    // the container's /etc/hosts names it with its address
    const hosts = fs.readFileSync(path.join(ctr.root, 'containers', c2, 'hosts'), 'utf8');
    expect(hosts).toMatch(new RegExp(`^10\\.130\\.0\\.77\\s+${c2.slice(0, 12)}\\b`, 'm'));

    // in use: refused, naming both containers
    const before = await snapshot();
    const r = await ctr.run(['network', 'rm', 'addr-net']);
    refused(r, 'rm of a network in use', /addr-net.*in use/);
    for (const c of [i1.Name, i2.Name]) expect(r.stderr).toContain(c.replace(/^\//, ''));
    expect(ok(await ctr.run(['network', 'prune', '-f']), 'prune').stdout).not.toContain('addr-net');
    expect(await snapshot()).toEqual(before);

    // a taken address is refused naming its holder; freed by rm, it can be taken again
    refused(
      await ctr.run(['create', '--network', 'addr-net', '--ip', '10.130.0.77', 'busybox', 'true']),
      'taken --ip',
      new RegExp(`10\\.130\\.0\\.77.*in use.*${i2.Name.replace(/^\//, '')}`),
    );
    expect(await snapshot()).toEqual(before);
    ok(await ctr.run(['rm', c2]), 'rm c2');
    expect(leases('addr-net')).toEqual(['10.130.0.2']);
    const c3 = ok(await ctr.run(['create', '--network', 'addr-net', '--ip', '10.130.0.77', 'busybox', 'true']), 'create c3').stdout.trim();
    ok(await ctr.run(['rm', c1, c3]), 'rm');
    expect(leases('addr-net')).toEqual([]);
    ok(await ctr.run(['network', 'rm', 'addr-net']), 'network rm');
  });

  it('a container removed by --rm gives its address back', async () => {
    ok(await ctr.run(['network', 'create', '--subnet', '10.131.0.0/24', 'rm-net']), 'create');
    ok(await ctr.run(['run', '--rm', '--network', 'rm-net', '--ip', '10.131.0.9', 'busybox', 'true']), 'run --rm');
    const c = ok(await ctr.run(['create', '--network', 'rm-net', '--ip', '10.131.0.9', 'busybox', 'true']), 'create again').stdout.trim();
    ok(await ctr.run(['rm', c]), 'rm');
    ok(await ctr.run(['network', 'rm', 'rm-net']), 'network rm');
  });

  it('refuses bad --ip, --network and friends with one line and makes nothing', async () => {
    ok(await ctr.run(['network', 'create', '--subnet', '10.132.0.0/24', '--ip-range', '10.132.0.64/26', 'bad-net']), 'create');
    ok(await ctr.run(['network', 'create', 'auto-net']), 'create auto');
    const before = await snapshot();
    const cases: [string, string[], RegExp][] = [
      ['an unknown network', ['--network', 'no-such-net'], /no such network: no-such-net/],
      ['a known and an unknown network', ['--network', 'bad-net,no-such-net'], /no such network: no-such-net/],
      ['none with a network', ['--network', 'none,bad-net'], /none cannot be combined/],
      ['--ip outside the subnet', ['--network', 'bad-net', '--ip', '10.133.0.5'], /10\.133\.0\.5 is not a host address of network bad-net/],
      ['--ip of the subnet itself', ['--network', 'bad-net', '--ip', '10.132.0.0'], /not a host address/],
      ['--ip of the gateway', ['--network', 'bad-net', '--ip', '10.132.0.1'], /gateway/],
      ['--ip that is no address', ['--network', 'bad-net', '--ip', '10.132.0.500'], /invalid --ip/],
      ['--ip on a network without a given subnet', ['--network', 'auto-net', '--ip', '10.89.0.5'], /auto-net.*--subnet/],
      ['--ip without a user network', ['--ip', '10.132.0.5'], /--ip is supported on user-defined networks only/],
      ['--network-alias without a user network', ['--network', 'none', '--network-alias', 'x'], /user-defined networks only/],
      ['--mac-address that is no address', ['--network', 'bad-net', '--mac-address', '02:00:00'], /mac-address/],
      ['a multicast --mac-address', ['--network', 'bad-net', '--mac-address', '01:00:00:00:00:01'], /multicast/],
    ];
    for (const [what, args, pattern] of cases) {
      for (const cmd of [['create'], ['run', '--rm']]) {
        const r = await ctr.run([...cmd, ...args, 'busybox', 'true']);
        refused(r, `${cmd.join(' ')} with ${what}`, pattern);
        expect(r.stdout).toBe('');
      }
    }
    expect(await snapshot()).toEqual(before);
    // a static --ip may lie outside the --ip-range (Docker's rule), allocation stays inside it
    const s = ok(await ctr.run(['create', '--network', 'bad-net', '--ip', '10.132.0.5', 'busybox', 'true']), 'static').stdout.trim();
    const d = ok(await ctr.run(['create', '--network', 'bad-net', 'busybox', 'true']), 'dynamic').stdout.trim();
    expect((await inspect(ctr, d)).NetworkSettings.IPAddress).toBe('10.132.0.64');
    ok(await ctr.run(['rm', s, d]), 'rm');
    ok(await ctr.run(['network', 'rm', 'bad-net', 'auto-net']), 'network rm');
  });

  it('a container on two networks has an address on each', async () => {
    ok(await ctr.run(['network', 'create', '--subnet', '10.134.0.0/24', 'two-a']), 'create a');
    ok(await ctr.run(['network', 'create', '--subnet', '10.135.0.0/24', 'two-b']), 'create b');
    const c = ok(await ctr.run(['create', '--network', 'two-a,two-b', '--ip', '10.134.0.40', 'busybox', 'true']), 'create').stdout.trim();
    const nets = (await inspect(ctr, c)).NetworkSettings.Networks;
    expect(Object.keys(nets).sort()).toEqual(['two-a', 'two-b']);
    expect(nets['two-a'].IPAddress).toBe('10.134.0.40');
    expect(nets['two-b'].IPAddress).toBe('10.135.0.2');
    ok(await ctr.run(['rm', c]), 'rm');
    expect(ok(await ctr.run(['network', 'prune', '-f']), 'prune').stdout).toBe('Deleted Networks:\ntwo-a\ntwo-b\n');
    expect(await names()).toEqual(['bridge', 'host', 'none']);
  });

  it('50 containers created at once get 50 distinct addresses, all freed by rm', async () => {
    ok(await ctr.run(['network', 'create', '--subnet', '10.136.0.0/24', 'many-net']), 'create');
    const results = await Promise.all(
      Array.from({ length: 50 }, () => ctr.run(['create', '--network', 'many-net', 'busybox', 'true'], { timeout: 120_000 })),
    );
    const ids = results.map((r) => ok(r, 'create').stdout.trim());
    const addrs = (await Promise.all(ids.map((id) => inspect(ctr, id)))).map((i) => i.NetworkSettings.IPAddress);
    expect(new Set(addrs).size).toBe(50);
    for (const a of addrs) expect(a).toMatch(/^10\.136\.0\.\d+$/);
    expect(leases('many-net')).toHaveLength(50);
    expect(Object.keys((await netInspect('many-net')).Containers)).toHaveLength(50);
    ok(await ctr.run(['rm', ...ids]), 'rm all');
    expect(leases('many-net')).toEqual([]);
    ok(await ctr.run(['network', 'rm', 'many-net']), 'network rm');
  }, 180_000);
});

/** The "PID STARTTIME" files of the runtime dir: the pause and the networks' namespace holder. */
function pidOf(file: string): number {
  return Number(fs.readFileSync(path.join(ctr.runroot, file), 'utf8').split(' ')[0]);
}

describe('the data path: containers on a network reach each other, networks are isolated', () => {
  it('serves a page from one container to another by address, pings it, and keeps other networks out', async () => {
    ok(await ctr.run(['network', 'create', '--subnet', '10.150.0.0/24', '--opt', 'mtu=1400', 'dp-a']), 'create dp-a');
    ok(await ctr.run(['network', 'create', '--subnet', '10.151.0.0/24', 'dp-b']), 'create dp-b');
    const web = ok(await ctr.run(['run', '-d', '--network', 'dp-a', '--ip', '10.150.0.10', '--mac-address', '02:00:0a:96:00:0a', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc']), 'web').stdout.trim();
    // the container sees the address and MAC address it was given, and a default route to the gateway
    const seen = ok(await ctr.run(['exec', web, 'sh', '-c', 'ip -o -4 addr show eth0; cat /sys/class/net/eth0/address; ip route; echo mtu $(cat /sys/class/net/eth0/mtu)']), 'exec ip').stdout;
    expect(seen).toContain('mtu 1400');
    expect(seen).toMatch(/inet 10\.150\.0\.10\/24/);
    expect(seen).toContain('02:00:0a:96:00:0a');
    expect(seen).toMatch(/default via 10\.150\.0\.1 dev eth0/);
    const hostname = web.slice(0, 12);
    const get = await ctr.run(['run', '--rm', '--network', 'dp-a', 'busybox', 'wget', '-qO-', 'http://10.150.0.10/hostname'], { timeout: 30_000 });
    expect(ok(get, 'wget from the same network').stdout.trim()).toBe(hostname);
    ok(await ctr.run(['run', '--rm', '--network', 'dp-a', 'busybox', 'ping', '-c', '1', '-W', '2', '10.150.0.10'], { timeout: 30_000 }), 'ping');
    // stopped and started again: the same address, linked again
    ok(await ctr.run(['stop', '-t', '0', web]), 'stop');
    ok(await ctr.run(['start', web]), 'start');
    const again = await ctr.run(['run', '--rm', '--network', 'dp-a', 'busybox', 'wget', '-qO-', 'http://10.150.0.10/hostname'], { timeout: 30_000 });
    expect(ok(again, 'wget after stop and start').stdout.trim()).toBe(hostname);
    // from another network: neither the address nor the other bridge's gateway answers
    const other = await ctr.run(['run', '--rm', '--network', 'dp-b', 'busybox', 'sh', '-c', 'timeout 3 wget -qO- http://10.150.0.10/hostname; echo rc=$?'], { timeout: 30_000 });
    expect(ok(other, 'wget from another network').stdout).not.toContain(hostname);
    expect(other.stdout).toMatch(/rc=[1-9]/);
    // a container on both reaches it too
    const both = await ctr.run(['run', '--rm', '--network', 'dp-b,dp-a', 'busybox', 'wget', '-qO-', 'http://10.150.0.10/hostname'], { timeout: 30_000 });
    expect(ok(both, 'wget from a container on both networks').stdout.trim()).toBe(hostname);
    ok(await ctr.run(['rm', '-f', web]), 'rm web');
    ok(await ctr.run(['network', 'rm', 'dp-a', 'dp-b']), 'network rm');
  }, 120_000);

  it('keeps working when the namespace holder, then the pause process, are killed', async () => {
    ok(await ctr.run(['network', 'create', '--subnet', '10.152.0.0/24', 'dp-pause']), 'create');
    const web = ok(await ctr.run(['run', '-d', '--network', 'dp-pause', '--ip', '10.152.0.10', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc']), 'web').stdout.trim();
    const wget = async (what: string) => {
      const r = await ctr.run(['run', '--rm', '--network', 'dp-pause', 'busybox', 'wget', '-qO-', 'http://10.152.0.10/hostname'], { timeout: 30_000 });
      expect(ok(r, what).stdout.trim()).toBe(web.slice(0, 12));
      expect(r.stderr).toBe('');
    };
    const holder = pidOf('netns.pid');
    expect(holder).not.toBe(pidOf('pause.pid'));
    // the holder of the networks' namespace killed: the next container on a network makes a new
    // one and links the running containers into it again
    process.kill(holder, 'SIGKILL');
    await wget('wget after the holder was killed');
    const holder2 = pidOf('netns.pid');
    expect(holder2).not.toBe(holder);
    // the pause killed: the holder's user namespace (the containers') is adopted, not a new one made
    process.kill(pidOf('pause.pid'), 'SIGKILL');
    await wget('wget after the pause was killed');
    expect(pidOf('netns.pid')).toBe(holder2);
    expect(pidOf('pause.pid')).toBe(holder2);
    ok(await ctr.run(['exec', web, 'true']), 'exec into the container started before');
    ok(await ctr.run(['rm', '-f', web]), 'rm web');
    ok(await ctr.run(['network', 'rm', 'dp-pause']), 'network rm');
  }, 120_000);

  it('20 containers started at once on one network all answer', async () => {
    ok(await ctr.run(['network', 'create', '--subnet', '10.153.0.0/24', 'dp-many']), 'create');
    const results = await Promise.all(
      Array.from({ length: 20 }, () => ctr.run(['run', '-d', '--network', 'dp-many', 'busybox', 'sleep', '120'], { timeout: 120_000 })),
    );
    const ids = results.map((r) => ok(r, 'run -d').stdout.trim());
    const addrs = (await Promise.all(ids.map((id) => inspect(ctr, id)))).map((i) => i.NetworkSettings.IPAddress);
    expect(new Set(addrs).size).toBe(20);
    const script = addrs.map((a) => `ping -c 1 -W 2 ${a} >/dev/null && echo up ${a}`).join('; ');
    const r = await ctr.run(['run', '--rm', '--network', 'dp-many', 'busybox', 'sh', '-c', script], { timeout: 60_000 });
    expect(lines(r.stdout).sort()).toEqual(addrs.map((a) => `up ${a}`).sort());
    ok(await ctr.run(['rm', '-f', ...ids]), 'rm');
    ok(await ctr.run(['network', 'rm', 'dp-many']), 'network rm');
  }, 180_000);
});
