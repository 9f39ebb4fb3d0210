/* The per-user pause process that holds the user namespace, and joining it. See PROTOCOL.md. */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* euid 0 in the initial user namespace (uid_map "0 0 4294967295"). */
int is_real_root(void) {
  static int cached = -1;
  if (cached >= 0) return cached;
  cached = 0;
  if (geteuid() != 0) return 0;
  char buf[256];
  int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cached = 1; /* no /proc: assume the host */
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return cached = 1;
  buf[n] = 0;
  unsigned long a, b, c;
  if (sscanf(buf, "%lu %lu %lu", &a, &b, &c) == 3 && a == 0 && b == 0 && c == 4294967295UL) cached = 1;
  return cached;
}

/* Inside some user namespace already, as its root (e.g. under `ctr unshare`). */
static int in_userns_as_root(void) { return geteuid() == 0 && !is_real_root(); }

unsigned long long proc_starttime(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  /* after ") " comes field 3 (state); starttime is field 22. A zombie counts as dead. */
  p += 2;
  if (*p == 'Z' || *p == 'X' || *p == 'x') return 0;
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  return p ? strtoull(p, NULL, 10) : 0;
}

static void pause_path(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_rundir, name); }

pid_t live_pidfile(const char *name, char *line, size_t linelen, unsigned long long *starttime) {
  char path[4200], buf[128];
  pause_path(path, sizeof path, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  long pid = 0;
  unsigned long long st = 0;
  if (sscanf(buf, "%ld %llu", &pid, &st) != 2 || pid <= 0 || proc_starttime((pid_t)pid) != st) return 0;
  if (line) snprintf(line, linelen, "%s", buf);
  if (starttime) *starttime = st;
  return (pid_t)pid;
}

/* The runtime dir must be ours and private: whoever can write in it could plant a pause PID,
   the pause lock or attach sockets (the CLI checks the same before it calls us; PROTOCOL.md).
   Made 0700 when missing. A symbolic link is followed only when we or root made it. */
void check_rundir(void) {
  static int done;
  if (done) return;
  struct stat st;
  if (lstat(g_rundir, &st) < 0) {
    if (errno != ENOENT) die_errno(125, "runtime directory %s", g_rundir);
    if (mkdir_p(g_rundir, 0700) < 0) die_errno(125, "creating the runtime directory %s", g_rundir);
    if (lstat(g_rundir, &st) < 0) die_errno(125, "runtime directory %s", g_rundir);
  }
  uid_t me = geteuid();
  if (S_ISLNK(st.st_mode)) {
    if (st.st_uid != me && st.st_uid != 0)
      die(125, "runtime directory %s is a symbolic link made by uid %u: refusing to follow it; set XDG_RUNTIME_DIR "
               "to a directory of yours (mode 0700)", g_rundir, (unsigned)st.st_uid);
    if (stat(g_rundir, &st) < 0) die_errno(125, "runtime directory %s", g_rundir);
  }
  if (!S_ISDIR(st.st_mode)) die(125, "runtime directory %s is not a directory", g_rundir);
  if (st.st_uid != me)
    die(125, "runtime directory %s belongs to uid %u, not to you: refusing to use it (permission denied); set "
             "XDG_RUNTIME_DIR to a directory of yours (mode 0700)", g_rundir, (unsigned)st.st_uid);
  if (st.st_mode & 022)
    die(125, "runtime directory %s can be written by others (mode %04o): refusing to use it; make it private "
             "(chmod 700) or remove it", g_rundir, (unsigned)(st.st_mode & 07777));
  done = 1;
}

/* Returns an fd on the live pause process's user namespace, or -1. */
static int open_pause_ns(void) {
  unsigned long long st = 0;
  pid_t pid = live_pidfile("pause.pid", NULL, 0, &st);
  if (!pid) return -1;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
  int ns = open(path, O_RDONLY | O_CLOEXEC);
  /* the pid could have died between the two checks and been reused: re-check */
  if (ns >= 0 && proc_starttime(pid) != st) { close(ns); return -1; }
  return ns;
}

/* When the pause is gone but the holder of the user's networks' namespace (netns.c) lives, its
   user namespace is the one every running container and bridge belongs to: it is adopted (and
   named in pause.pid from now on), so that the networks keep working and no second user
   namespace splits the containers in two. Caller holds the pause lock. */
static int adopt_netns_holder(void) {
  char line[128], path[4200];
  unsigned long long st = 0;
  pid_t pid = live_pidfile("netns.pid", line, sizeof line, &st);
  if (!pid) return -1;
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
  int ns = open(path, O_RDONLY | O_CLOEXEC);
  if (ns >= 0 && proc_starttime(pid) != st) { close(ns); return -1; }
  if (ns < 0) return -1;
  pause_path(path, sizeof path, "pause.pid");
  if (write_file_atomic(path, line, strlen(line), 0600) < 0) { close(ns); return -1; }
  debugx("pause gone: the user namespace of the networks' holder %d is adopted", (int)pid);
  return ns;
}

struct range { unsigned long start, count; };

/* Ranges for USER (name) or UID in an /etc/subuid-style file, in file order. */
static size_t read_subids(const char *file, const char *user, unsigned long uid, struct range *out, size_t max) {
  FILE *f = fopen(file, "re");
  if (!f) return 0;
  char line[512], uidstr[32];
  snprintf(uidstr, sizeof uidstr, "%lu", uid);
  size_t n = 0;
  while (n < max && fgets(line, sizeof line, f)) {
    char *c1 = strchr(line, ':');
    if (!c1 || line[0] == '#') continue;
    *c1 = 0;
    if (strcmp(line, uidstr) && (!user || strcmp(line, user))) continue;
    unsigned long s, c;
    if (sscanf(c1 + 1, "%lu:%lu", &s, &c) == 2 && c > 0) out[n++] = (struct range){s, c};
  }
  fclose(f);
  return n;
}

/* Runs newuidmap/newgidmap; on failure puts its first stderr line in why. */
static int run_idmap(const char *tool, pid_t pid, unsigned long id, const struct range *r, size_t nr, char *why,
                     size_t whylen) {
  char bin[4096];
  if (find_in_path(tool, bin, sizeof bin) < 0) { snprintf(why, whylen, "%s not found", tool); return -1; }
  char *argv[4 + 3 * 345];
  char nums[3 * 345 + 4][24];
  size_t a = 0, k = 0;
  argv[a++] = (char *)tool;
  snprintf(nums[k], 24, "%d", (int)pid); argv[a++] = nums[k++];
  snprintf(nums[k], 24, "0"); argv[a++] = nums[k++];
  snprintf(nums[k], 24, "%lu", id); argv[a++] = nums[k++];
  snprintf(nums[k], 24, "1"); argv[a++] = nums[k++];
  unsigned long next = 1;
  for (size_t i = 0; i < nr; i++) {
    snprintf(nums[k], 24, "%lu", next); argv[a++] = nums[k++];
    snprintf(nums[k], 24, "%lu", r[i].start); argv[a++] = nums[k++];
    snprintf(nums[k], 24, "%lu", r[i].count); argv[a++] = nums[k++];
    next += r[i].count;
  }
  argv[a] = NULL;
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0) { snprintf(why, whylen, "pipe: %s", strerror(errno)); return -1; }
  pid_t c = fork();
  if (c < 0) { snprintf(why, whylen, "fork: %s", strerror(errno)); return -1; }
  if (c == 0) {
    dup2(ep[1], 2);
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); }
    execv(bin, argv);
    dprintf(2, "cannot execute %s: %s\n", bin, strerror(errno));
    _exit(127);
  }
  close(ep[1]);
  char out[1024];
  ssize_t n = read_full(ep[0], out, sizeof out - 1);
  close(ep[0]);
  int st;
  while (waitpid(c, &st, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  if (n < 0) n = 0;
  out[n] = 0;
  char *nl = strchr(out, '\n');
  if (nl) *nl = 0;
  snprintf(why, whylen, "%s", *out ? out : "exited with an error");
  return -1;
}

static int write_proc(pid_t pid, const char *file, const char *data) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = write_all(fd, data, strlen(data));
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

/* Is the pause still the one its runtime dir names? The dir must still be the one it started
   in (same device and inode at the same path) and pause.pid must still name this process. */
static int pause_still_ours(const char *dir, const struct stat *orig) {
  struct stat st;
  if (lstat(dir, &st) < 0 || st.st_dev != orig->st_dev || st.st_ino != orig->st_ino) return 0;
  char path[4200], buf[128];
  snprintf(path, sizeof path, "%s/pause.pid", dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno != ENOENT && errno != ELOOP;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 1; /* being written: judge at the next event */
  buf[n] = 0;
  return atol(buf) == (long)getpid();
}

/* The pause process: holds the user namespace until SIGTERM, or until its runtime dir is gone
   (removed, renamed, unmounted) or names another pause. It wakes only for changes in that dir
   (inotify); where inotify cannot be had it looks once a minute. Running containers hold the
   namespace themselves, so they keep running when it exits; the next command makes a new pause. */
static void become_pause(void) __attribute__((noreturn));
static void become_pause(void) {
  setsid();
  char dir[4096];
  if (g_rundir[0] == '/') snprintf(dir, sizeof dir, "%s", g_rundir);
  else {
    char cwd[2048];
    snprintf(dir, sizeof dir, "%s/%s", getcwd(cwd, sizeof cwd) ? cwd : "", g_rundir);
  }
  if (chdir("/") < 0) {}
  int nul = open("/dev/null", O_RDWR);
  if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); }
  close_fds_except(NULL, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  for (int s = 1; s < 65; s++)
    if (s != SIGTERM && s != SIGINT) sigaction(s, &sa, NULL);
  sa.sa_handler = SIG_DFL;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  prctl(PR_SET_NAME, "ctr-pause", 0, 0, 0);
  set_proc_title(saved_argv(), "ctr-pause");
  struct stat orig;
  if (lstat(dir, &orig) < 0) _exit(0);
  int in = inotify_init1(IN_CLOEXEC);
  if (in >= 0 && inotify_add_watch(in, dir, IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_DELETE | IN_MOVED_FROM |
                                               IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW) < 0) {
    close(in);
    in = -1;
  }
  if (!pause_still_ours(dir, &orig)) _exit(0);
  for (;;) {
    struct pollfd p = {in, POLLIN, 0};
    int r = poll(&p, in >= 0 ? 1 : 0, in >= 0 ? -1 : 60000);
    if (r < 0) continue;
    int check = in < 0, lost = 0;
    if (in >= 0 && p.revents) {
      char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
      ssize_t n = read(in, ev, sizeof ev);
      if (n < 0 && errno != EINTR && errno != EAGAIN) lost = 1;
      for (ssize_t off = 0; n > 0 && off < n;) {
        const struct inotify_event *e = (const struct inotify_event *)(ev + off);
        if (e->mask & IN_IGNORED) lost = 1; /* the watch is gone (the dir was deleted or unmounted) */
        if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_Q_OVERFLOW)) check = 1;
        else if (e->len && !strcmp(e->name, "pause.pid")) check = 1;
        off += (ssize_t)sizeof *e + e->len;
      }
    }
    if ((check || lost) && !pause_still_ours(dir, &orig)) _exit(0);
    if (lost) { close(in); in = -1; } /* still ours, somehow: look once a minute from now on */
  }
}

