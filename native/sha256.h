/* SHA-256 (FIPS 180-4) for the helper's digests: the x86 SHA instructions where the CPU has
 * them (checked at run time), portable C otherwise. */
#ifndef CTR_SHA256_H
#define CTR_SHA256_H
#include <stddef.h>
#include <stdint.h>

struct sha256 {
  uint32_t h[8];
  uint64_t total; /* bytes hashed so far */
  unsigned char buf[64];
  size_t nbuf;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, unsigned char out[32]);
/* "sha256:" and 64 lower-case hex digits, NUL-terminated (72 bytes) */
void sha256_final_digest(struct sha256 *s, char out[72]);
/* which block function runs: "sha-ni" or "portable" (tests and debugging) */
const char *sha256_impl(void);

#endif
