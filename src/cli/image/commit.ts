import { Command, Option } from 'clipanion';
import { findContainer } from '../../container/store';
import { commitContainer } from '../../image/commit';
import { formatReference, parseTagReference } from '../../image/reference';
import { boolFlag } from '../../image/push-flags';
import { CtrError } from '../../util/errors';

export class CommitCommand extends Command {
  static override paths = [['commit'], ['container', 'commit']];
  static override usage = Command.Usage({
    description: "Create a new image from a container's changes",
    details:
      "The new image is the container's image plus one layer holding the container's changes (files added, modified or deleted), with the container's command, environment, working dir and user as its config. `--change` applies Dockerfile instructions: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. A running container is paused while its changes are read (`--pause=false` does not). Without REFERENCE the image has no name. Prints the new image ID.",
    examples: [
      ['Commit with a message and a new command', "ctr commit -m 'add tools' -c 'CMD [\"/bin/sh\"]' mycontainer myimage:2"],
      ['Commit without pausing', 'ctr commit --pause=false web web:snapshot'],
    ],
  });
  message = Option.String('-m,--message', { description: 'Commit message recorded in the history' });
  author = Option.String('-a,--author', { description: 'Author recorded in the image (e.g. "Jane <jane@example.com>")' });
  change = Option.Array('-c,--change', [], { description: 'Apply a Dockerfile instruction to the image config' });
  pause = Option.String('-p,--pause', { tolerateBoolean: true, description: 'Pause the container while committing (default true)' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Suppress output other than the image ID' });
  format = Option.String('-f,--format', { description: 'Manifest type recorded for the image: oci (default) or docker' });
  container = Option.String({ name: 'CONTAINER' });
  reference = Option.String({ name: 'REFERENCE', required: false });

  async execute(): Promise<number> {
    const pause = boolFlag(this.pause, '--pause', true);
    let format: 'oci' | 'docker' | undefined;
    if (this.format !== undefined) {
      if (this.format !== 'oci' && this.format !== 'docker') throw new CtrError(`invalid --format "${this.format}": use oci or docker`);
      format = this.format;
    }
    const name = this.reference ? formatReference(parseTagReference(this.reference)) : undefined;
    const rec = findContainer(this.container);
    const opts: Parameters<typeof commitContainer>[1] = { changes: this.change, pause };
    if (name) opts.name = name;
    if (this.message !== undefined) opts.message = this.message;
    if (this.author !== undefined) opts.author = this.author;
    if (format) opts.format = format;
    const id = await commitContainer(rec, opts);
    this.context.stdout.write(`${id}\n`);
    return 0;
  }
}
