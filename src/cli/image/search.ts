import { Command, Option } from 'clipanion';
import { CtrError } from '../../util/errors';
import { parseTlsVerify } from '../../registry/cli';

export class SearchCommand extends Command {
  static override paths = [['search']];
  static override usage = Command.Usage({
    description: 'Search registries for images',
    details:
      "docker.io is searched through Docker Hub's search API; other registries through their catalog, filtered by the term. TERM may be HOST/TERM to search one registry; otherwise every unqualified-search registry of registries.conf is searched.",
    examples: [
      ['Search Docker Hub', 'ctr search --filter is-official=true busybox'],
      ['Search a private registry', 'ctr search --tls-verify=false localhost:5000/app'],
      ['List the tags of a repository', 'ctr search --list-tags localhost:5000/app'],
    ],
  });
  limit = Option.String('--limit', { description: 'Most results per registry (default 25)' });
  filter = Option.Array('-f,--filter', [], { description: 'stars=N, is-official=true|false, is-automated=true|false' });
  format = Option.String('--format', { description: 'Go template, or json' });
  noTrunc = Option.Boolean('--no-trunc', false, { description: 'Do not truncate descriptions' });
  listTags = Option.Boolean('--list-tags', false, { description: 'List the tags of the repository TERM' });
  tlsVerify = Option.String('--tls-verify', { tolerateBoolean: true, description: 'Require HTTPS and verify certificates' });
  term = Option.String({ name: 'TERM' });

  async execute(): Promise<number> {
    let limit = 25;
    if (this.limit !== undefined) {
      if (!/^\d+$/.test(this.limit) || Number(this.limit) < 1) throw new CtrError(`invalid --limit "${this.limit}": needs a number of 1 or more`);
      limit = Number(this.limit);
    }
    const tlsVerify = parseTlsVerify(this.tlsVerify);
    const { search, parseSearchFilters } = await import('../../registry/search.js');
    const filter = parseSearchFilters(this.filter);
    if (this.listTags && this.filter.length) throw new CtrError('--filter cannot be used with --list-tags');
    const { renderRows } = await import('../../util/format.js');
    if (this.format !== undefined) renderRows(this.format, [], { defaultTable: '' }); // template errors before the network
    const rows = await search(this.term, {
      limit,
      filter,
      tlsVerify,
      listTags: this.listTags,
      warn: (m) => this.context.stderr.write(`Warning: ${m}\n`),
    });
    const shown = this.noTrunc || this.format !== undefined ? rows : rows.map((r) => ({ ...r, Description: r.Description.length > 44 ? r.Description.slice(0, 44) + '...' : r.Description }));
    this.context.stdout.write(
      renderRows(this.format, shown, {
        defaultTable: this.listTags ? '{{.Name}}\t{{.Tag}}' : '{{.Name}}\t{{.Description}}',
        headers: { Index: 'INDEX', Name: 'NAME', Description: 'DESCRIPTION', Stars: 'STARS', Official: 'OFFICIAL', Automated: 'AUTOMATED', Tag: 'TAG' },
      }),
    );
    const { closeDispatchers } = await import('../../registry/transport.js');
    await closeDispatchers();
    return 0;
  }
}
