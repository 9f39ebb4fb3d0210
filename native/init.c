/* ctr.init=1: the helper stays PID 1 of the container, runs the process as its child,
   forwards every signal to it, reaps every zombie and exits with the child's status. */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

void init_pid1(struct proc_spec *p, int errfd) {
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t child = fork();
  if (child < 0) child_fail(errfd, 125, "init: fork: %s", strerror(errno));
  if (child == 0) {
    /* own process group; it gets the terminal's foreground when there is one */
    setpgid(0, 0);
    if (isatty(0)) tcsetpgrp(0, getpid());
    process_exec(p, errfd);
  }
  close(errfd);
  prctl(PR_SET_NAME, "ctr-init", 0, 0, 0);
  set_proc_title(saved_argv(), "ctr-init");
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      if (sig == SIGTTIN || sig == SIGTTOU) continue;
      kill(child, sig);
      continue;
    }
    for (;;) {
      int st;
      pid_t w = waitpid(-1, &st, WNOHANG);
      if (w <= 0) break;
      if (w != child) continue;
      if (WIFEXITED(st)) _exit(WEXITSTATUS(st));
      if (WIFSIGNALED(st)) _exit(128 + WTERMSIG(st));
    }
  }
}

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

/* Before Linux 3.17 there is no memfd_create: the copy is an unlinked file in the container's own
   /dev (a tmpfs of its mount namespace that nothing else sees), reopened read-only. It cannot be
   sealed, but a running executable cannot be written (ETXTBSY) and it is this container's copy
   only, never the host's binary. */
static int init_tmpfile(void) {
  char name[] = "/dev/.ctr-init-XXXXXX";
  int fd = mkostemp(name, O_CLOEXEC);
  if (fd < 0) return -1;
  unlink(name);
  return fd;
}

int init_image(void) {
  int fd = (int)syscall(SYS_memfd_create, "ctr-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = (int)syscall(SYS_memfd_create, "ctr-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  int memfd = fd >= 0;
  if (fd < 0 && errno == ENOSYS) fd = init_tmpfile();
  if (fd < 0) return -1;
  int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (exe < 0) { close(fd); return -1; }
  for (;;) {
    ssize_t n = sendfile(fd, exe, NULL, 1 << 20);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { close(exe); close(fd); return -1; }
    if (n == 0) break;
  }
  close(exe);
  if (memfd) {
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) { close(fd); return -1; }
    return fd;
  }
  /* no writer may stay open: exec refuses a file open for writing */
  char p[64];
  snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
  int ro = fchmod(fd, 0500) == 0 ? open(p, O_RDONLY | O_CLOEXEC) : -1;
  close(fd);
  return ro;
}

void init_reexec(struct proc_spec *p, int errfd, int memfd) {
  if (memfd >= 0) {
    char fdstr[16];
    snprintf(fdstr, sizeof fdstr, "%d", errfd);
    char **argv = xmalloc((p->nargs + 5) * sizeof *argv);
    size_t k = 0;
    argv[k++] = "ctr-init";
    argv[k++] = "__init";
    argv[k++] = fdstr;
    argv[k++] = "--";
    for (size_t i = 0; i < p->nargs; i++) argv[k++] = p->args[i];
    argv[k] = NULL;
    set_cloexec(errfd, 0);
    char **envp = process_envp(p);
    syscall(SYS_execveat, memfd, "", argv, envp, AT_EMPTY_PATH);
    if (errno == ENOSYS) { /* before Linux 3.19: through /proc, which the container has mounted */
      char self[64];
      snprintf(self, sizeof self, "/proc/self/fd/%d", memfd);
      execve(self, argv, envp);
    }
    set_cloexec(errfd, 1);
  }
  /* no executable memfd here: stay in this image, out of reach of the container's processes */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  init_pid1(p, errfd);
}

/* `__init ERRFD -- ARGS...`: PID 1 after the re-exec; the environment is the process's. */
int cmd_init(int argc, char **argv) {
  extern char **environ;
  if (argc < 4 || strcmp(argv[2], "--")) _exit(125);
  int errfd = atoi(argv[1]);
  set_cloexec(errfd, 1);
  struct proc_spec p;
  memset(&p, 0, sizeof p);
  p.args = argv + 3;
  p.nargs = (size_t)(argc - 3);
  p.env = environ;
  init_pid1(&p, errfd);
}
