import { Command, Option } from 'clipanion';
import { runAttachedHelper } from '../../container/runtime';
import { context } from '../../state/context';
import { CtrError } from '../../util/errors';

export class UnshareCommand extends Command {
  static override paths = [['unshare']];
  static override usage = Command.Usage({ description: 'Run a command (default: a shell) inside the user namespace ctr uses' });
  command = Option.Proxy();
  async execute(): Promise<number> {
    if (!context().rootless) throw new CtrError('ctr unshare is only for rootless use: root needs no user namespace');
    return runAttachedHelper(['userns-exec', '--', ...this.command]);
  }
}
