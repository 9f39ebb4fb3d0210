import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageRecord, RootfsSpec } from '../image/types';
import { writeFileChecked } from '../state/fsatomic';
import type { BindMount, LogOptions } from './options';
import type { IdMapping } from './userns';
import { seccompSpecValue, type SecuritySettings } from './security';

export const MASKED_PATHS = [
  '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
  '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS = ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** bridge: links into user-defined networks (endpoints), made by the monitor (native/netns.c) */
export type NetworkMode = 'none' | 'host' | 'slirp4netns' | 'bridge';

/** Everything `create` decided, from flags and the image. */
export interface ContainerSettings {
  id: string;
  name: string;
  args: string[];
  env: string[];
  cwd: string;
  user: string;
  hostname: string;
  tty: boolean;
  openStdin: boolean;
  caps: string[];
  privileged: boolean;
  readOnly: boolean;
  init: boolean;
  network: NetworkMode;
  /** addresses on user-defined networks */
  endpoints?: EndpointLinks;
  binds: BindMount[];
  log: LogOptions;
  autoRemove: boolean;
  stopSignal: number;
  labels: Record<string, string>;
  /** --userns=keep-id: a user namespace of the container's own, and the passwd/group files bound in */
  userns?: { uidMappings: IdMapping[]; gidMappings: IdMapping[]; mounts: { destination: string; source: string }[] };
  security: SecuritySettings;
  /** the `ctr.ports` annotation (src/network/ports.ts), '' when nothing is published */
  ports?: string;
}

export interface BundlePaths {
  dir: string;
  monitorDir: string;
  namesLink: string;
}

function hardNofile(): number {
  try {
    const m = /Max open files\s+(\d+)\s+(\d+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (m) return Number(m[2]);
  } catch {
    /* default below */
  }
  return 1024;
}

/** Writes /etc/hosts, /etc/hostname and /etc/resolv.conf for the container into its bundle. */
export function writeNetworkFiles(dir: string, s: ContainerSettings): void {
  const hosts =
    s.network === 'host'
      ? readOr('/etc/hosts', '127.0.0.1\tlocalhost\n')
      : `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${s.network === 'slirp4netns' ? '10.0.2.100' : (Object.values(s.endpoints ?? {})[0]?.ip ?? '127.0.1.1')}\t${s.hostname} ${s.name}\n`;
  writeFileChecked(path.join(dir, 'hosts'), hosts);
  writeFileChecked(path.join(dir, 'hostname'), `${s.hostname}\n`);
  let resolv = readOr('/etc/resolv.conf', '');
  if (s.network === 'slirp4netns') resolv = 'nameserver 10.0.2.3\n' + resolv.split('\n').filter((l) => /^(search|options)\b/.test(l)).join('\n') + '\n';
  else if (s.network !== 'host') resolv = resolv.split('\n').filter((l) => !/^nameserver\s+127\./.test(l)).join('\n');
  writeFileChecked(path.join(dir, 'resolv.conf'), resolv);
}

type EndpointLinks = Record<string, { networkId: string; ip: string; prefix: number; gateway: string; mac: string; mtu?: number }>;

/** The links the helper makes (native/netns.c): "BRIDGE IP/PREFIX GATEWAY MAC MTU;..." */
export function endpointsText(eps: EndpointLinks): string {
  return Object.values(eps).map((e) => `${bridgeName(e.networkId)} ${e.ip}/${e.prefix} ${e.gateway} ${e.mac} ${e.mtu ?? 0}`).join(';');
}

/** The Linux bridge of a user network in the per-user network namespace (15 characters at most). */
export function bridgeName(networkId: string): string {
  return `ctr${networkId.slice(0, 12)}`;
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** The OCI runtime spec (config.json) the helper runs. */
export function ociSpec(s: ContainerSettings, rootfs: RootfsSpec, p: BundlePaths, image: ImageRecord | undefined): object {
  const nofile = hardNofile();
  const mounts: object[] = [
    { destination: '/etc/hosts', type: 'bind', source: path.join(p.dir, 'hosts'), options: ['bind', 'rprivate'] },
    { destination: '/etc/hostname', type: 'bind', source: path.join(p.dir, 'hostname'), options: ['bind', 'rprivate'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: path.join(p.dir, 'resolv.conf'), options: ['bind', 'rprivate'] },
  ];
  for (const m of s.userns?.mounts ?? [])
    mounts.push({ destination: m.destination, type: 'bind', source: m.source, options: ['bind', 'rprivate'] });
  for (const b of s.binds)
    mounts.push({ destination: b.destination, type: 'bind', source: b.source, options: ['rbind', b.readonly ? 'ro' : 'rw', ...b.options] });
  const namespaces = [{ type: 'mount' }, { type: 'pid' }, { type: 'uts' }, { type: 'ipc' }];
  if (s.network !== 'host') namespaces.push({ type: 'network' });
  if (s.userns) namespaces.push({ type: 'user' });
  const remove = s.autoRemove ? [p.namesLink, p.dir, p.monitorDir] : [];
  const annotations: Record<string, string> = {
    ...rootfs.annotations,
    'ctr.user': s.user,
    'ctr.init': s.init ? '1' : '0',
    'ctr.stdin': s.openStdin ? '1' : '0',
    'ctr.network': s.network,
    ...(s.ports ? { 'ctr.ports': s.ports } : {}),
    'ctr.monitor.dir': p.monitorDir,
    'ctr.monitor.state': path.join(p.dir, 'state.json'),
    'ctr.monitor.exit': path.join(p.dir, 'exit.json'),
    'ctr.monitor.log': path.join(p.dir, 'ctr.log'),
    'ctr.monitor.log-max-size': String(s.log.maxSize),
    'ctr.monitor.log-max-files': String(s.log.maxFiles),
    'ctr.monitor.remove': JSON.stringify(remove),
    'ctr.stop-signal': String(s.stopSignal),
    'ctr.container.id': s.id,
    'ctr.container.name': s.name,
  };
  if (image) annotations['ctr.image.id'] = image.id;
  if (s.endpoints) annotations['ctr.network.endpoints'] = endpointsText(s.endpoints);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: s.tty,
      user: { uid: 0, gid: 0 },
      args: s.args,
      env: s.env,
      cwd: s.cwd,
      capabilities: {
        bounding: s.caps,
        effective: s.caps,
        permitted: s.caps,
        inheritable: [],
        ambient: [],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
      noNewPrivileges: s.security.noNewPrivileges,
    },
    root: { path: rootfs.rootPath, readonly: s.readOnly },
    hostname: s.hostname,
    mounts,
    linux: {
      namespaces,
      ...(s.userns ? { uidMappings: s.userns.uidMappings, gidMappings: s.userns.gidMappings } : {}),
      maskedPaths: s.security.maskedPaths,
      readonlyPaths: s.security.readonlyPaths,
      ...(s.security.seccomp !== null ? { seccomp: seccompSpecValue(s.security) } : {}),
    },
    annotations,
  };
}
