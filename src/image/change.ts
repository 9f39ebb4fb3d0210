/**
 * Dockerfile-style config changes (`ctr import --change`, later `commit --change`):
 * CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR.
 * Both "CMD [\"sh\"]" and Podman's "CMD=[\"sh\"]" spellings are accepted.
 */
import * as path from 'node:path';
import { CtrError } from '../util/errors';
import type { ImageRuntimeConfig } from './types';

export const CHANGE_INSTRUCTIONS = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];

/** Splits words with shell-like quoting ("..." and '...', backslash escapes); quotes are removed. */
export function splitWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let q: '"' | "'" | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (q) {
      if (c === q) q = undefined;
      else if (c === '\\' && q === '"' && i + 1 < s.length && (s[i + 1] === '"' || s[i + 1] === '\\')) cur += s[++i];
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      q = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (q) throw new CtrError(`unterminated quote in "${s}"`);
  if (inWord) out.push(cur);
  return out;
}

function jsonArray(s: string): string[] | undefined {
  const t = s.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    /* shell form */
  }
  return undefined;
}

function execOrShell(s: string): string[] {
  return jsonArray(s) ?? ['/bin/sh', '-c', s.trim()];
}

function keyValues(instr: string, rest: string): [string, string][] {
  const words = splitWords(rest);
  if (words.length === 0) throw new CtrError(`${instr} needs at least one KEY=VALUE`);
  if (!words[0]!.includes('=')) {
    // legacy form: KEY VALUE WITH SPACES
    const m = /^\s*(\S+)\s+([\s\S]*)$/.exec(rest);
    if (!m) throw new CtrError(`${instr} ${rest}: expected KEY=VALUE or KEY VALUE`);
    return [[m[1]!, splitWords(m[2]!).join(' ')]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new CtrError(`${instr}: "${w}" is not KEY=VALUE`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** Applies one change line to a config (mutated and returned). */
export function applyChange(config: ImageRuntimeConfig, line: string): ImageRuntimeConfig {
  const trimmed = line.trim();
  let m = /^([A-Za-z]+)(?:\s+|=)([\s\S]*)$/.exec(trimmed);
  if (!m) m = /^([A-Za-z]+)$/.exec(trimmed) ? ([trimmed, trimmed, ''] as unknown as RegExpExecArray) : null;
  if (!m) throw new CtrError(`invalid change "${line}": expected INSTRUCTION ARGUMENTS, such as CMD ["sh"]`);
  const instr = m[1]!.toUpperCase();
  const rest = m[2]!.trim();
  if (!CHANGE_INSTRUCTIONS.includes(instr))
    throw new CtrError(`invalid change "${line}": ${instr} is not supported; use one of ${CHANGE_INSTRUCTIONS.join(', ')}`);
  if (rest === '' && instr !== 'CMD' && instr !== 'ENTRYPOINT') throw new CtrError(`invalid change "${line}": ${instr} needs an argument`);
  switch (instr) {
    case 'CMD':
      config.Cmd = rest === '' ? null : execOrShell(rest);
      break;
    case 'ENTRYPOINT':
      config.Entrypoint = rest === '' || rest === '[]' ? null : execOrShell(rest);
      break;
    case 'ENV': {
      const env = config.Env ? [...config.Env] : [];
      for (const [k, v] of keyValues('ENV', rest)) {
        const i = env.findIndex((e) => e.split('=')[0] === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      config.Env = env;
      break;
    }
    case 'LABEL': {
      const labels = { ...(config.Labels ?? {}) };
      for (const [k, v] of keyValues('LABEL', rest)) labels[k] = v;
      config.Labels = labels;
      break;
    }
    case 'EXPOSE': {
      const ports = { ...(config.ExposedPorts ?? {}) };
      for (const p of splitWords(rest)) {
        const pm = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
        if (!pm) throw new CtrError(`invalid change "${line}": "${p}" is not a port (PORT[/tcp|udp|sctp])`);
        const lo = Number(pm[1]);
        const hi = pm[2] ? Number(pm[2]) : lo;
        if (lo < 1 || hi > 65535 || hi < lo) throw new CtrError(`invalid change "${line}": port "${p}" out of range`);
        for (let x = lo; x <= hi; x++) ports[`${x}/${(pm[3] ?? 'tcp').toLowerCase()}`] = {};
      }
      config.ExposedPorts = ports;
      break;
    }
    case 'VOLUME': {
      const vols = { ...(config.Volumes ?? {}) };
      for (const v of jsonArray(rest) ?? splitWords(rest)) {
        if (!v.startsWith('/')) throw new CtrError(`invalid change "${line}": volume "${v}" must be an absolute path`);
        vols[v] = {};
      }
      config.Volumes = vols;
      break;
    }
    case 'WORKDIR': {
      const w = splitWords(rest).join(' ');
      config.WorkingDir = path.posix.resolve(config.WorkingDir || '/', w);
      break;
    }
    case 'USER':
      config.User = rest;
      break;
    case 'STOPSIGNAL':
      config.StopSignal = rest;
      break;
    case 'ONBUILD':
      config.OnBuild = [...(config.OnBuild ?? []), rest];
      break;
  }
  return config;
}

export function applyChanges(config: ImageRuntimeConfig, lines: string[]): ImageRuntimeConfig {
  for (const l of lines) applyChange(config, l);
  return config;
}