/* A sysctl's value (a number), or -1 when the file is not there (or not a number). */
static long read_sysctl(const char *path) {
  char buf[32];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *end;
  long v = strtol(buf, &end, 10);
  return end == buf ? -1 : v;
}

/* unshare(CLONE_NEWUSER) failed with errno E (text WHY): one line that names the setting and how to
   change it. */
static void userns_refused(int e, const char *why) __attribute__((noreturn));
static void userns_refused(int e, const char *why) {
  long max = read_sysctl("/proc/sys/user/max_user_namespaces");
  long clone = read_sysctl("/proc/sys/kernel/unprivileged_userns_clone");
  if (max == 0) /* EL7's default */
    die(125, "cannot create a user namespace: user namespaces are disabled (sysctl user.max_user_namespaces = 0); "
             "as root: echo user.max_user_namespaces=28633 > /etc/sysctl.d/99-userns.conf && sysctl --system");
  if (clone == 0) /* Debian's and Ubuntu's switch */
    die(125, "cannot create a user namespace: unprivileged user namespaces are disabled (sysctl "
             "kernel.unprivileged_userns_clone = 0); as root: echo kernel.unprivileged_userns_clone=1 > "
             "/etc/sysctl.d/99-userns.conf && sysctl --system");
  if (max > 0 && e == ENOSPC) /* the limit is reached */
    die(125, "cannot create a user namespace: %s (the limit sysctl user.max_user_namespaces = %ld is reached); "
             "raise it in /etc/sysctl.d/99-userns.conf, then sysctl --system", why, max);
  die(125, "cannot create a user namespace: %s; check that unprivileged user namespaces are enabled "
           "(sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone; EL7 needs 7.4 or later)", why);
}

