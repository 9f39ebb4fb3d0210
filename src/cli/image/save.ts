import { Command, Option } from 'clipanion';
import { openOutput } from '../../image/io';
import { saveImages, type SaveFormat, type SaveItem } from '../../image/save';
import { resolveImage } from '../../image/store';
import { CtrError } from '../../util/errors';

const FORMATS = ['docker-archive', 'oci-archive'];

export class ImageSaveCommand extends Command {
  static override paths = [['save'], ['image', 'save']];
  static override usage = Command.Usage({
    description: 'Save images to a docker-archive (default) or OCI archive',
    details: 'Writes to `-o FILE`, or to stdout when it is not a terminal. Several images go into one archive; shared layers are written once.',
    examples: [
      ['Save an image', 'ctr save -o busybox.tar busybox'],
      ['Save as an OCI archive', 'ctr save --format oci-archive -o img.tar busybox alpine'],
    ],
  });
  output = Option.String('-o,--output', { description: 'Write to this file instead of stdout' });
  format = Option.String('--format', 'docker-archive', { description: 'docker-archive or oci-archive' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Suppress progress output' });
  multi = Option.Boolean('-m,--multi-image-archive', false, { description: 'Accepted for Podman compatibility (always on)' });
  images = Option.Rest({ required: 1 });

  async execute(): Promise<number> {
    if (!FORMATS.includes(this.format)) throw new CtrError(`unsupported --format "${this.format}": use ${FORMATS.join(' or ')}`);
    const items: SaveItem[] = this.images.map((arg) => {
      const r = resolveImage(arg);
      return { id: r.image.id, names: r.via === 'tag' && r.name ? [r.name] : r.via === 'id' ? r.image.repoTags : [] };
    });
    const o = openOutput(this.output);
    try {
      await saveImages(items, this.format as SaveFormat, o.out, !o.isStdout);
      await o.commit();
    } catch (e) {
      o.abort();
      if ((e as { code?: string }).code === 'EPIPE') return 125;
      throw e;
    }
    return 0;
  }
}
