/* Reads config.json (OCI runtime spec + ctr annotations) into struct spec. */
#include "runtime.h"
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

static const char *const cap_names[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

int cap_by_name(const char *name) {
  for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
    if (strcasecmp(name, cap_names[i]) == 0 || strcasecmp(name, cap_names[i] + 4) == 0) return (int)i;
  return -1;
}

static const struct { const char *name; int sig; } signals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"ILL", SIGILL},       {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"IOT", SIGIOT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},       {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},
    {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},   {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},   {"TTOU", SIGTTOU}, {"URG", SIGURG},       {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"POLL", SIGPOLL}, {"PWR", SIGPWR},     {"SYS", SIGSYS},
};

int signal_by_name(const char *name) {
  if (!name || !*name) return -1;
  char *e;
  long v = strtol(name, &e, 10);
  if (!*e) return v > 0 && v < 65 ? (int)v : -1;
  if (strncasecmp(name, "SIG", 3) == 0) name += 3;
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
    if (strcasecmp(name, signals[i].name) == 0) return signals[i].sig;
  if (strncasecmp(name, "RTMIN", 5) == 0) {
    long off = name[5] == '+' ? strtol(name + 6, &e, 10) : 0;
    if (SIGRTMIN + off <= SIGRTMAX) return (int)(SIGRTMIN + off);
  }
  return -1;
}

