/* A user namespace of the container's own (OCI: a "user" entry in linux.namespaces, with
 * linux.uidMappings and linux.gidMappings), nested in the one the helper runs in: ctr's
 * --userns=keep-id. The monitor clones the init with CLONE_NEWUSER and writes the maps (it is
 * root of the parent namespace, so any IDs of that namespace may be mapped, several lines,
 * setgroups left allowed); the init waits for them before it does anything else, then becomes
 * root of its namespace. With the fuse-overlayfs driver the rootfs is mounted with the same
 * maps (uidmapping/gidmapping), so the image's files keep the owners the image gave them as seen
 * from inside; the kernel's overlay cannot be ID-mapped rootless. See PROTOCOL.md. */
#include "runtime.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* linux.uidMappings / gidMappings: [{containerID, hostID, size}, ...] */
int idmap_parse(const struct json *arr, struct idmap_spec **out, size_t *n, const char *what, char *err, size_t errlen) {
  *n = 0;
  if (!arr || arr->type != J_ARR || !arr->child) {
    snprintf(err, errlen, "a user namespace needs linux.%s", what);
    return -1;
  }
  for (const struct json *c = arr->child; c; c = c->next) {
    int ok1 = 0, ok2 = 0, ok3 = 0;
    double ci = json_num(c, "containerID", &ok1), hi = json_num(c, "hostID", &ok2), sz = json_num(c, "size", &ok3);
    if (!ok1 || !ok2 || !ok3 || ci < 0 || hi < 0 || sz < 1 || ci + sz > 4294967296.0 || hi + sz > 4294967296.0 ||
        ci != (double)(unsigned long)ci || hi != (double)(unsigned long)hi || sz != (double)(unsigned long)sz) {
      snprintf(err, errlen, "linux.%s: each entry needs containerID, hostID and size (whole numbers, size >= 1)", what);
      return -1;
    }
    if (*n >= IDMAP_MAX) {
      snprintf(err, errlen, "linux.%s: more than %d entries", what, IDMAP_MAX);
      return -1;
    }
    if (!*out) *out = xmalloc(IDMAP_MAX * sizeof **out);
    (*out)[(*n)++] = (struct idmap_spec){(unsigned long)ci, (unsigned long)hi, (unsigned long)sz};
  }
  return 0;
}

static int write_map(pid_t pid, const char *file, const struct idmap_spec *m, size_t n) {
  struct sbuf b = {0};
  for (size_t i = 0; i < n; i++) sb_printf(&b, "%lu %lu %lu\n", m[i].c, m[i].h, m[i].n);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  int rc = fd < 0 ? -1 : (write(fd, b.p, b.len) == (ssize_t)b.len ? 0 : -1);
  int e = errno;
  if (fd >= 0) close(fd);
  sb_free(&b);
  errno = e;
  return rc;
}

int idmap_write(pid_t pid, const struct spec *s, char *err, size_t errlen) {
  if (write_map(pid, "uid_map", s->uidmap, s->nuidmap) < 0) {
    snprintf(err, errlen, "writing the uid map of the container's user namespace: %s; its IDs must be mapped in ours "
                          "(ctr-helper id-map)", strerror(errno));
    return -1;
  }
  if (write_map(pid, "gid_map", s->gidmap, s->ngidmap) < 0) {
    snprintf(err, errlen, "writing the gid map of the container's user namespace: %s; its IDs must be mapped in ours "
                          "(ctr-helper id-map)", strerror(errno));
    return -1;
  }
  return 0;
}

void idmap_child_wait(int fd) {
  char c = 0;
  ssize_t r;
  while ((r = recv(fd, &c, 1, 0)) < 0 && errno == EINTR) {}
  if (r != 1 || c != 'U') _exit(125); /* the monitor reports why */
  if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
    child_fail(fd, 125, "becoming root in the container's user namespace: %s; the maps must map 0", strerror(errno));
  /* a change of credentials clears the parent-death signal */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
}

/* ",uidmapping=C:H:N[:C:H:N...],gidmapping=..." for fuse-overlayfs */
void idmap_fuse_opts(const struct spec *s, struct sbuf *b) {
  sb_puts(b, ",uidmapping=");
  for (size_t i = 0; i < s->nuidmap; i++)
    sb_printf(b, "%s%lu:%lu:%lu", i ? ":" : "", s->uidmap[i].c, s->uidmap[i].h, s->uidmap[i].n);
  sb_puts(b, ",gidmapping=");
  for (size_t i = 0; i < s->ngidmap; i++)
    sb_printf(b, "%s%lu:%lu:%lu", i ? ":" : "", s->gidmap[i].c, s->gidmap[i].h, s->gidmap[i].n);
}
