/* User-defined networks: the per-user network namespace that holds one bridge per network, and a
   container's veth links into it, made over rtnetlink (no `ip` binary). See PROTOCOL.md.

   The namespace is held by a small process (`ctr-netns`, its "PID STARTTIME" in
   $RUNDIR/netns.pid) forked beside the monitor that first needs it, in the same user namespace.
   It ends when its runtime dir goes or names another holder, as the pause does. When it is gone
   (or belongs to another user namespace, after the pause was replaced), the next container on a
   network makes a new one; the bridges are made again on demand. IP forwarding stays off in it:
   two networks' bridges do not route to each other. */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

/* rtnetlink ABI (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/veth.h): written
   out here because musl-gcc builds see no kernel headers. These values never change. */
#define NETLINK_ROUTE_ 0
#define NLM_F_REQUEST_ 0x1
#define NLM_F_ACK_ 0x4
#define NLM_F_EXCL_ 0x200
#define NLM_F_CREATE_ 0x400
#define NLMSG_ERROR_ 2
#define RTM_NEWLINK_ 16
#define RTM_DELLINK_ 17
#define RTM_GETLINK_ 18
#define RTM_NEWADDR_ 20
#define RTM_NEWROUTE_ 24
#define IFLA_ADDRESS_ 1
#define IFLA_IFNAME_ 3
#define IFLA_MTU_ 4
#define IFLA_MASTER_ 10
#define IFLA_LINKINFO_ 18
#define IFLA_NET_NS_FD_ 28
#define IFLA_INFO_KIND_ 1
#define IFLA_INFO_DATA_ 2
#define VETH_INFO_PEER_ 1
#define IFA_ADDRESS_ 1
#define IFA_LOCAL_ 2
#define IFA_BROADCAST_ 4
#define RTA_GATEWAY_ 5
#define RTA_OIF_ 4
#define NLA_F_NESTED_ 0x8000

struct nlhdr { uint32_t len; uint16_t type, flags; uint32_t seq, pid; };
struct nlerr { int32_t error; struct nlhdr orig; };
struct ifinfo { uint8_t family, pad; uint16_t type; int32_t index; uint32_t flags, change; };
struct ifaddrm { uint8_t family, prefixlen, flags, scope; uint32_t index; };
struct rtm { uint8_t family, dst_len, src_len, tos, table, protocol, scope, type; uint32_t flags; };
struct rta { uint16_t len, type; };
struct sockaddr_nl_ { sa_family_t family; unsigned short pad; uint32_t pid, groups; };

#define ALIGN4(n) (((n) + 3u) & ~3u)

struct msg {
  union { struct nlhdr h; char buf[2048]; } u;
};

static void msg_init(struct msg *m, uint16_t type, uint16_t flags, const void *body, size_t n) {
  memset(m, 0, sizeof *m);
  m->u.h.type = type;
  m->u.h.flags = (uint16_t)(NLM_F_REQUEST_ | NLM_F_ACK_ | flags);
  memcpy(m->u.buf + sizeof(struct nlhdr), body, n);
  m->u.h.len = (uint32_t)ALIGN4(sizeof(struct nlhdr) + n);
}

static struct rta *attr(struct msg *m, uint16_t type, const void *data, size_t n) {
  struct rta *a = (struct rta *)(m->u.buf + m->u.h.len);
  a->type = type;
  a->len = (uint16_t)(sizeof *a + n);
  if (n) memcpy(a + 1, data, n);
  m->u.h.len += ALIGN4(a->len);
  return a;
}
static void attr_str(struct msg *m, uint16_t type, const char *s) { attr(m, type, s, strlen(s) + 1); }
static void attr_u32(struct msg *m, uint16_t type, uint32_t v) { attr(m, type, &v, 4); }
static struct rta *nest(struct msg *m, uint16_t type) { return attr(m, (uint16_t)(type | NLA_F_NESTED_), NULL, 0); }
static void nest_end(struct msg *m, struct rta *a) { a->len = (uint16_t)(m->u.buf + m->u.h.len - (char *)a); }

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE_);
  if (fd < 0) return -1;
  struct sockaddr_nl_ sa = {AF_NETLINK, 0, 0, 0};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { close(fd); return -1; }
  return fd;
}

/* Sends the request; 0 on its ACK, else -1 with errno from the kernel. With `reply`, the first
   answer that is not an error is copied there (for GETLINK). */
