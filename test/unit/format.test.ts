import { describe, expect, it } from 'vitest';
import { alignTable, compileTemplate, humanDuration, humanSize, renderRows, tableHeader, timeAgo, goString } from '../../src/util/format';

describe('humanSize (Podman style)', () => {
  const cases: [number, string][] = [
    [0, '0 B'],
    [842, '842 B'],
    [1000, '1 kB'],
    [1500, '1.5 kB'],
    [4261550, '4.26 MB'],
    [999_999, '1 MB'],
    [1_234_567_890, '1.23 GB'],
  ];
  for (const [n, s] of cases) it(`${n} -> ${s}`, () => expect(humanSize(n)).toBe(s));
});

describe('humanDuration (Docker style)', () => {
  const s = 1000;
  const cases: [number, string][] = [
    [500, 'Less than a second'],
    [1 * s, '1 second'],
    [30 * s, '30 seconds'],
    [60 * s, 'About a minute'],
    [5 * 60 * s, '5 minutes'],
    [3600 * s, 'About an hour'],
    [5 * 3600 * s, '5 hours'],
    [3 * 86400 * s, '3 days'],
    [20 * 86400 * s, '2 weeks'],
    [90 * 86400 * s, '3 months'],
    [3 * 365 * 86400 * s, '3 years'],
  ];
  for (const [ms, want] of cases) it(`${ms} ms -> ${want}`, () => expect(humanDuration(ms)).toBe(want));
  it('timeAgo', () => expect(timeAgo('2025-01-01T00:00:00Z', Date.parse('2025-01-01T00:00:05Z'))).toBe('5 seconds ago'));
});

describe('templates', () => {
  const row = { ID: 'abc', Names: ['a', 'b'], Labels: { z: '1', a: '2' }, Config: { Cmd: ['sh', '-c'], Empty: '' }, N: 3, Flag: false, Nil: null };
  const t = (tpl: string, v: unknown = row) => compileTemplate(tpl)(v);
  it('fields, nested fields, literal text', () => {
    expect(t('id={{.ID}} cmd={{.Config.Cmd}}')).toBe('id=abc cmd=[sh -c]');
    expect(t('{{.Labels}}')).toBe('map[a:2 z:1]');
    expect(t('{{ .N }}/{{.Flag}}/{{.Nil}}')).toBe('3/false/<nil>');
    expect(t('{{.Config.Missing}}')).toBe('<no value>');
  });
  it('functions and pipes', () => {
    expect(t('{{json .Config}}')).toBe('{"Cmd":["sh","-c"],"Empty":""}');
    expect(t('{{json .}}', { a: 1 })).toBe('{"a":1}');
    expect(t('{{join .Names ","}}')).toBe('a,b');
    expect(t('{{.ID | upper}}')).toBe('ABC');
    expect(t('{{index .Labels "z"}}')).toBe('1');
    expect(t('{{len .Names}}')).toBe('2');
    expect(t('{{printf "%-5s|%d" .ID .N}}')).toBe('abc  |3');
    expect(t('{{truncate .ID 2}}')).toBe('ab');
  });
  it('if / else / range / with, trimming', () => {
    expect(t('{{if .Flag}}yes{{else}}no{{end}}')).toBe('no');
    expect(t('{{if .Flag}}a{{else if .N}}b{{else}}c{{end}}')).toBe('b');
    expect(t('{{range .Names}}<{{.}}>{{end}}')).toBe('<a><b>');
    expect(t('{{range .Config.Empty}}x{{else}}none{{end}}')).toBe('none');
    expect(t('{{with .Config}}{{.Cmd}}{{end}}')).toBe('[sh -c]');
    expect(t('a  {{- .ID -}}  b')).toBe('aabcb');
  });
  it('unknown top-level fields and functions are errors', () => {
    expect(() => t('{{.Nope}}')).toThrow(/no field "Nope"/);
    expect(() => t('{{nope .ID}}')).toThrow(/function "nope" not defined/);
    expect(() => t('{{if .ID}}x')).toThrow(/missing \{\{end\}\}/);
    expect(() => t('{{.ID')).toThrow(/unclosed/);
  });
  it('field names match case-insensitively as a fallback', () => expect(t('{{.id}}')).toBe('abc'));
  it('goString', () => expect(goString([1, 'a', { b: true }])).toBe('[1 a map[b:true]]'));
});

describe('tables', () => {
  it('aligns like tabwriter(minwidth 12, padding 2)', () => {
    expect(alignTable(['REPOSITORY\tTAG\tID', 'docker.io/library/busybox\tlatest\tabc'])).toEqual([
      'REPOSITORY                 TAG         ID',
      'docker.io/library/busybox  latest      abc',
    ]);
  });
  it('headers from a map or from the field name', () => {
    expect(tableHeader('{{.ID}}\t{{.CreatedAt}}\t{{json .Labels}}', { ID: 'IMAGE ID' })).toBe('IMAGE ID\tCREATED AT\tLABELS');
  });
  it('renderRows: default table, table TEMPLATE, plain template with \\t, json', () => {
    const rows = [{ A: 'x', B: 'y' }];
    const opts = { defaultTable: '{{.A}}\t{{.B}}', headers: { A: 'COL A' } };
    expect(renderRows(undefined, rows, opts)).toBe('COL A       B\nx           y\n');
    expect(renderRows('table {{.B}}', rows, opts)).toBe('B\ny\n');
    expect(renderRows('{{.A}}\\t{{.B}}', rows, opts)).toBe('x\ty\n');
    expect(JSON.parse(renderRows('json', rows, opts))).toEqual(rows);
    expect(renderRows('{{.A}}', [], opts)).toBe('');
    expect(renderRows(undefined, rows, { ...opts, noHeader: true })).toBe('x           y\n');
  });
});
