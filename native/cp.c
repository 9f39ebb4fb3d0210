/* cp-out and cp-in: the two ends of `ctr cp` (see PROTOCOL.md, "Copying files (cp)").
 *
 * Both work on plain paths in the process's own view of the file system: run with --chroot
 * (a container's /proc/PID/root or its mounted rootfs) every lookup, absolute symlinks and ".."
 * included, stays inside that root (the kernel confines them); run without it they follow the
 * host's rules.
 *
 * cp-out writes one path (a file, a symlink, or a directory and everything below it) as an
 * uncompressed PAX tar whose top entry is named as the CLI says. cp-in resolves a destination,
 * reports what it found, and unpacks a tar from stdin into the directory the CLI chose, with
 * the same code as `untar`. */
#include "storage.h"
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
#define MAX_DEST_LINKS 40

/* ---- paths ---- */

/* Docker's reading of a copy path: the directory part is resolved (symlinks followed), the last
 * component is taken as it is, unless the path ends with "/" or "/." (then the whole path is
 * resolved and "." keeps meaning "the contents"). Returns a malloc'd resolved path, or NULL with
 * errno. *dot is set when the path ends in "/." or is ".". */
static char *resolve_copy_path(const char *path, int follow, int *dot) {
  size_t n = strlen(path);
  *dot = 0;
  if (n == 0) {
    errno = ENOENT;
    return NULL;
  }
  char *p = strdup(path);
  if (!p) return NULL;
  int trailing = 0;
  if ((n >= 2 && strcmp(p + n - 2, "/.") == 0) || strcmp(p, ".") == 0) {
    *dot = 1;
    trailing = 1;
  } else if (p[n - 1] == '/') {
    trailing = 1;
  }
  char *out = NULL;
  if (trailing || follow) {
    out = realpath(p, NULL);
    if (out) {
      struct stat st;
      if (trailing && (stat(out, &st) < 0 || !S_ISDIR(st.st_mode))) {
        free(out);
        out = NULL;
        errno = ENOTDIR;
      }
    }
    free(p);
    return out;
  }
  /* last component as it is */
  while (n > 1 && p[n - 1] == '/') p[--n] = 0;
  char *slash = strrchr(p, '/');
  const char *base;
  char *dir;
  if (!slash) {
    dir = realpath(".", NULL);
    base = p;
  } else if (slash == p) {
    dir = strdup("/");
    base = p + 1;
  } else {
    *slash = 0;
    dir = realpath(p, NULL);
    base = slash + 1;
  }
  if (!dir) {
    int e = errno;
    free(p);
    errno = e;
    return NULL;
  }
  if (strcmp(base, "..") == 0) { /* "a/.." is the parent of a, resolved */
    char *up = malloc(strlen(dir) + 4);
    if (up) sprintf(up, "%s/..", dir);
    out = up ? realpath(up, NULL) : NULL;
    free(up);
  } else if (!*base) {
    out = strdup(dir);
  } else {
    out = malloc(strlen(dir) + 1 + strlen(base) + 1);
    if (out) sprintf(out, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base);
  }
  int e = errno;
  free(dir);
  free(p);
  errno = e;
  return out;
}

static const char *type_name(mode_t m) {
  if (S_ISDIR(m)) return "dir";
  if (S_ISREG(m)) return "file";
  if (S_ISLNK(m)) return "symlink";
  return "other";
}

/* a JSON string body (the value is an untrusted name) */
static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
    else if (*c < 0x20 || *c == 0x7f) fprintf(f, "\\u%04x", *c);
    else fputc(*c, f);
  }
  fputc('"', f);
}

/* one line from fd 0, read a byte at a time so that nothing after it is consumed */
static char *read_line0(void) {
  size_t cap = PATH_MAX + 64, len = 0;
  char *b = malloc(cap);
  if (!b) die(125, "cp: out of memory");
  for (;;) {
    char c;
    ssize_t r = read(0, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      free(b);
      return NULL;
    }
    if (c == '\n') break;
    if (len + 1 >= cap) die(125, "cp: instruction line too long");
    b[len++] = c;
  }
  b[len] = 0;
  return b;
}