static int nl_talk(int fd, struct msg *m, struct msg *reply) {
  static uint32_t seq;
  m->u.h.seq = ++seq;
  if (send(fd, m->u.buf, m->u.h.len, 0) < 0) return -1;
  for (;;) {
    char buf[8192] __attribute__((aligned(4)));
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    for (size_t off = 0; off + sizeof(struct nlhdr) <= (size_t)n;) {
      struct nlhdr *h = (struct nlhdr *)(buf + off);
      if (h->len < sizeof *h || off + h->len > (size_t)n) break;
      if (h->seq == seq) {
        if (h->type == NLMSG_ERROR_) {
          int e = ((struct nlerr *)(h + 1))->error;
          if (e == 0) return 0;
          errno = -e;
          return -1;
        }
        if (reply && h->len <= sizeof reply->u.buf) memcpy(reply->u.buf, h, h->len);
      }
      off += ALIGN4(h->len);
    }
  }
}

static int link_index(int fd, const char *name) {
  struct ifinfo ifi = {0};
  struct msg m, r;
  msg_init(&m, RTM_GETLINK_, 0, &ifi, sizeof ifi);
  attr_str(&m, IFLA_IFNAME_, name);
  memset(&r, 0, sizeof r);
  if (nl_talk(fd, &m, &r) < 0) return -1;
  if (r.u.h.type != RTM_NEWLINK_) { errno = ENODEV; return -1; }
  return ((struct ifinfo *)(r.u.buf + sizeof(struct nlhdr)))->index;
}

static int link_set(int fd, int index, int up, int master, unsigned mtu) {
  struct ifinfo ifi = {0};
  ifi.index = index;
  if (up) ifi.flags = ifi.change = IFF_UP;
  struct msg m;
  msg_init(&m, RTM_NEWLINK_, 0, &ifi, sizeof ifi);
  if (master > 0) attr_u32(&m, IFLA_MASTER_, (uint32_t)master);
  if (mtu) attr_u32(&m, IFLA_MTU_, mtu);
  return nl_talk(fd, &m, NULL);
}

static int addr_add(int fd, int index, uint32_t ip, int prefix) {
  struct ifaddrm ifa = {AF_INET, (uint8_t)prefix, 0, 0, (uint32_t)index};
  struct msg m;
  msg_init(&m, RTM_NEWADDR_, NLM_F_CREATE_ | NLM_F_EXCL_, &ifa, sizeof ifa);
  attr(&m, IFA_LOCAL_, &ip, 4);
  attr(&m, IFA_ADDRESS_, &ip, 4);
  uint32_t bcast = prefix < 31 ? (ip | htonl(prefix ? 0xffffffffu >> prefix : 0xffffffffu)) : ip;
  attr(&m, IFA_BROADCAST_, &bcast, 4);
  int r = nl_talk(fd, &m, NULL);
  return r < 0 && errno == EEXIST ? 0 : r;
}

static int route_default(int fd, int index, uint32_t gw) {
  struct rtm rt = {AF_INET, 0, 0, 0, 254 /* main */, 3 /* boot */, 0 /* universe */, 1 /* unicast */, 0};
  struct msg m;
  msg_init(&m, RTM_NEWROUTE_, NLM_F_CREATE_ | NLM_F_EXCL_, &rt, sizeof rt);
  attr(&m, RTA_GATEWAY_, &gw, 4);
  attr_u32(&m, RTA_OIF_, (uint32_t)index);
  int r = nl_talk(fd, &m, NULL);
  return r < 0 && errno == EEXIST ? 0 : r;
}

static int link_del(int fd, const char *name) {
  struct ifinfo ifi = {0};
  struct msg m;
  msg_init(&m, RTM_DELLINK_, 0, &ifi, sizeof ifi);
  attr_str(&m, IFLA_IFNAME_, name);
  int r = nl_talk(fd, &m, NULL);
  return r < 0 && errno == ENODEV ? 0 : r;
}

