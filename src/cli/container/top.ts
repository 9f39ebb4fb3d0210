import { Command, Option } from 'clipanion';
import { execFileSync } from 'node:child_process';
import { CtrError } from '../../util/errors';
import { findContainer } from '../../container/store';
import { runtimeState } from '../../container/state';
import { runHelperSync } from '../../util/helper';

export class TopCommand extends Command {
  static override paths = [['top'], ['container', 'top']];
  static override usage = Command.Usage({ description: 'Display the running processes of a container (ps options after the name)' });
  container = Option.String({ required: true });
  psArgs = Option.Proxy();
  async execute(): Promise<number> {
    const rec = findContainer(this.container);
    const st = runtimeState(rec);
    if (st.status !== 'running' && st.status !== 'paused') throw new CtrError(`container ${this.container} is not running`);
    const pids = runHelperSync(['pids', String(st.pid)]).split('\n').filter(Boolean);
    const opts = this.psArgs.length ? this.psArgs : ['-ef'];
    let out: string;
    try {
      // ps selects by our PID list; its own options choose the columns.
      out = execFileSync('ps', [...opts.filter((o) => !/^-?[eAa]+$/.test(o) && o !== 'aux'), ...(opts.includes('aux') ? ['u'] : []), '-p', pids.join(',')], { encoding: 'utf8' });
    } catch (e) {
      throw new CtrError(`ps ${opts.join(' ')} failed: ${(e as { stderr?: string }).stderr?.toString().split('\n')[0] ?? (e as Error).message}`);
    }
    this.context.stdout.write(out);
    return 0;
  }
}
