/* The container init before exec: namespaces joined, mounts (/proc, /dev, /sys, the OCI
   mounts, masked and read-only paths), pivot_root, hostname, terminal, then the process setup
   shared with exec. Every path inside the rootfs is resolved as if the rootfs were "/": a
   symlink in the image can never send a mount outside it. Errors go to the monitor over the
   sync socket (child_fail). */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

static int E = -1; /* the sync/error fd */

#define FAIL(...) child_fail(E, 125, __VA_ARGS__)

enum { RES_EXIST = 0, RES_MKDIR = 1, RES_MKFILE = 2 };

/* Opens PATH below ROOTFD with O_PATH, resolving ".." and symlinks inside the root. With
   RES_MKDIR / RES_MKFILE, missing components are created (the last as a dir or empty file). */
static int open_in_root(int rootfd, const char *path, int how) {
  int stack[256];
  int depth = 0, links = 0;
  stack[0] = dup(rootfd);
  if (stack[0] < 0) return -1;
  char *rest = xstrdup(path);
  char *cur = rest;
  int rc = -1, err = 0;
  for (;;) {
    while (*cur == '/') cur++;
    if (!*cur) { rc = dup(stack[depth]); err = errno; break; }
    char *slash = strchr(cur, '/');
    char comp[256];
    size_t cl = slash ? (size_t)(slash - cur) : strlen(cur);
    if (cl >= sizeof comp) { err = ENAMETOOLONG; break; }
    memcpy(comp, cur, cl);
    comp[cl] = 0;
    cur += cl;
    while (*cur == '/') cur++;
    int last = *cur == 0;
    if (!strcmp(comp, ".")) {
      if (last) { rc = dup(stack[depth]); err = errno; break; }
      continue;
    }
    if (!strcmp(comp, "..")) {
      if (depth > 0) close(stack[depth--]);
      if (last) { rc = dup(stack[depth]); err = errno; break; }
      continue;
    }
    int dfd = stack[depth];
    int fd = openat(dfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && how != RES_EXIST) {
      if (last && how == RES_MKFILE) {
        int f = openat(dfd, comp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f >= 0) close(f);
        else if (errno != EEXIST) { err = errno; break; }
      } else if (mkdirat(dfd, comp, 0755) < 0 && errno != EEXIST) {
        err = errno;
        break;
      }
      fd = openat(dfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) { err = errno; break; }
    struct stat st;
    if (fstat(fd, &st) < 0) { err = errno; close(fd); break; }
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t tl = readlinkat(fd, "", target, sizeof target - 1);
      close(fd);
      if (tl < 0) { err = errno; break; }
      target[tl] = 0;
      if (++links > 40) { err = ELOOP; break; }
      size_t rl = strlen(cur);
      char *n = xmalloc((size_t)tl + rl + 2);
      memcpy(n, target, (size_t)tl);
      n[tl] = '/';
      memcpy(n + tl + 1, cur, rl + 1);
      free(rest);
      rest = cur = n;
      if (target[0] == '/')
        while (depth > 0) close(stack[depth--]);
      continue;
    }
    if (!last && !S_ISDIR(st.st_mode)) { close(fd); err = ENOTDIR; break; }
    if (last) { rc = fd; break; }
    if (depth + 1 >= (int)(sizeof stack / sizeof stack[0])) { close(fd); err = ENAMETOOLONG; break; }
    stack[++depth] = fd;
  }
  for (int i = 0; i <= depth; i++) close(stack[i]);
  free(rest);
  if (rc < 0) errno = err ? err : EINVAL;
  return rc;
}

static const char *fdp(int fd, char *buf) {
  sprintf(buf, "/proc/self/fd/%d", fd);
  return buf;
}

/* Flags of the mount at FD that a bind remount must keep (locked in a user namespace). */
static unsigned long locked_flags(int fd) {
  struct statvfs sv;
  unsigned long f = 0;
  if (fstatvfs(fd, &sv) < 0) return 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
  return f;
}

struct mount_attr_ {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x1
#endif

/* Remounts the bind mount at FD with FLAGS (read-only etc.); recursive with REC. */
static int bind_remount(int fd, unsigned long flags, int rec) {
  char p[64];
  if (rec && (flags & MS_RDONLY)) {
    struct mount_attr_ a = {MOUNT_ATTR_RDONLY, 0, 0, 0};
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) == 0 &&
        !(flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)))
      return 0;
  }
  unsigned long keep = locked_flags(fd) & ~MS_RDONLY;
  return mount(NULL, fdp(fd, p), NULL, MS_REMOUNT | MS_BIND | keep | flags, NULL);
}

