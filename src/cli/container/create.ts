import { Command } from 'clipanion';
import { createContainer } from '../../container/create';
import { CreateOptionsCommand } from './create-options';
import { ensureImage } from '../../image/pull';

export class CreateCommand extends CreateOptionsCommand {
  static override paths = [['create'], ['container', 'create']];
  /** plain command lines skip clipanion's state machine (src/cli/fastparse.ts) */
  static fastParse = true;
  static override usage = Command.Usage({ description: 'Create a container from an image', details: 'ctr create [OPTIONS] IMAGE [COMMAND] [ARG...]' });
  async execute(): Promise<number> {
    await ensureImage(this.image, this.pull);
    const rec = createContainer(this.request({ stdin: this.interactive, stdout: true, stderr: true }));
    this.context.stdout.write(rec.id + '\n');
    return 0;
  }
}
