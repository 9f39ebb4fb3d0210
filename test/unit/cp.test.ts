// The path rules of `ctr cp` (Docker's): argument splitting, container paths, top-entry names,
// where a copy lands, and the host-side source/destination resolution.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  assertsDirectory,
  containerPath,
  copyBaseName,
  hostDest,
  hostSource,
  parseCpArg,
  planCopy,
  writesReadOnlyRoot,
} from '../../src/container/cp';
import { CtrError } from '../../src/util/errors';

describe('cp arguments', () => {
  it('splits CONTAINER:PATH like Docker; absolute and ./ paths are local', () => {
    expect(parseCpArg('web:/etc/passwd')).toEqual({ container: 'web', path: '/etc/passwd' });
    expect(parseCpArg('web:tmp/x')).toEqual({ container: 'web', path: 'tmp/x' });
    expect(parseCpArg('web:')).toEqual({ container: 'web', path: '' });
    expect(parseCpArg('/abs/with:colon')).toEqual({ path: '/abs/with:colon' });
    expect(parseCpArg('./rel:colon')).toEqual({ path: './rel:colon' });
    expect(parseCpArg('plain')).toEqual({ path: 'plain' });
    expect(parseCpArg(':x')).toEqual({ path: ':x' });
    expect(parseCpArg('-')).toEqual({ path: '-' });
  });

  it('makes container paths absolute, cleans .. at the root, keeps a trailing / or /.', () => {
    expect(containerPath('tmp/foo')).toBe('/tmp/foo');
    expect(containerPath('/tmp/foo/')).toBe('/tmp/foo/');
    expect(containerPath('/tmp/foo/.')).toBe('/tmp/foo/.');
    expect(containerPath('../../../etc/passwd')).toBe('/etc/passwd');
    expect(containerPath('/a/../../b')).toBe('/b');
    expect(containerPath('/')).toBe('/');
    expect(containerPath('.')).toBe('/.');
    expect(containerPath('')).toBe('/');
  });

  it('names the top entry after the last component, "." for the contents form', () => {
    expect(copyBaseName('/tmp/foo')).toBe('foo');
    expect(copyBaseName('/tmp/foo/')).toBe('foo');
    expect(copyBaseName('/tmp/foo/.')).toBe('.');
    expect(copyBaseName('/')).toBe('.');
    expect(assertsDirectory('/x/')).toBe(true);
    expect(assertsDirectory('/x/.')).toBe(true);
    expect(assertsDirectory('/x')).toBe(false);
  });
});

describe('where a copy lands (planCopy)', () => {
  const dir = { path: '/dst', exists: true, isDir: true };
  const file = { path: '/dst/f', exists: true, isDir: false };
  const none = { path: '/dst/new', exists: false, isDir: false };
  it('into an existing directory under the source name (contents with ".")', () => {
    expect(planCopy(false, 'a.txt', dir, false)).toEqual({ dir: '/dst', name: 'a.txt' });
    expect(planCopy(true, 'src', dir, false)).toEqual({ dir: '/dst', name: 'src' });
    expect(planCopy(true, '.', dir, true)).toEqual({ dir: '/dst', name: '.' });
    expect(planCopy(true, '.', { path: '/', exists: true, isDir: true }, false)).toEqual({ dir: '/', name: '.' });
  });
  it('a file over an existing file takes its name; a directory over a file is refused', () => {
    expect(planCopy(false, 'a.txt', file, false)).toEqual({ dir: '/dst', name: 'f' });
    expect(planCopy(true, 'src', file, false)).toEqual({ error: 'dir-onto-file' });
  });
  it('a missing destination is created under its own name, unless it ends with / for a file', () => {
    expect(planCopy(false, 'a.txt', none, false)).toEqual({ dir: '/dst', name: 'new' });
    expect(planCopy(true, 'src', none, false)).toEqual({ dir: '/dst', name: 'new' });
    expect(planCopy(true, '.', none, true)).toEqual({ dir: '/dst', name: 'new' });
    expect(planCopy(false, 'a.txt', none, true)).toEqual({ error: 'dest-dir-missing' });
  });
});

describe('host side', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctr-cp-unit-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  fs.mkdirSync(path.join(tmp, 'dir/sub'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'dir/file'), 'x');
  fs.symlinkSync('dir', path.join(tmp, 'dirlink'));
  fs.symlinkSync('dir/file', path.join(tmp, 'filelink'));
  fs.symlinkSync('nowhere/x', path.join(tmp, 'dangling'));

  it('a source symlink is copied as itself, followed with -L (keeping its name) or a trailing /', () => {
    expect(hostSource(path.join(tmp, 'filelink'), false)).toEqual({ path: path.join(tmp, 'filelink'), isDir: false, name: 'filelink' });
    expect(hostSource(path.join(tmp, 'filelink'), true)).toEqual({ path: path.join(tmp, 'dir/file'), isDir: false, name: 'filelink' });
    expect(hostSource(path.join(tmp, 'dirlink/'), false)).toMatchObject({ path: path.join(tmp, 'dir'), isDir: true, name: 'dirlink' });
    expect(hostSource(`${tmp}/dirlink/.`, false)).toMatchObject({ path: path.join(tmp, 'dir') + '/.', isDir: true, name: '.' });
    expect(hostSource(path.join(tmp, 'dirlink/file'), false)).toMatchObject({ path: path.join(tmp, 'dir/file'), isDir: false });
  });

  it('a missing source or a file named as a directory is refused with exit 1', () => {
    for (const p of ['nope', 'dir/file/']) {
      let err: unknown;
      try {
        hostSource(path.join(tmp, p), false);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CtrError);
      expect((err as CtrError).exitCode).toBe(1);
    }
  });

  it('a destination symlink is followed, even dangling; a missing parent is refused', () => {
    expect(hostDest(path.join(tmp, 'dirlink'))).toEqual({ path: path.join(tmp, 'dir'), exists: true, isDir: true });
    expect(hostDest(path.join(tmp, 'filelink'))).toEqual({ path: path.join(tmp, 'dir/file'), exists: true, isDir: false });
    expect(hostDest(path.join(tmp, 'new'))).toEqual({ path: path.join(tmp, 'new'), exists: false, isDir: false });
    expect(() => hostDest(path.join(tmp, 'dangling'))).toThrow(/does not exist/);
    expect(() => hostDest(path.join(tmp, 'dir/file/x'))).toThrow(/not a directory/);
  });
});

describe('read-only root file system', () => {
  it('refuses writes to the root, allows writable volumes under it', () => {
    const hc = { ReadonlyRootfs: true, Binds: ['/h/data:/data', '/h/ro:/ro:ro'] };
    expect(writesReadOnlyRoot(hc, '/etc/')).toBe(true);
    expect(writesReadOnlyRoot(hc, '/data')).toBe(false);
    expect(writesReadOnlyRoot(hc, '/data/sub/x')).toBe(false);
    expect(writesReadOnlyRoot(hc, '/database')).toBe(true);
    expect(writesReadOnlyRoot(hc, '/ro/x')).toBe(true);
    expect(writesReadOnlyRoot({ ReadonlyRootfs: false }, '/etc')).toBe(false);
  });
});
