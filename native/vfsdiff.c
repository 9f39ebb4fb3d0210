/* tar-dir --diff-from LOWERS DIR: the changes of DIR, the root filesystem of a vfs container (a
 * copy of its image's layers, made by mkrootfs), against those layers (LOWERS: their
 * directories, colon-separated, topmost first), written as the same OCI layer diff that
 * `tar-dir --diff` makes of an overlay upper dir: what is new or changed, whole; the parent
 * directories of changes (overlay copies them up); a ".wh.NAME" marker for what is gone.
 *
 * The layers are seen as an overlay mount would show them: a whiteout (a 0:0 character device)
 * hides the name in the layers below, an opaque directory hides the directories below it, and
 * a non-directory hides the directories below it. Entries compare by type, permission bits,
 * owner, size, modification time (to the nanosecond: mkrootfs copies it), link target and
 * device number, not by content (as containers/storage compares vfs layers). An owner the user
 * namespace does not map (the overflow ID) is not compared: mkrootfs could not copy it.
 * Device nodes and sockets of the layers are not in the copy (mkrootfs skips them without
 * root), so their absence is not a change. */
#include "storage.h"
#include "tarwrite.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the directory fds of one path in the layers that show it, topmost first */
struct lview {
  int *fd;
  size_t n;
};

/* the directories of the path being walked whose own member is not written yet */
struct pending {
  int pfd;          /* the parent directory */
  const char *name; /* the name in it */
  size_t rlen;      /* rel[0..rlen) is the directory's member name, without the '/' */
  int done;
};

static struct {
  struct pending *p;
  size_t n, cap;
  char *tmp; /* a copy of rel for writing a pending directory */
  uid_t overflow_uid;
  gid_t overflow_gid;
} V;

static void __attribute__((noreturn)) oom(void) { die(125, "tar-dir: out of memory"); }

static unsigned long read_num(const char *path, unsigned long dflt) {
  char b[32];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return dflt;
  ssize_t n = read(fd, b, sizeof b - 1);
  close(fd);
  if (n <= 0) return dflt;
  b[n] = 0;
  return strtoul(b, NULL, 10);
}

static int is_whiteout(const struct stat *st) { return S_ISCHR(st->st_mode) && st->st_rdev == 0; }

/* NAME as the layers show it: 1, its stat and the layer directory it is in (lfd may be NULL),
   or 0 when absent (or whited out) */