/* Creates the pause process (lock held by the caller) and returns an fd on its user ns. */
static int create_pause(void) {
  uid_t uid = getuid();
  gid_t gid = getgid();
  int c2p[2], p2c[2];
  if (pipe2(c2p, O_CLOEXEC) < 0 || pipe2(p2c, O_CLOEXEC) < 0) die_errno(125, "creating the pause process: pipe");
  pid_t pid = fork();
  if (pid < 0) die_errno(125, "creating the pause process: fork");
  if (pid == 0) {
    close(c2p[0]);
    close(p2c[1]);
    char c = 'u';
    if (unshare(CLONE_NEWUSER) < 0) {
      char msg[200];
      int e = errno;
      int n = snprintf(msg, sizeof msg, "%d %s", e, strerror(e));
      c = 'x';
      if (write(c2p[1], &c, 1) < 0 || write(c2p[1], msg, (size_t)n) < 0) {}
      _exit(1);
    }
    if (write(c2p[1], &c, 1) < 0) _exit(1);
    if (read(p2c[0], &c, 1) != 1 || c != 'g') _exit(1);
    become_pause();
  }
  close(c2p[1]);
  close(p2c[0]);
  char buf[256];
  ssize_t n = read_full(c2p[0], buf, 1);
  if (n != 1 || buf[0] != 'u') {
    ssize_t m = n == 1 ? read_full(c2p[0], buf, sizeof buf - 1) : 0;
    if (m < 0) m = 0;
    buf[m] = 0;
    waitpid(pid, NULL, 0);
    char *text = strchr(buf, ' ');
    userns_refused(text ? atoi(buf) : 0, text ? text + 1 : "unknown error");
  }
  close(c2p[0]);

  struct passwd *pw = getpwuid(uid);
  const char *user = pw ? pw->pw_name : NULL;
  struct range ur[340], gr[340];
  size_t nu = read_subids("/etc/subuid", user, uid, ur, 339);
  size_t ng = read_subids("/etc/subgid", user, uid, gr, 339);
  char bin[4096];
  int have_tools = find_in_path("newuidmap", bin, sizeof bin) == 0 && find_in_path("newgidmap", bin, sizeof bin) == 0;
  if (nu && ng && have_tools) {
    char why[1100];
    if (run_idmap("newuidmap", pid, uid, ur, nu, why, sizeof why) < 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      die(125, "newuidmap failed: %s; check the ranges for %s in /etc/subuid and that newuidmap is setuid root",
          why, user ? user : "your user");
    }
    if (run_idmap("newgidmap", pid, gid, gr, ng, why, sizeof why) < 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      die(125, "newgidmap failed: %s; check the ranges for %s in /etc/subgid and that newgidmap is setuid root",
          why, user ? user : "your user");
    }
  } else {
    char map[64];
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
    if (write_proc(pid, "uid_map", map) < 0) die_errno(125, "writing the uid map of the user namespace");
    if (write_proc(pid, "setgroups", "deny") < 0 && errno != ENOENT)
      die_errno(125, "writing setgroups of the user namespace");
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
    if (write_proc(pid, "gid_map", map) < 0) die_errno(125, "writing the gid map of the user namespace");
    if (!have_tools && nu && ng)
      warnx_("newuidmap/newgidmap not found; containers get a single-ID mapping (only root inside); install the "
             "uidmap package (Debian, Ubuntu) or shadow-utils 4.6 or later (EL 7.7 and later, Fedora)");
    else
      warnx_("no subordinate IDs for %s in /etc/sub%cid; containers get a single-ID mapping (only root inside); add "
             "a range with: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s",
             user ? user : "your user", nu ? 'g' : 'u', user ? user : "USER");
  }
  char path[4200], ns[64];
  snprintf(ns, sizeof ns, "/proc/%d/ns/user", (int)pid);
  int nsfd = open(ns, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die_errno(125, "opening %s", ns);
  unsigned long long st = proc_starttime(pid);
  char line[64];
  int l = snprintf(line, sizeof line, "%d %llu\n", (int)pid, st);
  pause_path(path, sizeof path, "pause.pid");
  if (write_file_atomic(path, line, (size_t)l, 0600) < 0) die_errno(125, "writing %s", path);
  if (write(p2c[1], "g", 1) != 1) die_errno(125, "starting the pause process");
  close(p2c[1]);
  debugx("pause process %d created", (int)pid);
  return nsfd;
}

static void enter_ns_fd(int nsfd) {
  if (setns(nsfd, CLONE_NEWUSER) < 0) die_errno(125, "joining the user namespace");
  close(nsfd);
  /* host supplementary groups mean nothing here; drop them where allowed */
  if (setgroups(0, NULL) < 0) {}
  if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) die_errno(125, "becoming root in the user namespace");
}

