/* Shared storage helpers: recursive removal that never follows symlinks nor crosses mounts,
 * extended attributes of names that must not be followed, an inode map, safe message text. */
#include "storage.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#define RM_MAX_DEPTH 8192

/* ---- mount detection ---- */

struct ctr_statx_ts {
  int64_t tv_sec;
  uint32_t tv_nsec;
  int32_t reserved;
};
struct ctr_statx {
  uint32_t mask, blksize;
  uint64_t attributes;
  uint32_t nlink, uid, gid;
  uint16_t mode, spare0;
  uint64_t ino, size, blocks, attributes_mask;
  struct ctr_statx_ts atime, btime, ctime, mtime;
  uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
  unsigned char rest[256];
};
#define CTR_STATX_ATTR_MOUNT_ROOT 0x00002000ULL
#define CTR_STATX_TYPE 0x1U

int is_mount_root(int dfd, const char *name) {
  struct ctr_statx sx;
  memset(&sx, 0, sizeof sx);
  const char *n = *name ? name : ".";
  if (syscall(SYS_statx, dfd, n, AT_SYMLINK_NOFOLLOW, CTR_STATX_TYPE, &sx) == 0 &&
      (sx.attributes_mask & CTR_STATX_ATTR_MOUNT_ROOT))
    return (sx.attributes & CTR_STATX_ATTR_MOUNT_ROOT) != 0;
  /* older kernels: a different device than the parent */
  struct stat a, b;
  if (fstatat(dfd, n, &a, AT_SYMLINK_NOFOLLOW) < 0) return 0;
  char up[PATH_MAX];
  snprintf(up, sizeof up, "%s/..", n);
  if (fstatat(dfd, up, &b, 0) < 0) return 0;
  return a.st_dev != b.st_dev;
}

/* ---- removal ---- */

static void procpath(char *buf, size_t n, int dfd, const char *name) {
  snprintf(buf, n, "/proc/self/fd/%d/%s", dfd, *name ? name : ".");
}

/* chmod u+rwx through an O_PATH handle, so a symlink swapped in is never followed */
static int make_accessible(int dfd, const char *name) {
  int pfd = openat(dfd, *name ? name : ".", O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) return -1;
  struct stat st;
  int r = -1;
  if (fstat(pfd, &st) == 0) {
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", pfd);
    r = chmod(p, (st.st_mode & 07777) | 0700);
  }
  int e = errno;
  close(pfd);
  errno = e;
  return r;
}

struct rmctx {
  char path[PATH_MAX];
  size_t len;
};

static void rm_push(struct rmctx *c, const char *name, size_t *saved) {
  *saved = c->len;
  size_t n = strlen(name);
  if (c->len + n + 2 < sizeof c->path) {
    if (c->len) c->path[c->len++] = '/';
    memcpy(c->path + c->len, name, n + 1);
    c->len += n;
  }
}

static int rm_dir(int dfd, const char *name, struct rmctx *c, int depth);

static int rm_entry(int dfd, const char *name, unsigned char dtype, struct rmctx *c, int depth) {
  if (dtype == DT_DIR) return rm_dir(dfd, name, c, depth);
  for (int tries = 0;; tries++) {
    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT) return 0;
    if (errno == EISDIR || (errno == EPERM && dtype == DT_UNKNOWN)) {
      struct stat st;
      if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
        return rm_dir(dfd, name, c, depth);
    }
    /* the directory holding NAME is made writable only when it is part of the tree removed */
    if ((errno == EACCES || errno == EPERM) && tries == 0 && depth > 0 && make_accessible(dfd, "") == 0) continue;
    return -1;
  }
}

