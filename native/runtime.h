/* Declarations shared by the container runtime files (run, monitor, container init, exec). */
#ifndef CTR_RUNTIME_H
#define CTR_RUNTIME_H

#include "helper.h"
#include "json.h"
#include <stdint.h>
#include <sys/types.h>

/* Newer interfaces, defined here for older libc/kernel headers (EL7/EL8 builds with glibc). All
   are used with a fallback when the running kernel lacks them. */
#include <sys/syscall.h>
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER 0x5441
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* ---- the OCI spec, as far as we use it (spec.c) ---- */

struct caps_spec {
  int set; /* process.capabilities present */
  uint64_t bounding, effective, permitted, inheritable, ambient;
};

struct rlim_spec {
  int resource;
  unsigned long long soft, hard;
};

struct proc_spec {
  char **args;
  size_t nargs;
  char **env;
  size_t nenv;
  const char *cwd;
  int terminal;
  unsigned rows, cols;   /* process.consoleSize */
  uid_t uid;             /* process.user */
  gid_t gid;
  gid_t *gids;
  size_t ngids;
  const char *user;      /* "name|uid[:group|gid]" resolved in the rootfs; NULL/"" → uid/gid */
  struct caps_spec caps;
  int nnp;
  struct rlim_spec *rlimits;
  size_t nrlimits;
  const struct json *seccomp; /* OCI linux.seccomp (exec: the process object's "seccomp"); NULL: none */
  const char *keyring;        /* session keyring name prefix (the container ID); NULL: anonymous */
  int seccomp_loaded;
};

struct mount_spec {
  const char *dest, *type, *source;
  char **options;
  size_t nopts;
};

/* one line of a user namespace's ID map: container IDs [c, c+n) are h.. of the parent namespace */
struct idmap_spec {
  unsigned long c, h, n;
};
#define IDMAP_MAX 340 /* the kernel's limit of lines */

struct ns_join {
  int flag;          /* CLONE_NEW* */
  const char *path;
};

struct spec {
  struct json *doc;
  const char *bundle;
  struct proc_spec proc;
  const char *root;
  int root_ro;
  const char *hostname, *domainname;
  struct mount_spec *mounts;
  size_t nmounts;
  char **masked, **readonly;
  struct json *sysctl;   /* linux.sysctl object */
  int ns_new;            /* CLONE_NEW* flags to create (CLONE_NEWNS always) */
  struct ns_join joins[8];
  size_t njoins;
  /* CLONE_NEWUSER in ns_new: linux.uidMappings / gidMappings (idmap.c) */
  struct idmap_spec *uidmap, *gidmap;
  size_t nuidmap, ngidmap;
  int map_rootfs; /* set by the monitor: mount a fuse-overlayfs rootfs with those maps */
  /* annotations */
  const char *driver, *lower, *upper, *work, *user_ann, *network, *ports;
  const char *net_endpoints; /* ctr.network.endpoints: see netns.c */
  const char *mondir, *statef, *exitf, *logf, *remove;
  unsigned long long logmax;
  unsigned logfiles;     /* ctr.monitor.log-max-files: files kept, the log included (>= 1) */
  int init, stdin_open;
};

int spec_load(struct spec *s, const char *bundle, char *err, size_t errlen);
int proc_spec_parse(struct proc_spec *p, const struct json *j, char *err, size_t errlen);
int cap_by_name(const char *name);
int signal_by_name(const char *name); /* "TERM", "SIGTERM", "15"; -1 if unknown */

/* ---- small utilities (rtutil.c) ---- */
int write_all(int fd, const void *buf, size_t n);
ssize_t read_full(int fd, void *buf, size_t n);
void now_rfc3339(char *buf, size_t n); /* UTC with nanoseconds */
int write_file_atomic(const char *path, const char *data, size_t n, mode_t mode);
int rm_rf(const char *path);           /* 0, or -1 with errno; a missing path is fine */
int mkdir_p(const char *path, mode_t mode);
/* userns.c: the runtime dir (g_rundir) is ours, a directory, and writable by nobody else; dies otherwise */
void check_rundir(void);
char *xstrdup(const char *s);
void *xmalloc(size_t n);
/* fork(2) with extra CLONE_* flags, via the raw syscall (no libc bookkeeping: the child
   must not use raise()/abort()/threads). */
