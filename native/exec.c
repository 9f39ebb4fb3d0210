/* `exec PID PROCESS_JSON`: a new process in the namespaces of a running container. */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void usage_exec(void) __attribute__((noreturn));
static void usage_exec(void) {
  die(125, "usage: exec PID PROCESS_JSON [--tty] [--stdin] [--detach] [--detach-keys KEYS]");
}

static pid_t g_child = -1;
static void forward(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

/* Keeps a detached terminal session alive: holds the master and discards its output. */
static void hold_master(int master) {
  pid_t h = fork();
  if (h != 0) return;
  setsid();
  int nul = open("/dev/null", O_RDWR);
  if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); }
  int keep[1] = {master};
  close_fds_except(keep, 1);
  set_nonblock(master, 0);
  prctl(PR_SET_NAME, "ctr-exec-tty", 0, 0, 0);
  set_proc_title(saved_argv(), "ctr-exec-tty");
  char b[4096];
  for (;;) {
    ssize_t r = read(master, b, sizeof b);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) _exit(0);
  }
}

static int status_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 125;
}

int cmd_exec(int argc, char **argv) {
  struct attach_opts o = {0, 0, 0, 1, 1, NULL};
  int detach = 0;
  const char *pid_s = NULL, *pfile = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--tty")) o.tty = 1;
    else if (!strcmp(argv[i], "--stdin")) o.stdin_ = 1;
    else if (!strcmp(argv[i], "--detach")) detach = 1;
    else if (!strcmp(argv[i], "--detach-keys") && i + 1 < argc) o.detach_keys = argv[++i];
    else if (argv[i][0] == '-') usage_exec();
    else if (!pid_s) pid_s = argv[i];
    else if (!pfile) pfile = argv[i];
    else usage_exec();
  }
  if (!pid_s || !pfile) usage_exec();
  char *end;
  long pid = strtol(pid_s, &end, 10);
  if (*end || pid <= 0) die(125, "exec: invalid PID %s", pid_s);
  unsigned char keys[16];
  size_t nk;
  if (o.detach_keys && parse_detach_keys(o.detach_keys, keys, &nk) < 0)
    die(125, "invalid detach keys \"%s\": use a comma-separated list like ctrl-p,ctrl-q", o.detach_keys);

  char err[600];
  struct json *doc = json_parse_file(pfile, err, sizeof err);
  if (!doc) die(125, "reading %s: %s", pfile, err);
  struct proc_spec p;
  if (proc_spec_parse(&p, doc, err, sizeof err) < 0) die(125, "%s: %s", pfile, err);
  if (p.terminal) o.tty = 1;

  join_userns_of((pid_t)pid);
  /* open every namespace first: after joining the mount namespace, /proc is the container's */
  static const struct { const char *name; int flag; } nss[] = {
      {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET},
      {"cgroup", CLONE_NEWCGROUP}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
  };
  int fds[6];
  for (size_t i = 0; i < 6; i++) {
    char a[64], b[64];
    snprintf(a, sizeof a, "/proc/%ld/ns/%s", pid, nss[i].name);
    snprintf(b, sizeof b, "/proc/self/ns/%s", nss[i].name);
    struct stat sa, sb;
    fds[i] = -1;
    if (stat(a, &sa) < 0) {
      if (errno == ENOENT && i == 0) die(125, "no process %ld: the container is not running", pid);
      continue;
    }
    if (stat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev) continue;
    fds[i] = open(a, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) die_errno(125, "opening %s", a);
  }
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (size_t i = 0; i < 6; i++) {
    if (fds[i] < 0) continue;
    if (setns(fds[i], nss[i].flag) < 0) die_errno(125, "joining the %s namespace of process %ld", nss[i].name, pid);
    close(fds[i]);
  }

  int master = -1, slave = -1;
  if (o.tty && pty_open(&master, &slave, err, sizeof err) < 0) die(125, "%s", err);
  if (master >= 0) {
    struct winsize ws = {(unsigned short)(p.rows ? p.rows : 24), (unsigned short)(p.cols ? p.cols : 80), 0, 0};
    /* the user's terminal size, before the process starts (it may read it at once) */
    for (int fd = 0; fd < 3 && !p.rows; fd++) {
      struct winsize t;
      if (ioctl(fd, TIOCGWINSZ, &t) == 0 && t.ws_row && t.ws_col) {
        ws = t;
        break;
      }
    }
    ioctl(master, TIOCSWINSZ, &ws);
  }
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0) die_errno(125, "pipe");
  fflush(NULL);
  /* the child is visible in the container before it execs: keep /proc/PID/exe etc. out of reach */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  pid_t child = fork();
  if (child < 0) die_errno(125, "fork");
  if (child == 0) {
    close(ep[0]);
    if (o.tty) {
      setsid();
      if (ioctl(slave, TIOCSCTTY, 0) < 0) child_fail(ep[1], 125, "setting the controlling terminal: %s", strerror(errno));
      for (int i = 0; i < 3; i++) dup2(slave, i);
    } else if (detach) {
      setsid();
      for (int i = 0; i < 3; i++) dup2(nul, i);
    } else if (!o.stdin_) {
      dup2(nul, 0);
    }
    int keep[1] = {ep[1]};
    close_fds_except(keep, 1);
    process_prepare(&p, ep[1], o.tty);
    process_seccomp(&p, ep[1]);
    process_exec(&p, ep[1]);
  }
  g_child = child;
  close(ep[1]);
  if (slave >= 0) close(slave);
  char msg[1300];
  ssize_t n = read_full(ep[0], msg, sizeof msg - 1);
  close(ep[0]);
  if (n > 0) {
    char text[1200];
    int code = parse_fail(msg, (size_t)n, text, sizeof text);
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
    die(code > 0 ? code : 125, "%s", code > 0 ? text : "exec failed");
  }
  if (detach) {
    if (master >= 0) hold_master(master);
    return 0;
  }
  int st;
  if (o.tty) {
    int detached;
    relay_pty(master, &o, &detached);
    if (detached) {
      hold_master(master);
      return 0;
    }
  } else {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGINT, SIG_IGN); /* the terminal sends it to the process directly */
    signal(SIGQUIT, SIG_IGN);
  }
  while (waitpid(child, &st, 0) < 0)
    if (errno != EINTR) die_errno(125, "waiting for the process");
  return status_code(st);
}
