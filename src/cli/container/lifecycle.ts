import { Command, Option } from 'clipanion';
import * as fs from 'node:fs';
import { CtrError } from '../../util/errors';
import { attachRunning, killContainer, lockStarts, startAttached, startDetached, stopContainer, waitContainer } from '../../container/runtime';
import { isActive, pausedMarker, pauseOwner, runtimeState } from '../../container/state';
import { containerDir, findContainer, renameContainer } from '../../container/store';
import { parseSignal } from '../../container/options';
import { removeContainersAsync, throwIfErrors } from '../../container/rm';
import { listContainerRecords } from '../../container/store';
import { runHelperSync } from '../../util/helper';
import { eachContainer, requireArgs } from './common';
import type { ContainerRecord } from '../../container/types';

function stopSignalOf(rec: ContainerRecord): number {
  return parseSignal(String(rec.config.StopSignal ?? '15'));
}

function parseTimeout(t: string | undefined, def: number): number {
  if (t === undefined) return def;
  if (!/^-?[0-9]+$/.test(t)) throw new CtrError(`invalid timeout "${t}": give whole seconds`);
  return Math.max(0, Number(t));
}

export class StartCommand extends Command {
  static override paths = [['start'], ['container', 'start']];
  static fastParse = true;
  static override usage = Command.Usage({ description: 'Start one or more stopped containers' });
  attach = Option.Boolean('-a,--attach', false, { description: "Attach STDOUT/STDERR and forward signals" });
  interactive = Option.Boolean('-i,--interactive', false, { description: "Attach the container's STDIN" });
  detachKeys = Option.String('--detach-keys');
  containers = Option.Rest({ required: 1 });
  async execute(): Promise<number> {
    if (this.attach || this.interactive) {
      if (this.containers.length !== 1) throw new CtrError('you cannot start and attach multiple containers at once');
      const rec = findContainer(this.containers[0]!);
      const st = runtimeState(rec);
      const tty = Boolean(rec.config.Tty);
      const o = { stdin: this.interactive, tty, detachKeys: this.detachKeys, sigProxy: !tty };
      if (isActive(st)) return attachRunning(rec, o);
      return startAttached(rec, o);
    }
    return eachContainer(this.containers, this.context.stderr, (rec, ref) => {
      if (!isActive(runtimeState(rec))) startDetached(rec);
      this.context.stdout.write(ref + '\n');
    });
  }
}

export class StopCommand extends Command {
  static override paths = [['stop'], ['container', 'stop']];
  static fastParse = true;
  static override usage = Command.Usage({ description: 'Stop one or more running containers' });
  time = Option.String('-t,--time,--timeout', { description: 'Seconds to wait before killing (default 10)' });
  all = Option.Boolean('-a,--all', false);
  containers = Option.Rest();
  async execute(): Promise<number> {
    const t = parseTimeout(this.time, 10);
    const refs = this.all ? listContainerRecords().map((r) => r.id) : this.containers;
    if (!this.all) requireArgs(refs, 'stop');
    return eachContainer(
      refs,
      this.context.stderr,
      async (rec, ref) => {
        await stopContainer(rec, stopSignalOf(rec), t);
        this.context.stdout.write(ref + '\n');
      },
      { parallel: true, damaged: true },
    );
  }
}

export class KillCommand extends Command {
  static override paths = [['kill'], ['container', 'kill']];
  static fastParse = true;
  static override usage = Command.Usage({ description: 'Kill one or more running containers' });
  signal = Option.String('-s,--signal', 'KILL', { description: 'Signal to send (default KILL)' });
  containers = Option.Rest({ required: 1 });
  async execute(): Promise<number> {
    const sig = parseSignal(this.signal);
    return eachContainer(
      this.containers,
      this.context.stderr,
      async (rec, ref) => {
        if (!isActive(runtimeState(rec))) throw new CtrError(`cannot kill container ${ref}: it is not running`);
        await killContainer(rec, sig);
        this.context.stdout.write(ref + '\n');
      },
      { damaged: true },
    );
  }
}

