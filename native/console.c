/* Pseudo-terminals (allocated from the container's own devpts), fd passing, raw mode. */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

int pty_open(int *master, int *slave, char *err, size_t errlen) {
  int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) { snprintf(err, errlen, "opening /dev/ptmx: %s", strerror(errno)); return -1; }
  int unlock = 0;
  if (ioctl(m, TIOCSPTLCK, &unlock) < 0) {
    snprintf(err, errlen, "unlocking the pty: %s", strerror(errno));
    close(m);
    return -1;
  }
  int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) {
    unsigned n;
    char path[64];
    if (ioctl(m, TIOCGPTN, &n) < 0) {
      snprintf(err, errlen, "getting the pty number: %s", strerror(errno));
      close(m);
      return -1;
    }
    snprintf(path, sizeof path, "/dev/pts/%u", n);
    s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
      snprintf(err, errlen, "opening %s: %s", path, strerror(errno));
      close(m);
      return -1;
    }
  }
  *master = m;
  *slave = s;
  return 0;
}

int send_fd(int sock, const void *msg, size_t n, int fd) {
  struct iovec iov = {(void *)msg, n};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (fd >= 0) {
    memset(&u, 0, sizeof u);
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t r;
  while ((r = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR) {}
  return r < 0 ? -1 : 0;
}

ssize_t recv_fd(int sock, void *msg, size_t n, int *fd) {
  struct iovec iov = {msg, n};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = u.buf;
  mh.msg_controllen = sizeof u.buf;
  *fd = -1;
  ssize_t r;
  while ((r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
  if (r < 0) return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(c), sizeof *fd);
  return r;
}

int term_raw(int fd, struct termios *saved) {
  if (tcgetattr(fd, saved) < 0) return -1;
  struct termios t = *saved;
  cfmakeraw(&t);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  return tcsetattr(fd, TCSADRAIN, &t);
}

void term_restore(int fd, const struct termios *saved) { tcsetattr(fd, TCSADRAIN, saved); }
