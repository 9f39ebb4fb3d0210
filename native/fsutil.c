/* rmtree: recursive removal inside the user namespace.
 * mkrootfs: the vfs storage driver, layers copied (bottom first) into one directory with
 * overlay semantics: a whiteout device removes the path below, an opaque directory hides what
 * is below it, a directory replaces a non-directory and vice versa. The destination is walked
 * directory fd by directory fd and never followed: every name is created with *at() calls
 * relative to a directory this copy opened with O_NOFOLLOW. */
#include "storage.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define CTR_FICLONE _IOW(0x94, 9, int)

/* ---- rmtree ---- */

int cmd_rmtree(int argc, char **argv) {
  if (argc < 2) die(125, "rmtree: missing PATH; usage: rmtree PATH...");
  join_userns();
  storage_init();
  for (int i = 1; i < argc; i++) {
    size_t n = strlen(argv[i]);
    char *p = strdup(argv[i]);
    if (!p) die(125, "rmtree: out of memory");
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    char *slash = strrchr(p, '/');
    const char *dir = ".", *base = p;
    if (slash) {
      *slash = 0;
      dir = slash == p ? "/" : p;
      base = slash + 1;
    }
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
      die(125, "rmtree: refusing to remove \"%s\"; name the directory itself", show(argv[i]));
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
      if (errno == ENOENT) {
        free(p);
        continue;
      }
      die_errno(125, "rmtree: %s", show(dir));
    }
    char where[PATH_MAX];
    where[0] = 0;
    if (rm_at(dfd, base, where, sizeof where) < 0) {
      int e = errno;
      const char *sep = strcmp(dir, "/") == 0 ? "" : "/";
      if (e == EXDEV)
        die(125, "rmtree: refusing to remove %s%s%s: it is a mount point; unmount it first", show(dir), sep,
            show(where));
      die(125, "rmtree: cannot remove %s%s%s: %s", show(dir), sep, show(where), strerror(e));
    }
    close(dfd);
    free(p);
  }
  return 0;
}

/* ---- mkrootfs ---- */

static struct {
  int dest;
  struct inomap *links;
  int no_clone, no_cfr;
  uint64_t skipped_dev, skipped_sock, xattr_fail, chown_fail;
  int xattr_errno;
  char xattr_names[200];
  char path[PATH_MAX]; /* current path inside the layer, for messages and hard links */
  size_t plen;
  unsigned char *buf;
} M;

__attribute__((noreturn)) static void mfail(const char *what) {
  int e = errno;
  die(125, "mkrootfs: %s: %s: %s", *M.path ? show(M.path) : "/", what, strerror(e));
}

/* IDs the namespace does not map (overflow IDs seen in the layer) keep the current owner, and
   such an entry gets no set-ID bit nor file capability (as in untar). Returns 1 then. */
static int m_chown(int r) {
  if (r < 0 && errno != EINVAL && errno != EPERM) mfail("chown");
  if (r < 0) M.chown_fail++;
  return r < 0;
}

static void copy_xattrs(int sfd, int sdir, const char *sname, int dfd, int ddir, const char *dname, int strip) {
  char *names;
  ssize_t n = xa_list(sfd, sdir, sname, &names);
  if (n <= 0) return;
  for (char *k = names; k < names + n; k += strlen(k) + 1) {
    if (!*k || xa_is_overlay(k) || (strip && strcmp(k, "security.capability") == 0)) continue;
    unsigned char *v;
    ssize_t vl = xa_get(sfd, sdir, sname, k, &v);
    if (vl < 0) continue;
    if (xa_set(dfd, ddir, dname, k, v, (size_t)vl) < 0) {
      if (!M.xattr_fail++) M.xattr_errno = errno;
      size_t l = strlen(M.xattr_names);
      if (!strstr(M.xattr_names, k) && l + strlen(k) + 3 < sizeof M.xattr_names)
        snprintf(M.xattr_names + l, sizeof M.xattr_names - l, "%s%s", l ? ", " : "", k);
    }
    free(v);
  }
  free(names);
}

static void replace_at(int dfd, const char *name) {
  char where[PATH_MAX];
  if (rm_at(dfd, name, where, sizeof where) < 0) {
    if (errno == EXDEV) die(125, "mkrootfs: %s: a mount point is in the way", show(M.path));
    mfail("cannot replace the existing entry");
  }
}

static int copy_data(int in, int out) {
  if (!M.no_clone) {
    if (ioctl(out, CTR_FICLONE, in) == 0) return 0;
    if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
        errno != EPERM)
      return -1;
    M.no_clone = 1;
  }
  if (!M.no_cfr) {
    for (int first = 1;; first = 0) {
      ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
      if (n > 0) continue;
      if (n == 0) return 0;
      if (errno == EINTR) continue;
      if (first && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP ||
                    errno == EPERM)) {
        M.no_cfr = 1;
        break;
      }
      return -1;
    }
  }
  for (;;) {
    ssize_t n = read(in, M.buf, 1 << 20);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) return 0;
    if (st_write_all(out, M.buf, (size_t)n) < 0) return -1;
  }
}

