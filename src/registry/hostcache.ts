/**
 * What a registry host answered to `GET /v2/` (the scheme it speaks and its auth challenge),
 * remembered across ctr invocations in the runroot (`registry-hosts.json`, per user, gone at
 * reboot), so a pull does not pay an https attempt and a ping round trip every time.
 *
 * Only what the ping learns is kept (no tokens, no credentials). An entry is trusted for
 * TTL_MS; a request that fails on a remembered entry drops it and pings again (client.ts).
 * The key includes the TLS mode, so a host that is no longer configured insecure is pinged
 * over https again. Reads and writes are best effort: a missing, corrupt or unwritable file
 * only means a ping.
 *
 * The file is only read from a runtime dir that passed the ownership checks (state/dirs.ts),
 * and a remembered answer can only ever change how ctr talks to the host the user named: the
 * client drops an entry whose base is not that very host and port over a scheme it allows
 * (client.ts, Conn.ready).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runrootDir } from '../state/dirs';
import type { Challenge } from './challenge';

export interface HostInfo {
  /** "http://host:port" or "https://host" */
  base: string;
  challenge: Challenge | null;
  /** when it was learnt (ms since the epoch) */
  at: number;
}

const TTL_MS = 12 * 3600_000;
const FILE = 'registry-hosts.json';
const MAX_ENTRIES = 64;

let cache: Record<string, HostInfo> | undefined;

/** The file, in the checked runtime dir: a runtime dir that is not the user's own is an error, not a miss. */
function file(): string | undefined {
  if (process.env.CTR_REGISTRY_HOST_CACHE === '0') return undefined;
  return path.join(runrootDir(), FILE);
}

function validChallenge(c: unknown): c is Challenge | null {
  if (c === null) return true;
  const ch = c as Challenge;
  if (!ch || typeof ch.scheme !== 'string' || !ch.params || typeof ch.params !== 'object' || Array.isArray(ch.params)) return false;
  if (!Object.values(ch.params).every((v) => typeof v === 'string')) return false;
  if (ch.params['realm'] !== undefined && ch.scheme === 'bearer') {
    try {
      const u = new URL(ch.params['realm']);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') return false;
    } catch {
      return false;
    }
  }
  return true;
}

function load(): Record<string, HostInfo> {
  if (cache) return cache;
  const f = file();
  cache = {};
  if (!f) return cache;
  try {
    const j = JSON.parse(fs.readFileSync(f, 'utf8')) as unknown;
    if (j && typeof j === 'object' && !Array.isArray(j)) {
      for (const [k, v] of Object.entries(j as Record<string, HostInfo>)) {
        if (v && typeof v.base === 'string' && /^https?:\/\/[^/]+$/.test(v.base) && typeof v.at === 'number' && validChallenge(v.challenge)) cache[k] = v;
      }
    }
  } catch {
    /* none yet, or unreadable: ping */
  }
  return cache;
}

function save(): void {
  const f = file();
  if (!f || !cache) return;
  try {
    const keys = Object.keys(cache).sort((a, b) => cache![b]!.at - cache![a]!.at);
    const out: Record<string, HostInfo> = {};
    for (const k of keys.slice(0, MAX_ENTRIES)) out[k] = cache[k]!;
    const tmp = `${f}.${process.pid}.tmp`;
    fs.rmSync(tmp, { force: true });
    fs.writeFileSync(tmp, JSON.stringify(out), { mode: 0o600, flag: 'wx' });
    fs.renameSync(tmp, f);
  } catch {
    /* best effort */
  }
}

/** The remembered answer for key (netHost|tls mode), unless too old. */
export function recallHost(key: string): HostInfo | undefined {
  const e = load()[key];
  if (!e) return undefined;
  const age = Date.now() - e.at;
  return age >= 0 && age < TTL_MS ? e : undefined;
}

export function rememberHost(key: string, base: string, challenge: Challenge | null): void {
  const c = load();
  const prev = c[key];
  // rewrite only what changed (or is getting old): most pulls write nothing
  if (prev && prev.base === base && JSON.stringify(prev.challenge) === JSON.stringify(challenge) && Date.now() - prev.at < TTL_MS / 2) return;
  c[key] = { base, challenge, at: Date.now() };
  save();
}

export function forgetHost(key: string): void {
  const c = load();
  if (!(key in c)) return;
  delete c[key];
  save();
}