static int lookup(const struct lview *v, const char *name, struct stat *st, int *lfd) {
  for (size_t i = 0; i < v->n; i++) {
    if (fstatat(v->fd[i], name, st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (lfd) *lfd = v->fd[i];
      return !is_whiteout(st);
    }
    if (errno != ENOENT) die_errno(125, "tar-dir: reading a layer at %s", show(name));
  }
  return 0;
}

/* the layers' directories NAME (below V's), as far down as the layers show them */
static void child_view(const struct lview *v, const char *name, struct lview *out) {
  out->n = 0;
  out->fd = v->n ? malloc(v->n * sizeof *out->fd) : NULL;
  if (v->n && !out->fd) oom();
  for (size_t i = 0; i < v->n; i++) {
    struct stat st;
    if (fstatat(v->fd[i], name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue;
      die_errno(125, "tar-dir: reading a layer at %s", show(name));
    }
    if (!S_ISDIR(st.st_mode)) break; /* a whiteout or a file hides what is below */
    int fd = openat(v->fd[i], name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) die_errno(125, "tar-dir: opening a layer directory %s", show(name));
    out->fd[out->n++] = fd;
    if (xa_is_opaque(fd, -1, NULL)) break;
  }
}

static void view_free(struct lview *v) {
  for (size_t i = 0; i < v->n; i++) close(v->fd[i]);
  free(v->fd);
}

static int same(const struct stat *l, const struct stat *r, int ldfd, int rdfd, const char *name) {
  if ((l->st_mode & S_IFMT) != (r->st_mode & S_IFMT) || (l->st_mode & 07777) != (r->st_mode & 07777)) return 0;
  if (l->st_uid != r->st_uid && l->st_uid != V.overflow_uid) return 0;
  if (l->st_gid != r->st_gid && l->st_gid != V.overflow_gid) return 0;
  if (l->st_mtim.tv_sec != r->st_mtim.tv_sec || l->st_mtim.tv_nsec != r->st_mtim.tv_nsec) return 0;
  if (S_ISREG(l->st_mode)) return l->st_size == r->st_size;
  if (S_ISCHR(l->st_mode) || S_ISBLK(l->st_mode)) return l->st_rdev == r->st_rdev;
  if (S_ISLNK(l->st_mode)) {
    char a[PATH_MAX], b[PATH_MAX];
    ssize_t na = readlinkat(ldfd, name, a, sizeof a), nb = readlinkat(rdfd, name, b, sizeof b);
    return na >= 0 && na == nb && memcmp(a, b, (size_t)na) == 0;
  }
  return 1;
}

/* writes the members of the pending directories not written yet, outermost first */
static void flush(const char *rel) {
  for (size_t i = 0; i < V.n; i++) {
    struct pending *p = &V.p[i];
    if (p->done) continue;
    memcpy(V.tmp, rel, p->rlen);
    V.tmp[p->rlen] = 0;
    tw_dir_only(p->pfd, p->name, V.tmp, p->rlen);
    p->done = 1;
  }
}

/* the names in the directory DFD, sorted (*n of them) */
static char **names_of(int dfd, size_t *n) {
  char **v = tw_sorted_names(dfd, n);
  if (!v) die_errno(125, "tar-dir: cannot read a directory");
  return v;
}

static void free_names(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static int has_name(char **v, size_t n, const char *s) {
  return n && bsearch(&s, v, n, sizeof *v, tw_cmpname) != NULL;
}

static void walk(int rdfd, const struct lview *v, char *rel, size_t rlen, int depth) {
  if (depth > 4096) die(125, "tar-dir: %s: directories nested too deep", show(rel));
  size_t cnt;
  char **names = names_of(rdfd, &cnt);
  for (size_t i = 0; i < cnt; i++) {
    const char *n = names[i];
    size_t nl = strlen(n);
    if (rlen + nl + 16 >= TW_REL_MAX) die(125, "tar-dir: %s%s: name too long", show(rel), show(n));
    memcpy(rel + rlen, n, nl + 1);
    struct stat rs, ls;
    if (fstatat(rdfd, n, &rs, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue; /* gone meanwhile */
      die_errno(125, "tar-dir: %s", show(rel));
    }
    if (S_ISSOCK(rs.st_mode)) continue;
    int lfd = -1;
    int in = lookup(v, n, &ls, &lfd);
    if (!in || S_ISDIR(rs.st_mode) != S_ISDIR(ls.st_mode)) { /* new, or a directory for a file (or back) */
      flush(rel);
      tw_member(rdfd, n, rel, rlen + nl, depth);
      continue;
    }
    if (!S_ISDIR(rs.st_mode)) {
      if (!same(&ls, &rs, lfd, rdfd, n)) {
        flush(rel);
        tw_member(rdfd, n, rel, rlen + nl, depth);
      }
      continue;
    }
    /* a directory in both: its member only when it changed or something below it did */
    struct lview cv;
    child_view(v, n, &cv);
    int cfd = openat(rdfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0) die_errno(125, "tar-dir: %s: cannot open", show(rel));
    if (V.n == V.cap) {
      V.cap = V.cap ? V.cap * 2 : 64;
      V.p = realloc(V.p, V.cap * sizeof *V.p);
      if (!V.p) oom();
    }
    V.p[V.n++] = (struct pending){rdfd, n, rlen + nl, 0};
    if (!same(&ls, &rs, -1, rdfd, n)) flush(rel);
    rel[rlen + nl] = '/';
    rel[rlen + nl + 1] = 0;
    walk(cfd, &cv, rel, rlen + nl + 1, depth + 1);
    V.n--;
    close(cfd);
    view_free(&cv);
  }
  /* what the layers have here and the copy does not: whiteouts */
  char **gone = NULL;
  size_t ngone = 0, gcap = 0;
  for (size_t k = 0; k < v->n; k++) {
    size_t ln;
    char **lnames = names_of(v->fd[k], &ln);
    for (size_t j = 0; j < ln; j++) {
      const char *n = lnames[j];
      struct stat ls;
      if (has_name(names, cnt, n) || has_name(gone, ngone, n) || !lookup(v, n, &ls, NULL)) continue;
      if (S_ISSOCK(ls.st_mode) || S_ISCHR(ls.st_mode) || S_ISBLK(ls.st_mode)) continue; /* never copied */
      if (ngone == gcap) {
        gcap = gcap ? gcap * 2 : 16;
        gone = realloc(gone, gcap * sizeof *gone);
        if (!gone) oom();
      }
      if (!(gone[ngone++] = strdup(n))) oom();
      qsort(gone, ngone, sizeof *gone, tw_cmpname);
    }
    free_names(lnames, ln);
  }
  for (size_t j = 0; j < ngone; j++) {
    size_t nl = strlen(gone[j]);
    if (rlen + nl + 20 >= TW_REL_MAX) die(125, "tar-dir: %s%s: name too long", show(rel), show(gone[j]));
    rel[rlen] = 0;
    flush(rel);
    memcpy(rel + rlen, ".wh.", 4);
    memcpy(rel + rlen + 4, gone[j], nl + 1);
    struct stat ws;
    if (fstat(rdfd, &ws) < 0) die_errno(125, "tar-dir: %s", show(rel));
    tw_whiteout(rel, &ws);
  }
  rel[rlen] = 0;
  free_names(gone, ngone);
  free_names(names, cnt);
}

void vfs_diff(int rootfd, const char *lowers, char *rel) {
  V.overflow_uid = (uid_t)read_num("/proc/sys/kernel/overflowuid", 65534);
  V.overflow_gid = (gid_t)read_num("/proc/sys/kernel/overflowgid", 65534);
  V.tmp = malloc(TW_REL_MAX);
  char *list = strdup(lowers);
  if (!V.tmp || !list) oom();
  struct lview v = {NULL, 0};
  size_t cap = 0;
  for (char *save = NULL, *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
    if (v.n == cap) {
      cap = cap ? cap * 2 : 16;
      v.fd = realloc(v.fd, cap * sizeof *v.fd);
      if (!v.fd) oom();
    }
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) die_errno(125, "tar-dir: cannot open the layer %s", show(p));
    v.fd[v.n++] = fd;
    if (xa_is_opaque(fd, -1, NULL)) break;
  }
  free(list);
  rel[0] = 0;
  walk(rootfd, &v, rel, 0, 1);
  view_free(&v);
  free(V.tmp);
  free(V.p);
}
