/* The container log (Docker's json-file lines, one per output line, rotated by size over a
   fixed number of files) and the monitor's other records, written so that a full disk loses
   output (and says so) but never the exit code.

   Room: the log keeps blocks allocated past its end (fallocate KEEP_SIZE, taken LOG_RESERVE_CHUNK
   at a time), always at least LOG_NOTE_ROOM beyond what it holds. Output is written only into
   blocks already taken; when no more can be taken (ENOSPC, EDQUOT) the output is dropped and
   counted, and one line saying how much and why goes into the log before the next output that
   fits, or at the end into the room kept for it. A write that fails half-way (EIO) is cut back
   to the last whole line. File systems without fallocate get plain appends and the note when a
   later write succeeds. */
#include "runtime.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PARTIAL_MAX 16384
#define LOG_RESERVE_CHUNK (64 * 1024)
#define LOG_NOTE_ROOM 256

static int open_log(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/* Takes blocks for n more bytes plus the note's room; -1 (errno set) when the disk has none. */
static int reserve(struct logger *l, unsigned long long n) {
  if (!l->prealloc) return 0;
  unsigned long long need = l->size + n + LOG_NOTE_ROOM;
  if (need <= l->reserved) return 0;
  unsigned long long want = need + LOG_RESERVE_CHUNK;
  /* a small max-size: no point holding blocks far past it */
  if (l->max && want > l->max + LOG_NOTE_ROOM) want = need > l->max + LOG_NOTE_ROOM ? need : l->max + LOG_NOTE_ROOM;
  for (;;) {
    if (fallocate(l->fd, FALLOC_FL_KEEP_SIZE, (off_t)l->size, (off_t)(want - l->size)) == 0) {
      l->reserved = want;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL || errno == ENODEV) {
      l->prealloc = 0; /* plain appends from now on */
      return 0;
    }
    if (want == need) return -1;
    want = need; /* less than a chunk may still be there */
  }
}

static void drop(struct logger *l, size_t n, int e) {
  l->dropped += n;
  l->drop_errno = e;
}

/* The note about dropped output: one stderr entry. When `final` is 0 it is written only if the
   room for a later note can be kept; at the end it goes into that room. */
static void write_note(struct logger *l, int final) {
  if (!l->dropped || l->fd < 0) return;
  char why[128], ts[64];
  snprintf(why, sizeof why, "%s", strerror(l->drop_errno ? l->drop_errno : EIO));
  why[0] = (char)tolower((unsigned char)why[0]);
  char text[256];
  int tn = snprintf(text, sizeof text, "[ctr] dropped %llu bytes of output: %s\n", l->dropped, why);
  now_rfc3339(ts, sizeof ts);
  struct sbuf b = {0};
  sb_puts(&b, "{\"log\":");
  sb_json_str(&b, text, (size_t)tn);
  sb_puts(&b, ",\"stream\":\"stderr\",\"time\":\"");
  sb_puts(&b, ts);
  sb_puts(&b, "\"}\n");
  if (!final && reserve(l, b.len) < 0) {
    sb_free(&b);
    return;
  }
  if (write_all(l->fd, b.p, b.len) == 0) {
    l->size += b.len;
    l->dropped = 0;
  }
  sb_free(&b);
}

/* Appends whole entries, or drops them all (counted). */
static void append(struct logger *l, const char *p, size_t n) {
  if (!n || l->fd < 0) return;
  if (l->dropped) write_note(l, 0);
  if (reserve(l, n) < 0) {
    drop(l, n, errno);
    return;
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(l->fd, p + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = w < 0 ? errno : EIO;
      /* no half entry in the log: cut back to where this write started */
      if (done) {
        if (ftruncate(l->fd, (off_t)l->size) == 0) l->reserved = l->size;
        else l->size += done;
      }
      drop(l, n, e);
      return;
    }
    done += (size_t)w;
  }
  l->size += n;
}

int log_open(struct logger *l, const char *path, unsigned long long max, unsigned files) {
  memset(l, 0, sizeof *l);
  l->fd = -1;
  l->path = path;
  l->max = max;
  l->files = files ? files : 1;
  l->prealloc = 1;
  if (!path) return 0;
  l->fd = open_log(path);
  if (l->fd < 0) return -1;
  struct stat st;
  if (fstat(l->fd, &st) == 0) l->size = l->reserved = (unsigned long long)st.st_size;
  /* the note's room before the container runs (one block: output takes chunks as it comes) */
  if (l->prealloc && fallocate(l->fd, FALLOC_FL_KEEP_SIZE, (off_t)l->size, LOG_NOTE_ROOM) == 0) l->reserved = l->size + LOG_NOTE_ROOM;
  else if (reserve(l, 0) < 0) {
    int e = errno;
    close(l->fd);
    l->fd = -1;
    errno = e;
    return -1;
  }
  return 0;
}

/* LOG.(files-2) -> LOG.(files-1), ..., LOG -> LOG.1 (the oldest beyond the count is replaced), then
   a new LOG. With one file, a new LOG replaces the old one. Readers following the log tell a
   rotation by LOG's inode (src/container/logs-read.ts). */
static void rotate(struct logger *l) {
  char from[4200], to[4200];
  int fd;
  if (l->files <= 1) {
    snprintf(to, sizeof to, "%s.new", l->path);
    fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return;
    if (rename(to, l->path) < 0) {
      close(fd);
      unlink(to);
      return;
    }
  } else {
    for (unsigned i = l->files - 1; i >= 2; i--) {
      snprintf(from, sizeof from, "%s.%u", l->path, i - 1);
      snprintf(to, sizeof to, "%s.%u", l->path, i);
      if (rename(from, to) < 0 && errno != ENOENT) {}
    }
    snprintf(to, sizeof to, "%s.1", l->path);
    if (rename(l->path, to) < 0 && errno != ENOENT) return;
    fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return; /* the old file (now LOG.1) takes the output */
  }
  int old = l->fd;
  unsigned long long oldsize = l->size;
  l->fd = fd;
  l->size = l->reserved = 0;
  /* the old file's unused blocks are given back; if the disk is that full, before taking ours */
  if (reserve(l, 0) < 0) {
    if (ftruncate(old, (off_t)oldsize) < 0) {}
    if (reserve(l, 0) < 0) {}
  } else if (l->prealloc && ftruncate(old, (off_t)oldsize) < 0) {}
  close(old);
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
    append(l, batch.p, before);
    rotate(l);
    memmove(batch.p, batch.p + before, batch.len - before);
    batch.len -= before;
  }
}

