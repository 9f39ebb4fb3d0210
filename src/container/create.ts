import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findImage } from '../image/store';
import { configLogOpts } from '../storage/config';
import { createContainerRootfs } from '../storage/rootfs';
import type { ImageRecord, RootfsSpec } from '../image/types';
import { writeFileAtomic } from '../state/fsatomic';
import { runrootDir } from '../state/dirs';
import { CtrError } from '../util/errors';
import { which } from '../util/which';
import {
  capabilitySet, checkUser, mergeEnv, parseLabels, parseLogOpts, parsePidsLimit, parseSignal, parseVolume, pidsLimitWarning,
  readEnvFiles, signalName,
} from './options';
import { parseSecurityOpts, securitySettings, specText } from './security';
import { ociSpec, writeNetworkFiles, type ContainerSettings, type NetworkMode } from './spec';
import { keepIdFiles, parseUserns, prepareKeepId, type KeepId } from './userns';
import { context } from '../state/context';
import { allocateEndpoints, parseMac, tryFindNetwork, type Endpoint } from '../network/store';
import { resolveStorageDriver } from '../storage/driver';
import { containerDir, createRecord, monitorDir, namesDir } from './store';
import type { ContainerRecord } from './types';
import { parseExpose, portBindings, portsAnnotation, publishedPorts } from '../network/ports';

/** What the user asked for with `create`/`run` flags. */
export interface CreateRequest {
  image: string;
  command: string[];
  name?: string;
  env: string[];
  envFiles: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  labels: string[];
  volumes: string[];
  network?: string;
  /** --ip (first user network), --mac-address (first user network), --network-alias (every user network) */
  ip?: string;
  mac?: string;
  aliases?: string[];
  init: boolean;
  readOnly: boolean;
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  securityOpt: string[];
  logOpts: string[];
  tty: boolean;
  interactive: boolean;
  rm: boolean;
  stopSignal?: string;
  /** --userns: host (default) or keep-id[:uid=N,gid=N] */
  userns?: string;
  /** --pids-limit */
  pidsLimit?: string;
  attach: { stdin: boolean; stdout: boolean; stderr: boolean };
  /** -p/--publish specs */
  publish?: string[];
  /** -P/--publish-all */
  publishAll?: boolean;
  /** --expose */
  expose?: string[];
}

const haveSlirp = () => which('slirp4netns') !== undefined;

const DEFAULT_NETS = ['', 'default', 'bridge', 'slirp4netns', 'private'];

/** --network: a built-in mode, or user-defined networks (NAME[,NAME2]) checked to exist. */
function networkMode(v: string | undefined): { mode: NetworkMode; userNets: string[] } {
  if (v === undefined || DEFAULT_NETS.includes(v)) return { mode: haveSlirp() ? 'slirp4netns' : 'none', userNets: [] };
  if (v === 'none' || v === 'host') return { mode: v, userNets: [] };
  const names = v.split(',');
  const userNets: string[] = [];
  for (const n of names) {
    if (n === '' || DEFAULT_NETS.includes(n) || n === 'none' || n === 'host' || n.includes(':'))
      throw new CtrError(`invalid --network "${v}": ${n || 'an empty name'} cannot be combined with other networks; give none, host, or user networks NAME[,NAME2]`);
    const net = tryFindNetwork(n);
    if (!net) throw new CtrError(`no such network: ${n} (see ctr network ls; create it with ctr network create ${n})`);
    if (!userNets.includes(net.Name)) userNets.push(net.Name);
  }
  return { mode: 'bridge', userNets };
}

/** Docker's rules for the command: --entrypoint replaces the image's and drops its Cmd. */
export function resolveCommand(image: ImageRecord['config']['config'], req: Pick<CreateRequest, 'entrypoint' | 'command'>) {
  let entrypoint: string[] = image?.Entrypoint ?? [];
  let cmd: string[] = image?.Cmd ?? [];
  if (req.entrypoint !== undefined) {
    entrypoint = req.entrypoint === '' ? [] : [req.entrypoint];
    cmd = [];
  }
  if (req.command.length) cmd = req.command;
  const args = [...entrypoint, ...cmd];
  return { entrypoint, cmd, args };
}

