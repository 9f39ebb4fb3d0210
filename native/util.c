/* Error and message output shared by every command. */
#include "helper.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void vline(const char *prefix, const char *fmt, va_list ap, const char *suffix) {
  char buf[2048];
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  char line[2300];
  int m = snprintf(line, sizeof line, "%s%.*s%s\n", prefix, n, buf, suffix ? suffix : "");
  if (m > 0) {
    if ((size_t)m >= sizeof line) m = sizeof line - 1;
    ssize_t w = write(2, line, (size_t)m);
    (void)w;
  }
}

/* ctr sets CTR_ERROR_PREFIX="Error: " when the helper's stderr goes straight to the user. */
static const char *err_prefix(void) {
  const char *p = getenv("CTR_ERROR_PREFIX");
  return p ? p : "ctr-helper: ";
}

void die(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline(err_prefix(), fmt, ap, NULL);
  va_end(ap);
  _exit(status);
}

void die_errno(int status, const char *fmt, ...) {
  int e = errno;
  char suffix[300];
  snprintf(suffix, sizeof suffix, ": %s", strerror(e));
  va_list ap;
  va_start(ap, fmt);
  vline(err_prefix(), fmt, ap, suffix);
  va_end(ap);
  _exit(status);
}

void warnx_(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline("warning: ", fmt, ap, NULL);
  va_end(ap);
}

void notex(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline("note: ", fmt, ap, NULL);
  va_end(ap);
}

void debugx(const char *fmt, ...) {
  if (!g_debug) return;
  va_list ap;
  va_start(ap, fmt);
  vline("debug: ", fmt, ap, NULL);
  va_end(ap);
}
