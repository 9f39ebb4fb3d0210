import { Command, Option } from 'clipanion';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CtrError } from '../../util/errors';
import { findContainer } from '../../container/store';
import { exportContainer } from '../../container/export';

export class ExportCommand extends Command {
  static override paths = [['export'], ['container', 'export']];
  static override usage = Command.Usage({ description: "Export a container's filesystem as a tar archive" });
  output = Option.String('-o,--output', { description: 'Write to a file instead of STDOUT' });
  container = Option.String({ required: true });
  async execute(): Promise<number> {
    const rec = findContainer(this.container);
    if (!this.output) {
      if (process.stdout.isTTY) throw new CtrError('refusing to write a tar archive to a terminal: use -o FILE or redirect the output');
      await exportContainer(rec, process.stdout);
      return 0;
    }
    const tmp = path.join(path.dirname(path.resolve(this.output)), `.${path.basename(this.output)}.part-${process.pid}`);
    const out = fs.createWriteStream(tmp);
    try {
      await exportContainer(rec, out);
      await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
      fs.renameSync(tmp, this.output);
    } catch (e) {
      out.destroy();
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    return 0;
  }
}
