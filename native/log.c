/* The container log: Docker's json-file lines, one per output line, with size rotation. */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PARTIAL_MAX 16384

int log_open(struct logger *l, const char *path, unsigned long long max) {
  memset(l, 0, sizeof *l);
  l->fd = -1;
  l->path = path;
  l->max = max;
  if (!path) return 0;
  l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (l->fd < 0) return -1;
  struct stat st;
  if (fstat(l->fd, &st) == 0) l->size = (unsigned long long)st.st_size;
  return 0;
}

static void rotate(struct logger *l) {
  char old[4200];
  snprintf(old, sizeof old, "%s.1", l->path);
  if (rename(l->path, old) < 0 && errno != ENOENT) return;
  int fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return;
  close(l->fd);
  l->fd = fd;
  l->size = 0;
}

/* Entries of one output chunk are built into one buffer and written with one write(2). */
static struct sbuf batch;
static char batch_ts[64];

static void emit(struct logger *l, int stream, const char *s, size_t n) {
  if (!batch_ts[0]) now_rfc3339(batch_ts, sizeof batch_ts);
  size_t before = batch.len;
  sb_puts(&batch, "{\"log\":");
  sb_json_str(&batch, s, n);
  sb_puts(&batch, stream == 2 ? ",\"stream\":\"stderr\",\"time\":\"" : ",\"stream\":\"stdout\",\"time\":\"");
  sb_puts(&batch, batch_ts);
  sb_puts(&batch, "\"}\n");
  /* this entry would pass the limit: what came before goes to the current file, then rotate */
  if (l->max && l->size + batch.len > l->max && l->size + before > 0) {
    if (before && write_all(l->fd, batch.p, before) == 0) l->size += before;
    rotate(l);
    memmove(batch.p, batch.p + before, batch.len - before);
    batch.len -= before;
  }
}

static void commit(struct logger *l) {
  batch_ts[0] = 0;
  if (!batch.len) return;
  if (write_all(l->fd, batch.p, batch.len) == 0) l->size += batch.len;
  if (batch.cap > 65536) sb_free(&batch);
  else batch.len = 0;
}

void log_write(struct logger *l, int stream, const char *buf, size_t n) {
  if (l->fd < 0 || n == 0) return;
  int k = stream == 2 ? 1 : 0;
  while (n) {
    const char *nl = memchr(buf, '\n', n);
    size_t take = nl ? (size_t)(nl - buf) + 1 : n;
    if (nl || l->plen[k] + take >= LOG_PARTIAL_MAX) {
      if (l->plen[k]) {
        /* complete the pending partial line */
        char *p = realloc(l->pend[k], l->plen[k] + take);
        if (!p) return;
        memcpy(p + l->plen[k], buf, take);
        emit(l, stream, p, l->plen[k] + take);
        free(p);
        l->pend[k] = NULL;
        l->plen[k] = 0;
      } else {
        emit(l, stream, buf, take);
      }
    } else {
      char *p = realloc(l->pend[k], l->plen[k] + take);
      if (!p) return;
      memcpy(p + l->plen[k], buf, take);
      l->pend[k] = p;
      l->plen[k] += take;
    }
    buf += take;
    n -= take;
  }
  commit(l);
}

void log_flush(struct logger *l) {
  for (int k = 0; k < 2; k++) {
    if (l->plen[k] && l->fd >= 0) {
      emit(l, k ? 2 : 1, l->pend[k], l->plen[k]);
      commit(l);
    }
    free(l->pend[k]);
    l->pend[k] = NULL;
    l->plen[k] = 0;
  }
}
