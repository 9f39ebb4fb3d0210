/*
 * SHA-256 for the helper (untar's diff ID and blob digest). Written from FIPS 180-4; the block
 * function uses the x86 SHA extensions (SHA256RNDS2/MSG1/MSG2) when the CPU has them, which
 * hash several times faster than the portable one. `ctr-helper sha256` (below) exposes it to
 * the tests, which compare it with another implementation.
 */
#include "sha256.h"
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static void blocks_portable(uint32_t h[8], const unsigned char *p, size_t n) {
  for (; n; n--, p += 64) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
      w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
      uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
      uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int t = 0; t < 64; t++) {
      uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
      uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/* The state lives in two registers as the instructions want it: (A,B,E,F) and (C,D,G,H).
 * Each group of four rounds adds four message words to their constants; SHA256RNDS2 does two
 * rounds from the low half, then two from the high half. Message words 16..63 come four at a
 * time: W[t-16] + s0(W[t-15]) (MSG1), + W[t-7] (the words straddling two registers), then
 * + s1(W[t-2]) (MSG2, which handles the two words that depend on the group itself). */
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_shani(uint32_t h[8], const unsigned char *p, size_t n) {
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i dcba = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* C D A B */
  __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B); /* E F G H */
  __m128i abef = _mm_alignr_epi8(dcba, hgfe, 8);
  __m128i cdgh = _mm_blend_epi16(hgfe, dcba, 0xF0);
  for (; n; n--, p += 64) {
    __m128i abef0 = abef, cdgh0 = cdgh, m[4];
    for (int i = 0; i < 4; i++) m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
    for (int j = 0; j < 16; j++) {
      if (j >= 4) {
        __m128i x = _mm_sha256msg1_epu32(m[j & 3], m[(j - 3) & 3]);
        x = _mm_add_epi32(x, _mm_alignr_epi8(m[(j - 1) & 3], m[(j - 2) & 3], 4));
        m[j & 3] = _mm_sha256msg2_epu32(x, m[(j - 1) & 3]);
      }
      __m128i wk = _mm_add_epi32(m[j & 3], _mm_loadu_si128((const __m128i *)&K[4 * j]));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
    }
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);
  }
  __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
}

static int have_shani(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  if (!(c & bit_SSE4_1) || !(c & bit_SSSE3)) return 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return (b & (1u << 29)) != 0; /* SHA */
}
#else
static void blocks_shani(uint32_t h[8], const unsigned char *p, size_t n) { blocks_portable(h, p, n); }
static int have_shani(void) { return 0; }
#endif

typedef void (*blocks_fn)(uint32_t *, const unsigned char *, size_t);
static blocks_fn blocks;

static void pick(void) {
  if (blocks) return;
  const char *force = getenv("CTR_HELPER_SHA256"); /* "portable": the tests compare both */
  blocks = (!(force && strcmp(force, "portable") == 0) && have_shani()) ? blocks_shani : blocks_portable;
}

const char *sha256_impl(void) {
  pick();
  return blocks == blocks_shani ? "sha-ni" : "portable";
}

void sha256_init(struct sha256 *s) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  pick();
  memcpy(s->h, iv, sizeof iv);
  s->total = 0;
  s->nbuf = 0;
}

void sha256_update(struct sha256 *s, const void *data, size_t len) {
  const unsigned char *p = data;
  s->total += len;
  if (s->nbuf) {
    size_t k = 64 - s->nbuf < len ? 64 - s->nbuf : len;
    memcpy(s->buf + s->nbuf, p, k);
    s->nbuf += k, p += k, len -= k;
    if (s->nbuf < 64) return;
    blocks(s->h, s->buf, 1);
    s->nbuf = 0;
  }
  if (len >= 64) {
    blocks(s->h, p, len / 64);
    p += len & ~(size_t)63;
    len &= 63;
  }
  memcpy(s->buf, p, len);
  s->nbuf = len;
}

void sha256_final(struct sha256 *s, unsigned char out[32]) {
  uint64_t bits = s->total * 8;
  unsigned char pad[72] = {0x80};
  size_t padlen = (s->nbuf < 56 ? 56 : 120) - s->nbuf;
  for (int i = 0; i < 8; i++) pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
  sha256_update(s, pad, padlen + 8);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (unsigned char)(s->h[i] >> 24);
    out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
    out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
    out[4 * i + 3] = (unsigned char)s->h[i];
  }
}

void sha256_final_digest(struct sha256 *s, char out[72]) {
  unsigned char d[32];
  sha256_final(s, d);
  memcpy(out, "sha256:", 7);
  for (int i = 0; i < 32; i++) snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

/* sha256 [FILE]: the digest of FILE (or stdin) and the implementation used, for the tests */
int cmd_sha256(int argc, char **argv) {
  if (argc > 2) die(125, "sha256: usage: sha256 [FILE]");
  int fd = 0;
  if (argc == 2 && (fd = open(argv[1], O_RDONLY | O_CLOEXEC)) < 0) die_errno(125, "sha256: cannot open %s", argv[1]);
  struct sha256 s;
  sha256_init(&s);
  static unsigned char buf[1 << 16];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die_errno(125, "sha256: read");
    if (r == 0) break;
    /* odd-sized updates on purpose: they cross block boundaries the way stream input does */
    size_t half = (size_t)r / 3;
    sha256_update(&s, buf, half);
    sha256_update(&s, buf + half, (size_t)r - half);
  }
  char d[72];
  sha256_final_digest(&s, d);
  printf("%s %s\n", d, sha256_impl());
  return 0;
}
