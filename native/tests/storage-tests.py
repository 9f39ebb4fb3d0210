#!/usr/bin/env python3
"""Storage tests for ctr-helper: untar (hostile and ordinary archives), tar-dir, mkrootfs, rmtree.

Run as root, or as an ordinary user: the script then re-executes itself inside the user
namespace through `ctr-helper userns-exec` (or `unshare --user --map-root-user` with
--unshare, a single-ID mapping). Every untar/mkrootfs test runs twice: with openat2
(RESOLVE_IN_ROOT) and with the component-by-component walk (CTR_HELPER_NO_OPENAT2=1).

Each test builds a work area: BASE/outside (sentinels), BASE/root (the target). A snapshot of
everything under BASE except the target, plus canaries in /etc and /tmp, is compared before
and after: nothing outside the target may change.

Options: --workdir DIR (default /var/tmp; use /dev/shm for tmpfs), --unshare, -k PATTERN.
Exit status 1 on any failure; the last line is "N passed, N failed".
"""
import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.environ.get("CTR_HELPER") or os.path.normpath(os.path.join(HERE, "..", "build", "ctr-helper"))


def arg(name, default=None):
    if name in sys.argv:
        i = sys.argv.index(name)
        return sys.argv[i + 1]
    return default


WORKDIR = arg("--workdir", "/var/tmp")
PATTERN = arg("-k")


def maybe_reexec():
    if os.geteuid() == 0 or os.environ.get("CTR_STORAGE_TEST_INNER"):
        return
    env = dict(os.environ, CTR_STORAGE_TEST_INNER="1")
    if "--unshare" in sys.argv:
        cmd = ["unshare", "--user", "--map-root-user", sys.executable] + sys.argv
    else:
        cmd = [HELPER, "userns-exec", "--", sys.executable] + sys.argv
    os.execvpe(cmd[0], cmd, env)


maybe_reexec()


def read_map(path):
    rows = []
    for line in open(path):
        a, b, n = (int(x) for x in line.split())
        rows.append((a, b, n))
    return rows


UIDMAP = read_map("/proc/self/uid_map")
REAL_ROOT = UIDMAP == [(0, 0, 4294967295)]


def id_mapped(i):
    return any(a <= i < a + n for a, b, n in UIDMAP)


MULTI = id_mapped(1000) and id_mapped(2000)
MODE = "root" if REAL_ROOT else ("userns" if MULTI else "userns-single-id")
OPAQUE = "trusted.overlay.opaque" if REAL_ROOT else "user.overlay.opaque"
UNTAR_FLAGS = [] if REAL_ROOT else ["--rootless-xattrs"]

# ---------------------------------------------------------------- raw tar writer


def octal(v, n):
    return (("%0" + str(n - 1) + "o") % v).encode() + b"\0"


def b256(v, n):
    if v < 0:
        v = (1 << (8 * n)) + v
        b = v.to_bytes(n, "big")
        return bytes([b[0] | 0x80]) + b[1:]
    return bytes([0x80]) + v.to_bytes(n - 1, "big")


def hdr(name, typ=b"0", size=0, mode=0o644, uid=0, gid=0, mtime=1600000000, link=b"", magic=b"ustar\x0000",
        prefix=b"", devmaj=0, devmin=0, size_field=None, uid_field=None, chksum_delta=0):
    if isinstance(name, str):
        name = name.encode()
    if isinstance(link, str):
        link = link.encode()
    assert len(name) <= 100 and len(link) <= 100
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = octal(mode, 8)
    h[108:116] = uid_field if uid_field is not None else octal(uid, 8)
    h[116:124] = octal(gid, 8)
    h[124:136] = size_field if size_field is not None else octal(size, 12)
    h[136:148] = octal(mtime, 12)
    h[156:157] = typ
    h[157:157 + len(link)] = link
    h[257:265] = magic
    h[329:337] = octal(devmaj, 8)
    h[337:345] = octal(devmin, 8)
    h[345:345 + len(prefix)] = prefix
    h[148:156] = b" " * 8
    s = sum(h) + chksum_delta
    h[148:156] = ("%06o" % s).encode() + b"\0 "
    return bytes(h)


def pad(data):
    return data + b"\0" * ((512 - len(data) % 512) % 512)


def member(name, data=b"", **kw):
    if isinstance(data, str):
        data = data.encode()
    return hdr(name, size=len(data), **kw) + pad(data)


def sym(name, target, **kw):
    return hdr(name, typ=b"2", link=target, **kw)


def hardlink(name, target, **kw):
    return hdr(name, typ=b"1", link=target, **kw)


def dirent(name, mode=0o755, **kw):
    return hdr(name, typ=b"5", mode=mode, **kw)


def pax_records(recs):
    out = b""
    for k, v in recs:
        if isinstance(k, str):
            k = k.encode()
        if isinstance(v, str):
            v = v.encode()
        body = b" " + k + b"=" + v + b"\n"
        n = len(body) + 1
        while len(str(n)) + len(body) != n:
            n = len(str(n)) + len(body)
        out += str(n).encode() + body
    return out


def pax(recs, g=False):
    data = pax_records(recs)
    return hdr(b"PaxHeaders/x", typ=b"g" if g else b"x", size=len(data)) + pad(data)


def gnu_long(kind, value):
    if isinstance(value, str):
        value = value.encode()
    value += b"\0"
    return hdr(b"././@LongLink", typ=kind, size=len(value), magic=b"ustar  \0") + pad(value)


END = b"\0" * 1024


def tarfile_bytes(fmt, members):
    """members: list of (TarInfo, data or None)"""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=fmt) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return bio.getvalue()


def ti(name, typ=tarfile.REGTYPE, size=0, mode=0o644, mtime=1600000000, link="", uid=0, gid=0, pax=None):
    t = tarfile.TarInfo(name)
    t.type = typ
    t.size = size
    t.mode = mode
    t.mtime = mtime
    t.linkname = link
    t.uid, t.gid = uid, gid
    t.uname = t.gname = ""
    if pax:
        t.pax_headers = pax
    return t


# ---------------------------------------------------------------- harness

RESULTS = {"passed": 0, "failed": 0}
RESOLVER = {"name": "openat2", "env": {}}


class Fail(Exception):
    pass


def ok(cond, msg="check failed"):
    if not cond:
        raise Fail(msg)


