/* cp-out and cp-in: the two ends of `ctr cp` (see PROTOCOL.md, "Copying files (cp)").
 *
 * Both work on plain paths in the process's own view of the file system: run with --chroot
 * (a container's /proc/PID/root or its mounted rootfs) every lookup, absolute symlinks and ".."
 * included, stays inside that root (the kernel confines them); run without it they follow the
 * host's rules.
 *
 * cp-out writes one path (a file, a symlink, or a directory and everything below it) as an
 * uncompressed PAX tar whose top entry is named as the CLI says. cp-in resolves a destination,
 * reports what it found, and unpacks a tar from stdin into the directory the CLI chose, with
 * the same code as `untar`. */
#include "tarwrite.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEST_LINKS 40

/* ---- paths ---- */

/* Docker's reading of a copy path: the directory part is resolved (symlinks followed), the last
 * component is taken as it is, unless the path ends with "/" or "/." (then the whole path is
 * resolved and "." keeps meaning "the contents"). Returns a malloc'd resolved path, or NULL with
 * errno. *dot is set when the path ends in "/." or is ".". */
static char *resolve_copy_path(const char *path, int follow, int *dot) {
  size_t n = strlen(path);
  *dot = 0;
  if (n == 0) {
    errno = ENOENT;
    return NULL;
  }
  char *p = strdup(path);
  if (!p) return NULL;
  int trailing = 0;
  if ((n >= 2 && strcmp(p + n - 2, "/.") == 0) || strcmp(p, ".") == 0) {
    *dot = 1;
    trailing = 1;
  } else if (p[n - 1] == '/') {
    trailing = 1;
  }
  char *out = NULL;
  if (trailing || follow) {
    out = realpath(p, NULL);
    if (out) {
      struct stat st;
      if (trailing && (stat(out, &st) < 0 || !S_ISDIR(st.st_mode))) {
        free(out);
        out = NULL;
        errno = ENOTDIR;
      }
    }
    free(p);
    return out;
  }
  /* last component as it is */
  while (n > 1 && p[n - 1] == '/') p[--n] = 0;
  char *slash = strrchr(p, '/');
  const char *base;
  char *dir;
  if (!slash) {
    dir = realpath(".", NULL);
    base = p;
  } else if (slash == p) {
    dir = strdup("/");
    base = p + 1;
  } else {
    *slash = 0;
    dir = realpath(p, NULL);
    base = slash + 1;
  }
  if (!dir) {
    int e = errno;
    free(p);
    errno = e;
    return NULL;
  }
  if (strcmp(base, "..") == 0) { /* "a/.." is the parent of a, resolved */
    char *up = malloc(strlen(dir) + 4);
    if (up) sprintf(up, "%s/..", dir);
    out = up ? realpath(up, NULL) : NULL;
    free(up);
  } else if (!*base) {
    out = strdup(dir);
  } else {
    out = malloc(strlen(dir) + 1 + strlen(base) + 1);
    if (out) sprintf(out, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base);
  }
  int e = errno;
  free(dir);
  free(p);
  errno = e;
  return out;
}

static const char *type_name(mode_t m) {
  if (S_ISDIR(m)) return "dir";
  if (S_ISREG(m)) return "file";
  if (S_ISLNK(m)) return "symlink";
  return "other";
}

/* a JSON string body (the value is an untrusted name) */
static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
    else if (*c < 0x20 || *c == 0x7f) fprintf(f, "\\u%04x", *c);
    else fputc(*c, f);
  }
  fputc('"', f);
}

/* one line from fd 0, read a byte at a time so that nothing after it is consumed */
static char *read_line0(void) {
  size_t cap = PATH_MAX + 64, len = 0;
  char *b = malloc(cap);
  if (!b) die(125, "cp: out of memory");
  for (;;) {
    char c;
    ssize_t r = read(0, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      free(b);
      return NULL;
    }
    if (c == '\n') break;
    if (len + 1 >= cap) die(125, "cp: instruction line too long");
    b[len++] = c;
  }
  b[len] = 0;
  return b;
}

