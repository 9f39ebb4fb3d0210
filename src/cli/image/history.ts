import { Command, Option } from 'clipanion';
import { findImage } from '../../image/store';
import { historyRows } from '../../image/view';
import { renderRows } from '../../util/format';

export class ImageHistoryCommand extends Command {
  static override paths = [['history'], ['image', 'history']];
  static override usage = Command.Usage({
    description: 'Show the history of an image',
    details: '`--format` takes json, table or a Go template with {{.ID}} {{.Created}} {{.CreatedSince}} {{.CreatedAt}} {{.CreatedBy}} {{.Size}} {{.Comment}} {{.Tags}}.',
    examples: [['Show the history', 'ctr history busybox']],
  });
  human = Option.Boolean('-H,--human', true, { description: 'Human-readable sizes and dates (default true)' });
  noTrunc = Option.Boolean('--no-trunc', false, { description: 'Do not truncate the output' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Only show IDs' });
  format = Option.String('--format', { description: 'json, table, or a Go template' });
  image = Option.String({ name: 'IMAGE' });

  async execute(): Promise<number> {
    const img = findImage(this.image);
    const rows = historyRows(img, this.noTrunc, this.human);
    if (this.quiet) {
      this.context.stdout.write(rows.map((r) => r.ID).join('\n') + '\n');
      return 0;
    }
    this.context.stdout.write(
      renderRows(this.format, rows, {
        defaultTable: '{{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
        headers: { ID: 'IMAGE', Id: 'IMAGE', Created: 'CREATED', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT', Tags: 'TAGS' },
        json: () => historyRows(img, true, false).map((r) => ({ id: r.Id, created: r.CreatedAt, CreatedBy: r.CreatedBy, size: Number(r.Size), comment: r.Comment, tags: r.Tags ? r.Tags.split(', ') : null })),
      }),
    );
    return 0;
  }
}