export class RmCommand extends Command {
  static override paths = [['rm'], ['container', 'rm'], ['container', 'remove']];
  static fastParse = true;
  static override usage = Command.Usage({ description: 'Remove one or more containers' });
  force = Option.Boolean('-f,--force', false, { description: 'Force the removal of a running container (SIGKILL)' });
  volumes = Option.Boolean('-v,--volumes', false, { description: 'Remove anonymous volumes of the container' });
  all = Option.Boolean('-a,--all', false);
  containers = Option.Rest();
  async execute(): Promise<number> {
    let refs = this.containers;
    // `ctr ps -aq | xargs ctr rm` and `ctr rm $(ctr ps -aq)` pass IDs as arguments; also read stdin lists? no: xargs does.
    if (this.all) refs = listContainerRecords().map((r) => r.id);
    else requireArgs(refs, 'rm');
    const recs: ContainerRecord[] = [];
    let failed = 0;
    for (const ref of refs) {
      try {
        recs.push(findContainer(ref, { damaged: true }));
      } catch (e) {
        failed++;
        this.context.stderr.write(`Error: ${(e as Error).message}\n`);
      }
    }
    const unlock = lockStarts(recs); // a start racing this rm finishes first or finds nothing
    let result: Awaited<ReturnType<typeof removeContainersAsync>>;
    try {
      result = await removeContainersAsync(recs, { force: this.force });
    } finally {
      unlock();
    }
    const { removed, errors } = result;
    for (const r of removed) this.context.stdout.write((refs.find((x) => x === r.name) ?? (this.all ? r.id : refs.find((x) => r.id.startsWith(x)) ?? r.id)) + '\n');
    if (errors.length) throwIfErrors(errors, this.context.stderr);
    return failed ? 125 : 0;
  }
}

export class WaitCommand extends Command {
  static override paths = [['wait'], ['container', 'wait']];
  static fastParse = true;
  static override usage = Command.Usage({ description: 'Block until containers stop, then print their exit codes' });
  containers = Option.Rest({ required: 1 });
  async execute(): Promise<number> {
    return eachContainer(
      this.containers,
      this.context.stderr,
      async (rec) => {
        const code = await waitContainer(rec);
        this.context.stdout.write(`${code}\n`);
      },
      { damaged: true },
    );
  }
}

export class RestartCommand extends Command {
  static override paths = [['restart'], ['container', 'restart']];
  static fastParse = true;
  static override usage = Command.Usage({ description: 'Restart one or more containers' });
  time = Option.String('-t,--time,--timeout', { description: 'Seconds to wait before killing (default 10)' });
  containers = Option.Rest({ required: 1 });
  async execute(): Promise<number> {
    const t = parseTimeout(this.time, 10);
    return eachContainer(this.containers, this.context.stderr, async (rec, ref) => {
      // a --rm container survives its restart (Docker): the monitor is told to keep it
      await stopContainer(rec, stopSignalOf(rec), t, { keep: true });
      if (!fs.existsSync(containerDir(rec.id))) throw new CtrError(`container ${ref} was removed when it stopped (--rm)`);
      startDetached(rec);
      this.context.stdout.write(ref + '\n');
    });
  }
}

export class RenameCommand extends Command {
  static override paths = [['rename'], ['container', 'rename']];
  static override usage = Command.Usage({ description: 'Rename a container' });
  container = Option.String({ required: true });
  newName = Option.String({ required: true });
  async execute(): Promise<number> {
    renameContainer(findContainer(this.container), this.newName);
    return 0;
  }
}

/**
 * pause/unpause: the cgroup freezer needs a delegated cgroup; otherwise SIGSTOP/SIGCONT every
 * process. The marker names us while we stop the processes, so that a pause killed half-way
 * is undone by the next command (state.ts); then it becomes the user's pause (empty).
 */
