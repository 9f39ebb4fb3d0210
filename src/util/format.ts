/**
 * Output formatting shared by every listing command: a small Go-template subset for
 * `--format`, `table` output aligned like Go's tabwriter, and Docker's human sizes/durations.
 *
 * Template subset: text and {{ACTION}} with `{{-`/`-}}` trimming; pipelines of
 *   .  .Field  .A.B  "string"  123  $ (the root)  and functions:
 *   json, upper, lower, title, join LIST SEP, index X KEY..., len, truncate S N, printf FMT ARGS...,
 *   println, print, split S SEP, contains S SUB, eq/ne A B, not, and, or, pad S N
 *   with `|` chaining; {{if PIPE}}..{{else if PIPE}}..{{else}}..{{end}}, {{range PIPE}}..{{else}}..{{end}},
 *   {{with PIPE}}..{{end}}.
 * Values print like Go's fmt %v: lists as [a b], maps as map[k:v] (keys sorted), null as <no value>.
 * `\t` and `\n` typed literally in a format are turned into tab and newline, as Docker does.
 */
import { CtrError } from './errors';

// ---------------------------------------------------------------- human units

const SIZE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** Podman's human size: 3 significant digits, decimal units, a space: "4.26 MB", "0 B", "842 B". */
export function humanSize(bytes: number): string {
  let v = Math.max(0, bytes);
  let i = 0;
  while (v >= 1000 && i < SIZE_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  let s = v === 0 ? '0' : String(Number(v.toPrecision(3)));
  if (Number(s) >= 1000 && i < SIZE_UNITS.length - 1) {
    i++;
    s = String(Number((v / 1000).toPrecision(3)));
  }
  return `${s} ${SIZE_UNITS[i]}`;
}

/** Docker's HumanDuration: "Less than a second", "5 seconds", "About a minute", "3 weeks"... */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(ms / 60000);
  const hours = Math.round(ms / 3600000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3600000 / 24 / 365)} years`;
}

/** "2 weeks ago" from a date (string or ms). Unknown dates print as "". */
export function timeAgo(when: string | number | undefined, now = Date.now()): string {
  if (when === undefined || when === '') return '';
  const t = typeof when === 'number' ? when : Date.parse(when);
  if (!Number.isFinite(t) || t <= 0) return '';
  return `${humanDuration(Math.max(0, now - t))} ago`;
}

/** Go's time.Time String() shape used by Docker/Podman: "2024-01-02 03:04:05 +0000 UTC". */
export function goTime(when: string | number | undefined): string {
  if (when === undefined || when === '') return '';
  const d = new Date(typeof when === 'number' ? when : Date.parse(when));
  if (Number.isNaN(d.getTime())) return String(when);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}

// ---------------------------------------------------------------- value printing

export function goString(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return goTime(v.getTime());
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v as object).sort();
    return `map[${keys.map((k) => `${k}:${goString((v as Record<string, unknown>)[k])}`).join(' ')}]`;
  }
  return String(v);
}

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

// ---------------------------------------------------------------- parsing

type Node =
  | { k: 'text'; s: string }
  | { k: 'action'; pipe: Pipe }
  | { k: 'if'; branches: { pipe: Pipe; body: Node[] }[]; else?: Node[] }
  | { k: 'range'; pipe: Pipe; body: Node[]; else?: Node[] }
  | { k: 'with'; pipe: Pipe; body: Node[]; else?: Node[] };

type Arg = { t: 'field'; path: string[]; root: boolean } | { t: 'str'; v: string } | { t: 'num'; v: number } | { t: 'fn'; name: string } | { t: 'sub'; pipe: Pipe };
type Cmd = Arg[];
type Pipe = Cmd[];

export class TemplateError extends CtrError {
  constructor(msg: string) {
    super(`invalid format: ${msg}`, 125);
  }
}

function tokenize(src: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === '`') {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (c === '"' && src[j] === '\\' && j + 1 < src.length) {
          const n = src[j + 1]!;
          s += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          j += 2;
        } else s += src[j++];
      }
      if (j >= src.length) throw new TemplateError(`unterminated string in "${src}"`);
      out.push('"' + s);
      i = j + 1;
      continue;
    }
    if (c === '|' || c === '(' || c === ')') {
      out.push(c);
      i++;
      continue;
    }
    let j = i;
    while (j < src.length && !/[\s|()"]/.test(src[j]!)) j++;
    out.push(src.slice(i, j));
    i = j;
  }
  return out;
}

