import { Command, Option } from 'clipanion';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { context } from '../../state/context';
import { runHelperSync, findHelper } from '../../util/helper';
import { renderOne } from '../../util/format';
import { listContainerRecords } from '../../container/store';
import { runtimeState } from '../../container/state';
import { VERSION } from '../../version';
import { which } from '../../util/which';

function idMaps(): { uid: object[]; gid: object[] } {
  const maps = { uid: [] as object[], gid: [] as object[] };
  const ctx = context();
  if (!ctx.rootless) return maps;
  try {
    for (const line of runHelperSync(['id-map']).split('\n')) {
      const [kind, c, h, s] = line.trim().split(/\s+/);
      if ((kind === 'uid' || kind === 'gid') && s) maps[kind].push({ container_id: Number(c), host_id: Number(h), size: Number(s) });
    }
  } catch {
    /* shown empty */
  }
  return maps;
}

export class InfoCommand extends Command {
  static override paths = [['info'], ['system', 'info']];
  static override usage = Command.Usage({ description: 'Display system-wide information' });
  format = Option.String('-f,--format');
  async execute(): Promise<number> {
    const ctx = context();
    let driver = { name: ctx.storageDriver, reason: 'requested' };
    try {
      driver = require('../../storage/driver').resolveStorageDriver();
    } catch (e) {
      driver = { name: ctx.storageDriver, reason: `unresolved: ${(e as Error).message}` };
    }
    const recs = listContainerRecords();
    const states = recs.map((r) => runtimeState(r).status);
    let images = 0;
    try {
      images = require('../../image/store').listImages().length;
    } catch {
      /* none */
    }
    const maps = idMaps();
    const info = {
      host: {
        arch: process.arch === 'x64' ? 'amd64' : process.arch,
        kernel: os.release(),
        hostname: os.hostname(),
        os: 'linux',
        distribution: distribution(),
        memTotal: os.totalmem(),
        cpus: os.cpus().length,
        ociRuntime: { name: 'ctr-helper', path: safe(findHelper) },
        security: { rootless: ctx.rootless, capabilities: 'CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_KILL,CAP_NET_BIND_SERVICE,CAP_SETFCAP,CAP_SETGID,CAP_SETPCAP,CAP_SETUID,CAP_SYS_CHROOT,CAP_MKNOD,CAP_NET_RAW,CAP_AUDIT_WRITE' },
        idMappings: { uidmap: maps.uid, gidmap: maps.gid },
        slirp4netns: { executable: which('slirp4netns') ?? '' },
      },
      store: {
        graphDriverName: driver.name,
        graphDriverReason: driver.reason,
        graphRoot: ctx.root,
        runRoot: ctx.runroot,
        configFile: `${ctx.configDir}/ctr.conf`,
        containerStore: {
          number: recs.length,
          running: states.filter((s) => s === 'running').length,
          paused: states.filter((s) => s === 'paused').length,
          stopped: states.filter((s) => s === 'exited' || s === 'created').length,
        },
        imageStore: { number: images },
      },
      version: { Version: VERSION, OsArch: `linux/${process.arch === 'x64' ? 'amd64' : process.arch}` },
    };
    if (this.format === 'json') this.context.stdout.write(JSON.stringify(info, null, 2) + '\n');
    else if (this.format) this.context.stdout.write(renderOne(this.format, capitalize(info)) + '\n');
    else this.context.stdout.write(yaml(info, 0));
    return 0;
  }
}

function safe(fn: () => string): string {
  try {
    return fn();
  } catch {
    return '';
  }
}


function distribution(): string {
  try {
    const t = fs.readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(t)?.[1] ?? '';
  } catch {
    return '';
  }
}

/** Podman's templates use {{.Host.Arch}}, {{.Store.GraphDriverName}}: capitalized keys. */
function capitalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(capitalize);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k[0]!.toUpperCase() + k.slice(1), capitalize(x)]));
  return v;
}

function yaml(v: unknown, indent: number): string {
  const pad = ' '.repeat(indent);
  let out = '';
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(x)) {
      out += `${pad}${k}:${x.length ? '' : ' []'}\n`;
      for (const item of x) out += `${pad}  - ${JSON.stringify(item)}\n`;
    } else if (x && typeof x === 'object') out += `${pad}${k}:\n${yaml(x, indent + 2)}`;
    else out += `${pad}${k}: ${x}\n`;
  }
  return out;
}