pid_t clone_fork(unsigned long flags);
/* Closes every fd >= 3 except those listed. */
void close_fds_except(const int *keep, size_t n);
void set_cloexec(int fd, int on);
void set_nonblock(int fd, int on);
int find_in_path(const char *name, char *out, size_t outlen); /* host PATH + sbin dirs */
void set_proc_title(char **argv, const char *title);
void save_argv(int argc, char **argv);
char **saved_argv(void);
/* Joins the user namespace of host PID when it is not ours (rootless) or the pause one. */
void join_userns_of(pid_t pid);
/* userns.c: field 22 of /proc/PID/stat (its start time), 0 when gone or a zombie */
unsigned long long proc_starttime(pid_t pid);
/* userns.c: the live process a "PID STARTTIME" file of the runtime dir names (NAME: "pause.pid"),
   else 0; LINE gets the file's text, STARTTIME its start time (both optional) */
pid_t live_pidfile(const char *name, char *line, size_t linelen, unsigned long long *starttime);
/* "E<code> <message>" on fd, then _exit(code). For children before exec. */
void child_fail(int fd, int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
/* Parses a child_fail message; returns the code and copies the message. -1 if none. */
int parse_fail(const char *buf, size_t n, char *msg, size_t msglen);

/* ---- capabilities and process setup (caps.c, process.c) ---- */
int cap_last(void);
/* Drops the bounding set to CAPS, switches to UID/GID (keeping caps), sets the other sets. */
int apply_identity_and_caps(const struct caps_spec *caps, uid_t uid, gid_t gid, const gid_t *gids, size_t ngids,
                            int setgroups_ok, char *err, size_t errlen);
/* Resolves SPEC ("name|uid[:group|gid]") against /etc/passwd and /etc/group of the current root. */
int resolve_user(const char *spec, uid_t *uid, gid_t *gid, gid_t **gids, size_t *ngids, char **home, char *err,
                 size_t errlen);
/* Everything between "inside the container's namespaces and root" and exec: rlimits, user,
   cwd, env, capabilities, no_new_privs. Failures go to errfd via child_fail. STDIO_CHOWN: fds
   0..2 are given to the user. */
void process_prepare(struct proc_spec *p, int errfd, int stdio_chown);
/* Searches args[0] in the process PATH and execs it; reports 127/126/125 on errfd. */
void process_exec(struct proc_spec *p, int errfd) __attribute__((noreturn));
void reset_signals(void);

/* ---- a user namespace of the container's own (idmap.c) ---- */
int idmap_parse(const struct json *arr, struct idmap_spec **out, size_t *n, const char *what, char *err, size_t errlen);
/* monitor: writes PID's uid_map and gid_map from the spec */
int idmap_write(pid_t pid, const struct spec *s, char *err, size_t errlen);
/* init: waits for the monitor's 'U' on FD (maps written), then becomes root of the namespace */
void idmap_child_wait(int fd);
/* ",uidmapping=...,gidmapping=..." (fuse-overlayfs options) */
void idmap_fuse_opts(const struct spec *s, struct sbuf *b);
/* ---- seccomp (seccomp.c) ---- */
struct sock_filter;
struct seccomp_prog {
  struct sock_filter *insns; /* NULL: no filter */
  unsigned short len;
  unsigned flags; /* SECCOMP_FILTER_FLAG_* */
};
/* Compiles an OCI linux.seccomp object (NULL or null: no filter). 0, or -1 with ERR set. */
int seccomp_compile(const struct json *sec, struct seccomp_prog *out, char *err, size_t errlen);
int seccomp_load(const struct seccomp_prog *p, char *err, size_t errlen);
/* Loads the process's filter unless process_prepare already did (no_new_privs off): call it
   last before exec. Failures go to errfd. */
void process_seccomp(struct proc_spec *p, int errfd);
struct spec;
/* Frees linux.seccomp of a loaded spec (the monitor, once the init has it). */
void spec_drop_seccomp(struct spec *s);

/* ---- rootfs (rootfs.c) ---- */
/* Mounts the rootfs per the ctr.rootfs.* annotations at s->root in the current mount ns. */
int rootfs_mount(struct spec *s, char *err, size_t errlen);
void rootfs_umount(struct spec *s);
int make_mount_ns(char *err, size_t errlen); /* unshare(CLONE_NEWNS) + rslave */

/* ---- the container init (container.c, init.c) ---- */
struct init_ctx {
  struct spec *s;
  int sync_fd;    /* SOCK_SEQPACKET to the monitor */
  int stdio[3];   /* pipe ends / /dev/null; -1 with a terminal */
  int cap_last;
};
void container_main(struct init_ctx *c) __attribute__((noreturn));

/* netns.c: links the container's network namespace (ctr_ns) into the per-user networks' bridges */
int netns_attach(int ctr_ns, const char *endpoints, int relink, char *err, size_t errlen);
/* ctr.init=1: stay PID 1, run the process as a child, forward signals, reap, exit with its status. */
void init_pid1(struct proc_spec *p, int errfd) __attribute__((noreturn));
int init_image(void);  /* sealed memfd copy of our binary, or -1 */
void init_reexec(struct proc_spec *p, int errfd, int memfd) __attribute__((noreturn));
int cmd_init(int argc, char **argv); /* hidden command "__init" */
char **process_envp(struct proc_spec *p);

/* ---- terminals (console.c) ---- */
int pty_open(int *master, int *slave, char *err, size_t errlen); /* from the current root's /dev/ptmx */
int send_fd(int sock, const void *msg, size_t n, int fd);
ssize_t recv_fd(int sock, void *msg, size_t n, int *fd);
struct termios;
int term_raw(int fd, struct termios *saved);
void term_restore(int fd, const struct termios *saved);

/* ---- the monitor (monitor.c) ---- */
struct run_opts {
  int attach, stdin_, tty, sig_proxy;
  const char *detach_keys;
};
/* Runs as the monitor; never returns. status_fd gets N/S/E lines; attach_fd is the first client or -1. */
void monitor_main(struct spec *s, int status_fd, int attach_fd, int want_stdin) __attribute__((noreturn));

/* ---- log file (log.c) ---- */
struct logger {
  int fd;
  const char *path;
  unsigned long long size, max;
  unsigned files;               /* files kept, this one included */
  unsigned long long reserved;  /* bytes allocated for the log (fallocate KEEP_SIZE) up to here */
  int prealloc;                 /* the file system takes fallocate */
  unsigned long long dropped;   /* output not written since the last note */
  int drop_errno;
  char *pend[2];     /* partial line per stream */
  size_t plen[2];
};
/* 0, or -1 with errno (the log could not be made, or no room for its reserve) */
int log_open(struct logger *l, const char *path, unsigned long long max, unsigned files);
void log_write(struct logger *l, int stream, const char *buf, size_t n); /* stream 1 stdout, 2 stderr */
/* writes what is pending (partial lines, the note of dropped output) */
void log_flush(struct logger *l);
void log_release(struct logger *l); /* gives back the blocks taken past the log's end */

/* A small file whose blocks are taken when the container starts, so that its record can be
   written when the disk is full: `PATH.pending` holds a placeholder, the record overwrites it
   in place (no new blocks) and is renamed to PATH. */
struct reserved_file {
  int fd;
  const char *path;
  char tmp[4200];
};
#define RESERVED_FILE_SIZE 4096
int reserve_file(struct reserved_file *r, const char *path); /* 0, or -1 with errno */
/* writes the record at path: in the reserved blocks when they are path's and it fits, else as
   write_file_atomic does */
int reserved_commit(struct reserved_file *r, const char *path, const char *data, size_t n);
void reserved_release(struct reserved_file *r); /* an unused reservation: its file removed */

/* ---- attach client (attach.c) ---- */
struct attach_opts {
  int stdin_, tty, sig_proxy, out, err;
  const char *detach_keys;
};
/* Sends hello (+ the terminal size) on SOCK. */
int attach_hello(int sock, const struct attach_opts *o);
/* Copies stdio until the exit frame; returns the exit code (0 on detach). status_fd: see run.c */
int attach_loop(int sock, const struct attach_opts *o);
int parse_detach_keys(const char *s, unsigned char *keys, size_t *n);
/* A raw tty relay between our stdio and a pty master (exec --tty). Returns when the master closes
   or the user detached (*detached set). */
int relay_pty(int master, const struct attach_opts *o, int *detached);
int connect_unix(const char *path);
int listen_unix(const char *path);

/* frame types */
enum { F_STDIN = 0, F_STDOUT = 1, F_STDERR = 2, F_EXIT = 3, F_RESIZE = 4, F_EOF = 5, F_SIGNAL = 6, F_HELLO = 7, F_KEEP = 8 };
int send_frame(int fd, int type, const void *payload, uint32_t n);

#endif

/* ---- published ports (ports.c): the relay in the monitor ---- */
#include <poll.h>
#define PORTS_MAX_POLL 600
int ports_open(const char *spec, char *err, size_t errlen); /* listeners, in the host's namespace */
int ports_count(void);
void ports_json(struct sbuf *b);                             /* ,"ports":[...] */
int ports_join(int netns_fd, char *err, size_t errlen);      /* later sockets: in the container */
int ports_fill(struct pollfd *p, int start);                 /* returns the new count */
void ports_dispatch(const struct pollfd *p);
int ports_timeout(void);                                     /* ms, -1: none */
void ports_close(void);
