import { Command, Option } from 'clipanion';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CtrError } from '../../util/errors';
import { containerDir, findContainer } from '../../container/store';
import { isActive, runtimeState } from '../../container/state';
import { closeChain, followLog, LogOutput, openChain, parseTimeBound, printLog } from '../../container/logs-read';

/** Docker's --since/--until: RFC 3339 time, Unix seconds, or a duration back from now (10m, 1h30m). */
export function parseTimeArg(v: string, now = Date.now()): string {
  const t = parseTimeBound(v, now);
  if (t === undefined) throw new CtrError(`invalid time "${v}": use RFC 3339 (2026-01-02T15:04:05Z), Unix seconds, or a duration like 10m`);
  return t;
}

export class LogsCommand extends Command {
  static override paths = [['logs'], ['container', 'logs']];
  static override usage = Command.Usage({ description: 'Fetch the logs of a container' });
  follow = Option.Boolean('-f,--follow', false, { description: 'Follow log output' });
  tail = Option.String('-n,--tail', { description: 'Number of lines to show from the end (default all)' });
  timestamps = Option.Boolean('-t,--timestamps', false, { description: 'Show timestamps' });
  since = Option.String('--since', { description: 'Show logs since a time or duration' });
  until = Option.String('--until', { description: 'Show logs before a time or duration' });
  details = Option.Boolean('--details', false, { description: 'Show extra details given to logs' });
  container = Option.String({ required: true });

  async execute(): Promise<number> {
    const rec = findContainer(this.container);
    let tail = -1;
    if (this.tail !== undefined && this.tail !== 'all') {
      if (!/^[0-9]+$/.test(this.tail)) throw new CtrError(`invalid --tail "${this.tail}": give a number or all`);
      tail = Number(this.tail);
    }
    const since = this.since !== undefined ? parseTimeArg(this.since) : undefined;
    const until = this.until !== undefined ? parseTimeArg(this.until) : undefined;
    const file = path.join(containerDir(rec.id), 'ctr.log');
    // every file is opened once, now: a rotation while we read moves names, not what we hold
    const files = openChain(file);
    const out = new LogOutput(this.timestamps);
    try {
      printLog(files, { tail, since, until }, out);
    } catch (e) {
      closeChain(files);
      throw e;
    }
    if (!this.follow || until !== undefined) {
      closeChain(files);
      return 0;
    }
    await followLog(file, files, since, out, () => isActive(runtimeState(rec)) && fs.existsSync(containerDir(rec.id)));
    return 0;
  }
}
