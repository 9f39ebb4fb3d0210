import { Command, Option } from 'clipanion';
import { listNetworks, type NetworkRecord } from '../../network/store';
import { CtrError } from '../../util/errors';
import { renderRows } from '../../util/format';

/** Docker's `network ls --filter`: name (substring), id (prefix), driver, label=KEY[=VALUE], type=custom|builtin. */
export function networkFilter(filters: string[]): (n: NetworkRecord) => boolean {
  const tests = filters.map((f) => {
    const i = f.indexOf('=');
    if (i < 0) throw new CtrError(`invalid filter "${f}": give KEY=VALUE`);
    const k = f.slice(0, i);
    const v = f.slice(i + 1);
    switch (k) {
      case 'name':
        return (n: NetworkRecord) => n.Name.includes(v);
      case 'id':
        return (n: NetworkRecord) => n.Id.startsWith(v);
      case 'driver':
        return (n: NetworkRecord) => n.Driver === v;
      case 'label': {
        const j = v.indexOf('=');
        return j < 0 ? (n: NetworkRecord) => v in n.Labels : (n: NetworkRecord) => n.Labels[v.slice(0, j)] === v.slice(j + 1);
      }
      case 'type':
        if (v !== 'custom' && v !== 'builtin') throw new CtrError(`invalid filter "${f}": type is custom or builtin`);
        return (n: NetworkRecord) => (['bridge', 'host', 'none'].includes(n.Name) ? 'builtin' : 'custom') === v;
      default:
        throw new CtrError(`invalid filter "${k}": use name, id, driver, label or type`);
    }
  });
  return (n) => tests.every((t) => t(n));
}

export class NetworkListCommand extends Command {
  static override paths = [['network', 'ls'], ['network', 'list']];
  static override usage = Command.Usage({
    description: 'List networks',
    details: 'Filters: name=SUBSTRING, id=PREFIX, driver=NAME, label=KEY[=VALUE], type=custom|builtin. `--format` takes json, table or a Go template with {{.ID}} {{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Labels}} {{.CreatedAt}}.',
  });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Only show network IDs' });
  noTrunc = Option.Boolean('--no-trunc', false, { description: 'Do not truncate the IDs' });
  filter = Option.Array('-f,--filter', [], { description: 'Filter the output' });
  format = Option.String('--format', { description: 'json, table, or a Go template' });

  async execute(): Promise<number> {
    const nets = listNetworks().filter(networkFilter(this.filter));
    const id = (n: NetworkRecord) => (this.noTrunc ? n.Id : n.Id.slice(0, 12));
    if (this.quiet) {
      if (nets.length) this.context.stdout.write(nets.map(id).join('\n') + '\n');
      return 0;
    }
    const rows = nets.map((n) => ({
      ID: id(n),
      Name: n.Name,
      Driver: n.Driver,
      Scope: n.Scope,
      Internal: n.Internal,
      IPv6: n.EnableIPv6,
      Labels: Object.entries(n.Labels).map(([k, v]) => `${k}=${v}`).join(','),
      CreatedAt: n.Created,
    }));
    this.context.stdout.write(
      renderRows(this.format, rows, {
        defaultTable: '{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}',
        headers: { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', Internal: 'INTERNAL', IPv6: 'IPV6', Labels: 'LABELS', CreatedAt: 'CREATED AT' },
      }),
    );
    return 0;
  }
}
