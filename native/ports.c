/* Published ports (ctr.ports): the relay that lives in the container's monitor.

   The listening sockets are made in the host's network namespace before the container starts
   (a port that cannot be had fails the start). Once the container's network namespace exists
   the monitor joins it (setns on the namespace fd the init sent): a socket belongs for good to
   the namespace it was made in, so the listeners stay on the host while every socket made from
   then on (the connection to the container's port, the per-flow UDP sockets) is made inside the
   container. TCP is forwarded with splice() through a pair of pipes per connection, taken from
   a small pool; UDP with a socket per client address, dropped after a minute without traffic.
   One poll loop (the monitor's), non-blocking sockets, no threads. */
#include "runtime.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_FLOWS 128
#define PIPE_POOL 8
#define UDP_IDLE_MS 60000
/* A connection's pipes start at the kernel's default size; one that has carried 1 MiB grows to
   1 MiB (a quarter of the syscalls, about 40 % less relay CPU on bulk transfers), at most
   MAX_BIG such pipes per monitor: pipe capacity counts against the user's
   pipe-user-pages-soft (64 MiB), shared with every other program of the user. */
#define BIG_PIPE (1024 * 1024)
#define MAX_BIG 8

struct listener {
  int fd, udp, family, cport;
  char ip[INET6_ADDRSTRLEN];
  int hport;
};

struct conn {
  int a, b;              /* a: the client (host side); b: the container side */
  int pab[2], pba[2];    /* a->b and b->a pipes */
  size_t qab, qba;       /* bytes held in each pipe */
  size_t mab, mba;       /* bytes moved through each */
  unsigned char bab, bba; /* each pipe grown to BIG_PIPE */
  unsigned char eof_a, eof_b, shut_b, shut_a, connecting;
};

struct flow {
  int fd, l;             /* socket in the container; its listener */
  struct sockaddr_storage peer;
  socklen_t plen;
  long long last;
};

static struct listener *L;
static int nl;
static struct conn conns[MAX_CONNS];
static int nconns;
static struct flow flows[MAX_FLOWS];
static int nflows;
static int pool[PIPE_POOL][3]; /* read end, write end, grown */
static int nbig;
static int npool;
static int joined;

/* what each pollfd slot we filled stands for */
enum { K_LISTEN, K_CONN_A, K_CONN_B, K_FLOW };
static struct { unsigned char kind; int idx; } slot[PORTS_MAX_POLL];
static int first_slot, nslots;

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ports_count(void) { return nl; }

static int unpriv_start(void) {
  int v = 1024;
  FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
  if (f) {
    if (fscanf(f, "%d", &v) != 1) v = 1024;
    fclose(f);
  }
  return v;
}

static void describe(const struct listener *l, char *out, size_t n) {
  if (l->family == AF_INET6) snprintf(out, n, "[%s]:%d/%s", l->ip, l->hport, l->udp ? "udp" : "tcp");
  else snprintf(out, n, "%s:%d/%s", l->ip, l->hport, l->udp ? "udp" : "tcp");
}

