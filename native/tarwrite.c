/* The PAX tar writer (tarwrite.h) and tar-dir, which writes a directory with it on stdout.
 * cp-out (cp.c) writes its members with the same code.
 *
 * tar-dir: names are relative ("etc/", "etc/passwd"), sorted byte-wise within each directory, parents
 * before children. Numeric owners as seen inside the user namespace, mtimes in whole seconds
 * (as Docker and Podman write layers), modes with setuid/setgid/sticky, symlinks, hard links
 * (later names of an inode become link entries), device nodes and fifos; extended attributes
 * as SCHILY.xattr records except overlayfs' own and security.selinux. ustar fields are used
 * when values fit; a PAX header carries what does not (long names, big sizes and IDs).
 * With --diff the directory is an overlay upper dir: a 0:0 character device becomes an empty
 * ".wh.NAME" file and an opaque directory is followed by a ".wh..wh..opq" entry. With
 * --diff-from LOWERS the directory is a vfs copy of those layers: the same kind of diff, made by
 * comparing the two (vfsdiff.c). With --size no file content is read and nothing is written but
 * the size the archive would have, in bytes, on stdout (a vfs container's writable layer for
 * `ps -s`). */
#include "tarwrite.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define OBUF (1u << 20)

struct xa {
  char *name;
  unsigned char *val;
  size_t len;
};

static struct tw_opts O;

static struct {
  unsigned char *buf;
  size_t len;
  struct inomap *links;
  struct tw_counts c;
  char *pax;
  size_t paxlen, paxcap;
} W;

static void __attribute__((noreturn)) oom(void) { die(125, "%s: out of memory", O.who); }

static void out_flush(void) {
  W.c.bytes += W.len;
  if (O.count_only) {
    W.len = 0;
    return;
  }
  if (W.len && st_write_all(1, W.buf, W.len) < 0) {
    if (errno == EPIPE && O.epipe_status) exit(O.epipe_status); /* the reader went away; it reports why */
    die_errno(125, "%s: writing the archive", O.who);
  }
  W.len = 0;
}

static void out_put(const void *p, size_t n) {
  const unsigned char *c = p;
  while (n) {
    size_t k = OBUF - W.len < n ? OBUF - W.len : n;
    memcpy(W.buf + W.len, c, k);
    W.len += k;
    c += k;
    n -= k;
    if (W.len == OBUF) out_flush();
  }
}

static void out_zeros(uint64_t n) {
  static const unsigned char z[512];
  while (n) {
    size_t k = n < sizeof z ? (size_t)n : sizeof z;
    out_put(z, k);
    n -= k;
  }
}

static void out_pad(uint64_t size) { out_zeros((512 - (size & 511)) & 511); }

/* ---- headers ---- */

static void put_oct(unsigned char *f, size_t n, uint64_t v) {
  f[n - 1] = 0;
  for (size_t i = n - 1; i-- > 0;) {
    f[i] = (unsigned char)('0' + (v & 7));
    v >>= 3;
  }
}

static int fits_oct(uint64_t v, size_t n) { return (n - 1) * 3 >= 64 || v < (1ULL << ((n - 1) * 3)); }

static void pax_add(const char *key, const void *val, size_t vlen) {
  size_t klen = strlen(key);
  size_t body = 1 + klen + 1 + vlen + 1; /* ' ' key '=' value '\n' */
  size_t digits = 1, total;
  for (;;) {
    total = digits + body;
    size_t d = 1;
    for (size_t t = total; t >= 10; t /= 10) d++;
    if (d == digits) break;
    digits = d;
  }
  if (W.paxlen + total > W.paxcap) {
    W.paxcap = (W.paxlen + total) * 2;
    W.pax = realloc(W.pax, W.paxcap);
    if (!W.pax) oom();
  }
  char *p = W.pax + W.paxlen;
  int n = snprintf(p, digits + 2, "%zu ", total);
  (void)n;
  p += digits + 1;
  memcpy(p, key, klen);
  p += klen;
  *p++ = '=';
  memcpy(p, val, vlen);
  p += vlen;
  *p = '\n';
  W.paxlen += total;
}