/** The image's copy of FILE (e.g. etc/passwd): the topmost layer that has it, unless a layer above deletes it. */
function imageFile(image: ImageRecord, rel: string): string | undefined {
  for (const layer of [...image.layers].reverse()) {
    const p = path.join(layer.dir, rel);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      continue;
    }
    if (!st.isFile()) return undefined; // a whiteout, a symlink, ...: leave it to the runtime
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Docker resolves -u names when the container starts; we check them against the image's
 * /etc/passwd and /etc/group now, so a typo leaves no container behind. Numeric IDs need no
 * entry; a bind mount over /etc or the files leaves the decision to start.
 */
function checkUserInImage(image: ImageRecord, user: string, binds: { destination: string }[]): void {
  if (!user) return;
  const [name, group] = user.split(':') as [string, string | undefined];
  const covered = (file: string) => binds.some((b) => b.destination === '/etc' || b.destination === file);
  const lookup = (value: string | undefined, file: string, what: string) => {
    if (value === undefined || /^[0-9]+$/.test(value) || covered(`/${file}`)) return;
    const text = imageFile(image, file);
    if (text === undefined) return;
    if (!text.split('\n').some((l) => l.split(':')[0] === value))
      throw new CtrError(`unable to find ${what} ${value}: no matching entries in ${what === 'user' ? 'passwd' : 'group'} file of the image`);
  };
  lookup(name, 'etc/passwd', 'user');
  lookup(group, 'etc/group', 'group');
}

export function createContainer(req: CreateRequest): ContainerRecord {
  // Validate everything before anything is written.
  const image = findImage(req.image);
  const ic = image.config.config ?? {};
  const { entrypoint, cmd, args } = resolveCommand(ic, req);
  if (args.length === 0) throw new CtrError(`no command specified: the image ${req.image} has no CMD or ENTRYPOINT; give a command after the image`);
  const userns = parseUserns(req.userns);
  const pidsLimit = req.pidsLimit !== undefined ? parsePidsLimit(req.pidsLimit) : undefined;
  // keep-id: the rootfs is mounted by fuse-overlayfs with the ID mapping (see ./userns.ts)
  let keepId: KeepId | undefined;
  if (userns.mode === 'keep-id') keepId = prepareKeepId(userns, context().rootless, resolveStorageDriver().name);
  // keep-id runs as the user's own ID by default (Podman), whatever the image's USER
  const user = req.user !== undefined ? checkUser(req.user) : keepId ? `${keepId.uid}:${keepId.gid}` : ic.User ? ic.User : '';
  const cwd = req.workdir ?? (ic.WorkingDir || '/');
  if (!cwd.startsWith('/')) throw new CtrError(`invalid working directory "${cwd}": it must be an absolute path`);
  const binds = req.volumes.map((v) => parseVolume(v));
  checkUserInImage(image, user, binds);
  const log = parseLogOpts(req.logOpts, configLogOpts());
  const caps = capabilitySet(req.capAdd, req.capDrop, req.privileged);
  const security = securitySettings(parseSecurityOpts(req.securityOpt), caps, req.privileged);
  const { mode: network, userNets } = networkMode(req.network);
  if (!userNets.length) {
    const only = (what: string) => `${what} is supported on user-defined networks only: create one with ctr network create NAME and give --network NAME`;
    if (req.ip !== undefined) throw new CtrError(only('--ip'));
    if (req.aliases?.length) throw new CtrError(only('--network-alias'));
    if (req.mac !== undefined) throw new CtrError(only('--mac-address'));
  }
  const mac = req.mac !== undefined ? parseMac(req.mac) : undefined;
  for (const a of req.aliases ?? [])
    if (!/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,253})?$/.test(a)) throw new CtrError(`invalid --network-alias "${a}": use letters, digits, '_', '.' and '-'`);
  // ports: the image's EXPOSE, --expose, and every published port (Docker lists them all)
  const exposedKeys = [...Object.keys(ic.ExposedPorts ?? {}), ...(req.expose ?? []).flatMap((e) => parseExpose(e))];
  let ports = publishedPorts(req.publish ?? [], req.publishAll ?? false, exposedKeys);
  if (ports.length && network === 'host') {
    process.stderr.write('WARNING: published ports are discarded when using host network mode\n');
    ports = [];
  }
  const exposed: Record<string, object> = {};
  for (const k of [...exposedKeys, ...ports.map((m) => `${m.containerPort}/${m.proto}`)]) exposed[k.includes('/') ? k : `${k}/tcp`] = {};
  const stopSignal = parseSignal(req.stopSignal ?? ic.StopSignal ?? 'SIGTERM');
  const labels = { ...(ic.Labels ?? {}), ...parseLabels(req.labels) };
  const fileEnv = readEnvFiles(req.envFiles);
  if (req.hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,253})?$/.test(req.hostname))
    throw new CtrError(`invalid hostname "${req.hostname}"`);
  // the runtime dir holds the monitor's socket: a container that could never start is not made
  runrootDir();

  if (pidsLimit) process.stderr.write(pidsLimitWarning(pidsLimit) + '\n');

  const created = new Date().toISOString();
  let settings: ContainerSettings | undefined;
  let endpoints: Record<string, Endpoint> | undefined;
  const rec = createRecord(req.name, (id, name) => {
    if (userNets.length)
      endpoints = allocateEndpoints(id, userNets.map((n, i) => ({ network: n, aliases: req.aliases ?? [], ...(i === 0 ? { ip: req.ip, mac } : {}) })));
    // --network host shares the host's network identity: its host name too (Docker, Podman)
    const hostname = req.hostname ?? (network === 'host' ? os.hostname() : id.slice(0, 12));
    const baseEnv = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
    const env = mergeEnv(baseEnv, ic.Env ?? [], fileEnv, req.env, [`HOSTNAME=${hostname}`, 'container=ctr'], req.tty ? ['TERM=xterm'] : []);
    settings = {
      // no user: root as /etc/passwd and /etc/group describe it (its supplementary groups), as Docker does
      id, name, args, env, cwd, user: user || '0', hostname, tty: req.tty, openStdin: req.interactive, caps,
      privileged: req.privileged, readOnly: req.readOnly, init: req.init, network, binds, log,
      autoRemove: req.rm, stopSignal, labels, security, ports: portsAnnotation(ports), ...(endpoints ? { endpoints } : {}),
      ...(keepId ? { userns: { uidMappings: keepId.uidMappings, gidMappings: keepId.gidMappings, mounts: [] } } : {}),
    };
    return {
      id,
      name,
      image: image.id,
      imageName: req.image,
      created,
      path: args[0]!,
      args: args.slice(1),
      driver: '',
      autoRemove: req.rm,
      config: {
        Hostname: hostname,
        Domainname: '',
        User: user,
        AttachStdin: req.attach.stdin,
        AttachStdout: req.attach.stdout,
        AttachStderr: req.attach.stderr,
        ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
        Tty: req.tty,
        OpenStdin: req.interactive,
        StdinOnce: req.interactive && req.attach.stdin,
        Env: env,
        Cmd: cmd.length ? cmd : null,
        Image: req.image,
        Volumes: ic.Volumes ?? null,
        WorkingDir: cwd,
        Entrypoint: entrypoint.length ? entrypoint : null,
        OnBuild: null,
        Labels: labels,
        StopSignal: signalName(stopSignal),
      },
      hostConfig: {
        Binds: req.volumes,
        NetworkMode: userNets[0] ?? network,
        PortBindings: portBindings(ports),
        PublishAllPorts: req.publishAll ?? false,
        AutoRemove: req.rm,
        Privileged: req.privileged,
        ReadonlyRootfs: req.readOnly,
        CapAdd: req.capAdd,
        CapDrop: req.capDrop,
        SecurityOpt: req.securityOpt.length ? req.securityOpt : null,
        Init: req.init,
        UsernsMode: req.userns ?? '',
        PidsLimit: pidsLimit ?? null,
        LogConfig: { Type: 'json-file', Config: log.raw },
        RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      },
      ...(endpoints ? { networks: endpoints } : {}),
      mounts: binds.map((b) => ({
        Type: 'bind',
        Source: b.source,
        Destination: b.destination,
        Mode: b.readonly ? 'ro' : '',
        RW: !b.readonly,
        Propagation: 'rprivate',
      })),
    };
  }, (tmp, rec) => {
    // Made inside the unpublished directory; every path written points at the final one.
    const dir = containerDir(rec.id);
    const toFinal = (v: string) => v.split(tmp).join(dir);
    const made = createContainerRootfs(tmp, image, keepId ? 'fuse-overlayfs' : undefined);
    const rootfs: RootfsSpec = {
      ...made,
      rootPath: toFinal(made.rootPath),
      annotations: Object.fromEntries(Object.entries(made.annotations).map(([k, v]) => [k, toFinal(v)])),
    };
    rec.driver = rootfs.driver;
    writeNetworkFiles(tmp, settings!);
    if (keepId) settings!.userns!.mounts = keepIdFiles(keepId, tmp, dir, (rel) => imageFile(image, rel), binds);
    const spec = ociSpec(settings!, rootfs, { dir, monitorDir: monitorDir(rec.id), namesLink: path.join(namesDir(), rec.name) }, image);
    writeFileAtomic(path.join(tmp, 'config.json'), specText(spec, settings!.security), 0o644, false);
  });
  return rec;
}
