/**
 * Reading a container's log without holding it in memory.
 *
 * The monitor writes Docker's json-file lines (`{"log":"...","stream":"stdout","time":"..."}`,
 * native/log.c) to LOG and rotates it by renaming LOG to LOG.1, LOG.1 to LOG.2, ... (so the
 * files are, oldest first, LOG.N ... LOG.1 LOG). Every file is read by fd in blocks:
 *   - `--tail N` scans lines backwards from the end of the selected range;
 *   - `--since`/`--until` find their place by binary search over byte offsets (the log is in time
 *     order; a probe resynchronises on the next line start), skipping whole files by their
 *     first/last entries' times;
 *   - the output is decoded from the JSON escapes straight into an output buffer;
 *   - `-f` holds LOG open and reads what is appended; when LOG's inode changes it finishes the
 *     old file, then the files rotated in between, then follows the new LOG.
 * Memory is a few buffers, whatever the size of the log.
 */
import * as fs from 'node:fs';

const BLOCK = 1 << 20;
const PROBE = 16 << 10;
const OUT_SIZE = 256 << 10;

// ------------------------------------------------------------------------------ time bounds

/** A canonical time stamp: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC, 9 digits), as the monitor writes. */
const CANON_LEN = 30;

function canonFromMs(ms: number, frac9?: string): string {
  const whole = Math.floor(ms / 1000) * 1000;
  const ns = frac9 ?? String(Math.round((ms - whole) * 1e6)).padStart(9, '0').slice(0, 9);
  return new Date(whole).toISOString().slice(0, 19) + '.' + ns + 'Z';
}

/** An RFC 3339 time (any offset, any number of fraction digits) as a canonical stamp, or undefined. */
export function canonicalTime(t: string): string | undefined {
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) return undefined;
  const m = /T\d\d:\d\d:\d\d\.(\d+)/.exec(t);
  return canonFromMs(ms, m ? (m[1]! + '000000000').slice(0, 9) : '000000000');
}

/**
 * Docker's --since/--until: RFC 3339 time, Unix seconds (with a fraction), or a duration back
 * from now (10m, 1h30m). Returns a canonical stamp, or undefined when the text is none of these.
 */
export function parseTimeBound(v: string, now = Date.now()): string | undefined {
  const unix = /^([0-9]+)(?:\.([0-9]+))?$/.exec(v);
  if (unix) return canonFromMs(Number(unix[1]) * 1000, ((unix[2] ?? '') + '000000000').slice(0, 9));
  const dur = /^(?:([0-9.]+)h)?(?:([0-9.]+)m)?(?:([0-9.]+)s)?(?:([0-9.]+)ms)?$/.exec(v);
  if (dur && v !== '' && dur.slice(1).some(Boolean)) {
    const [h, m, s, ms] = dur.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number];
    const back = h * 3600000 + m * 60000 + s * 1000 + ms;
    if (!Number.isNaN(back)) return canonFromMs(now - back);
  }
  return canonicalTime(v);
}

// ------------------------------------------------------------------------------ entries

const HEAD = Buffer.from('{"log":"');
const MID_OUT = Buffer.from('","stream":"stdout","time":"');
const MID_ERR = Buffer.from('","stream":"stderr","time":"');

/** One log line, parsed in place: the fields are offsets into `buf` (or `alt` for odd lines). */
interface Entry {
  buf: Buffer;
  err: boolean;
  /** raw (JSON-escaped) text of "log" */
  ls: number;
  le: number;
  /** "time" */
  ts: number;
  te: number;
  /** a line of another shape, parsed by JSON.parse: its text and time as buffers */
  alt?: { text: Buffer; time: Buffer };
}

/** buf[at..] starts with pat (a plain loop: cheaper than Buffer#compare for a few bytes) */
function startsWith(buf: Buffer, at: number, pat: Buffer): boolean {
  if (at + pat.length > buf.length) return false;
  for (let i = 0; i < pat.length; i++) if (buf[at + i] !== pat[i]) return false;
  return true;
}

