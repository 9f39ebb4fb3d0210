/* untar: unpack an uncompressed tar stream (ustar, GNU, PAX) from stdin into a directory.
 *
 * Safety: every name is placed inside DIR. The parent of each entry is resolved with
 * pr_open_dir() (chroot semantics: ".." stops at DIR, symlinks are followed as if DIR were
 * "/"), and the entry itself is made relative to that directory fd with *at() calls that never
 * follow the last component (O_EXCL / O_NOFOLLOW / AT_SYMLINK_NOFOLLOW); anything already there
 * is removed first (a directory over a directory is kept and updated). Hard-link targets are
 * resolved the same way and linked without being followed.
 *
 * OCI whiteouts become overlay whiteouts: ".wh.NAME" -> char device 0:0 at NAME,
 * ".wh..wh..opq" -> the opaque xattr on the directory.
 *
 * --whole: stdin is a whole layer blob (at most WHOLE_MAX bytes), read before anything is
 * written: gzip (inflated here with libdeflate) or plain tar. The result line then also gives
 * "blob" (the sha256 digest of stdin), "diffId" (of the tar) and "diffSize", so the caller
 * needs to neither inflate nor hash the layer itself (a pull of small layers: ctr's main thread
 * has better things to do, and this runs on another core). Exit status 3, with nothing
 * written, when the blob cannot be handled this way (no libdeflate in this build, another
 * compression, or it inflates past WHOLE_TAR_MAX): the caller then feeds the tar stream.
 *
 * --mkdir: DIR is made here (and its parent, when missing) instead of by the caller. */
#include "sha256.h"
#include "storage.h"
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#define RDBUF (4u << 20)       /* read buffer: large writes for large files */
#define MAX_PAX (16u << 20)    /* a PAX header bigger than this is refused */
#define MAX_LONGNAME (1u << 16) /* GNU long name / long link */

/* ---- input ---- */

struct rd {
  int fd;
  unsigned char *buf;
  size_t pos, len;
  int eof;
  int mem; /* the whole archive is in buf (--whole): nothing more to read */
};

/* ---- PAX records ---- */

struct kv {
  char *key;
  unsigned char *val;
  size_t len;
};
struct kvset {
  struct kv *v;
  size_t n, cap;
};

struct xattr {
  const char *name;
  const unsigned char *val;
  size_t len;
};

struct ent {
  char type;
  char *name, *link;
  int64_t size, uid, gid, mode;
  struct timespec mtime, atime;
  int has_atime, sparse;
  unsigned devmaj, devmin;
  struct xattr *xa;
  size_t nxa, cxa;
};

struct dirfix {
  char *path;
  size_t depth, order;
  dev_t dev;
  ino_t ino;
  mode_t mode;
  struct timespec ts[2];
};

static struct {
  int root;
  int rootless_xattrs;
  const char *cur; /* entry being processed, for messages */
  char *cache_key; /* parent directory cache: one entry */
  int cache_fd;
  /* a new inode is already owned 0:0 (we are root, and the group it would inherit from its
   * directory, set-group-ID or grpid mount, is 0): entries owned 0:0 skip the chown */
  int ids0, root_gid0, cache_gid0, pgid0;
  /* a new file gets exactly the permission bits asked for (umask 0, and no default ACL in DIR
   * nor set by the archive): then no fchmod unless set-ID/sticky bits */
  int mode_exact;
  struct dirfix *df;
  size_t ndf, cdf;
  uint64_t entries, bytes;
  int notes;
  uint64_t skipped_dev, chown_fail, xattr_fail, overlay_xattrs, unsupported, dotdot;
  int64_t chown_uid, chown_gid;
  int chown_errno, xattr_errno;
  char xattr_names[200];
  char unsupported_types[40];
} U = {.cache_fd = -1};

/* ---- errors ---- */

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...) {
  char why[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  die(1, "untar: %s: %s", U.cur ? show(U.cur) : "archive", why);
}

__attribute__((noreturn)) static void fail_errno(const char *what) {
  int e = errno;
  fail("%s: %s", what, strerror(e));
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die(125, "untar: out of memory");
  return p;
}

static char *xstrndup(const void *s, size_t n) {
  size_t l = strnlen(s, n);
  char *p = xmalloc(l + 1);
  memcpy(p, s, l);
  p[l] = 0;
  return p;
}

/* ---- reader ---- */

/* make at least WANT (<= RDBUF) bytes available; returns what is available (less only at EOF) */
static size_t rd_fill(struct rd *r, size_t want) {
  if (r->len - r->pos >= want || r->mem) return r->len - r->pos;
  if (r->pos + want > RDBUF) {
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
  }
  while (r->len - r->pos < want && !r->eof) {
    ssize_t n = read(r->fd, r->buf + r->len, RDBUF - r->len);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno(125, "untar: reading the archive from stdin");
    }
    if (n == 0) {
      r->eof = 1;
      break;
    }
    r->len += (size_t)n;
  }
  return r->len - r->pos;
}

static void rd_truncated(uint64_t missing) {
  fail("truncated archive: %" PRIu64 " more bytes expected", missing);
}

/* pass N bytes to SINK (fd, or -1 to discard): buffered bytes first, then big refills */
static void rd_copy(struct rd *r, uint64_t n, int sink) {
  while (n) {
    size_t a = r->len - r->pos;
    if (a == 0) {
      r->pos = r->len = 0;
      a = rd_fill(r, n < RDBUF ? (size_t)n : RDBUF);
      if (a == 0) rd_truncated(n);
    }
    size_t k = a < n ? a : (size_t)n;
    if (sink >= 0 && st_write_all(sink, r->buf + r->pos, k) < 0) fail_errno("write");
    r->pos += k;
    n -= k;
  }
}

static void rd_pad(struct rd *r, uint64_t size) { rd_copy(r, (512 - (size & 511)) & 511, -1); }

static unsigned char *rd_meta(struct rd *r, uint64_t size) {
  unsigned char *b = xmalloc((size_t)size + 1);
  size_t o = 0;
  while (o < size) {
    size_t a = r->len - r->pos;
    if (a == 0) {
      r->pos = r->len = 0;
      a = rd_fill(r, size - o < RDBUF ? (size_t)(size - o) : RDBUF);
      if (a == 0) rd_truncated(size - o);
    }
    size_t k = a < size - o ? a : (size_t)(size - o);
    memcpy(b + o, r->buf + r->pos, k);
    r->pos += k;
    o += k;
  }
  b[size] = 0;
  rd_pad(r, size);
  return b;
}

/* ---- header fields ---- */

/* octal (spaces/NULs around) or GNU base-256 (high bit of the first byte set) */
static int parse_num(const unsigned char *p, size_t n, int64_t *out) {
  if (n && (p[0] & 0x80)) {
    unsigned char inv = (p[0] & 0x40) ? 0xff : 0;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)(p[i] ^ inv);
      if (i == 0) c &= 0x7f;
      if (x >> 56) return -1;
      x = (x << 8) | c;
    }
    if (x >> 63) return -1;
    *out = inv ? -(int64_t)x - 1 : (int64_t)x;
    return 0;
  }
  size_t i = 0;
  while (i < n && (p[i] == ' ' || p[i] == 0)) i++;
  uint64_t v = 0;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
    if (v >> 60) return -1;
    v = v * 8 + (uint64_t)(p[i] - '0');
  }
  if (i < n && p[i] != ' ' && p[i] != 0) return -1;
  *out = (int64_t)v;
  return 0;
}

