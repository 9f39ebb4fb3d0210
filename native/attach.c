/* The attach client (`attach`, `run --attach`): our stdio <-> the monitor's framed socket,
   terminal raw mode and resize, detach keys, signal proxying. */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

/* Fills a sockaddr_un; long paths go through /proc/self/fd/N of their directory. */
static int unix_addr(const char *path, struct sockaddr_un *sa, int *dirfd) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  *dirfd = -1;
  if (strlen(path) < sizeof sa->sun_path) {
    strcpy(sa->sun_path, path);
    return 0;
  }
  const char *slash = strrchr(path, '/');
  if (!slash) { errno = ENAMETOOLONG; return -1; }
  char dir[4096];
  snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  *dirfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (*dirfd < 0) return -1;
  if ((size_t)snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s", *dirfd, slash + 1) >=
      sizeof sa->sun_path) {
    close(*dirfd);
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

int connect_unix(const char *path) {
  struct sockaddr_un sa;
  int dfd;
  if (unix_addr(path, &sa, &dfd) < 0) return -1;
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = s < 0 ? -1 : connect(s, (struct sockaddr *)&sa, sizeof sa);
  int e = errno;
  if (dfd >= 0) close(dfd);
  if (rc < 0) {
    if (s >= 0) close(s);
    errno = e;
    return -1;
  }
  return s;
}

int listen_unix(const char *path) {
  struct sockaddr_un sa;
  int dfd;
  if (unix_addr(path, &sa, &dfd) < 0) return -1;
  unlink(path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  mode_t old = umask(0077);
  int rc = s < 0 ? -1 : bind(s, (struct sockaddr *)&sa, sizeof sa);
  umask(old);
  if (rc == 0) rc = listen(s, 16);
  int e = errno;
  if (dfd >= 0) close(dfd);
  if (rc < 0) {
    if (s >= 0) close(s);
    errno = e;
    return -1;
  }
  return s;
}

/* write_all for a socket whose peer may be gone: EPIPE instead of SIGPIPE. */
static int send_all_nosig(int sock, const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t w = send(sock, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int send_frame(int fd, int type, const void *payload, uint32_t n) {
  unsigned char h[5] = {(unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                        (unsigned char)(n >> 8), (unsigned char)n};
  if (write_all(fd, h, 5) < 0) return -1;
  return n ? write_all(fd, payload, n) : 0;
}

int parse_detach_keys(const char *s, unsigned char *keys, size_t *n) {
  *n = 0;
  if (!s || !*s) return 0;
  char *copy = xstrdup(s);
  int rc = 0;
  for (char *save = NULL, *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
    if (*n >= 16) { rc = -1; break; }
    if (strlen(k) == 1) { keys[(*n)++] = (unsigned char)k[0]; continue; }
    if (strncmp(k, "ctrl-", 5) == 0 && strlen(k) == 6) {
      char c = k[5];
      if (c >= 'a' && c <= 'z') { keys[(*n)++] = (unsigned char)(c - 'a' + 1); continue; }
      if (c >= 'A' && c <= 'Z') { keys[(*n)++] = (unsigned char)(c - 'A' + 1); continue; }
      if (c == '@') { keys[(*n)++] = 0; continue; }
      if (c == '[') { keys[(*n)++] = 27; continue; }
      if (c == '\\') { keys[(*n)++] = 28; continue; }
      if (c == ']') { keys[(*n)++] = 29; continue; }
      if (c == '^') { keys[(*n)++] = 30; continue; }
      if (c == '_') { keys[(*n)++] = 31; continue; }
    }
    rc = -1;
    break;
  }
  free(copy);
  return rc;
}

/* Detach-key matching over a byte stream: bytes of a partial match are held back and
   released when the match breaks. */
struct detacher {
  unsigned char keys[16];
  size_t n, m;
};

/* Filters IN into OUT (room for n + 16 bytes); returns the output length, *hit on a match. */
static size_t detach_filter(struct detacher *d, const unsigned char *in, size_t n, unsigned char *out, int *hit) {
  size_t o = 0;
  *hit = 0;
  if (!d->n) {
    memcpy(out, in, n);
    return n;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char b = in[i];
    if (b == d->keys[d->m]) {
      if (++d->m == d->n) { *hit = 1; return o; }
      continue;
    }
    if (d->m) {
      memcpy(out + o, d->keys, d->m);
      o += d->m;
      d->m = 0;
    }
    if (b == d->keys[0]) {
      d->m = 1;
      if (d->n == 1) { *hit = 1; return o; }
    } else {
      out[o++] = b;
    }
  }
  return o;
}

static int get_winsize(unsigned short *rows, unsigned short *cols) {
  struct winsize ws;
  for (int fd = 0; fd < 3; fd++)
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
      *rows = ws.ws_row;
      *cols = ws.ws_col;
      return 0;
    }
  return -1;
}

static void resize_frame(unsigned char *f, unsigned short rows, unsigned short cols) {
  f[0] = F_RESIZE;
  f[1] = f[2] = f[3] = 0;
  f[4] = 4;
  f[5] = (unsigned char)(rows >> 8);
  f[6] = (unsigned char)rows;
  f[7] = (unsigned char)(cols >> 8);
  f[8] = (unsigned char)cols;
}

int attach_hello(int sock, const struct attach_opts *o) {
  unsigned char buf[6 + 9];
  size_t n = 6;
  buf[0] = F_HELLO;
  buf[1] = buf[2] = buf[3] = 0;
  buf[4] = 1;
  buf[5] = (unsigned char)((o->stdin_ ? 1 : 0) | (o->out ? 2 : 0) | (o->err ? 4 : 0));
  unsigned short r, c;
  if (o->tty && get_winsize(&r, &c) == 0) {
    resize_frame(buf + 6, r, c);
    n += 9;
  }
  /* one write: hello and size arrive together. A monitor that is already gone (the container
     failed during setup and the monitor closed the socket) is not an error here: the caller
     learns why from the status pipe or from the next read (and no SIGPIPE kills us meanwhile). */
  if (send_all_nosig(sock, buf, n) < 0) return (errno == EPIPE || errno == ECONNRESET) ? 0 : -1;
  return 0;
}

static struct termios g_saved;
static int g_raw;

static void restore_term(void) {
  if (g_raw) term_restore(0, &g_saved);
  g_raw = 0;
}

/* Signals that the client handles through a signalfd. */
static int setup_signals(const struct attach_opts *o, sigset_t *mask) {
  sigemptyset(mask);
  if (o->tty) sigaddset(mask, SIGWINCH);
  if (o->sig_proxy) {
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(mask, sigs[i]);
  } else if (g_raw) {
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(mask, sigs[i]);
  }
  sigprocmask(SIG_BLOCK, mask, NULL);
  return signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void die_by_signal(int sig) __attribute__((noreturn));
static void die_by_signal(int sig) {
  restore_term();
  signal(sig, SIG_DFL);
  sigset_t m;
  sigemptyset(&m);
  sigaddset(&m, sig);
  sigprocmask(SIG_UNBLOCK, &m, NULL);
  kill(getpid(), sig);
  _exit(128 + sig);
}

/* Outgoing bytes to the monitor, written without blocking so that we always keep reading. */
struct outq {
  unsigned char *p;
  size_t len, cap;
};

static void q_frame(struct outq *q, int type, const void *payload, uint32_t n) {
  if (q->len + 5 + n > q->cap) {
    size_t c = q->cap ? q->cap : 8192;
    while (c < q->len + 5 + n) c *= 2;
    unsigned char *np = realloc(q->p, c);
    if (!np) die(125, "out of memory");
    q->p = np;
    q->cap = c;
  }
  unsigned char *h = q->p + q->len;
  h[0] = (unsigned char)type;
  h[1] = (unsigned char)(n >> 24);
  h[2] = (unsigned char)(n >> 16);
  h[3] = (unsigned char)(n >> 8);
  h[4] = (unsigned char)n;
  if (n) memcpy(h + 5, payload, n);
  q->len += 5 + n;
}

int attach_loop(int sock, const struct attach_opts *o) {
  struct detacher det = {{0}, 0, 0};
  int use_stdin = o->stdin_;
  if (o->tty && use_stdin && parse_detach_keys(o->detach_keys ? o->detach_keys : "ctrl-p,ctrl-q", det.keys, &det.n) < 0)
    die(125, "invalid detach keys \"%s\": use a comma-separated list like ctrl-p,ctrl-q", o->detach_keys);
  if (o->tty && use_stdin && isatty(0) && term_raw(0, &g_saved) == 0) g_raw = 1;
  sigset_t mask;
  int sfd = setup_signals(o, &mask);
  set_nonblock(sock, 1);

  struct outq q = {0};
  unsigned char rbuf[65536];
  size_t rlen = 0;
  int in_open = use_stdin;
  for (;;) {
    struct pollfd p[3];
    int n = 0, i_sock, i_in = -1, i_sig = -1;
    p[i_sock = n++] = (struct pollfd){sock, (short)(POLLIN | (q.len ? POLLOUT : 0)), 0};
    if (in_open && q.len < 65536) p[i_in = n++] = (struct pollfd){0, POLLIN, 0};
    if (sfd >= 0) p[i_sig = n++] = (struct pollfd){sfd, POLLIN, 0};
    if (poll(p, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      restore_term();
      die_errno(125, "attach: poll");
    }
    if (i_sig >= 0 && (p[i_sig].revents & POLLIN)) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGWINCH) {
          unsigned short r, c;
          if (get_winsize(&r, &c) == 0) {
            unsigned char pl[4] = {(unsigned char)(r >> 8), (unsigned char)r, (unsigned char)(c >> 8), (unsigned char)c};
            q_frame(&q, F_RESIZE, pl, 4);
          }
        } else if (o->sig_proxy) {
          unsigned char pl[4] = {0, 0, 0, (unsigned char)sig};
          q_frame(&q, F_SIGNAL, pl, 4);
        } else {
          die_by_signal(sig);
        }
      }
    }
    if (i_in >= 0 && (p[i_in].revents & (POLLIN | POLLHUP | POLLERR))) {
      unsigned char ib[32768], ob[32768 + 16];
      ssize_t r = read(0, ib, sizeof ib);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
      } else if (r <= 0) {
        in_open = 0;
        q_frame(&q, F_EOF, NULL, 0);
      } else {
        int hit;
        size_t k = detach_filter(&det, ib, (size_t)r, ob, &hit);
        if (k) q_frame(&q, F_STDIN, ob, (uint32_t)k);
        if (hit) {
          /* flush what came before the keys, then leave the container running */
          set_nonblock(sock, 0);
          send_all_nosig(sock, q.p, q.len);
          restore_term();
          return 0;
        }
      }
    }
    if (q.len && (p[i_sock].revents & POLLOUT)) {
      ssize_t w = send(sock, q.p, q.len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        memmove(q.p, q.p + w, q.len - (size_t)w);
        q.len -= (size_t)w;
      }
    }
    if (p[i_sock].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = recv(sock, rbuf + rlen, sizeof rbuf - rlen, MSG_DONTWAIT);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) {
        restore_term();
        die(125, "lost the connection to the container monitor");
      }
      rlen += (size_t)r;
      size_t off = 0;
      while (rlen - off >= 5) {
        uint32_t len = (uint32_t)rbuf[off + 1] << 24 | (uint32_t)rbuf[off + 2] << 16 | (uint32_t)rbuf[off + 3] << 8 |
                       rbuf[off + 4];
        int type = rbuf[off];
        if (len > sizeof rbuf - 5) {
          restore_term();
          die(125, "attach: bad frame from the monitor");
        }
        if (rlen - off - 5 < len) break;
        const unsigned char *pl = rbuf + off + 5;
        if (type == F_STDOUT) {
          if (write_all(1, pl, len) < 0 && errno == EPIPE) { restore_term(); _exit(141); }
        } else if (type == F_STDERR) {
          write_all(2, pl, len);
        } else if (type == F_EXIT && len >= 4) {
          int code = (int)((uint32_t)pl[0] << 24 | (uint32_t)pl[1] << 16 | (uint32_t)pl[2] << 8 | pl[3]);
          restore_term();
          return code;
        }
        off += 5 + len;
      }
      memmove(rbuf, rbuf + off, rlen - off);
      rlen -= off;
    }
  }
}

/* For exec --tty: relays between our stdio and the pty master directly. */
int relay_pty(int master, const struct attach_opts *o, int *detached) {
  struct detacher det = {{0}, 0, 0};
  *detached = 0;
  int use_stdin = o->stdin_;
  if (use_stdin && parse_detach_keys(o->detach_keys ? o->detach_keys : "ctrl-p,ctrl-q", det.keys, &det.n) < 0)
    die(125, "invalid detach keys \"%s\": use a comma-separated list like ctrl-p,ctrl-q", o->detach_keys);
  if (use_stdin && isatty(0) && term_raw(0, &g_saved) == 0) g_raw = 1;
  struct attach_opts so = *o;
  so.tty = 1;
  so.sig_proxy = 0;
  sigset_t mask;
  int sfd = setup_signals(&so, &mask);
  unsigned short r0, c0;
  if (get_winsize(&r0, &c0) == 0) {
    struct winsize ws = {r0, c0, 0, 0};
    ioctl(master, TIOCSWINSZ, &ws);
  }
  int in_open = use_stdin;
  for (;;) {
    struct pollfd p[3];
    int n = 0, i_m, i_in = -1, i_sig = -1;
    p[i_m = n++] = (struct pollfd){master, POLLIN, 0};
    if (in_open) p[i_in = n++] = (struct pollfd){0, POLLIN, 0};
    if (sfd >= 0) p[i_sig = n++] = (struct pollfd){sfd, POLLIN, 0};
    if (poll(p, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (i_sig >= 0 && (p[i_sig].revents & POLLIN)) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGWINCH) {
          unsigned short r, c;
          if (get_winsize(&r, &c) == 0) {
            struct winsize ws = {r, c, 0, 0};
            ioctl(master, TIOCSWINSZ, &ws);
          }
        } else {
          die_by_signal((int)si.ssi_signo);
        }
      }
    }
    if (i_in >= 0 && (p[i_in].revents & (POLLIN | POLLHUP | POLLERR))) {
      unsigned char ib[16384], ob[16384 + 16];
      ssize_t r = read(0, ib, sizeof ib);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
      } else if (r <= 0) {
        in_open = 0;
        unsigned char eot = 4; /* ^D: end of input for the terminal's reader */
        write_all(master, &eot, 1);
      } else {
        int hit;
        size_t k = detach_filter(&det, ib, (size_t)r, ob, &hit);
        if (k) write_all(master, ob, k);
        if (hit) {
          restore_term();
          *detached = 1;
          return 0;
        }
      }
    }
    if (p[i_m].revents & (POLLIN | POLLHUP | POLLERR)) {
      unsigned char b[16384];
      ssize_t r = read(master, b, sizeof b);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) break;
      write_all(1, b, (size_t)r);
    }
  }
  restore_term();
  return 0;
}

