/* ctr.init=1: the helper stays PID 1 of the container, runs the process as its child,
   forwards every signal to it, reaps every zombie and exits with the child's status. */
#include "runtime.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
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