/* The bridge NAME with the gateway address, up; its index. */
static int bridge_ensure(int fd, const char *name, uint32_t gw, int prefix, unsigned mtu) {
  int idx = link_index(fd, name);
  if (idx > 0) return idx;
  struct ifinfo ifi = {0};
  struct msg m;
  msg_init(&m, RTM_NEWLINK_, NLM_F_CREATE_ | NLM_F_EXCL_, &ifi, sizeof ifi);
  attr_str(&m, IFLA_IFNAME_, name);
  if (mtu) attr_u32(&m, IFLA_MTU_, mtu);
  struct rta *li = nest(&m, IFLA_LINKINFO_);
  attr_str(&m, IFLA_INFO_KIND_, "bridge");
  nest_end(&m, li);
  if (nl_talk(fd, &m, NULL) < 0 && errno != EEXIST) return -1;
  idx = link_index(fd, name);
  if (idx <= 0) return -1;
  if (addr_add(fd, idx, gw, prefix) < 0 || link_set(fd, idx, 1, 0, 0) < 0) return -1;
  return idx;
}

/* A veth pair: HOST here, PEER created straight in the namespace at peer_ns. */
static int veth_create(int fd, const char *host, const char *peer, int peer_ns, const unsigned char mac[6], unsigned mtu) {
  struct ifinfo ifi = {0};
  struct msg m;
  msg_init(&m, RTM_NEWLINK_, NLM_F_CREATE_ | NLM_F_EXCL_, &ifi, sizeof ifi);
  attr_str(&m, IFLA_IFNAME_, host);
  if (mtu) attr_u32(&m, IFLA_MTU_, mtu);
  struct rta *li = nest(&m, IFLA_LINKINFO_);
  attr_str(&m, IFLA_INFO_KIND_, "veth");
  struct rta *data = nest(&m, IFLA_INFO_DATA_);
  struct rta *p = nest(&m, VETH_INFO_PEER_);
  struct ifinfo pi = {0};
  memcpy(m.u.buf + m.u.h.len, &pi, sizeof pi);
  m.u.h.len += sizeof pi;
  attr_str(&m, IFLA_IFNAME_, peer);
  attr_u32(&m, IFLA_NET_NS_FD_, (uint32_t)peer_ns);
  attr(&m, IFLA_ADDRESS_, mac, 6);
  if (mtu) attr_u32(&m, IFLA_MTU_, mtu);
  nest_end(&m, p);
  nest_end(&m, data);
  nest_end(&m, li);
  return nl_talk(fd, &m, NULL);
}

/* ---------------------------------------------------------------- the holder */

static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The holder named by netns.pid when it is alive and in our user namespace: its pid, else 0. */
static pid_t holder_pid(void) {
  pid_t pid = live_pidfile("netns.pid", NULL, 0, NULL);
  if (!pid) return 0;
  char ns[64];
  snprintf(ns, sizeof ns, "/proc/%d/ns/user", (int)pid);
  return same_file(ns, "/proc/self/ns/user") ? pid : 0;
}

static int holder_still_ours(const char *dir, const struct stat *orig) {
  struct stat now;
  if (lstat(dir, &now) < 0 || now.st_dev != orig->st_dev || now.st_ino != orig->st_ino) return 0;
  char path[4200], buf[64];
  snprintf(path, sizeof path, "%s/netns.pid", dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno != ENOENT;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 1;
  buf[n] = 0;
  return atol(buf) == (long)getpid();
}

static void holder_loop(int ready) __attribute__((noreturn));
static void holder_loop(int ready) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", g_rundir);
  set_proc_title(saved_argv(), "ctr-netns"); /* g_rundir may point into the argv it overwrites */
  if (chdir("/") < 0) {}
  struct stat orig;
  if (lstat(dir, &orig) < 0) _exit(0);
  int in = inotify_init1(IN_CLOEXEC);
  if (in >= 0 && inotify_add_watch(in, dir, IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_DELETE | IN_MOVED_FROM |
                                               IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW) < 0) {
    close(in);
    in = -1;
  }
  pid_t me = getpid();
  char path[4200], line[64];
  snprintf(path, sizeof path, "%s/netns.pid", dir);
  int l = snprintf(line, sizeof line, "%d %llu\n", (int)me, proc_starttime(me));
  if (write_file_atomic(path, line, (size_t)l, 0600) < 0) _exit(0);
  if (write(ready, &me, sizeof me) != sizeof me) _exit(0);
  close(ready);
  for (;;) {
    struct pollfd p = {in, POLLIN, 0};
    int r = poll(&p, in >= 0 ? 1 : 0, in >= 0 ? -1 : 60000);
    if (r < 0) continue;
    if (in >= 0 && p.revents) {
      char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
      ssize_t n = read(in, ev, sizeof ev);
      if (n <= 0 && errno != EINTR && errno != EAGAIN) { close(in); in = -1; }
    }
    if (!holder_still_ours(dir, &orig)) _exit(0);
  }
}

