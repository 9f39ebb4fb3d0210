#!/usr/bin/env node
// Writes BUNDLE/config.json for ctr-helper tests.
// usage: mkbundle.js BUNDLE ROOTFS_MOUNTPOINT [--driver D --lower A:B --upper U --work W]
//        [--tty] [--user U] [--init] [--network none|host|slirp4netns] [--rm] [--log-max-size N]
//        [--read-only] [--hostname H] [--stdin] [--mount SRC:DST[:ro]] [--env K=V] [--cwd D]
//        [--cap-add CAP] [--privileged] -- ARGS...
'use strict';
const fs = require('fs');
const path = require('path');
const argv = process.argv.slice(2);
const dd = argv.indexOf('--');
const args = dd >= 0 ? argv.slice(dd + 1) : ['sh'];
const opts = dd >= 0 ? argv.slice(0, dd) : argv;
const [bundle, rootfs] = opts;
const o = { driver: 'vfs', network: 'none', user: '', hostname: 'ctrtest', mounts: [], env: [], caps: [] };
for (let i = 2; i < opts.length; i++) {
  const a = opts[i];
  const v = () => opts[++i];
  switch (a) {
    case '--driver': o.driver = v(); break;
    case '--lower': o.lower = v(); break;
    case '--upper': o.upper = v(); break;
    case '--work': o.work = v(); break;
    case '--tty': o.tty = true; break;
    case '--user': o.user = v(); break;
    case '--init': o.init = true; break;
    case '--network': o.network = v(); break;
    case '--rm': o.rm = true; break;
    case '--log-max-size': o.logMax = v(); break;
    case '--read-only': o.readOnly = true; break;
    case '--hostname': o.hostname = v(); break;
    case '--stdin': o.stdin = true; break;
    case '--mount': o.mounts.push(v()); break;
    case '--env': o.env.push(v()); break;
    case '--cwd': o.cwd = v(); break;
    case '--cap-add': o.caps.push(v()); break;
    case '--privileged': o.privileged = true; break;
    default: throw new Error('unknown option ' + a);
  }
}
const DEFAULT_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];
const caps = [...DEFAULT_CAPS, ...o.caps];
const mondir = path.join(bundle, 'mon');
fs.mkdirSync(bundle, { recursive: true });
fs.writeFileSync(path.join(bundle, 'hostname'), o.hostname + '\n');
const mounts = [
  { destination: '/etc/hostname', type: 'bind', source: path.join(bundle, 'hostname'), options: ['bind', 'rprivate'] },
];
for (const m of o.mounts) {
  const [src, dst, ro] = m.split(':');
  mounts.push({ destination: dst, type: 'bind', source: src, options: ['rbind', ro === 'ro' ? 'ro' : 'rw'] });
}
const namespaces = [{ type: 'mount' }, { type: 'pid' }, { type: 'uts' }, { type: 'ipc' }];
if (o.network !== 'host') namespaces.push({ type: 'network' });
const annotations = {
  'ctr.rootfs.driver': o.driver,
  'ctr.user': o.user,
  'ctr.init': o.init ? '1' : '0',
  'ctr.network': o.network,
  'ctr.monitor.dir': mondir,
  'ctr.monitor.state': path.join(bundle, 'state.json'),
  'ctr.monitor.exit': path.join(bundle, 'exit.json'),
  'ctr.monitor.log': path.join(bundle, 'ctr.log'),
  'ctr.monitor.log-max-size': String(o.logMax || 0),
  'ctr.monitor.remove': JSON.stringify(o.rm ? [bundle] : []),
  'ctr.stop-signal': '15',
};
if (o.stdin) annotations['ctr.stdin'] = '1';
if (o.lower) annotations['ctr.rootfs.lower'] = o.lower;
if (o.upper) annotations['ctr.rootfs.upper'] = o.upper;
if (o.work) annotations['ctr.rootfs.work'] = o.work;
const spec = {
  ociVersion: '1.0.2',
  process: {
    terminal: !!o.tty,
    user: { uid: 0, gid: 0 },
    args,
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm', ...o.env],
    cwd: o.cwd || '/',
    capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
    noNewPrivileges: !o.privileged,
  },
  root: { path: rootfs, readonly: !!o.readOnly },
  hostname: o.hostname,
  mounts,
  linux: {
    namespaces,
    maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
      '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap'],
    readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
  },
  annotations,
};
fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
