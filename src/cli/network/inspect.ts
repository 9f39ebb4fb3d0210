import { Command, Option } from 'clipanion';
import { findNetwork, inspectNetwork } from '../../network/store';
import { CtrError } from '../../util/errors';
import { renderOne } from '../../util/format';

export class NetworkInspectCommand extends Command {
  static override paths = [['network', 'inspect']];
  static override usage = Command.Usage({ description: 'Display detailed information on networks' });
  format = Option.String('-f,--format', { description: 'Format the output using a Go template' });
  names = Option.Rest({ required: 1 });

  async execute(): Promise<number> {
    const out: unknown[] = [];
    let failed = false;
    for (const n of this.names) {
      try {
        out.push(inspectNetwork(findNetwork(n)));
      } catch (e) {
        if (!(e instanceof CtrError)) throw e;
        this.context.stderr.write(`Error: ${e.message}\n`);
        failed = true;
      }
    }
    if (this.format !== undefined) {
      const lines = out.map((v) => renderOne(this.format!, v));
      if (lines.length) this.context.stdout.write(lines.join('\n') + '\n');
    } else if (out.length || !failed) this.context.stdout.write(JSON.stringify(out, null, 4) + '\n');
    return failed ? 125 : 0;
  }
}
