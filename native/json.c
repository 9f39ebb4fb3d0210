/* A small recursive-descent JSON parser and output helpers. Enough for OCI specs. */
#include "helper.h"
#include "json.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct parser {
  const char *s, *end;
  char *err;
  size_t errlen;
  int depth;
};

static void perr(struct parser *p, const char *what) {
  if (p->err && !p->err[0]) snprintf(p->err, p->errlen, "%s at offset %ld", what, (long)(p->end - p->s));
}

static void ws(struct parser *p) {
  while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static struct json *node(enum json_type t) {
  struct json *j = calloc(1, sizeof *j);
  if (!j) die(125, "out of memory");
  j->type = t;
  return j;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static size_t utf8_put(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

static char *pstring(struct parser *p) {
  /* p->s at the opening quote */
  p->s++;
  const char *start = p->s;
  size_t maxlen = 0;
  while (p->s < p->end && *p->s != '"') {
    if (*p->s == '\\') p->s++;
    p->s++;
    maxlen++;
  }
  if (p->s >= p->end) { perr(p, "unterminated string"); return NULL; }
  p->s = start;
  char *out = malloc(maxlen * 4 + 1), *o = out;
  if (!out) die(125, "out of memory");
  while (*p->s != '"') {
    unsigned char c = (unsigned char)*p->s++;
    if (c != '\\') { *o++ = (char)c; continue; }
    c = (unsigned char)*p->s++;
    switch (c) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u': {
        unsigned cp;
        if (p->end - p->s < 4 || hex4(p->s, &cp)) { free(out); perr(p, "bad \\u escape"); return NULL; }
        p->s += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
          unsigned lo;
          if (!hex4(p->s + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p->s += 6;
          }
        }
        if (cp == 0) cp = 0xfffd; /* no embedded NULs in C strings */
        o += utf8_put(o, cp);
        break;
      }
      default: free(out); perr(p, "bad escape"); return NULL;
    }
  }
  p->s++;
  *o = 0;
  return out;
}

static struct json *pvalue(struct parser *p);

static struct json *pcompound(struct parser *p, int obj) {
  struct json *j = node(obj ? J_OBJ : J_ARR), **tail = &j->child;
  p->s++;
  if (++p->depth > 200) { perr(p, "nesting too deep"); json_free(j); return NULL; }
  ws(p);
  if (p->s < p->end && *p->s == (obj ? '}' : ']')) { p->s++; p->depth--; return j; }
  for (;;) {
    char *key = NULL;
    ws(p);
    if (obj) {
      if (p->s >= p->end || *p->s != '"') { perr(p, "expected a member name"); json_free(j); return NULL; }
      if (!(key = pstring(p))) { json_free(j); return NULL; }
      ws(p);
      if (p->s >= p->end || *p->s != ':') { free(key); perr(p, "expected ':'"); json_free(j); return NULL; }
      p->s++;
    }
    struct json *v = pvalue(p);
    if (!v) { free(key); json_free(j); return NULL; }
    v->key = key;
    *tail = v;
    tail = &v->next;
    ws(p);
    if (p->s < p->end && *p->s == ',') { p->s++; continue; }
    if (p->s < p->end && *p->s == (obj ? '}' : ']')) { p->s++; break; }
    perr(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    json_free(j);
    return NULL;
  }
  p->depth--;
  return j;
}

static struct json *pvalue(struct parser *p) {
  ws(p);
  if (p->s >= p->end) { perr(p, "unexpected end"); return NULL; }
  char c = *p->s;
  if (c == '{' || c == '[') return pcompound(p, c == '{');
  if (c == '"') {
    char *s = pstring(p);
    if (!s) return NULL;
    struct json *j = node(J_STR);
    j->str = s;
    return j;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    char buf[64];
    size_t n = 0;
    while (p->s < p->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", *p->s)) buf[n++] = *p->s++;
    buf[n] = 0;
    char *e;
    double d = strtod(buf, &e);
    if (*e) { perr(p, "bad number"); return NULL; }
    struct json *j = node(J_NUM);
    j->num = d;
    return j;
  }
  static const struct { const char *w; enum json_type t; int b; } words[] = {
      {"true", J_BOOL, 1}, {"false", J_BOOL, 0}, {"null", J_NULL, 0}};
  for (size_t i = 0; i < 3; i++) {
    size_t l = strlen(words[i].w);
    if ((size_t)(p->end - p->s) >= l && memcmp(p->s, words[i].w, l) == 0) {
      p->s += l;
      struct json *j = node(words[i].t);
      j->b = words[i].b;
      return j;
    }
  }
  perr(p, "unexpected character");
  return NULL;
}

struct json *json_parse(const char *text, size_t len, char *err, size_t errlen) {
  struct parser p = {text, text + len, err, errlen, 0};
  if (err && errlen) err[0] = 0;
  struct json *j = pvalue(&p);
  if (!j) return NULL;
  ws(&p);
  if (p.s != p.end) { perr(&p, "trailing data"); json_free(j); return NULL; }
  return j;
}

struct json *json_parse_file(const char *path, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { snprintf(err, errlen, "%s", strerror(errno)); return NULL; }
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size > (64 << 20)) { close(fd); snprintf(err, errlen, "file too large"); return NULL; }
  size_t cap = (size_t)st.st_size + 1, len = 0;
  char *buf = malloc(cap);
  if (!buf) die(125, "out of memory");
  for (;;) {
    if (len == cap) { cap *= 2; buf = realloc(buf, cap); if (!buf) die(125, "out of memory"); }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { int e = errno; close(fd); free(buf); snprintf(err, errlen, "%s", strerror(e)); return NULL; }
    if (r == 0) break;
    len += (size_t)r;
  }
  close(fd);
  struct json *j = json_parse(buf, len, err, errlen);
  free(buf);
  return j;
}

void json_free(struct json *j) {
  while (j) {
    struct json *n = j->next;
    json_free(j->child);
    free(j->key);
    free(j->str);
    free(j);
    j = n;
  }
}

struct json *json_get(const struct json *obj, const char *key) {
  if (!obj || obj->type != J_OBJ) return NULL;
  struct json *found = NULL;
  for (struct json *c = obj->child; c; c = c->next)
    if (c->key && strcmp(c->key, key) == 0) found = c; /* last one wins */
  return found;
}

const char *json_str(const struct json *obj, const char *key) {
  struct json *j = json_get(obj, key);
  return j && j->type == J_STR ? j->str : NULL;
}

int json_bool(const struct json *obj, const char *key, int dflt) {
  struct json *j = json_get(obj, key);
  return j && j->type == J_BOOL ? j->b : dflt;
}

double json_num(const struct json *obj, const char *key, int *ok) {
  struct json *j = json_get(obj, key);
  if (!j || j->type != J_NUM) { if (ok) *ok = 0; return 0; }
  if (ok) *ok = 1;
  return j->num;
}

char **json_strv(const struct json *arr, size_t *n) {
  size_t k = 0;
  if (arr && arr->type == J_ARR)
    for (struct json *c = arr->child; c; c = c->next) k++;
  char **v = calloc(k + 1, sizeof *v);
  if (!v) die(125, "out of memory");
  k = 0;
  if (arr && arr->type == J_ARR)
    for (struct json *c = arr->child; c; c = c->next)
      if (c->type == J_STR) v[k++] = c->str;
  if (n) *n = k;
  return v;
}

/* ---- output ---- */

void sb_putn(struct sbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t c = b->cap ? b->cap : 256;
    while (c < b->len + n + 1) c *= 2;
    char *p = realloc(b->p, c);
    if (!p) die(125, "out of memory");
    b->p = p;
    b->cap = c;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void sb_puts(struct sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

void sb_printf(struct sbuf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) { sb_putn(b, tmp, (size_t)n); return; }
  char *big = malloc((size_t)n + 1);
  if (!big) die(125, "out of memory");
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_putn(b, big, (size_t)n);
  free(big);
}

/* Length of a valid UTF-8 sequence at S (max N bytes), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t l;
  unsigned cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) { l = 2; cp = c & 0x1f; }
  else if (c >= 0xe0 && c <= 0xef) { l = 3; cp = c & 0x0f; }
  else if (c >= 0xf0 && c <= 0xf4) { l = 4; cp = c & 0x07; }
  else return 0;
  if (n < l) return 0;
  for (size_t i = 1; i < l; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((l == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (l == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
  return l;
}

void sb_json_str(struct sbuf *b, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  sb_putn(b, "\"", 1);
  size_t i = 0, run = 0;
  while (i < n) {
    unsigned char c = s[i];
    const char *esc = NULL;
    char tmp[8];
    if (c == '"') esc = "\\\"";
    else if (c == '\\') esc = "\\\\";
    else if (c == '\n') esc = "\\n";
    else if (c == '\r') esc = "\\r";
    else if (c == '\t') esc = "\\t";
    else if (c < 0x20 || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      memcpy(tmp, "\\u00", 4);
      tmp[4] = hex[c >> 4];
      tmp[5] = hex[c & 15];
      tmp[6] = 0;
      esc = tmp;
    }
    else if (c >= 0x80) {
      size_t l = utf8_len(s + i, n - i);
      if (l) { i += l; run += l; continue; }
      esc = "\xef\xbf\xbd";
    }
    if (esc) {
      if (run) sb_putn(b, (const char *)s + i - run, run);
      run = 0;
      sb_puts(b, esc);
      i++;
    } else {
      i++;
      run++;
    }
  }
  if (run) sb_putn(b, (const char *)s + i - run, run);
  sb_putn(b, "\"", 1);
}

void sb_free(struct sbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}