function parseEntry(buf: Buffer, s: number, e: number, out: Entry): boolean {
  out.alt = undefined;
  out.buf = buf;
  if (e - s > HEAD.length + MID_OUT.length && startsWith(buf, s, HEAD)) {
    let i = s + HEAD.length;
    for (;;) {
      const q = buf.indexOf(0x22, i);
      if (q < 0 || q >= e) break;
      let k = 0;
      while (buf[q - 1 - k] === 0x5c) k++;
      if (k & 1) {
        i = q + 1;
        continue;
      }
      const end = q + MID_OUT.length;
      if (end > e) break;
      // MID_OUT and MID_ERR differ only in the stream's name: "stdout" / "stderr" (its 4th letter)
      const err = buf[q + 15] === 0x65;
      if (!startsWith(buf, q, err ? MID_ERR : MID_OUT)) break;
      const te = buf[end + CANON_LEN] === 0x22 ? end + CANON_LEN : buf.indexOf(0x22, end);
      if (te < 0 || te + 2 !== e || buf[te + 1] !== 0x7d) break;
      out.err = err;
      out.ls = s + HEAD.length;
      out.le = q;
      out.ts = end;
      out.te = te;
      return true;
    }
  }
  // another writer's shape (other key order, spacing): the slow way
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8', s, e));
  } catch {
    return false; // a line cut by a crash
  }
  const o = v as { log?: unknown; stream?: unknown; time?: unknown };
  if (!o || typeof o !== 'object' || typeof o.log !== 'string') return false;
  const time = Buffer.from(typeof o.time === 'string' ? o.time : '');
  out.alt = { text: Buffer.from(o.log), time };
  out.err = o.stream === 'stderr';
  return true;
}

/** The entry's time compared with a canonical stamp: <0, 0, >0. */
function cmpTime(en: Entry, bound: Buffer): number {
  if (!en.alt && en.te - en.ts === CANON_LEN) {
    const b = en.buf;
    for (let i = 0; i < CANON_LEN; i++) {
      const d = b[en.ts + i]! - bound[i]!;
      if (d !== 0) return d;
    }
    return 0;
  }
  const t = en.alt ? en.alt.time.toString() : en.buf.toString('latin1', en.ts, en.te);
  const c = canonicalTime(t);
  return c === undefined ? -1 : Buffer.from(c).compare(bound);
}

/**
 * The next backslash at or after `from` in buf, or -1: searches go forward through a buffer, so
 * the last one found (even past the entry being read) answers the following ones until then.
 */
class BackslashFinder {
  private buf: Buffer | undefined;
  private from = 0;
  private found = -1;
  next(buf: Buffer, from: number): number {
    if (buf !== this.buf || from < this.from || (this.found >= 0 && from > this.found)) {
      this.buf = buf;
      this.from = from;
      this.found = buf.indexOf(0x5c, from);
      return this.found;
    }
    return this.found;
  }
  /** the buffer's bytes changed (a new block read into it) */
  reset(): void {
    this.buf = undefined;
  }
}
const backslashes = new BackslashFinder();

function hex4(buf: Buffer, i: number): number {
  const v = parseInt(buf.toString('latin1', i, i + 4), 16);
  return Number.isNaN(v) ? 0xfffd : v;
}

/** Newlines in the entry's text: how many, and whether it ends with one. */
function newlines(en: Entry): { count: number; last: boolean } {
  if (en.alt) {
    const t = en.alt.text;
    let count = 0;
    for (let i = t.indexOf(10); i >= 0; i = t.indexOf(10, i + 1)) count++;
    return { count, last: t.length > 0 && t[t.length - 1] === 10 };
  }
  const b = en.buf;
  let count = 0;
  let last = false;
  let i = en.ls;
  for (;;) {
    const at = backslashes.next(b, i);
    if (at < 0 || at >= en.le) break;
    const c = b[at + 1];
    let nl = c === 0x6e;
    let len = 2;
    if (c === 0x75) {
      nl = hex4(b, at + 2) === 10;
      len = 6;
    }
    if (nl) count++;
    i = at + len;
    last = nl && i >= en.le;
  }
  return { count, last };
}

// ------------------------------------------------------------------------------ output

