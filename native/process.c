/* The last steps before exec, shared by the container init and `exec`: rlimits, a new
   session keyring, the user (resolved in the container's /etc/passwd and /etc/group), cwd,
   capabilities, no_new_privs, the seccomp filter, and the PATH search with Docker's 127/126
   exit codes. */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct cap_header { uint32_t version; int pid; };
struct cap_data { uint32_t effective, permitted, inheritable; };
#define CAP_V3 0x20080522

int cap_last(void) {
  static int last = -1;
  if (last >= 0) return last;
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char b[16];
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n > 0) { b[n] = 0; last = atoi(b); }
  }
  if (last <= 0) {
    /* probe: PR_CAPBSET_READ fails with EINVAL past the last capability */
    last = 0;
    while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0) last++;
  }
  return last;
}

static int read_setgroups_allowed(void) {
  int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1;
  char b[16] = {0};
  ssize_t n = read(fd, b, sizeof b - 1);
  close(fd);
  return !(n > 0 && strncmp(b, "deny", 4) == 0);
}

int apply_identity_and_caps(const struct caps_spec *caps, uid_t uid, gid_t gid, const gid_t *gids, size_t ngids,
                            int setgroups_ok, char *err, size_t errlen) {
  int last = cap_last();
  if (caps->set) {
    for (int c = 0; c <= last; c++) {
      if (caps->bounding & (1ULL << c)) continue;
      if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) {
        snprintf(err, errlen, "dropping capability %d from the bounding set: %s", c, strerror(errno));
        return -1;
      }
    }
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) { snprintf(err, errlen, "PR_SET_KEEPCAPS: %s", strerror(errno)); return -1; }
  if (setgroups_ok) {
    if (setgroups(ngids, gids) < 0 && !(errno == EPERM && ngids == 0)) {
      snprintf(err, errlen, "setting supplementary groups: %s", strerror(errno));
      return -1;
    }
  }
  if (setresgid(gid, gid, gid) < 0) {
    snprintf(err, errlen, "switching to group %u: %s%s", (unsigned)gid, strerror(errno),
             errno == EINVAL ? " (the ID is not mapped in the user namespace)" : "");
    return -1;
  }
  if (setresuid(uid, uid, uid) < 0) {
    snprintf(err, errlen, "switching to user %u: %s%s", (unsigned)uid, strerror(errno),
             errno == EINVAL ? " (the ID is not mapped in the user namespace)" : "");
    return -1;
  }
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (caps->set) {
    struct cap_header h = {CAP_V3, 0};
    struct cap_data d[2];
    uint64_t perm = caps->permitted, eff = caps->effective & caps->permitted, inh = caps->inheritable;
    d[0].effective = (uint32_t)eff;
    d[1].effective = (uint32_t)(eff >> 32);
    d[0].permitted = (uint32_t)perm;
    d[1].permitted = (uint32_t)(perm >> 32);
    d[0].inheritable = (uint32_t)inh;
    d[1].inheritable = (uint32_t)(inh >> 32);
    if (syscall(SYS_capset, &h, d) < 0) {
      snprintf(err, errlen, "setting capabilities: %s", strerror(errno));
      return -1;
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (int c = 0; c <= last; c++) {
      uint64_t bit = 1ULL << c;
      if ((caps->ambient & bit) && (perm & bit) && (inh & bit)) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
    }
  }
  return 0;
}

/* ---- /etc/passwd and /etc/group ---- */

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* Splits a colon-separated line in place into at most max fields. */
static int split_colon(char *line, char **f, int max) {
  int n = 0;
  char *nl = strchr(line, '\n');
  if (nl) *nl = 0;
  f[n++] = line;
  for (char *p = line; *p && n < max; p++)
    if (*p == ':') { *p = 0; f[n++] = p + 1; }
  return n;
}