/* ---- tar output ---- */

static struct {
  unsigned char *buf;
  size_t len;
  struct inomap *links;
  int owner_set;
  uint64_t owner_uid, owner_gid;
  uint64_t skipped_sock, changed, pseudo;
  char *pax;
  size_t paxlen, paxcap;
} W;

static void out_flush(void) {
  if (W.len && st_write_all(1, W.buf, W.len) < 0) {
    if (errno == EPIPE) exit(1); /* the reader went away; it reports why */
    die_errno(125, "cp: writing the archive");
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

static void octal(unsigned char *f, size_t n, uint64_t v) {
  f[n - 1] = 0;
  for (size_t i = n - 1; i-- > 0;) {
    f[i] = (unsigned char)('0' + (v & 7));
    v >>= 3;
  }
}

static int fits(uint64_t v, size_t n) { return v < (1ULL << ((n - 1) * 3)); }

static void pax_rec(const char *key, const void *val, size_t vlen) {
  size_t body = 1 + strlen(key) + 1 + vlen + 1, digits = 1, total;
  for (;;) {
    total = digits + body;
    size_t d = 1;
    for (size_t t = total; t >= 10; t /= 10) d++;
    if (d == digits) break;
    digits = d;
  }
  if (W.paxlen + total + 1 > W.paxcap) {
    W.paxcap = (W.paxlen + total + 1) * 2;
    W.pax = realloc(W.pax, W.paxcap);
    if (!W.pax) die(125, "cp: out of memory");
  }
  char *p = W.pax + W.paxlen;
  p += sprintf(p, "%zu %s=", total, key);
  memcpy(p, val, vlen);
  p[vlen] = '\n';
  W.paxlen += total;
}

static void pax_int(const char *key, uint64_t v) {
  char b[32];
  int n = snprintf(b, sizeof b, "%" PRIu64, v);
  pax_rec(key, b, (size_t)n);
}

static void fill_header(unsigned char *h, const char *name, char type, uint64_t mode, uint64_t uid, uint64_t gid,
                        uint64_t size, uint64_t mtime, const char *link, unsigned maj, unsigned min) {
  memset(h, 0, 512);
  size_t nl = strlen(name);
  memcpy(h, name, nl > 100 ? 100 : nl);
  octal(h + 100, 8, mode);
  octal(h + 108, 8, uid);
  octal(h + 116, 8, gid);
  octal(h + 124, 12, size);
  octal(h + 136, 12, mtime);
  h[156] = (unsigned char)type;
  if (link) {
    size_t ll = strlen(link);
    memcpy(h + 157, link, ll > 100 ? 100 : ll);
  }
  memcpy(h + 257, "ustar\0" "00", 8);
  octal(h + 329, 8, maj);
  octal(h + 337, 8, min);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  h[155] = ' ';
}

struct xa {
  char *name;
  unsigned char *val;
  size_t len;
};

static void emit(const char *name, char type, const struct stat *st, uint64_t size, const char *link,
                 const struct xa *xa, size_t nxa) {
  W.paxlen = 0;
  uint64_t uid = W.owner_set ? W.owner_uid : st->st_uid, gid = W.owner_set ? W.owner_gid : st->st_gid;
  int64_t mt = st->st_mtim.tv_sec;
  if (strlen(name) > 100) pax_rec("path", name, strlen(name));
  if (link && strlen(link) > 100) pax_rec("linkpath", link, strlen(link));
  if (!fits(size, 12)) pax_int("size", size);
  if (!fits(uid, 8)) pax_int("uid", uid);
  if (!fits(gid, 8)) pax_int("gid", gid);
  if (mt < 0 || !fits((uint64_t)mt, 12)) {
    char b[32];
    int n = snprintf(b, sizeof b, "%" PRId64, mt);
    pax_rec("mtime", b, (size_t)n);
  }
  for (size_t i = 0; i < nxa; i++) {
    char key[300];
    snprintf(key, sizeof key, "SCHILY.xattr.%s", xa[i].name);
    pax_rec(key, xa[i].val, xa[i].len);
  }
  unsigned char h[512];
  uint64_t hmt = (mt < 0 || !fits((uint64_t)mt, 12)) ? 0 : (uint64_t)mt;
  if (W.paxlen) {
    fill_header(h, "PaxHeader", 'x', 0644, 0, 0, W.paxlen, hmt, NULL, 0, 0);
    out_put(h, 512);
    out_put(W.pax, W.paxlen);
    out_zeros((512 - (W.paxlen & 511)) & 511);
  }
  unsigned maj = 0, min = 0;
  if (type == '3' || type == '4') {
    maj = major(st->st_rdev);
    min = minor(st->st_rdev);
  }
  fill_header(h, name, type, st->st_mode & 07777, fits(uid, 8) ? uid : 0, fits(gid, 8) ? gid : 0,
              fits(size, 12) ? size : 0, hmt, link, maj, min);
  out_put(h, 512);
}

static size_t read_xattrs(int fd, struct xa **out) {
  char *names;
  *out = NULL;
  ssize_t n = xa_list(fd, -1, NULL, &names);
  if (n <= 0) return 0;
  size_t cnt = 0, cap = 0;
  struct xa *v = NULL;
  for (char *k = names; k < names + n; k += strlen(k) + 1) {
    if (!*k || xa_is_overlay(k) || strcmp(k, "security.selinux") == 0 || strlen(k) > 250) continue;
    unsigned char *val;
    ssize_t vl = xa_get(fd, -1, NULL, k, &val);
    if (vl < 0) continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 4;
      v = realloc(v, cap * sizeof *v);
      if (!v) die(125, "cp: out of memory");
    }
    v[cnt].name = strdup(k);
    if (!v[cnt].name) die(125, "cp: out of memory");
    v[cnt].val = val;
    v[cnt].len = (size_t)vl;
    cnt++;
  }
  free(names);
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

static void copy_data(int fd, uint64_t size, const char *name) {
  uint64_t left = size;
  while (left) {
    if (W.len == OBUF) out_flush();
    size_t room = OBUF - W.len;
    size_t k = room < left ? room : (size_t)left;
    ssize_t n = read(fd, W.buf + W.len, k);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno(1, "cp: reading %s", show(name));
    }
    if (n == 0) {
      W.changed++;
      out_zeros(left);
      break;
    }
    W.len += (size_t)n;
    left -= (uint64_t)n;
  }
  out_zeros((512 - (size & 511)) & 511);
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

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void put_member(int dfd, const char *n, char *rel, size_t rlen, int depth);

/* the members below the open directory DFD, named REL (ending in '/') + each child's name */
static void put_children(int dfd, char *rel, size_t rlen, int depth) {
  if (depth > 4096) die(1, "cp: %s: directories nested too deep", show(rel));
  int rfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = rfd >= 0 ? fdopendir(rfd) : NULL;
  if (!d) die_errno(1, "cp: cannot read the directory %s", show(rel));
  char **names = NULL;
  size_t cnt = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *n = de->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 64;
      names = realloc(names, cap * sizeof *names);
      if (!names) die(125, "cp: out of memory");
    }
    if (!(names[cnt++] = strdup(n))) die(125, "cp: out of memory");
  }
  closedir(d);
  if (cnt) qsort(names, cnt, sizeof *names, cmpstr);
  for (size_t i = 0; i < cnt; i++) {
    size_t nl = strlen(names[i]);
    if (rlen + nl + 2 >= PATH_MAX * 4) die(1, "cp: %s%s: name too long", show(rel), show(names[i]));
    memcpy(rel + rlen, names[i], nl + 1);
    put_member(dfd, names[i], rel, rlen + nl, depth);
    free(names[i]);
  }
  rel[rlen] = 0;
  free(names);
}

