/* ctr-helper: shared declarations. See PROTOCOL.md for the contract with the CLI. */
#ifndef CTR_HELPER_H
#define CTR_HELPER_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define CTR_HELPER_VERSION "0.1.0"

/* global options (main.c) */
extern const char *g_rundir;  /* --rundir */
extern int g_debug;           /* --log-level debug */

/* errors (util.c): one line on stderr, "ctr-helper: ...". die() exits with status. */
void die(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void die_errno(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* "warning: ..." */
void notex(const char *fmt, ...) __attribute__((format(printf, 1, 2)));    /* "note: ..." */
void debugx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* only with --log-level debug */

/* user namespace (userns.c). Returns 0 when joined (or when real root: nothing to join). */
int is_real_root(void);
void join_userns(void);

/* commands: each returns the process exit status */
int cmd_userns_exec(int argc, char **argv);
int cmd_id_map(int argc, char **argv);
int cmd_untar(int argc, char **argv);      /* untar.c */
void untar_load_idmaps(void);              /* untar.c: the ID maps its notes quote */
int cmd_rmtree(int argc, char **argv);     /* fsutil.c */
int cmd_mkrootfs(int argc, char **argv);   /* fsutil.c */
int cmd_tar_dir(int argc, char **argv);    /* tarwrite.c */
int cmd_mount_exec(int argc, char **argv);
int cmd_run(int argc, char **argv);        /* run.c / monitor.c / container.c */
int cmd_attach(int argc, char **argv);     /* attach.c */
int cmd_exec(int argc, char **argv);       /* exec.c */
int cmd_pids(int argc, char **argv);
int cmd_signal_all(int argc, char **argv);
int cmd_cp_out(int argc, char **argv);     /* cp.c */
int cmd_cp_in(int argc, char **argv);      /* cp.c */
int cmd_gzip(int argc, char **argv);       /* gzip.c (libdeflate) */
int cmd_sha256(int argc, char **argv);     /* sha256.c */
int cmd_net_attach(int argc, char **argv); /* netns.c */

#endif
