import { Command, Option } from 'clipanion';
import { loadArchive } from '../../image/archive';
import { openInput } from '../../image/io';

export class ImageLoadCommand extends Command {
  static override paths = [['load'], ['image', 'load']];
  static override usage = Command.Usage({
    description: 'Load images from a docker-archive or OCI archive (gzip or not)',
    details: 'Reads the archive from `-i FILE`, or from stdin when -i is absent or `-`. Prints one `Loaded image:` line per name (or the ID of an image without a name).',
    examples: [
      ['Load from a file', 'ctr load -i busybox.tar'],
      ['Load from stdin', 'gzip -dc img.tar.gz | ctr load'],
    ],
  });
  input = Option.String('-i,--input', { description: 'Read from this archive instead of stdin' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Suppress progress output' });

  async execute(): Promise<number> {
    const { stream, label } = openInput(this.input, 'archive');
    const images = await loadArchive(stream, label, (w) => this.context.stderr.write(`warning: ${w}\n`));
    const lines: string[] = [];
    for (const img of images) {
      if (img.names.length) for (const n of img.names) lines.push(`Loaded image: ${n}`);
      else lines.push(`Loaded image: ${img.id}`);
    }
    this.context.stdout.write(lines.join('\n') + (lines.length ? '\n' : ''));
    return 0;
  }
}
