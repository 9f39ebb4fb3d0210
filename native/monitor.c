/* The monitor: one small process per running container. It owns a private mount namespace
   with the rootfs mounted, clones the container init, holds stdio (pipes or the pty master),
   writes the log, serves the attach socket, records the state and exit files, and cleans up. */
#include "runtime.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 32

struct client {
  int fd;
  int flags;   /* hello flags, -1 before hello */
  int rd_eof;  /* the client shut down its side */
  unsigned char hdr[5];
  size_t hlen;
  uint8_t type;
  uint32_t remain;
  unsigned char small[16];
  size_t slen;
  int wants_stdin_closed;
};

static struct spec *S;
static int status_fd = -1;
static pid_t init_pid = -1, slirp_pid = -1;
static int init_status = -1; /* wait status once reaped */
static int tty_master = -1, in_fd = -1, out_fd = -1, err_fd = -1;
static int lsock = -1, sigfd = -1;
static char sock_path[4200];
static struct client clients[MAX_CLIENTS];
static int nclients;
static struct logger L;
static struct reserved_file exit_rec = {.fd = -1}, state_rec = {.fd = -1}; /* blocks taken at the start: see log.c */
static char *inbuf;
static size_t inlen, incap;
static int in_close_pending;
static int keep_container; /* a client asked us to keep the container (restart of a --rm one) */

static void status_line(const char *kind, const char *text) {
  if (status_fd < 0) return;
  struct sbuf b = {0};
  sb_puts(&b, kind);
  sb_puts(&b, " ");
  sb_puts(&b, text);
  sb_puts(&b, "\n");
  write_all(status_fd, b.p, b.len);
  sb_free(&b);
}

static void boot_id(char *out, size_t n) {
  out[0] = 0;
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t r = read(fd, out, n - 1);
  close(fd);
  if (r < 0) r = 0;
  out[r] = 0;
  char *nl = strchr(out, '\n');
  if (nl) *nl = 0;
}

/* "no space left on device while writing PATH" (errno's text) */
static const char *write_error(char *buf, size_t n, const char *path) {
  char why[128];
  snprintf(why, sizeof why, "%s", strerror(errno));
  why[0] = (char)tolower((unsigned char)why[0]);
  snprintf(buf, n, "%s while writing %s", why, path);
  return buf;
}

static void drop_client(int i) {
  close(clients[i].fd);
  clients[i] = clients[--nclients];
}