/* cp-out [--follow] [--owner UID:GID] [--no-dot] (--name NAME | --info-fd N) PATH */
int cmd_cp_out(int argc, char **argv) {
  struct tw_opts o = {.who = "cp", .fail = 1, .epipe_status = 1, .skip_pseudo = 1};
  const char *path = NULL, *name = NULL;
  int follow = 0, info_fd = -1, no_dot = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--follow") == 0) follow = 1;
    else if (strcmp(argv[i], "--no-dot") == 0) no_dot = 1;
    else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) name = argv[++i];
    else if (strcmp(argv[i], "--info-fd") == 0 && i + 1 < argc) info_fd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--owner") == 0 && i + 1 < argc) {
      unsigned long long u, g;
      if (sscanf(argv[++i], "%llu:%llu", &u, &g) != 2) die(125, "cp-out: --owner wants UID:GID");
      o.owner_set = 1;
      o.owner_uid = u;
      o.owner_gid = g;
    } else if (argv[i][0] == '-' && argv[i][1]) die(125, "cp-out: unknown option %s", argv[i]);
    else if (!path) path = argv[i];
    else die(125, "cp-out: too many arguments");
  }
  if (!path || (!name && info_fd < 0))
    die(125, "usage: cp-out [--follow] [--owner UID:GID] [--no-dot] (--name NAME | --info-fd N) PATH");
  signal(SIGPIPE, SIG_IGN);
  int dot;
  char *src = resolve_copy_path(path, follow, &dot);
  if (!src) die(1, "cp: %s: %s", show(path), strerror(errno));
  struct stat st;
  if (lstat(src, &st) < 0) die(1, "cp: %s: %s", show(path), strerror(errno));
  char *answer = NULL;
  if (info_fd >= 0) {
    FILE *f = fdopen(info_fd, "w");
    if (!f) die_errno(125, "cp-out: --info-fd %d", info_fd);
    fprintf(f, "{\"type\":\"%s\",\"size\":%lld,\"path\":", type_name(st.st_mode), (long long)st.st_size);
    json_str(f, src);
    fprintf(f, "}\n");
    if (fclose(f) != 0) die_errno(125, "cp-out: writing the information line");
    answer = read_line0();
    if (!answer || !*answer) return 0; /* the CLI decided not to copy */
    name = answer;
  }
  if (!*name || strchr(name, '/') || strcmp(name, "..") == 0 || strlen(name) > NAME_MAX)
    die(125, "cp-out: invalid name \"%s\"", show(name));
  char *rel = malloc(TW_REL_MAX);
  if (!rel) die(125, "cp: out of memory");
  /* a directory is opened itself (N ""); anything else through its parent */
  int dfd;
  const char *leaf = "";
  if (S_ISDIR(st.st_mode)) {
    dfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  } else {
    char *slash = strrchr(src, '/');
    if (!slash) die(125, "cp-out: unexpected relative path %s", show(src));
    *slash = 0;
    dfd = open(slash == src ? "/" : src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    leaf = slash + 1;
  }
  if (dfd < 0) die(1, "cp: %s: %s", show(path), strerror(errno));
  struct stat again;
  if (fstatat(dfd, *leaf ? leaf : ".", &again, AT_SYMLINK_NOFOLLOW) < 0 || again.st_ino != st.st_ino)
    die(1, "cp: %s: changed while being copied", show(path));
  (void)dot;
  if (strcmp(name, ".") == 0) {
    strcpy(rel, "./");
    o.skip_top = no_dot;
  } else {
    strcpy(rel, name);
  }
  tw_start(&o);
  tw_member(dfd, leaf, rel, strlen(rel), 0);
  tw_finish(NULL);
  free(answer);
  return 0;
}

/* ---- cp-in ---- */

/* Docker's destination: a symlink at the end is followed (its target may not exist yet).
 * Returns a malloc'd path and fills *st (*exists 0 when nothing is there). */
