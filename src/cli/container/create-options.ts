import { Command, Option } from 'clipanion';
import type { CreateRequest } from '../../container/create';
import { CtrError } from '../../util/errors';

/** The flags `create` and `run` share (Docker's names). */
export abstract class CreateOptionsCommand extends Command {
  name = Option.String('--name', { description: 'Assign a name to the container' });
  env = Option.Array('-e,--env', [], { description: 'Set environment variables (KEY=VALUE or KEY)' });
  envFile = Option.Array('--env-file', [], { description: 'Read environment variables from a file' });
  workdir = Option.String('-w,--workdir', { description: 'Working directory inside the container' });
  user = Option.String('-u,--user', { description: 'User: name|uid[:group|gid]' });
  entrypoint = Option.String('--entrypoint', { description: 'Overwrite the image ENTRYPOINT' });
  hostname = Option.String('--hostname', { description: 'Container host name' });
  label = Option.Array('-l,--label', [], { description: 'Set metadata (KEY=VALUE)' });
  volume = Option.Array('-v,--volume', [], { description: 'Bind mount HOST:CONTAINER[:ro|rw]' });
  network = Option.String('--network,--net', { description: 'none, host, slirp4netns (default), or user networks NAME[,NAME2]' });
  ip = Option.String('--ip', { description: 'IPv4 address on the (first) user network' });
  macAddress = Option.String('--mac-address', { description: 'MAC address on the (first) user network' });
  networkAlias = Option.Array('--network-alias', [], { description: 'Another name of the container on its user networks' });
  init = Option.Boolean('--init', false, { description: 'Run an init inside the container that forwards signals and reaps processes' });
  readOnly = Option.Boolean('--read-only', false, { description: 'Mount the root filesystem read-only' });
  capAdd = Option.Array('--cap-add', [], { description: 'Add Linux capabilities' });
  capDrop = Option.Array('--cap-drop', [], { description: 'Drop Linux capabilities' });
  privileged = Option.Boolean('--privileged', false, { description: 'Give extended privileges to the container' });
  securityOpt = Option.Array('--security-opt', [], { description: 'Security options: seccomp=unconfined|PROFILE.json, no-new-privileges, mask=, unmask=, label=disable' });
  logOpt = Option.Array('--log-opt', [], { description: 'Log driver options (max-size=10m)' });
  logDriver = Option.String('--log-driver', { description: 'Logging driver (json-file)' });
  tty = Option.Boolean('-t,--tty', false, { description: 'Allocate a pseudo-TTY' });
  interactive = Option.Boolean('-i,--interactive', false, { description: 'Keep STDIN open' });
  rm = Option.Boolean('--rm', false, { description: 'Remove the container when it exits' });
  stopSignal = Option.String('--stop-signal', { description: 'Signal to stop the container' });
  pull = Option.String('--pull', { description: 'Pull the image: missing (default), always, never, newer' });
  userns = Option.String('--userns', { description: 'User namespace: host (default) or keep-id[:uid=N,gid=N] (rootless: your UID/GID inside too)' });
  publish = Option.Array('-p,--publish', [], { description: 'Publish a container port: [IP:][HOSTPORT:]CTRPORT[/tcp|/udp]' });
  publishAll = Option.Boolean('-P,--publish-all', false, { description: 'Publish every exposed port on a free host port' });
  expose = Option.Array('--expose', [], { description: 'Expose a port or a range of ports' });
  pidsLimit = Option.String('--pids-limit', { description: 'Process limit (recorded; enforced once ctr manages cgroups)' });
  image = Option.String({ required: true, name: 'image' });
  command = Option.Proxy();

  protected request(attach: CreateRequest['attach']): CreateRequest {
    if (this.logDriver !== undefined && this.logDriver !== 'json-file' && this.logDriver !== 'k8s-file')
      throw new CtrError(`invalid --log-driver "${this.logDriver}": only json-file is supported`);
    return {
      image: this.image,
      command: this.command,
      name: this.name,
      env: this.env ?? [],
      envFiles: this.envFile ?? [],
      workdir: this.workdir,
      user: this.user,
      entrypoint: this.entrypoint,
      hostname: this.hostname,
      labels: this.label ?? [],
      volumes: this.volume ?? [],
      network: this.network,
      ip: this.ip,
      mac: this.macAddress,
      aliases: this.networkAlias ?? [],
      init: this.init,
      readOnly: this.readOnly,
      capAdd: this.capAdd ?? [],
      capDrop: this.capDrop ?? [],
      privileged: this.privileged,
      securityOpt: this.securityOpt ?? [],
      logOpts: this.logOpt ?? [],
      tty: this.tty,
      interactive: this.interactive,
      rm: this.rm,
      stopSignal: this.stopSignal,
      userns: this.userns,
      pidsLimit: this.pidsLimit,
      publish: this.publish ?? [],
      publishAll: this.publishAll,
      expose: this.expose ?? [],
      attach,
    };
  }
}

/** Options of run/create that take a value: `-h` means --hostname for these (Docker), not help. */
export const CREATE_VALUE_OPTIONS = new Set([
  '--name', '-e', '--env', '--env-file', '-w', '--workdir', '-u', '--user', '--entrypoint', '--hostname', '-h', '-l',
  '--label', '-v', '--volume', '--network', '--net', '--cap-add', '--cap-drop', '--log-opt', '--log-driver',
  '--stop-signal', '--pull', '--detach-keys', '-p', '--publish', '--userns', '--pids-limit', '--security-opt', '--expose',
  '--ip', '--mac-address', '--network-alias',
]);
