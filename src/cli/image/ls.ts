import { Command, Option } from 'clipanion';
import { listContainerRecords } from '../../container/store';
import { listImages } from '../../image/store';
import { imageJson, imageRows, parseFilters, type ImageRow } from '../../image/view';
import { CtrError } from '../../util/errors';
import { renderRows } from '../../util/format';

export const IMAGE_HEADERS: Record<string, string> = {
  ID: 'IMAGE ID',
  Id: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  Created: 'CREATED',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  VirtualSize: 'VIRTUAL SIZE',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
  Containers: 'CONTAINERS',
};

const SORT_KEYS = ['created', 'id', 'repository', 'size', 'tag'];

export class ImageListCommand extends Command {
  static override paths = [['images'], ['image', 'ls'], ['image', 'list']];
  static override usage = Command.Usage({
    description: 'List images',
    details:
      'Filters: reference=PATTERN, dangling=true|false, label=KEY[=VALUE], before=IMAGE, since=IMAGE, id=PREFIX. `--format` takes json, table or a Go template with {{.ID}} {{.Repository}} {{.Tag}} {{.Digest}} {{.Size}} {{.Created}} {{.CreatedSince}} {{.CreatedAt}} {{.Containers}} {{.Labels}}.',
    examples: [
      ['List images', 'ctr images'],
      ['Only IDs', 'ctr images -q'],
      ['Custom table', "ctr images --format 'table {{.Repository}}:{{.Tag}}\\t{{.Size}}'"],
    ],
  });
  all = Option.Boolean('-a,--all', false, { description: 'Show all images (intermediate ones too)' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Only show image IDs' });
  noTrunc = Option.Boolean('--no-trunc', false, { description: 'Do not truncate IDs' });
  digests = Option.Boolean('--digests', false, { description: 'Show digests' });
  filter = Option.Array('-f,--filter', [], { description: 'Filter output (KEY=VALUE)' });
  format = Option.String('--format', { description: 'json, table, or a Go template' });
  noHeading = Option.Boolean('-n,--noheading', false, { description: 'Do not print the header line' });
  sort = Option.String('--sort', 'created', { description: 'Sort by created, id, repository, size or tag' });
  reference = Option.String({ required: false, name: 'REPOSITORY[:TAG]' });

  async execute(): Promise<number> {
    const filters = parseFilters(this.filter);
    if (this.reference) filters.push({ key: 'reference', value: this.reference });
    if (!SORT_KEYS.includes(this.sort)) throw new CtrError(`invalid --sort "${this.sort}": use one of ${SORT_KEYS.join(', ')}`);
    const counts = new Map<string, number>();
    const images = listImages();
    if (images.length) for (const c of listContainerRecords()) counts.set(c.image, (counts.get(c.image) ?? 0) + 1);
    let rows: ImageRow[] = imageRows(images, { all: this.all, filters, noTrunc: this.noTrunc, containersOf: (id) => counts.get(id) ?? 0 });
    if (this.sort !== 'created') {
      const key = (r: ImageRow): string | number =>
        this.sort === 'id' ? r.Id : this.sort === 'repository' ? r.Repository : this.sort === 'tag' ? r.Tag : -r.image.size;
      rows = rows.slice().sort((a, b) => {
        const x = key(a);
        const y = key(b);
        return x < y ? -1 : x > y ? 1 : 0;
      });
    }
    const out = this.context.stdout;
    if (this.quiet) {
      const ids = [...new Set(rows.map((r) => r.ID))];
      if (ids.length) out.write(ids.join('\n') + '\n');
      return 0;
    }
    const def = this.digests
      ? '{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.Created}}\t{{.Size}}'
      : '{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}';
    const seen = new Set<string>();
    const unique = rows.filter((r) => (seen.has(r.Id) ? false : (seen.add(r.Id), true)));
    out.write(
      renderRows(this.format, rows, {
        defaultTable: def,
        headers: IMAGE_HEADERS,
        noHeader: this.noHeading,
        json: () => unique.map((r) => imageJson(r.image, r.Containers)),
      }),
    );
    return 0;
  }
}