static int checksum_ok(const unsigned char *h) {
  int64_t want;
  if (parse_num(h + 148, 8, &want) < 0) return 0;
  int64_t us = 0, ss = 0;
  for (int i = 0; i < 512; i++) {
    unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
    us += c;
    ss += (signed char)c;
  }
  return us == want || ss == want;
}

static int is_zero_block(const unsigned char *h) {
  for (int i = 0; i < 512; i++)
    if (h[i]) return 0;
  return 1;
}

/* ---- PAX ---- */

static void kv_put(struct kvset *s, const unsigned char *key, size_t klen, const unsigned char *val, size_t vlen) {
  for (size_t i = 0; i < s->n; i++) {
    if (strlen(s->v[i].key) == klen && memcmp(s->v[i].key, key, klen) == 0) {
      free(s->v[i].val);
      s->v[i].val = xmalloc(vlen + 1);
      memcpy(s->v[i].val, val, vlen);
      s->v[i].val[vlen] = 0;
      s->v[i].len = vlen;
      return;
    }
  }
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 8;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    if (!s->v) die(125, "untar: out of memory");
  }
  struct kv *k = &s->v[s->n++];
  k->key = xstrndup(key, klen);
  k->val = xmalloc(vlen + 1);
  memcpy(k->val, val, vlen);
  k->val[vlen] = 0;
  k->len = vlen;
}

static void kv_clear(struct kvset *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->v[i].key);
    free(s->v[i].val);
  }
  s->n = 0;
}

static void parse_pax(const unsigned char *b, size_t n, struct kvset *s) {
  size_t i = 0;
  while (i < n) {
    if (b[i] == 0) break; /* trailing padding */
    size_t len = 0, j = i;
    while (j < n && b[j] >= '0' && b[j] <= '9') {
      len = len * 10 + (size_t)(b[j] - '0');
      if (len > n) fail("malformed PAX header: record length");
      j++;
    }
    if (j == i || j >= n || b[j] != ' ' || i + len > n || len <= j - i + 1 || b[i + len - 1] != '\n')
      fail("malformed PAX header");
    j++;
    const unsigned char *end = b + i + len - 1;
    const unsigned char *eq = memchr(b + j, '=', (size_t)(end - (b + j)));
    if (!eq || eq == b + j) fail("malformed PAX header: record without a key");
    kv_put(s, b + j, (size_t)(eq - (b + j)), eq + 1, (size_t)(end - eq - 1));
    i += len;
  }
}

static int64_t pax_int(const struct kv *k) {
  if (!k->len) fail("malformed PAX %s", k->key);
  int64_t v = 0;
  for (size_t i = 0; i < k->len; i++) {
    if (k->val[i] < '0' || k->val[i] > '9' || v > (INT64_MAX - 9) / 10) fail("malformed PAX %s", k->key);
    v = v * 10 + (k->val[i] - '0');
  }
  return v;
}

static struct timespec pax_time(const struct kv *k) {
  const unsigned char *p = k->val, *e = k->val + k->len;
  int neg = 0;
  if (p < e && *p == '-') {
    neg = 1;
    p++;
  }
  int64_t s = 0;
  long ns = 0;
  if (p == e || *p < '0' || *p > '9') fail("malformed PAX %s", k->key);
  for (; p < e && *p >= '0' && *p <= '9'; p++) {
    if (s > (INT64_MAX - 9) / 10) fail("malformed PAX %s", k->key);
    s = s * 10 + (*p - '0');
  }
  if (p < e && *p == '.') {
    p++;
    int d = 0;
    for (; p < e && *p >= '0' && *p <= '9'; p++, d++)
      if (d < 9) ns = ns * 10 + (*p - '0');
    for (; d < 9; d++) ns *= 10;
  }
  if (p != e) fail("malformed PAX %s", k->key);
  struct timespec t;
  if (neg) {
    t.tv_sec = -(time_t)s;
    t.tv_nsec = 0;
    if (ns) {
      t.tv_sec -= 1;
      t.tv_nsec = 1000000000L - ns;
    }
  } else {
    t.tv_sec = (time_t)s;
    t.tv_nsec = ns;
  }
  return t;
}

static void ent_add_xattr(struct ent *e, const char *name, const unsigned char *val, size_t len) {
  for (size_t i = 0; i < e->nxa; i++) {
    if (strcmp(e->xa[i].name, name) == 0) {
      e->xa[i].val = val;
      e->xa[i].len = len;
      return;
    }
  }
  if (e->nxa == e->cxa) {
    e->cxa = e->cxa ? e->cxa * 2 : 4;
    e->xa = realloc(e->xa, e->cxa * sizeof *e->xa);
    if (!e->xa) die(125, "untar: out of memory");
  }
  e->xa[e->nxa++] = (struct xattr){name, val, len};
}

/* global records (g) never set a member's name, link target or size: those are per member */
static void apply_pax(struct ent *e, const struct kvset *s, int global) {
  for (size_t i = 0; i < s->n; i++) {
    const struct kv *k = &s->v[i];
    if (global && (strcmp(k->key, "path") == 0 || strcmp(k->key, "linkpath") == 0 || strcmp(k->key, "size") == 0))
      continue;
    if (strcmp(k->key, "path") == 0) {
      if (k->len) {
        free(e->name);
        e->name = xstrndup(k->val, k->len);
      }
    } else if (strcmp(k->key, "linkpath") == 0) {
      if (k->len) {
        free(e->link);
        e->link = xstrndup(k->val, k->len);
      }
    } else if (strcmp(k->key, "size") == 0) {
      e->size = pax_int(k);
    } else if (strcmp(k->key, "uid") == 0) {
      e->uid = pax_int(k);
    } else if (strcmp(k->key, "gid") == 0) {
      e->gid = pax_int(k);
    } else if (strcmp(k->key, "mtime") == 0) {
      e->mtime = pax_time(k);
    } else if (strcmp(k->key, "atime") == 0) {
      e->atime = pax_time(k);
      e->has_atime = 1;
    } else if (strncmp(k->key, "SCHILY.xattr.", 13) == 0) {
      if (k->key[13]) ent_add_xattr(e, k->key + 13, k->val, k->len);
    } else if (strncmp(k->key, "GNU.sparse.", 11) == 0) {
      e->sparse = 1;
    }
  }
}

/* ---- placement ---- */

static void cache_drop(void) {
  free(U.cache_key);
  U.cache_key = NULL; /* the fd stays open until replaced: the current entry may still use it */
}

static int gid_is0(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_gid == 0;
}

static void cache_set(const char *key, int fd) {
  if (U.cache_fd >= 0) close(U.cache_fd);
  free(U.cache_key);
  U.cache_key = strdup(key);
  U.cache_fd = fd;
  U.cache_gid0 = U.ids0 && gid_is0(fd);
  if (!U.cache_key) die(125, "untar: out of memory");
}

static const char *opaque_key(void) { return U.rootless_xattrs ? "user.overlay.opaque" : "trusted.overlay.opaque"; }

static int is_whiteout_at(int dfd, const char *name) {
  struct stat st;
  return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == 0;
}