static int skip_top; /* --no-dot with the name ".": the destination directory keeps its own attributes */

/* one member: N inside DFD (N "": DFD itself, an open directory), named REL (rel[0..rlen)) */
static void put_member(int dfd, const char *n, char *rel, size_t rlen, int depth) {
  const char *on = *n ? n : ".";
  struct stat st;
  if (fstatat(dfd, on, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT && depth > 0) return; /* removed meanwhile */
    die_errno(1, "cp: %s", show(rel));
  }
  struct xa *xa = NULL;
  size_t nxa = 0;
  const char *first = (!S_ISDIR(st.st_mode) && st.st_nlink > 1) ? inomap_get(W.links, st.st_dev, st.st_ino) : NULL;
  if (S_ISSOCK(st.st_mode)) {
    W.skipped_sock++;
  } else if (first) {
    emit(rel, '1', &st, 0, first, NULL, 0);
  } else if (S_ISREG(st.st_mode)) {
    if (st.st_nlink > 1) inomap_put(W.links, st.st_dev, st.st_ino, rel);
    int fd = openat(dfd, on, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat fst;
    if (fd < 0 || fstat(fd, &fst) < 0 || fst.st_ino != st.st_ino || !S_ISREG(fst.st_mode)) {
      if (fd < 0 && errno == ENOENT && depth > 0) return;
      die(1, "cp: %s: cannot open: %s", show(rel), fd < 0 ? strerror(errno) : "changed while read");
    }
    nxa = read_xattrs(fd, &xa);
    emit(rel, '0', &fst, (uint64_t)fst.st_size, NULL, xa, nxa);
    copy_data(fd, (uint64_t)fst.st_size, rel);
    close(fd);
  } else if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t tl = readlinkat(dfd, on, target, sizeof target - 1);
    if (tl < 0) die_errno(1, "cp: %s: cannot read the link", show(rel));
    target[tl] = 0;
    emit(rel, '2', &st, 0, target, NULL, 0);
  } else if (S_ISDIR(st.st_mode)) {
    int cfd = *n ? openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : dup(dfd);
    if (cfd < 0) die_errno(1, "cp: %s: cannot open", show(rel));
    size_t l = rlen;
    if (rel[l - 1] != '/') {
      rel[l++] = '/';
      rel[l] = 0;
    }
    if (!(depth == 0 && skip_top)) {
      nxa = read_xattrs(cfd, &xa);
      emit(rel, '5', &st, 0, NULL, xa, nxa);
    }
    if (depth > 0 && is_pseudo_fs(cfd)) W.pseudo++;
    else put_children(cfd, rel, l, depth + 1);
    close(cfd);
  } else {
    char t = S_ISCHR(st.st_mode) ? '3' : S_ISBLK(st.st_mode) ? '4' : '6';
    emit(rel, t, &st, 0, NULL, NULL, 0);
  }
  free_xattrs(xa, nxa);
  rel[rlen] = 0;
}

