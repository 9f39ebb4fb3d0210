import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readJsonObjectFile } from '../../src/util/jsonfile';
import { CtrError } from '../../src/util/errors';

describe('readJsonObjectFile', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jsonfile-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const put = (name: string, text: string): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  const read = (f: string) => readJsonObjectFile<Record<string, unknown>>(f, 'test file', 'fix it');

  it('an object is returned; a missing file (or one below a non-directory) is undefined; a blank one {}', () => {
    expect(read(put('ok.json', '{"a":{"b":1}}'))).toEqual({ a: { b: 1 } });
    expect(read(path.join(dir, 'missing.json'))).toBeUndefined();
    expect(read(path.join(dir, 'ok.json', 'below'))).toBeUndefined();
    expect(read(put('blank.json', ' \n\t\n'))).toEqual({});
  });

  it('bad content names the file, the problem and the way out', () => {
    const bad = put('bad.json', '{"a":');
    expect(() => read(bad)).toThrow(CtrError);
    expect(() => read(bad)).toThrow(new RegExp(`^test file ${bad} is not valid JSON \\(.+\\): fix it$`));
    for (const text of ['[1,2]', '"s"', '3', 'null']) {
      const f = put('notobj.json', text);
      expect(() => read(f)).toThrow(`test file ${f} is not valid JSON (not an object): fix it`);
    }
  });

  it('a file that cannot be read is an error, not a missing file', () => {
    expect(() => read(dir)).toThrow(new RegExp(`^cannot read test file ${dir}: .*EISDIR`));
  });
});