static void mark_opaque(int dfd, const char *name) {
  if (xa_set(-1, dfd, name, opaque_key(), "y", 1) < 0) {
    int er = errno;
    fail("cannot mark the directory opaque (%s): %s%s", opaque_key(), strerror(er),
         U.rootless_xattrs ? "" : "; rootless unpacking needs --rootless-xattrs");
  }
}

/* ".wh.a" then "a/b" in one layer: a whiteout hides only the layers below (OCI), so the layer's
 * own "a" is a directory that hides what they had there: an opaque directory. */
static int revive_whiteouts(const char *parent) {
  char *p = strdup(parent);
  int changed = 0;
  if (!p) die(125, "untar: out of memory");
  for (char *s = p;;) {
    char *slash = strchr(s, '/');
    if (slash) *slash = 0;
    struct pr_name pn;
    if (pr_split(p, &pn) < 0) die(125, "untar: out of memory");
    int dfd = *pn.parent ? pr_open_dir(U.root, pn.parent, 0) : U.root;
    if (dfd >= 0 && *pn.leaf && is_whiteout_at(dfd, pn.leaf)) {
      if (unlinkat(dfd, pn.leaf, 0) < 0 || mkdirat(dfd, pn.leaf, 0755) < 0) fail_errno("cannot replace a whiteout");
      mark_opaque(dfd, pn.leaf);
      changed = 1;
    }
    if (dfd >= 0 && dfd != U.root) close(dfd);
    pr_name_free(&pn);
    if (!slash) break;
    *slash = '/';
    s = slash + 1;
  }
  free(p);
  if (changed) cache_drop();
  return changed;
}

/* the directory holding an entry, created on the way when missing; never closed by callers */
/* sets U.pgid0 for that directory */
static int get_parent(const char *parent) {
  if (!*parent) {
    U.pgid0 = U.root_gid0;
    return U.root;
  }
  if (U.cache_key && strcmp(U.cache_key, parent) == 0) {
    U.pgid0 = U.cache_gid0;
    return U.cache_fd;
  }
  int fd = pr_open_dir(U.root, parent, 1);
  if (fd < 0 && errno == ENOTDIR && revive_whiteouts(parent)) fd = pr_open_dir(U.root, parent, 1);
  if (fd < 0) {
    int e = errno;
    if (e == ENOTDIR) fail("a parent of this entry is not a directory");
    if (e == ELOOP) fail("too many levels of symbolic links in the parent directories");
    errno = e;
    fail_errno("cannot open the parent directory");
  }
  cache_set(parent, fd);
  U.pgid0 = U.cache_gid0;
  return fd;
}

/* remove whatever is at LEAF so that a new entry can take its place */
static void remove_existing(int pfd, const char *leaf) {
  char where[PATH_MAX];
  where[0] = 0;
  cache_drop();
  if (rm_at(pfd, leaf, where, sizeof where) < 0) {
    int e = errno;
    if (e == EXDEV) fail("cannot replace %s: it is a mount point", show(where));
    fail("cannot replace the existing %s: %s", show(where), strerror(e));
  }
}

static void note_chown(int64_t uid, int64_t gid) {
  if (!U.chown_fail++) {
    U.chown_uid = uid;
    U.chown_gid = gid;
    U.chown_errno = errno;
  }
}

/* ---- owners outside the user namespace's ID mapping ----
 * A layer may name IDs the namespace does not map (200000 when it maps 0-65536): the kernel
 * refuses such a chown (EINVAL), and the new inode would stay root's. Such an entry gets the
 * overflow ID instead (65534, nobody, when the namespace maps it; otherwise the owner stays
 * root inside), and loses every bit that grants privilege: set-user-ID, set-group-ID and file
 * capabilities (security.capability). Each ID is judged on its own (a mapped UID is kept with
 * an unmapped GID), by the kernel itself (a chown of that ID alone). One note counts them. Real
 * root maps every ID. */
#define OVERFLOW_ID 65534
struct idrange {
  uint32_t first, count;
};
static struct {
  int loaded;
  struct idrange u[64], g[64];
  size_t nu, ng;
  uint64_t n;           /* entries given another owner */
  char *first;          /* the first of them, and its IDs in the archive */
  int64_t fuid, fgid;
  int rooted;           /* some ID stayed root's: 65534 is not mapped either */
} UM;

static size_t read_idmap(const char *file, struct idrange *r, size_t max) {
  FILE *f = fopen(file, "re");
  if (!f) return 0;
  unsigned long a, b, c;
  size_t n = 0;
  while (n < max && fscanf(f, "%lu %lu %lu", &a, &b, &c) == 3) {
    if (n && r[n - 1].first + (uint64_t)r[n - 1].count == a) r[n - 1].count += (uint32_t)c; /* contiguous */
    else r[n++] = (struct idrange){(uint32_t)a, (uint32_t)c};
  }
  fclose(f);
  return n;
}

/* The maps, for the note only; read before a chroot (cp-in) hides /proc/self. */
void untar_load_idmaps(void) {
  if (UM.loaded) return;
  UM.loaded = 1;
  UM.nu = read_idmap("/proc/self/uid_map", UM.u, 64);
  UM.ng = read_idmap("/proc/self/gid_map", UM.g, 64);
}

static void ranges_text(char *out, size_t n, const struct idrange *r, size_t nr) {
  size_t l = 0;
  out[0] = 0;
  for (size_t i = 0; i < nr && l + 24 < n; i++)
    l += (size_t)snprintf(out + l, n - l, "%s%" PRIu32 "-%" PRIu64, i ? "," : "", r[i].first,
                          (uint64_t)r[i].first + r[i].count - 1);
}

static int do_chown(int fd, int pfd, const char *leaf, uid_t uid, gid_t gid) {
  return fd >= 0 ? fchown(fd, uid, gid) : fchownat(pfd, leaf, uid, gid, AT_SYMLINK_NOFOLLOW);
}

/* FRESH: the inode was just made in the directory get_parent() returned last. Returns 1 when
   the entry did not get the archive's owner: then it must get no set-ID bit nor file capability. */
static int set_owner(int fd, int pfd, const char *leaf, const struct ent *e, int fresh) {
  if (fresh && U.pgid0 && e->uid == 0 && e->gid == 0) return 0;
  if (do_chown(fd, pfd, leaf, (uid_t)e->uid, (gid_t)e->gid) == 0) return 0;
  if (errno != EINVAL) {
    note_chown(e->uid, e->gid);
    return 1;
  }
  /* which one is unmapped: each alone; then the overflow ID for it (-1: unchanged, root's) */
  uid_t uid = (uid_t)-1;
  gid_t gid = (gid_t)-1;
  if (do_chown(fd, pfd, leaf, (uid_t)e->uid, (gid_t)-1) < 0) uid = OVERFLOW_ID;
  if (do_chown(fd, pfd, leaf, (uid_t)-1, (gid_t)e->gid) < 0) gid = OVERFLOW_ID;
  if (uid != (uid_t)-1 && do_chown(fd, pfd, leaf, uid, (gid_t)-1) < 0) UM.rooted = 1;
  if (gid != (gid_t)-1 && do_chown(fd, pfd, leaf, (uid_t)-1, gid) < 0) UM.rooted = 1;
  if (!UM.n++) {
    UM.first = strdup(U.cur ? U.cur : "?");
    UM.fuid = e->uid;
    UM.fgid = e->gid;
  }
  return 1;
}

