/* Mounting a container's rootfs in a private mount namespace: kernel overlay (userxattr when
   rootless), fuse-overlayfs, or the directory as it is (vfs / bind). */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int make_mount_ns(char *err, size_t errlen) {
  if (unshare(CLONE_NEWNS) < 0) {
    snprintf(err, errlen, "creating a mount namespace: %s", strerror(errno));
    return -1;
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
    snprintf(err, errlen, "making the mount namespace private: %s", strerror(errno));
    return -1;
  }
  return 0;
}

static int is_overlay(const struct spec *s) { return strcmp(s->driver, "overlay") == 0; }
static int is_fuse(const struct spec *s) { return strcmp(s->driver, "fuse-overlayfs") == 0; }

/* lowerdir=...,upperdir=...,workdir=... With FDS, each dir is opened and named
   /proc/self/fd/N, which keeps the options within one page however many layers there are. */
static int overlay_opts(struct spec *s, struct sbuf *b, int *fds, size_t *nfds) {
  const char *paths[1024];
  size_t n = 0;
  char *lower = xstrdup(s->lower);
  for (char *save = NULL, *p = strtok_r(lower, ":", &save); p && n < 1020; p = strtok_r(NULL, ":", &save))
    paths[n++] = p;
  size_t nl = n;
  paths[n++] = s->upper;
  paths[n++] = s->work;
  char name[32];
  for (size_t i = 0; i < n; i++) {
    const char *v = paths[i];
    if (fds) {
      int fd = open(paths[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) {
        int e = errno;
        free(lower);
        errno = e;
        return -1;
      }
      fds[(*nfds)++] = fd;
      snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
      v = name;
    }
    sb_puts(b, i == 0 ? "lowerdir=" : i < nl ? ":" : i == nl ? ",upperdir=" : ",workdir=");
    sb_puts(b, v);
  }
  free(lower);
  return 0;
}

static int mount_fuse(struct spec *s, char *err, size_t errlen) {
  if (access("/dev/fuse", R_OK | W_OK) < 0) {
    snprintf(err, errlen,
             "/dev/fuse is not accessible (%s); run `chmod 0666 /dev/fuse` as root, or use the vfs storage driver",
             strerror(errno));
    return -1;
  }
  char bin[4096];
  if (find_in_path("fuse-overlayfs", bin, sizeof bin) < 0) {
    snprintf(err, errlen, "fuse-overlayfs not found; install the fuse-overlayfs package or use another storage driver");
    return -1;
  }
  struct sbuf o = {0};
  overlay_opts(s, &o, NULL, NULL);
  if (s->map_rootfs) idmap_fuse_opts(s, &o);
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0) { snprintf(err, errlen, "pipe: %s", strerror(errno)); return -1; }
  pid_t pid = fork();
  if (pid < 0) { snprintf(err, errlen, "fork: %s", strerror(errno)); return -1; }
  if (pid == 0) {
    reset_signals();
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); }
    dup2(ep[1], 2);
    int keep[1] = {-1};
    close_fds_except(keep, 0);
    execl(bin, "fuse-overlayfs", "-o", o.p, s->root, (char *)NULL);
    dprintf(2, "cannot execute %s: %s\n", bin, strerror(errno));
    _exit(127);
  }
  close(ep[1]);
  sb_free(&o);
  char msg[600];
  ssize_t n = read_full(ep[0], msg, sizeof msg - 1);
  close(ep[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  if (n < 0) n = 0;
  msg[n] = 0;
  char *nl = strchr(msg, '\n');
  if (nl) *nl = 0;
  snprintf(err, errlen, "fuse-overlayfs could not mount %s: %s", s->root, *msg ? msg : "failed");
  return -1;
}

int rootfs_mount(struct spec *s, char *err, size_t errlen) {
  if (mkdir_p(s->root, 0755) < 0) {
    snprintf(err, errlen, "creating %s: %s", s->root, strerror(errno));
    return -1;
  }
  if (is_fuse(s)) return mount_fuse(s, err, errlen);
  if (!is_overlay(s)) {
    struct stat st;
    if (stat(s->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
      snprintf(err, errlen, "rootfs %s is not a directory", s->root);
      return -1;
    }
    return 0;
  }
  struct sbuf o = {0};
  overlay_opts(s, &o, NULL, NULL);
  const char *extra = is_real_root() ? "" : ",userxattr";
  int fds[1024];
  size_t nfds = 0;
  if (o.len + strlen(extra) + 1 > 4000) {
    /* the options must fit in one page */
    sb_free(&o);
    if (overlay_opts(s, &o, fds, &nfds) < 0) {
      snprintf(err, errlen, "opening the overlay layers of %s: %s", s->root, strerror(errno));
      sb_free(&o);
      return -1;
    }
  }
  sb_puts(&o, extra);
  int rc = o.len < 4096 ? mount("overlay", s->root, "overlay", 0, o.p) : -1;
  int e = o.len < 4096 ? errno : E2BIG;
  for (size_t i = 0; i < nfds; i++) close(fds[i]);
  sb_free(&o);
  if (rc < 0) {
    snprintf(err, errlen, "mounting the overlay rootfs at %s: %s; the kernel may not allow overlay in a user "
                          "namespace (needs 5.11+): try the fuse-overlayfs or vfs storage driver",
             s->root, strerror(e));
    return -1;
  }
  return 0;
}

void rootfs_umount(struct spec *s) {
  if (is_overlay(s) || is_fuse(s)) umount2(s->root, MNT_DETACH);
}