function setPaused(rec: ContainerRecord, pause: boolean): void {
  const st = runtimeState(rec);
  if (pause && st.status !== 'running') throw new CtrError(`cannot pause container ${rec.name}: it is ${st.status}`);
  if (!pause && st.status !== 'paused') throw new CtrError(`cannot unpause container ${rec.name}: it is not paused`);
  if (!pause && st.pausedBy)
    throw new CtrError(`cannot unpause container ${rec.name}: ctr ${st.pausedBy.command} (pid ${st.pausedBy.pid}) is pausing it and resumes it when done`);
  if (pause) {
    fs.writeFileSync(pausedMarker(rec.id), pauseOwner('pause'));
    try {
      runHelperSync(['signal-all', String(st.pid), '19']);
    } catch (e) {
      fs.rmSync(pausedMarker(rec.id), { force: true });
      throw e;
    }
    fs.writeFileSync(pausedMarker(rec.id), '');
  } else {
    runHelperSync(['signal-all', String(st.pid), '18']);
    fs.rmSync(pausedMarker(rec.id), { force: true });
  }
}

export class PauseCommand extends Command {
  static override paths = [['pause'], ['container', 'pause']];
  static override usage = Command.Usage({ description: 'Pause all processes within one or more containers' });
  containers = Option.Rest({ required: 1 });
  async execute(): Promise<number> {
    return eachContainer(this.containers, this.context.stderr, (rec, ref) => {
      setPaused(rec, true);
      this.context.stdout.write(ref + '\n');
    });
  }
}

export class UnpauseCommand extends Command {
  static override paths = [['unpause'], ['container', 'unpause']];
  static override usage = Command.Usage({ description: 'Unpause all processes within one or more containers' });
  containers = Option.Rest({ required: 1 });
  async execute(): Promise<number> {
    return eachContainer(this.containers, this.context.stderr, (rec, ref) => {
      setPaused(rec, false);
      this.context.stdout.write(ref + '\n');
    });
  }
}

export class AttachCommand extends Command {
  static override paths = [['attach'], ['container', 'attach']];
  static override usage = Command.Usage({ description: "Attach to a running container's input and output" });
  detachKeys = Option.String('--detach-keys');
  noStdin = Option.Boolean('--no-stdin', false);
  sigProxy = Option.Boolean('--sig-proxy', true);
  container = Option.String({ required: true });
  async execute(): Promise<number> {
    const rec = findContainer(this.container);
    const st = runtimeState(rec);
    if (!isActive(st)) throw new CtrError(`you cannot attach to a stopped container ${this.container}: start it first`);
    const tty = Boolean(rec.config.Tty);
    return attachRunning(rec, { stdin: !this.noStdin && Boolean(rec.config.OpenStdin), tty, detachKeys: this.detachKeys, sigProxy: this.sigProxy && !tty });
  }
}

export class PruneCommand extends Command {
  static override paths = [['container', 'prune']];
  static override usage = Command.Usage({ description: 'Remove all stopped containers' });
  force = Option.Boolean('-f,--force', false, { description: 'Do not prompt for confirmation' });
  filter = Option.Array('--filter', []);
  async execute(): Promise<number> {
    const all = listContainerRecords();
    const unlock = lockStarts(all);
    let result: Awaited<ReturnType<typeof removeContainersAsync>>;
    try {
      // a damaged record is left for `rm -f` or `system check --repair`, which say what they remove
      result = await removeContainersAsync(all.filter((r) => !r.damaged && !isActive(runtimeState(r))), { force: false });
    } finally {
      unlock();
    }
    const { removed, errors } = result;
    for (const r of removed) this.context.stdout.write(r.id + '\n');
    throwIfErrors(errors, this.context.stderr);
    return 0;
  }
}

export const lifecycleCommands = [
  StartCommand, StopCommand, KillCommand, RmCommand, WaitCommand, RestartCommand, RenameCommand, PauseCommand,
  UnpauseCommand, AttachCommand, PruneCommand,
];