def helper(args, data=None, env=None):
    e = dict(os.environ)
    e.pop("CTR_HELPER_NO_OPENAT2", None)
    e.update(RESOLVER["env"])
    if env:
        e.update(env)
    p = subprocess.run([HELPER] + args, input=data, capture_output=True, env=e, timeout=300)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def xattrs_of(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    out = []
    for n in sorted(names):
        try:
            out.append((n, os.getxattr(path, n, follow_symlinks=False)))
        except OSError:
            pass
    return tuple(out)


def snapshot(path, exclude, out):
    """Every entry under path (not under the paths in the set exclude): its lstat fields,
    contents digest, link target and xattrs, into out."""
    st = os.lstat(path)
    rec = [st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_nlink, st.st_ino, st.st_rdev]
    if stat.S_ISREG(st.st_mode):
        rec.append(digest(path))
    if stat.S_ISLNK(st.st_mode):
        rec.append(os.readlink(path))
    rec.append(xattrs_of(path))
    out[path] = tuple(rec)
    if stat.S_ISDIR(st.st_mode):
        for n in sorted(os.listdir(path)):
            p = os.path.join(path, n)
            if p not in exclude:
                snapshot(p, exclude, out)
    return out


CANARIES = ["/etc/ctr-evil-abs", "/etc/ctr-evil-sym", "/etc/ctr-evil-chain", "/tmp/ctr-evil", "/ctr-evil",
            "/etc/ctr-evil-hl"]


def global_state():
    st = os.stat("/etc/passwd")
    return (st.st_nlink, st.st_mtime_ns, st.st_size, digest("/etc/passwd"),
            tuple(os.path.lexists(c) for c in CANARIES))


class Area:
    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="ctr-st-", dir=WORKDIR)
        os.chmod(self.base, 0o755)
        self.outside = os.path.join(self.base, "outside")
        os.makedirs(os.path.join(self.outside, "dir"))
        with open(os.path.join(self.outside, "secret"), "w") as f:
            f.write("SECRET")
        with open(os.path.join(self.outside, "dir", "file"), "w") as f:
            f.write("inner")
        os.symlink("secret", os.path.join(self.outside, "link"))
        self.root = os.path.join(self.base, "root")
        os.mkdir(self.root)
        self.extra = []  # more target dirs excluded from the snapshot
        self.before = None

    def target(self, name):
        p = os.path.join(self.base, name)
        os.mkdir(p)
        self.extra.append(p)
        return p

    def freeze(self):
        self.before = self._snap()
        self.gbefore = global_state()

    def _snap(self):
        return snapshot(self.base, set([self.root] + self.extra), {})

    def check_outside(self):
        after = self._snap()
        if after != self.before:
            changed = sorted(set(after.items()) ^ set(self.before.items()))
            raise Fail("something outside the target changed: %r" % (changed[:4],))
        ok(global_state() == self.gbefore, "/etc/passwd or a canary in /etc, /tmp or / changed")

    def p(self, rel):
        return os.path.join(self.root, rel)

    def untar(self, data, flags=None, target=None):
        rc, out, err = helper(["untar"] + (UNTAR_FLAGS if flags is None else flags) + [target or self.root], data)
        return rc, out.decode(), err

    def cleanup(self):
        subprocess.run(["chmod", "-R", "u+rwx", self.base], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


TESTS = []


def test(name, resolvers=True):
    def deco(fn):
        TESTS.append((name, fn, resolvers))
        return fn

    return deco


def run_test(name, fn):
    full = name
    if PATTERN and PATTERN not in full:
        return
    a = Area()
    try:
        fn(a)
        a.check_outside()
        RESULTS["passed"] += 1
        print("ok    %s" % full)
    except Fail as e:
        RESULTS["failed"] += 1
        print("FAIL  %s: %s" % (full, e))
    except Exception:
        RESULTS["failed"] += 1
        print("FAIL  %s: %s" % (full, traceback.format_exc().strip().splitlines()[-1]))
    finally:
        a.cleanup()


def untar_ok(a, data, flags=None):
    a.freeze()
    rc, out, err = a.untar(data, flags)
    ok(rc == 0, "untar failed (%d): %s" % (rc, err.strip()))
    return out, err


def untar_fails(a, data, *words):
    a.freeze()
    rc, out, err = a.untar(data)
    ok(rc == 1, "untar should fail with status 1, got %d (%s)" % (rc, err.strip()))
    lines = err.strip().splitlines()
    ok(len(lines) == 1 and lines[0].startswith("ctr-helper: untar: "), "want one error line, got %r" % err)
    for w in words:
        ok(w.lower() in lines[0].lower(), "error %r lacks %r" % (lines[0], w))
    return lines[0]


def lexists(p):
    return os.path.lexists(p)


def isreg(p, content=None):
    if not lexists(p) or not stat.S_ISREG(os.lstat(p).st_mode):
        return False
    return content is None or open(p, "rb").read() == (content.encode() if isinstance(content, str) else content)


# ---------------------------------------------------------------- untar: names and symlinks


@test("untar: ../ names stay inside")
def _(a):
    untar_ok(a, member("../evil", "x") + member("a/../../../evil2", "y") + member("./../../evil3", "z") + END)
    ok(isreg(a.p("evil"), "x") and isreg(a.p("evil2"), "y") and isreg(a.p("evil3"), "z"))
    ok(not lexists(os.path.join(a.base, "evil")) and not lexists(os.path.join(WORKDIR, "evil")))


@test("untar: absolute names are made relative")
def _(a):
    untar_ok(a, member("/etc/ctr-evil-abs", "x") + member("//tmp/ctr-evil", "y") + END)
    ok(isreg(a.p("etc/ctr-evil-abs"), "x") and isreg(a.p("tmp/ctr-evil"), "y"))


@test("untar: symlink to /etc then a file through it")
def _(a):
    untar_ok(a, sym("x", "/etc") + member("x/ctr-evil-sym", "pwn") + END)
    ok(os.path.islink(a.p("x")) and os.readlink(a.p("x")) == "/etc")
    ok(isreg(a.p("etc/ctr-evil-sym"), "pwn"), "file not placed at DIR/etc")


@test("untar: absolute symlink to a real outside dir, then overwrite through it")
def _(a):
    untar_ok(a, sym("x", a.outside) + member("x/secret", "PWNED") + member("x/dir/file", "PWNED") + END)
    ok(isreg(a.p(a.outside.lstrip("/") + "/secret"), "PWNED"))


@test("untar: symlink x -> ../../.. then x/y")
def _(a):
    untar_ok(a, sym("x", "../../..") + member("x/y", "y") + sym("d/deeper", "../../../../../..") +
             member("d/deeper/z", "z") + END)
    ok(isreg(a.p("y"), "y") and isreg(a.p("z"), "z"))


@test("untar: symlinked parents built from .. sequences")
def _(a):
    data = (dirent("d/") + sym("d/up", "../../../../") + sym("d/l2", "up/etc") + member("d/l2/ctr-evil-chain", "c") +
            sym("e", "d/up/../../x") + member("e/f", "f") + END)
    untar_ok(a, data)
    ok(isreg(a.p("etc/ctr-evil-chain"), "c"), "chain not resolved inside")
    ok(isreg(a.p("x/f"), "f"), "e/f not at DIR/x/f")


@test("untar: dangling absolute symlink parent is created inside")
def _(a):
    untar_ok(a, sym("x", "/nonexistent-ctr/deep") + member("x/f", "f") + END)
    ok(isreg(a.p("nonexistent-ctr/deep/f"), "f"))
    ok(not lexists("/nonexistent-ctr"))


@test("untar: symlink loop in a parent is refused")
def _(a):
    untar_fails(a, sym("a", "b") + sym("b", "a") + member("a/x", "x") + END, "symbolic links")


@test("untar: 40 symlinks are followed, 41 are refused")
def _(a):
    chain = dirent("d/")
    for i in range(40):
        chain += sym("s%d" % i, "s%d" % (i + 1) if i < 39 else "d")
    untar_ok(a, chain + member("s0/f", "f") + END)
    ok(isreg(a.p("d/f"), "f"))
    b = Area()
    try:
        chain = dirent("d/")
        for i in range(41):
            chain += sym("s%d" % i, "s%d" % (i + 1) if i < 40 else "d")
        untar_fails(b, chain + member("s0/f", "f") + END, "symbolic links")
        b.check_outside()
    finally:
        b.cleanup()


@test("untar: a file under a file is refused")
def _(a):
    untar_fails(a, member("f", "x") + member("f/x", "y") + END, "not a directory")


@test("untar: last component symlink is replaced, never followed")
def _(a):
    data = (sym("s", a.outside + "/secret") + member("s", "new") + sym("t", a.outside) + dirent("t/") +
            member("t/secret", "inside") + sym("u", a.outside + "/dir") + sym("u", "elsewhere") + END)
    untar_ok(a, data)
    ok(isreg(a.p("s"), "new"))
    ok(os.path.isdir(a.p("t")) and not os.path.islink(a.p("t")) and isreg(a.p("t/secret"), "inside"))
    ok(os.readlink(a.p("u")) == "elsewhere")


@test("untar: names ending in .. and the root itself")
def _(a):
    out, err = untar_ok(a, dirent("a/") + dirent("a/..", mode=0o700) + member("..", "x") + dirent("./", mode=0o750) +
                        END)
    ok("'..'" in err and '"notes":1' in out, "want one note about '..': %r %r" % (out, err))
    ok(stat.S_IMODE(os.stat(a.root).st_mode) == 0o750, "root mode not applied")


@test("untar: newline in a name keeps the error on one line")
def _(a):
    line = untar_fails(a, member("a\nb", "x") + member("a\nb/c", "y") + END, "not a directory")
    ok("a\\x0ab" in line)


# ---------------------------------------------------------------- untar: hard links


@test("untar: hard link to /etc/passwd is resolved inside (and missing)")
def _(a):
    untar_fails(a, hardlink("h", "/etc/passwd") + END, "hard link target", "no such file")
    ok(not lexists(a.p("h")))


@test("untar: hard link to ../outside/secret is resolved inside")
def _(a):
    untar_fails(a, hardlink("h", "../outside/secret") + END, "hard link target")


@test("untar: hard link to an archive file placed under /etc")
def _(a):
    untar_ok(a, member("/etc/passwd", "inner") + hardlink("/etc/ctr-evil-hl", "/etc/passwd") + END)
    ok(os.stat(a.p("etc/passwd")).st_ino == os.stat(a.p("etc/ctr-evil-hl")).st_ino)


@test("untar: hard link through a symlinked parent stays inside")
def _(a):
    untar_ok(a, member("real/f", "data") + sym("l", "/real") + hardlink("h", "l/f") + END)
    ok(os.lstat(a.p("h")).st_ino == os.lstat(a.p("real/f")).st_ino and os.lstat(a.p("h")).st_nlink == 2)


@test("untar: hard link through a symlink pointing outside is refused")
def _(a):
    untar_fails(a, sym("m", a.outside) + hardlink("h", "m/secret") + END, "hard link target")
    b = Area()
    try:
        untar_fails(b, sym("m", "../outside") + hardlink("h", "m/secret") + END, "hard link target")
        b.check_outside()
    finally:
        b.cleanup()


@test("untar: hard link to a symlink links the symlink itself")
def _(a):
    untar_ok(a, sym("s", a.outside + "/secret") + hardlink("h", "s") + END)
    ok(os.path.islink(a.p("h")) and os.lstat(a.p("h")).st_ino == os.lstat(a.p("s")).st_ino)


@test("untar: hard link to a directory is refused")
def _(a):
    untar_fails(a, dirent("d/") + hardlink("h", "d") + END, "directory")
    b = Area()
    try:
        untar_fails(b, hardlink("h", "./") + END, "directory")
    finally:
        b.cleanup()


@test("untar: hard link replacing an existing name")
def _(a):
    untar_ok(a, member("f", "one") + member("g", "two") + hardlink("g", "f") + hardlink("f", "f") + END)
    ok(os.stat(a.p("g")).st_ino == os.stat(a.p("f")).st_ino and isreg(a.p("g"), "one"))


# ---------------------------------------------------------------- untar: replacement


@test("untar: same path twice, directories merged, files replaced")
def _(a):
    data = (member("f", "first") + member("f", "second") + dirent("d/") + member("d/x", "x") + dirent("d/", mode=0o700) +
            dirent("e/") + member("e/x", "x") + member("e", "now a file") + member("g", "file") + dirent("g/") + END)
    untar_ok(a, data)
    ok(isreg(a.p("f"), "second"))
    ok(isreg(a.p("d/x"), "x") and stat.S_IMODE(os.stat(a.p("d")).st_mode) == 0o700)
    ok(isreg(a.p("e"), "now a file"))
    ok(os.path.isdir(a.p("g")))


# ---------------------------------------------------------------- untar: malformed archives


@test("untar: bad checksum")
def _(a):
    untar_fails(a, member("f", "x", chksum_delta=1) + END, "checksum")


@test("untar: not a tar at all")
def _(a):
    untar_fails(a, b"hello world\n" * 100, "checksum")


@test("untar: truncated header")
def _(a):
    untar_fails(a, member("f", "x") + member("g", "y")[:300], "truncated")


@test("untar: huge size (base-256) with a truncated body")
def _(a):
    untar_fails(a, hdr("big", size_field=b256(10 << 30, 12)) + b"x" * 1000, "truncated")
    ok(os.path.getsize(a.p("big")) <= 1024)


@test("untar: huge octal size with a truncated body")
def _(a):
    untar_fails(a, hdr("big", size_field=b"77777777777\0") + b"x" * 512, "truncated")


@test("untar: size overflow and negative size")
def _(a):
    untar_fails(a, hdr("big", size_field=b"\x80" + b"\xff" * 11) + END, "size")
    b = Area()
    try:
        untar_fails(b, hdr("neg", size_field=b256(-5, 12)) + END, "size")
        c = Area()
        try:
            untar_fails(c, pax([("size", "18446744073709551616")]) + member("f", "x") + END, "PAX size")
        finally:
            c.cleanup()
    finally:
        b.cleanup()


@test("untar: malformed PAX header")
def _(a):
    junk = b"abc def\n"
    untar_fails(a, hdr("PaxHeaders/f", typ=b"x", size=len(junk)) + pad(junk) + member("f", "x") + END, "PAX")


@test("untar: invalid numeric field")
def _(a):
    h = bytearray(member("f", "x"))
    h[100:108] = b"0z44\0\0\0\0"
    h[148:156] = b" " * 8
    h[148:156] = ("%06o" % sum(h[:512])).encode() + b"\0 "
    untar_fails(a, bytes(h) + END, "mode")


@test("untar: end of input without trailer, and a lone zero block")
def _(a):
    out, _ = untar_ok(a, member("f", "x"))
    ok('"entries":1' in out)
    b = Area()
    try:
        out, _ = untar_ok(b, member("f", "x") + b"\0" * 512 + b"\0" * 10000)
        ok(isreg(b.p("f"), "x"))
    finally:
        b.cleanup()


# ---------------------------------------------------------------- untar: formats


@test("untar: long names via PAX, GNU L/K and the ustar prefix")
def _(a):
    long_dir = "/".join(["component%02d" % i for i in range(20)])  # ~240 chars
    long_file = long_dir + "/" + "f" * 120
    long_target = "t" * 150
    data = (pax([("path", long_file)]) + member("ignored", "pax") +
            pax([("path", long_dir + "/lnk"), ("linkpath", long_target)]) + sym("ignored2", "x") +
            gnu_long(b"L", long_dir + "/gnu-" + "g" * 110) + member("ignored3", "gnu") +
            gnu_long(b"K", long_target + "2") + gnu_long(b"L", long_dir + "/gnu-lnk") + sym("ignored4", "y") +
            hdr("g" * 100, size=3, prefix=b"p" * 150) + pad(b"pre") + END)
    untar_ok(a, data)
    ok(isreg(a.p(long_file), "pax"))
    ok(os.readlink(a.p(long_dir + "/lnk")) == long_target)
    ok(isreg(a.p(long_dir + "/gnu-" + "g" * 110), "gnu"))
    ok(os.readlink(a.p(long_dir + "/gnu-lnk")) == long_target + "2")
    ok(isreg(a.p("p" * 150 + "/" + "g" * 100), "pre"))
    ok(not lexists(a.p("ignored")) and not lexists(a.p("ignored3")))


@test("untar: python tarfile archives (PAX, GNU, ustar) with long names")
def _(a):
    ln = "dir/" + "n" * 150 + "/" + "m" * 120
    a.freeze()
    for fmt, sub in ((tarfile.PAX_FORMAT, "pax"), (tarfile.GNU_FORMAT, "gnu")):
        data = tarfile_bytes(fmt, [(ti(sub + "/" + ln, size=4), b"abcd"),
                                   (ti(sub + "/l", tarfile.SYMTYPE, link="x" * 200), None),
                                   (ti(sub + "/big", size=0, uid=3000000, gid=3000001), b"")])
        rc, out, err = a.untar(data)
        ok(rc == 0, err)
        ok(isreg(a.p(sub + "/" + ln), "abcd") and os.readlink(a.p(sub + "/l")) == "x" * 200)
        if REAL_ROOT:
            st = os.lstat(a.p(sub + "/big"))
            ok((st.st_uid, st.st_gid) == (3000000, 3000001), "big uid/gid: %r" % ((st.st_uid, st.st_gid),))
    data = tarfile_bytes(tarfile.USTAR_FORMAT, [(ti("u/" + "q" * 120 + "/f", size=1), b"u")])
    rc, out, err = a.untar(data)
    ok(rc == 0 and isreg(a.p("u/" + "q" * 120 + "/f"), "u"), err)


@test("untar: PAX global and per-entry records, fractional mtimes")
def _(a):
    data = (pax([("mtime", "1500000000.25"), ("comment", "hi"), ("size", "1000"), ("path", "zz")], g=True) +
            member("a", "a") +
            pax([("mtime", "1234567890.5"), ("atime", "1234567000.125")]) + member("b", "b") + member("c", "c") +
            pax([("mtime", "-1.5")]) + member("neg", "n") + END)
    untar_ok(a, data)
    ok(os.lstat(a.p("a")).st_mtime_ns == 1500000000250000000, "global mtime")
    st = os.lstat(a.p("b"))
    ok(st.st_mtime_ns == 1234567890500000000 and st.st_atime_ns == 1234567000125000000, "pax mtime/atime")
    ok(os.lstat(a.p("c")).st_mtime_ns == 1500000000250000000, "global mtime after an x header")
    ok(os.lstat(a.p("neg")).st_mtime_ns == -1500000000, "negative mtime: %d" % os.lstat(a.p("neg")).st_mtime_ns)
    ok(not lexists(a.p("zz")), "global path applied")


@test("untar: base-256 uid and large file size field")
def _(a):
    data = hdr("f", size=5, uid_field=b256(1000, 8), gid=1000) + pad(b"hello") + END
    untar_ok(a, data)
    ok(isreg(a.p("f"), "hello"))
    if MULTI:
        ok(os.lstat(a.p("f")).st_uid == 1000)


@test("untar: unsupported entry types are skipped with a note")
def _(a):
    out, err = untar_ok(a, hdr("vol", typ=b"V") + member("sparse", "xxxx", typ=b"S") +
                        pax([("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0")]) + member("sp2", "abc") +
                        member("after", "ok") + END)
    ok("skipped 3 entries of unsupported types" in err, err)
    ok(isreg(a.p("after"), "ok") and not lexists(a.p("sparse")) and not lexists(a.p("sp2")))
    ok('"entries":4' in out and '"notes":1' in out, out)


# ---------------------------------------------------------------- untar: metadata


@test("untar: modes with setuid, setgid and sticky bits, ownership")
def _(a):
    u = 1000 if MULTI else 0
    data = (member("suid", "x", mode=0o4755, uid=u, gid=u) + member("sgid", "x", mode=0o2750, uid=u, gid=u) +
            dirent("tmp/", mode=0o1777) + dirent("ro/", mode=0o555) + member("ro/f", "x", mode=0o400) +
            dirent("locked/", mode=0o000) + member("locked/inner", "y", mode=0o000) +
            sym("l", "suid", uid=u, gid=u) + END)
    untar_ok(a, data)
    st = os.lstat(a.p("suid"))
    ok(stat.S_IMODE(st.st_mode) == 0o4755 and st.st_uid == u and st.st_gid == u, "suid: %o %d" % (st.st_mode, st.st_uid))
    ok(stat.S_IMODE(os.lstat(a.p("sgid")).st_mode) == 0o2750)
    ok(stat.S_IMODE(os.lstat(a.p("tmp")).st_mode) == 0o1777)
    ok(stat.S_IMODE(os.lstat(a.p("ro")).st_mode) == 0o555 and stat.S_IMODE(os.lstat(a.p("ro/f")).st_mode) == 0o400)
    ok(stat.S_IMODE(os.lstat(a.p("locked")).st_mode) == 0 and lexists(a.p("locked/inner")))
    ok(os.lstat(a.p("l")).st_uid == u)


@test("untar: IDs outside the namespace become 65534 (or stay root's), without set-ID bits, with a note")
def _(a):
    if REAL_ROOT:
        out, err = untar_ok(a, hdr("f", size=1, mode=0o4755, uid_field=b256(4000000000, 8), gid=5) + pad(b"x") + END)
        ok(os.lstat(a.p("f")).st_uid == 4000000000)
        ok(os.lstat(a.p("f")).st_mode & 0o7777 == 0o4755)
        return
    out, err = untar_ok(a, member("f", "x", mode=0o4755, uid=70000, gid=70000) +
                        member("g", "x", mode=0o6755, uid=70001, gid=0) + member("h", "x", mode=0o2755, uid=1, gid=70000) +
                        member("m", "x", mode=0o6755, uid=1, gid=1) + dirent("d/", mode=0o2775, uid=70000, gid=1) + END)
    ov = 65534 if id_mapped(65534) else 0
    m = lambda i: i if id_mapped(i) else ov  # the gid map is the uid map's twin here
    n = 4 if id_mapped(1) else 5
    ok("%d entries are owned by IDs outside this user namespace" % n in err and "first: f, 70000:70000" in err, err)
    st = {k: os.lstat(a.p(k)) for k in ("f", "g", "h", "m", "d")}
    ok((st["f"].st_uid, st["f"].st_gid, st["f"].st_mode & 0o7777) == (ov, ov, 0o755), st["f"])
    ok((st["g"].st_uid, st["g"].st_gid, st["g"].st_mode & 0o7777) == (ov, 0, 0o755), st["g"])
    ok((st["h"].st_uid, st["h"].st_gid, st["h"].st_mode & 0o7777) == (m(1), ov, 0o755), st["h"])
    ok((st["d"].st_uid, st["d"].st_gid, st["d"].st_mode & 0o7777) == (ov, m(1), 0o775), st["d"])
    ok((st["m"].st_uid, st["m"].st_gid, st["m"].st_mode & 0o7777) == ((1, 1, 0o6755) if id_mapped(1) else (0, 0, 0o755)), st["m"])


@test("untar: directory mtimes survive children created later")
def _(a):
    data = (dirent("d/", mtime=1111111111) + member("d/f", "x", mtime=1222222222) + dirent("d/sub/", mtime=1333333333) +
            member("d/sub/g", "y") + sym("d/l", "f", mtime=1444444444) + member("d/late", "z") +
            dirent("./", mtime=1000000000) + END)
    untar_ok(a, data)
    ok(os.lstat(a.p("d")).st_mtime == 1111111111, "dir mtime %r" % os.lstat(a.p("d")).st_mtime)
    ok(os.lstat(a.p("d/sub")).st_mtime == 1333333333)
    ok(os.lstat(a.p("d/f")).st_mtime == 1222222222)
    ok(os.lstat(a.p("d/l")).st_mtime == 1444444444, "symlink mtime")
    ok(os.lstat(a.root).st_mtime == 1000000000, "root mtime")


@test("untar: extended attributes")
def _(a):
    cap = bytes.fromhex("01000002" + "00040000" + "00000000" + "00000000" + "00000000")  # v2 cap_net_bind_service
    data = (pax([("SCHILY.xattr.user.test", "hello"), ("SCHILY.xattr.user.overlay.opaque", "y"),
                 ("SCHILY.xattr.trusted.overlay.redirect", "/etc")]) + member("f", "x") +
            pax([("SCHILY.xattr.user.dir", "v")]) + dirent("d/") +
            pax([("SCHILY.xattr.trusted.ctr-test", "t")]) + member("t", "t") +
            pax([(b"SCHILY.xattr.security.capability", cap)]) + member("capfile", "c", mode=0o755))
    out, err = untar_ok(a, data + END)
    ok(os.getxattr(a.p("f"), "user.test") == b"hello", "user.test")
    ok(os.getxattr(a.p("d"), "user.dir") == b"v", "user.dir on a directory")
    ok("ignored 2 overlay extended attributes" in err, err)
    names = os.listxattr(a.p("f"))
    ok(not any("overlay" in n for n in names), "overlay xattr applied: %r" % names)
    if REAL_ROOT:
        ok(os.getxattr(a.p("t"), "trusted.ctr-test") == b"t")
    else:
        ok("could not set 1 extended attributes (trusted.ctr-test)" in err, err)
    got = os.getxattr(a.p("capfile"), "security.capability")
    ok(got[:4] in (b"\x01\x00\x00\x02", b"\x01\x00\x00\x03") and got[4:8] == cap[4:8], "capability: %r" % got)


@test("untar: device nodes and fifos")
def _(a):
    data = (hdr("dev/null", typ=b"3", mode=0o666, devmaj=1, devmin=3) + hdr("dev/sda", typ=b"4", mode=0o660, devmaj=8) +
            hdr("fifo", typ=b"6", mode=0o600) + END)
    out, err = untar_ok(a, data)
    ok(stat.S_ISFIFO(os.lstat(a.p("fifo")).st_mode))
    if REAL_ROOT:
        st = os.lstat(a.p("dev/null"))
        ok(stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3)
        ok(stat.S_ISBLK(os.lstat(a.p("dev/sda")).st_mode))
        ok('"notes":0' in out, out)
    else:
        ok("note: skipped 2 device nodes (not allowed without root)" in err, err)
        ok(not lexists(a.p("dev/null")) and '"notes":1' in out)


# ---------------------------------------------------------------- untar: whiteouts


def is_whiteout(p):
    st = os.lstat(p)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


@test("untar: whiteouts and opaque directories")
def _(a):
    data = (member("keep", "k") + member("gone", "g") + hdr(".wh.gone") + hdr(".wh.other") + dirent("o/") +
            member("o/inner", "i") + hdr("o/.wh..wh..opq") + dirent("d/") + member("d/x", "x") + hdr(".wh.d") +
            hdr("sub/.wh.deep") + hdr(".wh..wh.plnk") + END)
    out, err = untar_ok(a, data)
    ok(isreg(a.p("keep"), "k"))
    ok(is_whiteout(a.p("gone")) and is_whiteout(a.p("other")) and is_whiteout(a.p("d")) and is_whiteout(a.p("sub/deep")))
    ok(os.getxattr(a.p("o"), OPAQUE) == b"y", "opaque xattr")
    ok(isreg(a.p("o/inner"), "i"))
    ok(not lexists(a.p(".wh.gone")) and not lexists(a.p("o/.wh..wh..opq")) and not lexists(a.p(".wh..wh.plnk")))
    ok('"entries":12' in out, out)


@test("untar: a whiteout and the same name in one layer (OCI: whiteouts hide lower layers only)")
def _(a):
    data = (hdr(".wh.a") + member("a/b", "b") + hdr(".wh.d") + dirent("d/") + member("d/x", "x") +
            hdr(".wh.f") + member("f", "file") + hdr("p/.wh.q") + member("p/q/r/s", "s") + END)
    untar_ok(a, data)
    ok(os.path.isdir(a.p("a")) and isreg(a.p("a/b"), "b") and os.getxattr(a.p("a"), OPAQUE) == b"y", "a")
    ok(os.path.isdir(a.p("d")) and isreg(a.p("d/x"), "x") and os.getxattr(a.p("d"), OPAQUE) == b"y", "d")
    ok(isreg(a.p("f"), "file"))
    ok(os.getxattr(a.p("p/q"), OPAQUE) == b"y" and isreg(a.p("p/q/r/s"), "s"))
    ok(OPAQUE not in os.listxattr(a.p("p/q/r")), "only the revived directory is opaque")


@test("untar: whiteout through a symlinked parent stays inside")
def _(a):
    untar_ok(a, sym("x", a.outside) + hdr("x/.wh.secret") + hdr("x/.wh..wh..opq") + END)
    ok(is_whiteout(a.p(a.outside.lstrip("/") + "/secret")))


@test("untar: an invalid whiteout name is refused")
def _(a):
    untar_fails(a, hdr("d/.wh..") + END, "whiteout")


@test("untar: JSON summary")
def _(a):
    out, err = untar_ok(a, member("a", "12345") + member("b", "123") + dirent("d/") + sym("l", "a") + END)
    ok(out.strip() == '{"entries":4,"bytes":8,"notes":0}', out)
    ok(err == "", err)


@test("untar: large file through a pipe")
def _(a):
    blob = os.urandom(1 << 20) * 24 + b"tail"
    out, err = untar_ok(a, member("big", blob) + member("small", "s") + END)
    ok(digest(a.p("big")) == hashlib.sha256(blob).hexdigest() and isreg(a.p("small"), "s"))


@test("untar: 300 mutated archives: status 0 or 1, one error line, nothing outside changes")
def _(a):
    import random
    base = (dirent("d/") + sym("d/up", "../../..") + member("d/up/f", "x") + sym("l", a.outside) +
            member("l/secret", "p") + pax([("path", "p/" + "q" * 200), ("SCHILY.xattr.user.a", "b"), ("mtime", "1.5")]) +
            member("x", "data" * 300) + gnu_long(b"L", "g/" + "h" * 150) + member("y", "z") + hardlink("hl", "f") +
            hardlink("h2", "l/secret") + hdr(".wh.x") + hdr("d/.wh..wh..opq") + END)
    offs, o = [], 0
    while o + 512 <= len(base) and any(base[o:o + 512]):
        offs.append(o)
        o += 512 + (int(base[o + 124:o + 136].strip(b"\0 ") or b"0", 8) + 511) // 512 * 512
    box = a.target("box")
    a.freeze()
    rnd = random.Random(1234)
    for i in range(300):
        b = bytearray(base)
        for _ in range(rnd.randint(1, 6)):
            b[rnd.randrange(len(b))] = rnd.choice([0, 0x80, 0xff, 0x2f, 0x2e, 0x31, 0x32, 0x35, rnd.randrange(256)])
        if rnd.random() < 0.7:
            for o in offs:
                h = b[o:o + 512]
                h[148:156] = b" " * 8
                b[o + 148:o + 156] = ("%06o" % sum(h)).encode() + b"\0 "
        if rnd.random() < 0.2:
            b = b[:rnd.randrange(len(b))]
        root = os.path.join(box, "r%d" % i)
        os.mkdir(root)
        rc, out, err = helper(["untar"] + UNTAR_FLAGS + [root], bytes(b))
        ok(rc in (0, 1), "status %d: %s" % (rc, err))
        ok(rc == 0 or (len(err.strip().splitlines()) == 1 and err.startswith("ctr-helper: untar: ")), err)


# ---------------------------------------------------------------- tar-dir


def tree_listing(root, ignore_root_dir=True):
    """relative path -> (type, mode, uid, gid, size, mtime sec, content/link, xattrs, rdev); hard links grouped"""
    res = {}
    inodes = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            extra = None
            if stat.S_ISREG(st.st_mode):
                extra = digest(p)
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            xa = tuple(x for x in xattrs_of(p) if "overlay" not in x[0] and x[0] != "security.selinux")
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            link = None
            if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
                link = inodes.setdefault(st.st_ino, rel)
            rdev = st.st_rdev if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else 0
            res[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, size,
                        int(st.st_mtime), extra, xa, rdev, link)
    return res


def same_trees(x, y):
    """compare listings; hard-link groups compared by membership, not by which name came first"""

    def norm(t):
        groups = {}
        for k, v in t.items():
            if v[9] is not None:
                groups.setdefault(v[9], set()).add(k)
        out = {}
        for k, v in t.items():
            g = None
            if v[9] is not None:
                g = frozenset(groups[v[9]])
            out[k] = v[:9] + (g,)
        return out

    nx, ny = norm(x), norm(y)
    if nx != ny:
        diff = sorted(set(nx.items()) ^ set(ny.items()))
        raise Fail("trees differ: %r" % (diff[:4],))


def build_tree(d):
    os.makedirs(os.path.join(d, "etc/sub"))
    u = 1000 if MULTI else 0
    with open(os.path.join(d, "etc/passwd"), "w") as f:
        f.write("root:x:0:0::/root:/bin/sh\n")
    with open(os.path.join(d, "empty"), "w"):
        pass
    with open(os.path.join(d, "suid"), "wb") as f:
        f.write(os.urandom(70000))
    os.chown(os.path.join(d, "suid"), u, u)
    os.chmod(os.path.join(d, "suid"), 0o4755)
    os.makedirs(os.path.join(d, "tmp"))
    os.chmod(os.path.join(d, "tmp"), 0o1777)
    os.symlink("../etc/passwd", os.path.join(d, "etc/sub/lnk"))
    os.symlink("L" * 180, os.path.join(d, "longlink"))
    os.link(os.path.join(d, "suid"), os.path.join(d, "etc/hard"))
    os.link(os.path.join(d, "suid"), os.path.join(d, "zz-hard"))
    os.mkfifo(os.path.join(d, "fifo"))
    deep = os.path.join(d, "/".join(["deep%02d" % i for i in range(30)]))
    os.makedirs(deep)
    with open(os.path.join(deep, "x" * 200), "w") as f:
        f.write("deep")
    os.setxattr(os.path.join(d, "etc/passwd"), "user.note", b"bin\x00ary\n=x")
    os.setxattr(os.path.join(d, "etc"), "user.dir", b"1")
    os.utime(os.path.join(d, "etc/passwd"), (1000, 1234567890))
    os.utime(os.path.join(d, "etc/sub/lnk"), (1000, 1111111111), follow_symlinks=False)
    if REAL_ROOT:
        os.mknod(os.path.join(d, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        with open(os.path.join(d, "bigid"), "w"):
            pass
        os.chown(os.path.join(d, "bigid"), 3000000, 3000001)
    for dirpath, dirnames, _ in os.walk(d, topdown=False):
        for n in dirnames:
            os.utime(os.path.join(dirpath, n), (1000, 1300000000), follow_symlinks=False)


def gnu_list(data):
    p = subprocess.run(["tar", "-tvf", "-", "--numeric-owner", "--full-time"], input=data, capture_output=True)
    ok(p.returncode == 0, "GNU tar cannot read the archive: %s" % p.stderr.decode())
    return p.stdout.decode().splitlines()


# ---------------------------------------------------------------- untar: placement and bulk


FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_TOPDIR_FL = 0x80086601, 0x40086602, 0x00020000


def inode_flags(p):
    import fcntl
    import struct
    fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4))[0]
    except OSError:
        return None
    finally:
        os.close(fd)


def topdir_settable(p):
    """whether this file system takes FS_TOPDIR_FL (ext4 does; tmpfs, xfs, btrfs do not)"""
    import fcntl
    import struct
    t = tempfile.mkdtemp(dir=p)
    fd = os.open(t, os.O_RDONLY | os.O_DIRECTORY)
    try:
        f = struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4))[0]
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", f | FS_TOPDIR_FL))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        os.rmdir(t)