function parsePipe(tokens: string[], pos = { i: 0 }, stop?: string): Pipe {
  const pipe: Pipe = [];
  let cmd: Cmd = [];
  while (pos.i < tokens.length) {
    const t = tokens[pos.i++]!;
    if (t === stop) {
      break;
    }
    if (t === '|') {
      if (!cmd.length) throw new TemplateError('empty command before "|"');
      pipe.push(cmd);
      cmd = [];
      continue;
    }
    if (t === '(') {
      cmd.push({ t: 'sub', pipe: parsePipe(tokens, pos, ')') });
      continue;
    }
    if (t.startsWith('"')) cmd.push({ t: 'str', v: t.slice(1) });
    else if (/^-?\d+(\.\d+)?$/.test(t)) cmd.push({ t: 'num', v: Number(t) });
    else if (t === '.') cmd.push({ t: 'field', path: [], root: false });
    else if (t.startsWith('.')) cmd.push({ t: 'field', path: t.slice(1).split('.'), root: false });
    else if (t === '$') cmd.push({ t: 'field', path: [], root: true });
    else if (t.startsWith('$.')) cmd.push({ t: 'field', path: t.slice(2).split('.'), root: true });
    else if (/^[A-Za-z_]\w*$/.test(t)) cmd.push({ t: 'fn', name: t });
    else throw new TemplateError(`unexpected "${t}"`);
  }
  if (cmd.length) pipe.push(cmd);
  if (!pipe.length) throw new TemplateError('empty action {{}}');
  return pipe;
}