/* cp-out [--follow] [--owner UID:GID] [--no-dot] (--name NAME | --info-fd N) PATH */
int cmd_cp_out(int argc, char **argv) {
  const char *path = NULL, *name = NULL;
  int follow = 0, info_fd = -1, no_dot = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--follow") == 0) follow = 1;
    else if (strcmp(argv[i], "--no-dot") == 0) no_dot = 1;
    else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) name = argv[++i];
    else if (strcmp(argv[i], "--info-fd") == 0 && i + 1 < argc) info_fd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--owner") == 0 && i + 1 < argc) {
      unsigned long long u, g;
      if (sscanf(argv[++i], "%llu:%llu", &u, &g) != 2) die(125, "cp-out: --owner wants UID:GID");
      W.owner_set = 1;
      W.owner_uid = u;
      W.owner_gid = g;
    } else if (argv[i][0] == '-' && argv[i][1]) die(125, "cp-out: unknown option %s", argv[i]);
    else if (!path) path = argv[i];
    else die(125, "cp-out: too many arguments");
  }
  if (!path || (!name && info_fd < 0))
    die(125, "usage: cp-out [--follow] [--owner UID:GID] [--no-dot] (--name NAME | --info-fd N) PATH");
  signal(SIGPIPE, SIG_IGN);
  int dot;
  char *src = resolve_copy_path(path, follow, &dot);
  if (!src) die(1, "cp: %s: %s", show(path), strerror(errno));
  struct stat st;
  if (lstat(src, &st) < 0) die(1, "cp: %s: %s", show(path), strerror(errno));
  char *answer = NULL;
  if (info_fd >= 0) {
    FILE *f = fdopen(info_fd, "w");
    if (!f) die_errno(125, "cp-out: --info-fd %d", info_fd);
    fprintf(f, "{\"type\":\"%s\",\"size\":%lld,\"path\":", type_name(st.st_mode), (long long)st.st_size);
    json_str(f, src);
    fprintf(f, "}\n");
    if (fclose(f) != 0) die_errno(125, "cp-out: writing the information line");
    answer = read_line0();
    if (!answer || !*answer) return 0; /* the CLI decided not to copy */
    name = answer;
  }
  if (!*name || strchr(name, '/') || strcmp(name, "..") == 0) die(125, "cp-out: invalid name \"%s\"", show(name));
  W.buf = malloc(OBUF);
  W.links = inomap_new();
  char *rel = malloc(PATH_MAX * 4 + 2);
  if (!W.buf || !W.links || !rel) die(125, "cp: out of memory");
  /* a directory is opened itself (N ""); anything else through its parent */
  int dfd;
  const char *leaf = "";
  if (S_ISDIR(st.st_mode)) {
    dfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  } else {
    char *slash = strrchr(src, '/');
    if (!slash) die(125, "cp-out: unexpected relative path %s", show(src));
    *slash = 0;
    dfd = open(slash == src ? "/" : src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    leaf = slash + 1;
  }
  if (dfd < 0) die(1, "cp: %s: %s", show(path), strerror(errno));
  struct stat again;
  if (fstatat(dfd, *leaf ? leaf : ".", &again, AT_SYMLINK_NOFOLLOW) < 0 || again.st_ino != st.st_ino)
    die(1, "cp: %s: changed while being copied", show(path));
  (void)dot;
  if (strcmp(name, ".") == 0) {
    strcpy(rel, "./");
    skip_top = no_dot;
  } else {
    strcpy(rel, name);
  }
  put_member(dfd, leaf, rel, strlen(rel), 0);
  out_zeros(1024);
  out_flush();
  if (W.skipped_sock) notex("skipped %" PRIu64 " sockets", W.skipped_sock);
  if (W.pseudo) notex("did not copy the contents of %" PRIu64 " kernel file systems (proc, sysfs, ...)", W.pseudo);
  if (W.changed) warnx_("%" PRIu64 " files shrank while being copied; their ends are zeros", W.changed);
  free(answer);
  return 0;
}

