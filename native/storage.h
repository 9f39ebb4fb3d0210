/* Storage helpers shared by untar.c, fsutil.c (rmtree, mkrootfs) and tarwrite.c (tar-dir).
 * pathres.c: resolution of names inside a root directory (chroot semantics).
 * storage.c: removal, xattr access, an inode map, message helpers. */
#ifndef CTR_STORAGE_H
#define CTR_STORAGE_H

#include "helper.h"
#include <stdint.h>
#include <sys/stat.h>

/* ---- pathres.c ---- */

/* Called once by every storage command after join_userns(): umask 0, a higher fd limit, and
 * CTR_HELPER_NO_OPENAT2=1 (tests) forces the component-by-component resolver. */
void storage_init(void);

/* A name split for placement inside a root: leading '/', empty and "." components dropped.
 * full: the normalized name ("" for the root itself); parent: all but the last component
 * (may contain ".."); leaf: the last component ("" for the root). */
struct pr_name {
  char *full;
  char *parent;
  char *leaf;
};
int pr_split(const char *in, struct pr_name *out); /* 0, or -1 (ENOMEM) */
void pr_name_free(struct pr_name *n);

/* Open the directory PATH inside ROOTFD as if ROOTFD were "/": ".." stops at the root, absolute
 * symlinks restart at the root, every component is looked up with O_NOFOLLOW and symlinks are
 * expanded by hand (at most 40). With create, missing components are made (mode 0755).
 * Returns an O_PATH directory fd, or -1 with errno (ENOTDIR, ELOOP, ENOENT, ...). */
int pr_open_dir(int rootfd, const char *path, int create);

/* ---- storage.c ---- */

/* Remove NAME inside directory DFD: a non-directory is unlinked, a directory is removed
 * recursively without following symlinks, making directories writable where needed, and never
 * descending into another mount (fails with EXDEV). Missing is fine (returns 0).
 * On failure returns -1 with errno; *where (if set) names the failing path below NAME. */
int rm_at(int dfd, const char *name, char *where, size_t wheresz);

/* 1 when NAME in DFD (fd >= 0: that open file) is the root of a mount. */
int is_mount_root(int dfd, const char *name);

/* Extended attributes of NAME in DFD without following it (through /proc/self/fd), or of the
 * open FD when fd >= 0. Return the size, or -1 with errno. Buffers are malloc'd. */
ssize_t xa_list(int fd, int dfd, const char *name, char **out);
ssize_t xa_get(int fd, int dfd, const char *name, const char *key, unsigned char **out);
int xa_set(int fd, int dfd, const char *name, const char *key, const void *val, size_t len);
/* overlayfs' own attributes (trusted.overlay.*, user.overlay.*): never copied from archives. */
int xa_is_overlay(const char *key);
/* the directory is marked opaque (trusted.overlay.opaque or user.overlay.opaque = "y") */
int xa_is_opaque(int fd, int dfd, const char *name);

/* a map from (dev, inode) to a string: hard-link detection */
struct inomap;
struct inomap *inomap_new(void);
const char *inomap_get(struct inomap *m, dev_t dev, ino_t ino);
void inomap_put(struct inomap *m, dev_t dev, ino_t ino, const char *val);
void inomap_free(struct inomap *m);

/* a printable, single-line, bounded rendering of an untrusted name (static buffer, 2 slots) */
const char *show(const char *s);

/* write everything or return -1 */
int st_write_all(int fd, const void *buf, size_t n);

#endif