/* Mounts FSTYPE at DEST (relative to the rootfs), creating the directory. */
static int mount_fs(int rootfd, const char *dest, const char *fstype, const char *src, unsigned long flags,
                    const char *data) {
  int fd = open_in_root(rootfd, dest, RES_MKDIR);
  if (fd < 0) return -1;
  char p[64];
  int rc = mount(src ? src : fstype, fdp(fd, p), fstype, flags, data);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

static int bind_into(int rootfd, const char *src, const char *dest, unsigned long extra) {
  struct stat st;
  if (stat(src, &st) < 0) return -1;
  int fd = open_in_root(rootfd, dest, S_ISDIR(st.st_mode) ? RES_MKDIR : RES_MKFILE);
  if (fd < 0) return -1;
  char p[64];
  int rc = mount(src, fdp(fd, p), NULL, MS_BIND | extra, NULL);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

static void setup_proc(int rootfd) {
  if (mount_fs(rootfd, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) return;
  int e = errno;
  /* not allowed here (e.g. part of the host's /proc is hidden): the host's /proc, read-only */
  if (bind_into(rootfd, "/proc", "/proc", MS_REC) < 0)
    FAIL("mounting /proc: %s", strerror(e));
  debugx("proc could not be mounted (%s): bound the host's /proc", strerror(e));
}

static int shm_in_mounts(const struct spec *s) {
  for (size_t i = 0; i < s->nmounts; i++)
    if (strcmp(s->mounts[i].dest, "/dev/shm") == 0) return 1;
  return 0;
}

static void setup_dev(const struct spec *s, int rootfd) {
  if (mount_fs(rootfd, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
    FAIL("mounting /dev: %s", strerror(errno));
  static const char *const devs[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
    char src[32], dst[32];
    snprintf(src, sizeof src, "/dev/%s", devs[i]);
    snprintf(dst, sizeof dst, "/dev/%s", devs[i]);
    if (bind_into(rootfd, src, dst, 0) < 0) FAIL("binding %s into the container: %s", src, strerror(errno));
  }
  if (mount_fs(rootfd, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0 &&
      mount_fs(rootfd, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") <
          0)
    FAIL("mounting /dev/pts: %s", strerror(errno));
  if (!shm_in_mounts(s) &&
      mount_fs(rootfd, "/dev/shm", "tmpfs", "shm", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
    FAIL("mounting /dev/shm: %s", strerror(errno));
  if (mount_fs(rootfd, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    debugx("mounting /dev/mqueue: %s", strerror(errno));
  int dev = open_in_root(rootfd, "/dev", RES_EXIST);
  if (dev < 0) FAIL("opening /dev: %s", strerror(errno));
  static const char *const links[][2] = {{"ptmx", "pts/ptmx"},
                                         {"fd", "/proc/self/fd"},
                                         {"stdin", "/proc/self/fd/0"},
                                         {"stdout", "/proc/self/fd/1"},
                                         {"stderr", "/proc/self/fd/2"}};
  char p[64];
  int d = open(fdp(dev, p), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  close(dev);
  if (d < 0) FAIL("opening /dev: %s", strerror(errno));
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat(links[i][1], d, links[i][0]) < 0 && errno != EEXIST)
      FAIL("creating /dev/%s: %s", links[i][0], strerror(errno));
  close(d);
}

static void setup_sys(const struct spec *s, int rootfd) {
  if (mount_fs(rootfd, "/sys", "sysfs", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
    int e = errno;
    /* sysfs needs a network namespace of our own: bind the host's /sys, read-only throughout */
    if (bind_into(rootfd, "/sys", "/sys", MS_REC) < 0) FAIL("mounting /sys: %s", strerror(e));
    int fd = open_in_root(rootfd, "/sys", RES_EXIST);
    if (fd < 0 || bind_remount(fd, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 1) < 0)
      FAIL("making /sys read-only: %s", strerror(errno));
    close(fd);
  }
  if (s->ns_new & CLONE_NEWCGROUP) {
    if (mount_fs(rootfd, "/sys/fs/cgroup", "cgroup2", "cgroup2", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
      debugx("mounting cgroup2: %s", strerror(errno));
  }
}

struct mflag {
  const char *name;
  int clear;
  unsigned long flag;
};
static const struct mflag mflags[] = {
    {"ro", 0, MS_RDONLY},        {"rw", 1, MS_RDONLY},         {"nosuid", 0, MS_NOSUID},
    {"suid", 1, MS_NOSUID},      {"nodev", 0, MS_NODEV},       {"dev", 1, MS_NODEV},
    {"noexec", 0, MS_NOEXEC},    {"exec", 1, MS_NOEXEC},       {"sync", 0, MS_SYNCHRONOUS},
    {"async", 1, MS_SYNCHRONOUS}, {"dirsync", 0, MS_DIRSYNC},  {"mand", 0, MS_MANDLOCK},
    {"nomand", 1, MS_MANDLOCK},  {"atime", 1, MS_NOATIME},     {"noatime", 0, MS_NOATIME},
    {"diratime", 1, MS_NODIRATIME}, {"nodiratime", 0, MS_NODIRATIME}, {"relatime", 0, MS_RELATIME},
    {"norelatime", 1, MS_RELATIME}, {"strictatime", 0, MS_STRICTATIME}, {"nostrictatime", 1, MS_STRICTATIME},
};
static const struct mflag mprops[] = {
    {"private", 0, MS_PRIVATE}, {"rprivate", 0, MS_PRIVATE | MS_REC}, {"shared", 0, MS_SHARED},
    {"rshared", 0, MS_SHARED | MS_REC}, {"slave", 0, MS_SLAVE}, {"rslave", 0, MS_SLAVE | MS_REC},
    {"unbindable", 0, MS_UNBINDABLE}, {"runbindable", 0, MS_UNBINDABLE | MS_REC},
};

static int builtin_mount(const struct mount_spec *m) {
  static const char *const b[][2] = {{"/proc", "proc"},     {"/dev", "tmpfs"},  {"/dev/pts", "devpts"},
                                     {"/dev/mqueue", "mqueue"}, {"/sys", "sysfs"}, {"/sys/fs/cgroup", "cgroup"},
                                     {"/sys/fs/cgroup", "cgroup2"}};
  for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
    if (!strcmp(m->dest, b[i][0]) && m->type && !strcmp(m->type, b[i][1])) return 1;
  return 0;
}

static void oci_mount(const struct spec *s, int rootfd, const struct mount_spec *m) {
  if (builtin_mount(m)) return;
  unsigned long flags = 0, prop = 0;
  int bind = m->type && !strcmp(m->type, "bind"), rec = 0;
  struct sbuf data = {0};
  for (size_t i = 0; i < m->nopts; i++) {
    const char *o = m->options[i];
    int done = 0;
    if (!strcmp(o, "bind")) { bind = 1; continue; }
    if (!strcmp(o, "rbind")) { bind = 1; rec = 1; continue; }
    for (size_t k = 0; k < sizeof mflags / sizeof mflags[0] && !done; k++)
      if (!strcmp(o, mflags[k].name)) {
        if (mflags[k].clear) flags &= ~mflags[k].flag;
        else flags |= mflags[k].flag;
        done = 1;
      }
    for (size_t k = 0; k < sizeof mprops / sizeof mprops[0] && !done; k++)
      if (!strcmp(o, mprops[k].name)) { prop = mprops[k].flag; done = 1; }
    if (done) continue;
    /* SELinux relabel, idmap and copy-up hints: nothing to do here */
    if (!strcmp(o, "z") || !strcmp(o, "Z") || !strcmp(o, "U") || !strcmp(o, "idmap") || !strcmp(o, "tmpcopyup") ||
        !strcmp(o, "notmpcopyup") || !strcmp(o, "copy") || !strcmp(o, "nocopy") || !strcmp(o, "remount"))
      continue;
    if (data.len) sb_puts(&data, ",");
    sb_puts(&data, o);
  }
  char p[64];
  int fd;
  if (bind) {
    if (!m->source) FAIL("bind mount on %s has no source", m->dest);
    char src[4096];
    if (m->source[0] == '/') snprintf(src, sizeof src, "%s", m->source);
    else snprintf(src, sizeof src, "%s/%s", s->bundle, m->source);
    struct stat st;
    if (stat(src, &st) < 0) FAIL("bind mount source %s: %s", src, strerror(errno));
    fd = open_in_root(rootfd, m->dest, S_ISDIR(st.st_mode) ? RES_MKDIR : RES_MKFILE);
    if (fd < 0) FAIL("creating the mount point %s: %s", m->dest, strerror(errno));
    if (mount(src, fdp(fd, p), NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0)
      FAIL("bind mounting %s on %s: %s", src, m->dest, strerror(errno));
    close(fd);
    if (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME)) {
      fd = open_in_root(rootfd, m->dest, RES_EXIST);
      if (fd < 0 || bind_remount(fd, flags, rec) < 0)
        FAIL("remounting %s with its options: %s", m->dest, strerror(errno));
      close(fd);
    }
  } else {
    const char *type = m->type ? m->type : "none";
    fd = open_in_root(rootfd, m->dest, RES_MKDIR);
    if (fd < 0) FAIL("creating the mount point %s: %s", m->dest, strerror(errno));
    if (mount(m->source ? m->source : type, fdp(fd, p), type, flags, data.p) < 0) {
      int e = errno;
      if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) {
        debugx("mounting %s on %s: %s", type, m->dest, strerror(e));
        close(fd);
        sb_free(&data);
        return;
      }
      FAIL("mounting %s on %s: %s", type, m->dest, strerror(e));
    }
    close(fd);
  }
  if (prop) {
    fd = open_in_root(rootfd, m->dest, RES_EXIST);
    if (fd < 0 || mount(NULL, fdp(fd, p), NULL, prop, NULL) < 0)
      FAIL("setting the propagation of %s: %s", m->dest, strerror(errno));
    close(fd);
  }
  sb_free(&data);
}

static void apply_sysctl(const struct spec *s, int rootfd) {
  if (!s->sysctl || s->sysctl->type != J_OBJ) return;
  for (struct json *c = s->sysctl->child; c; c = c->next) {
    if (c->type != J_STR || !c->key) continue;
    char path[512];
    int n = snprintf(path, sizeof path, "/proc/sys/%s", c->key);
    for (int i = 10; i < n; i++)
      if (path[i] == '.') path[i] = '/';
    if (strstr(path, "/../") || strstr(path, "/./")) FAIL("invalid sysctl %s", c->key);
    int fd = open_in_root(rootfd, path, RES_EXIST);
    char p[64];
    int w = fd < 0 ? -1 : open(fdp(fd, p), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
    if (w < 0 || write_all(w, c->str, strlen(c->str)) < 0) FAIL("setting sysctl %s: %s", c->key, strerror(errno));
    close(w);
  }
}

static void mask_paths(const struct spec *s, int rootfd) {
  char p[64];
  for (size_t i = 0; s->masked[i]; i++) {
    int fd = open_in_root(rootfd, s->masked[i], RES_EXIST);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      FAIL("masking %s: %s", s->masked[i], strerror(errno));
    }
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc == 0 && S_ISDIR(st.st_mode)) rc = mount("tmpfs", fdp(fd, p), "tmpfs", MS_RDONLY, "size=0k,mode=755");
    else if (rc == 0) rc = mount("/dev/null", fdp(fd, p), NULL, MS_BIND, NULL);
    if (rc < 0) FAIL("masking %s: %s", s->masked[i], strerror(errno));
    close(fd);
  }
  for (size_t i = 0; s->readonly[i]; i++) {
    int fd = open_in_root(rootfd, s->readonly[i], RES_EXIST);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      FAIL("making %s read-only: %s", s->readonly[i], strerror(errno));
    }
    if (mount(fdp(fd, p), fdp(fd, p), NULL, MS_BIND | MS_REC, NULL) < 0)
      FAIL("making %s read-only: %s", s->readonly[i], strerror(errno));
    close(fd);
    fd = open_in_root(rootfd, s->readonly[i], RES_EXIST);
    if (fd < 0 || bind_remount(fd, MS_RDONLY, 1) < 0) FAIL("making %s read-only: %s", s->readonly[i], strerror(errno));
    close(fd);
  }
}

static void loopback_up(void) {
  int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sk < 0) FAIL("bringing up the loopback interface: %s", strerror(errno));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(sk, SIOCGIFFLAGS, &ifr) < 0) FAIL("bringing up the loopback interface: %s", strerror(errno));
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(sk, SIOCSIFFLAGS, &ifr) < 0) FAIL("bringing up the loopback interface: %s", strerror(errno));
  close(sk);
}

void container_main(struct init_ctx *c) {
  struct spec *s = c->s;
  E = c->sync_fd;
  g_debug = 0; /* stderr is the container's from here on */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  prctl(PR_SET_NAME, "ctr-init", 0, 0, 0);

  /* stdio first, then nothing but the sync socket stays open */
  if (!s->proc.terminal) {
    for (int i = 0; i < 3; i++) {
      if (c->stdio[i] == i) { set_cloexec(i, 0); continue; }
      if (dup2(c->stdio[i], i) < 0) FAIL("setting up stdio: %s", strerror(errno));
    }
  }
  int keep[1] = {E};
  close_fds_except(keep, 1);
  if (s->ns_new & CLONE_NEWUSER) idmap_child_wait(E); /* a user namespace of its own: its maps first */

  /* slirp4netns and the port relay get our network namespace from the monitor as an open fd, made now: once we
     have switched to a non-root user (below), /proc/PID/ns/net is no longer open to it */
  if ((s->ns_new & CLONE_NEWNET) && (!strcmp(s->network, "slirp4netns") || !strcmp(s->network, "bridge") || (s->ports && *s->ports))) {
    int nfd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (nfd < 0) FAIL("opening our network namespace: %s", strerror(errno));
    if (send_fd(E, "N", 1, nfd) < 0) _exit(125);
    close(nfd);
  }

  for (size_t i = 0; i < s->njoins; i++) {
    int fd = open(s->joins[i].path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, s->joins[i].flag) < 0) FAIL("joining the namespace %s: %s", s->joins[i].path, strerror(errno));
    close(fd);
  }
  if (s->ns_new & CLONE_NEWNET) loopback_up();
  if ((s->ns_new & CLONE_NEWUTS) && s->hostname && *s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
    FAIL("setting the hostname: %s", strerror(errno));
  if ((s->ns_new & CLONE_NEWUTS) && s->domainname && *s->domainname &&
      setdomainname(s->domainname, strlen(s->domainname)) < 0)
    FAIL("setting the domain name: %s", strerror(errno));

  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) FAIL("making / a slave mount: %s", strerror(errno));
  if (mount(s->root, s->root, NULL, MS_BIND | MS_REC, NULL) < 0)
    FAIL("bind mounting the rootfs %s: %s", s->root, strerror(errno));
  int rootfd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) FAIL("opening the rootfs %s: %s", s->root, strerror(errno));

  setup_proc(rootfd);
  setup_dev(s, rootfd);
  setup_sys(s, rootfd);
  for (size_t i = 0; i < s->nmounts; i++) oci_mount(s, rootfd, &s->mounts[i]);
  apply_sysctl(s, rootfd);
  mask_paths(s, rootfd);

  if (fchdir(rootfd) < 0) FAIL("entering the rootfs: %s", strerror(errno));
  if (syscall(SYS_pivot_root, ".", ".") < 0) FAIL("pivot_root: %s", strerror(errno));
  if (umount2(".", MNT_DETACH) < 0) FAIL("detaching the old root: %s", strerror(errno));
  if (chdir("/") < 0) FAIL("chdir /: %s", strerror(errno));
  close(rootfd);
  if (s->root_ro) {
    int r = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (r < 0 || bind_remount(r, MS_RDONLY, 0) < 0) FAIL("making the rootfs read-only: %s", strerror(errno));
    close(r);
  }

  int master = -1;
  if (s->proc.terminal) {
    int slave;
    char err[300];
    if (pty_open(&master, &slave, err, sizeof err) < 0) FAIL("%s", err);
    struct winsize ws = {(unsigned short)(s->proc.rows ? s->proc.rows : 24),
                         (unsigned short)(s->proc.cols ? s->proc.cols : 80), 0, 0};
    ioctl(master, TIOCSWINSZ, &ws);
    if (setsid() < 0) FAIL("setsid: %s", strerror(errno));
    if (ioctl(slave, TIOCSCTTY, 0) < 0) FAIL("setting the controlling terminal: %s", strerror(errno));
    for (int i = 0; i < 3; i++)
      if (dup2(slave, i) < 0) FAIL("setting up the terminal: %s", strerror(errno));
    if (slave > 2) close(slave);
  } else {
    setsid();
  }

  /* ctr.init=1: PID 1 runs a sealed in-memory copy of the helper, so that /proc/1/exe in the
     container never leads to the host's binary */
  int init_memfd = s->init ? init_image() : -1;
  process_prepare(&s->proc, E, 1);

  /* ready: hand over the terminal, wait for the go */
  if (send_fd(E, "R", 1, master) < 0) _exit(125);
  if (master >= 0) close(master);
  char go = 0;
  ssize_t n;
  while ((n = read(E, &go, 1)) < 0 && errno == EINTR) {}
  if (n != 1 || go != 'G') _exit(125);
  process_seccomp(&s->proc, E); /* last: with ctr.init=1 PID 1 runs under it too */
  if (s->init) init_reexec(&s->proc, E, init_memfd);
  process_exec(&s->proc, E);
}
