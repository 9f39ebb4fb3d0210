/* libctr-entropy.so: getentropy() and getrandom() for the bundled ctr on kernels without the
 * getrandom system call (before Linux 3.17: EL7's 3.10).
 *
 * The embedded Node seeds OpenSSL's random generator at every start-up, before any of ctr's
 * code runs (V8's hash seeds come from it). OpenSSL asks getentropy(); on a kernel without
 * getrandom that fails with ENOSYS, and OpenSSL then waits, with no timeout, until
 * /dev/random is readable (on 3.10: until the kernel counts 64 bits of entropy in its pool)
 * unless some process already did so since boot (it leaves a SysV shared memory segment,
 * key 114, as the mark). So on a freshly booted EL7 machine with a starved pool, every ctr
 * command, even `ctr version` or `ctr ps`, could hang at start.
 *
 * This library is the binary's first DT_NEEDED entry (scripts/bundle.sh), so its two
 * functions come before the C library's. They call the kernel's getrandom and return what it
 * returns; only when the kernel does not have it (ENOSYS) do they read /dev/urandom, which
 * never blocks: what EL7's own OpenSSL 1.0.2, Go programs (Podman) and every other EL7
 * program uses, so ctr is not worse seeded than the rest of that system, and leaves no mark
 * in the host's IPC namespace. GRND_RANDOM asks for /dev/random (GRND_NONBLOCK honoured).
 * On any kernel with getrandom nothing changes.
 *
 * Built with -nostdlib: the C library calls below resolve to the bundled libc at run time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CTR_GRND_NONBLOCK 0x0001U
#define CTR_GRND_RANDOM 0x0002U

static long from_device(void *buf, size_t len, unsigned int flags) {
  const char *dev = (flags & CTR_GRND_RANDOM) ? "/dev/random" : "/dev/urandom";
  int fd = open(dev, O_RDONLY | O_CLOEXEC | O_NOCTTY | ((flags & CTR_GRND_NONBLOCK) ? O_NONBLOCK : 0));
  if (fd < 0) return -1;
  size_t got = 0;
  int err = 0;
  while (got < len) {
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    got += (size_t)n;
    if (flags & CTR_GRND_RANDOM) break; /* as the system call does: what /dev/random gave at once */
  }
  close(fd);
  if (got == 0 && err) {
    errno = err;
    return -1;
  }
  return (long)got;
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
  long r = syscall(SYS_getrandom, buf, len, flags);
  if (r >= 0 || errno != ENOSYS) return (ssize_t)r;
  return (ssize_t)from_device(buf, len, flags);
}

int getentropy(void *buf, size_t len) {
  if (len > 256) {
    errno = EIO;
    return -1;
  }
  size_t got = 0;
  while (got < len) {
    ssize_t n = getrandom((char *)buf + got, len - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += (size_t)n;
  }
  return 0;
}