def tree_of(root):
    """path -> (type and mode, owner, size, mtime, nlink, content or target, xattrs, inode flags)"""
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            rec = [st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns]
            if stat.S_ISREG(st.st_mode):
                rec += [st.st_size, st.st_nlink, digest(p)]
            elif stat.S_ISLNK(st.st_mode):
                rec.append(os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                rec.append(inode_flags(p))
            rec.append(xattrs_of(p))
            out[os.path.relpath(p, root)] = tuple(rec)
    st = os.lstat(root)
    out["."] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, inode_flags(root))
    return out


def layer_like():
    """a small rootfs-shaped layer: top-level dirs, nesting, modes, owners, links, whiteouts"""
    u = 1000 if MULTI else 0
    d = dirent("./", mtime=1000000000)
    for top in ("bin", "etc", "usr", "var", "opt"):
        d += dirent(top + "/", mtime=1100000000)
    d += sym("lib", "usr/lib")
    for sub in ("usr/bin", "usr/lib", "usr/share", "usr/share/doc", "var/lib", "var/cache"):
        d += dirent(sub + "/", mode=0o755 if sub != "var/cache" else 0o2775, gid=u, mtime=1200000000)
        for i in range(30):
            d += member("%s/f%02d" % (sub, i), "data %s %d" % (sub, i) * (i + 1), mode=0o644 if i % 3 else 0o755,
                        uid=u if i % 5 == 0 else 0, mtime=1300000000 + i)
    d += member("usr/bin/su", "suid", mode=0o4755) + member("usr/bin/wall", "sgid", mode=0o2755, gid=u)
    d += hardlink("usr/bin/f00-link", "usr/bin/f00") + sym("usr/bin/rel", "../lib/f01") + sym("etc/abs", "/usr/lib")
    d += dirent("etc/ro/", mode=0o555) + member("etc/ro/f", "r", mode=0o400) + dirent("tmp/", mode=0o1777)
    d += hdr("var/.wh.gone") + dirent("opt/o/") + hdr("opt/o/.wh..wh..opq") + member("opt/o/f", "o")
    d += member("implied/parent/file", "p")  # parents that no entry names
    d += pax([("SCHILY.xattr.user.k", "v")]) + dirent("etc/x/")
    return d + END


