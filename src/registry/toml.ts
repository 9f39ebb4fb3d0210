/**
 * A TOML subset, enough for containers' registries.conf: comments, bare/quoted/dotted keys,
 * basic and literal strings (single line), booleans, integers, floats, arrays (multi-line,
 * trailing comma), inline tables, [tables] and [[arrays of tables]]. Errors name the line.
 */
export class TomlError extends Error {}

type Table = Record<string, unknown>;

export function parseToml(text: string): Table {
  const root: Table = {};
  let cur: Table = root;
  let pos = 0;
  let line = 1;
  const fail = (msg: string): never => {
    throw new TomlError(`line ${line}: ${msg}`);
  };
  const peek = () => text[pos];
  const skipWs = () => {
    while (pos < text.length && (text[pos] === ' ' || text[pos] === '\t')) pos++;
  };
  const skipComment = () => {
    if (text[pos] === '#') while (pos < text.length && text[pos] !== '\n') pos++;
  };
  // whitespace, newlines and comments (inside arrays)
  const skipAll = () => {
    for (;;) {
      skipWs();
      skipComment();
      if (text[pos] === '\n') {
        pos++;
        line++;
      } else if (text[pos] === '\r' && text[pos + 1] === '\n') {
        pos += 2;
        line++;
      } else return;
    }
  };
  const endOfLine = () => {
    skipWs();
    skipComment();
    if (pos >= text.length) return;
    if (text[pos] === '\r') pos++;
    if (text[pos] !== '\n') fail(`unexpected "${text[pos]}"`);
    pos++;
    line++;
  };
  const basicString = (): string => {
    pos++; // "
    let s = '';
    for (;;) {
      const c = text[pos];
      if (c === undefined || c === '\n') fail('unterminated string');
      pos++;
      if (c === '"') return s;
      if (c !== '\\') {
        s += c;
        continue;
      }
      const e = text[pos++];
      const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', b: '\b', f: '\f' };
      if (e !== undefined && map[e] !== undefined) s += map[e];
      else if (e === 'u' || e === 'U') {
        const n = e === 'u' ? 4 : 8;
        const hex = text.slice(pos, pos + n);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) fail('bad unicode escape');
        s += String.fromCodePoint(parseInt(hex, 16));
        pos += n;
      } else fail(`bad escape "\\${e}"`);
    }
  };
  const literalString = (): string => {
    pos++;
    const end = text.indexOf("'", pos);
    const nl = text.indexOf('\n', pos);
    if (end < 0 || (nl >= 0 && nl < end)) fail('unterminated string');
    const s = text.slice(pos, end);
    pos = end + 1;
    return s;
  };
  const key = (): string => {
    skipWs();
    const c = peek();
    if (c === '"') return basicString();
    if (c === "'") return literalString();
    const m = /^[A-Za-z0-9_-]+/.exec(text.slice(pos, pos + 256));
    if (!m) fail(`expected a key, found "${c ?? 'end of file'}"`);
    pos += m![0].length;
    return m![0];
  };
  const dottedKey = (): string[] => {
    const parts = [key()];
    for (;;) {
      skipWs();
      if (peek() !== '.') return parts;
      pos++;
      parts.push(key());
    }
  };
  const value = (): unknown => {
    skipWs();
    const c = peek();
    if (c === '"') {
      if (text.startsWith('"""', pos)) fail('multi-line strings are not supported');
      return basicString();
    }
    if (c === "'") return literalString();
    if (c === '[') {
      pos++;
      const arr: unknown[] = [];
      for (;;) {
        skipAll();
        if (peek() === ']') {
          pos++;
          return arr;
        }
        arr.push(value());
        skipAll();
        if (peek() === ',') pos++;
        else if (peek() !== ']') fail('expected "," or "]" in array');
      }
    }
    if (c === '{') {
      pos++;
      const t: Table = {};
      skipWs();
      if (peek() === '}') {
        pos++;
        return t;
      }
      for (;;) {
        const k = dottedKey();
        skipWs();
        if (peek() !== '=') fail('expected "=" in inline table');
        pos++;
        setPath(t, k, value());
        skipWs();
        if (peek() === ',') pos++;
        else if (peek() === '}') {
          pos++;
          return t;
        } else fail('expected "," or "}" in inline table');
      }
    }
    const m = /^[^\s,\]}#]+/.exec(text.slice(pos, pos + 256));
    if (!m) fail('expected a value');
    const w = m![0];
    pos += w.length;
    if (w === 'true') return true;
    if (w === 'false') return false;
    const num = w.replace(/_/g, '');
    if (/^[+-]?\d+$/.test(num)) return parseInt(num, 10);
    if (/^[+-]?(\d+\.\d+([eE][+-]?\d+)?|\d+[eE][+-]?\d+)$/.test(num)) return parseFloat(num);
    if (/^0x[0-9a-fA-F]+$/.test(num)) return parseInt(num.slice(2), 16);
    return fail(`invalid value "${w}" (strings need quotes)`);
  };
  const setPath = (t: Table, k: string[], v: unknown) => {
    let o = t;
    for (const part of k.slice(0, -1)) {
      const next = o[part];
      if (next === undefined) o = o[part] = {} as Table;
      else if (typeof next === 'object' && !Array.isArray(next)) o = next as Table;
      else fail(`key "${k.join('.')}" is not a table`);
    }
    const last = k[k.length - 1]!;
    if (last in o) fail(`duplicate key "${k.join('.')}"`);
    o[last] = v;
  };
  // walks to the table named by a header, descending into the last element of arrays of tables
  const walk = (k: string[]): Table => {
    let o = root;
    for (const part of k) {
      let next = o[part];
      if (next === undefined) next = o[part] = {} as Table;
      if (Array.isArray(next)) {
        const lastEl = next[next.length - 1];
        if (typeof lastEl !== 'object' || lastEl === null) fail(`"${part}" is not a table`);
        o = lastEl as Table;
      } else if (typeof next === 'object' && next !== null) o = next as Table;
      else fail(`"${part}" is not a table`);
    }
    return o;
  };

  while (pos < text.length) {
    skipAll();
    if (pos >= text.length) break;
    if (peek() === '[') {
      const arrayTable = text[pos + 1] === '[';
      pos += arrayTable ? 2 : 1;
      const k = dottedKey();
      skipWs();
      if (text.slice(pos, pos + (arrayTable ? 2 : 1)) !== (arrayTable ? ']]' : ']')) fail('unterminated table header');
      pos += arrayTable ? 2 : 1;
      if (arrayTable) {
        const parent = walk(k.slice(0, -1));
        const last = k[k.length - 1]!;
        const existing = parent[last];
        if (existing === undefined) parent[last] = [];
        else if (!Array.isArray(existing)) fail(`"${k.join('.')}" is not an array of tables`);
        const t: Table = {};
        (parent[last] as unknown[]).push(t);
        cur = t;
      } else {
        cur = walk(k);
      }
      endOfLine();
      continue;
    }
    const k = dottedKey();
    skipWs();
    if (peek() !== '=') fail(`expected "=" after key "${k.join('.')}"`);
    pos++;
    const v = value();
    setPath(cur, k, v);
    endOfLine();
  }
  return root;
}