static void broadcast(int type, const void *buf, size_t n) {
  int want = type == F_STDERR ? 4 : 2;
  for (int i = 0; i < nclients; i++) {
    if (clients[i].flags < 0 || !(clients[i].flags & want)) continue;
    unsigned char h[5] = {(unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    struct iovec iov[2] = {{h, 5}, {(void *)buf, n}};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = 2;
    size_t total = 5 + n, sent = 0;
    int bad = 0;
    while (sent < total) {
      ssize_t w = sendmsg(clients[i].fd, &mh, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) { bad = 1; break; }
      sent += (size_t)w;
      /* advance the iovecs */
      size_t adv = (size_t)w;
      while (adv && mh.msg_iovlen) {
        if (adv >= mh.msg_iov[0].iov_len) {
          adv -= mh.msg_iov[0].iov_len;
          mh.msg_iov++;
          mh.msg_iovlen--;
        } else {
          mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + adv;
          mh.msg_iov[0].iov_len -= adv;
          adv = 0;
        }
      }
    }
    if (bad) drop_client(i--);
  }
}

static void stdin_append(const unsigned char *p, size_t n) {
  if (in_fd < 0 || in_close_pending) return;
  if (inlen + n > incap) {
    size_t c = incap ? incap : 16384;
    while (c < inlen + n) c *= 2;
    char *q = realloc(inbuf, c);
    if (!q) return;
    inbuf = q;
    incap = c;
  }
  memcpy(inbuf + inlen, p, n);
  inlen += n;
}

static void stdin_flush(void) {
  while (inlen && in_fd >= 0) {
    ssize_t w = write(in_fd, inbuf, inlen);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;
    if (w < 0) { inlen = 0; break; } /* the reader is gone */
    memmove(inbuf, inbuf + w, inlen - (size_t)w);
    inlen -= (size_t)w;
  }
  if (!inlen && in_close_pending && in_fd >= 0 && tty_master < 0) {
    close(in_fd);
    in_fd = -1;
  }
  if (!inlen && incap > 65536) { free(inbuf); inbuf = NULL; incap = 0; }
}

static void handle_frame(struct client *c, int type, const unsigned char *p, size_t n) {
  switch (type) {
    case F_HELLO:
      c->flags = n >= 1 ? p[0] : 0;
      break;
    case F_RESIZE:
      if (n >= 4 && tty_master >= 0) {
        struct winsize ws = {(unsigned short)(p[0] << 8 | p[1]), (unsigned short)(p[2] << 8 | p[3]), 0, 0};
        ioctl(tty_master, TIOCSWINSZ, &ws);
      }
      break;
    case F_EOF:
      if (c->flags > 0 && (c->flags & 1)) in_close_pending = 1;
      break;
    case F_KEEP:
      keep_container = 1;
      break;
    case F_SIGNAL:
      if (n >= 4 && init_pid > 0 && init_status < 0) {
        int sig = (int)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        if (sig > 0 && sig < 65) kill(init_pid, sig);
      }
      break;
    default:
      break;
  }
}

static void client_bytes(struct client *c, const unsigned char *buf, size_t n) {
  while (n) {
    if (c->hlen < 5) {
      size_t take = 5 - c->hlen < n ? 5 - c->hlen : n;
      memcpy(c->hdr + c->hlen, buf, take);
      c->hlen += take;
      buf += take;
      n -= take;
      if (c->hlen < 5) return;
      c->type = c->hdr[0];
      c->remain = (uint32_t)c->hdr[1] << 24 | (uint32_t)c->hdr[2] << 16 | (uint32_t)c->hdr[3] << 8 | c->hdr[4];
      c->slen = 0;
      if (c->remain == 0) {
        handle_frame(c, c->type, c->small, 0);
        c->hlen = 0;
      }
      continue;
    }
    size_t take = c->remain < n ? c->remain : n;
    if (c->type == F_STDIN) {
      if (c->flags > 0 && (c->flags & 1)) stdin_append(buf, take);
    } else {
      size_t room = sizeof c->small - c->slen;
      size_t k = take < room ? take : room;
      memcpy(c->small + c->slen, buf, k);
      c->slen += k;
    }
    c->remain -= (uint32_t)take;
    buf += take;
    n -= take;
    if (c->remain == 0) {
      if (c->type != F_STDIN) handle_frame(c, c->type, c->small, c->slen);
      c->hlen = 0;
    }
  }
}

/* Reads what a client sent; returns -1 when it is gone. */
static int client_read(int i) {
  unsigned char buf[8192];
  ssize_t r = recv(clients[i].fd, buf, sizeof buf, MSG_DONTWAIT);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
  if (r <= 0) {
    clients[i].rd_eof = 1;
    /* a stdin client that vanished counts as stdin closed */
    if (clients[i].flags > 0 && (clients[i].flags & 1) && clients[i].hlen == 0) {}
    return r < 0 ? -1 : 0;
  }
  client_bytes(&clients[i], buf, (size_t)r);
  return 0;
}

static void add_client(int fd) {
  if (nclients >= MAX_CLIENTS) { close(fd); return; }
  /* output to clients is written with backpressure, but a client that reads nothing for 30 s
     is dropped rather than stalling the container and the monitor forever */
  struct timeval tv = {30, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  memset(&clients[nclients], 0, sizeof clients[0]);
  clients[nclients].fd = fd;
  clients[nclients].flags = -1;
  nclients++;
}

static void send_exit_frames(int code) {
  unsigned char f[9] = {F_EXIT, 0, 0, 0, 4, (unsigned char)(code >> 24), (unsigned char)(code >> 16),
                        (unsigned char)(code >> 8), (unsigned char)code};
  for (int i = 0; i < nclients; i++) {
    send(clients[i].fd, f, sizeof f, MSG_NOSIGNAL);
    close(clients[i].fd);
  }
  nclients = 0;
}

static void write_state(void) {
  if (!S->statef) return;
  char ts[64], bid[128];
  now_rfc3339(ts, sizeof ts);
  boot_id(bid, sizeof bid);
  struct sbuf b = {0};
  sb_printf(&b, "{\"pid\":%d,\"monitorPid\":%d,\"startedAt\":\"%s\",\"bootId\":", (int)init_pid, (int)getpid(), ts);
  sb_json_str(&b, bid, strlen(bid));
  ports_json(&b);
  sb_puts(&b, "}\n");
  reserved_commit(&state_rec, S->statef, b.p, b.len);
  sb_free(&b);
}

static void write_exit(int code, int sig, const char *error) {
  if (!S->exitf) return;
  char ts[64];
  now_rfc3339(ts, sizeof ts);
  struct sbuf b = {0};
  sb_printf(&b, "{\"exitCode\":%d,\"finishedAt\":\"%s\"", code, ts);
  if (sig) sb_printf(&b, ",\"signal\":%d", sig);
  if (error && *error) {
    sb_puts(&b, ",\"error\":");
    sb_json_str(&b, error, strlen(error));
  }
  sb_puts(&b, "}\n");
  reserved_commit(&exit_rec, S->exitf, b.p, b.len);
  sb_free(&b);
}

/* --rm, in two steps so that nobody waits for the deletion: unpublish() takes every path out of
   sight at once (non-directories are removed, directories renamed to a sibling `.rm-NAME`, which
   any ctr sweeps if we are killed before the end: even an empty directory costs milliseconds to
   remove on ext4 with discard; our runtime dir is only queued), then delete_trash() removes the
   trees once the exit has been reported. */
#define MAX_TRASH 8
static char *trash[MAX_TRASH];
static int ntrash;

static void unpublish(void) {
  if (!S->remove || keep_container) return;
  char err[128];
  struct json *j = json_parse(S->remove, strlen(S->remove), err, sizeof err);
  if (!j) return;
  if (j->type == J_ARR)
    for (struct json *c = j->child; c; c = c->next) {
      if (c->type != J_STR || c->str[0] != '/') continue;
      struct stat st;
      if (lstat(c->str, &st) < 0) continue;
      if (!S_ISDIR(st.st_mode)) { unlink(c->str); continue; }
      /* our runtime dir: nothing in it any more (the socket is gone), nobody looks it up: it
         goes with the trash, unrenamed */
      if (S->mondir && !strcmp(c->str, S->mondir) && ntrash < MAX_TRASH) {
        char *same = strdup(c->str);
        if (same) { trash[ntrash++] = same; continue; }
      }
      const char *slash = strrchr(c->str, '/');
      size_t n = strlen(c->str) + 5;
      char *to = ntrash < MAX_TRASH ? malloc(n) : NULL;
      if (to) {
        snprintf(to, n, "%.*s.rm-%s", (int)(slash + 1 - c->str), c->str, slash + 1);
        if (rename(c->str, to) == 0) { trash[ntrash++] = to; continue; }
        free(to);
      }
      rm_rf(c->str); /* could not rename: remove it now */
    }
  json_free(j);
}

static void delete_trash(void) {
  for (int i = 0; i < ntrash; i++) rm_rf(trash[i]);
  ntrash = 0;
}

/* slirp4netns ends on SIGTERM (and when our exit fd closes); nobody waits for it */
static void stop_slirp(void) {
  if (slirp_pid > 0) kill(slirp_pid, SIGTERM);
}

static void reap_slirp(void) {
  if (slirp_pid <= 0) return;
  while (waitpid(slirp_pid, NULL, 0) < 0 && errno == EINTR) {}
  slirp_pid = -1;
}

/* The end: exit file (or the --rm unpublish), the rootfs detached, the exit frame to every
   client; then what nobody has to wait for: releasing the mount, deleting the --rm trees,
   reaping slirp4netns. */
static void finish(int code, int sig, const char *error) __attribute__((noreturn));
static void finish(int code, int sig, const char *error) {
  ports_close(); /* the published ports are free again at once */
  if (lsock >= 0) {
    close(lsock);
    lsock = -1;
    unlink(sock_path);
  }
  stop_slirp();
  log_flush(&L);
  /* --rm: the container leaves the store now, so its exit file would only be deleted again */
  int removing = S->remove && !keep_container && strcmp(S->remove, "[]") != 0;
  if (!removing) write_exit(code, sig, error);
  reserved_release(&state_rec); /* the container never started: no state record */
  reserved_release(&exit_rec);  /* --rm */
  if (tty_master >= 0) close(tty_master);
  if (out_fd >= 0) close(out_fd);
  if (err_fd >= 0) close(err_fd);
  if (in_fd >= 0 && in_fd != tty_master) close(in_fd);
  /* Unmounting the overlay syncs its upper file system (milliseconds, waiting for the journal):
     an fd we hold on the rootfs keeps the detached mount alive past umount2(MNT_DETACH), so
     that the sync happens when we close it, after the exit frame. The mount is gone from every
     namespace at once: the next start mounts afresh, rm finds plain directories. */
  int rootfd = open(S->root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  rootfs_umount(S);
  unpublish();
  /* a start failure reaches `run` once the container is out of sight */
  if (error && *error) {
    char line[1200];
    snprintf(line, sizeof line, "%d %s", code, error);
    status_line("E", line);
  }
  if (status_fd >= 0) close(status_fd);
  send_exit_frames(code);
  if (!removing) log_release(&L); /* after the exit frame: freeing blocks can take a while */
  if (rootfd >= 0) close(rootfd);
  delete_trash();
  reap_slirp();
  _exit(0);
}

static void reap(void) {
  for (;;) {
    int st;
    pid_t w = waitpid(-1, &st, WNOHANG);
    if (w <= 0) return;
    if (w == init_pid) init_status = st;
    else if (w == slirp_pid) slirp_pid = -1;
  }
}

/* slirp4netns for the network namespace open at netns_fd (from the init: see container.c) */
static void start_slirp(int *ready_rd, int netns_fd) {
  char bin[4096];
  *ready_rd = -1;
  if (find_in_path("slirp4netns", bin, sizeof bin) < 0) {
    status_line("N", "slirp4netns not found: the container has loopback networking only; install slirp4netns");
    return;
  }
  int rp[2], xp[2];
  if (pipe2(rp, O_CLOEXEC) < 0) return;
  if (pipe2(xp, O_CLOEXEC) < 0) { close(rp[0]); close(rp[1]); return; }
  pid_t pid = fork();
  if (pid < 0) return;
  if (pid == 0) {
    reset_signals();
    /* ready fd 3, exit fd 4 (the monitor holds the write end: slirp4netns ends with us), the
       network namespace fd 5 */
    int r = fcntl(rp[1], F_DUPFD, 10), x = fcntl(xp[0], F_DUPFD, 10), n = fcntl(netns_fd, F_DUPFD, 10);
    dup2(r, 3);
    dup2(x, 4);
    dup2(n, 5);
    int keep[3] = {3, 4, 5};
    close_fds_except(keep, 3);
    execl(bin, "slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--ready-fd=3", "--exit-fd=4",
          "--netns-type=path", "/proc/self/fd/5", "tap0", (char *)NULL);
    _exit(127);
  }
  close(rp[1]);
  close(xp[0]); /* xp[1] stays open (CLOEXEC) for our lifetime */
  slirp_pid = pid;
  *ready_rd = rp[0];
}

static void wait_slirp_ready(int rd) {
  if (rd < 0) return;
  struct pollfd p = {rd, POLLIN, 0};
  int r;
  while ((r = poll(&p, 1, 10000)) < 0 && errno == EINTR) {}
  char c;
  if (r <= 0 || read(rd, &c, 1) != 1)
    status_line("N", "slirp4netns did not start (ctr needs slirp4netns 0.4 or later): the container has loopback "
                     "networking only");
  close(rd);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pump_output(int *fd, int type) {
  char buf[16384];
  ssize_t r = read(*fd, buf, sizeof buf);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
  if (r <= 0) { /* EOF, or EIO on a pty master whose slave is closed */
    if (*fd != tty_master) close(*fd);
    *fd = -1;
    return -1;
  }
  log_write(&L, type == F_STDERR ? 2 : 1, buf, (size_t)r);
  broadcast(type, buf, (size_t)r);
  return 0;
}

static void main_loop(void) __attribute__((noreturn));
static void main_loop(void) {
  long long exited_at = 0;
  for (;;) {
    if (init_status >= 0) {
      if (!exited_at) exited_at = now_ms();
      int open_out = (tty_master >= 0 && out_fd == tty_master) || (tty_master < 0 && (out_fd >= 0 || err_fd >= 0));
      if (!open_out || now_ms() - exited_at > 2000) {
        int code = 0, sig = 0;
        if (WIFEXITED(init_status)) code = WEXITSTATUS(init_status);
        else if (WIFSIGNALED(init_status)) { sig = WTERMSIG(init_status); code = 128 + sig; }
        finish(code, sig, NULL);
      }
    }
    static struct pollfd p[8 + MAX_CLIENTS + PORTS_MAX_POLL];
    int n = 0, i_sig, i_l = -1, i_out = -1, i_err = -1, i_in = -1, i_c0;
    p[i_sig = n++] = (struct pollfd){sigfd, POLLIN, 0};
    if (lsock >= 0) p[i_l = n++] = (struct pollfd){lsock, POLLIN, 0};
    if (out_fd >= 0) p[i_out = n++] = (struct pollfd){out_fd, POLLIN, 0};
    if (err_fd >= 0) p[i_err = n++] = (struct pollfd){err_fd, POLLIN, 0};
    if (inlen && in_fd >= 0) {
      if (in_fd == out_fd && i_out >= 0) p[i_out].events |= POLLOUT;
      else p[i_in = n++] = (struct pollfd){in_fd, POLLOUT, 0};
    }
    i_c0 = n;
    for (int i = 0; i < nclients; i++)
      p[n++] = (struct pollfd){clients[i].fd, (short)(clients[i].rd_eof || inlen ? 0 : POLLIN), 0};
    int i_ports = n;
    n = ports_fill(p, n);
    int timeout = init_status >= 0 ? 100 : -1, pt = ports_timeout();
    if (pt >= 0 && (timeout < 0 || pt < timeout)) timeout = pt;
    int r = poll(p, (nfds_t)n, timeout);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) finish(125, 0, "monitor: poll failed");

    if (p[i_sig].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) reap();
        else if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && init_pid > 0 && init_status < 0)
          kill(init_pid, (int)si.ssi_signo);
      }
    }
    if (i_in >= 0 && (p[i_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      stdin_flush();
      if (p[i_in].revents & (POLLERR | POLLHUP) && inlen) inlen = 0;
    }
    if (i_out >= 0 && (p[i_out].revents & POLLOUT)) stdin_flush();
    if (i_out >= 0 && (p[i_out].revents & (POLLIN | POLLHUP | POLLERR))) pump_output(&out_fd, F_STDOUT);
    if (i_err >= 0 && (p[i_err].revents & (POLLIN | POLLHUP | POLLERR))) pump_output(&err_fd, F_STDERR);
    /* clients: iterate backwards so drops do not disturb the indexes still to visit */
    for (int i = nclients - 1; i >= 0; i--) {
      short re = p[i_c0 + i].revents;
      if (!re) continue;
      if (re & POLLIN) {
        if (client_read(i) < 0) { drop_client(i); continue; }
      }
      if ((re & (POLLHUP | POLLERR)) || (clients[i].rd_eof && (re & POLLHUP))) drop_client(i);
    }
    if (inlen || (in_close_pending && in_fd >= 0)) stdin_flush();
    if (n > i_ports || ports_count()) ports_dispatch(p);
    if (i_l >= 0 && (p[i_l].revents & POLLIN)) {
      int fd = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
      if (fd >= 0) add_client(fd);
    }
  }
}

static int bind_attach_socket(void) {
  if (!S->mondir) return -1;
  snprintf(sock_path, sizeof sock_path, "%s/attach", S->mondir);
  return listen_unix(sock_path);
}

void monitor_main(struct spec *s, int sfd, int attach_fd, int want_stdin) {
  S = s;
  status_fd = sfd;
  /* keep nothing we were given by accident: an inherited pipe would keep our caller waiting */
  int keep[2] = {sfd, attach_fd};
  close_fds_except(keep, attach_fd >= 0 ? 2 : 1);
  prctl(PR_SET_NAME, "ctr-monitor", 0, 0, 0);
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (nul >= 0) {
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(nul, 2);
    close(nul);
  }
  if (chdir("/") < 0) {}
  g_debug = 0;

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) finish(125, 0, "monitor: signalfd failed");

  if (attach_fd >= 0) add_client(attach_fd);

  char err[1024];
  /* the exit code must reach the store whatever the container does to the disk: its file's
     blocks are taken first, then the state file's and some room for the log */
  /* (--rm: no exit record unless a client asks to keep the container; then it is written as a
     new file) */
  int auto_remove = s->remove && strcmp(s->remove, "[]") != 0;
  if (!auto_remove && reserve_file(&exit_rec, s->exitf) < 0) finish(125, 0, write_error(err, sizeof err, exit_rec.tmp));
  if (reserve_file(&state_rec, s->statef) < 0) finish(125, 0, write_error(err, sizeof err, state_rec.tmp));
  /* published ports: listening in the host's network namespace before anything else is made */
  if (ports_open(s->ports, err, sizeof err) < 0) finish(125, 0, err);
  if (make_mount_ns(err, sizeof err) < 0) finish(125, 0, err);
  s->map_rootfs = (s->ns_new & CLONE_NEWUSER) != 0; /* its own user namespace: the rootfs with its maps */
  if (rootfs_mount(s, err, sizeof err) < 0) finish(125, 0, err);
  if (log_open(&L, s->logf, s->logmax, s->logfiles) < 0) {
    if (errno == ENOSPC || errno == EDQUOT) finish(125, 0, write_error(err, sizeof err, s->logf));
    snprintf(err, sizeof err, "opening the log %s: %s", s->logf, strerror(errno));
    finish(125, 0, err);
  }

  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) finish(125, 0, "monitor: socketpair failed");
  int child_stdio[3] = {-1, -1, -1};
  if (!s->proc.terminal) {
    int pin[2] = {-1, -1}, pout[2], perr[2];
    if (want_stdin) {
      if (pipe2(pin, O_CLOEXEC) < 0) finish(125, 0, "monitor: pipe failed");
      child_stdio[0] = pin[0];
      in_fd = pin[1];
      set_nonblock(in_fd, 1);
    } else {
      child_stdio[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) finish(125, 0, "monitor: pipe failed");
    child_stdio[1] = pout[1];
    child_stdio[2] = perr[1];
    out_fd = pout[0];
    err_fd = perr[0];
  }
  lsock = bind_attach_socket();
  if (s->mondir && lsock < 0) {
    snprintf(err, sizeof err, "creating the attach socket %.900s: %s", sock_path, strerror(errno));
    finish(125, 0, err);
  }

  struct init_ctx ctx = {s, sp[1], {child_stdio[0], child_stdio[1], child_stdio[2]}, cap_last()};
  init_pid = clone_fork((unsigned long)(s->ns_new));
  if (init_pid < 0) {
    snprintf(err, sizeof err, "creating the container namespaces: %s", strerror(errno));
    finish(125, 0, err);
  }
  if (init_pid == 0) container_main(&ctx);
  spec_drop_seccomp(s);
  close(sp[1]);
  if ((s->ns_new & CLONE_NEWUSER) && idmap_write(init_pid, s, err, sizeof err) < 0) {
    kill(init_pid, SIGKILL);
    while (waitpid(init_pid, NULL, 0) < 0 && errno == EINTR) {}
    init_status = 0;
    finish(125, 0, err);
  }
  if ((s->ns_new & CLONE_NEWUSER) && send(sp[0], "U", 1, MSG_NOSIGNAL) < 0) {}
  for (int i = 0; i < 3; i++)
    if (child_stdio[i] >= 0) close(child_stdio[i]);

  /* 1. slirp4netns, on the network namespace the init sends first; then the init is ready (or failed) */
  int ready_rd = -1;
  char msg[1300];
  int mfd = -1;
  ssize_t m = recv_fd(sp[0], msg, sizeof msg - 1, &mfd);
  if (m == 1 && msg[0] == 'N') {
    if (mfd >= 0) {
      /* links into the user's networks before the init may go on (it waits for our 'R' reply) */
      if (!strcmp(s->network, "bridge")) {
        if (netns_attach(mfd, s->net_endpoints, 0, err, sizeof err) < 0) {
          close(mfd);
          kill(init_pid, SIGKILL);
          while (waitpid(init_pid, NULL, 0) < 0 && errno == EINTR) {}
          init_status = 0;
          finish(125, 0, err);
        }
      } else if (!strcmp(s->network, "slirp4netns")) {
        start_slirp(&ready_rd, mfd);
      }
      /* after slirp4netns was forked: it makes its sockets on the host side */
      if (ports_join(mfd, err, sizeof err) < 0) {
        kill(init_pid, SIGKILL);
        while (waitpid(init_pid, NULL, 0) < 0 && errno == EINTR) {}
        init_status = 0;
        finish(125, 0, err);
      }
      close(mfd);
    }
    mfd = -1;
    m = recv_fd(sp[0], msg, sizeof msg - 1, &mfd);
  }
  if (m <= 0 || msg[0] != 'R') {
    int code = 125;
    char text[1200] = "the container init exited during setup";
    if (m > 0) {
      int c = parse_fail(msg, (size_t)m, text, sizeof text);
      if (c > 0) code = c;
    }
    while (waitpid(init_pid, NULL, 0) < 0 && errno == EINTR) {}
    init_status = 0;
    finish(code, 0, text);
  }
  if (s->proc.terminal) {
    if (mfd < 0) finish(125, 0, "the container init sent no terminal");
    tty_master = in_fd = out_fd = mfd;
    set_nonblock(mfd, 1);
  }
  wait_slirp_ready(ready_rd);

  /* 2. run --attach: the container starts once its first client said hello */
  if (attach_fd >= 0) {
    while (nclients > 0 && clients[0].fd == attach_fd && clients[0].flags < 0) {
      unsigned char buf[4096];
      ssize_t r = read(attach_fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) { drop_client(0); break; }
      client_bytes(&clients[0], buf, (size_t)r);
    }
  }

  /* 3. go, then wait for exec (EOF on the CLOEXEC socket) or its error */
  if (send(sp[0], "G", 1, MSG_NOSIGNAL) < 0) {}
  m = recv_fd(sp[0], msg, sizeof msg - 1, &mfd);
  if (mfd >= 0) close(mfd);
  close(sp[0]);
  if (m > 0) {
    char text[1200];
    int code = parse_fail(msg, (size_t)m, text, sizeof text);
    if (code < 0) { code = 125; snprintf(text, sizeof text, "unexpected message from the container init"); }
    while (waitpid(init_pid, NULL, 0) < 0 && errno == EINTR) {}
    init_status = 0;
    finish(code, 0, text);
  }
  write_state();
  char line[128];
  snprintf(line, sizeof line, "{\"pid\":%d,\"monitorPid\":%d}", (int)init_pid, (int)getpid());
  status_line("S", line);
  close(status_fd);
  status_fd = -1;
  main_loop();
}