def spread_run(a, target, env):
    rc, out, err = helper(["untar"] + UNTAR_FLAGS + [target], layer_like(),
                          env=dict(env, CTR_HELPER_UNTAR_DEBUG="1"))
    ok(rc == 0, "untar failed (%d): %s" % (rc, err.strip()))
    return err


def spread_count(err):
    for line in err.splitlines():
        if line.startswith("untar: spread "):
            return int(line.split()[2])
    return None


@test("untar: directories placed away from recently freed ext4 groups: same tree, no trace")
def _(a):
    plain = a.target("plain")
    targets = {m: a.target("spread" + m) for m in ("0", "1", "2")}
    flags0 = inode_flags(a.root)
    a.freeze()
    for mode in ("0", "1", "2"):  # top-level only; every directory; every probe judged slow (retries)
        t = targets[mode]
        env = {"CTR_HELPER_SPREAD_ALL": mode} if mode != "0" else {}
        err = spread_run(a, t, env)
        n = spread_count(err)
        if topdir_settable(WORKDIR):
            ok(n is not None and n >= (6 if mode == "0" else 15), "placement did not happen: %r" % err)
        else:
            ok(n in (None, 0), "placement on a file system without FS_TOPDIR_FL: %r" % err)
        got = tree_of(t)
        leftovers = [p for p in got if ".ctr-untar-" in p]
        ok(not leftovers, "temporary names left: %r" % leftovers[:3])
        spread_run(a, plain, {"CTR_HELPER_NO_SPREAD": "1"}) if mode == "0" else None
        want = tree_of(plain)
        for k in ("implied", "implied/parent", "var/gone"):  # made now: no time from the archive
            for tr in (got, want):
                if k in tr:
                    tr[k] = tr[k][:3] + tr[k][4:]
        diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
        ok(not diff, "trees differ (mode %s): %r" % (mode, [(k, got.get(k), want.get(k)) for k in diff[:3]]))
    ok(inode_flags(a.root) == flags0, "flags of an untouched dir changed")