int resolve_user(const char *spec, uid_t *uid, gid_t *gid, gid_t **gids, size_t *ngids, char **home, char *err,
                 size_t errlen) {
  char user[256], group[256] = "";
  const char *colon = strchr(spec, ':');
  size_t ul = colon ? (size_t)(colon - spec) : strlen(spec);
  if (ul >= sizeof user || (colon && strlen(colon + 1) >= sizeof group)) {
    snprintf(err, errlen, "invalid user %s", spec);
    return -1;
  }
  memcpy(user, spec, ul);
  user[ul] = 0;
  if (colon) snprintf(group, sizeof group, "%s", colon + 1);
  if (!*user) snprintf(user, sizeof user, "0");

  int found = 0;
  char name[256] = "";
  *home = NULL;
  *gid = 0;
  FILE *f = fopen("/etc/passwd", "re");
  if (f) {
    char line[1024];
    char *fl[7];
    while (fgets(line, sizeof line, f)) {
      if (split_colon(line, fl, 7) < 4) continue;
      int match = all_digits(user) ? (strcmp(fl[2], user) == 0) : (strcmp(fl[0], user) == 0);
      if (!match) continue;
      found = 1;
      snprintf(name, sizeof name, "%s", fl[0]);
      *uid = (uid_t)strtoul(fl[2], NULL, 10);
      *gid = (gid_t)strtoul(fl[3], NULL, 10);
      if (fl[5] && *fl[5]) *home = xstrdup(fl[5]);
      break;
    }
    fclose(f);
  }
  if (!found) {
    if (!all_digits(user)) {
      snprintf(err, errlen, "unable to find user %s: no matching entries in passwd file", user);
      return -1;
    }
    *uid = (uid_t)strtoul(user, NULL, 10);
    *gid = 0;
  }
  if (!*home) *home = xstrdup("/");

  size_t cap = 16;
  *gids = xmalloc(cap * sizeof **gids);
  *ngids = 0;
  int group_found = !*group || all_digits(group);
  if (*group && all_digits(group)) *gid = (gid_t)strtoul(group, NULL, 10);
  f = fopen("/etc/group", "re");
  if (f) {
    char line[4096];
    char *fl[4];
    while (fgets(line, sizeof line, f)) {
      int nf = split_colon(line, fl, 4);
      if (nf < 3) continue;
      if (*group && !all_digits(group) && strcmp(fl[0], group) == 0 && !group_found) {
        *gid = (gid_t)strtoul(fl[2], NULL, 10);
        group_found = 1;
      }
      if (!*name || nf < 4) continue;
      for (char *save = NULL, *m = strtok_r(fl[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
        if (strcmp(m, name)) continue;
        gid_t g = (gid_t)strtoul(fl[2], NULL, 10);
        int dup = 0;
        for (size_t i = 0; i < *ngids; i++) dup |= (*gids)[i] == g;
        if (!dup) {
          if (*ngids == cap) { cap *= 2; *gids = realloc(*gids, cap * sizeof **gids); if (!*gids) die(125, "out of memory"); }
          (*gids)[(*ngids)++] = g;
        }
      }
    }
    fclose(f);
  }
  if (!group_found) {
    snprintf(err, errlen, "unable to find group %s: no matching entries in group file", group);
    return -1;
  }
  return 0;
}

/* ---- session keyring ---- */

#if defined(__x86_64__) && !defined(SYS_getrandom)
#define SYS_getrandom 318 /* older libc headers (EL7) */
#endif
#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif

/* Every container process and every exec gets a new, empty session keyring, so that nothing
   in it reaches the caller's keys (`keyctl` on the host session) and nothing it adds shows up
   there. Named "ctr-<ID12>-<random>": the container shows in /proc/keys, and the random part
   keeps a keyring of that name made beforehand (the kernel joins an existing keyring of the
   name when the caller may search it) from being joined instead of a new one. The process
   owns it as possessor, whatever user it switches to. Where the kernel refuses (no keyrings,
   or an outer seccomp filter) the process goes on without one. */
static void join_session_keyring(const char *id, int errfd) {
  unsigned r = 0;
  if (syscall(SYS_getrandom, &r, sizeof r, 0) != (long)sizeof r) r = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
  char name[64];
  snprintf(name, sizeof name, "ctr-%.12s-%08x", id && *id ? id : "process", r);
  if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name, 0, 0, 0) >= 0) return;
  int e = errno;
  if (e == ENOSYS || e == EPERM || e == EACCES) {
    debugx("no session keyring of its own for the process: %s", strerror(e));
    return;
  }
  child_fail(errfd, 125, "joining a new session keyring: %s%s", strerror(e),
             e == EDQUOT ? " (too many keys for the user: raise /proc/sys/kernel/keys/maxkeys)" : "");
}

/* ---- seccomp ---- */

static struct seccomp_prog g_prog;

static void load_seccomp(struct proc_spec *p, int errfd) {
  char err[300];
  if (p->seccomp_loaded || !g_prog.insns) return;
  if (seccomp_load(&g_prog, err, sizeof err) < 0) child_fail(errfd, 125, "%s", err);
  p->seccomp_loaded = 1;
}

void process_seccomp(struct proc_spec *p, int errfd) { load_seccomp(p, errfd); }

/* ---- the process ---- */

static char **g_envp;

static const char *env_get(char **env, const char *key) {
  size_t kl = strlen(key);
  for (size_t i = 0; env && env[i]; i++)
    if (strncmp(env[i], key, kl) == 0 && env[i][kl] == '=') return env[i] + kl + 1;
  return NULL;
}

void reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < 65; s++)
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

static int mkdir_all_here(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
  return 0;
}