/* the caller has pushed NAME onto c->path */
static int rm_dir(int dfd, const char *name, struct rmctx *c, int depth) {
  if (depth > RM_MAX_DEPTH) {
    errno = ENAMETOOLONG;
    return -1;
  }
  if (is_mount_root(dfd, name)) {
    errno = EXDEV;
    return -1;
  }
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == EACCES && make_accessible(dfd, name) == 0)
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    if (errno == ENOTDIR || errno == ELOOP) { /* replaced meanwhile: not a directory any more */
      if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT) return 0;
    }
    return -1;
  }
  DIR *d = fdopendir(fd);
  if (!d) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  for (int pass = 0;; pass++) {
    struct dirent *de;
    int seen = 0;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
      const char *n = de->d_name;
      if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
      seen++;
      size_t s2;
      rm_push(c, n, &s2);
      int r = rm_entry(fd, n, de->d_type, c, depth + 1);
      if (r < 0) {
        int e = errno;
        closedir(d);
        errno = e;
        return -1;
      }
      c->len = s2;
      c->path[c->len] = 0;
    }
    if (!seen) break;
    if (pass > 8) {
      closedir(d);
      errno = ENOTEMPTY;
      return -1;
    }
    rewinddir(d);
  }
  closedir(d);
  for (int tries = 0;; tries++) {
    if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) return 0;
    /* the directory holding NAME is made writable only when it is part of the tree removed */
    if ((errno == EACCES || errno == EPERM) && tries == 0 && depth > 0 && make_accessible(dfd, "") == 0) continue;
    return -1;
  }
}

int rm_at(int dfd, const char *name, char *where, size_t wheresz) {
  struct rmctx *c = calloc(1, sizeof *c);
  if (!c) return -1;
  struct stat st;
  int r = 0;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    r = errno == ENOENT ? 0 : -1;
    if (r < 0) snprintf(c->path, sizeof c->path, "%s", name);
  } else {
    size_t saved;
    rm_push(c, name, &saved);
    r = S_ISDIR(st.st_mode) ? rm_dir(dfd, name, c, 0) : rm_entry(dfd, name, DT_UNKNOWN, c, 0);
  }
  int e = errno;
  if (r < 0 && where && wheresz) snprintf(where, wheresz, "%s", c->path);
  free(c);
  errno = e;
  return r;
}

/* ---- extended attributes ---- */

ssize_t xa_list(int fd, int dfd, const char *name, char **out) {
  char p[PATH_MAX + 64];
  *out = NULL;
  if (fd < 0) procpath(p, sizeof p, dfd, name);
  for (int i = 0; i < 8; i++) {
    ssize_t n = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(p, NULL, 0);
    if (n < 0) {
      if (errno == ENOTSUP || errno == EOPNOTSUPP) return 0;
      return -1;
    }
    if (n == 0) return 0;
    char *b = malloc((size_t)n);
    if (!b) return -1;
    ssize_t m = fd >= 0 ? flistxattr(fd, b, (size_t)n) : llistxattr(p, b, (size_t)n);
    if (m < 0) {
      int e = errno;
      free(b);
      if (e == ERANGE) continue;
      errno = e;
      return -1;
    }
    *out = b;
    return m;
  }
  errno = ERANGE;
  return -1;
}

ssize_t xa_get(int fd, int dfd, const char *name, const char *key, unsigned char **out) {
  char p[PATH_MAX + 64];
  *out = NULL;
  if (fd < 0) procpath(p, sizeof p, dfd, name);
  for (int i = 0; i < 8; i++) {
    ssize_t n = fd >= 0 ? fgetxattr(fd, key, NULL, 0) : lgetxattr(p, key, NULL, 0);
    if (n < 0) return -1;
    unsigned char *b = malloc((size_t)n + 1);
    if (!b) return -1;
    ssize_t m = n == 0 ? 0 : fd >= 0 ? fgetxattr(fd, key, b, (size_t)n) : lgetxattr(p, key, b, (size_t)n);
    if (m < 0) {
      int e = errno;
      free(b);
      if (e == ERANGE) continue;
      errno = e;
      return -1;
    }
    b[m] = 0;
    *out = b;
    return m;
  }
  errno = ERANGE;
  return -1;
}

