/**
 * ctr's configuration file: JSON, read from $XDG_CONFIG_HOME/ctr/ctr.conf (rootless) and
 * /etc/ctr/ctr.conf. Keys of the user's file override the system file's, one section deep:
 *   {"storage": {"driver": "vfs"}, "log-opts": {"max-size": "10m", "max-file": 5}}
 */
import * as path from 'node:path';
import { context } from '../state/context';
import { CtrError } from '../util/errors';
import { readJsonObjectFile } from '../util/jsonfile';

export interface CtrConfig {
  storage?: { driver?: string };
  /** defaults of `--log-opt`: {"max-size": "10m", "max-file": 5} */
  'log-opts'?: Record<string, unknown>;
  [section: string]: unknown;
}

export const SYSTEM_CONFIG = '/etc/ctr/ctr.conf';

export function configFiles(): string[] {
  const user = path.join(context().configDir, 'ctr.conf');
  return user === SYSTEM_CONFIG ? [SYSTEM_CONFIG] : [SYSTEM_CONFIG, user];
}

let cached: { config: CtrConfig; sources: Record<string, string> } | undefined;

function readOne(file: string): CtrConfig | undefined {
  return readJsonObjectFile<CtrConfig>(file, 'configuration file', 'it must hold an object such as {"storage":{"driver":"vfs"}}');
}

/** The merged configuration and, for each "section.key", the file it came from. */
export function loadConfig(): { config: CtrConfig; sources: Record<string, string> } {
  if (cached) return cached;
  const config: CtrConfig = {};
  const sources: Record<string, string> = {};
  for (const f of configFiles()) {
    const c = readOne(f);
    if (!c) continue;
    for (const [k, v] of Object.entries(c)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        const prev = (config[k] && typeof config[k] === 'object' ? config[k] : {}) as Record<string, unknown>;
        config[k] = { ...prev, ...(v as Record<string, unknown>) };
        for (const sub of Object.keys(v)) sources[`${k}.${sub}`] = f;
      } else {
        config[k] = v;
        sources[k] = f;
      }
    }
  }
  cached = { config, sources };
  return cached;
}

/** The "log-opts" section: defaults for `--log-opt` (checked by parseLogOpts), each with its file. */
export function configLogOpts(): { key: string; value: unknown; where: string }[] {
  const { config, sources } = loadConfig();
  const section = config['log-opts'];
  if (section === undefined) return [];
  if (!section || typeof section !== 'object' || Array.isArray(section))
    throw new CtrError(`invalid "log-opts" in ${sources['log-opts'] ?? 'the configuration file'}: expected an object such as {"max-size": "10m", "max-file": 5}`);
  return Object.entries(section).map(([key, value]) => ({
    key,
    value,
    where: `${key} ${JSON.stringify(value)} in "log-opts" of ${sources[`log-opts.${key}`] ?? 'the configuration file'}`,
  }));
}
