// src/state/dirs.ts: which directories ctr accepts as its own (run as root here: other owners
// are made with chown; the rootless and two-user cases are in test/e2e/runtime-dir.test.ts
// and test/e2e/hostile-user.root.test.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkPrivateDirIfPresent, ensurePrivateDir, type PrivateDir } from '../../src/state/dirs';

const me = process.geteuid!();
const OTHER = me === 0 ? 4242 : undefined;
let base = '';
const spec = (dir: string): PrivateDir => ({ dir, what: 'runtime directory', fix: 'set XDG_RUNTIME_DIR to a directory of yours' });

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'cdirs-'));
});
afterEach(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

describe('ensurePrivateDir', () => {
  it('makes a missing directory and its missing parents 0700', () => {
    const d = path.join(base, 'a', 'b', 'ctr');
    ensurePrivateDir(spec(d));
    for (const p of [path.join(base, 'a'), path.join(base, 'a', 'b'), d]) {
      const st = fs.lstatSync(p);
      expect(st.isDirectory()).toBe(true);
      expect(st.mode & 0o777).toBe(0o700);
      expect(st.uid).toBe(me);
    }
  });

  it('accepts an existing private directory, and its 0755 variant (nobody else can write)', () => {
    const d = path.join(base, 'ok');
    fs.mkdirSync(d, { mode: 0o755 });
    expect(() => ensurePrivateDir(spec(d))).not.toThrow();
  });

  it('refuses a directory that others can write, naming it and the fix', () => {
    const d = path.join(base, 'open');
    fs.mkdirSync(d);
    fs.chmodSync(d, 0o777);
    expect(() => ensurePrivateDir(spec(d))).toThrow(
      `runtime directory ${d} can be written by every user (mode 0777): refusing to use it (make it private with chmod 700 ${d}, after checking what is in it, or remove it); set XDG_RUNTIME_DIR to a directory of yours`,
    );
    const g = path.join(base, 'group');
    fs.mkdirSync(g);
    fs.chmodSync(g, 0o770);
    expect(() => ensurePrivateDir(spec(g))).toThrow(/can be written by its group \(mode 0770\)/);
  });

  it('refuses a file where the directory should be', () => {
    const d = path.join(base, 'file');
    fs.writeFileSync(d, '');
    expect(() => ensurePrivateDir(spec(d))).toThrow(`runtime directory ${d} is not a directory`);
  });

  it.skipIf(OTHER === undefined)("refuses another user's directory and a link another user made; follows the user's own link", () => {
    const theirs = path.join(base, 'theirs');
    fs.mkdirSync(theirs, { mode: 0o700 });
    fs.chownSync(theirs, OTHER!, OTHER!);
    expect(() => ensurePrivateDir(spec(theirs))).toThrow(new RegExp(`^runtime directory ${theirs} belongs to (\\S+ \\()?uid ${OTHER}\\)?, not to you: refusing to use it \\(permission denied\\)`));

    const mine = path.join(base, 'mine');
    fs.mkdirSync(mine, { mode: 0o700 });
    const planted = path.join(base, 'planted');
    fs.symlinkSync(mine, planted);
    fs.lchownSync(planted, OTHER!, OTHER!);
    expect(() => ensurePrivateDir(spec(planted))).toThrow(/is a symbolic link made by .*uid 4242.*refusing to follow it/);

    const own = path.join(base, 'own');
    fs.symlinkSync(mine, own);
    expect(() => ensurePrivateDir(spec(own))).not.toThrow();
    const toTheirs = path.join(base, 'to-theirs');
    fs.symlinkSync(theirs, toTheirs);
    expect(() => ensurePrivateDir(spec(toTheirs))).toThrow(/is a symbolic link to a directory that belongs to/);
  });

  it.skipIf(OTHER === undefined)("refuses a directory under another user's parent, and makes nothing there", () => {
    const parent = path.join(base, 'xdg');
    fs.mkdirSync(parent, { mode: 0o777 });
    fs.chmodSync(parent, 0o777);
    fs.chownSync(parent, OTHER!, OTHER!);
    const d = path.join(parent, 'ctr');
    expect(() => ensurePrivateDir({ ...spec(d), parentName: 'XDG_RUNTIME_DIR' })).toThrow(
      new RegExp(`^runtime directory ${d} is unsafe: XDG_RUNTIME_DIR \\(${parent}\\) belongs to .*uid ${OTHER}.*not to you or root`),
    );
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('a world-writable parent must be sticky (as /tmp is)', () => {
    const loose = path.join(base, 'loose');
    fs.mkdirSync(loose);
    fs.chmodSync(loose, 0o777);
    expect(() => ensurePrivateDir(spec(path.join(loose, 'ctr')))).toThrow(/every user can write in its parent .*loose \(mode 0777, not sticky\)/);
    const sticky = path.join(base, 'sticky');
    fs.mkdirSync(sticky);
    fs.chmodSync(sticky, 0o1777);
    expect(() => ensurePrivateDir(spec(path.join(sticky, 'ctr')))).not.toThrow();
  });

  it('a parent that cannot be written: one line saying what could not be made', () => {
    if (me === 0) return; // root writes anywhere
    const ro = path.join(base, 'ro');
    fs.mkdirSync(ro, { mode: 0o500 });
    expect(() => ensurePrivateDir(spec(path.join(ro, 'x', 'ctr')))).toThrow(`cannot create runtime directory ${ro}/x/ctr (making ${ro}/x): permission denied`);
  });
});

describe('checkPrivateDirIfPresent', () => {
  it('makes nothing: false for a missing directory, the same checks for one that is there', () => {
    const d = path.join(base, 'creds');
    expect(checkPrivateDirIfPresent(spec(d))).toBe(false);
    expect(fs.existsSync(d)).toBe(false);
    fs.mkdirSync(d);
    fs.chmodSync(d, 0o777);
    expect(() => checkPrivateDirIfPresent(spec(d))).toThrow(/can be written by every user/);
  });
});