/* STRIP: the entry did not get its own owner (set_owner): no file capabilities */
static void set_xattrs(int fd, int pfd, const char *leaf, const struct ent *e, int strip) {
  for (size_t i = 0; i < e->nxa; i++) {
    const struct xattr *x = &e->xa[i];
    if (xa_is_overlay(x->name)) {
      U.overlay_xattrs++;
      continue;
    }
    if (strip && strcmp(x->name, "security.capability") == 0) continue;
    if (strcmp(x->name, "system.posix_acl_default") == 0) U.mode_exact = 0;
    if (xa_set(fd, pfd, leaf, x->name, x->val, x->len) == 0) continue;
    if (!U.xattr_fail++) U.xattr_errno = errno;
    size_t l = strlen(U.xattr_names);
    if (!strstr(U.xattr_names, x->name) && l + strlen(x->name) + 3 < sizeof U.xattr_names)
      snprintf(U.xattr_names + l, sizeof U.xattr_names - l, "%s%s", l ? ", " : "", x->name);
  }
}

static void ent_times(const struct ent *e, struct timespec ts[2]) {
  if (e->has_atime) {
    ts[0] = e->atime;
  } else {
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_OMIT;
  }
  ts[1] = e->mtime;
}

static void defer_dir(const char *path, int fd, const struct ent *e, mode_t mask) {
  struct stat st;
  if (fstat(fd, &st) < 0) fail_errno("stat");
  if (U.ndf == U.cdf) {
    U.cdf = U.cdf ? U.cdf * 2 : 256;
    U.df = realloc(U.df, U.cdf * sizeof *U.df);
    if (!U.df) die(125, "untar: out of memory");
  }
  struct dirfix *d = &U.df[U.ndf];
  d->path = strdup(path);
  if (!d->path) die(125, "untar: out of memory");
  d->depth = 0;
  for (const char *p = path; *p; p++) d->depth += *p == '/';
  d->order = U.ndf++;
  d->dev = st.st_dev;
  d->ino = st.st_ino;
  d->mode = (mode_t)(e->mode & mask);
  ent_times(e, d->ts);
}

/* ---- placement of directories (ext4) ----
 *
 * ext4 without a journal skips, for every new inode, each free inode of the group that was
 * deleted in the last minutes (recently_deleted() looks up its inode table block): after `rmi`
 * freed a layer's thousands of inodes, each entry of the next layer made in those groups costs
 * 100+ us in the kernel instead of a few (measured: 1 s for a 6,661-entry layer instead of
 * 0.07 s). Files land in the flex group of their directory, directories near their parent,
 * so a layer fills the groups the previous one just freed. But ext4 places the children of a
 * directory flagged FS_TOPDIR_FL (chattr +T: the Orlov allocator's "top of a hierarchy") in a
 * group with few directories, starting from a hash of the name. So, when DIR is empty (a new
 * layer) and accepts the flag:
 *  - each top-level directory, and any directory made while creating entries is slow (a
 *    moving average of the create calls over SPREAD_SLOW_NS), is made under a random name in
 *    its parent, flagged for that one mkdir, then renamed to its name;
 *  - a probe file made and removed in it tells whether its group is itself a slow one; then
 *    another random name is tried (SPREAD_TRIES at most), the rejected ones removed.
 * Placement only: names, contents, order and checks are unchanged, and DIR's flags are
 * restored at the end. Off elsewhere (other file systems refuse the flag; a non-empty DIR) and
 * with CTR_HELPER_NO_SPREAD=1. */

#define CTR_FS_IOC_GETFLAGS _IOR('f', 1, long)
#define CTR_FS_IOC_SETFLAGS _IOW('f', 2, long)
#define CTR_FS_TOPDIR_FL 0x00020000
#define CTR_RENAME_NOREPLACE 1
#define SPREAD_TRIES 4
#define SPREAD_PROBES 8         /* files made (then removed) to judge a group */
#define SPREAD_SLOW_NS 40000    /* a clean ext4 create costs 2-10 us; a scanned group 100+ */

static struct {
  int active, restore, debug;
  int all; /* tests (CTR_HELPER_SPREAD_ALL): 1 every directory, 2 also every probe judged slow */
  int oldflags;
  int64_t ema; /* moving average of the create calls, ns */
  uint64_t made, retries;
} SP;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* around every call that makes an inode */
static inline int64_t mk_begin(void) { return SP.active ? now_ns() : 0; }
static inline void mk_end(int64_t t0) {
  if (SP.active) SP.ema += (now_ns() - t0 - SP.ema) / 8;
}

static int dir_is_empty(int fd) {
  int d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dp = d >= 0 ? fdopendir(d) : NULL;
  if (!dp) {
    if (d >= 0) close(d);
    return 0;
  }
  int empty = 1;
  struct dirent *de;
  while ((de = readdir(dp)) != NULL) {
    const char *n = de->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    empty = 0;
    break;
  }
  closedir(dp);
  return empty;
}

static void spread_begin(void) {
  const char *e = getenv("CTR_HELPER_NO_SPREAD");
  SP.debug = getenv("CTR_HELPER_UNTAR_DEBUG") != NULL;
  const char *all = getenv("CTR_HELPER_SPREAD_ALL");
  SP.all = all ? atoi(all) : 0;
  if (e && strcmp(e, "1") == 0) return;
  int flags = 0;
  if (ioctl(U.root, CTR_FS_IOC_GETFLAGS, &flags) < 0) return;
  if (!dir_is_empty(U.root)) return;
  if (!(flags & CTR_FS_TOPDIR_FL)) {
    int nf = flags | CTR_FS_TOPDIR_FL;
    if (ioctl(U.root, CTR_FS_IOC_SETFLAGS, &nf) < 0) return;
    SP.restore = 1;
    SP.oldflags = flags;
  }
  SP.active = 1;
}

static void spread_end(void) {
  if (SP.restore) ioctl(U.root, CTR_FS_IOC_SETFLAGS, &SP.oldflags); /* placement only: fine if refused */
  SP.restore = SP.active = 0;
  if (SP.debug)
    fprintf(stderr, "untar: spread %" PRIu64 " directories, %" PRIu64 " retries\n", SP.made, SP.retries);
}

static void spread_name(char *buf, size_t n) {
  uint64_t r;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
  snprintf(buf, n, ".ctr-untar-%016llx", (unsigned long long)r);
}

/* probe files live until the end (their inodes stay taken, so the layer's own entries do not
 * have to skip them as recently deleted ones); removed before the directory times are set */
struct probed {
  int dfd; /* O_PATH handle of the directory kept */
  char name[40];
};
static struct probed *SPK;
static size_t nspk, cspk;

static void probe_name(char *buf, size_t n, const char *dir, int i) { snprintf(buf, n, "%.40s-p%d", dir, i); }

static void probes_remove(int d, const char *dir, int count) {
  for (int j = 0; j < count; j++) {
    char pn[64];
    probe_name(pn, sizeof pn, dir, j);
    unlinkat(d, pn, 0);
  }
}

