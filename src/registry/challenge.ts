/** WWW-Authenticate parsing (RFC 7235): several challenges, quoted or bare parameter values. */
export interface Challenge {
  /** lower case: "basic", "bearer" */
  scheme: string;
  params: Record<string, string>;
}

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (Array.isArray(header)) return header.flatMap((h) => parseChallenges(h));
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const token = (): string => {
    const m = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(s.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  let cur: Challenge | undefined;
  while (i < s.length) {
    ws();
    if (s[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const t = token();
    if (!t) {
      i++;
      continue;
    }
    ws();
    if (s[i] === '=' && cur) {
      // a parameter of the current challenge (token68 values end with '=' too: handled below)
      i++;
      ws();
      let v = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          v += s[i++];
        }
        i++;
      } else {
        const m = /^[^,\s]*/.exec(s.slice(i))!;
        v = m[0];
        i += v.length;
      }
      cur.params[t.toLowerCase()] = v;
      continue;
    }
    if (s[i] === '=' && !cur) {
      i = start + t.length + 1;
      continue;
    }
    // a new challenge
    cur = { scheme: t.toLowerCase(), params: {} };
    out.push(cur);
  }
  return out;
}

/** The challenge ctr will answer: Bearer before Basic. */
export function pickChallenge(cs: Challenge[]): Challenge | undefined {
  return cs.find((c) => c.scheme === 'bearer') ?? cs.find((c) => c.scheme === 'basic');
}