function parseTemplate(tpl: string): Node[] {
  // split into text and actions, honouring {{- and -}}
  const parts: ({ text: string } | { action: string })[] = [];
  let i = 0;
  while (i < tpl.length) {
    const open = tpl.indexOf('{{', i);
    if (open === -1) {
      parts.push({ text: tpl.slice(i) });
      break;
    }
    let text = tpl.slice(i, open);
    let start = open + 2;
    if (tpl[start] === '-' && /\s/.test(tpl[start + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      start++;
    }
    parts.push({ text });
    const close = tpl.indexOf('}}', start);
    if (close === -1) throw new TemplateError(`unclosed action in "${tpl}"`);
    let body = tpl.slice(start, close);
    let next = close + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(tpl.slice(next))!;
      next += m[0].length;
    }
    parts.push({ action: body.trim() });
    i = next;
  }
  const pos = { i: 0 };
  const nodes = parseList(parts, pos, []);
  if (pos.i < parts.length) throw new TemplateError('unexpected {{end}}');
  return nodes;
}

function parseList(parts: ({ text: string } | { action: string })[], pos: { i: number }, stops: string[]): Node[] {
  const out: Node[] = [];
  while (pos.i < parts.length) {
    const p = parts[pos.i]!;
    if ('text' in p) {
      if (p.text) out.push({ k: 'text', s: p.text });
      pos.i++;
      continue;
    }
    const a = p.action;
    const word = a.split(/\s+/)[0]!;
    if (stops.includes(word)) return out;
    pos.i++;
    if (a.startsWith('/*')) continue;
    if (word === 'if' || word === 'range' || word === 'with') {
      const first = parsePipe(tokenize(a.slice(word.length)));
      const body = parseList(parts, pos, ['else', 'end']);
      if (word === 'if') {
        const node: Extract<Node, { k: 'if' }> = { k: 'if', branches: [{ pipe: first, body }] };
        for (;;) {
          const cur = parts[pos.i] as { action: string } | undefined;
          if (!cur) throw new TemplateError('missing {{end}}');
          pos.i++;
          if (cur.action === 'end') break;
          const rest = cur.action.slice(4).trim();
          if (rest.startsWith('if ')) {
            node.branches.push({ pipe: parsePipe(tokenize(rest.slice(3))), body: parseList(parts, pos, ['else', 'end']) });
          } else {
            node.else = parseList(parts, pos, ['end']);
            if (!parts[pos.i]) throw new TemplateError('missing {{end}}');
            pos.i++;
            break;
          }
        }
        out.push(node);
      } else {
        const cur = parts[pos.i] as { action: string } | undefined;
        if (!cur) throw new TemplateError('missing {{end}}');
        pos.i++;
        let elseBody: Node[] | undefined;
        if (cur.action === 'else') {
          elseBody = parseList(parts, pos, ['end']);
          if (!parts[pos.i]) throw new TemplateError('missing {{end}}');
          pos.i++;
        }
        out.push(word === 'range' ? { k: 'range', pipe: first, body, else: elseBody } : { k: 'with', pipe: first, body, else: elseBody });
      }
      continue;
    }
    if (word === 'end' || word === 'else') throw new TemplateError(`unexpected {{${a}}}`);
    out.push({ k: 'action', pipe: parsePipe(tokenize(a)) });
  }
  if (stops.length) throw new TemplateError('missing {{end}}');
  return out;
}

// ---------------------------------------------------------------- evaluation

function lookup(obj: unknown, path: string[], strictTop: boolean): unknown {
  let cur = obj;
  for (const [n, key] of path.entries()) {
    if (cur === null || cur === undefined) return undefined;
    if (typeof cur !== 'object') throw new TemplateError(`can't evaluate field ${key} in a ${typeof cur}`);
    const rec = cur as Record<string, unknown>;
    if (key in rec) {
      cur = rec[key];
      continue;
    }
    const ci = Object.keys(rec).find((k) => k.toLowerCase() === key.toLowerCase());
    if (ci !== undefined) {
      cur = rec[ci];
      continue;
    }
    if (n === 0 && strictTop) throw new TemplateError(`no field "${key}"; known fields: ${Object.keys(rec).join(', ')}`);
    return undefined;
  }
  return cur;
}

function sprintf(fmt: string, args: unknown[]): string {
  let i = 0;
  return fmt.replace(/%([-0 ]?\d*)(?:\.(\d+))?([svdqft%])/g, (_m, flags: string, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    let s: string;
    if (verb === 'q') s = JSON.stringify(goString(a));
    else if (verb === 'd') s = String(Math.trunc(Number(a)));
    else if (verb === 'f') s = Number(a).toFixed(prec ? Number(prec) : 6);
    else {
      s = goString(a);
      if (prec) s = s.slice(0, Number(prec));
    }
    const w = parseInt(flags.replace(/^[-0 ]/, ''), 10);
    if (w > 0) s = flags.startsWith('-') ? s.padEnd(w) : s.padStart(w, flags.startsWith('0') ? '0' : ' ');
    return s;
  });
}

const FUNCS: Record<string, (...a: unknown[]) => unknown> = {
  json: (v) => JSON.stringify(v === undefined ? null : v),
  upper: (v) => goString(v).toUpperCase(),
  lower: (v) => goString(v).toLowerCase(),
  title: (v) => goString(v).replace(/\b\w/g, (c) => c.toUpperCase()),
  join: (v, sep) => (Array.isArray(v) ? v.map(goString).join(goString(sep ?? ' ')) : goString(v)),
  split: (v, sep) => goString(v).split(goString(sep)),
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  index: (v, ...keys) => {
    let cur = v;
    for (const k of keys) {
      if (cur === null || cur === undefined) return undefined;
      cur = (cur as Record<string, unknown>)[String(k)];
    }
    return cur;
  },
  truncate: (v, n) => goString(v).slice(0, Number(n)),
  pad: (v, n) => goString(v).padEnd(Number(n)),
  printf: (fmt, ...args) => sprintf(goString(fmt), args),
  print: (...args) => args.map(goString).join(''),
  println: (...args) => args.map(goString).join(' ') + '\n',
  contains: (s, sub) => goString(s).includes(goString(sub)),
  eq: (a, ...bs) => bs.some((b) => a === b || goString(a) === goString(b)),
  ne: (a, b) => !(a === b || goString(a) === goString(b)),
  not: (a) => !truthy(a),
  and: (...a) => a.reduce((x, y) => (truthy(x) ? y : x)),
  or: (...a) => a.reduce((x, y) => (truthy(x) ? x : y)),
};

interface Scope {
  dot: unknown;
  root: unknown;
  strict: boolean;
}

function evalArg(a: Arg, s: Scope): unknown {
  switch (a.t) {
    case 'str':
      return a.v;
    case 'num':
      return a.v;
    case 'field':
      return lookup(a.root ? s.root : s.dot, a.path, s.strict && (a.root || s.dot === s.root));
    case 'sub':
      return evalPipe(a.pipe, s);
    case 'fn': {
      const f = FUNCS[a.name];
      if (!f) throw new TemplateError(`function "${a.name}" not defined`);
      return f();
    }
  }
}

function evalPipe(p: Pipe, s: Scope): unknown {
  let prev: unknown;
  let first = true;
  for (const cmd of p) {
    const head = cmd[0]!;
    if (head.t === 'fn') {
      const f = FUNCS[head.name];
      if (!f) throw new TemplateError(`function "${head.name}" not defined`);
      const args = cmd.slice(1).map((a) => evalArg(a, s));
      if (!first) args.push(prev);
      prev = f(...args);
    } else {
      if (cmd.length > 1) throw new TemplateError('a value cannot take arguments');
      prev = evalArg(head, s);
    }
    first = false;
  }
  return prev;
}

function run(nodes: Node[], s: Scope, out: string[]): void {
  for (const n of nodes) {
    switch (n.k) {
      case 'text':
        out.push(n.s);
        break;
      case 'action':
        out.push(goString(evalPipe(n.pipe, s)));
        break;
      case 'if': {
        let done = false;
        for (const b of n.branches) {
          if (truthy(evalPipe(b.pipe, s))) {
            run(b.body, s, out);
            done = true;
            break;
          }
        }
        if (!done && n.else) run(n.else, s, out);
        break;
      }
      case 'with': {
        const v = evalPipe(n.pipe, s);
        if (truthy(v)) run(n.body, { ...s, dot: v }, out);
        else if (n.else) run(n.else, s, out);
        break;
      }
      case 'range': {
        const v = evalPipe(n.pipe, s);
        const items = Array.isArray(v) ? v : v && typeof v === 'object' ? Object.keys(v).sort().map((k) => (v as Record<string, unknown>)[k]) : [];
        if (!items.length) {
          if (n.else) run(n.else, s, out);
        } else for (const it of items) run(n.body, { ...s, dot: it }, out);
        break;
      }
    }
  }
}

/** Turns typed `\t`, `\n` into real characters (Docker does the same for --format). */
export function unescapeFormat(f: string): string {
  return f.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}

export type Template = (row: unknown) => string;

/** Compiles a Go-template-ish string. Unknown top-level fields are errors (strict). */
export function compileTemplate(tpl: string, strict = true): Template {
  const nodes = parseTemplate(tpl);
  return (row: unknown) => {
    const out: string[] = [];
    run(nodes, { dot: row, root: row, strict }, out);
    return out.join('');
  };
}

// ---------------------------------------------------------------- tables

/** Aligns tab-separated cells like Go's tabwriter(minwidth 12, padding 2) as Podman does. */
export function alignTable(lines: string[], minWidth = 12, padding = 2): string[] {
  const rows = lines.map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const r of rows)
    for (let i = 0; i < r.length - 1; i++) widths[i] = Math.max(widths[i] ?? 0, Math.max(minWidth, [...r[i]!].length + padding));
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c + ' '.repeat(widths[i]! - [...c].length) : c)).join('').replace(/\s+$/, ''));
}

