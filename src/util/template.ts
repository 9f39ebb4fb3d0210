import { CtrError } from './errors';

/**
 * A small subset of Go's text/template, as `--format` uses it in Docker and Podman:
 * `{{.Field}}`, `{{.A.B}}`, `{{json .}}`, `{{json .Field}}`, `{{index .Labels "k"}}`,
 * `{{upper .X}}`, `{{lower .X}}`, `{{join .List ","}}`, `\t` and `\n` escapes, and the
 * `table` prefix (adds a header line and aligns columns).
 */
export type Row = Record<string, unknown>;

function lookup(row: unknown, pathText: string): unknown {
  if (pathText === '.') return row;
  let v: unknown = row;
  for (const part of pathText.replace(/^\./, '').split('.')) {
    if (v === null || v === undefined || typeof v !== 'object') return undefined;
    const obj = v as Record<string, unknown>;
    if (part in obj) v = obj[part];
    else {
      const key = Object.keys(obj).find((k) => k.toLowerCase() === part.toLowerCase());
      v = key === undefined ? undefined : obj[key];
    }
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    return `map[${entries.map(([k, x]) => `${k}:${show(x)}`).join(' ')}]`;
  }
  return String(v);
}

function tokenize(expr: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(expr))) out.push(m[1] !== undefined ? JSON.stringify(JSON.parse(`"${m[1]}"`)) : m[2]!);
  return out;
}

function evalArg(tok: string, row: unknown): unknown {
  if (tok.startsWith('"')) return JSON.parse(tok);
  if (tok.startsWith('.')) return lookup(row, tok);
  if (/^-?[0-9]+$/.test(tok)) return Number(tok);
  throw new CtrError(`template: unknown value "${tok}"`);
}

function evalExpr(expr: string, row: unknown): string {
  const toks = tokenize(expr.trim());
  if (toks.length === 0) throw new CtrError('template: empty action {{}}');
  const [fn, ...rest] = toks as [string, ...string[]];
  if (fn.startsWith('.') || fn.startsWith('"')) {
    if (rest.length) throw new CtrError(`template: unexpected "${rest[0]}" in {{${expr}}}`);
    return show(evalArg(fn, row));
  }
  const args = rest.map((t) => evalArg(t, row));
  switch (fn) {
    case 'json':
      return JSON.stringify(args[0] ?? null);
    case 'upper':
      return show(args[0]).toUpperCase();
    case 'lower':
      return show(args[0]).toLowerCase();
    case 'title':
      return show(args[0]).replace(/\b\w/g, (c) => c.toUpperCase());
    case 'join':
      return Array.isArray(args[0]) ? (args[0] as unknown[]).map(show).join(String(args[1] ?? ' ')) : show(args[0]);
    case 'index': {
      const o = args[0] as Record<string, unknown> | unknown[] | undefined;
      const v = o === undefined || o === null ? undefined : (o as Record<string, unknown>)[String(args[1])];
      return v === undefined ? '' : show(v);
    }
    case 'len': {
      const o = args[0];
      return String(Array.isArray(o) || typeof o === 'string' ? o.length : o && typeof o === 'object' ? Object.keys(o).length : 0);
    }
    case 'truncate':
      return show(args[0]).slice(0, Number(args[1]));
    case 'println':
      return args.map(show).join(' ') + '\n';
    default:
      throw new CtrError(`template: function "${fn}" not defined`);
  }
}

/** Renders one row with a Go-style template (without the table prefix). */
export function renderTemplate(tpl: string, row: unknown): string {
  const text = tpl.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  let out = '';
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, open);
    const close = text.indexOf('}}', open);
    if (close < 0) throw new CtrError(`template: unclosed action in "${tpl}"`);
    let expr = text.slice(open + 2, close);
    let trimAfter = false;
    if (expr.startsWith('-')) {
      out = out.replace(/\s+$/, '');
      expr = expr.slice(1);
    }
    if (expr.endsWith('-')) {
      trimAfter = true;
      expr = expr.slice(0, -1);
    }
    out += evalExpr(expr, row);
    i = close + 2;
    if (trimAfter) while (i < text.length && /\s/.test(text[i]!)) i++;
  }
  return out;
}

/** Aligns tab-separated cells into columns three spaces apart, as Docker's tables. */
export function alignColumns(lines: string[][]): string {
  const widths: number[] = [];
  for (const l of lines) l.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return lines.map((l) => l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd() + '\n').join('');
}

/**
 * Prints rows for `--format`: undefined/"table" → the default table; "json" → a JSON array
 * of the rows' json form; "table TPL" → header + aligned rows; otherwise TPL per row.
 * `headers` maps field names to column titles (Docker's: ID → CONTAINER ID...).
 */
export function formatRows(
  format: string | undefined,
  rows: Row[],
  defaultTable: string,
  headers: Record<string, string>,
  json: (r: Row) => unknown = (r) => r,
): string {
  const f = format ?? 'table';
  if (f === 'json') return JSON.stringify(rows.map(json), null, 2) + '\n';
  let tpl = f;
  let table = false;
  if (f === 'table') {
    tpl = defaultTable;
    table = true;
  } else if (f.startsWith('table ')) {
    tpl = f.slice(6);
    table = true;
  }
  if (!table) return rows.map((r) => renderTemplate(tpl, r) + '\n').join('');
  const headerRow = renderTemplate(tpl.replace(/{{\s*\.?([A-Za-z]+)\s*}}/g, (_m, k: string) => headers[k] ?? k.toUpperCase()), {});
  const lines = [headerRow, ...rows.map((r) => renderTemplate(tpl, r))].map((l) => l.split('\t'));
  return alignColumns(lines);
}

/** Docker's human durations: "3 seconds", "About a minute", "2 hours". */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  const d = Math.round(s / 86400);
  if (d < 14) return `${d} days`;
  if (d < 60) return `${Math.round(d / 7)} weeks`;
  if (d < 730) return `${Math.round(d / 30)} months`;
  return `${Math.round(d / 365)} years`;
}

/** Docker's sizes: "1.23MB" (decimal units). */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0).replace(/\.0+$/, '')}${units[i]}`;
}
