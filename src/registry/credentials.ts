/**
 * Registry credentials where Podman keeps them:
 *   $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json (root without
 *   XDG_RUNTIME_DIR: /run/containers/0/auth.json), written 0600 and atomically;
 *   read fallbacks: ~/.config/containers/auth.json, then Docker's ~/.docker/config.json
 *   ($DOCKER_CONFIG/config.json). Format: {"auths": {"HOST": {"auth": base64("user:pass")}}}.
 *
 * The default directory (under the runtime dir) is only used when it is the user's own and
 * private (state/dirs.ts): credentials are neither written to nor read from a directory another
 * user made. A file named by $REGISTRY_AUTH_FILE is the user's explicit choice.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CtrError } from '../util/errors';
import { readJsonObjectFile } from '../util/jsonfile';
import { checkPrivateDirIfPresent, ensurePrivateDir, type PrivateDir } from '../state/dirs';

export interface Credentials {
  username: string;
  password: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  [k: string]: unknown;
}

function home(): string {
  return process.env.HOME || os.homedir();
}

/** The auth file ctr writes (and reads first). */
export function authFilePath(): string {
  if (process.env.REGISTRY_AUTH_FILE) return process.env.REGISTRY_AUTH_FILE;
  const uid = process.getuid ? process.getuid() : 0;
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg) return path.join(xdg, 'containers', 'auth.json');
  return uid === 0 ? '/run/containers/0/auth.json' : `/run/user/${uid}/containers/auth.json`;
}

/** The default auth file's directory, with how to name it in errors; undefined with $REGISTRY_AUTH_FILE. */
function defaultAuthDir(): PrivateDir | undefined {
  if (process.env.REGISTRY_AUTH_FILE) return undefined;
  const dir = path.dirname(authFilePath());
  return {
    dir,
    what: 'credentials directory',
    parentName: process.env.XDG_RUNTIME_DIR ? 'XDG_RUNTIME_DIR' : undefined,
    fix: 'set XDG_RUNTIME_DIR to a directory of yours (mode 0700), or REGISTRY_AUTH_FILE to a file of yours',
  };
}

/** Files read for credentials, in order. */
export function authFilesToRead(): string[] {
  if (process.env.REGISTRY_AUTH_FILE) return [process.env.REGISTRY_AUTH_FILE];
  const dockerDir = process.env.DOCKER_CONFIG || path.join(home(), '.docker');
  return [
    authFilePath(),
    path.join(process.env.XDG_CONFIG_HOME || path.join(home(), '.config'), 'containers', 'auth.json'),
    path.join(dockerDir, 'config.json'),
  ];
}

function readAuthFile(file: string): AuthFile | undefined {
  if (file === authFilePath()) {
    const d = defaultAuthDir();
    if (d && !checkPrivateDirIfPresent(d)) return undefined;
  }
  return readJsonObjectFile<AuthFile>(file, 'credentials file', 'fix or remove it');
}

/** The keys a host may be stored under (Docker writes URLs, and Docker Hub has several names). */
export function authKeys(host: string): string[] {
  const h = normalizeAuthHost(host);
  const keys = [h, `https://${h}`, `http://${h}`, `https://${h}/v1/`, `https://${h}/v2/`];
  if (h === 'docker.io') keys.push('https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io', 'https://registry-1.docker.io');
  return keys;
}

/** docker.io's aliases map to docker.io; a scheme or trailing path is dropped. */
export function normalizeAuthHost(host: string): string {
  let h = host.trim().replace(/^[a-z]+:\/\//, '');
  h = h.split('/')[0]!;
  if (h === 'index.docker.io' || h === 'registry-1.docker.io') h = 'docker.io';
  return h;
}

function decode(entry: { auth?: string; username?: string; password?: string }, file: string, key: string): Credentials | undefined {
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const s = Buffer.from(entry.auth, 'base64').toString('utf8');
  const i = s.indexOf(':');
  if (i < 0) throw new CtrError(`credentials for ${key} in ${file} are malformed: run ctr login ${normalizeAuthHost(key)} again`);
  return { username: s.slice(0, i), password: s.slice(i + 1) };
}

/** Stored credentials for host[:port], or undefined. */
export function getCredentials(host: string): Credentials | undefined {
  const keys = authKeys(host);
  for (const file of authFilesToRead()) {
    const auths = readAuthFile(file)?.auths;
    if (!auths) continue;
    for (const k of keys) {
      const e = auths[k];
      if (e) {
        const c = decode(e, file, k);
        if (c) return c;
      }
    }
  }
  return undefined;
}

function writeAuthFile(file: string, content: AuthFile): void {
  const dir = path.dirname(file);
  const d = file === authFilePath() ? defaultAuthDir() : undefined;
  if (d) ensurePrivateDir(d);
  else fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.tmp-${path.basename(file)}-${randomBytes(4).toString('hex')}`);
  try {
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(content, null, '\t') + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* never created */
    }
    throw new CtrError(`cannot write credentials file ${file}: ${(e as Error).message}`);
  }
}

/** Stores credentials for host in authFilePath() (0600, atomic; other entries kept). */
export function storeCredentials(host: string, username: string, password: string): void {
  const file = authFilePath();
  const content = readAuthFile(file) ?? {};
  const auths = (content.auths ??= {});
  const h = normalizeAuthHost(host);
  for (const k of authKeys(h)) if (k !== h) delete auths[k];
  auths[h] = { auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64') };
  writeAuthFile(file, content);
}

/** Removes host's credentials from authFilePath(); false when there were none. */
export function removeCredentials(host: string): boolean {
  const file = authFilePath();
  const content = readAuthFile(file);
  if (!content?.auths) return false;
  let found = false;
  for (const k of authKeys(host)) {
    if (k in content.auths) {
      delete content.auths[k];
      found = true;
    }
  }
  if (found) writeAuthFile(file, content);
  return found;
}

/** Removes every credential from authFilePath(); returns how many hosts there were. */
export function removeAllCredentials(): number {
  const file = authFilePath();
  const content = readAuthFile(file);
  const n = content?.auths ? Object.keys(content.auths).length : 0;
  if (content) {
    content.auths = {};
    writeAuthFile(file, content);
  }
  return n;
}

/** True when credentials for host exist only in a file ctr does not write (Docker's config). */
export function credentialsElsewhere(host: string): string | undefined {
  const keys = authKeys(host);
  for (const file of authFilesToRead().slice(1)) {
    const auths = readAuthFile(file)?.auths;
    if (auths && keys.some((k) => auths[k])) return file;
  }
  return undefined;
}