@test("untar: placement is off for a directory that is not empty; its flags stay")
def _(a):
    with open(a.p("existing"), "w") as f:
        f.write("e")
    flags0 = inode_flags(a.root)
    a.freeze()
    err = spread_run(a, a.root, {"CTR_HELPER_SPREAD_ALL": "1"})
    ok(spread_count(err) in (None, 0), err)
    ok(inode_flags(a.root) == flags0 and isreg(a.p("existing"), "e") and isreg(a.p("usr/bin/f01")))
    ok(not [n for n in os.listdir(a.root) if n.startswith(".ctr-untar-")])


@test("untar: entries owned 0:0 under a set-group-ID directory of another group")
def _(a):
    g = 1000 if MULTI else None
    if g is None:
        return  # one mapped ID: no other group to inherit
    os.chown(a.root, 0, g)
    os.chmod(a.root, 0o2755)
    data = (member("f", "x") + member("suid", "s", mode=0o4755) + dirent("d/") + member("d/g", "y") +
            sym("l", "f") + hdr("fifo", typ=b"6", mode=0o600) + dirent("e/", gid=g, mode=0o2755) + member("e/h", "z") +
            END)
    untar_ok(a, data)
    for n in ("f", "suid", "d", "d/g", "l", "fifo", "e/h"):
        st = os.lstat(a.p(n))
        ok((st.st_uid, st.st_gid) == (0, 0), "%s owned %d:%d, want 0:0" % (n, st.st_uid, st.st_gid))
    ok(stat.S_IMODE(os.lstat(a.p("suid")).st_mode) == 0o4755)
    ok(os.lstat(a.p("e")).st_gid == g and stat.S_IMODE(os.lstat(a.p("e")).st_mode) == 0o2755)