/* ctr.ports: entries "PROTO/HOSTIP/HOSTPORT/CTRPORT" joined by ','; HOSTPORT 0 = any free port */
int ports_open(const char *spec, char *err, size_t errlen) {
  if (!spec || !*spec) return 0;
  int cap = 1;
  for (const char *p = spec; *p; p++) cap += *p == ',';
  L = calloc((size_t)cap, sizeof *L);
  if (!L) { snprintf(err, errlen, "publishing ports: out of memory"); return -1; }
  char *copy = xstrdup(spec), *save = NULL;
  for (char *e = strtok_r(copy, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
    char proto[8], ip[INET6_ADDRSTRLEN];
    int hport, cport;
    if (sscanf(e, "%7[a-z]/%45[0-9a-fA-F.:]/%d/%d", proto, ip, &hport, &cport) != 4 || hport < 0 || hport > 65535 ||
        cport < 1 || cport > 65535 || (strcmp(proto, "tcp") && strcmp(proto, "udp"))) {
      snprintf(err, errlen, "invalid ctr.ports entry \"%.200s\"", e);
      goto fail;
    }
    struct listener *l = &L[nl];
    l->udp = !strcmp(proto, "udp");
    l->cport = cport;
    l->hport = hport;
    snprintf(l->ip, sizeof l->ip, "%s", ip);
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
      l->family = s4->sin_family = AF_INET;
      s4->sin_port = htons((uint16_t)hport);
      sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
      l->family = s6->sin6_family = AF_INET6;
      s6->sin6_port = htons((uint16_t)hport);
      sl = sizeof *s6;
    } else {
      snprintf(err, errlen, "invalid host address \"%.60s\" in ctr.ports", ip);
      goto fail;
    }
    l->fd = socket(l->family, (l->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
      snprintf(err, errlen, "publishing port %d/%s: %s", hport, proto, strerror(errno));
      goto fail;
    }
    nl++;
    int one = 1;
    if (!l->udp) setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (l->family == AF_INET6) setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(l->fd, (struct sockaddr *)&ss, sl) < 0 || (!l->udp && listen(l->fd, 512) < 0)) {
      int e2 = errno;
      char what[80];
      describe(l, what, sizeof what);
      int start = unpriv_start();
      if ((e2 == EACCES || e2 == EPERM) && hport < start)
        snprintf(err, errlen, "cannot publish port %s: ports below %d need privilege (sysctl net.ipv4.ip_unprivileged_port_start=%d)",
                 what, start, start);
      else if (e2 == EADDRINUSE)
        snprintf(err, errlen, "cannot publish port %s: the address is already in use", what);
      else if (e2 == EADDRNOTAVAIL)
        snprintf(err, errlen, "cannot publish port %s: the host has no such address", what);
      else
        snprintf(err, errlen, "cannot publish port %s: %s", what, strerror(e2));
      goto fail;
    }
    if (!hport) { /* the port the kernel chose */
      if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) == 0)
        l->hport = ntohs(l->family == AF_INET ? s4->sin_port : s6->sin6_port);
    }
  }
  free(copy);
  return 0;
fail:
  free(copy);
  ports_close();
  return -1;
}

/* ,"ports":[{"proto":"tcp","hostIp":"0.0.0.0","hostPort":N,"containerPort":N},...] for the state file */
void ports_json(struct sbuf *b) {
  if (!nl) return;
  sb_puts(b, ",\"ports\":[");
  for (int i = 0; i < nl; i++)
    sb_printf(b, "%s{\"proto\":\"%s\",\"hostIp\":\"%s\",\"hostPort\":%d,\"containerPort\":%d}", i ? "," : "",
              L[i].udp ? "udp" : "tcp", L[i].ip, L[i].hport, L[i].cport);
  sb_puts(b, "]");
}

/* From now on new sockets are made in the container's network namespace. */
int ports_join(int netns_fd, char *err, size_t errlen) {
  if (!nl) return 0;
  if (setns(netns_fd, CLONE_NEWNET) < 0) {
    snprintf(err, errlen, "publishing ports: joining the container's network namespace: %s", strerror(errno));
    return -1;
  }
  joined = 1;
  return 0;
}

static void pipe_put(int p[2], size_t queued, int big) {
  if (p[0] < 0) return;
  if (!queued && npool < PIPE_POOL) {
    pool[npool][0] = p[0];
    pool[npool][1] = p[1];
    pool[npool][2] = big;
    npool++;
  } else {
    close(p[0]);
    close(p[1]);
    nbig -= big;
  }
  p[0] = p[1] = -1;
}

static int pipe_get(int p[2], unsigned char *big) {
  *big = 0;
  if (npool) {
    npool--;
    p[0] = pool[npool][0];
    p[1] = pool[npool][1];
    *big = (unsigned char)pool[npool][2];
    return 0;
  }
  return pipe2(p, O_CLOEXEC | O_NONBLOCK);
}

static void conn_close(int i) {
  struct conn *c = &conns[i];
  close(c->a);
  close(c->b);
  pipe_put(c->pab, c->qab, c->bab);
  pipe_put(c->pba, c->qba, c->bba);
  conns[i] = conns[--nconns];
}

/* the container side: 127.0.0.1:PORT in the container's namespace */
static int connect_inside(int udp, int port) {
  int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {htonl(INADDR_LOOPBACK)}};
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

