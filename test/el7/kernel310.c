/* kernel310: runs a command with only the system calls Linux 3.10 has (x86_64).
 *
 *   kernel310 [--userns-off] [--overlay-off] [--plain-renameat2] COMMAND [ARGS...]
 *
 * Installs a seccomp filter, inherited by every descendant, under which each x86_64 system
 * call numbered 314 or higher (sched_setattr, Linux 3.14, is the first one 3.10 lacks:
 * renameat2, seccomp, getrandom, memfd_create, execveat, statx, io_uring_*, pidfd_*, clone3,
 * close_range, openat2, faccessat2, mount_setattr, ...) fails with ENOSYS, as it does on
 * such a kernel. x32 system calls (bit 30 set) and every other ABI (i386 through int 0x80)
 * fail with ENOSYS too. Combined with `setarch x86_64 --uname-2.6` (the kernel then reports
 * 2.6.x from uname, an old version as EL7's 3.10 is), programs that pick code paths by
 * probing or by the kernel version take their old-kernel paths.
 *
 * --userns-off: also clone() and unshare() with CLONE_NEWUSER fail with ENOSPC, as they do on
 * EL7 by default (sysctl user.max_user_namespaces = 0).
 * --overlay-off: also mount() with no flags at all fails with EPERM, as an overlay mount in a user
 * namespace does before Linux 5.11. That is how ctr-helper mounts overlay (and nothing else
 * ctr starts mounts anything that way: proc, tmpfs, bind and FUSE mounts carry flags); seccomp
 * cannot read the file system type, which is a string.
 * --plain-renameat2: renameat2() with no flags (a plain rename, as renameat() does it) goes
 * through. For the test suite's host programs that are built for newer kernels than the ones
 * EL7 ships: Debian 12's fuse-overlayfs renames every file with renameat2 and has no fallback
 * (EL7's own build has no need of one). renameat2 with a flag (RENAME_NOREPLACE,
 * RENAME_EXCHANGE, RENAME_WHITEOUT: what 3.10 cannot do) still fails with ENOSYS.
 *
 * Run as root: the filter is installed without no_new_privs (which needs CAP_SYS_ADMIN), so
 * set-user-ID programs started under it (newuidmap, su, runuser) keep working as they do on
 * the real kernel. Features that old system calls gained later (flags, /proc files, mounts
 * in user namespaces) are not emulated.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FIRST_MISSING 314 /* __NR_sched_setattr: the first x86_64 system call after Linux 3.10 */
#define X32_BIT 0x40000000U
#define ARG_LOW(n) offsetof(struct seccomp_data, args[n]) /* little-endian: the low 32 bits */
#define ARG_HIGH(n) (offsetof(struct seccomp_data, args[n]) + 4)

/* A small assembler: jumps name a label (an instruction index, or one of the returns below),
   resolved to the relative offsets BPF wants once the program is complete. */
enum { NEXT = -1, R_ALLOW = 10000, R_ENOSYS, R_ENOSPC, R_EPERM };
struct ins {
  unsigned short code;
  unsigned int k;
  int jt, jf;
};
static struct ins P[64];
static int np;
static int emit(unsigned short code, unsigned int k, int jt, int jf) {
  P[np] = (struct ins){code, k, jt, jf};
  return np++;
}
static int ld(unsigned int off) { return emit(BPF_LD | BPF_W | BPF_ABS, off, 0, 0); }
static int jeq(unsigned int k, int jt, int jf) { return emit(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf); }
static int jge(unsigned int k, int jt, int jf) { return emit(BPF_JMP | BPF_JGE | BPF_K, k, jt, jf); }
static int jset(unsigned int k, int jt, int jf) { return emit(BPF_JMP | BPF_JSET | BPF_K, k, jt, jf); }

int main(int argc, char **argv) {
  int userns_off = 0, overlay_off = 0, plain_renameat2 = 0;
  for (; argc > 1 && !strncmp(argv[1], "--", 2) && strcmp(argv[1], "--help"); argv++, argc--) {
    if (!strcmp(argv[1], "--userns-off")) userns_off = 1;
    else if (!strcmp(argv[1], "--overlay-off")) overlay_off = 1;
    else if (!strcmp(argv[1], "--plain-renameat2")) plain_renameat2 = 1;
    else break;
  }
  if (argc < 2 || !strncmp(argv[1], "--", 2)) {
    fprintf(stderr, "usage: kernel310 [--userns-off] [--overlay-off] [--plain-renameat2] COMMAND [ARGS...]\n");
    return 125;
  }
  /* The program: the labels L_* are filled in as the instructions they name are emitted. */
  ld(offsetof(struct seccomp_data, arch));
  jeq(AUDIT_ARCH_X86_64, NEXT, R_ENOSYS);
  ld(offsetof(struct seccomp_data, nr));
  jge(X32_BIT, R_ENOSYS, NEXT);
  if (plain_renameat2) {
    int j = jeq(SYS_renameat2, NEXT, 0); /* jf patched below */
    ld(ARG_LOW(4));
    jeq(0, NEXT, R_ENOSYS);
    ld(ARG_HIGH(4));
    jeq(0, R_ALLOW, R_ENOSYS);
    P[j].jf = np;
  }
  jge(FIRST_MISSING, R_ENOSYS, NEXT);
  if (userns_off) {
    int a = jeq(SYS_clone, 0, NEXT), b = jeq(SYS_unshare, 0, 0);
    int chk = ld(ARG_LOW(0));
    P[a].jt = P[b].jt = chk;
    jset(CLONE_NEWUSER, R_ENOSPC, R_ALLOW);
    P[b].jf = np;
  }
  if (overlay_off) {
    jeq(SYS_mount, NEXT, R_ALLOW);
    ld(ARG_LOW(3));
    jeq(0, NEXT, R_ALLOW);
    ld(ARG_HIGH(3));
    jeq(0, R_EPERM, R_ALLOW);
  }
  int base = np;
  emit(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
  emit(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA), 0, 0);
  emit(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSPC & SECCOMP_RET_DATA), 0, 0);
  emit(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA), 0, 0);
  struct sock_filter f[64];
  for (int i = 0; i < np; i++) {
    int t[2] = {P[i].jt, P[i].jf};
    unsigned char rel[2] = {0, 0};
    if (BPF_CLASS(P[i].code) == BPF_JMP) {
      for (int k = 0; k < 2; k++) {
        int to = t[k] == NEXT ? i + 1 : t[k] >= R_ALLOW ? base + (t[k] - R_ALLOW) : t[k];
        if (to <= i || to - i - 1 > 255) {
          fprintf(stderr, "kernel310: bad jump in the filter at %d\n", i);
          return 125;
        }
        rel[k] = (unsigned char)(to - i - 1);
      }
    }
    f[i] = (struct sock_filter){P[i].code, rel[0], rel[1], P[i].k};
  }
  struct sock_fprog prog = {(unsigned short)np, f};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
    fprintf(stderr, "kernel310: installing the seccomp filter: %s%s\n", strerror(errno),
            errno == EACCES ? " (run as root)" : "");
    return 125;
  }
  execvp(argv[1], argv + 1);
  fprintf(stderr, "kernel310: cannot run %s: %s\n", argv[1], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
