import { Command, Option } from 'clipanion';
import { pruneNetworks } from '../../network/store';
import { networkFilter } from './ls';

export class NetworkPruneCommand extends Command {
  static override paths = [['network', 'prune']];
  static override usage = Command.Usage({ description: 'Remove all networks no container uses' });
  force = Option.Boolean('-f,--force', false, { description: 'Do not prompt for confirmation' });
  filter = Option.Array('--filter', [], { description: 'Only networks that match (label=KEY[=VALUE], ...)' });

  async execute(): Promise<number> {
    const match = networkFilter(this.filter);
    const removed = pruneNetworks((n) => !match(n));
    if (removed.length) this.context.stdout.write(`Deleted Networks:\n${removed.join('\n')}\n`);
    return 0;
  }
}