static void usage_attach(void) __attribute__((noreturn));
static void usage_attach(void) {
  die(125, "usage: attach SOCKET [--stdin] [--tty] [--detach-keys KEYS] [--sig-proxy] [--no-stdout] [--no-stderr]");
}

int cmd_attach(int argc, char **argv) {
  struct attach_opts o = {0, 0, 0, 1, 1, NULL};
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--stdin")) o.stdin_ = 1;
    else if (!strcmp(argv[i], "--tty")) o.tty = 1;
    else if (!strcmp(argv[i], "--sig-proxy")) o.sig_proxy = 1;
    else if (!strcmp(argv[i], "--no-stdout")) o.out = 0;
    else if (!strcmp(argv[i], "--no-stderr")) o.err = 0;
    else if (!strcmp(argv[i], "--detach-keys") && i + 1 < argc) o.detach_keys = argv[++i];
    else if (argv[i][0] == '-') usage_attach();
    else if (!path) path = argv[i];
    else usage_attach();
  }
  if (!path) usage_attach();
  unsigned char k[16];
  size_t nk;
  if (o.detach_keys && parse_detach_keys(o.detach_keys, k, &nk) < 0)
    die(125, "invalid detach keys \"%s\": use a comma-separated list like ctrl-p,ctrl-q", o.detach_keys);
  int s = connect_unix(path);
  if (s < 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) die(125, "cannot attach: the container is not running");
    die_errno(125, "cannot attach to %s", path);
  }
  if (attach_hello(s, &o) < 0) die_errno(125, "attach: sending hello");
  return attach_loop(s, &o);
}
