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

/** Podman's format descriptors (`ctr top C pid user args`) and the ps -o names they stand for. */
const DESCRIPTORS: Record<string, string> = {
  args: 'args', comm: 'comm', etime: 'etime', group: 'group', hgroup: 'group', hpid: 'pid', huser: 'user', nice: 'nice',
  pcpu: 'pcpu', pgid: 'pgid', pid: 'pid', ppid: 'ppid', rgroup: 'rgroup', ruser: 'ruser', state: 'state', stime: 'stime',
  time: 'time', tty: 'tty', user: 'user', vsz: 'vsz', '%C': 'pcpu', '%a': 'args', '%c': 'comm', '%g': 'group',
  '%n': 'nice', '%p': 'pid', '%P': 'ppid', '%r': 'pgid', '%t': 'etime', '%u': 'user', '%x': 'time', '%y': 'tty', '%z': 'vsz',
};

/**
 * The ps arguments for `top`'s extra words: ps options as Docker passes them (`aux`, `-o pid,args`),
 * or, when every word is one of Podman's descriptors, `-o` with those columns. `hidePid` says a
 * leading PID column was added only to select the rows and must be cut from the output.
 */
export function topPsArgs(words: string[]): { args: string[]; hidePid: boolean } {
  if (!words.length) return { args: ['-ef'], hidePid: false };
  const split = words.flatMap((w) => w.split(',')).filter(Boolean);
  if (split.length && split.every((w) => w in DESCRIPTORS)) {
    const cols = split.map((w) => DESCRIPTORS[w]!);
    const hidePid = !cols.includes('pid');
    return { args: ['-o', (hidePid ? ['pid', ...cols] : cols).join(',')], hidePid };
  }
  return { args: words, hidePid: false };
}

/** Removes ps's first column (right-aligned, as wide as its header) from every line. */
function cutFirstColumn(text: string): string {
  const lines = text.split('\n');
  const header = lines[0] ?? '';
  const end = header.search(/\S\s/) + 1;
  if (end <= 0) return text;
  return lines.map((l) => l.slice(end + 1)).join('\n');
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
    const { args: opts, hidePid } = topPsArgs(this.psArgs);
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
    this.context.stdout.write(hidePid ? cutFirstColumn(shown) : shown);
    return 0;
  }
}