/** Header text for a field name: a caller's map first, else "CreatedAt" → "CREATED AT". */
function headerFor(field: string, headers: Record<string, string>): string {
  if (headers[field] !== undefined) return headers[field]!;
  const ci = Object.keys(headers).find((k) => k.toLowerCase() === field.toLowerCase());
  if (ci) return headers[ci]!;
  return field.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toUpperCase();
}

/** The header line of a table template: each action replaced by the header of the first field it names. */
export function tableHeader(tpl: string, headers: Record<string, string>): string {
  return tpl.replace(/\{\{-?\s*([^}]*?)\s*-?\}\}/g, (_m, body: string) => {
    if (/^(end|else|range|if|with)\b/.test(body)) return '';
    const fm = /\.([A-Za-z_][\w.]*)/.exec(body);
    if (!fm) return '';
    const path = fm[1]!.split('.');
    return headerFor(path[path.length - 1]!, headers);
  });
}

export interface FormatOptions {
  /** default template (without the "table" prefix) for the plain table */
  defaultTable: string;
  /** field → column header */
  headers?: Record<string, string>;
  /** what `--format json` prints (defaults to the rows) */
  json?: () => unknown;
  /** no header line (-q, --noheading) */
  noHeader?: boolean;
}

/**
 * Renders rows for `--format`: undefined/"table" → the default table; "json" → JSON
 * (4-space indent, as Podman); "table TEMPLATE" → aligned with headers; any other template →
 * one line per row. Returns the text to print (ends with a newline when not empty).
 */
export function renderRows(format: string | undefined, rows: unknown[], opts: FormatOptions): string {
  const headers = opts.headers ?? {};
  let f = format === undefined ? 'table' : unescapeFormat(format);
  if (f.trim() === 'json') {
    return JSON.stringify(opts.json ? opts.json() : rows, null, 4) + '\n';
  }
  let table = false;
  if (/^\s*table(\s|$)/.test(f)) {
    table = true;
    f = f.replace(/^\s*table\s?/, '');
    if (f.trim() === '') f = opts.defaultTable;
  }
  const tpl = compileTemplate(f);
  const lines = rows.map((r) => tpl(r));
  if (!table) return lines.length ? lines.join('\n') + '\n' : '';
  const all = opts.noHeader ? lines : [tableHeader(f, headers), ...lines];
  // a row template may produce several lines; align them all
  const flat = all.flatMap((l) => l.split('\n'));
  const aligned = alignTable(flat);
  return aligned.length ? aligned.join('\n') + '\n' : '';
}

/** Renders one object with a template (inspect --format): "json" prints it as JSON. */
export function renderOne(format: string, value: unknown): string {
  const f = unescapeFormat(format);
  if (f.trim() === 'json') return JSON.stringify(value, null, 4);
  return compileTemplate(f)(value);
}
