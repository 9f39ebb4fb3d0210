import { Command, Option } from 'clipanion';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CtrError } from '../../util/errors';
import { containerDir, findContainer } from '../../container/store';
import { isActive, runtimeState } from '../../container/state';

interface LogLine {
  log: string;
  stream: string;
  time: string;
}

/** Docker's --since/--until: RFC 3339 time, Unix seconds, or a duration back from now (10m, 1h30m). */
export function parseTimeArg(v: string, now = Date.now()): number {
  if (/^[0-9]+(\.[0-9]+)?$/.test(v)) return Number(v) * 1000;
  const dur = /^(?:([0-9.]+)h)?(?:([0-9.]+)m)?(?:([0-9.]+)s)?(?:([0-9.]+)ms)?$/.exec(v);
  if (dur && v !== '' && dur.slice(1).some(Boolean)) {
    const [h, m, s, ms] = dur.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number];
    return now - (h * 3600000 + m * 60000 + s * 1000 + ms);
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new CtrError(`invalid time "${v}": use RFC 3339 (2026-01-02T15:04:05Z), Unix seconds, or a duration like 10m`);
  return t;
}

function parseLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const l of text.split('\n')) {
    if (!l) continue;
    try {
      out.push(JSON.parse(l) as LogLine);
    } catch {
      /* a line cut by a crash */
    }
  }
  return out;
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
    const since = this.since !== undefined ? parseTimeArg(this.since) : -Infinity;
    const until = this.until !== undefined ? parseTimeArg(this.until) : Infinity;
    const file = path.join(containerDir(rec.id), 'ctr.log');
    // The monitor rotates the log by renaming it to ctr.log.1. We hold the current file open,
    // so what it gets until the rename is read from it even after the rename.
    const log = new LogReader(file);
    log.open();
    const older = log.ino !== -1 && statIno(`${file}.1`) === log.ino ? '' : readText(`${file}.1`);
    const text = older + log.readLines();
    let lines = parseLines(text).filter((l) => {
      const t = Date.parse(l.time);
      return t >= since && t <= until;
    });
    if (tail >= 0) lines = tail === 0 ? [] : joinChunks(lines).slice(-tail);
    this.emit(lines);
    if (!this.follow || this.until !== undefined) {
      log.close();
      return 0;
    }
    // Follow: read what gets appended until the container exits.
    const emitNew = (t: string) => this.emit(parseLines(t).filter((l) => Date.parse(l.time) >= since));
    for (;;) {
      const active = isActive(runtimeState(rec)) && fs.existsSync(containerDir(rec.id));
      emitNew(log.readLines());
      const ino = statIno(file);
      if (ino !== -1 && ino !== log.ino) {
        // rotated: the rest of the old file, a whole file rotated in between, then the new one
        emitNew(log.readLines());
        const mid = statIno(`${file}.1`);
        if (log.ino !== -1 && mid !== -1 && mid !== log.ino && mid !== ino) emitNew(readText(`${file}.1`));
        log.close();
        log.open();
        emitNew(log.readLines());
      }
      if (!active) {
        log.close();
        return 0;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private emit(lines: LogLine[]): void {
    for (const l of lines) {
      const out = l.stream === 'stderr' ? this.context.stderr : this.context.stdout;
      out.write((this.timestamps ? `${l.time} ` : '') + l.log);
    }
  }
}

/** --tail counts lines, while log records are chunks: split records at newlines first. */
function joinChunks(lines: LogLine[]): LogLine[] {
  const out: LogLine[] = [];
  let pending: LogLine | undefined;
  for (const l of lines) {
    const parts = l.log.split(/(?<=\n)/);
    for (const p of parts) {
      if (pending && pending.stream === l.stream) pending.log += p;
      else {
        if (pending) out.push(pending);
        pending = { log: p, stream: l.stream, time: l.time };
      }
      if (pending.log.endsWith('\n')) {
        out.push(pending);
        pending = undefined;
      }
    }
  }
  if (pending) out.push(pending);
  return out;
}

function statIno(f: string): number {
  try {
    return fs.statSync(f).ino;
  } catch {
    return -1;
  }
}

function readText(f: string): string {
  try {
    return fs.readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}

/** An open log file read in whole lines from where the last read stopped. */
class LogReader {
  fd: number | undefined;
  ino = -1;
  private offset = 0;
  constructor(private file: string) {}

  open(): void {
    try {
      this.fd = fs.openSync(this.file, 'r');
      this.ino = fs.fstatSync(this.fd).ino;
    } catch {
      this.fd = undefined;
      this.ino = -1;
    }
    this.offset = 0;
  }

  /** The complete lines appended since the last call (a line being written waits). */
  readLines(): string {
    if (this.fd === undefined) {
      this.open();
      if (this.fd === undefined) return '';
    }
    const size = fs.fstatSync(this.fd).size;
    if (size <= this.offset) return '';
    const b = Buffer.alloc(size - this.offset);
    const n = fs.readSync(this.fd, b, 0, b.length, this.offset);
    const cut = b.subarray(0, n).lastIndexOf(10);
    if (cut < 0) return '';
    this.offset += cut + 1;
    return b.subarray(0, cut + 1).toString('utf8');
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
