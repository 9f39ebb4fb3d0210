/* `pids PID` and `signal-all PID SIGNAL`: every process in the PID namespace of a container. */
#include "runtime.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Calls fn for each host PID in the PID namespace of PID; returns how many. */
static int each_pid(long pid, void (*fn)(long, void *), void *arg) {
  join_userns_of((pid_t)pid);
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/ns/pid", pid);
  struct stat target;
  if (stat(path, &target) < 0) {
    if (errno == ENOENT) die(125, "no process %ld: the container is not running", pid);
    die_errno(125, "reading %s", path);
  }
  DIR *d = opendir("/proc");
  if (!d) die_errno(125, "reading /proc");
  long *list = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end;
    long p = strtol(e->d_name, &end, 10);
    if (*end || p <= 0) continue;
    snprintf(path, sizeof path, "/proc/%ld/ns/pid", p);
    struct stat st;
    if (stat(path, &st) < 0 || st.st_ino != target.st_ino || st.st_dev != target.st_dev) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      list = realloc(list, cap * sizeof *list);
      if (!list) die(125, "out of memory");
    }
    list[n++] = p;
  }
  closedir(d);
  for (size_t i = 0; i < n; i++) fn(list[i], arg);
  free(list);
  return (int)n;
}

static void print_pid(long p, void *arg) {
  (void)arg;
  printf("%ld\n", p);
}

int cmd_pids(int argc, char **argv) {
  if (argc != 2) die(125, "usage: pids PID");
  char *end;
  long pid = strtol(argv[1], &end, 10);
  if (*end || pid <= 0) die(125, "pids: invalid PID %s", argv[1]);
  each_pid(pid, print_pid, NULL);
  return 0;
}

static void send_sig(long p, void *arg) {
  int sig = *(int *)arg;
  if (kill((pid_t)p, sig) < 0 && errno != ESRCH) warnx_("cannot signal process %ld: %s", p, strerror(errno));
}

int cmd_signal_all(int argc, char **argv) {
  if (argc != 3) die(125, "usage: signal-all PID SIGNAL");
  char *end;
  long pid = strtol(argv[1], &end, 10);
  if (*end || pid <= 0) die(125, "signal-all: invalid PID %s", argv[1]);
  int sig = signal_by_name(argv[2]);
  if (sig < 0) die(125, "signal-all: unknown signal %s", argv[2]);
  each_pid(pid, send_sig, &sig);
  return 0;
}
