import { Command, Option } from 'clipanion';
import { formatReference, parseTagReference } from '../../image/reference';
import { findImage, tagImage } from '../../image/store';

export class ImageTagCommand extends Command {
  static override paths = [['tag'], ['image', 'tag']];
  static override usage = Command.Usage({
    description: 'Add names to an image',
    examples: [['Tag an image', 'ctr tag busybox localhost:5000/tools/busybox:1.36']],
  });
  source = Option.String({ name: 'IMAGE' });
  targets = Option.Rest({ required: 1, name: 'TARGET' });

  async execute(): Promise<number> {
    const names = this.targets.map((t) => formatReference(parseTagReference(t)));
    const img = findImage(this.source);
    tagImage(img.id, names);
    return 0;
  }
}
