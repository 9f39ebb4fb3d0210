/* The PAX tar writer shared by tar-dir (tarwrite.c) and cp-out (cp.c): members go to fd 1.
 *
 * Use: tw_start(&opts), then tw_member() for a top member (and what is below it) or
 * tw_children() for the contents of a directory, then tw_finish(). One archive per process.
 * Failures end the process (die) with opts.fail for what cannot be read, 125 for the rest. */
#ifndef CTR_TARWRITE_H
#define CTR_TARWRITE_H

#include "storage.h"
#include <limits.h>

/* room to give the name buffer (rel) of tw_member/tw_children */
#define TW_REL_MAX (PATH_MAX * 4 + 16)

struct tw_opts {
  const char *who;    /* the start of messages: "tar-dir", "cp" */
  int fail;           /* exit status when the source cannot be read */
  int epipe_status;   /* nonzero: the reader went away, exit with it without a message */
  int diff;           /* an overlay upper dir: 0:0 devices and opaque dirs become .wh. entries */
  int one_fs;         /* mount points below the top are listed, not entered (counted: mounts) */
  int skip_pseudo;    /* proc, sysfs, ... below the top are listed, not entered (counted: pseudo) */
  int node_xattrs;    /* also the xattrs of symlinks, devices and fifos (through /proc/self/fd) */
  int skip_top;       /* the top directory's own member is left out (its contents are not) */
  int owner_set;      /* owner_uid:owner_gid in every member instead of the files' own */
  int count_only;     /* no content read, nothing written: tw_finish gives the archive's size in bytes */
  uint64_t owner_uid, owner_gid;
};

struct tw_counts {
  uint64_t skipped_sock; /* sockets left out */
  uint64_t changed;      /* files that shrank while read (their ends are zeros) */
  uint64_t mounts;       /* with one_fs */
  uint64_t pseudo;       /* with skip_pseudo */
  uint64_t bytes;        /* the archive's size, with count_only */
};

void tw_start(const struct tw_opts *o);
/* NAME in DFD ("": DFD itself, an open directory), as the member rel[0..rlen); a directory is
 * followed by its contents. depth 0 is the top: there a missing file is an error. */
void tw_member(int dfd, const char *name, char *rel, size_t rlen, int depth);
/* the members below the open directory DFD, named rel[0..rlen) + each name, sorted */
void tw_children(int dfd, char *rel, size_t rlen, int depth);
/* The names in directory DFD but . and .., sorted (tw_cmpname), *n of them, each malloc'd;
   NULL with errno set when it cannot be read */
char **tw_sorted_names(int dfd, size_t *n);
int tw_cmpname(const void *a, const void *b);
/* the directory NAME in DFD alone as the member rel[0..rlen) + "/" (rel gets the '/'; restored) */
void tw_dir_only(int dfd, const char *name, char *rel, size_t rlen);
/* an empty marker member named REL (a ".wh." whiteout), with the times and owner of ST */
void tw_whiteout(const char *rel, const struct stat *st);
/* vfsdiff.c: the changes of ROOTFD against the layer dirs LOWERS (colon-separated, topmost
 * first) as an OCI layer diff, written with the functions above (rel: TW_REL_MAX bytes) */
void vfs_diff(int rootfd, const char *lowers, char *rel);
/* the end-of-archive blocks, flushed; the counts (may be NULL) */
void tw_finish(struct tw_counts *out);

#endif