static void pax_num(const char *key, int64_t v) {
  char b[32];
  int n = snprintf(b, sizeof b, "%" PRId64, v);
  pax_add(key, b, (size_t)n);
}

static void header(unsigned char *h, const char *name, size_t nlen, const char *prefix, size_t plen, char type,
                   uint64_t mode, uint64_t uid, uint64_t gid, uint64_t size, uint64_t mtime, const char *link,
                   unsigned maj, unsigned min) {
  memset(h, 0, 512);
  memcpy(h, name, nlen > 100 ? 100 : nlen);
  put_oct(h + 100, 8, mode);
  put_oct(h + 108, 8, uid);
  put_oct(h + 116, 8, gid);
  put_oct(h + 124, 12, size);
  put_oct(h + 136, 12, mtime);
  h[156] = (unsigned char)type;
  if (link) {
    size_t ll = strlen(link);
    memcpy(h + 157, link, ll > 100 ? 100 : ll);
  }
  memcpy(h + 257, "ustar\0" "00", 8);
  if (type == '3' || type == '4') {
    put_oct(h + 329, 8, maj);
    put_oct(h + 337, 8, min);
  }
  if (plen) memcpy(h + 345, prefix, plen > 155 ? 155 : plen);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  h[155] = ' ';
}

/* one member: a PAX header first when a value does not fit the ustar fields */
static void emit(const char *name, char type, const struct stat *st, uint64_t size, const char *link,
                 const struct xa *xa, size_t nxa) {
  size_t nl = strlen(name);
  const char *hname = name, *prefix = "";
  size_t hlen = nl, plen = 0;
  W.paxlen = 0;
  if (nl > 100) {
    size_t i = nl - 1 < 155 ? nl - 1 : 155;
    for (; i > 0; i--) {
      if (name[i] == '/' && nl - i - 1 <= 100 && nl - i - 1 > 0) break;
    }
    if (i > 0) {
      prefix = name;
      plen = i;
      hname = name + i + 1;
      hlen = nl - i - 1;
    } else {
      pax_add("path", name, nl);
    }
  }
  if (link && strlen(link) > 100) pax_add("linkpath", link, strlen(link));
  uint64_t uid = O.owner_set ? O.owner_uid : st->st_uid, gid = O.owner_set ? O.owner_gid : st->st_gid;
  uint64_t hsize = size;
  int64_t mt = st->st_mtim.tv_sec;
  if (!fits_oct(size, 12)) {
    pax_num("size", (int64_t)size);
    hsize = 0;
  }
  if (!fits_oct(uid, 8)) {
    pax_num("uid", (int64_t)uid);
    uid = 0;
  }
  if (!fits_oct(gid, 8)) {
    pax_num("gid", (int64_t)gid);
    gid = 0;
  }
  uint64_t hmt = (uint64_t)mt;
  if (mt < 0 || !fits_oct((uint64_t)mt, 12)) {
    pax_num("mtime", mt);
    hmt = 0;
  }
  for (size_t i = 0; i < nxa; i++) {
    size_t kl = strlen(xa[i].name);
    char *key = malloc(13 + kl + 1);
    if (!key) oom();
    memcpy(key, "SCHILY.xattr.", 13);
    memcpy(key + 13, xa[i].name, kl + 1);
    pax_add(key, xa[i].val, xa[i].len);
    free(key);
  }
  unsigned char h[512];
  if (W.paxlen) {
    /* the PAX header's own name: informative only */
    char pn[100];
    const char *base = strrchr(name, '/');
    base = base && base[1] ? base + 1 : name;
    int n = snprintf(pn, sizeof pn, "PaxHeaders/%.80s", base);
    size_t pl = n > 0 ? strnlen(pn, sizeof pn) : 0;
    while (pl && pn[pl - 1] == '/') pn[--pl] = 0;
    header(h, pn, pl, "", 0, 'x', 0644, 0, 0, W.paxlen, hmt, NULL, 0, 0);
    out_put(h, 512);
    out_put(W.pax, W.paxlen);
    out_pad(W.paxlen);
  }
  unsigned maj = 0, min = 0;
  if (type == '3' || type == '4') {
    maj = major(st->st_rdev);
    min = minor(st->st_rdev);
  }
  header(h, hname, hlen, prefix, plen, type, st->st_mode & 07777, uid, gid, hsize, hmt, link, maj, min);
  out_put(h, 512);
}