@test("untar: files made with their final mode (0, read-only, set-ID) keep their content")
def _(a):
    u = 1000 if MULTI else 0
    data = (member("none", "n", mode=0) + member("ro", "r", mode=0o444) + member("x", "x", mode=0o111) +
            member("suid0", "s", mode=0o4711) + member("suidu", "t", mode=0o6750, uid=u, gid=u) +
            member("sticky", "k", mode=0o1644) + END)
    untar_ok(a, data)
    for n, m, c in (("none", 0, "n"), ("ro", 0o444, "r"), ("x", 0o111, "x"), ("suid0", 0o4711, "s"),
                    ("suidu", 0o6750, "t"), ("sticky", 0o1644, "k")):
        st = os.lstat(a.p(n))
        ok(stat.S_IMODE(st.st_mode) == m, "%s: mode %o, want %o" % (n, stat.S_IMODE(st.st_mode), m))
        ok(isreg(a.p(n), c), n)
    ok(os.lstat(a.p("suidu")).st_uid == u)


def default_acl(user, group, other):
    import struct
    ent = lambda tag, perm: struct.pack("<HHI", tag, perm, 0xffffffff)
    return struct.pack("<I", 2) + ent(0x01, user) + ent(0x04, group) + ent(0x20, other)


@test("untar: file modes exact under a default ACL (of DIR or set by the archive)")
def _(a):
    try:
        os.setxattr(a.root, "system.posix_acl_default", default_acl(7, 0, 0))
    except OSError as e:
        return  # no POSIX ACLs here
    data = (member("f", "x", mode=0o644) + pax([(b"SCHILY.xattr.system.posix_acl_default", default_acl(7, 5, 0))]) +
            dirent("d/") + member("d/g", "y", mode=0o755) + END)
    untar_ok(a, data)
    ok(stat.S_IMODE(os.lstat(a.p("f")).st_mode) == 0o644, "f: %o" % os.lstat(a.p("f")).st_mode)
    ok(stat.S_IMODE(os.lstat(a.p("d/g")).st_mode) == 0o755, "d/g: %o" % os.lstat(a.p("d/g")).st_mode)


@test("untar: a deep tree and a thousand hard links")
def _(a):
    deep = "/".join(["d%d" % (i % 10) for i in range(300)])
    data = pax([("path", deep + "/bottom")]) + member("x", "deep") + member("orig", "shared", mtime=1234567890)
    for i in range(1000):
        data += hardlink("links/%d/l%d" % (i % 20, i), "orig")
    data += pax([("path", deep + "/link")]) + hardlink("x", "orig")
    untar_ok(a, data + END)
    ok(isreg(a.p(deep + "/bottom"), "deep"))
    st = os.lstat(a.p("orig"))
    ok(st.st_nlink == 1002 and st.st_mtime == 1234567890, "nlink %d" % st.st_nlink)
    ok(os.lstat(a.p("links/7/l987")).st_ino == st.st_ino and os.lstat(a.p(deep + "/link")).st_ino == st.st_ino)


@test("untar: a name that is a file, then a directory, a symlink and a file again in one layer")
def _(a):
    data = (member("top", "1") + dirent("top/") + member("top/in", "i") + sym("top", "elsewhere") +
            member("top", "2", mode=0o600) + dirent("x/") + member("x/y", "y") + member("x", "file") +
            dirent("x/", mode=0o700) + member("x/z", "z") + END)
    untar_ok(a, data)
    ok(isreg(a.p("top"), "2") and stat.S_IMODE(os.lstat(a.p("top")).st_mode) == 0o600)
    ok(os.path.isdir(a.p("x")) and not lexists(a.p("x/y")) and isreg(a.p("x/z"), "z"))
    ok(stat.S_IMODE(os.lstat(a.p("x")).st_mode) == 0o700)
    ok(not [n for n in os.listdir(a.root) if n.startswith(".ctr-untar-")])


@test("tar-dir: GNU tar and python tarfile read it; untar round trip", resolvers=False)
def _(a):
    src = a.target("src")
    build_tree(src)
    dst = a.target("dst")
    gdst = a.target("gnu")
    a.freeze()
    rc, data, err = helper(["tar-dir", src])
    ok(rc == 0, err)
    rc2, data2, _ = helper(["tar-dir", src])
    ok(data == data2, "tar-dir output is not deterministic")
    lines = gnu_list(data)
    names = [l.split(None, 5)[5] for l in lines]
    ok(names == sorted(names, key=lambda n: n.rstrip("/").split("/")), "not sorted: %r" % names[:8])
    ok(names.index("etc/") < names.index("etc/passwd"), names[:8])
    want = tree_listing(src)
    ok(len(lines) == len(want), "GNU tar lists %d members, tree has %d" % (len(lines), len(want)))
    for l in lines:
        perm, owner, rest = l.split(None, 2)
        if l.startswith("h"):
            continue
        if "etc/passwd" in l and "->" not in l:
            ok(owner == "0/0" and perm == "-rw-r--r--" and "2009-02-13 23:31:30" in l, l)
        if l.endswith("suid"):
            ok(perm == "-rwsr-xr-x", l)
    ok(any(l.startswith("hrws") and ("link to suid" in l or "link to etc/hard" in l) for l in lines), "hard link")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        mem = {m.name: m for m in tf.getmembers()}
    ok(mem["etc/passwd"].pax_headers.get("SCHILY.xattr.user.note") is not None, "xattr missing")
    ok(mem["longlink"].linkname == "L" * 180)
    rc, out, err = helper(["untar"] + UNTAR_FLAGS + [dst], data)
    ok(rc == 0 and err == "", err)
    same_trees(want, tree_listing(dst))
    if REAL_ROOT:
        p = subprocess.run(["tar", "-xpf", "-", "-C", gdst, "--numeric-owner", "--xattrs", "--xattrs-include=*"],
                           input=data, capture_output=True)
        ok(p.returncode == 0, p.stderr.decode())
        same_trees(want, tree_listing(gdst))


@test("tar-dir: --diff turns whiteouts and opaque dirs into .wh. entries", resolvers=False)
def _(a):
    up = a.target("upper")
    os.mknod(os.path.join(up, "gone"), stat.S_IFCHR, os.makedev(0, 0))
    os.makedirs(os.path.join(up, "o/x"))
    with open(os.path.join(up, "o/new"), "w") as f:
        f.write("n")
    os.setxattr(os.path.join(up, "o"), OPAQUE, b"y")
    os.mkdir(os.path.join(up, "p"))
    os.mknod(os.path.join(up, "p/w"), stat.S_IFCHR, os.makedev(0, 0))
    dst = a.target("dst")
    a.freeze()
    rc, data, err = helper(["tar-dir", "--diff", up])
    ok(rc == 0, err)
    names = [l.split(None, 5)[5] for l in gnu_list(data)]
    ok(names == [".wh.gone", "o/", "o/.wh..wh..opq", "o/new", "o/x/", "p/", "p/.wh.w"], names)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        ok(not any("overlay" in k for m in tf.getmembers() for k in m.pax_headers), "overlay xattr leaked")
    rc, out, err = helper(["untar"] + UNTAR_FLAGS + [dst], data)
    ok(rc == 0, err)
    ok(is_whiteout(os.path.join(dst, "gone")) and is_whiteout(os.path.join(dst, "p/w")))
    ok(os.getxattr(os.path.join(dst, "o"), OPAQUE) == b"y")
    rc, data2, err = helper(["tar-dir", "--diff", dst])
    ok(data2 == data, "diff of the unpacked diff differs")
    rc, plain, err = helper(["tar-dir", up])
    names = [l.split(None, 5)[5] for l in gnu_list(plain)]
    ok("gone" in names and ".wh.gone" not in names and "o/.wh..wh..opq" not in names, names)


