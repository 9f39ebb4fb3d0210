/* kernel310: runs a command with only the system calls Linux 3.10 has (x86_64).
 *
 *   kernel310 [--userns-off] [--overlay-off] COMMAND [ARGS...]
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

#define ARG0_LOW offsetof(struct seccomp_data, args[0]) /* little-endian: the low 32 bits */

#define ARG3_LOW offsetof(struct seccomp_data, args[3])
#define ARG3_HIGH (offsetof(struct seccomp_data, args[3]) + 4)
#define NEVER 0xffffffffU /* no system call has this number: the rule is off */

int main(int argc, char **argv) {
  int userns_off = 0, overlay_off = 0;
  for (; argc > 1 && !strncmp(argv[1], "--", 2) && strcmp(argv[1], "--help"); argv++, argc--) {
    if (!strcmp(argv[1], "--userns-off")) userns_off = 1;
    else if (!strcmp(argv[1], "--overlay-off")) overlay_off = 1;
    else break;
  }
  if (argc < 2 || !strncmp(argv[1], "--", 2)) {
    fprintf(stderr, "usage: kernel310 [--userns-off] [--overlay-off] COMMAND [ARGS...]\n");
    return 125;
  }
  struct sock_filter f[] = {
      /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 15),
      /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      /* 3 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 13, 0),
      /* 4 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, FIRST_MISSING, 12, 0),
      /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, userns_off ? SYS_clone : NEVER, 2, 0),
      /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, userns_off ? SYS_unshare : NEVER, 1, 0),
      /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, overlay_off ? SYS_mount : NEVER, 2, 7),
      /* 8 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW),
      /* 9 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 6, 5),
      /* 10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG3_LOW),
      /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
      /* 12 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG3_HIGH),
      /* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
      /* 14 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      /* 15 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 16 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSPC & SECCOMP_RET_DATA)),
      /* 17 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
    fprintf(stderr, "kernel310: installing the seccomp filter: %s%s\n", strerror(errno),
            errno == EACCES ? " (run as root)" : "");
    return 125;
  }
  execvp(argv[1], argv + 1);
  fprintf(stderr, "kernel310: cannot run %s: %s\n", argv[1], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