static char *resolve_dest(const char *path, struct stat *st, int *exists) {
  char *p = strdup(path);
  if (!p) die(125, "cp: out of memory");
  /* "DIR/" and "DIR/." name DIR; that it must be a directory is the CLI's rule to apply */
  size_t pl = strlen(p);
  int trailing = 0;
  for (;;) {
    if (pl > 1 && p[pl - 1] == '/') p[--pl] = 0, trailing = 1;
    else if (pl > 2 && p[pl - 1] == '.' && p[pl - 2] == '/') p[--pl] = 0, trailing = 1;
    else break;
  }
  for (int n = 0;; n++) {
    int dot;
    char *r = resolve_copy_path(p, 0, &dot);
    if (!r) {
      int e = errno;
      free(p);
      errno = e;
      return NULL;
    }
    if (lstat(r, st) < 0) {
      int e = errno;
      if (e != ENOENT) {
        free(r);
        free(p);
        errno = e;
        return NULL;
      }
      *exists = 0;
      free(p);
      return r;
    }
    if (!S_ISLNK(st->st_mode)) {
      *exists = !(trailing && !S_ISDIR(st->st_mode)); /* "FILE/" is a directory that is not there */
      free(p);
      return r;
    }
    if (n >= MAX_DEST_LINKS) {
      free(r);
      free(p);
      errno = ELOOP;
      return NULL;
    }
    char target[PATH_MAX];
    ssize_t tl = readlink(r, target, sizeof target - 1);
    if (tl < 0) die_errno(1, "cp: %s", show(r));
    target[tl] = 0;
    free(p);
    if (target[0] == '/') {
      p = strdup(target);
    } else {
      char *sl = strrchr(r, '/');
      *sl = 0;
      p = malloc(strlen(r) + 1 + (size_t)tl + 1);
      if (p) sprintf(p, "%s/%s", *r ? r : "", target);
    }
    free(r);
    if (!p) die(125, "cp: out of memory");
  }
}

/* cp-in [--dir-only] PATH: prints {"exists":..,"type":..,"path":..}; then (without --dir-only)
 * reads "d|f TAB DIR TAB NAME" from stdin (an empty line: stop) and unpacks the rest of stdin
 * into DIR like untar, refusing to put a directory NAME over a non-directory or the reverse. */
int cmd_cp_in(int argc, char **argv) {
  const char *path = NULL;
  int dir_only = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--dir-only") == 0) dir_only = 1;
    else if (argv[i][0] == '-' && argv[i][1]) die(125, "cp-in: unknown option %s", argv[i]);
    else if (!path) path = argv[i];
    else die(125, "cp-in: too many arguments");
  }
  if (!path) die(125, "usage: cp-in [--dir-only] PATH");
  struct stat st;
  int exists = 0;
  char *dest = resolve_dest(path, &st, &exists);
  if (!dest) {
    if (errno == ENOENT || errno == ENOTDIR) {
      printf("{\"exists\":false,\"type\":\"missing\",\"parent\":false,\"path\":");
      json_str(stdout, path);
      printf("}\n");
      fflush(stdout);
      if (dir_only) die(1, "cp: %s: no such directory", show(path));
      return 0;
    }
    die(1, "cp: %s: %s", show(path), strerror(errno));
  }
  printf("{\"exists\":%s,\"type\":\"%s\",\"parent\":true,\"path\":", exists ? "true" : "false",
         exists ? type_name(st.st_mode) : "missing");
  if (!exists) memset(&st, 0, sizeof st);
  json_str(stdout, dest);
  printf("}\n");
  if (fflush(stdout) != 0) die_errno(125, "cp-in: writing the information line");
  const char *dir = dest;
  char *line = NULL;
  if (dir_only) {
    if (!exists || !S_ISDIR(st.st_mode)) die(1, "cp: %s: not a directory", show(path));
  } else {
    line = read_line0();
    if (!line || !*line) return 0;
    char kind = line[0];
    char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    if ((kind != 'd' && kind != 'f') || !t1 || !t2) die(125, "cp-in: malformed instruction line");
    *t2 = 0;
    dir = t1 + 1;
    const char *name = t2 + 1;
    struct stat ds;
    if (stat(dir, &ds) < 0) die(1, "cp: %s: %s", show(dir), strerror(errno));
    if (!S_ISDIR(ds.st_mode)) die(1, "cp: %s: not a directory", show(dir));
    if (*name && strcmp(name, ".") != 0) {
      char *full = malloc(strlen(dir) + strlen(name) + 2);
      if (!full) die(125, "cp: out of memory");
      sprintf(full, "%s/%s", dir, name);
      struct stat es;
      if (lstat(full, &es) == 0) {
        if (S_ISDIR(es.st_mode) && kind == 'f')
          die(1, "cp: cannot overwrite directory \"%s\" with non-directory", show(full));
        if (!S_ISDIR(es.st_mode) && kind == 'd')
          die(1, "cp: cannot overwrite non-directory \"%s\" with directory", show(full));
      }
      free(full);
    }
  }
  char *uargv[] = {(char *)"untar", (char *)dir, NULL};
  return cmd_untar(2, uargv);
}
