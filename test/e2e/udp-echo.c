/* A tiny UDP echo responder for the port publishing tests (busybox nc has no -u): answers
   each datagram on 0.0.0.0:PORT with "echo:" and the datagram. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 7;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port), .sin_addr = {htonl(INADDR_ANY)}};
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("udp-echo"); return 1; }
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    char buf[2048], out[2100];
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &pl);
    if (n < 0) continue;
    memcpy(out, "echo:", 5);
    memcpy(out + 5, buf, (size_t)n);
    sendto(fd, out, (size_t)n + 5, 0, (struct sockaddr *)&peer, pl);
  }
}