@test("tar-dir: errors are one line", resolvers=False)
def _(a):
    a.freeze()
    rc, out, err = helper(["tar-dir", os.path.join(a.base, "missing")])
    ok(rc == 125 and len(err.strip().splitlines()) == 1 and err.startswith("ctr-helper: tar-dir: "), err)


# ---------------------------------------------------------------- mkrootfs


def make_layer(a, name, data):
    d = a.target(name)
    rc, out, err = helper(["untar"] + UNTAR_FLAGS + [d], data)
    ok(rc == 0, "layer %s: %s" % (name, err))
    return d


@test("mkrootfs: layers with whiteouts, opaque dirs, hard links, replacements")
def _(a):
    u = 1000 if MULTI else 0
    l1 = make_layer(a, "l1", dirent("usr/") + dirent("usr/lib/") + member("usr/lib/libc.so", "libc") + sym("lib", "usr/lib") +
                    member("a", "a") + member("b", "b") + dirent("d/") + member("d/x", "x") + member("d/y", "y") +
                    dirent("o/") + member("o/p", "p") + dirent("o/q/") + member("o/q/r", "r") +
                    member("h1", "hard", uid=u, gid=u, mode=0o4750, mtime=1200000000) + hardlink("d/h2", "h1") +
                    sym("esc", a.outside) + dirent("dirgone/") + member("dirgone/f", "f") + END)
    l2 = make_layer(a, "l2", hdr(".wh.a") + dirent("d/") + hdr("d/.wh.x") + dirent("o/") + hdr("o/.wh..wh..opq") +
                    member("o/new", "new") + dirent("lib/") + member("lib/z", "z") + dirent("b/") + member("b/inner", "i") +
                    dirent("esc/") + member("esc/secret", "inside") + hdr(".wh.dirgone") + END)
    dest = a.target("dest")
    single = a.target("single")
    a.freeze()
    rc, out, err = helper(["mkrootfs", dest, l1, l2])
    ok(rc == 0, err)
    P = lambda r: os.path.join(dest, r)
    ok(not lexists(P("a")) and not lexists(P("d/x")) and isreg(P("d/y"), "y"), "whiteouts")
    ok(sorted(os.listdir(P("o"))) == ["new"], "opaque: %r" % os.listdir(P("o")))
    ok(os.path.isdir(P("lib")) and not os.path.islink(P("lib")) and sorted(os.listdir(P("lib"))) == ["z"], "lib")
    ok(isreg(P("usr/lib/libc.so"), "libc"))
    ok(os.path.isdir(P("b")) and isreg(P("b/inner"), "i"))
    ok(os.path.isdir(P("esc")) and isreg(P("esc/secret"), "inside"))
    ok(not lexists(P("dirgone")))
    st1, st2 = os.lstat(P("h1")), os.lstat(P("d/h2"))
    ok(st1.st_ino == st2.st_ino and st1.st_nlink == 2, "hard link lost")
    ok(stat.S_IMODE(st1.st_mode) == 0o4750 and st1.st_uid == u and st1.st_mtime == 1200000000, "metadata")
    for root, dirs, files in os.walk(dest):
        for n in files:
            ok(not is_whiteout(os.path.join(root, n)), "whiteout copied: %s" % n)
    ok(not any("overlay" in x for x in os.listxattr(P("o"))), "opaque xattr copied")
    rc, out, err = helper(["mkrootfs", single, l1])
    ok(rc == 0, err)
    same_trees(tree_listing(l1), tree_listing(single))


@test("mkrootfs: symlinks in lower layers are never followed")
def _(a):
    l1 = make_layer(a, "l1", sym("x", a.outside) + sym("y", a.outside + "/secret") + sym("z", "../outside") + END)
    l2 = make_layer(a, "l2", dirent("x/") + member("x/secret", "PWN") + member("y", "file") + hdr(".wh.z") + END)
    dest = a.target("dest")
    a.freeze()
    rc, out, err = helper(["mkrootfs", dest, l1, l2])
    ok(rc == 0, err)
    ok(isreg(os.path.join(dest, "x/secret"), "PWN") and isreg(os.path.join(dest, "y"), "file"))
    ok(not lexists(os.path.join(dest, "z")))


@test("mkrootfs: device nodes")
def _(a):
    src = a.target("l1")
    os.mkfifo(os.path.join(src, "fifo"))
    if REAL_ROOT:
        os.mknod(os.path.join(src, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    dest = a.target("dest")
    a.freeze()
    rc, out, err = helper(["mkrootfs", dest, src])
    ok(rc == 0, err)
    ok(stat.S_ISFIFO(os.lstat(os.path.join(dest, "fifo")).st_mode))
    if REAL_ROOT:
        ok(os.lstat(os.path.join(dest, "null")).st_rdev == os.makedev(1, 3))


@test("overlay: the kernel honours the whiteouts and opaque dirs untar makes", resolvers=False)
def _(a):
    l1 = make_layer(a, "l1", member("a", "a") + member("keep", "k") + dirent("o/") + member("o/old", "o") +
                    dirent("d/") + member("d/x", "x") + member("d/y", "y") + END)
    l2 = make_layer(a, "l2", hdr(".wh.a") + dirent("o/") + hdr("o/.wh..wh..opq") + member("o/new", "n") +
                    dirent("d/") + hdr("d/.wh.x") + hdr(".wh.keep") + member("keep/inside", "i") + END)
    m = a.target("merged")
    a.freeze()
    opts = ("" if REAL_ROOT else "userxattr,") + "lowerdir=%s:%s" % (l2, l1)
    p = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t overlay overlay -o %s %s && cd %s && find . | sort"
                        % (opts, m, m)], capture_output=True, text=True)
    if p.returncode != 0 and "unknown filesystem" in p.stderr:
        return
    ok(p.returncode == 0, p.stderr.strip())
    got = p.stdout.split()
    ok(got == [".", "./d", "./d/y", "./keep", "./keep/inside", "./o", "./o/new"], "merged view: %r" % got)


# ---------------------------------------------------------------- rmtree


@test("rmtree: removes everything, follows no symlink", resolvers=False)
def _(a):
    t = os.path.join(a.target("box"), "t")  # removing t changes box, which the snapshot skips
    os.makedirs(os.path.join(t, "a/b/c"))
    for i in range(50):
        with open(os.path.join(t, "a/f%d" % i), "w") as f:
            f.write("x")
    os.symlink(a.outside, os.path.join(t, "a/b/out"))
    os.symlink(a.outside + "/secret", os.path.join(t, "a/sec"))
    os.mkfifo(os.path.join(t, "a/fifo"))
    os.makedirs(os.path.join(t, "locked/inner"))
    with open(os.path.join(t, "locked/inner/f"), "w") as f:
        f.write("x")
    os.chmod(os.path.join(t, "locked/inner"), 0)
    os.chmod(os.path.join(t, "locked"), 0)
    deep = os.path.join(t, "deep")
    os.mkdir(deep)
    fd = os.open(deep, os.O_RDONLY)
    for i in range(300):  # deeper than PATH_MAX allows by name
        os.mkdir("d" * 200, dir_fd=fd)
        nfd = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.close(fd)
    a.freeze()
    rc, out, err = helper(["rmtree", t, os.path.join(a.base, "missing"), os.path.join(a.base, "missing2/x")])
    ok(rc == 0, err)
    ok(not lexists(t), "tree still there")


@test("rmtree: refuses . .. and /", resolvers=False)
def _(a):
    a.freeze()
    for p in ("/", a.base + "/.", a.base + "/.."):
        rc, out, err = helper(["rmtree", p])
        ok(rc == 125 and "refusing" in err, "%s: %d %s" % (p, rc, err))


@test("rmtree: a plain file and a symlink to a directory", resolvers=False)
def _(a):
    f = os.path.join(a.base, "plain")
    with open(f, "w") as fh:
        fh.write("x")
    l = os.path.join(a.base, "lnk")
    os.symlink(a.outside, l)
    rc, out, err = helper(["rmtree", f, l])
    ok(rc == 0, err)
    ok(not lexists(f) and not lexists(l) and os.path.isdir(a.outside) and isreg(a.outside + "/secret", "SECRET"))
    a.freeze()