/* ---- cp-in ---- */

/* Docker's destination: a symlink at the end is followed (its target may not exist yet).
 * Returns a malloc'd path and fills *st (*exists 0 when nothing is there). */
static char *resolve_dest(const char *path, struct stat *st, int *exists) {
  char *p = strdup(path);
  if (!p) die(125, "cp: out of memory");
  /* "DIR/" and "DIR/." name DIR; that it must be a directory is the CLI's rule to apply */
  size_t pl = strlen(p);
  int trailing = 0;
  for (;;) {
    if (pl > 1 && p[pl - 1] == '/') p[--pl] = 0, trailing = 1;
    else if (pl > 2 && p[pl - 1] == '.' && p[pl - 2] == '/') p[--pl] = 0, trailing = 1;
    else break;
  }
  for (int n = 0;; n++) {
    int dot;
    char *r = resolve_copy_path(p, 0, &dot);
    if (!r) {
      int e = errno;
      free(p);
      errno = e;
      return NULL;
    }
    if (lstat(r, st) < 0) {
      int e = errno;
      if (e != ENOENT) {
        free(r);
        free(p);
        errno = e;
        return NULL;
      }
      *exists = 0;
      free(p);
      return r;
    }
    if (!S_ISLNK(st->st_mode)) {
      *exists = !(trailing && !S_ISDIR(st->st_mode)); /* "FILE/" is a directory that is not there */
      free(p);
      return r;
    }
    if (n >= MAX_DEST_LINKS) {
      free(r);
      free(p);
      errno = ELOOP;
      return NULL;
    }
    char target[PATH_MAX];
    ssize_t tl = readlink(r, target, sizeof target - 1);
    if (tl < 0) die_errno(1, "cp: %s", show(r));
    target[tl] = 0;
    free(p);
    if (target[0] == '/') {
      p = strdup(target);
    } else {
      char *sl = strrchr(r, '/');
      *sl = 0;
      p = malloc(strlen(r) + 1 + (size_t)tl + 1);
      if (p) sprintf(p, "%s/%s", *r ? r : "", target);
    }
    free(r);
    if (!p) die(125, "cp: out of memory");
  }
}

