import { Command, Option } from 'clipanion';
import { removeNetwork } from '../../network/store';
import { CtrError } from '../../util/errors';

export class NetworkRemoveCommand extends Command {
  static override paths = [['network', 'rm'], ['network', 'remove']];
  static override usage = Command.Usage({
    description: 'Remove networks',
    details: 'A network that containers use is refused (they are named): remove them first.',
  });
  force = Option.Boolean('-f,--force', false, { description: 'Do not fail when a network does not exist' });
  names = Option.Rest({ required: 1 });

  async execute(): Promise<number> {
    let failed = false;
    for (const n of this.names) {
      try {
        removeNetwork(n);
        this.context.stdout.write(n + '\n');
      } catch (e) {
        if (!(e instanceof CtrError)) throw e;
        if (this.force && e.message.startsWith('no such network')) continue;
        this.context.stderr.write(`Error: ${e.message}\n`);
        failed = true;
      }
    }
    return failed ? 125 : 0;
  }
}
