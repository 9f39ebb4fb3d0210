// The log reader (src/container/logs-read.ts) on files written here: --tail line counting over
// partial and multi-line entries, both streams, escapes, other writers' shapes, --since/--until
// seeks (binary search) over rotated files, and the option parsing of the log cap.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalTime, closeChain, LogOutput, openChain, parseTimeBound, printLog, type LogQuery } from '../../src/container/logs-read';
import { LOG_DEFAULTS, parseLogOpts, splitLogOpt } from '../../src/container/options';
import { CtrError } from '../../src/util/errors';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logs-read-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const T0 = Date.parse('2024-03-01T10:00:00Z');
const stamp = (ms: number) => new Date(Math.floor(ms)).toISOString().replace(/\.(\d{3})Z$/, `.$1${String(Math.round((ms % 1) * 1e6)).padStart(6, '0')}Z`);
type E = { log: string; stream?: 'stdout' | 'stderr'; t?: number };
const line = (e: E, i: number) => JSON.stringify({ log: e.log, stream: e.stream ?? 'stdout', time: stamp(e.t ?? T0 + i) }) + '\n';

let n = 0;
/** Writes files (oldest first: [LOG.2, LOG.1, LOG] for three) and returns LOG's path. */
function logFiles(...files: string[]): string {
  const base = path.join(dir, `c${n++}`, 'ctr.log');
  fs.mkdirSync(path.dirname(base));
  files.forEach((text, i) => fs.writeFileSync(i === files.length - 1 ? base : `${base}.${files.length - 1 - i}`, text));
  return base;
}
const entries = (es: E[], from = 0) => es.map((e, i) => line(e, from + i)).join('');

/** printLog's output: stdout and stderr apart, and both in order. */
function read(file: string, q: Partial<LogQuery> = {}, timestamps = false): { out: string; err: string } {
  const o = path.join(path.dirname(file), `out-${n++}`);
  const e = `${o}.err`;
  const fo = fs.openSync(o, 'w');
  const fe = fs.openSync(e, 'w');
  const files = openChain(file);
  try {
    printLog(files, { tail: -1, ...q }, new LogOutput(timestamps, [fo, fe]));
  } finally {
    closeChain(files);
    fs.closeSync(fo);
    fs.closeSync(fe);
  }
  return { out: fs.readFileSync(o, 'utf8'), err: fs.readFileSync(e, 'utf8') };
}

describe('printLog', () => {
  it('prints every entry decoded, stdout and stderr apart, rotated files oldest first', () => {
    const f = logFiles(
      entries([{ log: 'one\n' }, { log: 'e1\n', stream: 'stderr' }]),
      entries([{ log: 'two\n' }], 10),
      entries([{ log: 'tab\there "q" \\ back\u0001 é ✓ 😀\n' }, { log: 'last' }], 20),
    );
    expect(read(f)).toEqual({ out: 'one\ntwo\ntab\there "q" \\ back\u0001 é ✓ 😀\nlast', err: 'e1\n' });
  });

  it('--tail counts lines: a partial entry joins the next of its stream, a stream change ends it', () => {
    const f = logFiles(entries([
      { log: 'a1\n' }, { log: 'part-' }, { log: 'b\n' }, { log: 'x' }, { log: 'y\n', stream: 'stderr' }, { log: 'c1\n' }, { log: 'tail-no-newline' },
    ]));
    expect(read(f, { tail: 1 }).out).toBe('tail-no-newline');
    expect(read(f, { tail: 2 }).out).toBe('c1\ntail-no-newline');
    expect(read(f, { tail: 3 })).toEqual({ out: 'c1\ntail-no-newline', err: 'y\n' });
    expect(read(f, { tail: 4 })).toEqual({ out: 'xc1\ntail-no-newline', err: 'y\n' });
    expect(read(f, { tail: 5 }).out).toBe('part-b\nxc1\ntail-no-newline');
    expect(read(f, { tail: 6 }).out).toBe('a1\npart-b\nxc1\ntail-no-newline');
    expect(read(f, { tail: 60 }).out).toBe('a1\npart-b\nxc1\ntail-no-newline');
    expect(read(f, { tail: 0 })).toEqual({ out: '', err: '' });
  });

  it('--tail inside an entry holding several lines (another writer) starts at the right line', () => {
    const f = logFiles(entries([{ log: 'l1\nl2\nl3\n' }, { log: 'l4\n' }]));
    expect(read(f, { tail: 2 }).out).toBe('l3\nl4\n');
    expect(read(f, { tail: 3 }).out).toBe('l2\nl3\nl4\n');
    expect(read(f, { tail: 2 }, true).out).toBe(`${stamp(T0)} l3\n${stamp(T0 + 1)} l4\n`);
  });

  it('--tail crosses rotated files', () => {
    const f = logFiles(entries([{ log: 'old1\n' }, { log: 'old2\n' }]), entries([{ log: 'mid\n' }], 5), entries([{ log: 'new\n' }], 9));
    expect(read(f, { tail: 3 }).out).toBe('old2\nmid\nnew\n');
  });

  it('other shapes (key order, spaces, \\u escapes) and cut lines', () => {
    const odd = `{ "time": "${stamp(T0 + 1)}", "stream": "stderr", "log": "odd\\u00e9\\n" }\n`;
    const f = logFiles(line({ log: 'a\n' }, 0) + odd + '{"log":"cut by a cra' + '\n' + line({ log: 'b\n' }, 3));
    expect(read(f)).toEqual({ out: 'a\nb\n', err: 'oddé\n' });
    expect(read(f, { tail: 2 })).toEqual({ out: 'b\n', err: 'oddé\n' });
    expect(read(f, {}, true).err).toBe(`${stamp(T0 + 1)} oddé\n`);
  });

  it('a line being written (no newline yet) is not printed', () => {
    const f = logFiles(line({ log: 'done\n' }, 0) + line({ log: 'half\n' }, 1).slice(0, 20));
    expect(read(f).out).toBe('done\n');
    expect(read(f, { tail: 1 }).out).toBe('done\n');
  });

  it('--since/--until find their place by binary search in big files, across rotations', () => {
    // 3 files x 20000 entries, one per ms; some entries share a time stamp
    const per = 20000;
    const make = (k: number) => Array.from({ length: per }, (_, i) => line({ log: `e${k * per + i}\n`, t: T0 + k * per + i - ((k * per + i) % 3 === 2 ? 1 : 0) }, 0)).join('');
    const f = logFiles(make(0), make(1), make(2));
    const at = (i: number) => new Date(T0 + i).toISOString();
    const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => `e${a + i}\n`).join('');
    expect(read(f, { since: parseTimeBound(at(59995)) }).out).toBe(range(59995, 60000));
    expect(read(f, { until: parseTimeBound(at(4)) }).out).toBe(range(0, 6));
    expect(read(f, { since: parseTimeBound(at(19999)), until: parseTimeBound(at(20001)) }).out).toBe(range(19999, 20002));
    expect(read(f, { since: parseTimeBound(at(30000)), until: parseTimeBound(at(30000)) }).out).toBe(range(30000, 30001));
    expect(read(f, { since: parseTimeBound(at(40001)), tail: 2, until: parseTimeBound(at(40010)) }).out).toBe(range(40009, 40011));
    expect(read(f, { since: parseTimeBound(at(70000)) }).out).toBe('');
    expect(read(f, { until: parseTimeBound(at(-1)) }).out).toBe('');
    expect(read(f, { since: parseTimeBound(at(-5)) }).out.length).toBe(range(0, 60000).length);
  });

  it('nanoseconds count: --until at a millisecond excludes entries later within it', () => {
    const f = logFiles(entries([{ log: 'a\n', t: T0 + 0.0001 }, { log: 'b\n', t: T0 + 0.5 }, { log: 'c\n', t: T0 + 1 }]));
    expect(read(f, { until: parseTimeBound('2024-03-01T10:00:00.000000200Z') }).out).toBe('a\n');
    expect(read(f, { since: parseTimeBound('1709287200.0005') }).out).toBe('b\nc\n');
  });
});

