import { Command, Option } from 'clipanion';
import * as path from 'node:path';
import { containerDir, tryFindContainer } from '../../container/store';
import { runtimeState } from '../../container/state';
import type { ContainerRecord } from '../../container/types';
import { renderOne } from '../../util/format';
import { networkSettings } from '../../network/settings';
import { networkSettingsPorts } from '../../network/ports';

/** Docker's `inspect` JSON for a container. */
export function inspectContainer(rec: ContainerRecord): Record<string, unknown> {
  const st = runtimeState(rec);
  const dir = containerDir(rec.id);
  return {
    Id: rec.id,
    Created: rec.created,
    Path: rec.path,
    Args: rec.args,
    State: {
      Status: st.status,
      Running: st.status === 'running' || st.status === 'paused',
      Paused: st.status === 'paused',
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: st.pid,
      ExitCode: st.exitCode,
      Error: st.error,
      StartedAt: st.startedAt,
      FinishedAt: st.finishedAt,
    },
    Image: rec.image,
    ResolvConfPath: path.join(dir, 'resolv.conf'),
    HostnamePath: path.join(dir, 'hostname'),
    HostsPath: path.join(dir, 'hosts'),
    LogPath: path.join(dir, 'ctr.log'),
    Name: `/${rec.name}`,
    RestartCount: 0,
    Driver: rec.driver,
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    HostConfig: rec.hostConfig,
    GraphDriver: {
      Name: rec.driver,
      Data: { UpperDir: path.join(dir, 'upper'), WorkDir: path.join(dir, 'work'), MergedDir: path.join(dir, 'merged') },
    },
    Mounts: rec.mounts,
    Config: rec.config,
    NetworkSettings: {
      ...networkSettings(rec),
      Ports: networkSettingsPorts(Object.keys((rec.config.ExposedPorts ?? {}) as object), st.status === 'running' || st.status === 'paused' ? st.ports : undefined),
      SandboxKey: st.pid ? `/proc/${st.pid}/ns/net` : '' },
    // what cannot be read of the container's files (only when something is damaged)
    ...(rec.damaged || st.damaged ? { Damaged: [rec.damaged, st.damaged].filter(Boolean).join('; ') } : {}),
  };
}

export class InspectContainerCommand extends Command {
  static override paths = [['container', 'inspect'], ['inspect']];
  static override usage = Command.Usage({ description: 'Display detailed information on containers (and images with `inspect`)' });
  format = Option.String('-f,--format', { description: 'Format the output using a Go template' });
  size = Option.Boolean('-s,--size', false);
  type = Option.String('--type', { description: 'container or image' });
  names = Option.Rest({ required: 1 });

  async execute(): Promise<number> {
    const out: unknown[] = [];
    let failed = false;
    const isPlain = this.path.length === 1; // `ctr inspect` also finds images
    for (const n of this.names) {
      const rec = this.type === 'image' ? undefined : tryFindContainer(n, { damaged: true });
      if (rec) {
        out.push(inspectContainer(rec));
        continue;
      }
      if (isPlain && this.type !== 'container') {
        try {
          const { findImage } = require('../../image/store');
          const { inspectImage } = require('../../image/view');
          const { resolveStorageDriver } = require('../../storage/driver');
          out.push(inspectImage(findImage(n), resolveStorageDriver().name));
          continue;
        } catch {
          /* not an image either */
        }
      }
      failed = true;
      this.context.stderr.write(`Error: no such ${isPlain ? 'object' : 'container'}: ${n}\n`);
    }
    if (this.format) {
      for (const o of out) this.context.stdout.write(renderOne(this.format, o) + '\n');
    } else {
      this.context.stdout.write(JSON.stringify(out, null, 4) + '\n');
    }
    return failed ? 125 : 0;
  }
}