/** Buffered writes of stdout entries to one fd and stderr entries to another (1 and 2), in order. */
export class LogOutput {
  private buf = Buffer.allocUnsafe(OUT_SIZE);
  private len = 0;
  private fd: number;
  constructor(
    private timestamps: boolean,
    private fds: readonly [number, number] = [1, 2],
  ) {
    this.fd = fds[0];
  }

  private flushTo(fd: number): void {
    if (fd !== this.fd) {
      this.flush();
      this.fd = fd;
    }
  }

  private room(n: number): void {
    if (this.len + n > this.buf.length) this.flush();
  }

  private put(src: Buffer, s: number, e: number): void {
    while (s < e) {
      this.room(1);
      const n = Math.min(e - s, this.buf.length - this.len);
      src.copy(this.buf, this.len, s, s + n);
      this.len += n;
      s += n;
    }
  }

  private byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }

  private utf8(cp: number): void {
    this.room(4);
    this.len += this.buf.write(String.fromCodePoint(cp), this.len, 'utf8');
  }

  /** Writes the entry (its text from the `skip`+1-th line on). */
  entry(en: Entry, skip = 0): void {
    this.flushTo(this.fds[en.err ? 1 : 0]);
    if (skip > 0) {
      // the start of a --tail inside a multi-line entry: rare, decoded apart
      const text = decoded(en);
      let at = 0;
      for (let k = 0; k < skip; k++) at = text.indexOf(10, at) + 1;
      this.stamp(en);
      this.put(text, at, text.length);
      return;
    }
    this.stamp(en);
    if (en.alt) {
      this.put(en.alt.text, 0, en.alt.text.length);
      return;
    }
    const b = en.buf;
    let i = en.ls;
    while (i < en.le) {
      const at = backslashes.next(b, i);
      if (at < 0 || at >= en.le) {
        this.put(b, i, en.le);
        return;
      }
      if (at > i) this.put(b, i, at);
      const c = b[at + 1];
      i = at + 2;
      switch (c) {
        case 0x6e: this.byte(10); break; // n
        case 0x74: this.byte(9); break; // t
        case 0x72: this.byte(13); break; // r
        case 0x62: this.byte(8); break; // b
        case 0x66: this.byte(12); break; // f
        case 0x75: { // u
          let cp = hex4(b, at + 2);
          i = at + 6;
          if (cp >= 0xd800 && cp < 0xdc00 && b[i] === 0x5c && b[i + 1] === 0x75) {
            const lo = hex4(b, i + 2);
            if (lo >= 0xdc00 && lo < 0xe000) {
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
              i += 6;
            }
          }
          this.utf8(cp >= 0xd800 && cp < 0xe000 ? 0xfffd : cp);
          break;
        }
        default: this.byte(c ?? 0x5c); // " \ /
      }
    }
  }

  private stamp(en: Entry): void {
    if (!this.timestamps) return;
    if (en.alt) this.put(en.alt.time, 0, en.alt.time.length);
    else this.put(en.buf, en.ts, en.te);
    this.byte(0x20);
  }

  flush(): void {
    let off = 0;
    while (off < this.len) {
      try {
        off += fs.writeSync(this.fd, this.buf, off, this.len - off);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'EAGAIN') {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2); // a non-blocking stdout: wait for room
          continue;
        }
        if (code === 'EPIPE') process.exit(141); // the reader is gone (`ctr logs c | head`)
        throw e;
      }
    }
    this.len = 0;
  }
}

function decoded(en: Entry): Buffer {
  if (en.alt) return en.alt.text;
  return Buffer.from(JSON.parse(`"${en.buf.toString('utf8', en.ls, en.le)}"`) as string);
}

// ------------------------------------------------------------------------------ files

interface LogFile {
  fd: number;
  ino: number;
  /** offset just past the last complete line when opened (rotated files no longer change) */
  end: number;
}

function openFile(p: string): { fd: number; ino: number; size: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(p, 'r');
  } catch {
    return undefined;
  }
  const st = fs.fstatSync(fd);
  return { fd, ino: st.ino, size: st.size };
}

