import { Command, Option } from 'clipanion';
import { VERSION } from '../../version';

export class VersionCommand extends Command {
  static override paths = [['version'], ['--version'], ['-v']];
  static override usage = Command.Usage({ description: 'Show the ctr version' });
  format = Option.String('-f,--format', { description: 'Go template (only {{.Version}} fields)' });
  async execute(): Promise<number> {
    if (this.format?.includes('json')) {
      this.context.stdout.write(JSON.stringify({ Client: { Version: VERSION, OsArch: `linux/${process.arch === 'x64' ? 'amd64' : process.arch}` } }) + '\n');
    } else {
      this.context.stdout.write(`ctr version ${VERSION}\n`);
    }
    return 0;
  }
}
