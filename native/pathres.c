/* Resolution of names inside a root directory, as if that directory were "/".
 *
 * Two implementations with the same semantics:
 *  - openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): the kernel does it (Linux >= 5.6);
 *  - a walk component by component: openat(O_PATH | O_DIRECTORY | O_NOFOLLOW) on each name,
 *    a stack of directory fds for "..", symlinks read with readlinkat and spliced in front of
 *    the rest of the path (absolute ones restart at the root), 40 links at most.
 * The walk is also used when missing directories must be created on the way. */
#include "storage.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_LINKS 40

struct ctr_open_how {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
#define CTR_RESOLVE_NO_MAGICLINKS 0x02
#define CTR_RESOLVE_IN_ROOT 0x10

static int use_openat2 = 1;

void storage_init(void) {
  umask(0);
  const char *e = getenv("CTR_HELPER_NO_OPENAT2");
  if (e && strcmp(e, "1") == 0) use_openat2 = 0;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rlim_t want = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (want > rl.rlim_cur) {
      rl.rlim_cur = want;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
}

int pr_split(const char *in, struct pr_name *out) {
  size_t n = strlen(in);
  out->full = malloc(n + 1);
  out->parent = malloc(n + 1);
  if (!out->full || !out->parent) {
    free(out->full);
    free(out->parent);
    errno = ENOMEM;
    return -1;
  }
  size_t o = 0, last = 0;
  const char *p = in;
  while (*p) {
    while (*p == '/') p++;
    const char *s = p;
    while (*p && *p != '/') p++;
    size_t len = (size_t)(p - s);
    if (len == 0 || (len == 1 && s[0] == '.')) continue;
    if (o) out->full[o++] = '/';
    last = o;
    memcpy(out->full + o, s, len);
    o += len;
  }
  out->full[o] = 0;
  /* parent: everything before the last component, without the separating '/' */
  size_t plen = last ? last - 1 : 0;
  memcpy(out->parent, out->full, plen);
  out->parent[plen] = 0;
  out->leaf = out->full + last;
  return 0;
}

void pr_name_free(struct pr_name *n) {
  free(n->full);
  free(n->parent);
  n->full = n->parent = NULL;
  n->leaf = NULL;
}

static int walk(int rootfd, const char *path, int create) {
  size_t remcap = strlen(path) + 1;
  char *rem = malloc(remcap);
  int *stack = NULL;
  size_t depth = 0, scap = 0;
  int links = 0, err = 0, result = -1;
  char name[NAME_MAX + 1];
  char target[PATH_MAX];
  if (!rem) {
    errno = ENOMEM;
    return -1;
  }
  memcpy(rem, path, remcap);
  size_t pos = 0;
  for (;;) {
    while (rem[pos] == '/') pos++;
    if (!rem[pos]) break;
    size_t s = pos;
    while (rem[pos] && rem[pos] != '/') pos++;
    size_t len = pos - s;
    if (len > NAME_MAX) {
      err = ENAMETOOLONG;
      goto out;
    }
    memcpy(name, rem + s, len);
    name[len] = 0;
    if (strcmp(name, ".") == 0) continue;
    if (strcmp(name, "..") == 0) {
      if (depth) close(stack[--depth]);
      continue;
    }
    int cur = depth ? stack[depth - 1] : rootfd;
    int fd = -1, tries = 0;
    for (;;) {
      fd = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) break;
      int e = errno;
      if (e == ENOENT && create && tries++ < 3) {
        if (mkdirat(cur, name, 0755) == 0 || errno == EEXIST) continue;
        err = errno;
        goto out;
      }
      if (e == ENOTDIR || e == ELOOP) {
        struct stat st;
        if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) break;
      }
      err = e;
      goto out;
    }
    if (fd >= 0) {
      if (depth == scap) {
        size_t ncap = scap ? scap * 2 : 16;
        int *ns = realloc(stack, ncap * sizeof *ns);
        if (!ns) {
          close(fd);
          err = ENOMEM;
          goto out;
        }
        stack = ns;
        scap = ncap;
      }
      stack[depth++] = fd;
      continue;
    }
    /* a symlink: splice its target in front of what is left */
    if (++links > MAX_LINKS) {
      err = ELOOP;
      goto out;
    }
    ssize_t tl = readlinkat(cur, name, target, sizeof target);
    if (tl < 0) {
      err = errno;
      goto out;
    }
    if ((size_t)tl >= sizeof target) {
      err = ENAMETOOLONG;
      goto out;
    }
    size_t restlen = strlen(rem + pos);
    size_t need = (size_t)tl + 1 + restlen + 1;
    char *nrem = malloc(need);
    if (!nrem) {
      err = ENOMEM;
      goto out;
    }
    memcpy(nrem, target, (size_t)tl);
    nrem[tl] = '/';
    memcpy(nrem + tl + 1, rem + pos, restlen + 1);
    free(rem);
    rem = nrem;
    pos = 0;
    if (tl > 0 && target[0] == '/')
      while (depth) close(stack[--depth]);
  }
  if (depth) {
    result = stack[--depth];
  } else {
    result = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (result < 0) err = errno;
  }
out:
  while (depth) close(stack[--depth]);
  free(stack);
  free(rem);
  if (result < 0) errno = err;
  return result;
}

int pr_open_dir(int rootfd, const char *path, int create) {
  if (use_openat2 && *path) {
    struct ctr_open_how how = {O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                               CTR_RESOLVE_IN_ROOT | CTR_RESOLVE_NO_MAGICLINKS};
    long fd = -1;
    for (int i = 0; i < 8; i++) {
      fd = syscall(SYS_openat2, rootfd, path, &how, sizeof how);
      if (fd >= 0) return (int)fd;
      if (errno != EAGAIN && errno != EINTR) break;
    }
    int e = errno;
    if (e == ENOSYS || e == EPERM || e == E2BIG || e == EINVAL) {
      use_openat2 = 0; /* old kernel or a seccomp filter: the walk does the same */
    } else if (!(e == ENOENT && create) && e != EAGAIN && e != EINTR) {
      errno = e;
      return -1;
    }
  }
  return walk(rootfd, path, create);
}