/* cp-in [--dir-only] PATH: prints {"exists":..,"type":..,"path":..}; then (without --dir-only)
 * reads "d|f TAB DIR TAB NAME" from stdin (an empty line: stop) and unpacks the rest of stdin
 * into DIR like untar, refusing to put a directory NAME over a non-directory or the reverse. */
int cmd_cp_in(int argc, char **argv) {
  const char *path = NULL;
  int dir_only = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--dir-only") == 0) dir_only = 1;
    else if (argv[i][0] == '-' && argv[i][1]) die(125, "cp-in: unknown option %s", argv[i]);
    else if (!path) path = argv[i];
    else die(125, "cp-in: too many arguments");
  }
  if (!path) die(125, "usage: cp-in [--dir-only] PATH");
  struct stat st;
  int exists = 0;
  char *dest = resolve_dest(path, &st, &exists);
  if (!dest) {
    if (errno == ENOENT || errno == ENOTDIR) {
      printf("{\"exists\":false,\"type\":\"missing\",\"parent\":false,\"path\":");
      json_str(stdout, path);
      printf("}\n");
      fflush(stdout);
      if (dir_only) die(1, "cp: %s: no such directory", show(path));
      return 0;
    }
    die(1, "cp: %s: %s", show(path), strerror(errno));
  }
  printf("{\"exists\":%s,\"type\":\"%s\",\"parent\":true,\"path\":", exists ? "true" : "false",
         exists ? type_name(st.st_mode) : "missing");
  if (!exists) memset(&st, 0, sizeof st);
  json_str(stdout, dest);
  printf("}\n");
  if (fflush(stdout) != 0) die_errno(125, "cp-in: writing the information line");
  const char *dir = dest;
  char *line = NULL;
  if (dir_only) {
    if (!exists || !S_ISDIR(st.st_mode)) die(1, "cp: %s: not a directory", show(path));
  } else {
    line = read_line0();
    if (!line || !*line) return 0;
    char kind = line[0];
    char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    if ((kind != 'd' && kind != 'f') || !t1 || !t2) die(125, "cp-in: malformed instruction line");
    *t2 = 0;
    dir = t1 + 1;
    const char *name = t2 + 1;
    struct stat ds;
    if (stat(dir, &ds) < 0) die(1, "cp: %s: %s", show(dir), strerror(errno));
    if (!S_ISDIR(ds.st_mode)) die(1, "cp: %s: not a directory", show(dir));
    if (*name && strcmp(name, ".") != 0) {
      char *full = malloc(strlen(dir) + strlen(name) + 2);
      if (!full) die(125, "cp: out of memory");
      sprintf(full, "%s/%s", dir, name);
      struct stat es;
      if (lstat(full, &es) == 0) {
        if (S_ISDIR(es.st_mode) && kind == 'f')
          die(1, "cp: cannot overwrite directory \"%s\" with non-directory", show(full));
        if (!S_ISDIR(es.st_mode) && kind == 'd')
          die(1, "cp: cannot overwrite non-directory \"%s\" with directory", show(full));
      }
      free(full);
    }
  }
  char *uargv[] = {(char *)"untar", (char *)dir, NULL};
  return cmd_untar(2, uargv);
}