/* Makes the holder (lock held by the caller); its pid. */
static pid_t holder_create(char *err, size_t errlen) {
  int pp[2];
  if (pipe2(pp, O_CLOEXEC) < 0) { snprintf(err, errlen, "pipe: %s", strerror(errno)); return -1; }
  pid_t c = fork();
  if (c < 0) { snprintf(err, errlen, "fork: %s", strerror(errno)); close(pp[0]); close(pp[1]); return -1; }
  if (c == 0) {
    close(pp[0]);
    setsid();
    if (unshare(CLONE_NEWNET) < 0) _exit(1);
    pid_t g = fork();
    if (g != 0) _exit(g < 0);
    reset_signals();
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); }
    int keep[1] = {pp[1]};
    close_fds_except(keep, 1);
    prctl(PR_SET_NAME, "ctr-netns", 0, 0, 0);
    /* lo up, for the gateway's own services later (DNS) */
    int fd = nl_open();
    int lo = fd >= 0 ? link_index(fd, "lo") : -1;
    if (lo > 0) link_set(fd, lo, 1, 0, 0);
    if (fd >= 0) close(fd);
    /* no routing between the bridges (a new namespace may inherit forwarding from the host's):
       each network stays apart. /proc/sys/net is the opener's network namespace. */
    int f = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
    if (f < 0 || write(f, "0\n", 2) != 2) _exit(1);
    close(f);
    holder_loop(pp[1]);
  }
  close(pp[1]);
  int st;
  while (waitpid(c, &st, 0) < 0 && errno == EINTR) {}
  pid_t g = 0;
  ssize_t n = read_full(pp[0], &g, sizeof g);
  close(pp[0]);
  if (n != sizeof g || g <= 0) {
    snprintf(err, errlen, "cannot create the network namespace of the user's networks%s",
             WIFEXITED(st) && WEXITSTATUS(st) == 1 ? ": unshare(CLONE_NEWNET) refused" : "");
    return -1;
  }
  return g;
}

/* An fd on the per-user network namespace, made when missing. */
static int netns_open(char *err, size_t errlen) {
  pid_t pid = holder_pid();
  if (!pid) {
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/netns.lock", g_rundir);
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lfd < 0) { snprintf(err, errlen, "opening %s: %s", lock, strerror(errno)); return -1; }
    while (flock(lfd, LOCK_EX) < 0 && errno == EINTR) {}
    pid = holder_pid();
    if (!pid) pid = holder_create(err, errlen);
    close(lfd);
    if (pid <= 0) return -1;
  }
  char ns[64];
  snprintf(ns, sizeof ns, "/proc/%d/ns/net", (int)pid);
  int fd = open(ns, O_RDONLY | O_CLOEXEC);
  if (fd < 0) snprintf(err, errlen, "opening %s: %s", ns, strerror(errno));
  return fd;
}

/* ---------------------------------------------------------------- attach */

struct endpoint {
  char bridge[IF_NAMESIZE];
  uint32_t ip, gw;
  int prefix;
  unsigned char mac[6];
  unsigned mtu;
};

/* "BRIDGE IP/PREFIX GATEWAY MAC MTU" entries separated by ';' (annotation ctr.network.endpoints) */
static int parse_endpoints(const char *text, struct endpoint *eps, int max) {
  int n = 0;
  const char *p = text;
  while (*p && n < max) {
    char br[32], ip[32], gw[32], mac[32];
    int prefix;
    unsigned mtu;
    if (sscanf(p, "%31s %31[0-9.]/%d %31s %31s %u", br, ip, &prefix, gw, mac, &mtu) != 6) return -1;
    struct endpoint *e = &eps[n];
    if (strlen(br) >= IF_NAMESIZE || prefix < 1 || prefix > 30 || inet_pton(AF_INET, ip, &e->ip) != 1 ||
        inet_pton(AF_INET, gw, &e->gw) != 1)
      return -1;
    unsigned b[6];
    if (sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) return -1;
    for (int i = 0; i < 6; i++) e->mac[i] = (unsigned char)b[i];
    snprintf(e->bridge, sizeof e->bridge, "%s", br);
    e->prefix = prefix;
    e->mtu = mtu;
    n++;
    p = strchr(p, ';');
    if (!p) break;
    p++;
  }
  return n;
}

/* The links, made by a child: a socket of rtnetlink belongs to the namespace its maker was in,
   and we could not come back to the host's network namespace after entering another one. */
