/**
 * Published ports: Docker's `-p`/`--publish`, `-P`, `--expose` syntax, the shapes `inspect`,
 * `ps` and `port` show, and the `ctr.ports` annotation the monitor's relay reads
 * (native/ports.c, PROTOCOL.md). No I/O here.
 */
import { CtrError } from '../util/errors';

export type Proto = 'tcp' | 'udp';

/** One published port. hostIp '' = every IPv4 address; hostPort 0 = a free port chosen at start. */
export interface PortMapping {
  proto: Proto;
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

/** Docker's HostConfig.PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]} */
export type PortBindings = Record<string, { HostIp: string; HostPort: string }[]>;

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/** The address in its usual spelling, or undefined when it is not an IP address. */
export function normalizeIp(ip: string): string | undefined {
  if (IPV4.test(ip)) return ip;
  if (!/^[0-9a-fA-F:.]+$/.test(ip) || !ip.includes(':')) return undefined;
  try {
    const host = new URL(`http://[${ip}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return undefined;
  }
}

function parsePort(v: string, spec: string, what: string): number {
  if (!/^[0-9]+$/.test(v)) throw new CtrError(`invalid ${what} "${v}" in "${spec}": not a number`);
  const n = Number(v);
  if (n < 1 || n > 65535) throw new CtrError(`invalid ${what} ${v} in "${spec}": ports are 1 to 65535`);
  return n;
}

function parseRange(v: string, spec: string, what: string): [number, number] {
  const m = /^([^-]*)-([^-]*)$/.exec(v);
  if (!m) {
    const p = parsePort(v, spec, what);
    return [p, p];
  }
  const a = parsePort(m[1]!, spec, what), b = parsePort(m[2]!, spec, what);
  if (b < a) throw new CtrError(`invalid ${what} range "${v}" in "${spec}": the end is below the start`);
  return [a, b];
}

function parseProto(v: string | undefined, spec: string): Proto {
  if (v === undefined || v === '' || v === 'tcp') return 'tcp';
  if (v === 'udp') return 'udp';
  throw new CtrError(`invalid protocol "${v}" in "${spec}": use tcp or udp`);
}

/** `-p [IP:][HOSTPORT:]CTRPORT[/tcp|/udp]`, with ranges (`8000-8010:80-90`). */
export function parsePublish(spec: string): PortMapping[] {
  const slash = spec.lastIndexOf('/');
  const proto = parseProto(slash >= 0 ? spec.slice(slash + 1) : undefined, spec);
  let rest = slash >= 0 ? spec.slice(0, slash) : spec;
  let hostIp = '';
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0 || rest[end + 1] !== ':') throw new CtrError(`invalid publish spec "${spec}": an IPv6 address is written [ADDRESS]:HOSTPORT:CTRPORT`);
    hostIp = rest.slice(1, end);
    rest = rest.slice(end + 2);
    const ip = normalizeIp(hostIp);
    if (ip === undefined || !ip.includes(':')) throw new CtrError(`invalid IP address "${hostIp}" in "${spec}"`);
    hostIp = ip;
    if (rest.split(':').length !== 2) throw new CtrError(`invalid publish spec "${spec}": expected [IP:][HOSTPORT:]CTRPORT[/PROTO]`);
  }
  const parts = rest.split(':');
  if (parts.length > 3) throw new CtrError(`invalid publish spec "${spec}": expected [IP:][HOSTPORT:]CTRPORT[/PROTO] (an IPv6 address in brackets)`);
  if (parts.length === 3) {
    const ip = normalizeIp(parts[0]!);
    if (ip === undefined) throw new CtrError(`invalid IP address "${parts[0]}" in "${spec}"`);
    hostIp = ip;
  }
  const ctr = parseRange(parts[parts.length - 1]!, spec, 'container port');
  const hostText = parts.length >= 2 ? parts[parts.length - 2]! : '';
  const count = ctr[1] - ctr[0] + 1;
  let host: [number, number] | undefined;
  if (hostText !== '') {
    host = parseRange(hostText, spec, 'host port');
    if (host[1] - host[0] + 1 !== count)
      throw new CtrError(`invalid publish spec "${spec}": the host range has ${host[1] - host[0] + 1} ports, the container range ${count}`);
  }
  const out: PortMapping[] = [];
  for (let i = 0; i < count; i++) out.push({ proto, hostIp, hostPort: host ? host[0] + i : 0, containerPort: ctr[0] + i });
  return out;
}

/** `--expose PORT[-PORT][/PROTO]`: keys of ExposedPorts ("80/tcp"). */
export function parseExpose(spec: string): string[] {
  const slash = spec.lastIndexOf('/');
  const proto = parseProto(slash >= 0 ? spec.slice(slash + 1) : undefined, spec);
  const [a, b] = parseRange(slash >= 0 ? spec.slice(0, slash) : spec, spec, 'port');
  const out: string[] = [];
  for (let p = a; p <= b; p++) out.push(`${p}/${proto}`);
  return out;
}

/** "80/tcp" -> [80, 'tcp'] (an image's ExposedPorts key; "80" alone is tcp). */
export function parsePortKey(key: string): [number, Proto] | undefined {
  const m = /^([0-9]+)(?:\/(tcp|udp))?$/.exec(key);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (n < 1 || n > 65535) return undefined;
  return [n, (m[2] as Proto | undefined) ?? 'tcp'];
}

/**
 * Every mapping of a container: the `-p` specs, then with `-P` every exposed port (image and
 * --expose) not published already, on a free host port. A host port given twice is refused.
 */
export function publishedPorts(publish: string[], publishAll: boolean, exposed: string[]): PortMapping[] {
  const maps = publish.flatMap((s) => parsePublish(s));
  if (publishAll) {
    for (const key of exposed) {
      const k = parsePortKey(key);
      if (!k) continue;
      if (maps.some((m) => m.containerPort === k[0] && m.proto === k[1])) continue;
      maps.push({ proto: k[1], hostIp: '', hostPort: 0, containerPort: k[0] });
    }
  }
  const seen = new Set<string>();
  for (const m of maps) {
    if (!m.hostPort) continue;
    const key = `${m.proto}/${m.hostIp}/${m.hostPort}`;
    if (seen.has(key)) throw new CtrError(`host port ${m.hostPort}/${m.proto} is published twice`);
    seen.add(key);
  }
  return maps;
}

/** Bindings as HostConfig.PortBindings records them (what was asked: "" for a free port). */
export function portBindings(maps: PortMapping[]): PortBindings {
  const b: PortBindings = {};
  for (const m of maps) (b[`${m.containerPort}/${m.proto}`] ??= []).push({ HostIp: m.hostIp, HostPort: m.hostPort ? String(m.hostPort) : '' });
  return b;
}

/** Back from HostConfig.PortBindings (a record from disk: anything odd is skipped). */
export function mappingsFromBindings(b: unknown): PortMapping[] {
  const out: PortMapping[] = [];
  if (typeof b !== 'object' || b === null) return out;
  for (const [key, list] of Object.entries(b as Record<string, unknown>)) {
    const k = parsePortKey(key);
    if (!k || !Array.isArray(list)) continue;
    for (const e of list as { HostIp?: unknown; HostPort?: unknown }[]) {
      const hostPort = typeof e?.HostPort === 'string' && /^[0-9]+$/.test(e.HostPort) ? Number(e.HostPort) : 0;
      out.push({ proto: k[1], hostIp: typeof e?.HostIp === 'string' ? e.HostIp : '', hostPort, containerPort: k[0] });
    }
  }
  return out;
}

/** The address a listener is bound to ('' means every IPv4 address). */
export const bindIp = (m: PortMapping) => m.hostIp || '0.0.0.0';

/** The `ctr.ports` annotation: PROTO/HOSTIP/HOSTPORT/CTRPORT joined by ','. */
export function portsAnnotation(maps: PortMapping[]): string {
  return maps.map((m) => `${m.proto}/${bindIp(m)}/${m.hostPort}/${m.containerPort}`).join(',');
}

/** The ports the monitor reports in state.json (the host ports it really got). */
export function validActualPorts(v: unknown): PortMapping[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: PortMapping[] = [];
  for (const e of v as Record<string, unknown>[]) {
    if (typeof e !== 'object' || e === null) continue;
    if ((e.proto !== 'tcp' && e.proto !== 'udp') || typeof e.hostIp !== 'string' || !Number.isInteger(e.hostPort) || !Number.isInteger(e.containerPort)) continue;
    out.push({ proto: e.proto, hostIp: e.hostIp, hostPort: e.hostPort as number, containerPort: e.containerPort as number });
  }
  return out;
}

const hostAddr = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** NetworkSettings.Ports: every exposed or published port, null when not published (or not running). */
export function networkSettingsPorts(exposed: string[], actual: PortMapping[] | undefined): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const key of exposed) {
    const k = parsePortKey(key);
    if (k) out[`${k[0]}/${k[1]}`] = null;
  }
  for (const m of actual ?? []) (out[`${m.containerPort}/${m.proto}`] ??= []).push({ HostIp: m.hostIp, HostPort: String(m.hostPort) });
  return out;
}

/**
 * `ps`'s PORTS column as Docker writes it: `0.0.0.0:8080->80/tcp`, runs of consecutive ports
 * folded (`0.0.0.0:8000-8002->80-82/tcp`), exposed ports that are not published as `80/tcp`.
 */
export function formatPortsColumn(exposed: string[], actual: PortMapping[] | undefined): string {
  const maps = [...(actual ?? [])].sort((a, b) => (a.hostIp < b.hostIp ? -1 : a.hostIp > b.hostIp ? 1 : a.proto < b.proto ? -1 : a.proto > b.proto ? 1 : a.containerPort - b.containerPort));
  const parts: string[] = [];
  for (let i = 0; i < maps.length; ) {
    const m = maps[i]!;
    let j = i + 1;
    while (j < maps.length && maps[j]!.hostIp === m.hostIp && maps[j]!.proto === m.proto &&
      maps[j]!.containerPort === m.containerPort + (j - i) && maps[j]!.hostPort === m.hostPort + (j - i)) j++;
    const last = maps[j - 1]!;
    const hp = j - i > 1 ? `${m.hostPort}-${last.hostPort}` : `${m.hostPort}`;
    const cp = j - i > 1 ? `${m.containerPort}-${last.containerPort}` : `${m.containerPort}`;
    parts.push(`${m.hostIp.includes(':') ? `[${m.hostIp}]` : m.hostIp}:${hp}->${cp}/${m.proto}`);
    i = j;
  }
  const published = new Set(maps.map((m) => `${m.containerPort}/${m.proto}`));
  const bare = exposed.map(parsePortKey).filter((k): k is [number, Proto] => !!k && !published.has(`${k[0]}/${k[1]}`))
    .sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : a[0] - b[0]));
  for (let i = 0; i < bare.length; ) {
    let j = i + 1;
    while (j < bare.length && bare[j]![1] === bare[i]![1] && bare[j]![0] === bare[i]![0] + (j - i)) j++;
    parts.push(j - i > 1 ? `${bare[i]![0]}-${bare[j - 1]![0]}/${bare[i]![1]}` : `${bare[i]![0]}/${bare[i]![1]}`);
    i = j;
  }
  return parts.join(', ');
}

/** `ctr port` lines: `80/tcp -> 0.0.0.0:8080`, or for one PORT[/PROTO] only the addresses. */
export function portLines(actual: PortMapping[], filter?: string): string[] {
  if (filter === undefined)
    return [...actual].sort((a, b) => a.containerPort - b.containerPort || (a.proto < b.proto ? -1 : 1))
      .map((m) => `${m.containerPort}/${m.proto} -> ${hostAddr(m.hostIp, m.hostPort)}`);
  const k = parsePortKey(filter);
  if (!k) throw new CtrError(`invalid port "${filter}": expected PORT[/tcp|/udp]`);
  return actual.filter((m) => m.containerPort === k[0] && m.proto === k[1]).map((m) => hostAddr(m.hostIp, m.hostPort));
}

/** Whether two listeners would want the same socket address. */
export function overlaps(a: PortMapping, b: PortMapping): boolean {
  if (a.proto !== b.proto || !a.hostPort || a.hostPort !== b.hostPort) return false;
  const ia = bindIp(a), ib = bindIp(b);
  const v6a = ia.includes(':'), v6b = ib.includes(':');
  if (v6a !== v6b) return false;
  return ia === ib || ia === '0.0.0.0' || ib === '0.0.0.0' || ia === '::' || ib === '::';
}