/** The offset just past the last '\n' at or before `size`. */
function completeEnd(fd: number, size: number): number {
  const buf = Buffer.allocUnsafe(PROBE);
  let hi = size;
  while (hi > 0) {
    const lo = Math.max(0, hi - PROBE);
    const n = fs.readSync(fd, buf, 0, hi - lo, lo);
    const k = buf.subarray(0, n).lastIndexOf(10);
    if (k >= 0) return lo + k + 1;
    hi = lo;
  }
  return 0;
}

/**
 * Opens LOG, then LOG.1, LOG.2, ... (until two names in a row are missing: a rotation under
 * way leaves one gap at most), each file once (by inode: a rotation between two opens shows a
 * file under two names). Oldest first.
 */
export function openChain(file: string): LogFile[] {
  const out: LogFile[] = [];
  const seen = new Set<number>();
  let misses = 0;
  for (let i = 0; misses < 2 && i < 100000; i++) {
    const f = openFile(i === 0 ? file : `${file}.${i}`);
    if (!f) {
      misses++;
      continue;
    }
    misses = 0;
    if (seen.has(f.ino)) {
      fs.closeSync(f.fd);
      continue;
    }
    seen.add(f.ino);
    out.push({ fd: f.fd, ino: f.ino, end: completeEnd(f.fd, f.size) });
  }
  return out.reverse();
}

export function closeChain(files: LogFile[]): void {
  for (const f of files) fs.closeSync(f.fd);
}

type LineFn = (buf: Buffer, s: number, e: number, off: number) => boolean;

/**
 * Hands each complete line of [pos, end) to fn (without its '\n'), in order, until fn returns
 * false. Returns the offset after the last line handed on, or of the line fn refused.
 */
function forward(fd: number, pos: number, end: number, fn: LineFn, state: { buf: Buffer }): number {
  let buf = state.buf;
  let have = 0;
  let base = pos;
  for (;;) {
    const want = Math.min(buf.length - have, end - (base + have));
    if (want <= 0 && have === buf.length) {
      // a line longer than the buffer
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, have);
      buf = state.buf = bigger;
      continue;
    }
    const n = want > 0 ? fs.readSync(fd, buf, have, want, base + have) : 0;
    backslashes.reset();
    have += n;
    const view = buf.subarray(0, have);
    let s = 0;
    for (;;) {
      const nl = view.indexOf(10, s);
      if (nl < 0) break;
      if (!fn(buf, s, nl, base + s)) return base + s;
      s = nl + 1;
    }
    base += s;
    if (s > 0) buf.copy(buf, 0, s, have);
    have -= s;
    if (n === 0 || base + have >= end) return base;
  }
}

/** Hands the complete lines of [start, end) to fn newest first, until it returns false; end is a line start. */
function backward(fd: number, start: number, end: number, fn: LineFn, state: { buf: Buffer }): void {
  let size = 64 << 10;
  let cur = end;
  while (cur > start) {
    const bs = Math.max(start, cur - size);
    const n = cur - bs;
    if (state.buf.length < n) state.buf = Buffer.allocUnsafe(n);
    const buf = state.buf;
    fs.readSync(fd, buf, 0, n, bs);
    backslashes.reset();
    let e = n - 1; // buf[e] is the '\n' that ends the line
    for (;;) {
      const p = e > 0 ? buf.lastIndexOf(10, e - 1) : -1;
      if (p < 0) {
        if (bs === start) {
          fn(buf, 0, e, bs);
          return;
        }
        break;
      }
      if (!fn(buf, p + 1, e, bs + p + 1)) return;
      e = p;
    }
    if (bs + e + 1 === cur) size *= 2; // not one whole line in the block: a longer block
    cur = bs + e + 1;
  }
}

