import { Command, Option } from 'clipanion';
import { removeImage } from '../../image/remove';
import { listImages } from '../../image/store';
import { CtrError } from '../../util/errors';

export class ImageRemoveCommand extends Command {
  static override paths = [['rmi'], ['image', 'rm'], ['image', 'remove']];
  static override usage = Command.Usage({
    description: 'Remove images',
    details: 'A name that is one of several of an image only removes that name. An image used by a container is refused; with -f its names go and the image stays until the container is removed.',
    examples: [
      ['Remove an image', 'ctr rmi busybox'],
      ['Remove every image', 'ctr rmi -f $(ctr images -aq)'],
    ],
  });
  force = Option.Boolean('-f,--force', false, { description: 'Remove images with several names; untag images in use' });
  all = Option.Boolean('-a,--all', false, { description: 'Remove all images' });
  ignore = Option.Boolean('-i,--ignore', false, { description: 'Ignore images that do not exist' });
  images = Option.Rest();

  async execute(): Promise<number> {
    let args = this.images;
    if (this.all) args = [...args, ...listImages().map((i) => i.id)];
    if (!args.length) throw new CtrError('no image given: name at least one image, or use --all');
    let failed = 0;
    const seen = new Set<string>();
    for (const a of args) {
      if (seen.has(a)) continue;
      seen.add(a);
      try {
        const ev = removeImage(a, this.force);
        const lines = ev.untagged.map((n) => `Untagged: ${n}`);
        if (ev.deleted) lines.push(`Deleted: ${ev.deleted.replace(/^sha256:/, '')}`);
        if (lines.length) this.context.stdout.write(lines.join('\n') + '\n');
      } catch (e) {
        if (this.ignore && e instanceof CtrError && e.message.startsWith('no such image')) continue;
        if (this.all && e instanceof CtrError && e.message.startsWith('no such image')) continue;
        failed++;
        this.context.stderr.write(`Error: ${e instanceof CtrError ? e.message : (e as Error).message}\n`);
      }
    }
    return failed ? 125 : 0;
  }
}