/* the cost of making SPREAD_PROBES files in directory NAME of PFD (ns, the dearest), or -1 */
static int64_t spread_probe(int pfd, const char *name) {
  int d = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (d < 0) return -1;
  int64_t worst = 0;
  int i;
  for (i = 0; i < SPREAD_PROBES; i++) {
    char pn[64];
    probe_name(pn, sizeof pn, name, i);
    int64_t t0 = now_ns();
    int f = openat(d, pn, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int64_t t = now_ns() - t0;
    if (f < 0) break;
    close(f);
    if (t > worst) worst = t;
  }
  if (i < SPREAD_PROBES) probes_remove(d, name, i);
  close(d);
  return i == SPREAD_PROBES ? worst : -1;
}

#define SPREAD_KEEP_MAX 1024 /* handles kept; past that, probes go at once */

static void probes_keep(int pfd, const char *leaf, const char *cand) {
  int d = openat(pfd, leaf, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (d < 0) fail_errno("cannot open a placement directory");
  if (nspk >= SPREAD_KEEP_MAX) {
    probes_remove(d, cand, SPREAD_PROBES);
    close(d);
    return;
  }
  if (nspk == cspk) {
    cspk = cspk ? cspk * 2 : 32;
    SPK = realloc(SPK, cspk * sizeof *SPK);
    if (!SPK) die(125, "untar: out of memory");
  }
  SPK[nspk].dfd = d;
  snprintf(SPK[nspk].name, sizeof SPK[nspk].name, "%s", cand);
  nspk++;
}

/* before the directory times: the directories kept may have been replaced since (then ENOENT) */
static void spread_cleanup(void) {
  for (size_t i = 0; i < nspk; i++) {
    probes_remove(SPK[i].dfd, SPK[i].name, SPREAD_PROBES);
    close(SPK[i].dfd);
  }
  free(SPK);
  SPK = NULL;
  nspk = cspk = 0;
}

/* make directory LEAF (absent) in PFD in a group that makes files fast. 0 when made; -1 when
 * the caller should make it the plain way (errno EEXIST when LEAF exists). */
static int spread_mkdir(int pfd, const char *leaf) {
  struct stat st;
  if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    errno = EEXIST;
    return -1;
  }
  /* PFD may be an O_PATH handle: flags need a real one */
  int dfd = pfd == U.root ? U.root : openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int flags = 0, flagged = 0;
  if (dfd < 0) return -1;
  if (dfd != U.root) {
    if (ioctl(dfd, CTR_FS_IOC_GETFLAGS, &flags) < 0) goto plain;
    if (!(flags & CTR_FS_TOPDIR_FL)) {
      int nf = flags | CTR_FS_TOPDIR_FL;
      if (ioctl(dfd, CTR_FS_IOC_SETFLAGS, &nf) < 0) goto plain;
      flagged = 1;
    }
  }
  char cand[SPREAD_TRIES][40];
  int64_t cost[SPREAD_TRIES];
  int n = 0, pick = -1;
  while (n < SPREAD_TRIES) {
    spread_name(cand[n], sizeof cand[n]);
    if (mkdirat(pfd, cand[n], 0700) < 0) {
      if (errno == EEXIST) continue;
      break;
    }
    cost[n] = spread_probe(pfd, cand[n]);
    n++;
    if (cost[n - 1] >= 0 && cost[n - 1] < SPREAD_SLOW_NS && SP.all < 2) {
      pick = n - 1;
      break;
    }
  }
  if (flagged) ioctl(dfd, CTR_FS_IOC_SETFLAGS, &flags);
  if (pick < 0) /* all slow (or unmeasurable): the cheapest */
    for (int i = 0; i < n; i++)
      if (cost[i] >= 0 && (pick < 0 || cost[i] < cost[pick])) pick = i;
  int made = -1;
  if (pick >= 0 && syscall(SYS_renameat2, pfd, cand[pick], pfd, leaf, CTR_RENAME_NOREPLACE) == 0) made = pick;
  else if (pick >= 0 && errno == ENOSYS) {
    /* before Linux 3.15: untar is the only writer of the layer it makes, so LEAF still being
       absent stands for RENAME_NOREPLACE */
    struct stat lst;
    if (fstatat(pfd, leaf, &lst, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT && renameat(pfd, cand[pick], pfd, leaf) == 0)
      made = pick;
  }
  for (int i = 0; i < n; i++) {
    if (i == made) continue;
    int d = openat(pfd, cand[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d >= 0) {
      probes_remove(d, cand[i], SPREAD_PROBES);
      close(d);
    }
    if (unlinkat(pfd, cand[i], AT_REMOVEDIR) < 0) fail_errno("cannot remove a placement directory");
  }
  if (made >= 0) probes_keep(pfd, leaf, cand[made]);
  if (n > 1) SP.retries += (uint64_t)(n - 1);
  if (dfd != U.root) close(dfd);
  if (made < 0) {
    errno = 0;
    return -1;
  }
  SP.made++;
  SP.ema = 0; /* judged afresh in the new place */
  return 0;
plain:
  if (dfd != U.root) close(dfd);
  errno = 0;
  return -1;
}

static void do_dir(const struct pr_name *pn, const struct ent *e) {
  int fd, fresh = 0;
  if (!*pn->full) {
    fd = U.root; /* "./": the root itself */
  } else {
    int pfd = get_parent(pn->parent);
    int made = SP.active && (!*pn->parent || SP.all || SP.ema > SPREAD_SLOW_NS) && spread_mkdir(pfd, pn->leaf) == 0;
    int64_t t0 = mk_begin();
    int r = made ? 0 : mkdirat(pfd, pn->leaf, 0700);
    if (!made) mk_end(t0);
    fresh = 1;
    if (r < 0) {
      if (errno != EEXIST) fail_errno("cannot create the directory");
      struct stat st;
      if (fstatat(pfd, pn->leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) fail_errno("stat");
      fresh = 0;
      if (!S_ISDIR(st.st_mode)) {
        fresh = 1;
        int was_whiteout = S_ISCHR(st.st_mode) && st.st_rdev == 0;
        remove_existing(pfd, pn->leaf);
        if (mkdirat(pfd, pn->leaf, 0700) < 0) fail_errno("cannot create the directory");
        if (was_whiteout) mark_opaque(pfd, pn->leaf); /* see revive_whiteouts() */
      }
    }
    fd = openat(pfd, pn->leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) fail_errno("cannot open the directory");
  }
  int strip = set_owner(fd, -1, NULL, e, fresh);
  if (fd == U.root) U.root_gid0 = U.ids0 && gid_is0(fd);
  set_xattrs(fd, -1, NULL, e, strip);
  defer_dir(pn->full, fd, e, strip ? 01777 : 07777); /* mode and times once everything below exists */
  if (fd != U.root) cache_set(pn->full, fd);
}

static void do_file(struct rd *r, const struct pr_name *pn, const struct ent *e) {
  int pfd = get_parent(pn->parent);
  int fd = -1;
  for (int tries = 0; tries < 3; tries++) {
    int64_t t0 = mk_begin();
    fd = openat(pfd, pn->leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)(e->mode & 0777));
    mk_end(t0);
    if (fd >= 0 || errno != EEXIST) break;
    remove_existing(pfd, pn->leaf);
  }
  if (fd < 0) fail_errno("cannot create the file");
  rd_copy(r, (uint64_t)e->size, fd);
  rd_pad(r, (uint64_t)e->size);
  U.bytes += (uint64_t)e->size;
  int strip = set_owner(fd, -1, NULL, e, 1);
  /* made with its permission bits (umask 0); a chown clears set-ID bits: those come after */
  mode_t mode = (mode_t)(e->mode & (strip ? 01777 : 07777));
  if (((mode & 07000) || !U.mode_exact) && fchmod(fd, mode) < 0) fail_errno("chmod");
  set_xattrs(fd, -1, NULL, e, strip);
  struct timespec ts[2];
  ent_times(e, ts);
  if (futimens(fd, ts) < 0) fail_errno("cannot set the times");
  if (close(fd) < 0) fail_errno("write");
}

static void do_symlink(const struct pr_name *pn, const struct ent *e) {
  if (!e->link || !*e->link) fail("symbolic link with an empty target");
  int pfd = get_parent(pn->parent);
  for (int tries = 0;; tries++) {
    int64_t t0 = mk_begin();
    int r = symlinkat(e->link, pfd, pn->leaf);
    mk_end(t0);
    if (r == 0) break;
    if (errno != EEXIST || tries >= 2) fail_errno("cannot create the symbolic link");
    remove_existing(pfd, pn->leaf);
  }
  int strip = set_owner(-1, pfd, pn->leaf, e, 1);
  set_xattrs(-1, pfd, pn->leaf, e, strip);
  struct timespec ts[2];
  ent_times(e, ts);
  if (utimensat(pfd, pn->leaf, ts, AT_SYMLINK_NOFOLLOW) < 0) fail_errno("cannot set the times");
}

static void do_hardlink(const struct pr_name *pn, const struct ent *e) {
  if (!e->link || !*e->link) fail("hard link with an empty target");
  struct pr_name tn;
  if (pr_split(e->link, &tn) < 0) die(125, "untar: out of memory");
  if (!*tn.full || strcmp(tn.leaf, "..") == 0) fail("refusing a hard link to a directory");
  int tpfd = *tn.parent ? pr_open_dir(U.root, tn.parent, 0) : U.root;
  if (tpfd < 0) {
    int er = errno;
    fail("hard link target %s: %s", show(e->link), strerror(er));
  }
  struct stat ts;
  if (fstatat(tpfd, tn.leaf, &ts, AT_SYMLINK_NOFOLLOW) < 0) {
    int er = errno;
    fail("hard link target %s: %s", show(e->link), strerror(er));
  }
  if (S_ISDIR(ts.st_mode)) fail("refusing a hard link to a directory (%s)", show(e->link));
  int pfd = get_parent(pn->parent);
  for (int tries = 0;; tries++) {
    if (linkat(tpfd, tn.leaf, pfd, pn->leaf, 0) == 0) break;
    if (errno != EEXIST || tries >= 2) fail_errno("cannot create the hard link");
    struct stat cur;
    if (fstatat(pfd, pn->leaf, &cur, AT_SYMLINK_NOFOLLOW) == 0 && cur.st_dev == ts.st_dev &&
        cur.st_ino == ts.st_ino)
      break; /* already that file */
    remove_existing(pfd, pn->leaf);
  }
  if (tpfd != U.root) close(tpfd);
  pr_name_free(&tn);
}

static void do_node(const struct pr_name *pn, const struct ent *e) {
  mode_t kind = e->type == '3' ? S_IFCHR : e->type == '4' ? S_IFBLK : S_IFIFO;
  dev_t dev = kind == S_IFIFO ? 0 : makedev(e->devmaj, e->devmin);
  int pfd = get_parent(pn->parent);
  for (int tries = 0;; tries++) {
    if (mknodat(pfd, pn->leaf, kind | (mode_t)(e->mode & 0777), dev) == 0) break;
    if (errno == EPERM && kind != S_IFIFO) {
      U.skipped_dev++;
      return;
    }
    if (errno != EEXIST || tries >= 2) fail_errno("cannot create the node");
    remove_existing(pfd, pn->leaf);
  }
  int strip = set_owner(-1, pfd, pn->leaf, e, 1);
  if (fchmodat(pfd, pn->leaf, (mode_t)(e->mode & (strip ? 01777 : 07777)), AT_SYMLINK_NOFOLLOW) < 0) fail_errno("chmod");
  set_xattrs(-1, pfd, pn->leaf, e, strip);
  struct timespec ts[2];
  ent_times(e, ts);
  if (utimensat(pfd, pn->leaf, ts, AT_SYMLINK_NOFOLLOW) < 0) fail_errno("cannot set the times");
}

static void do_whiteout(const struct pr_name *pn) {
  int pfd = get_parent(pn->parent);
  if (strcmp(pn->leaf, ".wh..wh..opq") == 0) {
    mark_opaque(pfd, ".");
    return;
  }
  if (strncmp(pn->leaf, ".wh..wh.", 8) == 0) return; /* aufs bookkeeping: nothing to do */
  const char *target = pn->leaf + 4;
  if (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0) fail("invalid whiteout name");
  struct stat st;
  if (fstatat(pfd, target, &st, AT_SYMLINK_NOFOLLOW) == 0) remove_existing(pfd, target);
  if (mknodat(pfd, target, S_IFCHR, makedev(0, 0)) < 0) {
    int er = errno;
    fail("cannot create the whiteout device for %s: %s; overlay whiteouts need root or Linux >= 5.8",
         show(target), strerror(er));
  }
}

static int header_only(char t) {
  return t == '1' || t == '2' || t == '3' || t == '4' || t == '5' || t == '6';
}

static void do_entry(struct rd *r, struct ent *e) {
  U.cur = e->name;
  U.entries++;
  char t = e->type;
  uint64_t dsize = header_only(t) ? 0 : (uint64_t)e->size;
  size_t nl = strlen(e->name);
  if ((t == '0' || t == 0) && nl && e->name[nl - 1] == '/') t = '5'; /* old tars */
  if (t == 0 || t == '7') t = '0';
  if (t == 'D') t = '5'; /* GNU dumpdir: a directory plus a listing we do not need */
  if (e->sparse || !(t == '0' || t == '1' || t == '2' || t == '3' || t == '4' || t == '5' || t == '6')) {
    char tc = e->sparse ? 'S' : t;
    U.unsupported++;
    size_t l = strlen(U.unsupported_types);
    if (!memchr(U.unsupported_types, tc, l) && l + 4 < sizeof U.unsupported_types && tc > 0x20 && tc < 0x7f)
      snprintf(U.unsupported_types + l, sizeof U.unsupported_types - l, "%s%c", l ? "," : "", tc);
    rd_copy(r, dsize, -1);
    rd_pad(r, dsize);
    return;
  }
  if (e->uid < 0 || e->uid > 0xfffffffeLL || e->gid < 0 || e->gid > 0xfffffffeLL)
    fail("invalid owner %" PRId64 ":%" PRId64, e->uid, e->gid);
  if (e->size < 0) fail("invalid size");
  struct pr_name pn;
  if (pr_split(e->name, &pn) < 0) die(125, "untar: out of memory");
  if (strcmp(pn.leaf, "..") == 0 || (!*pn.full && t != '5')) {
    U.dotdot++;
  } else if (strncmp(pn.leaf, ".wh.", 4) == 0) {
    do_whiteout(&pn);
  } else {
    switch (t) {
      case '0': do_file(r, &pn, e); dsize = 0; break;
      case '1': do_hardlink(&pn, e); break;
      case '2': do_symlink(&pn, e); break;
      case '5': do_dir(&pn, e); break;
      default: do_node(&pn, e); break;
    }
  }
  if (dsize) {
    rd_copy(r, dsize, -1);
    rd_pad(r, dsize);
  }
  pr_name_free(&pn);
}

static int dirfix_cmp(const void *a, const void *b) {
  const struct dirfix *x = a, *y = b;
  if (x->depth != y->depth) return x->depth > y->depth ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* directory modes and times, deepest first, once nothing more is created below them */
static void finish_dirs(void) {
  qsort(U.df, U.ndf, sizeof *U.df, dirfix_cmp);
  for (size_t i = 0; i < U.ndf; i++) {
    struct dirfix *d = &U.df[i];
    int fd = -1;
    if (!*d->path) {
      fd = U.root;
    } else {
      struct pr_name pn;
      if (pr_split(d->path, &pn) < 0) die(125, "untar: out of memory");
      int pfd = *pn.parent ? pr_open_dir(U.root, pn.parent, 0) : U.root;
      if (pfd >= 0) {
        fd = openat(pfd, pn.leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (pfd != U.root) close(pfd);
      }
      pr_name_free(&pn);
    }
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == d->dev && st.st_ino == d->ino) {
      U.cur = d->path;
      if (fchmod(fd, d->mode) < 0) fail_errno("chmod");
      if (futimens(fd, d->ts) < 0) fail_errno("cannot set the times");
    }
    if (fd >= 0 && fd != U.root) close(fd);
    free(d->path);
  }
  free(U.df);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) {
  char b[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  notex("%s", b);
  U.notes++;
}

#define WHOLE_MAX (64u << 20)      /* --whole: the most stdin may hold */
#define WHOLE_TAR_MAX (512u << 20) /* --whole: the most a blob may inflate to in memory */

/* --mkdir: DIR's parent (0700; may exist) and DIR itself (0755; must not), made here rather
 * than by the caller: on ext4, making an inode can take a millisecond or two */
static void make_dirs(const char *dir) {
  char parent[PATH_MAX];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof parent) die(125, "untar: bad directory %s", dir);
  memcpy(parent, dir, n + 1);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) {
    *slash = 0;
    if (mkdir(parent, 0700) < 0 && errno != EEXIST) die_errno(125, "untar: cannot make %s", parent);
  }
  if (mkdir(dir, 0755) < 0) die_errno(125, "untar: cannot make %s", dir);
}

static struct {
  const unsigned char *tar;
  size_t len;
  char *out;
  pthread_t thread;
  int started;
} W;

static void *diff_hash(void *arg) {
  (void)arg;
  struct sha256 h;
  sha256_init(&h);
  sha256_update(&h, W.tar, W.len);
  sha256_final_digest(&h, W.out);
  return NULL;
}

/* --whole: reads all of stdin (the blob), hashes it, and gives the tar in memory (inflated
 * when gzip) with its digest; exits 3 when the caller should feed a stream instead */
static void whole_input(struct rd *r, char blob[72], char diff[72]) {
  size_t cap = 1 << 20, len = 0;
  unsigned char *in = xmalloc(cap);
  struct sha256 h;
  sha256_init(&h);
  for (;;) {
    if (len == cap) {
      if (cap >= WHOLE_MAX) die(125, "untar: --whole: more than %u bytes on stdin", WHOLE_MAX);
      cap *= 2;
      in = realloc(in, cap);
      if (!in) die(125, "untar: out of memory");
    }
    ssize_t n = read(0, in + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die_errno(125, "untar: reading the layer from stdin");
    if (n == 0) break;
    sha256_update(&h, in + len, (size_t)n); /* while the writer is still sending */
    len += (size_t)n;
  }
  sha256_final_digest(&h, blob);
  unsigned char *tar = in;
  size_t tlen = len;
  if (len >= 2 && in[0] == 0x1f && in[1] == 0x8b) {
#ifdef HAVE_LIBDEFLATE
    /* member by member (a gzip file may hold several); the last member's size field (the
     * input's last 4 bytes, mod 2^32) sizes the buffer for the usual single-member file */
    size_t ocap = len >= 4 ? ((size_t)in[len - 4] | (size_t)in[len - 3] << 8 | (size_t)in[len - 2] << 16 | (size_t)in[len - 1] << 24) : 0;
    if (ocap < len) ocap = len * 4;
    if (ocap > WHOLE_TAR_MAX) ocap = WHOLE_TAR_MAX;
    ocap += 1; /* room to tell "exactly full" from "needs more" */
    unsigned char *out = xmalloc(ocap);
    size_t ilen = 0, olen = 0;
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    if (!d) die(125, "untar: out of memory");
    while (ilen < len) {
      size_t used = 0, made = 0;
      enum libdeflate_result res = libdeflate_gzip_decompress_ex(d, in + ilen, len - ilen, out + olen, ocap - olen, &used, &made);
      if (res == LIBDEFLATE_INSUFFICIENT_SPACE) {
        if (ocap > WHOLE_TAR_MAX) exit(3); /* too big to hold: the caller streams it */
        ocap = ocap * 2 > WHOLE_TAR_MAX + 1 ? WHOLE_TAR_MAX + 1 : ocap * 2;
        out = realloc(out, ocap);
        if (!out) die(125, "untar: out of memory");
        continue;
      }
      /* libdeflate does not tell a cut stream from a corrupt one */
      if (res != LIBDEFLATE_SUCCESS) die(1, "untar: truncated gzip data or corrupt compressed data");
      ilen += used;
      olen += made;
    }
    libdeflate_free_decompressor(d);
    free(in);
    tar = out;
    tlen = olen;
#else
    exit(3); /* no inflater built in */
#endif
  } else if (len >= 4 && in[0] == 0x28 && in[1] == 0xb5 && in[2] == 0x2f && in[3] == 0xfd) {
    exit(3); /* zstd: the caller decompresses it */
  }
  /* the tar's digest is computed on another thread while the entries are written */
  W.tar = tar;
  W.len = tlen;
  W.out = diff;
  if (pthread_create(&W.thread, NULL, diff_hash, NULL) != 0) {
    diff_hash(NULL);
  } else {
    W.started = 1;
  }
  r->buf = tar;
  r->pos = 0;
  r->len = tlen;
  r->eof = 1;
  r->mem = 1;
}

int cmd_untar(int argc, char **argv) {
  const char *dir = NULL;
  int whole = 0, make = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rootless-xattrs") == 0) U.rootless_xattrs = 1;
    else if (strcmp(argv[i], "--whole") == 0) whole = 1;
    else if (strcmp(argv[i], "--mkdir") == 0) make = 1;
    else if (argv[i][0] == '-' && argv[i][1]) die(125, "untar: unknown option %s", argv[i]);
    else if (!dir) dir = argv[i];
    else die(125, "untar: too many arguments; usage: untar [--rootless-xattrs] [--whole] [--mkdir] DIR");
  }
  if (!dir) die(125, "untar: missing DIR; usage: untar [--rootless-xattrs] [--whole] [--mkdir] DIR");
  join_userns();
  storage_init();
  if (make) make_dirs(dir);
  U.root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (U.root < 0) die_errno(125, "untar: cannot open %s", dir);
  fcntl(0, F_SETPIPE_SZ, 1 << 20); /* fewer, larger reads when fed by a pipe; fine if refused */
  struct rd r = {0, NULL, 0, 0, 0, 0};
  char blob[72] = "", diff[72] = "";
  if (whole) whole_input(&r, blob, diff);
  const size_t whole_size = r.len;
  spread_begin();
  U.ids0 = geteuid() == 0 && getegid() == 0;
  U.root_gid0 = U.ids0 && gid_is0(U.root);
  U.mode_exact = fgetxattr(U.root, "system.posix_acl_default", NULL, 0) < 0 && errno != ERANGE;

  if (!whole) r.buf = xmalloc(RDBUF);
  struct kvset gpax = {0}, xpax = {0};
  char *longname = NULL, *longlink = NULL;
  char hname[101];

  for (;;) {
    size_t a = rd_fill(&r, 512);
    if (a == 0) break; /* end of input without the zero blocks: accepted */
    if (a < 512) {
      U.cur = NULL;
      fail("truncated archive: incomplete header");
    }
    const unsigned char *h = r.buf + r.pos;
    if (is_zero_block(h)) {
      r.pos += 512;
      break;
    }
    memcpy(hname, h, 100);
    hname[100] = 0;
    U.cur = hname;
    if (!checksum_ok(h)) fail("bad header checksum: not a tar archive, or a corrupt one");
    unsigned char hdr[512];
    memcpy(hdr, h, 512);
    r.pos += 512;
    char type = (char)hdr[156];
    int64_t size;
    if (parse_num(hdr + 124, 12, &size) < 0 || size < 0) fail("invalid size field");
    if (type == 'x' || type == 'g') {
      if ((uint64_t)size > MAX_PAX) fail("PAX header too large (%" PRId64 " bytes)", size);
      unsigned char *b = rd_meta(&r, (uint64_t)size);
      parse_pax(b, (size_t)size, type == 'g' ? &gpax : &xpax);
      free(b);
      continue;
    }
    if (type == 'L' || type == 'K') {
      if ((uint64_t)size > MAX_LONGNAME) fail("GNU long name too long (%" PRId64 " bytes)", size);
      unsigned char *b = rd_meta(&r, (uint64_t)size);
      char **dst = type == 'L' ? &longname : &longlink;
      free(*dst);
      *dst = xstrndup(b, (size_t)size);
      free(b);
      continue;
    }

    struct ent e;
    memset(&e, 0, sizeof e);
    e.type = type;
    if (memcmp(hdr + 257, "ustar\0", 6) == 0 && hdr[345]) {
      size_t pl = strnlen((const char *)hdr + 345, 155), nl = strnlen((const char *)hdr, 100);
      e.name = xmalloc(pl + 1 + nl + 1);
      memcpy(e.name, hdr + 345, pl);
      e.name[pl] = '/';
      memcpy(e.name + pl + 1, hdr, nl);
      e.name[pl + 1 + nl] = 0;
    } else {
      e.name = xstrndup(hdr, 100);
    }
    e.link = xstrndup(hdr + 157, 100);
    if (longname) {
      free(e.name);
      e.name = longname;
      longname = NULL;
    }
    if (longlink) {
      free(e.link);
      e.link = longlink;
      longlink = NULL;
    }
    int64_t mt;
    if (parse_num(hdr + 100, 8, &e.mode) < 0) fail("invalid mode field");
    if (parse_num(hdr + 108, 8, &e.uid) < 0) fail("invalid uid field");
    if (parse_num(hdr + 116, 8, &e.gid) < 0) fail("invalid gid field");
    if (parse_num(hdr + 136, 12, &mt) < 0) fail("invalid mtime field");
    e.size = size;
    e.mtime.tv_sec = (time_t)mt;
    e.mtime.tv_nsec = 0;
    if (type == '3' || type == '4') {
      int64_t ma, mi;
      if (parse_num(hdr + 329, 8, &ma) < 0 || parse_num(hdr + 337, 8, &mi) < 0 || ma < 0 || mi < 0 ||
          ma > 0xffffffffLL || mi > 0xffffffffLL)
        fail("invalid device number");
      e.devmaj = (unsigned)ma;
      e.devmin = (unsigned)mi;
    }
    apply_pax(&e, &gpax, 1); /* errors name the header (U.cur = hname): e.name may be replaced */
    apply_pax(&e, &xpax, 0);
    do_entry(&r, &e);
    free(e.name);
    free(e.link);
    free(e.xa);
    kv_clear(&xpax);
  }
  U.cur = NULL;
  /* drain the rest (end-of-archive padding) so the writer never sees a broken pipe */
  r.pos = r.len = 0;
  while (!r.eof) {
    r.pos = r.len = 0;
    rd_fill(&r, RDBUF);
  }
  spread_cleanup();
  finish_dirs();
  spread_end();
  if (U.cache_fd >= 0) close(U.cache_fd);
  cache_drop();

  if (U.skipped_dev) note("skipped %" PRIu64 " device nodes (not allowed without root)", U.skipped_dev);
  if (UM.n) {
    char maps[440] = "";
    untar_load_idmaps();
    if (UM.nu && UM.ng) {
      char ur[200], gr[200];
      ranges_text(ur, sizeof ur, UM.u, UM.nu);
      ranges_text(gr, sizeof gr, UM.g, UM.ng);
      snprintf(maps, sizeof maps, "it maps UIDs %s, GIDs %s; ", ur, gr);
    }
    note("%" PRIu64 " %s owned by IDs outside this user namespace (%sfirst: %s, %" PRId64 ":%" PRId64
         "): %s to %s instead, without set-ID bits or file capabilities",
         UM.n, UM.n == 1 ? "entry is" : "entries are", maps, show(UM.first), UM.fuid, UM.fgid,
         UM.n == 1 ? "it belongs" : "they belong", UM.rooted ? "root (65534 is not mapped either)" : "nobody (65534)");
  }
  if (U.chown_fail)
    note("%" PRIu64 " entries kept the current owner instead of their own, without set-ID bits or file "
         "capabilities (first: %" PRId64 ":%" PRId64 ": %s)",
         U.chown_fail, U.chown_uid, U.chown_gid, strerror(U.chown_errno));
  if (U.xattr_fail)
    note("could not set %" PRIu64 " extended attributes (%s): %s", U.xattr_fail, U.xattr_names,
         strerror(U.xattr_errno));
  if (U.overlay_xattrs)
    note("ignored %" PRIu64 " overlay extended attributes carried by the archive", U.overlay_xattrs);
  if (U.unsupported)
    note("skipped %" PRIu64 " entries of unsupported types (%s)", U.unsupported, U.unsupported_types);
  if (U.dotdot) note("skipped %" PRIu64 " entries naming '..' or the root itself", U.dotdot);
  if (W.started) pthread_join(W.thread, NULL);
  if (whole)
    printf("{\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"notes\":%d,\"blob\":\"%s\",\"diffId\":\"%s\",\"diffSize\":%zu}\n",
           U.entries, U.bytes, U.notes, blob, diff, whole_size);
  else
    printf("{\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"notes\":%d}\n", U.entries, U.bytes, U.notes);
  if (fflush(stdout) != 0) die_errno(125, "untar: writing the result");
  return 0;
}
