/* kernel310: runs a command with only the system calls Linux 3.10 has (x86_64).
 *
 *   kernel310 COMMAND [ARGS...]
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
 * Run as root: the filter is installed without no_new_privs (which needs CAP_SYS_ADMIN), so
 * set-user-ID programs started under it (newuidmap, su, runuser) keep working as they do on
 * the real kernel. Features that old system calls gained later (flags, /proc files, mounts
 * in user namespaces) are not emulated.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define FIRST_MISSING 314 /* __NR_sched_setattr: the first x86_64 system call after Linux 3.10 */
#define X32_BIT 0x40000000U

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help")) {
    fprintf(stderr, "usage: kernel310 COMMAND [ARGS...]\n");
    return 125;
  }
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, FIRST_MISSING, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
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