/* ---- walk ---- */

static int keep_xattr(const char *k) { return !xa_is_overlay(k) && strcmp(k, "security.selinux") != 0; }

static size_t read_xattrs(int fd, int dfd, const char *name, struct xa **out) {
  char *names;
  *out = NULL;
  ssize_t n = xa_list(fd, dfd, name, &names);
  if (n <= 0) return 0;
  size_t cnt = 0, cap = 0;
  struct xa *v = NULL;
  for (char *k = names; k < names + n; k += strlen(k) + 1) {
    if (!*k || !keep_xattr(k)) continue;
    unsigned char *val;
    ssize_t vl = xa_get(fd, dfd, name, k, &val);
    if (vl < 0) continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 4;
      v = realloc(v, cap * sizeof *v);
      if (!v) oom();
    }
    v[cnt].name = strdup(k);
    v[cnt].val = val;
    v[cnt].len = (size_t)vl;
    if (!v[cnt].name) oom();
    cnt++;
  }
  free(names);
  /* a stable order: sorted by name */
  for (size_t i = 1; i < cnt; i++)
    for (size_t j = i; j > 0 && strcmp(v[j - 1].name, v[j].name) > 0; j--) {
      struct xa t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  *out = v;
  return cnt;
}

static void free_xattrs(struct xa *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].name);
    free(v[i].val);
  }
  free(v);
}

static void copy_file(int fd, uint64_t size, const char *name) {
  if (O.count_only) {
    out_flush();
    W.c.bytes += (size + 511) & ~(uint64_t)511;
    return;
  }
  uint64_t left = size;
  while (left) {
    if (W.len == OBUF) out_flush();
    size_t room = OBUF - W.len;
    size_t k = room < left ? room : (size_t)left;
    ssize_t n = read(fd, W.buf + W.len, k);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno(O.fail, "%s: reading %s", O.who, show(name));
    }
    if (n == 0) { /* the file shrank while being read: keep the archive well-formed */
      W.c.changed++;
      out_zeros(left);
      break;
    }
    W.len += (size_t)n;
    left -= (uint64_t)n;
  }
  out_pad(size);
}

/* kernel file systems whose contents are not files to copy (a running container's /proc, ...) */
static int is_pseudo_fs(int fd) {
  struct statfs sf;
  if (fstatfs(fd, &sf) < 0) return 0;
  switch ((unsigned long)sf.f_type) {
    case 0x9fa0UL:     /* proc */
    case 0x62656572UL: /* sysfs */
    case 0x1cd1UL:     /* devpts */
    case 0x19800202UL: /* mqueue */
    case 0x27e0ebUL:   /* cgroup */
    case 0x63677270UL: /* cgroup2 */
    case 0x73636673UL: /* securityfs */
    case 0x64626720UL: /* debugfs */
    case 0x74726163UL: /* tracefs */
    case 0xcafe4a11UL: /* bpf */
    case 0x6e736673UL: /* nsfs */
      return 1;
    default:
      return 0;
  }
}

/* an entry that stands for nothing on disk (a whiteout, an opaque marker): an empty file */
static void emit_marker(const char *name, const struct stat *st) {
  struct stat ws = *st;
  ws.st_mode = S_IFREG | 0600;
  emit(name, '0', &ws, 0, NULL, NULL, 0);
}

int tw_cmpname(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **tw_sorted_names(int dfd, size_t *n) {
  *n = 0;
  int rfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = rfd >= 0 ? fdopendir(rfd) : NULL;
  if (!d) {
    int e = errno;
    if (rfd >= 0) close(rfd);
    errno = e;
    return NULL;
  }
  char **v = NULL;
  size_t cnt = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *s = de->d_name;
    if (s[0] == '.' && (s[1] == 0 || (s[1] == '.' && s[2] == 0))) continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 64;
      v = realloc(v, cap * sizeof *v);
      if (!v) oom();
    }
    if (!(v[cnt++] = strdup(s))) oom();
  }
  closedir(d);
  if (cnt) qsort(v, cnt, sizeof *v, tw_cmpname);
  *n = cnt;
  if (!v && !(v = malloc(sizeof *v))) oom(); /* non-NULL: NULL means the directory could not be read */
  return v;
}

