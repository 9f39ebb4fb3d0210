/**
 * Networks and their address management (IPAM): per-user state in the store.
 *
 *   $ROOT/networks/<name>/network.json   the network (Docker's inspect shape, minus Containers)
 *   $ROOT/networks/<name>/leases/<ip>    one file per address in use: the container's ID
 *   $ROOT/networks/.lock                 held for every change (create, rm, allocation)
 *
 * A lease is live while its container exists or is being created: a container removed by its
 * monitor (--rm) or a killed create leaves a lease that the next allocation reclaims, so no
 * address is lost for good and no code path outside ctr must remember to free one.
 * `bridge` (the default network), `host` and `none` are built in and never stored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { storeDir } from '../state/dirs';
import { readJson, writeJsonAtomic } from '../state/fsatomic';
import { withLockSync } from '../state/lock';
import { CtrError } from '../util/errors';
import { randomBytes } from '../util/random';
import { sha256HexOf } from '../util/sha256';
import { containerDir, nameTargetExists } from '../container/store';
import { contains, formatCidr, formatIp, last, overlaps, parseCidr, parseIp, type Cidr } from './ipv4';

export interface IpamConfig {
  Subnet: string;
  Gateway: string;
  IPRange?: string;
}

/** A network as `network inspect` shows it (Containers is added when shown). */
export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local';
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: 'default'; Options: Record<string, string>; Config: IpamConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** true when ctr chose the subnet (a static --ip is then refused, as Docker does) */
  ctrAutoSubnet?: boolean;
}

/** What a container holds on one network (in its record). */
export interface Endpoint {
  networkId: string;
  ip: string;
  prefix: number;
  gateway: string;
  mac: string;
  aliases: string[];
  /** the address was asked for (--ip) */
  static?: boolean;
  /** the network's MTU (--opt mtu=N) when one was given */
  mtu?: number;
}

export const BUILTIN = ['bridge', 'host', 'none'] as const;
/** The default network's block: kept apart from user networks' automatic subnets (10.89.x.0/24). */
const BRIDGE_SUBNET = '10.88.0.0/16';