void join_userns(void) {
  static int joined;
  if (joined) return;
  joined = 1;
  if (is_real_root() || in_userns_as_root()) return;
  check_rundir();
  int nsfd = open_pause_ns();
  if (nsfd < 0) {
    char lock[4200];
    pause_path(lock, sizeof lock, "pause.lock");
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lfd < 0) die_errno(125, "opening %s", lock);
    while (flock(lfd, LOCK_EX) < 0)
      if (errno != EINTR) die_errno(125, "locking %s", lock);
    nsfd = open_pause_ns(); /* another invocation may have created it meanwhile */
    if (nsfd < 0) nsfd = adopt_netns_holder();
    if (nsfd < 0) nsfd = create_pause();
    close(lfd);
  }
  enter_ns_fd(nsfd);
}

static int same_ns(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) < 0 || stat(b, &sb) < 0) return 0;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void join_userns_of(pid_t pid) {
  if (is_real_root()) return;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
  if (same_ns(path, "/proc/self/ns/user")) return;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) die(125, "no process %d: the container is not running", (int)pid);
    die_errno(125, "opening %s", path);
  }
  enter_ns_fd(fd);
}

int cmd_userns_exec(int argc, char **argv) {
  int i = 1;
  if (i < argc && strcmp(argv[i], "--") == 0) i++;
  join_userns();
  setenv("CTR_USERNS", "1", 1);
  if (i < argc) {
    execvp(argv[i], argv + i);
    die_errno(errno == ENOENT ? 127 : 126, "cannot run %s", argv[i]);
  }
  const char *sh = getenv("SHELL");
  if (!sh || !*sh) sh = "/bin/sh";
  execl(sh, sh, (char *)NULL);
  die_errno(127, "cannot run %s", sh);
}

static void print_map(const char *kind, const char *file) {
  FILE *f = fopen(file, "re");
  if (!f) die_errno(125, "reading %s", file);
  unsigned long a, b, c;
  while (fscanf(f, "%lu %lu %lu", &a, &b, &c) == 3) printf("%s %lu %lu %lu\n", kind, a, b, c);
  fclose(f);
}

int cmd_id_map(int argc, char **argv) {
  join_userns();
  print_map("uid", "/proc/self/uid_map");
  print_map("gid", "/proc/self/gid_map");
  return 0;
}
