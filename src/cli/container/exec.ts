import { Command, Option } from 'clipanion';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CtrError } from '../../util/errors';
import { containerDir, findContainer } from '../../container/store';
import { runtimeState } from '../../container/state';
import { runAttachedHelper } from '../../container/runtime';
import { checkUser, mergeEnv, readEnvFiles, ALL_CAPS } from '../../container/options';
import { runrootDir } from '../../state/dirs';

export class ExecCommand extends Command {
  static override paths = [['exec'], ['container', 'exec']];
  /** plain command lines skip clipanion's state machine (src/cli/fastparse.ts) */
  static fastParse = true;
  static override usage = Command.Usage({ description: 'Run a command in a running container' });
  interactive = Option.Boolean('-i,--interactive', false, { description: 'Keep STDIN open' });
  tty = Option.Boolean('-t,--tty', false, { description: 'Allocate a pseudo-TTY' });
  detach = Option.Boolean('-d,--detach', false, { description: 'Run the command in the background' });
  env = Option.Array('-e,--env', [], { description: 'Set environment variables' });
  envFile = Option.Array('--env-file', []);
  user = Option.String('-u,--user', { description: 'User: name|uid[:group|gid]' });
  workdir = Option.String('-w,--workdir', { description: 'Working directory inside the container' });
  privileged = Option.Boolean('--privileged', false, { description: 'Give extended capabilities to the command' });
  detachKeys = Option.String('--detach-keys');
  container = Option.String({ required: true });
  command = Option.Proxy({ required: 1 });

  async execute(): Promise<number> {
    const rec = findContainer(this.container);
    const st = runtimeState(rec);
    if (st.status === 'paused')
      throw new CtrError(
        st.pausedBy
          ? `container ${this.container} is paused by ctr ${st.pausedBy.command} (pid ${st.pausedBy.pid}) until it has finished; try again then`
          : `container ${this.container} is paused; unpause it first (ctr unpause ${this.container})`,
      );
    if (st.status !== 'running') throw new CtrError(`container ${this.container} is not running (it is ${st.status}); start it first`);
    if (this.user !== undefined) checkUser(this.user);
    if (this.workdir !== undefined && !this.workdir.startsWith('/')) throw new CtrError(`invalid working directory "${this.workdir}": it must be absolute`);
    const spec = JSON.parse(fs.readFileSync(path.join(containerDir(rec.id), 'config.json'), 'utf8'));
    const caps: string[] = this.privileged ? ALL_CAPS : spec.process.capabilities.bounding;
    const env = mergeEnv(spec.process.env as string[], readEnvFiles(this.envFile ?? []), this.env ?? [], this.tty ? ['TERM=xterm'] : []);
    const proc = {
      args: this.command,
      env,
      cwd: this.workdir ?? spec.process.cwd,
      user: this.user ?? spec.annotations['ctr.user'] ?? '',
      terminal: this.tty,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      noNewPrivileges: !this.privileged && spec.process.noNewPrivileges,
      rlimits: spec.process.rlimits,
      // ctr's extensions (native/PROTOCOL.md): the container's filter, unless --privileged, and
      // the name of the new session keyring
      ...(spec.linux?.seccomp && !this.privileged ? { seccomp: spec.linux.seccomp } : {}),
      sessionKeyring: rec.id,
    };
    const file = path.join(runrootDir(), `exec-${process.pid}-${Date.now()}.json`);
    fs.writeFileSync(file, JSON.stringify(proc), { mode: 0o600, flag: 'wx' });
    const args = ['exec', String(st.pid), file];
    if (this.tty) args.push('--tty');
    if (this.interactive) args.push('--stdin');
    if (this.detach) args.push('--detach');
    if (this.detachKeys !== undefined) args.push('--detach-keys', this.detachKeys);
    try {
      return await runAttachedHelper(args);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }
}