function builtin(name: 'bridge' | 'host' | 'none'): NetworkRecord {
  return {
    Name: name,
    Id: sha256HexOf(`ctr network ${name}`),
    Created: '0001-01-01T00:00:00Z',
    Scope: 'local',
    Driver: name === 'bridge' ? 'bridge' : name === 'host' ? 'host' : 'null',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: name === 'bridge' ? [{ Subnet: BRIDGE_SUBNET, Gateway: '10.88.0.1' }] : [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Options: {},
    Labels: {},
  };
}

export function networksDir(): string {
  return path.join(storeDir(), 'networks');
}
const netDir = (name: string) => path.join(networksDir(), name);
const leasesDir = (name: string) => path.join(netDir(name), 'leases');
const lockFile = () => path.join(networksDir(), '.lock');

export function withNetworkLock<T>(fn: () => T): T {
  return withLockSync(lockFile(), fn);
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function readNetwork(name: string): NetworkRecord | undefined {
  try {
    return readJson<NetworkRecord>(path.join(netDir(name), 'network.json'));
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOTDIR' || code === 'ENOENT') return undefined;
    throw new CtrError(`cannot read network ${name}: ${(e as Error).message}`);
  }
}

/** Every network: the built-in ones first, then the user's by name. */
export function listNetworks(): NetworkRecord[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(networksDir()).filter((n) => !n.startsWith('.')).sort();
  } catch {
    /* none yet */
  }
  const user = names.map(readNetwork).filter((n): n is NetworkRecord => n !== undefined);
  return [...BUILTIN.map(builtin), ...user];
}

/** A network by name, full ID or unique ID prefix. */
export function findNetwork(ref: string): NetworkRecord {
  const n = tryFindNetwork(ref);
  if (!n) throw new CtrError(`no such network: ${ref}`);
  return n;
}

export function tryFindNetwork(ref: string): NetworkRecord | undefined {
  if ((BUILTIN as readonly string[]).includes(ref)) return builtin(ref as 'bridge');
  if (NAME_RE.test(ref)) {
    const byName = readNetwork(ref);
    if (byName) return byName;
  }
  if (!/^[0-9a-f]{1,64}$/.test(ref)) return undefined;
  const hits = listNetworks().filter((n) => n.Id.startsWith(ref));
  if (hits.length > 1) throw new CtrError(`network ID prefix ${ref} is ambiguous: it matches ${hits.map((n) => n.Name).join(', ')}`);
  return hits[0];
}

export interface CreateNetworkRequest {
  name: string;
  driver?: string;
  subnets: string[];
  gateways: string[];
  ipRanges: string[];
  internal: boolean;
  ipv6: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
}

function subnetOf(n: NetworkRecord): Cidr | undefined {
  const c = n.IPAM.Config[0];
  return c ? parseCidr(c.Subnet, 'subnet') : undefined;
}

/** Checks the request, then writes the network under the lock. */
export function createNetwork(req: CreateNetworkRequest): NetworkRecord {
  if (!NAME_RE.test(req.name) || req.name.length > 200)
    throw new CtrError(`invalid network name "${req.name}": use letters, digits, '_', '.' and '-', starting with a letter or digit`);
  if ((BUILTIN as readonly string[]).includes(req.name)) throw new CtrError(`network ${req.name} is a pre-defined network and cannot be created`);
  const driver = req.driver ?? 'bridge';
  if (driver !== 'bridge') throw new CtrError(`unsupported network driver "${driver}": ctr makes bridge networks only`);
  if (req.ipv6) throw new CtrError('--ipv6 networks are not supported yet: leave out --ipv6');
  if (req.subnets.length > 1) throw new CtrError('one --subnet per network: IPv6 and several subnets are not supported yet');
  if (req.gateways.length > req.subnets.length) throw new CtrError('--gateway needs a --subnet to go with it');
  if (req.ipRanges.length > req.subnets.length) throw new CtrError('--ip-range needs a --subnet to go with it');
  let subnet: Cidr | undefined;
  let gateway: number | undefined;
  let ipRange: Cidr | undefined;
  if (req.subnets[0] !== undefined) {
    subnet = parseCidr(req.subnets[0], '--subnet');
    if (subnet.prefix > 30) throw new CtrError(`invalid --subnet "${req.subnets[0]}": it leaves no room for containers (use /30 or larger)`);
    if (req.gateways[0] !== undefined) {
      gateway = parseIp(req.gateways[0]);
      if (gateway === undefined) throw new CtrError(`invalid --gateway "${req.gateways[0]}": give an IPv4 address`);
      if (!contains(subnet, gateway) || gateway === subnet.base || gateway === last(subnet))
        throw new CtrError(`invalid --gateway ${req.gateways[0]}: it is not a host address of the subnet ${formatCidr(subnet)}`);
    }
    if (req.ipRanges[0] !== undefined) {
      ipRange = parseCidr(req.ipRanges[0], '--ip-range');
      if (!contains(subnet, ipRange.base) || !contains(subnet, last(ipRange)))
        throw new CtrError(`invalid --ip-range ${req.ipRanges[0]}: it is not inside the subnet ${formatCidr(subnet)}`);
    }
  }
  for (const k of Object.keys(req.options)) {
    if (k !== 'mtu' && k !== 'com.docker.network.driver.mtu' && k !== 'com.docker.network.bridge.name' && k !== 'isolate')
      throw new CtrError(`unsupported network option "${k}": ctr knows mtu (com.docker.network.driver.mtu) and com.docker.network.bridge.name`);
  }
  const mtu = req.options.mtu ?? req.options['com.docker.network.driver.mtu'];
  if (mtu !== undefined && !(/^\d+$/.test(mtu) && Number(mtu) >= 68 && Number(mtu) <= 65535))
    throw new CtrError(`invalid mtu "${mtu}": give a number from 68 to 65535`);

  fs.mkdirSync(networksDir(), { recursive: true, mode: 0o700 });
  return withNetworkLock(() => {
    if (readNetwork(req.name)) throw new CtrError(`network with name ${req.name} already exists`);
    const others = listNetworks().filter((n) => n.IPAM.Config.length);
    let auto = false;
    if (subnet) {
      for (const o of others) {
        const s = subnetOf(o)!;
        if (overlaps(s, subnet)) throw new CtrError(`subnet ${formatCidr(subnet)} overlaps with network ${o.Name} (${formatCidr(s)}): choose another --subnet`);
      }
    } else {
      for (let i = 0; i < 256 && !subnet; i++) {
        const c: Cidr = { base: parseIp(`10.89.${i}.0`)!, prefix: 24 };
        if (!others.some((o) => overlaps(subnetOf(o)!, c))) subnet = c;
      }
      if (!subnet) throw new CtrError('no free subnet left in 10.89.0.0/16: give one with --subnet');
      auto = true;
    }
    const gw = gateway ?? subnet.base + 1;
    const rec: NetworkRecord = {
      Name: req.name,
      Id: randomBytes(32).toString('hex'),
      Created: new Date().toISOString(),
      Scope: 'local',
      Driver: 'bridge',
      EnableIPv6: false,
      IPAM: {
        Driver: 'default',
        Options: {},
        Config: [{ Subnet: formatCidr(subnet), Gateway: formatIp(gw), ...(ipRange ? { IPRange: formatCidr(ipRange) } : {}) }],
      },
      Internal: req.internal,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Options: req.options,
      Labels: req.labels,
      ...(auto ? { ctrAutoSubnet: true } : {}),
    };
    // made under a temp name and renamed: a killed create leaves no half network
    const tmp = path.join(networksDir(), `.new-${rec.Id.slice(0, 12)}`);
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(path.join(tmp, 'leases'), { recursive: true, mode: 0o700 });
    writeJsonAtomic(path.join(tmp, 'network.json'), rec);
    fs.renameSync(tmp, netDir(req.name));
    return rec;
  });
}

/** Live leases of a network: address → container ID. Dead ones are removed when `sweep`. */
function liveLeases(name: string, sweep: boolean): Map<string, string> {
  const out = new Map<string, string>();
  let files: string[] = [];
  try {
    files = fs.readdirSync(leasesDir(name));
  } catch {
    return out;
  }
  for (const f of files) {
    if (f.startsWith('.')) continue;
    let id = '';
    try {
      id = fs.readFileSync(path.join(leasesDir(name), f), 'utf8').trim();
    } catch {
      continue;
    }
    if (/^[0-9a-f]{64}$/.test(id) && nameTargetExists(id)) out.set(f, id);
    else if (sweep) fs.rmSync(path.join(leasesDir(name), f), { force: true });
  }
  return out;
}

/** IDs of the containers attached to a network (live leases). */
export function networkContainers(name: string): string[] {
  return [...new Set(liveLeases(name, false).values())];
}

/** A container's name for messages, from its record. */
function containerName(id: string): string {
  try {
    const rec = readJson<{ name?: string }>(path.join(containerDir(id), 'container.json'));
    if (rec?.name) return rec.name;
  } catch {
    /* damaged or being made */
  }
  return id.slice(0, 12);
}

export interface AttachRequest {
  network: string;
  ip?: string;
  aliases: string[];
  mac?: string;
}

/** A MAC address with the locally administered bit set, from the address (as Docker does: 02:42:IP). */
function macFor(ip: number): string {
  return ['02', '42', ...[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export function parseMac(text: string): string {
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(text)) throw new CtrError(`invalid --mac-address "${text}": give six hex bytes such as 02:42:0a:59:00:05`);
  const first = parseInt(text.slice(0, 2), 16);
  if (first & 1) throw new CtrError(`invalid --mac-address ${text}: it is a multicast address`);
  return text.toLowerCase();
}

/**
 * Gives container ID an address on each network (under the lock: concurrent creates get
 * distinct ones). All or nothing: a failure frees what this call took.
 */
export function allocateEndpoints(id: string, reqs: AttachRequest[]): Record<string, Endpoint> {
  fs.mkdirSync(networksDir(), { recursive: true, mode: 0o700 });
  return withNetworkLock(() => {
    const out: Record<string, Endpoint> = {};
    const taken: string[] = [];
    try {
      for (const r of reqs) {
        const net = readNetwork(r.network);
        if (!net) throw new CtrError(`no such network: ${r.network}`);
        const c = net.IPAM.Config[0]!;
        const subnet = parseCidr(c.Subnet, 'subnet');
        const gw = parseIp(c.Gateway)!;
        const range = c.IPRange ? parseCidr(c.IPRange, 'ip-range') : subnet;
        const leases = liveLeases(net.Name, true);
        const mtu = net.Options.mtu ?? net.Options['com.docker.network.driver.mtu'];
        let ip: number | undefined;
        if (r.ip !== undefined) {
          if (net.ctrAutoSubnet)
            throw new CtrError(`--ip ${r.ip}: network ${net.Name} has no subnet given by its creator; a fixed address needs a network made with --subnet`);
          ip = parseIp(r.ip);
          if (ip === undefined) throw new CtrError(`invalid --ip "${r.ip}": give an IPv4 address`);
          if (!contains(subnet, ip) || ip === subnet.base || ip === last(subnet))
            throw new CtrError(`--ip ${r.ip} is not a host address of network ${net.Name} (${c.Subnet})`);
          if (ip === gw) throw new CtrError(`--ip ${r.ip} is the gateway of network ${net.Name}`);
          const holder = leases.get(r.ip);
          if (holder) throw new CtrError(`--ip ${r.ip} is already in use on network ${net.Name} by container ${containerName(holder)}`);
        } else {
          for (let a = range.base; a <= last(range); a++) {
            if (a === subnet.base || a === last(subnet) || a === gw || leases.has(formatIp(a))) continue;
            ip = a;
            break;
          }
          if (ip === undefined) throw new CtrError(`network ${net.Name} has no free address left in ${c.IPRange ?? c.Subnet}`);
        }
        const lease = path.join(leasesDir(net.Name), formatIp(ip));
        fs.mkdirSync(leasesDir(net.Name), { recursive: true, mode: 0o700 });
        fs.writeFileSync(lease, id + '\n', { mode: 0o600 });
        taken.push(lease);
        out[net.Name] = {
          networkId: net.Id,
          ip: formatIp(ip),
          prefix: subnet.prefix,
          gateway: c.Gateway,
          mac: r.mac ?? macFor(ip),
          aliases: r.aliases,
          ...(r.ip !== undefined ? { static: true } : {}),
          ...(mtu ? { mtu: Number(mtu) } : {}),
        };
      }
    } catch (e) {
      for (const l of taken) fs.rmSync(l, { force: true });
      throw e;
    }
    return out;
  });
}

/** Frees a container's addresses (rm). Leases that name another container are left alone. */
export function releaseEndpoints(id: string, eps: Record<string, Endpoint> | undefined): void {
  if (!eps) return;
  for (const [name, ep] of Object.entries(eps)) {
    const lease = path.join(leasesDir(name), ep.ip);
    try {
      if (fs.readFileSync(lease, 'utf8').trim() === id) fs.rmSync(lease, { force: true });
    } catch {
      /* gone with its network, or never written */
    }
  }
}

/** Removes a user network; refused while containers use it (they are named). */
export function removeNetwork(ref: string): NetworkRecord {
  const net = findNetwork(ref);
  if ((BUILTIN as readonly string[]).includes(net.Name)) throw new CtrError(`${net.Name} is a pre-defined network and cannot be removed`);
  return withNetworkLock(() => {
    const users = networkContainers(net.Name);
    if (users.length)
      throw new CtrError(`network ${net.Name} is in use by container${users.length > 1 ? 's' : ''} ${users.map(containerName).join(', ')}: remove ${users.length > 1 ? 'them' : 'it'} first`);
    const gone = path.join(networksDir(), `.rm-${net.Id.slice(0, 12)}`);
    fs.renameSync(netDir(net.Name), gone);
    fs.rmSync(gone, { recursive: true, force: true });
    return net;
  });
}

/** Removes every user network no container uses; returns their names. */
export function pruneNetworks(keep: (n: NetworkRecord) => boolean = () => false): string[] {
  const removed: string[] = [];
  for (const n of listNetworks()) {
    if ((BUILTIN as readonly string[]).includes(n.Name) || keep(n)) continue;
    try {
      removeNetwork(n.Name);
      removed.push(n.Name);
    } catch (e) {
      if (!(e instanceof CtrError)) throw e;
    }
  }
  return removed;
}

/** The network as `network inspect` shows it: with its containers, without ctr's own fields. */
export function inspectNetwork(n: NetworkRecord): Record<string, unknown> {
  const { ctrAutoSubnet: _auto, ...shown } = n;
  const containers: Record<string, unknown> = {};
  if (!(BUILTIN as readonly string[]).includes(n.Name)) {
    for (const id of networkContainers(n.Name)) {
      let rec: { name?: string; networks?: Record<string, Endpoint> } | undefined;
      try {
        rec = readJson(path.join(containerDir(id), 'container.json'));
      } catch {
        /* damaged */
      }
      const ep = rec?.networks?.[n.Name];
      containers[id] = {
        Name: rec?.name ?? '',
        EndpointID: ep ? sha256HexOf(`${id} ${n.Id}`) : '',
        MacAddress: ep?.mac ?? '',
        IPv4Address: ep ? `${ep.ip}/${ep.prefix}` : '',
        IPv6Address: '',
      };
    }
  }
  return { ...shown, Containers: containers };
}