void process_prepare(struct proc_spec *p, int errfd, int stdio_chown) {
  char err[600];
  if (seccomp_compile(p->seccomp, &g_prog, err, sizeof err) < 0) child_fail(errfd, 125, "seccomp: %s", err);
  for (size_t i = 0; i < p->nrlimits; i++) {
    struct rlimit rl = {p->rlimits[i].soft, p->rlimits[i].hard};
    if (setrlimit(p->rlimits[i].resource, &rl) == 0) continue;
    struct rlimit cur;
    /* not allowed to raise the hard limit (rootless): clamp to what we have */
    if (errno == EPERM && getrlimit(p->rlimits[i].resource, &cur) == 0) {
      if (rl.rlim_max > cur.rlim_max) rl.rlim_max = cur.rlim_max;
      if (rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
      if (setrlimit(p->rlimits[i].resource, &rl) == 0) continue;
    }
    child_fail(errfd, 125, "setting rlimit %d: %s", p->rlimits[i].resource, strerror(errno));
  }

  uid_t uid = p->uid;
  gid_t gid = p->gid;
  gid_t *gids = p->gids;
  size_t ngids = p->ngids;
  char *home = NULL;
  if (p->user && *p->user) {
    if (resolve_user(p->user, &uid, &gid, &gids, &ngids, &home, err, sizeof err) < 0) child_fail(errfd, 125, "%s", err);
  } else if (!env_get(p->env, "HOME")) {
    char spec[32];
    uid_t u2;
    gid_t g2, *gv;
    size_t ng;
    snprintf(spec, sizeof spec, "%u", (unsigned)uid);
    if (resolve_user(spec, &u2, &g2, &gv, &ng, &home, err, sizeof err) < 0) home = NULL;
  }

  /* environment: process.env plus HOME from passwd when unset */
  size_t n = p->nenv;
  g_envp = xmalloc((n + 2) * sizeof *g_envp);
  for (size_t i = 0; i < n; i++) g_envp[i] = p->env[i];
  if (!env_get(p->env, "HOME")) {
    char *h = xmalloc(strlen(home ? home : "/") + 6);
    sprintf(h, "HOME=%s", home ? home : "/");
    g_envp[n++] = h;
  }
  g_envp[n] = NULL;

  if (stdio_chown && uid != 0)
    for (int fd = 0; fd < 3; fd++) {
      struct stat st;
      if (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode)) &&
          st.st_uid == geteuid())
        if (fchown(fd, uid, gid) < 0) {}
    }

  const char *cwd = p->cwd && *p->cwd ? p->cwd : "/";
  if (chdir(cwd) < 0) {
    if (errno != ENOENT || mkdir_all_here(cwd) < 0 || chdir(cwd) < 0)
      child_fail(errfd, 125, "cannot change to the working directory %s: %s", cwd, strerror(errno));
  }

  join_session_keyring(p->keyring, errfd);
  /* Without no_new_privs the kernel wants CAP_SYS_ADMIN (in our user namespace) to load a
     filter: load it now, while we are still root here; the rest of the setup then runs under
     it. With no_new_privs it is loaded last, just before exec (process_seccomp). */
  if (!p->nnp) load_seccomp(p, errfd);
  if (apply_identity_and_caps(&p->caps, uid, gid, gids, ngids, read_setgroups_allowed(), err, sizeof err) < 0)
    child_fail(errfd, 125, "%s", err);
  if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    child_fail(errfd, 125, "setting no_new_privs: %s", strerror(errno));
}

char **process_envp(struct proc_spec *p) { return g_envp ? g_envp : p->env; }

void process_exec(struct proc_spec *p, int errfd) {
  char **envp = process_envp(p);
  const char *file = p->args[0];
  reset_signals();
  if (!*file) child_fail(errfd, 127, "executable file \"\" not found in $PATH");
  if (strchr(file, '/')) {
    execve(file, p->args, envp);
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) child_fail(errfd, 127, "%s: no such file or directory", file);
    if (e == EACCES || e == EPERM) child_fail(errfd, 126, "%s: permission denied", file);
    if (e == ENOEXEC) child_fail(errfd, 126, "%s: exec format error", file);
    child_fail(errfd, 126, "%s: %s", file, strerror(e));
  }
  const char *path = env_get(envp, "PATH");
  if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t fl = strlen(file);
  int eacces = 0;
  char full[4096];
  for (const char *d = path;; d++) {
    const char *end = strchr(d, ':');
    size_t dl = end ? (size_t)(end - d) : strlen(d);
    if (dl + fl + 2 < sizeof full) {
      if (dl == 0) { memcpy(full, file, fl + 1); }
      else {
        memcpy(full, d, dl);
        full[dl] = '/';
        memcpy(full + dl + 1, file, fl + 1);
      }
      execve(full, p->args, envp);
      int e = errno;
      if (e == EACCES || e == EPERM) eacces = 1;
      else if (e == ENOEXEC) child_fail(errfd, 126, "%s: exec format error", full);
      else if (e != ENOENT && e != ENOTDIR && e != ENAMETOOLONG && e != ELOOP)
        child_fail(errfd, 126, "%s: %s", full, strerror(e));
    }
    if (!end) break;
    d = end;
  }
  if (eacces) child_fail(errfd, 126, "%s: permission denied", file);
  child_fail(errfd, 127, "executable file \"%s\" not found in $PATH", file);
}
