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

/* Longest common directory prefix of the overlay dirs, to shorten the options when needed. */
static size_t common_dir(const char **paths, size_t n) {
  size_t len = strlen(paths[0]);
  for (size_t i = 1; i < n; i++) {
    size_t k = 0;
    while (k < len && paths[i][k] && paths[i][k] == paths[0][k]) k++;
    len = k;
  }
  while (len > 0 && paths[0][len - 1] != '/') len--;
  return len;
}

static int overlay_opts(struct spec *s, struct sbuf *b, int relative, size_t *prefix) {
  /* collect the paths */
  const char *paths[512];
  size_t n = 0;
  char *lower = xstrdup(s->lower);
  for (char *save = NULL, *p = strtok_r(lower, ":", &save); p && n < 510; p = strtok_r(NULL, ":", &save))
    paths[n++] = p;
  size_t nl = n;
  paths[n++] = s->upper;
  paths[n++] = s->work;
  size_t pre = relative ? common_dir(paths, n) : 0;
  *prefix = pre;
  sb_puts(b, "lowerdir=");
  for (size_t i = 0; i < nl; i++) {
    if (i) sb_puts(b, ":");
    sb_puts(b, paths[i] + pre);
  }
  sb_puts(b, ",upperdir=");
  sb_puts(b, s->upper + pre);
  sb_puts(b, ",workdir=");
  sb_puts(b, s->work + pre);
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
  size_t pre;
  overlay_opts(s, &o, 0, &pre);
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
  size_t pre = 0;
  overlay_opts(s, &o, 0, &pre);
  const char *extra = is_real_root() ? "" : ",userxattr";
  char cwd[4096] = "";
  if (o.len + strlen(extra) + 1 > 4000) {
    /* the options must fit in one page: use paths relative to a common parent */
    sb_free(&o);
    overlay_opts(s, &o, 1, &pre);
    if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)pre, s->upper);
    if (pre == 0 || chdir(dir) < 0) {
      snprintf(err, errlen, "overlay options for %s are too long", s->root);
      sb_free(&o);
      return -1;
    }
  }
  sb_puts(&o, extra);
  int rc = mount("overlay", s->root, "overlay", 0, o.p);
  int e = errno;
  if (cwd[0] && chdir(cwd) < 0) {}
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