static void commit(struct logger *l) {
  batch_ts[0] = 0;
  if (!batch.len) return;
  append(l, batch.p, batch.len);
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
  if (l->fd < 0) return;
  write_note(l, 1);
}

void log_release(struct logger *l) {
  /* a stopped container holds no blocks past its log's end */
  if (l->fd >= 0 && l->prealloc && l->reserved > l->size && ftruncate(l->fd, (off_t)l->size) == 0) l->reserved = l->size;
}

int reserve_file(struct reserved_file *r, const char *path) {
  r->fd = -1;
  r->path = path;
  r->tmp[0] = 0;
  if (!path) return 0;
  snprintf(r->tmp, sizeof r->tmp, "%s.pending", path);
  int fd = open(r->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  /* written, not fallocated: overwriting written blocks never needs new ones on any file system */
  char buf[RESERVED_FILE_SIZE];
  static const char ph[] = "{\"placeholder\":\"space kept for a record of the monitor\"}";
  memset(buf, ' ', sizeof buf);
  memcpy(buf, ph, sizeof ph - 1);
  buf[sizeof buf - 1] = '\n';
  if (write_all(fd, buf, sizeof buf) < 0) {
    int e = errno;
    close(fd);
    unlink(r->tmp);
    errno = e;
    return -1;
  }
  r->fd = fd;
  return 0;
}

int reserved_commit(struct reserved_file *r, const char *path, const char *data, size_t n) {
  if (!path) return 0;
  if (r->fd >= 0 && r->path == path && n <= RESERVED_FILE_SIZE) {
    ssize_t w;
    while ((w = pwrite(r->fd, data, n, 0)) < 0 && errno == EINTR) {}
    int ok = w == (ssize_t)n && ftruncate(r->fd, (off_t)n) == 0;
    ok = close(r->fd) == 0 && ok;
    r->fd = -1;
    if (ok && rename(r->tmp, path) == 0) return 0;
  }
  reserved_release(r);
  return write_file_atomic(path, data, n, 0644);
}

void reserved_release(struct reserved_file *r) {
  if (r->fd < 0) return;
  close(r->fd);
  r->fd = -1;
  unlink(r->tmp);
}
