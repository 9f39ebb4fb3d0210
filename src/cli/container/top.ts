import { Command, Option } from 'clipanion';
import { execFileSync } from 'node:child_process';
import { CtrError } from '../../util/errors';
import { findContainer } from '../../container/store';
import { runtimeState } from '../../container/state';
import { runHelperSync } from '../../util/helper';

/**
 * Keeps the header and the rows of `ps` output whose PID column is one of `pids` (Docker's
 * approach: the ps options choose columns and may select every process of the host).
 */
export function filterPsOutput(out: string, pids: Set<string>): string | undefined {
  const rows = out.split('\n');
  const header = rows[0] ?? '';
  const col = header.trim().split(/\s+/).indexOf('PID');
  if (col < 0) return undefined;
  const kept = rows.slice(1).filter((row) => {
    const f = row.trim().split(/\s+/);
    return f.length > col && pids.has(f[col]!);
  });
  return [header, ...kept].join('\n') + '\n';
}

export class TopCommand extends Command {
  static override paths = [['top'], ['container', 'top']];
  static override usage = Command.Usage({ description: 'Display the running processes of a container (ps options after the name)' });
  container = Option.String({ required: true });
  psArgs = Option.Proxy();
  async execute(): Promise<number> {
    const rec = findContainer(this.container);
    const st = runtimeState(rec);
    if (st.status !== 'running' && st.status !== 'paused') throw new CtrError(`container ${this.container} is not running`);
    const pids = new Set(runHelperSync(['pids', String(st.pid)]).split('\n').filter(Boolean));
    const opts = this.psArgs.length ? this.psArgs : ['-ef'];
    let out: string;
    try {
      // -e: every process, whatever the options select (the user's tty, euid); rows are filtered below
      out = execFileSync('ps', [...opts, '-e'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
    } catch (e) {
      const msg = (e as { stderr?: string }).stderr?.toString().trim().split('\n')[0] || (e as Error).message;
      throw new CtrError(`ps ${opts.join(' ')} failed: ${msg}`);
    }
    const shown = filterPsOutput(out, pids);
    if (shown === undefined) throw new CtrError(`ps ${opts.join(' ')} shows no PID column: include pid (e.g. ctr top ${this.container} -o pid,args)`);
    this.context.stdout.write(shown);
    return 0;
  }
}
