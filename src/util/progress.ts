/**
 * Progress of long transfers (pull, push). Three modes:
 *  - tty:   one line per item (blob, config), redrawn in place at most 10 times a second, with
 *           a bar, bytes and speed;
 *  - plain: one line per item when it ends ("Copying blob sha256:... done"), for logs and pipes;
 *  - quiet: nothing.
 * Everything goes to the given stream (stderr: stdout carries the result, e.g. the image ID).
 */
export type ProgressMode = 'tty' | 'plain' | 'quiet';

export interface Progress {
  /** A free line ("Trying to pull ..."). */
  line(text: string): void;
  /** A new item: `label` e.g. "Copying blob sha256:...", `total` its size when known. */
  start(key: string, label: string, total?: number): void;
  /** `n` more bytes of item `key` arrived. */
  add(key: string, n: number): void;
  /** Item finished; `status` e.g. "done", "skipped: already exists". */
  finish(key: string, status?: string): void;
  /** Stops redrawing (call on success and on failure). */
  close(): void;
}

interface Item {
  label: string;
  total?: number;
  bytes: number;
  started: number;
  status?: string;
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v}${units[u]}` : `${v.toFixed(v >= 100 ? 0 : 1)}${units[u]}`;
}

class QuietProgress implements Progress {
  line(): void {}
  start(): void {}
  add(): void {}
  finish(): void {}
  close(): void {}
}

class PlainProgress implements Progress {
  private items = new Map<string, Item>();
  constructor(private out: NodeJS.WritableStream) {}
  line(text: string): void {
    this.out.write(text + '\n');
  }
  start(key: string, label: string, total?: number): void {
    this.items.set(key, { label, total, bytes: 0, started: Date.now() });
  }
  add(key: string, n: number): void {
    const it = this.items.get(key);
    if (it) it.bytes += n;
  }
  finish(key: string, status = 'done'): void {
    const it = this.items.get(key);
    if (!it || it.status) return;
    it.status = status;
    this.out.write(`${it.label} ${status}\n`);
  }
  close(): void {}
}

class TtyProgress implements Progress {
  private rows: (Item | string)[] = [];
  private items = new Map<string, Item>();
  private drawn = 0;
  private top = 0;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  constructor(private out: NodeJS.WriteStream) {}

  private schedule(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setInterval(() => this.draw(), 100);
    this.timer.unref();
  }

  private width(): number {
    return Math.max(40, Math.min(this.out.columns || 80, 160));
  }

  private render(r: Item | string): string {
    if (typeof r === 'string') return r;
    const w = this.width();
    const label = r.label.replace(/sha256:([0-9a-f]{12})[0-9a-f]{52}/g, '$1');
    if (r.status) return `${label} ${r.status}`.slice(0, w - 1);
    const secs = Math.max((Date.now() - r.started) / 1000, 0.001);
    const speed = `${humanBytes(Math.round(r.bytes / secs))}/s`;
    const amount = r.total ? `${humanBytes(r.bytes)} / ${humanBytes(r.total)}` : humanBytes(r.bytes);
    const tail = ` ${amount} ${speed}`;
    const barWidth = Math.max(10, Math.min(30, w - label.length - tail.length - 4));
    let bar = '';
    if (r.total) {
      const done = Math.min(barWidth, Math.floor((r.bytes / r.total) * barWidth));
      bar = ` [${'='.repeat(done)}${done < barWidth ? '>' : ''}${' '.repeat(Math.max(0, barWidth - done - 1))}]`;
    }
    return `${label}${bar}${tail}`.slice(0, w - 1);
  }

  private draw(): void {
    if (!this.dirty) return;
    this.dirty = false;
    let s = this.drawn ? `\x1b[${this.drawn}A` : '';
    // rows that will not change again are written once and left behind
    while (this.top < this.rows.length) {
      const r = this.rows[this.top]!;
      if (typeof r !== 'string' && !r.status) break;
      s += `\r\x1b[2K${this.render(r)}\n`;
      this.top++;
    }
    for (let i = this.top; i < this.rows.length; i++) s += `\r\x1b[2K${this.render(this.rows[i]!)}\n`;
    this.drawn = this.rows.length - this.top;
    this.out.write(s);
  }

  line(text: string): void {
    this.rows.push(text);
    this.dirty = true;
    this.draw();
  }
  start(key: string, label: string, total?: number): void {
    const it: Item = { label, total, bytes: 0, started: Date.now() };
    this.items.set(key, it);
    this.rows.push(it);
    this.schedule();
  }
  add(key: string, n: number): void {
    const it = this.items.get(key);
    if (!it) return;
    it.bytes += n;
    this.schedule();
  }
  finish(key: string, status = 'done'): void {
    const it = this.items.get(key);
    if (!it || it.status) return;
    it.status = status;
    this.dirty = true;
    this.draw();
  }
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.dirty = true;
    this.draw();
  }
}

export function progressMode(out: NodeJS.WriteStream, quiet: boolean): ProgressMode {
  if (quiet) return 'quiet';
  return out.isTTY && process.env.TERM !== 'dumb' ? 'tty' : 'plain';
}

export function createProgress(out: NodeJS.WriteStream, mode: ProgressMode): Progress {
  if (mode === 'quiet') return new QuietProgress();
  if (mode === 'tty') return new TtyProgress(out);
  return new PlainProgress(out);
}
