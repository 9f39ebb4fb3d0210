/* port-client: the client side of bench/ports.sh.
     port-client read HOST PORT RUNS   connect, read until EOF; per run: bytes and MiB/s
     port-client serve PORT SIZE       listens on 0.0.0.0:PORT, sends SIZE bytes to each client
                                       (one at a time, 1 MiB writes), then closes
     port-client get HOST PORT N       N times: connect, "GET / HTTP/1.0", read until EOF;
                                       prints the median and the 90th percentile in µs */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(const char *host, int port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((unsigned short)port);
    sl = sizeof *s4;
  } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((unsigned short)port);
    sl = sizeof *s6;
  } else {
    fprintf(stderr, "bad address %s\n", host);
    exit(2);
  }
  int fd = socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0) { perror("connect"); exit(1); }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static char buf[1 << 20];

static long long drain(int fd) {
  long long total = 0;
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0) total += r;
  return total;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (!strcmp(argv[1], "serve") && argc >= 4) {
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 64) < 0) { perror("serve"); return 1; }
    long long size = atoll(argv[3]);
    memset(buf, 'x', sizeof buf);
    for (;;) {
      int c = accept(l, NULL, NULL);
      if (c < 0) continue;
      long long left = size;
      while (left > 0) {
        ssize_t w = write(c, buf, left < (long long)sizeof buf ? (size_t)left : sizeof buf);
        if (w <= 0) break;
        left -= w;
      }
      close(c);
    }
  }
  if (argc < 5) { fprintf(stderr, "usage: port-client serve PORT SIZE | read|get HOST PORT N\n"); return 2; }
  int port = atoi(argv[3]), n = atoi(argv[4]);
  if (!strcmp(argv[1], "read")) {
    for (int i = 0; i < n; i++) {
      double t0 = now();
      int fd = dial(argv[2], port);
      long long got = drain(fd);
      double dt = now() - t0;
      close(fd);
      printf("%lld %.1f\n", got, got / dt / 1048576.0);
    }
    return 0;
  }
  double *t = calloc((size_t)n, sizeof *t);
  const char req[] = "GET / HTTP/1.0\r\n\r\n";
  for (int i = 0; i < n; i++) {
    double t0 = now();
    int fd = dial(argv[2], port);
    if (write(fd, req, sizeof req - 1) < 0) { perror("write"); return 1; }
    long long got = drain(fd);
    t[i] = (now() - t0) * 1e6;
    close(fd);
    if (got <= 0) { fprintf(stderr, "empty answer\n"); return 1; }
  }
  qsort(t, (size_t)n, sizeof *t, cmp);
  printf("%.0f %.0f\n", t[n / 2], t[n * 9 / 10]);
  return 0;
}
