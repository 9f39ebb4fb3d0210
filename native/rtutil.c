/* Small utilities for the runtime: I/O loops, time stamps, atomic files, recursive removal. */
#include "runtime.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

ssize_t read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

void now_rfc3339(char *buf, size_t n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
           tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

int write_file_atomic(const char *path, const char *data, size_t n, mode_t mode) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
  /* a new file, never what is there (a leftover of a killed process with our PID, or a link) */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0 && errno == EEXIST && unlink(tmp) == 0) fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  if (write_all(fd, data, n) < 0) { int e = errno; close(fd); unlink(tmp); errno = e; return -1; }
  if (close(fd) < 0 || rename(tmp, path) < 0) { int e = errno; unlink(tmp); errno = e; return -1; }
  return 0;
}

static int rm_at(int dirfd, const char *name, int depth) {
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR && errno != EPERM && errno != EACCES) return -1;
  if (depth > 512) { errno = ELOOP; return -1; }
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && (errno == EACCES || errno == EPERM)) {
    if (fchmodat(dirfd, name, 0700, 0) < 0) {}
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) return errno == ENOTDIR ? unlinkat(dirfd, name, 0) : -1;
  struct stat st;
  if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700 && fchmod(fd, (st.st_mode & 07777) | 0700) < 0) {}
  DIR *d = fdopendir(fd);
  if (!d) { close(fd); return -1; }
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (rm_at(fd, e->d_name, depth + 1) < 0) rc = -1;
  }
  closedir(d);
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) rc = -1;
  return rc;
}

int rm_rf(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode)) return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
  return rm_at(AT_FDCWD, path, 0);
}

int mkdir_p(const char *path, mode_t mode) {
  char buf[4096];
  size_t n = strlen(path);
  if (n >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
  memcpy(buf, path, n + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, mode) < 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, mode) < 0 && errno != EEXIST) return -1;
  return 0;
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die(125, "out of memory");
  return p;
}

char *xstrdup(const char *s) {
  char *p = strdup(s ? s : "");
  if (!p) die(125, "out of memory");
  return p;
}

pid_t clone_fork(unsigned long flags) {
  return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
}

void close_fds_except(const int *keep, size_t n) {
  struct rlimit rl;
  int max = 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1048577)
    max = (int)rl.rlim_cur;
  int lo = 3;
  for (;;) {
    /* next kept fd at or above lo */
    int next = -1;
    for (size_t i = 0; i < n; i++)
      if (keep[i] >= lo && (next < 0 || keep[i] < next)) next = keep[i];
    int hi = next < 0 ? max - 1 : next - 1;
    if (hi >= lo) {
      if (syscall(SYS_close_range, (unsigned)lo, next < 0 ? ~0U : (unsigned)hi, 0) < 0)
        for (int fd = lo; fd <= hi; fd++) close(fd);
    }
    if (next < 0) break;
    lo = next + 1;
  }
}

void set_cloexec(int fd, int on) {
  int f = fcntl(fd, F_GETFD);
  if (f >= 0) fcntl(fd, F_SETFD, on ? f | FD_CLOEXEC : f & ~FD_CLOEXEC);
}

void set_nonblock(int fd, int on) {
  int f = fcntl(fd, F_GETFL);
  if (f >= 0) fcntl(fd, F_SETFL, on ? f | O_NONBLOCK : f & ~O_NONBLOCK);
}

int find_in_path(const char *name, char *out, size_t outlen) {
  const char *path = getenv("PATH");
  char buf[8192];
  snprintf(buf, sizeof buf, "%s:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", path && *path ? path : "");
  for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    if (d[0] != '/') continue;
    snprintf(out, outlen, "%s/%s", d, name);
    if (access(out, X_OK) == 0) return 0;
  }
  return -1;
}

static int g_argc;
static char **g_argv;
void save_argv(int argc, char **argv) { g_argc = argc; g_argv = argv; }
char **saved_argv(void) { return g_argv; }

/* Rewrites the command line shown by ps (the argv strings area, and the environment after it). */
void set_proc_title(char **argv, const char *title) {
  if (!argv || !argv[0]) return;
  char *start = argv[0], *end = argv[0] + strlen(argv[0]) + 1;
  for (int i = 1; argv[i] && argv[i] == end; i++) end = argv[i] + strlen(argv[i]) + 1;
  extern char **environ;
  for (int i = 0; environ && environ[i] && environ[i] == end; i++) end = environ[i] + strlen(environ[i]) + 1;
  size_t room = (size_t)(end - start);
  size_t n = strlen(title);
  if (n >= room) n = room - 1;
  memcpy(start, title, n);
  memset(start + n, 0, room - n);
  (void)g_argc;
}

void child_fail(int fd, int code, const char *fmt, ...) {
  char msg[1200];
  int n = snprintf(msg, sizeof msg, "E%d ", code);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  if (m < 0) m = 0;
  size_t len = (size_t)n + (size_t)m;
  if (len >= sizeof msg) len = sizeof msg - 1;
  if (fd >= 0) {
    ssize_t w = write(fd, msg, len);
    (void)w;
  } else {
    msg[len] = 0;
    ssize_t w = write(2, msg + n, len - (size_t)n);
    w = write(2, "\n", 1);
    (void)w;
  }
  _exit(code);
}

int parse_fail(const char *buf, size_t n, char *msg, size_t msglen) {
  if (n < 2 || buf[0] != 'E') return -1;
  int code = 0;
  size_t i = 1;
  while (i < n && buf[i] >= '0' && buf[i] <= '9') code = code * 10 + (buf[i++] - '0');
  if (i < n && buf[i] == ' ') i++;
  size_t l = n - i;
  if (l >= msglen) l = msglen - 1;
  memcpy(msg, buf + i, l);
  msg[l] = 0;
  return code;
}