void tw_children(int dfd, char *rel, size_t rlen, int depth) {
  if (depth > 4096) die(O.fail, "%s: %s: directories nested too deep", O.who, show(rel));
  size_t cnt;
  char **names = tw_sorted_names(dfd, &cnt);
  if (!names) die_errno(O.fail, "%s: cannot read the directory %s", O.who, *rel ? show(rel) : ".");
  for (size_t i = 0; i < cnt; i++) {
    size_t nl = strlen(names[i]);
    if (rlen + nl + 16 >= PATH_MAX * 4) die(O.fail, "%s: %s%s: name too long", O.who, show(rel), show(names[i]));
    memcpy(rel + rlen, names[i], nl + 1);
    tw_member(dfd, names[i], rel, rlen + nl, depth);
    free(names[i]);
  }
  rel[rlen] = 0;
  free(names);
}

void tw_member(int dfd, const char *n, char *rel, size_t rlen, int depth) {
  const char *on = *n ? n : ".";
  struct stat st;
  if (fstatat(dfd, on, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT && depth > 0) return; /* gone meanwhile */
    die_errno(O.fail, "%s: %s", O.who, show(rel));
  }
  if (S_ISSOCK(st.st_mode)) {
    W.c.skipped_sock++;
    return;
  }
  size_t nl = strlen(n);
  if (O.diff && *n && S_ISCHR(st.st_mode) && st.st_rdev == 0) { /* a whiteout: ".wh.NAME" */
    memcpy(rel + rlen - nl, ".wh.", 4);
    memcpy(rel + rlen - nl + 4, n, nl + 1);
    emit_marker(rel, &st);
    memcpy(rel + rlen - nl, n, nl + 1);
    return;
  }
  if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
    const char *first = inomap_get(W.links, st.st_dev, st.st_ino);
    if (first) {
      emit(rel, '1', &st, 0, first, NULL, 0);
      return;
    }
    inomap_put(W.links, st.st_dev, st.st_ino, rel);
  }
  struct xa *xa = NULL;
  size_t nxa = 0;
  if (S_ISREG(st.st_mode)) {
    int fd = openat(dfd, on, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat fst;
    if (fd < 0 || fstat(fd, &fst) < 0 || fst.st_ino != st.st_ino || !S_ISREG(fst.st_mode)) {
      if (fd < 0 && errno == ENOENT && depth > 0) return;
      die(O.fail, "%s: %s: cannot open: %s", O.who, show(rel), fd < 0 ? strerror(errno) : "changed while read");
    }
    nxa = read_xattrs(fd, -1, NULL, &xa);
    emit(rel, '0', &fst, (uint64_t)fst.st_size, NULL, xa, nxa);
    copy_file(fd, (uint64_t)fst.st_size, rel);
    close(fd);
  } else if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t tl = readlinkat(dfd, on, target, sizeof target);
    if (tl < 0 || (size_t)tl >= sizeof target) die_errno(O.fail, "%s: %s: cannot read the link", O.who, show(rel));
    target[tl] = 0;
    if (O.node_xattrs) nxa = read_xattrs(-1, dfd, n, &xa);
    emit(rel, '2', &st, 0, target, xa, nxa);
  } else if (S_ISDIR(st.st_mode)) {
    int cfd = *n ? openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : dup(dfd);
    if (cfd < 0) die_errno(O.fail, "%s: %s: cannot open", O.who, show(rel));
    size_t l = rlen;
    if (!l || rel[l - 1] != '/') {
      rel[l++] = '/';
      rel[l] = 0;
    }
    if (!(depth == 0 && O.skip_top)) {
      nxa = read_xattrs(cfd, -1, NULL, &xa);
      emit(rel, '5', &st, 0, NULL, xa, nxa);
    }
    if (O.diff && xa_is_opaque(cfd, -1, NULL)) {
      memcpy(rel + l, ".wh..wh..opq", 13);
      emit_marker(rel, &st);
      rel[l] = 0;
    }
    if (depth > 0 && O.one_fs && is_mount_root(dfd, n)) {
      W.c.mounts++; /* another file system: its contents are not part of this directory */
    } else if (depth > 0 && O.skip_pseudo && is_pseudo_fs(cfd)) {
      W.c.pseudo++;
    } else {
      tw_children(cfd, rel, l, depth + 1);
    }
    close(cfd);
  } else {
    char t = S_ISCHR(st.st_mode) ? '3' : S_ISBLK(st.st_mode) ? '4' : '6';
    if (O.node_xattrs) nxa = read_xattrs(-1, dfd, n, &xa);
    emit(rel, t, &st, 0, NULL, xa, nxa);
  }
  free_xattrs(xa, nxa);
  rel[rlen] = 0;
}