int xa_set(int fd, int dfd, const char *name, const char *key, const void *val, size_t len) {
  if (fd >= 0) return fsetxattr(fd, key, val, len, 0);
  char p[PATH_MAX + 64];
  procpath(p, sizeof p, dfd, name);
  return lsetxattr(p, key, val, len, 0);
}

/* the kernel overlay's bookkeeping, and fuse-overlayfs's own (user.fuseoverlayfs.*: it marks
   opaque directories with user.fuseoverlayfs.opaque when it may not set the overlay ones) */
int xa_is_overlay(const char *key) {
  return strncmp(key, "trusted.overlay.", 16) == 0 || strncmp(key, "user.overlay.", 13) == 0 ||
         strncmp(key, "user.fuseoverlayfs.", 19) == 0;
}

int xa_is_opaque(int fd, int dfd, const char *name) {
  static const char *keys[] = {"trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque"};
  for (size_t i = 0; i < 3; i++) {
    unsigned char *v;
    ssize_t n = xa_get(fd, dfd, name, keys[i], &v);
    if (n < 0) continue;
    int y = n == 1 && v[0] == 'y';
    free(v);
    if (y) return 1;
  }
  return 0;
}

/* ---- inode map ---- */

struct inoslot {
  dev_t dev;
  ino_t ino;
  char *val;
};
struct inomap {
  struct inoslot *s;
  size_t cap, n;
};

struct inomap *inomap_new(void) { return calloc(1, sizeof(struct inomap)); }

static size_t inohash(dev_t dev, ino_t ino) {
  uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ULL ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4FULL;
  return (size_t)(h ^ (h >> 29));
}

const char *inomap_get(struct inomap *m, dev_t dev, ino_t ino) {
  if (!m->cap) return NULL;
  for (size_t i = inohash(dev, ino) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    if (!m->s[i].val) return NULL;
    if (m->s[i].dev == dev && m->s[i].ino == ino) return m->s[i].val;
  }
}

void inomap_put(struct inomap *m, dev_t dev, ino_t ino, const char *val) {
  if ((m->n + 1) * 2 > m->cap) {
    size_t ncap = m->cap ? m->cap * 2 : 256;
    struct inoslot *ns = calloc(ncap, sizeof *ns);
    if (!ns) die(125, "out of memory");
    for (size_t i = 0; i < m->cap; i++) {
      if (!m->s[i].val) continue;
      size_t j = inohash(m->s[i].dev, m->s[i].ino) & (ncap - 1);
      while (ns[j].val) j = (j + 1) & (ncap - 1);
      ns[j] = m->s[i];
    }
    free(m->s);
    m->s = ns;
    m->cap = ncap;
  }
  size_t i = inohash(dev, ino) & (m->cap - 1);
  while (m->s[i].val && !(m->s[i].dev == dev && m->s[i].ino == ino)) i = (i + 1) & (m->cap - 1);
  char *v = strdup(val);
  if (!v) die(125, "out of memory");
  if (m->s[i].val) {
    free(m->s[i].val);
  } else {
    m->n++;
  }
  m->s[i].dev = dev;
  m->s[i].ino = ino;
  m->s[i].val = v;
}

void inomap_free(struct inomap *m) {
  if (!m) return;
  for (size_t i = 0; i < m->cap; i++) free(m->s[i].val);
  free(m->s);
  free(m);
}

/* ---- misc ---- */

const char *show(const char *s) {
  static char bufs[2][1100];
  static int k;
  char *b = bufs[k];
  k ^= 1;
  size_t o = 0, i = 0;
  for (; s[i] && o < 1000; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x20 || ch == 0x7f || ch == '\\') {
      o += (size_t)snprintf(b + o, 8, "\\x%02x", ch);
    } else {
      b[o++] = (char)ch;
    }
  }
  if (s[i]) {
    memcpy(b + o, "...", 3);
    o += 3;
  }
  b[o] = 0;
  return b;
}

int st_write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (w == 0) {
      errno = EIO;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}