/** Reads one line starting at or after `pos` (resynchronised on a line start) below `hi`. */
function lineAfter(fd: number, pos: number, hi: number, state: { buf: Buffer }): { s: number; e: number; next: number } | undefined {
  let probe = PROBE;
  for (;;) {
    const from = Math.max(0, pos - 1);
    const n = Math.min(probe, hi - from);
    if (n <= 0) return undefined;
    if (state.buf.length < n) state.buf = Buffer.allocUnsafe(n);
    const buf = state.buf;
    const got = fs.readSync(fd, buf, 0, n, from);
    backslashes.reset();
    const view = buf.subarray(0, got);
    const first = pos === 0 ? 0 : view.indexOf(10) + 1;
    if (pos !== 0 && first === 0) {
      if (from + got >= hi) return undefined;
      probe *= 2;
      continue;
    }
    const nl = view.indexOf(10, first);
    if (nl < 0) {
      if (from + got >= hi) return undefined;
      probe *= 2;
      continue;
    }
    return { s: first, e: nl, next: from + nl + 1 };
  }
}

/** Position in the chain: file index and byte offset (a line start). */
interface Pos {
  f: number;
  off: number;
}

/** The first line whose time makes `after` true (a monotone predicate), or the end of the chain. */
function seek(files: LogFile[], after: (en: Entry) => boolean, state: { buf: Buffer }): Pos {
  const en = {} as Entry;
  const test = (fd: number, l: { s: number; e: number } | undefined): boolean | undefined =>
    l && parseEntry(state.buf, l.s, l.e, en) ? after(en) : undefined;
  for (let f = 0; f < files.length; f++) {
    const { fd, end } = files[f]!;
    if (end === 0) continue;
    // the whole file before the bound: skip it (its last entry tells)
    let lastAfter: boolean | undefined;
    backward(fd, 0, end, (buf, s, e) => {
      if (!parseEntry(buf, s, e, en)) return true;
      lastAfter = after(en);
      return false;
    }, state);
    if (!lastAfter) continue;
    // binary search over offsets: [lo, hi) holds the first line that is after
    let lo = 0;
    let hi = end;
    while (hi - lo > PROBE) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const l = lineAfter(fd, mid, hi, state);
      if (!l) {
        hi = mid;
        continue;
      }
      const lineStart = l.next - (l.e - l.s) - 1;
      const t = test(fd, l);
      if (t === true) hi = lineStart;
      else lo = l.next; // before the bound, or unreadable: the answer is further on
    }
    let at = hi;
    forward(fd, lo, end, (buf, s, e, off) => {
      if (parseEntry(buf, s, e, en) && after(en)) {
        at = off;
        return false;
      }
      return true;
    }, state);
    return { f, off: at };
  }
  return { f: files.length, off: 0 };
}

const before = (a: Pos, b: Pos) => a.f < b.f || (a.f === b.f && a.off < b.off);

export interface LogQuery {
  /** lines from the end of the selection; -1: all */
  tail: number;
  /** canonical stamps (parseTimeBound) */
  since?: string;
  until?: string;
}

/**
 * Writes the selected part of the log files (oldest first) to `out`. The files stay open for
 * `follow`.
 */
