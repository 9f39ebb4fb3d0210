/* `run BUNDLE`: starts the monitor (double fork) and reports the start, or stays attached.
   `mount-exec BUNDLE -- CMD`: the rootfs mounted in a private mount namespace for CMD. */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void usage_run(void) __attribute__((noreturn));
static void usage_run(void) {
  die(125, "usage: run BUNDLE [--attach] [--stdin] [--tty] [--detach-keys KEYS] [--sig-proxy]");
}

/* Checks made before anything starts, so that the user gets one clear line. */
static void preflight(struct spec *s) {
  char bin[4096];
  if (!strcmp(s->driver, "fuse-overlayfs")) {
    if (access("/dev/fuse", R_OK | W_OK) < 0)
      die(125, "/dev/fuse is not accessible (%s); run `chmod 0666 /dev/fuse` as root, or install fuse-overlayfs "
               "support (the fuse3 package) and its kernel module, or use the vfs storage driver",
          strerror(errno));
    if (find_in_path("fuse-overlayfs", bin, sizeof bin) < 0)
      die(125, "fuse-overlayfs not found; install the fuse-overlayfs package or use another storage driver");
  }
  if (!strcmp(s->network, "slirp4netns") && (s->ns_new & CLONE_NEWNET)) {
    if (find_in_path("slirp4netns", bin, sizeof bin) < 0) {
      notex("slirp4netns not found: the container has loopback networking only; install the slirp4netns package");
      s->network = "none";
    } else if (access("/dev/net/tun", R_OK | W_OK) < 0) {
      notex("/dev/net/tun is not accessible (%s): the container has loopback networking only", strerror(errno));
      s->network = "none";
    }
  }
}

int cmd_run(int argc, char **argv) {
  struct attach_opts o = {0, 0, 0, 1, 1, NULL};
  int attach = 0;
  const char *bundle = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--attach")) attach = 1;
    else if (!strcmp(argv[i], "--stdin")) o.stdin_ = 1;
    else if (!strcmp(argv[i], "--tty")) o.tty = 1;
    else if (!strcmp(argv[i], "--sig-proxy")) o.sig_proxy = 1;
    else if (!strcmp(argv[i], "--detach-keys") && i + 1 < argc) o.detach_keys = argv[++i];
    else if (argv[i][0] == '-') usage_run();
    else if (!bundle) bundle = argv[i];
    else usage_run();
  }
  if (!bundle) usage_run();
  unsigned char keys[16];
  size_t nk;
  if (o.detach_keys && parse_detach_keys(o.detach_keys, keys, &nk) < 0)
    die(125, "invalid detach keys \"%s\": use a comma-separated list like ctrl-p,ctrl-q", o.detach_keys);

  static struct spec s;
  char err[1200];
  if (spec_load(&s, bundle, err, sizeof err) < 0) die(125, "%s", err);
  preflight(&s);
  if (!s.proc.terminal) o.tty = 0;
  join_userns();
  if (s.mondir) {
    /* the attach socket goes there: it must be our own directory, not a link someone planted */
    struct stat mst;
    if (mkdir_p(s.mondir, 0700) < 0) die_errno(125, "creating %s", s.mondir);
    if (lstat(s.mondir, &mst) < 0) die_errno(125, "%s", s.mondir);
    if (!S_ISDIR(mst.st_mode) || mst.st_uid != geteuid() || (mst.st_mode & 022))
      die(125, "monitor directory %s is not a private directory of yours: refusing to use it", s.mondir);
  }

  int st[2], sp[2] = {-1, -1};
  if (pipe2(st, O_CLOEXEC) < 0) die_errno(125, "pipe");
  if (attach && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) die_errno(125, "socketpair");
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) die_errno(125, "fork");
  if (pid == 0) {
    close(st[0]);
    if (sp[0] >= 0) close(sp[0]);
    setsid();
    pid_t m = fork();
    if (m < 0) _exit(1);
    if (m > 0) _exit(0);
    monitor_main(&s, st[1], sp[1], o.stdin_ || s.stdin_open);
  }
  close(st[1]);
  if (sp[1] >= 0) close(sp[1]);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}

  if (attach && attach_hello(sp[0], &o) < 0) die_errno(125, "attaching to the container");

  /* status lines from the monitor: N note, S started, E failed */
  char buf[4096];
  size_t len = 0;
  int started = 0;
  for (;;) {
    char *nl;
    while ((nl = memchr(buf, '\n', len))) {
      *nl = 0;
      if (buf[0] == 'N' && buf[1] == ' ') {
        notex("%s", buf + 2);
      } else if (buf[0] == 'S' && buf[1] == ' ') {
        if (!attach) {
          printf("%s\n", buf + 2);
          fflush(stdout);
          return 0;
        }
        started = 1;
      } else if (buf[0] == 'E' && buf[1] == ' ') {
        char *msg = strchr(buf + 2, ' ');
        int code = atoi(buf + 2);
        die(code > 0 ? code : 125, "%s", msg ? msg + 1 : "the container failed to start");
      }
      size_t used = (size_t)(nl - buf) + 1;
      memmove(buf, nl + 1, len - used);
      len -= used;
    }
    if (started) break;
    if (len == sizeof buf) len = 0;
    ssize_t r = read(st[0], buf + len, sizeof buf - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die(125, "the container monitor exited before the container started");
    len += (size_t)r;
  }
  close(st[0]);
  return attach_loop(sp[0], &o);
}

int cmd_mount_exec(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--")) die(125, "usage: mount-exec BUNDLE -- CMD [ARGS...]");
  static struct spec s;
  char err[1200];
  if (spec_load(&s, argv[1], err, sizeof err) < 0) die(125, "%s", err);
  join_userns();
  if (make_mount_ns(err, sizeof err) < 0) die(125, "%s", err);
  if (rootfs_mount(&s, err, sizeof err) < 0) die(125, "%s", err);
  setenv("CTR_ROOTFS", s.root, 1);
  int needs_cleanup = !strcmp(s.driver, "fuse-overlayfs");
  if (!needs_cleanup) {
    execvp(argv[3], argv + 3);
    die_errno(errno == ENOENT ? 127 : 126, "cannot run %s", argv[3]);
  }
  /* fuse-overlayfs lives in this mount namespace: unmount it when CMD is done */
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  pid_t pid = fork();
  if (pid < 0) die_errno(125, "fork");
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    execvp(argv[3], argv + 3);
    die_errno(errno == ENOENT ? 127 : 126, "cannot run %s", argv[3]);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  rootfs_umount(&s);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