@test("rmtree: never crosses a mount point", resolvers=False)
def _(a):
    if not REAL_ROOT:
        a.freeze()
        return  # mounting needs a mount namespace we do not own here; covered when run as root
    t = os.path.join(a.target("box"), "t")
    os.mkdir(t)
    b = a.target("b")
    m = os.path.join(t, "sub/mnt")
    os.makedirs(m)
    a.freeze()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", m], check=True)
    try:
        with open(os.path.join(m, "precious"), "w") as f:
            f.write("p")
        rc, out, err = helper(["rmtree", t])
        ok(rc == 125 and "mount point" in err and len(err.strip().splitlines()) == 1, err)
        ok(isreg(os.path.join(m, "precious"), "p"), "mounted content touched")
        subprocess.run(["mount", "--bind", a.outside, b], check=True)
        try:
            rc, out, err = helper(["rmtree", b])
            ok(rc == 125 and "mount point" in err, err)
            ok(isreg(os.path.join(a.outside, "secret"), "SECRET"))
        finally:
            subprocess.run(["umount", b])
    finally:
        subprocess.run(["umount", m])
    rc, out, err = helper(["rmtree", t])
    ok(rc == 0 and not lexists(t), err)


# ---------------------------------------------------------------- gzip (the push compressor)


def gzip_built_in():
    rc, out, err = helper(["gzip", "/dev/null"])
    if rc == 125 and "not built in" in err:
        # acceptable only where libdeflate is not there to build with
        ok(not os.path.exists("/usr/include/libdeflate.h"), "libdeflate is installed but ctr-helper was built without gzip")
        return False
    return True


@test("gzip: gzip members that read back as the input, the same bytes every time", resolvers=False)
def _(a):
    d = a.target("gz")
    a.freeze()
    if not gzip_built_in():
        return
    import gzip as gz
    data = b"".join(hashlib.sha256(str(i).encode()).hexdigest().encode() * (1 + i % 7) for i in range(3000))
    cases = {"big": data, "empty": b"", "one": b"x", "exact": data[:8192]}
    for name, content in cases.items():
        f = os.path.join(d, name)
        with open(f, "wb") as fh:
            fh.write(content)
        rc, out, err = helper(["gzip", "--piece", "4096", "--level", "1", f])
        ok(rc == 0, "gzip %s: %s" % (name, err))
        ok(gz.decompress(out) == content, "gzip %s: does not decompress to the input" % name)
        members = out.count(b"\x1f\x8b\x08")
        want = max(1, (len(content) + 4095) // 4096)
        ok(members >= want, "gzip %s: %d members for %d pieces" % (name, members, want))
        rc2, out2, _ = helper(["gzip", "--piece", "4096", "--level", "1", "--threads", "1", f])
        ok(rc2 == 0 and out2 == out, "gzip %s: another run (one thread) gave other bytes" % name)
        # --output: the same bytes in the file, stdout says the size after each member
        o = os.path.join(d, name + ".gz")
        rc3, lines, err3 = helper(["gzip", "--piece", "4096", "--output", o, f])
        ok(rc3 == 0, "gzip --output %s: %s" % (name, err3))
        with open(o, "rb") as fh:
            ok(fh.read() == out, "gzip --output %s: the file differs from the stdout form" % name)
        sizes = [int(x) for x in lines.decode().split()]
        ok(sizes == sorted(sizes) and sizes[-1] == len(out) and len(sizes) == want, "gzip --output %s: sizes %r" % (name, sizes[:5]))


@test("gzip: bad input: one line, non-zero, nothing overwritten", resolvers=False)
def _(a):
    d = a.target("gzbad")
    a.freeze()
    if not gzip_built_in():
        return
    f = os.path.join(d, "in")
    with open(f, "wb") as fh:
        fh.write(b"data" * 1000)
    o = os.path.join(d, "out.gz")
    with open(o, "wb") as fh:
        fh.write(b"KEEP")
    for args, code, words in (
        (["gzip", "--output", o, f], 1, "File exists"),
        (["gzip", os.path.join(d, "missing")], 1, "cannot open"),
        (["gzip", d], 1, "not a regular file"),
        (["gzip", "--level", "99", f], 125, "invalid --level"),
        (["gzip"], 125, "missing FILE"),
    ):
        rc, out, err = helper(args)
        lines = [l for l in err.splitlines() if l.strip()]
        ok(rc == code and len(lines) == 1 and words in lines[0] and lines[0].startswith("ctr-helper: gzip: "),
           "%s: want %d and one line with %r, got %d %r" % (" ".join(args[1:]), code, words, rc, err))
    with open(o, "rb") as fh:
        ok(fh.read() == b"KEEP", "an existing --output file was changed")


# ---------------------------------------------------------------- sha256, untar --whole (a pull of small layers)


@test("sha256: both block functions give hashlib's digests at every length around a block", resolvers=False)
def _(a):
    d = a.target("sha")
    a.freeze()
    impls = set()
    for n in (0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 65537, 3 * 1024 * 1024 + 7):
        data = os.urandom(n)
        f = os.path.join(d, "in")
        with open(f, "wb") as fh:
            fh.write(data)
        want = "sha256:" + hashlib.sha256(data).hexdigest()
        for env in (None, {"CTR_HELPER_SHA256": "portable"}):
            rc, out, err = helper(["sha256", f], env=env)
            got = out.decode().split()
            ok(rc == 0 and got[0] == want, "sha256 of %d bytes (%s): %r, want %s" % (n, env, out, want))
            impls.add(got[1])
    ok("portable" in impls, "the portable block function was never used: %r" % impls)


def whole_ok(a, blob, flags=None):
    a.freeze()
    rc, out, err = helper(["untar", "--whole"] + (flags or []) + [a.root], blob)
    ok(rc == 0, "untar --whole failed (%d): %s" % (rc, err.strip()))
    import json
    return json.loads(out.decode().strip().splitlines()[-1])


@test("untar --whole: gzip (one member or several) and plain tar unpack, with the blob and tar digests")
def _(a):
    import gzip as gz
    tar = member("etc/app.conf", b"greeting=hello\n") + member("bin/tool", os.urandom(300000), mode=0o755) + bytes(1024)
    blobs = [("plain", tar)]
    if gzip_built_in():
        blobs += [("gzip", gz.compress(tar, 6)), ("two members", gz.compress(tar[:10240], 1) + gz.compress(tar[10240:], 9))]
    for name, blob in blobs:
        shutil.rmtree(a.root)
        os.mkdir(a.root)
        j = whole_ok(a, blob)
        ok(j["blob"] == "sha256:" + hashlib.sha256(blob).hexdigest(), "%s: blob digest %s" % (name, j["blob"]))
        ok(j["diffId"] == "sha256:" + hashlib.sha256(tar).hexdigest(), "%s: diff ID %s" % (name, j["diffId"]))
        ok(j["diffSize"] == len(tar) and j["entries"] == 2, "%s: %r" % (name, j))
        ok(isreg(os.path.join(a.root, "etc/app.conf"), b"greeting=hello\n"), "%s: etc/app.conf not unpacked" % name)


@test("untar --whole: corrupt or truncated gzip is one line, nothing written; zstd asks for a stream (3)")
def _(a):
    import gzip as gz
    if not gzip_built_in():
        return
    tar = member("f", os.urandom(100000)) + bytes(1024)
    good = gz.compress(tar, 1)
    for name, blob in (("truncated", good[: len(good) // 2]), ("corrupt", good[:20] + bytes(64) + good[84:])):
        a.freeze()
        rc, out, err = helper(["untar", "--whole", a.root], blob)
        lines = [l for l in err.splitlines() if l.strip()]
        ok(rc == 1 and len(lines) == 1 and "truncated gzip" in lines[0], "%s: want 1 and one line, got %d %r" % (name, rc, err))
        ok(os.listdir(a.root) == [], "%s: something was written: %r" % (name, os.listdir(a.root)))
    rc, out, err = helper(["untar", "--whole", a.root], b"\x28\xb5\x2f\xfd" + bytes(100))
    ok(rc == 3 and out == b"" and os.listdir(a.root) == [], "zstd: want exit 3 and nothing, got %d %r %r" % (rc, out, err))


@test("untar --mkdir: makes DIR and its parent; an existing DIR is refused", resolvers=False)
def _(a):
    d = os.path.join(a.target("mk"), "layer", "diff")
    a.freeze()
    rc, out, err = helper(["untar", "--mkdir", d], member("x", b"1") + bytes(1024))
    ok(rc == 0 and isreg(os.path.join(d, "x"), b"1"), "untar --mkdir: %d %s" % (rc, err))
    ok(stat.S_IMODE(os.stat(os.path.dirname(d)).st_mode) == 0o700, "parent mode %o" % os.stat(os.path.dirname(d)).st_mode)
    rc, out, err = helper(["untar", "--mkdir", d], member("y", b"2") + bytes(1024))
    ok(rc == 125 and "File exists" in err and not lexists(os.path.join(d, "y")), "existing DIR: %d %r" % (rc, err))


# ---------------------------------------------------------------- main


def main():
    print("# ctr-helper storage tests: %s, work dir %s (%s)" % (MODE, WORKDIR,
          subprocess.run(["stat", "-f", "-c", "%T", WORKDIR], capture_output=True, text=True).stdout.strip()))
    for resolver in ({"name": "openat2", "env": {}}, {"name": "walk", "env": {"CTR_HELPER_NO_OPENAT2": "1"}}):
        RESOLVER.update(resolver)
        for name, fn, resolvers in TESTS:
            if not resolvers and resolver["name"] != "openat2":
                continue
            run_test("%s [%s, %s]" % (name, MODE, resolver["name"]) if resolvers else "%s [%s]" % (name, MODE), fn)
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    sys.exit(1 if RESULTS["failed"] else 0)


main()
