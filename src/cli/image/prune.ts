import { Command, Option } from 'clipanion';
import { pruneImages } from '../../image/remove';
import { parseFilters } from '../../image/view';

async function readLine(): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl));
    };
    const done = (s: string) => {
      process.stdin.off('data', onData);
      process.stdin.off('end', onEnd);
      process.stdin.pause();
      resolve(s);
    };
    const onEnd = () => done(buf);
    process.stdin.on('data', onData);
    process.stdin.on('end', onEnd);
  });
}

export class ImagePruneCommand extends Command {
  static override paths = [['image', 'prune']];
  static override usage = Command.Usage({
    description: 'Remove unused images',
    details: 'Removes dangling images (no name, no container); with -a every image no container uses. Prints the removed IDs.',
    examples: [['Remove every unused image without asking', 'ctr image prune -af']],
  });
  all = Option.Boolean('-a,--all', false, { description: 'Remove all images no container uses, not only dangling ones' });
  force = Option.Boolean('-f,--force', false, { description: 'Do not ask for confirmation' });
  filter = Option.Array('--filter', [], { description: 'Only images matching (label=, until=, reference=...)' });

  async execute(): Promise<number> {
    const filters = parseFilters(this.filter);
    if (!this.force) {
      const what = this.all ? 'all images not used by a container' : 'all dangling images';
      this.context.stderr.write(`WARNING! This command removes ${what}.\nAre you sure you want to continue? [y/N] `);
      const answer = (await readLine()).trim().toLowerCase();
      if (answer !== 'y' && answer !== 'yes') return 0;
    }
    const removed = pruneImages(this.all, filters);
    if (removed.length) this.context.stdout.write(removed.map((i) => i.replace(/^sha256:/, '')).join('\n') + '\n');
    return 0;
  }
}