static int attach_in_child(int users, int ctr_ns, struct endpoint *eps, int n, int relink, char *err, size_t errlen) {
  int ufd = -1, cfd = -1;
  if (setns(users, CLONE_NEWNET) < 0 || (ufd = nl_open()) < 0 || setns(ctr_ns, CLONE_NEWNET) < 0 || (cfd = nl_open()) < 0) {
    snprintf(err, errlen, "entering the network namespaces: %s", strerror(errno));
    return -1;
  }
  for (int i = 0; i < n; i++) {
    struct endpoint *e = &eps[i];
    const char *step = "the bridge";
    int br = bridge_ensure(ufd, e->bridge, e->gw, e->prefix, e->mtu);
    if (br < 0) goto fail;
    char host[IF_NAMESIZE], peer[IF_NAMESIZE];
    unsigned char rnd[5];
    int rf = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (rf < 0 || read_full(rf, rnd, sizeof rnd) != (ssize_t)sizeof rnd) memset(rnd, i, sizeof rnd);
    if (rf >= 0) close(rf);
    snprintf(host, sizeof host, "veth%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4]);
    snprintf(peer, sizeof peer, "eth%d", i);
    step = "the veth pair";
    /* relinking: the old link may outlive its namespace for a moment (torn down asynchronously) */
    if (relink && link_del(cfd, peer) < 0) goto fail;
    if (veth_create(ufd, host, peer, ctr_ns, e->mac, e->mtu) < 0) goto fail;
    int h = link_index(ufd, host);
    step = "the bridge port";
    if (h <= 0 || link_set(ufd, h, 1, br, 0) < 0) goto fail;
    int c = link_index(cfd, peer);
    step = "the container's address";
    if (c <= 0 || addr_add(cfd, c, e->ip, e->prefix) < 0 || link_set(cfd, c, 1, 0, 0) < 0) goto fail;
    step = "the default route";
    if (i == 0 && route_default(cfd, c, e->gw) < 0) goto fail;
    continue;
  fail:
    snprintf(err, errlen, "attaching the container to bridge %s: %s: %s", e->bridge, step, strerror(errno));
    return -1;
  }
  return 0;
}

int netns_attach(int ctr_ns, const char *endpoints, int relink, char *err, size_t errlen) {
  struct endpoint eps[8];
  int n = parse_endpoints(endpoints, eps, 8);
  if (n <= 0) { snprintf(err, errlen, "bad network endpoints \"%s\"", endpoints); return -1; }
  int users = netns_open(err, errlen);
  if (users < 0) return -1;
  int pp[2];
  if (pipe2(pp, O_CLOEXEC) < 0) { snprintf(err, errlen, "pipe: %s", strerror(errno)); close(users); return -1; }
  pid_t pid = fork();
  if (pid < 0) { snprintf(err, errlen, "fork: %s", strerror(errno)); close(users); close(pp[0]); close(pp[1]); return -1; }
  if (pid == 0) {
    close(pp[0]);
    char e[512] = "";
    int rc = attach_in_child(users, ctr_ns, eps, n, relink, e, sizeof e);
    if (rc < 0 && write_all(pp[1], e, strlen(e)) < 0) {}
    _exit(rc < 0 ? 1 : 0);
  }
  close(pp[1]);
  close(users);
  char msg[512];
  ssize_t m = read_full(pp[0], msg, sizeof msg - 1);
  close(pp[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (m > 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    msg[m > 0 ? m : 0] = 0;
    snprintf(err, errlen, "%s", m > 0 ? msg : "attaching the container to its networks failed");
    return -1;
  }
  return 0;
}

/* `net-attach PID ENDPOINTS`: links the running process PID's network namespace into the
   networks again (after the namespace that held their bridges was lost and made anew). */
int cmd_net_attach(int argc, char **argv) {
  if (argc != 3) die(125, "usage: net-attach PID ENDPOINTS");
  long pid = strtol(argv[1], NULL, 10);
  if (pid <= 0) die(125, "net-attach: bad pid %s", argv[1]);
  join_userns();
  char ns[64], err[1024];
  snprintf(ns, sizeof ns, "/proc/%ld/ns/net", pid);
  int fd = open(ns, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die_errno(125, "opening %s", ns);
  if (netns_attach(fd, argv[2], 1, err, sizeof err) < 0) die(125, "%s", err);
  close(fd);
  return 0;
}
