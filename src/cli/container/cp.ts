import { Command, Option } from 'clipanion';
import { CtrError } from '../../util/errors';
import { findContainer } from '../../container/store';
import { copyFromContainer, copyToContainer, parseCpArg } from '../../container/cp';

export class CpCommand extends Command {
  static override paths = [['cp'], ['container', 'cp']];
  static override usage = Command.Usage({
    description: 'Copy files/folders between a container and the local filesystem',
    details: `
      \`ctr cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\` or \`ctr cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH\`.
      Docker's rules: a trailing \`/.\` copies a directory's contents; a destination ending in \`/\` must be an
      existing directory; \`-\` streams a tar archive from stdin (into an existing directory) or to stdout.
      Paths in the container resolve inside it (its symlinks included). Works on running and stopped containers.
    `,
  });
  archive = Option.Boolean('-a,--archive', false, { description: 'Archive mode (copy all uid/gid information)' });
  follow = Option.Boolean('-L,--follow-link', false, { description: 'Always follow symbol link in SRC_PATH' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Suppress progress output (there is none)' });
  src = Option.String({ required: true });
  dest = Option.String({ required: true });
  async execute(): Promise<number> {
    const s = parseCpArg(this.src);
    const d = parseCpArg(this.dest);
    if (s.container !== undefined && d.container !== undefined) throw new CtrError('copying between containers is not supported: copy to the host first');
    if (s.container === undefined && d.container === undefined)
      throw new CtrError('must specify at least one container source: use CONTAINER:PATH as SRC_PATH or DEST_PATH');
    const opts = { archive: this.archive, follow: this.follow };
    if (s.container !== undefined) {
      if (s.path === '') throw new CtrError(`empty source path in "${this.src}": use CONTAINER:PATH`);
      if (this.dest === '') throw new CtrError('empty destination path');
      await copyFromContainer(findContainer(s.container), s.path, this.dest, opts);
    } else {
      if (d.path === '') throw new CtrError(`empty destination path in "${this.dest}": use CONTAINER:PATH`);
      if (this.src === '') throw new CtrError('empty source path');
      await copyToContainer(findContainer(d.container!), this.src, d.path, opts);
    }
    return 0;
  }
}