describe('time bounds', () => {
  it('RFC 3339 with offsets and fractions, Unix seconds, durations', () => {
    expect(canonicalTime('2024-03-01T12:00:00.5+02:00')).toBe('2024-03-01T10:00:00.500000000Z');
    expect(parseTimeBound('2024-03-01T10:00:00Z')).toBe('2024-03-01T10:00:00.000000000Z');
    expect(parseTimeBound('2024-03-01T10:00:00.123456789Z')).toBe('2024-03-01T10:00:00.123456789Z');
    expect(parseTimeBound('1709287200')).toBe('2024-03-01T10:00:00.000000000Z');
    expect(parseTimeBound('1709287200.25')).toBe('2024-03-01T10:00:00.250000000Z');
    expect(parseTimeBound('1h30m', T0)).toBe('2024-03-01T08:30:00.000000000Z');
    expect(parseTimeBound('yesterday-ish')).toBeUndefined();
  });
});

describe('log options', () => {
  it('defaults, --log-opt (one per flag or comma-separated) over the configuration', () => {
    expect(parseLogOpts([])).toEqual({ maxSize: 10 << 20, maxFiles: 5, raw: { ...LOG_DEFAULTS } });
    expect(parseLogOpts(['max-size=1k,max-file=3'])).toEqual({ maxSize: 1024, maxFiles: 3, raw: { 'max-size': '1k', 'max-file': '3' } });
    expect(parseLogOpts(['max-size=2m'], [{ key: 'max-file', value: 2, where: 'x' }])).toEqual({ maxSize: 2 << 20, maxFiles: 2, raw: { 'max-size': '2m', 'max-file': '2' } });
    expect(parseLogOpts(['max-file=4'], [{ key: 'max-file', value: '2', where: 'x' }]).maxFiles).toBe(4);
    expect(parseLogOpts(['max-size=-1']).maxSize).toBe(0);
    expect(parseLogOpts(['max-size=1g', 'labels=a,b']).raw).toEqual({ 'max-size': '1g', 'max-file': '5', labels: 'a,b' });
    expect(splitLogOpt('max-size=1k,labels=a,b,max-file=2')).toEqual(['max-size=1k', 'labels=a,b', 'max-file=2']);
  });

  it('bad values name the option and where it came from', () => {
    for (const [opts, re] of [
      [['max-size=abc'], /^invalid --log-opt "max-size=abc": max-size must be/],
      [['max-size=0'], /max-size must be/],
      [['max-file=0'], /^invalid --log-opt "max-file=0": max-file must be/],
      [['max-file=1001'], /from 1 to 1000/],
      [['max-size=1k,max-file=x'], /"max-file=x"/],
      [['colour=blue'], /unknown option "colour"/],
      [['max-size'], /KEY=VALUE/],
    ] as const) {
      expect(() => parseLogOpts([...opts])).toThrow(CtrError);
      expect(() => parseLogOpts([...opts])).toThrow(re);
    }
    expect(() => parseLogOpts([], [{ key: 'max-file', value: 0, where: 'max-file 0 in "log-opts" of /c.conf' }])).toThrow(/^invalid max-file 0 in "log-opts" of \/c\.conf: max-file must be/);
    expect(() => parseLogOpts([], [{ key: 'max-size', value: true, where: 'F' }])).toThrow(/max-size must be/);
  });
});
