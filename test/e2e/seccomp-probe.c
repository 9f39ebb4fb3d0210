/* A static prober for test/e2e/seccomp.test.ts, bind-mounted into containers: it makes
   syscalls and prints NAME=ok or NAME=<errno name> per probe. Arguments are chosen so that
   the kernel itself would answer something else than EPERM where it can (a bad command, a
   NULL pointer, a closed fd), so that EPERM means the seccomp filter refused the call.

   probe [NAME...]          the probes named, or all of them
   probe key-show           the session keyring: "keyring=ID name=DESCRIPTION keys=N"
   probe key-read ID        "read=VALUE" or "read=<errno>"
   probe key-add DESC VALUE "added=ID" or "added=<errno>" (a user key in the session keyring)
   probe mkdir PATH         "mkdir=ok" or "mkdir=<errno>" */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define X32_BIT 0x40000000L
#define KEY_SPEC_SESSION_KEYRING (-3)
#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_DESCRIBE 6
#define KEYCTL_READ 11

static const char *ename(int e) {
  static char b[16];
  switch (e) {
  case 0: return "ok";
  case EPERM: return "EPERM";
  case ENOSYS: return "ENOSYS";
  case EINVAL: return "EINVAL";
  case EFAULT: return "EFAULT";
  case EBADF: return "EBADF";
  case EACCES: return "EACCES";
  case ENOENT: return "ENOENT";
  case EAFNOSUPPORT: return "EAFNOSUPPORT";
  case EOPNOTSUPP: return "EOPNOTSUPP";
  case ENOKEY: return "ENOKEY";
  case EXDEV: return "EXDEV";
  case ECHILD: return "ECHILD";
  case ESRCH: return "ESRCH";
  default: snprintf(b, sizeof b, "E%d", e); return b;
  }
}

static int res(long r) { return r < 0 ? errno : 0; }

/* A syscall through the i386 ABI (int $0x80) of a 64-bit process. */
static long sys32(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  if (ret < 0 && ret > -4096) { errno = (int)-ret; return -1; }
  return ret;
}

/* Runs FN in a child (it may crash or change the process); its exit status carries the errno. */
static int in_child(int (*fn)(void)) {
  fflush(stdout);
  pid_t p = fork();
  if (p == 0) _exit(fn());
  int st;
  if (p < 0 || waitpid(p, &st, 0) < 0) return -1;
  if (WIFSIGNALED(st)) return 1000 + WTERMSIG(st);
  return WEXITSTATUS(st);
}

static int p_unshare_user(void) { return res(unshare(0x10000000 /* CLONE_NEWUSER */)); }
static int p_clone_newuser(void) {
  long r = syscall(SYS_clone, 0x10000000L | SIGCHLD, 0L, 0L, 0L, 0L);
  if (r == 0) _exit(0);
  if (r > 0) { waitpid((pid_t)r, NULL, 0); return 0; }
  return errno;
}
static int p_clone_plain(void) {
  long r = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
  if (r == 0) _exit(0);
  if (r > 0) { waitpid((pid_t)r, NULL, 0); return 0; }
  return errno;
}
static int p_i386_getpid(void) { return sys32(20, 0, 0, 0) > 0 ? 0 : errno; }
static int p_i386_keyctl(void) { return res(sys32(288, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)); }
static int p_i386_unshare(void) { return res(sys32(310, 0x10000000, 0, 0)); }
static int p_personality(void) { return res(syscall(SYS_personality, 0x0040000L /* ADDR_NO_RANDOMIZE */)); }

