import { Command, Option } from 'clipanion';
import { importTarball } from '../../image/import';
import { openInput } from '../../image/io';
import { formatReference, parseTagReference } from '../../image/reference';
import { CtrError } from '../../util/errors';

export class ImageImportCommand extends Command {
  static override paths = [['import'], ['image', 'import']];
  static override usage = Command.Usage({
    description: 'Create an image from a root filesystem tarball (gzip, zstd or plain tar)',
    details: 'Reads TARBALL, or stdin for `-`. `--change` applies Dockerfile instructions: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. Prints the new image ID.',
    examples: [
      ['Import with a command', "ctr import -c 'CMD [\"/bin/sh\"]' rootfs.tar myimage:1"],
      ['Import from stdin', 'tar -C rootfs -c . | ctr import - myimage'],
    ],
  });
  change = Option.Array('-c,--change', [], { description: 'Apply a Dockerfile instruction to the image config' });
  message = Option.String('-m,--message', { description: 'Commit message recorded in the history' });
  platform = Option.String('--platform', { description: 'OS/ARCH[/VARIANT] recorded in the config' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Suppress progress output' });
  source = Option.String({ name: 'TARBALL' });
  reference = Option.String({ name: 'REFERENCE', required: false });

  async execute(): Promise<number> {
    if (/^https?:\/\//.test(this.source)) throw new CtrError('importing from a URL is not supported; download the tarball first (curl -LO URL)');
    const name = this.reference ? formatReference(parseTagReference(this.reference)) : undefined;
    let platform: { os?: string; architecture?: string; variant?: string } | undefined;
    if (this.platform) {
      const p = this.platform.split('/');
      if (p.length < 2 || p.length > 3 || p.some((x) => x === '')) throw new CtrError(`invalid --platform "${this.platform}": use OS/ARCH[/VARIANT]`);
      platform = { os: p[0], architecture: p[1], variant: p[2] };
    }
    const { stream } = openInput(this.source, 'tarball');
    const opts = { name, changes: this.change, source: this.source, platform } as Parameters<typeof importTarball>[1];
    if (this.message !== undefined) opts.message = this.message;
    const id = await importTarball(stream, opts);
    this.context.stdout.write(`${id}\n`);
    return 0;
  }
}
