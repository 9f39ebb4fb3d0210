/*
 * gzip [--level N] [--threads N] [--piece BYTES] [--output OUT] FILE
 *
 * FILE deflated as consecutive gzip members, one per PIECE bytes of input (the last one
 * shorter; an empty file gives one empty member), written to stdout in order. With --output,
 * they go to OUT instead (created, must not exist), and after each member stdout gets a line
 * with OUT's size so far: the reader takes the new bytes from the file in pieces of a megabyte
 * or two instead of a pipe's 64 KiB reads. RFC 1952 lets a
 * gzip file hold several members, and every reader (Go's, zlib's, Python's) reads them as one
 * stream. The output depends only on the input, the piece size, the level and the libdeflate
 * version, so the same layer compresses to the same blob again.
 *
 * This is how ctr compresses a plain layer for a push: libdeflate's whole-buffer compressor is
 * about twice as fast as zlib at level 1, and the pieces are deflated on several threads while
 * the main thread writes them out in order. Built only where libdeflate is (HAVE_LIBDEFLATE);
 * otherwise the command exits 125 saying so and ctr compresses with Node's zlib.
 */
#include "helper.h"
#include "runtime.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HAVE_LIBDEFLATE

int cmd_gzip(int argc, char **argv) {
  (void)argc;
  (void)argv;
  die(125, "gzip: not built in (ctr-helper was built without libdeflate)");
}

#else

#include <fcntl.h>
#include <libdeflate.h>
#include <pthread.h>
#include <sys/stat.h>

enum { SLOT_FREE, SLOT_BUSY, SLOT_DONE, SLOT_FAILED };

struct slot {
  int state;
  uint64_t piece; /* which piece the slot holds (valid when BUSY/DONE) */
  unsigned char *in, *out;
  size_t out_len;
  int err; /* errno of a failed read */
};

static struct {
  int fd, level;
  uint64_t size, piece, npieces, next; /* next piece a worker takes */
  size_t bound;
  struct slot *slots;
  unsigned nslots;
  int stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} G = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int pread_full(int fd, unsigned char *buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return EIO; /* the file shrank under us */
    got += (size_t)r;
  }
  return 0;
}

static void *worker(void *arg) {
  (void)arg;
  struct libdeflate_compressor *c = libdeflate_alloc_compressor(G.level);
  pthread_mutex_lock(&G.mu);
  for (;;) {
    if (G.stop || G.next >= G.npieces) break;
    uint64_t k = G.next;
    struct slot *s = &G.slots[k % G.nslots];
    if (s->state != SLOT_FREE) { /* the writer has not taken piece k - nslots yet */
      pthread_cond_wait(&G.cv, &G.mu);
      continue;
    }
    G.next++;
    s->state = SLOT_BUSY;
    s->piece = k;
    pthread_mutex_unlock(&G.mu);

    uint64_t off = k * G.piece;
    size_t n = (size_t)(G.size - off < G.piece ? G.size - off : G.piece);
    int err = pread_full(G.fd, s->in, n, off);
    size_t out = 0;
    if (!err && c) out = libdeflate_gzip_compress(c, s->in, n, s->out, G.bound);

    pthread_mutex_lock(&G.mu);
    s->err = err ? err : (!c ? ENOMEM : 0);
    s->out_len = out;
    s->state = (err || !c || out == 0) ? SLOT_FAILED : SLOT_DONE;
    pthread_cond_broadcast(&G.cv);
  }
  pthread_mutex_unlock(&G.mu);
  if (c) libdeflate_free_compressor(c);
  return NULL;
}

static uint64_t parse_u64(const char *opt, const char *v, uint64_t lo, uint64_t hi) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || !*v || *end || x < lo || x > hi) die(125, "gzip: invalid %s %s", opt, v);
  return x;
}