export function printLog(files: LogFile[], q: LogQuery, out: LogOutput): void {
  const state = { buf: Buffer.allocUnsafe(BLOCK) };
  const since = q.since !== undefined ? Buffer.from(q.since) : undefined;
  const until = q.until !== undefined ? Buffer.from(q.until) : undefined;
  const first: Pos = since ? seek(files, (en) => cmpTime(en, since) >= 0, state) : { f: 0, off: 0 };
  const last: Pos = until ? seek(files, (en) => cmpTime(en, until) > 0, state) : { f: files.length, off: 0 };
  if (!before(first, last) || q.tail === 0) return;
  let start = first;
  let skip = 0;
  if (q.tail > 0) {
    // count line ends backwards: a line ends with '\n', where the stream changes, and at the end
    const want = q.tail + 1;
    let ends = 0;
    let next: boolean | undefined; // stream (err) of the entry after the current one
    let found: { pos: Pos; skip: number } | undefined;
    const en = {} as Entry;
    for (let f = Math.min(last.f, files.length - 1); f >= first.f && !found; f--) {
      const lo = f === first.f ? first.off : 0;
      const hi = f === last.f ? last.off : files[f]!.end;
      if (hi <= lo) continue;
      backward(files[f]!.fd, lo, hi, (buf, s, e, off) => {
        if (!parseEntry(buf, s, e, en)) return true;
        const nl = newlines(en);
        const endsHere = nl.last || next === undefined || next !== en.err;
        const inside = nl.count - (nl.last ? 1 : 0); // line ends before the entry's last piece
        const here = inside + (endsHere ? 1 : 0);
        if (ends + here >= want) {
          // the want-th line end from the end is in this entry
          const k = want - ends; // 1: its last line end
          const pieceEnd = endsHere ? inside + 1 - k : inside - k; // index of the piece it ends (0-based), -1: none
          found = pieceEnd + 1 >= inside + 1 ? { pos: { f, off: off + (e - s) + 1 }, skip: 0 } : { pos: { f, off }, skip: pieceEnd + 1 };
          return false;
        }
        ends += here;
        next = en.err;
        return true;
      }, state);
    }
    if (found) {
      start = found.pos;
      skip = found.skip;
      if (start.f < files.length && start.off >= files[start.f]!.end) start = { f: start.f + 1, off: 0 };
    }
  }
  // forward from start to last
  const en = {} as Entry;
  for (let f = start.f; f < files.length && f <= last.f; f++) {
    const lo = f === start.f ? start.off : 0;
    const hi = f === last.f ? last.off : files[f]!.end;
    if (hi <= lo) continue;
    forward(files[f]!.fd, lo, hi, (buf, s, e) => {
      if (parseEntry(buf, s, e, en)) {
        out.entry(en, skip);
        skip = 0;
      }
      return true;
    }, state);
  }
  out.flush();
}

/**
 * Follows LOG after printLog: prints complete lines as they are appended (those at or after
 * `since`), across rotations, until `active()` says the container has ended (then reads what
 * is left). Polls every 100 ms.
 */
export async function followLog(file: string, files: LogFile[], since: string | undefined, out: LogOutput, active: () => boolean): Promise<void> {
  const state = { buf: Buffer.allocUnsafe(BLOCK) };
  const bound = since !== undefined ? Buffer.from(since) : undefined;
  const en = {} as Entry;
  const print = (fd: number, from: number, to: number): number =>
    forward(fd, from, to, (buf, s, e) => {
      if (parseEntry(buf, s, e, en) && (!bound || cmpTime(en, bound) >= 0)) out.entry(en);
      return true;
    }, state);
  // the newest file printLog read, followed from where it stopped
  const newest = files.pop();
  closeChain(files);
  let cur = newest ? { fd: newest.fd, ino: newest.ino, off: newest.end } : undefined;
  const readNew = () => {
    if (!cur) return;
    cur.off = print(cur.fd, cur.off, fs.fstatSync(cur.fd).size);
  };
  try {
    for (;;) {
      const running = active();
      readNew();
      let ino = -1;
      try {
        ino = fs.statSync(file).ino;
      } catch {
        /* between the rename and the new file */
      }
      if (ino !== -1 && ino !== cur?.ino) {
        readNew(); // the old file is complete once renamed
        const next = openFile(file);
        if (next) {
          // files rotated after ours and before the new LOG: LOG.1, LOG.2, ... up to ours
          const mids: { fd: number; ino: number }[] = [];
          const seen = new Set([next.ino]);
          let misses = 0;
          for (let i = 1; misses < 2 && i < 100000; i++) {
            const f = openFile(`${file}.${i}`);
            if (!f) {
              misses++;
              continue;
            }
            misses = 0;
            if (f.ino === cur?.ino) {
              fs.closeSync(f.fd);
              break;
            }
            if (seen.has(f.ino)) fs.closeSync(f.fd);
            else {
              seen.add(f.ino);
              mids.push(f);
            }
          }
          for (const m of mids.reverse()) {
            print(m.fd, 0, fs.fstatSync(m.fd).size);
            fs.closeSync(m.fd);
          }
          if (cur) fs.closeSync(cur.fd);
          cur = { fd: next.fd, ino: next.ino, off: 0 };
          readNew();
        }
      }
      out.flush();
      if (!running) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    if (cur) fs.closeSync(cur.fd);
    out.flush();
  }
}