static void times_of(const struct stat *st, struct timespec ts[2]) {
  ts[0] = st->st_atim;
  ts[1] = st->st_mtim;
}

static size_t path_push(const char *name) {
  size_t saved = M.plen, n = strlen(name);
  if (M.plen + n + 2 >= sizeof M.path) die(125, "mkrootfs: %s/%s: path too long", show(M.path), show(name));
  if (M.plen) M.path[M.plen++] = '/';
  memcpy(M.path + M.plen, name, n + 1);
  M.plen += n;
  return saved;
}

static void path_pop(size_t saved) {
  M.plen = saved;
  M.path[M.plen] = 0;
}

static void copy_tree(int sfd, int dfd, int depth);

static void copy_dir_entry(int sfd, int dfd, const char *n, const struct stat *st, int depth) {
  if (is_mount_root(sfd, n)) die(125, "mkrootfs: %s: a mount point inside a layer", show(M.path));
  int nsfd = openat(sfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (nsfd < 0) mfail("cannot open the layer directory");
  int opaque = xa_is_opaque(nsfd, -1, NULL);
  struct stat dst;
  int exists = fstatat(dfd, n, &dst, AT_SYMLINK_NOFOLLOW) == 0;
  if (exists && !S_ISDIR(dst.st_mode)) {
    replace_at(dfd, n);
    exists = 0;
  }
  if (!exists && mkdirat(dfd, n, 0700) < 0) mfail("cannot create the directory");
  int ndfd = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (ndfd < 0) mfail("cannot open the directory");
  if (exists && opaque) {
    if (is_mount_root(dfd, n)) die(125, "mkrootfs: %s: a mount point is in the way", show(M.path));
    /* an opaque directory hides everything the layers below put there */
    DIR *d = fdopendir(openat(ndfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d) mfail("cannot read the directory");
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      const char *c = de->d_name;
      if (c[0] == '.' && (c[1] == 0 || (c[1] == '.' && c[2] == 0))) continue;
      replace_at(ndfd, c);
    }
    closedir(d);
  }
  int strip = m_chown(fchown(ndfd, st->st_uid, st->st_gid));
  copy_xattrs(nsfd, -1, NULL, ndfd, -1, NULL, strip);
  copy_tree(nsfd, ndfd, depth + 1);
  if (fchmod(ndfd, st->st_mode & (strip ? 01777 : 07777)) < 0) mfail("chmod");
  struct timespec ts[2];
  times_of(st, ts);
  if (futimens(ndfd, ts) < 0) mfail("cannot set the times");
  close(ndfd);
  close(nsfd);
}

static void copy_file_entry(int sfd, int dfd, const char *n, const struct stat *st) {
  int out = -1;
  for (int tries = 0; tries < 3; tries++) {
    out = openat(dfd, n, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out >= 0 || errno != EEXIST) break;
    replace_at(dfd, n);
  }
  if (out < 0) mfail("cannot create the file");
  int in = openat(sfd, n, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (in < 0) mfail("cannot open the layer file");
  if (copy_data(in, out) < 0) mfail("copying");
  close(in);
  int strip = m_chown(fchown(out, st->st_uid, st->st_gid));
  if (fchmod(out, st->st_mode & (strip ? 01777 : 07777)) < 0) mfail("chmod");
  copy_xattrs(-1, sfd, n, out, -1, NULL, strip);
  struct timespec ts[2];
  times_of(st, ts);
  if (futimens(out, ts) < 0) mfail("cannot set the times");
  if (close(out) < 0) mfail("write");
}

/* a later name of an inode already copied in this layer: link to the first copy */
static int link_copy(int dfd, const char *n, const struct stat *st) {
  const char *first = inomap_get(M.links, st->st_dev, st->st_ino);
  if (!first) return 0;
  struct pr_name pn;
  if (pr_split(first, &pn) < 0) die(125, "mkrootfs: out of memory");
  int pfd = pr_open_dir(M.dest, pn.parent, 0);
  if (pfd < 0) mfail("cannot find the first copy of a hard link");
  for (int tries = 0;; tries++) {
    if (linkat(pfd, pn.leaf, dfd, n, 0) == 0) break;
    if (errno != EEXIST || tries >= 2) mfail("cannot create the hard link");
    replace_at(dfd, n);
  }
  close(pfd);
  pr_name_free(&pn);
  return 1;
}

static void copy_other_entry(int sfd, int dfd, const char *n, const struct stat *st) {
  if (S_ISLNK(st->st_mode)) {
    char target[PATH_MAX];
    ssize_t tl = readlinkat(sfd, n, target, sizeof target);
    if (tl < 0 || (size_t)tl >= sizeof target) mfail("cannot read the symbolic link");
    target[tl] = 0;
    for (int tries = 0;; tries++) {
      if (symlinkat(target, dfd, n) == 0) break;
      if (errno != EEXIST || tries >= 2) mfail("cannot create the symbolic link");
      replace_at(dfd, n);
    }
  } else {
    for (int tries = 0;; tries++) {
      if (mknodat(dfd, n, st->st_mode & (S_IFMT | 0777), st->st_rdev) == 0) break;
      if (errno == EPERM && !S_ISFIFO(st->st_mode)) {
        M.skipped_dev++;
        return;
      }
      if (errno != EEXIST || tries >= 2) mfail("cannot create the node");
      replace_at(dfd, n);
    }
  }
  int strip = m_chown(fchownat(dfd, n, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW));
  if (!S_ISLNK(st->st_mode) && fchmodat(dfd, n, st->st_mode & (strip ? 01777 : 07777), AT_SYMLINK_NOFOLLOW) < 0)
    mfail("chmod");
  copy_xattrs(-1, sfd, n, -1, dfd, n, strip);
  struct timespec ts[2];
  times_of(st, ts);
  if (utimensat(dfd, n, ts, AT_SYMLINK_NOFOLLOW) < 0) mfail("cannot set the times");
}

static void copy_tree(int sfd, int dfd, int depth) {
  if (depth > 4096) die(125, "mkrootfs: %s: directories nested too deep", show(M.path));
  int rfd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = rfd >= 0 ? fdopendir(rfd) : NULL;
  if (!d) mfail("cannot read the layer directory");
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *n = de->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    size_t saved = path_push(n);
    struct stat st;
    if (fstatat(sfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0) mfail("stat");
    if (S_ISCHR(st.st_mode) && st.st_rdev == 0) {
      replace_at(dfd, n); /* a whiteout: what the layers below had there is gone */
    } else if (S_ISDIR(st.st_mode)) {
      copy_dir_entry(sfd, dfd, n, &st, depth);
    } else if (S_ISSOCK(st.st_mode)) {
      M.skipped_sock++;
    } else if (st.st_nlink > 1 && link_copy(dfd, n, &st)) {
      /* linked to the first copy */
    } else {
      if (S_ISREG(st.st_mode)) {
        copy_file_entry(sfd, dfd, n, &st);
      } else {
        copy_other_entry(sfd, dfd, n, &st);
      }
      if (st.st_nlink > 1) inomap_put(M.links, st.st_dev, st.st_ino, M.path);
    }
    path_pop(saved);
  }
  closedir(d);
}

int cmd_mkrootfs(int argc, char **argv) {
  if (argc < 3) die(125, "mkrootfs: missing arguments; usage: mkrootfs DEST LAYERDIR...");
  join_userns();
  storage_init();
  M.dest = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (M.dest < 0) die_errno(125, "mkrootfs: cannot open %s", show(argv[1]));
  M.buf = malloc(1 << 20);
  if (!M.buf) die(125, "mkrootfs: out of memory");
  struct stat rootst;
  int have_root = 0;
  for (int i = 2; i < argc; i++) {
    int lfd = open(argv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lfd < 0) die_errno(125, "mkrootfs: cannot open the layer %s", show(argv[i]));
    M.links = inomap_new();
    if (!M.links) die(125, "mkrootfs: out of memory");
    M.plen = 0;
    M.path[0] = 0;
    copy_tree(lfd, M.dest, 0);
    /* the root takes the attributes of the topmost layer, as on an overlay mount */
    if (fstat(lfd, &rootst) < 0) mfail("stat");
    have_root = 1;
    int strip = m_chown(fchown(M.dest, rootst.st_uid, rootst.st_gid));
    if (fchmod(M.dest, rootst.st_mode & (strip ? 01777 : 07777)) < 0) mfail("chmod");
    inomap_free(M.links);
    close(lfd);
  }
  if (have_root) {
    struct timespec ts[2];
    times_of(&rootst, ts);
    futimens(M.dest, ts);
  }
  if (M.skipped_dev) notex("skipped %" PRIu64 " device nodes (not allowed without root)", M.skipped_dev);
  if (M.chown_fail)
    notex("%" PRIu64 " entries kept the current owner, without set-ID bits or file capabilities: the user "
          "namespace does not map their IDs", M.chown_fail);
  if (M.skipped_sock) notex("skipped %" PRIu64 " sockets", M.skipped_sock);
  if (M.xattr_fail)
    notex("could not set %" PRIu64 " extended attributes (%s): %s", M.xattr_fail, M.xattr_names,
          strerror(M.xattr_errno));
  return 0;
}