static void tcp_accept(struct listener *l) {
  for (int k = 0; k < 16; k++) {
    int a = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a < 0) return;
    if (nconns >= MAX_CONNS || !joined) { close(a); continue; }
    int b = connect_inside(0, l->cport);
    if (b < 0) { close(a); continue; }
    struct conn *c = &conns[nconns];
    memset(c, 0, sizeof *c);
    c->a = a;
    c->b = b;
    c->pab[0] = c->pab[1] = c->pba[0] = c->pba[1] = -1;
    if (pipe_get(c->pab, &c->bab) < 0 || pipe_get(c->pba, &c->bba) < 0) {
      pipe_put(c->pab, 1, c->bab);
      close(a);
      close(b);
      continue;
    }
    int one = 1;
    setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->connecting = 1;
    nconns++;
  }
}

/* Moves what it can from src to dst through the pipe; -1 on an error that ends the connection. */
static int pump(int src, int dst, int p[2], size_t *q, unsigned char *eof, unsigned char *shut, size_t *moved,
                unsigned char *big) {
  for (int k = 0; k < 32; k++) {
    if (*q) {
      ssize_t w = splice(p[0], NULL, dst, NULL, *q, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (w > 0) { *q -= (size_t)w; continue; }
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
      return -1;
    }
    if (*eof) {
      if (!*shut) { shutdown(dst, SHUT_WR); *shut = 1; }
      return 0;
    }
    ssize_t r = splice(src, NULL, p[1], NULL, 1 << 20, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (r > 0) {
      *q += (size_t)r;
      *moved += (size_t)r;
      if (!*big && *moved >= BIG_PIPE && nbig < MAX_BIG && fcntl(p[0], F_SETPIPE_SZ, BIG_PIPE) >= 0) {
        *big = 1;
        nbig++;
      }
      continue;
    }
    if (r == 0) { *eof = 1; continue; }
    if (errno == EAGAIN || errno == EINTR) break;
    return -1;
  }
  /* the EOF may have come on the last round: passed on now, or nothing would wake us for it */
  if (!*q && *eof && !*shut) { shutdown(dst, SHUT_WR); *shut = 1; }
  return 0;
}

static void conn_run(int i) {
  struct conn *c = &conns[i];
  if (c->connecting) {
    int e = 0;
    socklen_t el = sizeof e;
    if (getsockopt(c->b, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e) { conn_close(i); return; }
    struct pollfd pf = {c->b, POLLOUT, 0};
    if (poll(&pf, 1, 0) <= 0) return; /* still connecting */
    c->connecting = 0;
  }
  if (pump(c->a, c->b, c->pab, &c->qab, &c->eof_a, &c->shut_b, &c->mab, &c->bab) < 0 ||
      pump(c->b, c->a, c->pba, &c->qba, &c->eof_b, &c->shut_a, &c->mba, &c->bba) < 0 || (c->shut_a && c->shut_b))
    conn_close(i);
}

static short conn_events_a(const struct conn *c) {
  short ev = 0;
  if (c->connecting) return 0;
  if (!c->qab && !c->eof_a) ev |= POLLIN;
  if (c->qba) ev |= POLLOUT;
  return ev;
}

static short conn_events_b(const struct conn *c) {
  if (c->connecting) return POLLOUT;
  short ev = 0;
  if (!c->qba && !c->eof_b) ev |= POLLIN;
  if (c->qab) ev |= POLLOUT;
  return ev;
}

static void flow_close(int i) {
  close(flows[i].fd);
  flows[i] = flows[--nflows];
}

static unsigned char dgram[65536];

static void udp_in(int li) {
  struct listener *l = &L[li];
  for (int k = 0; k < 64; k++) {
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    ssize_t r = recvfrom(l->fd, dgram, sizeof dgram, 0, (struct sockaddr *)&peer, &pl);
    if (r < 0) return;
    if (!joined) continue;
    int f = -1;
    for (int i = 0; i < nflows; i++)
      if (flows[i].l == li && flows[i].plen == pl && !memcmp(&flows[i].peer, &peer, pl)) { f = i; break; }
    if (f < 0) {
      if (nflows >= MAX_FLOWS) { /* the oldest flow makes room */
        int old = 0;
        for (int i = 1; i < nflows; i++)
          if (flows[i].last < flows[old].last) old = i;
        flow_close(old);
      }
      int fd = connect_inside(1, l->cport);
      if (fd < 0) continue;
      f = nflows++;
      flows[f].fd = fd;
      flows[f].l = li;
      flows[f].peer = peer;
      flows[f].plen = pl;
    }
    flows[f].last = mono_ms();
    if (send(flows[f].fd, dgram, (size_t)r, MSG_DONTWAIT) < 0) {}
  }
}

static void flow_in(int i) {
  struct flow *f = &flows[i];
  for (int k = 0; k < 64; k++) {
    ssize_t r = recv(f->fd, dgram, sizeof dgram, MSG_DONTWAIT);
    if (r < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED) flow_close(i);
      return;
    }
    f->last = mono_ms();
    if (sendto(L[f->l].fd, dgram, (size_t)r, MSG_DONTWAIT, (struct sockaddr *)&f->peer, f->plen) < 0) {}
  }
}

int ports_fill(struct pollfd *p, int start) {
  int n = start;
  first_slot = start;
  nslots = 0;
  for (int i = 0; i < nl && nslots < PORTS_MAX_POLL; i++) {
    if (!L[i].udp && nconns >= MAX_CONNS) continue;
    p[n++] = (struct pollfd){L[i].fd, POLLIN, 0};
    slot[nslots].kind = K_LISTEN, slot[nslots++].idx = i;
  }
  for (int i = 0; i < nconns && nslots + 2 <= PORTS_MAX_POLL; i++) {
    /* a side we wait for nothing on is left out (fd -1): its POLLHUP would wake us for nothing */
    short ea = conn_events_a(&conns[i]), eb = conn_events_b(&conns[i]);
    p[n++] = (struct pollfd){ea ? conns[i].a : -1, ea, 0};
    slot[nslots].kind = K_CONN_A, slot[nslots++].idx = i;
    p[n++] = (struct pollfd){eb ? conns[i].b : -1, eb, 0};
    slot[nslots].kind = K_CONN_B, slot[nslots++].idx = i;
  }
  for (int i = 0; i < nflows && nslots < PORTS_MAX_POLL; i++) {
    p[n++] = (struct pollfd){flows[i].fd, POLLIN, 0};
    slot[nslots].kind = K_FLOW, slot[nslots++].idx = i;
  }
  return n;
}

int ports_timeout(void) {
  if (!nflows) return -1;
  long long now = mono_ms(), next = -1;
  for (int i = 0; i < nflows; i++) {
    long long left = flows[i].last + UDP_IDLE_MS - now;
    if (left < 0) left = 0;
    if (next < 0 || left < next) next = left;
  }
  return (int)next + 1;
}

void ports_dispatch(const struct pollfd *p) {
  /* connections and flows first, from the last (closing one moves the last into its place),
     each at most once; new ones (accepts, new flows) after */
  int ran_conn = -1;
  for (int s = nslots - 1; s >= 0; s--) {
    short re = p[first_slot + s].revents;
    if (!re) continue;
    int i = slot[s].idx;
    if (slot[s].kind == K_CONN_A || slot[s].kind == K_CONN_B) {
      if (i == ran_conn || i >= nconns) continue;
      ran_conn = i;
      conn_run(i);
    } else if (slot[s].kind == K_FLOW) {
      if (i < nflows) flow_in(i);
    }
  }
  for (int s = 0; s < nslots; s++) {
    if (slot[s].kind != K_LISTEN || !p[first_slot + s].revents) continue;
    struct listener *l = &L[slot[s].idx];
    if (l->udp) udp_in(slot[s].idx);
    else tcp_accept(l);
  }
  if (nflows) {
    long long now = mono_ms();
    for (int i = nflows - 1; i >= 0; i--)
      if (now - flows[i].last >= UDP_IDLE_MS) flow_close(i);
  }
}

void ports_close(void) {
  while (nconns) conn_close(nconns - 1);
  while (nflows) flow_close(nflows - 1);
  for (int i = 0; i < nl; i++) close(L[i].fd);
  while (npool) { npool--; close(pool[npool][0]); close(pool[npool][1]); }
  nbig = 0;
  nl = 0;
  free(L);
  L = NULL;
}
