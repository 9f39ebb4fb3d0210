import { Command, Option } from 'clipanion';
import { findContainer } from '../../container/store';
import { containerChanges } from '../../container/diff';

export class DiffCommand extends Command {
  static override paths = [['diff'], ['container', 'diff']];
  static override usage = Command.Usage({ description: "Inspect changes to files on a container's filesystem (A added, C changed, D deleted)" });
  format = Option.String('--format', { description: 'json' });
  container = Option.String({ required: true });
  async execute(): Promise<number> {
    const changes = await containerChanges(findContainer(this.container));
    if (this.format === 'json') this.context.stdout.write(JSON.stringify(changes) + '\n');
    else this.context.stdout.write(changes.map((c) => `${'CAD'[c.Kind]} ${c.Path}\n`).join(''));
    return 0;
  }
}