void tw_dir_only(int dfd, const char *n, char *rel, size_t rlen) {
  int cfd = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (cfd < 0 || fstat(cfd, &st) < 0) die_errno(O.fail, "%s: %s: cannot open", O.who, show(rel));
  struct xa *xa = NULL;
  size_t nxa = read_xattrs(cfd, -1, NULL, &xa);
  rel[rlen] = '/';
  rel[rlen + 1] = 0;
  emit(rel, '5', &st, 0, NULL, xa, nxa);
  rel[rlen] = 0;
  free_xattrs(xa, nxa);
  close(cfd);
}

void tw_whiteout(const char *rel, const struct stat *st) { emit_marker(rel, st); }

void tw_start(const struct tw_opts *o) {
  O = *o;
  if (!O.fail) O.fail = 125;
  signal(SIGPIPE, SIG_IGN);
  W.buf = malloc(OBUF);
  W.links = inomap_new();
  if (!W.buf || !W.links) oom();
}

void tw_finish(struct tw_counts *out) {
  out_zeros(1024);
  out_flush();
  if (W.c.skipped_sock) notex("skipped %" PRIu64 " sockets", W.c.skipped_sock);
  if (W.c.mounts) notex("did not descend into %" PRIu64 " mount points", W.c.mounts);
  if (W.c.pseudo) notex("did not copy the contents of %" PRIu64 " kernel file systems (proc, sysfs, ...)", W.c.pseudo);
  if (W.c.changed) warnx_("%" PRIu64 " files shrank while being read; their ends are zeros", W.c.changed);
  if (out) *out = W.c;
}

/* ---- tar-dir ---- */

int cmd_tar_dir(int argc, char **argv) {
  struct tw_opts o = {.who = "tar-dir", .fail = 125, .one_fs = 1, .node_xattrs = 1};
  const char *dir = NULL, *from = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--diff") == 0) o.diff = 1;
    else if (strcmp(argv[i], "--diff-from") == 0 && i + 1 < argc) from = argv[++i];
    else if (strcmp(argv[i], "--size") == 0) o.count_only = 1;
    else if (argv[i][0] == '-' && argv[i][1]) die(125, "tar-dir: unknown option %s", argv[i]);
    else if (!dir) dir = argv[i];
    else die(125, "tar-dir: too many arguments; usage: tar-dir [--diff | --diff-from LOWERS] [--size] DIR");
  }
  if (!dir) die(125, "tar-dir: missing DIR; usage: tar-dir [--diff | --diff-from LOWERS] [--size] DIR");
  join_userns();
  storage_init();
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) die_errno(125, "tar-dir: cannot open %s", show(dir));
  char *rel = malloc(TW_REL_MAX);
  if (!rel) die(125, "tar-dir: out of memory");
  rel[0] = 0;
  tw_start(&o);
  if (from) vfs_diff(fd, from, rel); /* a vfs copy against its layers */
  else tw_children(fd, rel, 0, 1);   /* DIR itself is not a member */
  struct tw_counts c;
  tw_finish(&c);
  if (o.count_only) printf("%" PRIu64 "\n", c.bytes);
  return 0;
}