static const struct { const char *name; int res; } rlimits[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_STACK", RLIMIT_STACK},     {"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},   {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_LOCKS", RLIMIT_LOCKS},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},     {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

static int caps_mask(const struct json *arr, uint64_t *out, char *err, size_t errlen) {
  *out = 0;
  if (!arr) return 0;
  if (arr->type != J_ARR) { snprintf(err, errlen, "capability lists must be arrays"); return -1; }
  for (struct json *c = arr->child; c; c = c->next) {
    int n = c->type == J_STR ? cap_by_name(c->str) : -1;
    if (n < 0) {
      snprintf(err, errlen, "unknown capability %s", c->type == J_STR ? c->str : "(not a string)");
      return -1;
    }
    *out |= 1ULL << n;
  }
  return 0;
}

static int num_u32(const struct json *o, const char *key, unsigned *out) {
  int ok;
  double d = json_num(o, key, &ok);
  if (!ok) return 0;
  if (d < 0 || d > 4294967295.0) return -1;
  *out = (unsigned)d;
  return 1;
}

int proc_spec_parse(struct proc_spec *p, const struct json *j, char *err, size_t errlen) {
  memset(p, 0, sizeof *p);
  if (!j || j->type != J_OBJ) { snprintf(err, errlen, "process is missing"); return -1; }
  p->args = json_strv(json_get(j, "args"), &p->nargs);
  if (p->nargs == 0) { snprintf(err, errlen, "process.args is empty"); return -1; }
  p->env = json_strv(json_get(j, "env"), &p->nenv);
  p->cwd = json_str(j, "cwd");
  if (!p->cwd || !*p->cwd) p->cwd = "/";
  p->terminal = json_bool(j, "terminal", 0);
  struct json *cs = json_get(j, "consoleSize");
  if (cs) {
    num_u32(cs, "height", &p->rows);
    num_u32(cs, "width", &p->cols);
  }
  struct json *u = json_get(j, "user");
  if (u && u->type == J_STR) {
    p->user = u->str;
  } else if (u && u->type == J_OBJ) {
    unsigned v;
    if (num_u32(u, "uid", &v) > 0) p->uid = v;
    if (num_u32(u, "gid", &v) > 0) p->gid = v;
    struct json *ag = json_get(u, "additionalGids");
    if (ag && ag->type == J_ARR) {
      size_t n = 0;
      for (struct json *c = ag->child; c; c = c->next) n++;
      p->gids = xmalloc((n + 1) * sizeof *p->gids);
      for (struct json *c = ag->child; c; c = c->next)
        if (c->type == J_NUM) p->gids[p->ngids++] = (gid_t)c->num;
    }
    const char *un = json_str(u, "username");
    if (un && *un) p->user = un;
  }
  struct json *caps = json_get(j, "capabilities");
  if (caps && caps->type == J_OBJ) {
    p->caps.set = 1;
    if (caps_mask(json_get(caps, "bounding"), &p->caps.bounding, err, errlen) ||
        caps_mask(json_get(caps, "effective"), &p->caps.effective, err, errlen) ||
        caps_mask(json_get(caps, "permitted"), &p->caps.permitted, err, errlen) ||
        caps_mask(json_get(caps, "inheritable"), &p->caps.inheritable, err, errlen) ||
        caps_mask(json_get(caps, "ambient"), &p->caps.ambient, err, errlen))
      return -1;
  }
  p->nnp = json_bool(j, "noNewPrivileges", 0);
  /* ctr's extensions of the exec process object: the container's filter and keyring name */
  p->seccomp = json_get(j, "seccomp");
  p->keyring = json_str(j, "sessionKeyring");
  struct json *rl = json_get(j, "rlimits");
  if (rl && rl->type == J_ARR) {
    size_t n = 0;
    for (struct json *c = rl->child; c; c = c->next) n++;
    p->rlimits = xmalloc((n + 1) * sizeof *p->rlimits);
    for (struct json *c = rl->child; c; c = c->next) {
      const char *t = json_str(c, "type");
      int res = -1;
      for (size_t k = 0; t && k < sizeof rlimits / sizeof rlimits[0]; k++)
        if (strcmp(t, rlimits[k].name) == 0) res = rlimits[k].res;
      if (res < 0) { snprintf(err, errlen, "unknown rlimit %s", t ? t : "(none)"); return -1; }
      int ok1, ok2;
      double soft = json_num(c, "soft", &ok1), hard = json_num(c, "hard", &ok2);
      struct rlim_spec *r = &p->rlimits[p->nrlimits++];
      r->resource = res;
      r->soft = ok1 && soft >= 0 && soft < 1.8e19 ? (unsigned long long)soft : RLIM_INFINITY;
      r->hard = ok2 && hard >= 0 && hard < 1.8e19 ? (unsigned long long)hard : RLIM_INFINITY;
    }
  }
  return 0;
}

static const char *ann(const struct json *a, const char *key) {
  const char *v = json_str(a, key);
  return v && *v ? v : NULL;
}

int spec_load(struct spec *s, const char *bundle, char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  s->bundle = bundle;
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", bundle);
  char perr[256];
  s->doc = json_parse_file(path, perr, sizeof perr);
  if (!s->doc) { snprintf(err, errlen, "reading %s: %s", path, perr); return -1; }
  if (s->doc->type != J_OBJ) { snprintf(err, errlen, "%s: not a JSON object", path); return -1; }
  if (proc_spec_parse(&s->proc, json_get(s->doc, "process"), perr, sizeof perr)) {
    snprintf(err, errlen, "%s: %s", path, perr);
    return -1;
  }
  struct json *root = json_get(s->doc, "root");
  s->root = json_str(root, "path");
  if (!s->root || !*s->root) { snprintf(err, errlen, "%s: root.path is missing", path); return -1; }
  if (s->root[0] != '/') {
    static char abs[4096];
    snprintf(abs, sizeof abs, "%s/%s", bundle, s->root);
    s->root = abs;
  }
  s->root_ro = json_bool(root, "readonly", 0);
  s->hostname = json_str(s->doc, "hostname");
  s->domainname = json_str(s->doc, "domainname");

  struct json *mounts = json_get(s->doc, "mounts");
  if (mounts && mounts->type == J_ARR) {
    size_t n = 0;
    for (struct json *c = mounts->child; c; c = c->next) n++;
    s->mounts = xmalloc((n + 1) * sizeof *s->mounts);
    for (struct json *c = mounts->child; c; c = c->next) {
      struct mount_spec *m = &s->mounts[s->nmounts];
      memset(m, 0, sizeof *m);
      m->dest = json_str(c, "destination");
      m->type = json_str(c, "type");
      m->source = json_str(c, "source");
      m->options = json_strv(json_get(c, "options"), &m->nopts);
      if (!m->dest || m->dest[0] != '/') {
        snprintf(err, errlen, "%s: mount destination must be an absolute path", path);
        return -1;
      }
      s->nmounts++;
    }
  }

  struct json *linux_ = json_get(s->doc, "linux");
  s->masked = json_strv(json_get(linux_, "maskedPaths"), NULL);
  s->readonly = json_strv(json_get(linux_, "readonlyPaths"), NULL);
  s->sysctl = json_get(linux_, "sysctl");
  s->proc.seccomp = json_get(linux_, "seccomp");
  struct json *nss = json_get(linux_, "namespaces");

  struct json *a = json_get(s->doc, "annotations");
  s->driver = ann(a, "ctr.rootfs.driver");
  if (!s->driver) s->driver = "bind";
  s->lower = ann(a, "ctr.rootfs.lower");
  s->upper = ann(a, "ctr.rootfs.upper");
  s->work = ann(a, "ctr.rootfs.work");
  s->user_ann = ann(a, "ctr.user");
  s->network = ann(a, "ctr.network");
  if (!s->network) s->network = "none";
  s->net_endpoints = ann(a, "ctr.network.endpoints");
  if (!strcmp(s->network, "bridge") && !s->net_endpoints) {
    snprintf(err, errlen, "ctr.network=bridge needs ctr.network.endpoints");
    return -1;
  }
  s->ports = ann(a, "ctr.ports");
  s->mondir = ann(a, "ctr.monitor.dir");
  s->statef = ann(a, "ctr.monitor.state");
  s->exitf = ann(a, "ctr.monitor.exit");
  s->logf = ann(a, "ctr.monitor.log");
  s->remove = ann(a, "ctr.monitor.remove");
  const char *lm = ann(a, "ctr.monitor.log-max-size");
  s->logmax = lm ? strtoull(lm, NULL, 10) : 0;
  const char *lf = ann(a, "ctr.monitor.log-max-files");
  unsigned long long nf = lf ? strtoull(lf, NULL, 10) : 2;
  s->logfiles = nf < 1 ? 1 : nf > 1000 ? 1000 : (unsigned)nf;
  const char *in = ann(a, "ctr.init");
  s->init = in && strcmp(in, "1") == 0;
  const char *si = ann(a, "ctr.stdin");
  s->stdin_open = si && strcmp(si, "1") == 0;
  if (s->user_ann) s->proc.user = s->user_ann;
  s->proc.keyring = ann(a, "ctr.container.id");

  if (strcmp(s->driver, "overlay") == 0 || strcmp(s->driver, "fuse-overlayfs") == 0) {
    if (!s->lower || !s->upper || !s->work) {
      snprintf(err, errlen, "%s: driver %s needs ctr.rootfs.lower, ctr.rootfs.upper and ctr.rootfs.work", path,
               s->driver);
      return -1;
    }
  } else if (strcmp(s->driver, "vfs") && strcmp(s->driver, "bind")) {
    snprintf(err, errlen, "%s: unknown ctr.rootfs.driver %s (overlay, fuse-overlayfs, vfs or bind)", path, s->driver);
    return -1;
  }

  /* Namespaces: linux.namespaces when present (entries with a path are joined), else the default
     set; ctr.network=host drops the network namespace. A "user" entry with linux.uidMappings and
     gidMappings makes a user namespace of the container's own inside ours (idmap.c); without
     them (or with a path) it is ignored: the helper has already joined the user namespace. */
  s->ns_new = CLONE_NEWNS;
  int want_user = 0;
  if (nss && nss->type == J_ARR) {
    for (struct json *c = nss->child; c; c = c->next) {
      const char *t = json_str(c, "type"), *p = json_str(c, "path");
      int f = 0;
      if (!t) continue;
      if (!strcmp(t, "pid")) f = CLONE_NEWPID;
      else if (!strcmp(t, "network")) f = CLONE_NEWNET;
      else if (!strcmp(t, "ipc")) f = CLONE_NEWIPC;
      else if (!strcmp(t, "uts")) f = CLONE_NEWUTS;
      else if (!strcmp(t, "mount")) f = CLONE_NEWNS;
      else if (!strcmp(t, "cgroup")) f = CLONE_NEWCGROUP;
      else if (!strcmp(t, "user")) {
        if (!p || !*p) want_user = 1;
        continue;
      }
      else { snprintf(err, errlen, "%s: unknown namespace type %s", path, t); return -1; }
      if (p && *p) {
        if (f == CLONE_NEWNS || f == CLONE_NEWPID) {
          snprintf(err, errlen, "%s: joining an existing %s namespace is not supported", path, t);
          return -1;
        }
        if (s->njoins < sizeof s->joins / sizeof s->joins[0]) s->joins[s->njoins++] = (struct ns_join){f, p};
      } else {
        s->ns_new |= f;
      }
    }
  } else {
    s->ns_new |= CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;
  }
  if (!strcmp(s->network, "host")) s->ns_new &= ~CLONE_NEWNET;
  if (want_user && (json_get(linux_, "uidMappings") || json_get(linux_, "gidMappings"))) {
    if (idmap_parse(json_get(linux_, "uidMappings"), &s->uidmap, &s->nuidmap, "uidMappings", perr, sizeof perr) < 0 ||
        idmap_parse(json_get(linux_, "gidMappings"), &s->gidmap, &s->ngidmap, "gidMappings", perr, sizeof perr) < 0) {
      snprintf(err, errlen, "%s: %s", path, perr);
      return -1;
    }
    s->ns_new |= CLONE_NEWUSER;
  }
  return 0;
}
