/* A small JSON reader (config.json, process.json) and writer helpers. */
#ifndef CTR_JSON_H
#define CTR_JSON_H

#include <stddef.h>
#include <stdint.h>

enum json_type { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct json {
  enum json_type type;
  char *key;          /* member name when inside an object */
  char *str;          /* J_STR: decoded, NUL-terminated */
  double num;         /* J_NUM */
  int b;              /* J_BOOL */
  struct json *child; /* J_ARR / J_OBJ: first element */
  struct json *next;  /* next sibling */
};

/* Parses TEXT; on failure returns NULL and puts a short reason in ERR. */
struct json *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct json *j);
/* Reads and parses a whole file (NULL and ERR set on failure). */
struct json *json_parse_file(const char *path, char *err, size_t errlen);

struct json *json_get(const struct json *obj, const char *key);
const char *json_str(const struct json *obj, const char *key);  /* NULL unless a string */
int json_bool(const struct json *obj, const char *key, int dflt);
/* Number member; returns 0 and sets *ok=0 when missing or not a number. */
double json_num(const struct json *obj, const char *key, int *ok);
/* Array of strings as a malloc'ed NULL-terminated vector (pointers into the tree). */
char **json_strv(const struct json *arr, size_t *n);

/* Growable string buffer for output. */
struct sbuf {
  char *p;
  size_t len, cap;
};
void sb_putn(struct sbuf *b, const char *s, size_t n);
void sb_puts(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends S (N bytes) as a quoted JSON string; invalid UTF-8 becomes U+FFFD. */
void sb_json_str(struct sbuf *b, const char *s, size_t n);
void sb_free(struct sbuf *b);

#endif