int cmd_gzip(int argc, char **argv) {
  const char *file = NULL, *output = NULL;
  uint64_t threads = 0;
  G.level = 1;
  G.piece = 4u << 20;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--level") == 0 && i + 1 < argc) G.level = (int)parse_u64("--level", argv[++i], 0, 12);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = parse_u64("--threads", argv[++i], 1, 64);
    else if (strcmp(argv[i], "--piece") == 0 && i + 1 < argc) G.piece = parse_u64("--piece", argv[++i], 4096, 256u << 20);
    else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc) output = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1]) die(125, "gzip: unknown option %s", argv[i]);
    else if (!file) file = argv[i];
    else die(125, "gzip: too many arguments; usage: gzip [--level N] [--threads N] [--piece BYTES] [--output OUT] FILE");
  }
  if (!file) die(125, "gzip: missing FILE; usage: gzip [--level N] [--threads N] [--piece BYTES] [--output OUT] FILE");
  G.fd = open(file, O_RDONLY | O_CLOEXEC);
  if (G.fd < 0) die_errno(1, "gzip: cannot open %s", file);
  struct stat st;
  if (fstat(G.fd, &st) < 0) die_errno(1, "gzip: cannot stat %s", file);
  if (!S_ISREG(st.st_mode)) die(1, "gzip: %s is not a regular file", file);
  G.size = (uint64_t)st.st_size;
  G.npieces = G.size ? (G.size + G.piece - 1) / G.piece : 1;
  if (!threads) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n < 1 ? 1 : n > 8 ? 8 : (uint64_t)n;
  }
  if (threads > G.npieces) threads = G.npieces;
  posix_fadvise(G.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  int out = 1;
  if (output) {
    out = open(output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) die_errno(1, "gzip: cannot create %s", output);
  }
  uint64_t written = 0;

  struct libdeflate_compressor *probe = libdeflate_alloc_compressor(G.level);
  if (!probe) die(125, "gzip: cannot set up the compressor (level %d)", G.level);
  G.bound = libdeflate_gzip_compress_bound(probe, (size_t)G.piece);
  libdeflate_free_compressor(probe);

  /* two slots per worker: a worker can fill one while the writer drains the other */
  G.nslots = (unsigned)(threads * 2);
  G.slots = calloc(G.nslots, sizeof *G.slots);
  if (!G.slots) die(125, "gzip: out of memory");
  for (unsigned i = 0; i < G.nslots; i++) {
    G.slots[i].in = malloc((size_t)G.piece);
    G.slots[i].out = malloc(G.bound);
    if (!G.slots[i].in || !G.slots[i].out) die(125, "gzip: out of memory");
  }
  pthread_t tids[64];
  for (uint64_t t = 0; t < threads; t++)
    if (pthread_create(&tids[t], NULL, worker, NULL) != 0) die(125, "gzip: cannot start a thread");

  int status = 0;
  for (uint64_t k = 0; k < G.npieces; k++) {
    struct slot *s = &G.slots[k % G.nslots];
    pthread_mutex_lock(&G.mu);
    while (!((s->state == SLOT_DONE || s->state == SLOT_FAILED) && s->piece == k)) pthread_cond_wait(&G.cv, &G.mu);
    pthread_mutex_unlock(&G.mu);
    if (s->state == SLOT_FAILED) {
      errno = s->err ? s->err : EIO;
      fprintf(stderr, "ctr-helper: gzip: cannot %s %s: %s\n", s->err ? "read" : "compress", file, strerror(errno));
      status = 1;
      break;
    }
    if (write_all(out, s->out, s->out_len) < 0) {
      fprintf(stderr, "ctr-helper: gzip: cannot write %s: %s\n", output ? output : "the output", strerror(errno));
      status = 1;
      break;
    }
    written += s->out_len;
    if (output) {
      char line[32];
      int n = snprintf(line, sizeof line, "%llu\n", (unsigned long long)written);
      if (write_all(1, line, (size_t)n) < 0) {
        status = 1; /* the reader is gone */
        break;
      }
    }
    pthread_mutex_lock(&G.mu);
    s->state = SLOT_FREE;
    pthread_cond_broadcast(&G.cv);
    pthread_mutex_unlock(&G.mu);
  }
  if (status) _exit(status); /* workers may be blocked: no join */
  for (uint64_t t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  return 0;
}

#endif
