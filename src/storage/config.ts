/**
 * ctr's configuration file: JSON, read from $XDG_CONFIG_HOME/ctr/ctr.conf (rootless) and
 * /etc/ctr/ctr.conf. Keys of the user's file override the system file's, one section deep:
 *   {"storage": {"driver": "vfs"}}
 */
import * as path from 'node:path';
import { context } from '../state/context';
import { readJsonObjectFile } from '../util/jsonfile';

export interface CtrConfig {
  storage?: { driver?: string };
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