static void probe(const char *name) {
  int e = -1;
  long r;
  if (!strcmp(name, "getpid")) e = res(syscall(SYS_getpid));
  else if (!strcmp(name, "io_uring_setup")) e = res(syscall(425, 0L, NULL));
  else if (!strcmp(name, "add_key")) e = res(syscall(SYS_add_key, NULL, NULL, NULL, 0L, KEY_SPEC_SESSION_KEYRING));
  else if (!strcmp(name, "keyctl")) e = res(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0L));
  else if (!strcmp(name, "bpf")) e = res(syscall(SYS_bpf, -1L, NULL, 0L));
  else if (!strcmp(name, "unshare_user")) e = in_child(p_unshare_user);
  else if (!strcmp(name, "clone_newuser")) e = in_child(p_clone_newuser);
  else if (!strcmp(name, "clone_plain")) e = in_child(p_clone_plain);
  else if (!strcmp(name, "clone3")) e = res(syscall(435, NULL, 0L));
  else if (!strcmp(name, "kexec_load")) e = res(syscall(SYS_kexec_load, 0L, 0L, NULL, 0L));
  else if (!strcmp(name, "open_by_handle_at")) e = res(syscall(SYS_open_by_handle_at, -1L, NULL, 0L));
  else if (!strcmp(name, "perf_event_open")) e = res(syscall(SYS_perf_event_open, NULL, 0L, -1L, -1L, 0L));
  else if (!strcmp(name, "userfaultfd")) {
    r = syscall(SYS_userfaultfd, 1L /* UFFD_USER_MODE_ONLY */ | 02000000L /* O_CLOEXEC */);
    e = res(r);
    if (r >= 0) close((int)r);
  } else if (!strcmp(name, "kcmp")) e = res(syscall(SYS_kcmp, (long)getpid(), (long)getpid(), 0L /* KCMP_FILE */, 0L, 0L));
  else if (!strcmp(name, "ptrace")) e = res(syscall(SYS_ptrace, 0x4206L /* PTRACE_SEIZE */, 0L, 0L, 0L)); /* pid 0: ESRCH */
  else if (!strcmp(name, "socket_inet")) {
    r = socket(AF_INET, SOCK_DGRAM, 0);
    e = res(r);
    if (r >= 0) close((int)r);
  } else if (!strcmp(name, "socket_vsock")) {
    r = socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);
    e = res(r);
    if (r >= 0) close((int)r);
  } else if (!strcmp(name, "socket_alg")) {
    r = socket(38 /* AF_ALG */, SOCK_SEQPACKET, 0);
    e = res(r);
    if (r >= 0) close((int)r);
  } else if (!strcmp(name, "personality_query")) e = res(syscall(SYS_personality, 0xffffffffL));
  else if (!strcmp(name, "personality_norandom")) e = in_child(p_personality);
  else if (!strcmp(name, "nr_1000")) e = res(syscall(1000L));
  else if (!strcmp(name, "open_tree_attr")) e = res(syscall(467L, -1L, NULL, 0L, NULL, 0L));
  else if (!strcmp(name, "i386_getpid")) e = in_child(p_i386_getpid);
  else if (!strcmp(name, "i386_keyctl")) e = in_child(p_i386_keyctl);
  else if (!strcmp(name, "i386_unshare")) e = in_child(p_i386_unshare);
  else if (!strcmp(name, "x32_getpid")) e = res(syscall(X32_BIT + 39));
  else if (!strcmp(name, "x32_keyctl")) e = res(syscall(X32_BIT + 250, (long)KEYCTL_GET_KEYRING_ID, (long)KEY_SPEC_SESSION_KEYRING, 0L));
  else if (!strcmp(name, "mount")) e = res(syscall(SYS_mount, "none", "/nonexistent-dir", "tmpfs", 0L, NULL));
  else { printf("%s=unknown-probe\n", name); return; }
  if (e >= 1000) printf("%s=signal-%d\n", name, e - 1000);
  else printf("%s=%s\n", name, ename(e));
}

static const char *const all[] = {
    "getpid", "io_uring_setup", "add_key", "keyctl", "bpf", "unshare_user", "clone_newuser", "clone_plain", "clone3",
    "kexec_load", "open_by_handle_at", "perf_event_open", "userfaultfd", "kcmp", "ptrace", "socket_inet",
    "socket_vsock", "socket_alg", "personality_query", "personality_norandom", "nr_1000", "open_tree_attr",
    "i386_getpid", "i386_keyctl", "i386_unshare", "x32_getpid", "x32_keyctl", "mount",
};

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 2 && !strcmp(argv[1], "key-show")) {
    long id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0L);
    if (id < 0) { printf("keyring=%s\n", ename(errno)); return 0; }
    char desc[256] = "";
    long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, desc, sizeof desc - 1);
    if (n < 0) snprintf(desc, sizeof desc, "%s", ename(errno));
    long sz = syscall(SYS_keyctl, KEYCTL_READ, id, NULL, 0L);
    printf("keyring=%ld desc=%s keys=%ld\n", id, desc, sz < 0 ? -1 : sz / 4);
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "key-read")) {
    char buf[256];
    long n = syscall(SYS_keyctl, KEYCTL_READ, atol(argv[2]), buf, sizeof buf - 1);
    if (n < 0) printf("read=%s\n", ename(errno));
    else { buf[n < (long)sizeof buf - 1 ? n : (long)sizeof buf - 1] = 0; printf("read=%s\n", buf); }
    return 0;
  }
  if (argc == 4 && !strcmp(argv[1], "key-add")) {
    long id = syscall(SYS_add_key, "user", argv[2], argv[3], strlen(argv[3]), (long)KEY_SPEC_SESSION_KEYRING);
    if (id < 0) printf("added=%s\n", ename(errno));
    else printf("added=%ld\n", id);
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "mkdir")) {
    printf("mkdir=%s\n", ename(res(mkdir(argv[2], 0755))));
    return 0;
  }
  if (argc == 1) {
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) probe(all[i]);
    return 0;
  }
  for (int i = 1; i < argc; i++) probe(argv[i]);
  return 0;
}
