import { Command, Option } from 'clipanion';
import { findImage } from '../../image/store';
import { inspectImage } from '../../image/view';
import { cachedStorageDriver, resolveStorageDriver } from '../../storage/driver';
import { CtrError } from '../../util/errors';
import { renderOne } from '../../util/format';

export class ImageInspectCommand extends Command {
  static override paths = [['image', 'inspect']];
  static override usage = Command.Usage({
    description: 'Show the details of images as JSON (Docker shape)',
    examples: [
      ['Inspect an image', 'ctr image inspect busybox'],
      ['One field', "ctr image inspect --format '{{.Config.Cmd}}' busybox"],
    ],
  });
  format = Option.String('-f,--format', { description: 'json (default) or a Go template applied to each image' });
  images = Option.Rest({ required: 1 });

  async execute(): Promise<number> {
    const driver = (cachedStorageDriver() ?? resolveStorageDriver()).name;
    const found: Record<string, unknown>[] = [];
    const errors: string[] = [];
    for (const a of this.images) {
      try {
        found.push(inspectImage(findImage(a), driver));
      } catch (e) {
        if (!(e instanceof CtrError)) throw e;
        errors.push(e.message);
      }
    }
    if (this.format === undefined || this.format.trim() === 'json') {
      this.context.stdout.write(JSON.stringify(found, null, 4) + '\n');
    } else {
      let text = '';
      for (const f of found) text += renderOne(this.format, f) + '\n';
      this.context.stdout.write(text);
    }
    for (const e of errors) this.context.stderr.write(`Error: ${e}\n`);
    return errors.length ? 125 : 0;
  }
}
