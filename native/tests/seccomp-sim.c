/* seccomp-sim PROFILE.json: compiles an OCI linux.seccomp object (the file's top level) with
   native/seccomp.c, runs the BPF program in an interpreter for every syscall number of every
   ABI the profile enables (and numbers past the tables, foreign ABIs, argument values around
   each compared value), and compares each answer with a direct reading of the profile.
   Prints "ok CHECKS INSNS" and exits 0, or prints the first mismatches and exits 1.
   Built and run by test/unit/seccomp-bpf.test.ts. */
#include "../runtime.h"
#include "../syscalls.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int g_debug;
const char *g_rundir;
void die(int s, const char *f, ...) {
  fprintf(stderr, "die: %s\n", f);
  exit(s);
}

struct insn {
  uint16_t code;
  uint8_t jt, jf;
  uint32_t k;
};
struct data {
  int nr;
  uint32_t arch;
  uint64_t ip;
  uint64_t args[6];
};

#define A_X86_64 0xc000003eU
#define A_I386 0x40000003U
#define X32 0x40000000U
#define ALLOW 0x7fff0000U
#define ERRNO 0x00050000U
#define KILLP 0x80000000U

static const struct insn *prog;
static size_t plen;

static uint32_t run(const struct data *d) {
  uint32_t a = 0;
  size_t pc = 0, steps = 0;
  while (pc < plen) {
    if (++steps > 100000) { fprintf(stderr, "loop\n"); exit(2); }
    const struct insn *i = &prog[pc];
    switch (i->code) {
    case 0x20: /* ld w abs */
      if (i->k % 4 || i->k >= sizeof *d) { fprintf(stderr, "bad load %u\n", i->k); exit(2); }
      memcpy(&a, (const char *)d + i->k, 4);
      pc++;
      break;
    case 0x54: a &= i->k; pc++; break; /* alu and k */
    case 0x05: pc += 1 + i->k; break;  /* ja */
    case 0x15: pc += 1 + (a == i->k ? i->jt : i->jf); break;
    case 0x25: pc += 1 + (a > i->k ? i->jt : i->jf); break;
    case 0x35: pc += 1 + (a >= i->k ? i->jt : i->jf); break;
    case 0x06: return i->k;
    default: fprintf(stderr, "bad opcode %#x at %zu\n", i->code, pc); exit(2);
    }
  }
  fprintf(stderr, "fell off the end\n");
  exit(2);
}

/* ---- the profile read directly ---- */
struct cnd {
  int idx;
  const char *op;
  uint64_t v, v2;
};
struct rl {
  uint32_t act;
  struct cnd c[6];
  int nc;
  const struct json *names;
  uint8_t has[3][600]; /* per ABI: the numbers its names have */
};
static struct rl rules[512];
static int nrules;
static uint32_t dflt;
static int abi_on[3];
static int abi_max[3];

static uint32_t action(const char *name, const struct json *eno, int d) {
  int e = eno && eno->type == J_NUM ? (int)eno->num : d;
  if (!strcmp(name, "SCMP_ACT_ALLOW")) return ALLOW;
  if (!strcmp(name, "SCMP_ACT_ERRNO")) return ERRNO | (uint32_t)e;
  if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD")) return 0;
  if (!strcmp(name, "SCMP_ACT_KILL_PROCESS")) return KILLP;
  if (!strcmp(name, "SCMP_ACT_TRAP")) return 0x00030000U;
  if (!strcmp(name, "SCMP_ACT_TRACE")) return 0x7ff00000U | (uint32_t)e;
  if (!strcmp(name, "SCMP_ACT_LOG")) return 0x7ffc0000U;
  fprintf(stderr, "action %s\n", name);
  exit(2);
}
static int sev(uint32_t a) {
  switch (a & 0xffff0000U) {
  case KILLP: return 7;
  case 0: return 6;
  case 0x00030000U: return 5;
  case ERRNO: return 4;
  case 0x7ff00000U: return 3;
  case 0x7ffc0000U: return 2;
  default: return 1;
  }
}
static int names_nr(const struct rl *r, int abi, int nr) { return nr >= 0 && nr < 600 && r->has[abi][nr]; }
static int holds(const struct cnd *c, const uint64_t *args) {
  uint64_t x = args[c->idx];
  if (!strcmp(c->op, "SCMP_CMP_EQ")) return x == c->v;
  if (!strcmp(c->op, "SCMP_CMP_NE")) return x != c->v;
  if (!strcmp(c->op, "SCMP_CMP_LT")) return x < c->v;
  if (!strcmp(c->op, "SCMP_CMP_LE")) return x <= c->v;
  if (!strcmp(c->op, "SCMP_CMP_GT")) return x > c->v;
  if (!strcmp(c->op, "SCMP_CMP_GE")) return x >= c->v;
  return (x & c->v) == c->v2; /* MASKED_EQ */
}
static uint32_t expect(int abi, uint32_t nr_raw, const uint64_t *args) {
  if (abi == 0 && nr_raw >= X32) abi = 2; /* the x32 bit: an x32 call */
  if (!abi_on[abi]) return KILLP;
  int nr = abi == 2 ? (int)(nr_raw - X32) : (int)nr_raw; /* negative: never in a table */
  for (int r = 0; r < nrules && nr >= 0; r++)
    if (rules[r].nc && names_nr(&rules[r], abi, nr)) {
      int all = 1;
      for (int k = 0; k < rules[r].nc; k++) all &= holds(&rules[r].c[k], args);
      if (all) return rules[r].act;
    }
  int found = 0;
  uint32_t best = 0;
  for (int r = 0; r < nrules && nr >= 0; r++)
    if (!rules[r].nc && names_nr(&rules[r], abi, nr) && (!found || sev(rules[r].act) > sev(best))) {
      best = rules[r].act;
      found = 1;
    }
  if (found) return best;
  int blocking = sev(dflt) >= 4;
  if (blocking && (nr < 0 || nr > abi_max[abi])) return ERRNO | ENOSYS;
  return dflt;
}

static uint64_t rnd(void) {
  static uint64_t s = 0x9e3779b97f4a7c15ULL;
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  char err[300];
  struct json *sec = json_parse_file(argv[1], err, sizeof err);
  if (!sec) { fprintf(stderr, "%s\n", err); return 2; }
  struct seccomp_prog sp;
  if (seccomp_compile(sec, &sp, err, sizeof err) < 0) { printf("compile error: %s\n", err); return 1; }
  prog = (const struct insn *)sp.insns;
  plen = sp.len;

  dflt = action(json_str(sec, "defaultAction"), json_get(sec, "defaultErrnoRet"), EPERM);
  abi_on[0] = 1;
  struct json *ar = json_get(sec, "architectures");
  for (struct json *a = ar ? ar->child : NULL; a; a = a->next) {
    if (!strcmp(a->str, "SCMP_ARCH_X86")) abi_on[1] = 1;
    if (!strcmp(a->str, "SCMP_ARCH_X32")) abi_on[2] = 1;
  }
  abi_max[0] = abi_max[1] = abi_max[2] = -1;
  for (struct json *r = json_get(sec, "syscalls")->child; r; r = r->next) {
    struct rl *x = &rules[nrules++];
    x->act = action(json_str(r, "action"), json_get(r, "errnoRet"), EPERM);
    x->names = json_get(r, "names");
    struct json *args = json_get(r, "args");
    for (struct json *a = args ? args->child : NULL; a; a = a->next) {
      int ok;
      struct cnd *c = &x->c[x->nc++];
      c->idx = (int)json_num(a, "index", &ok);
      c->op = json_str(a, "op");
      c->v = (uint64_t)json_num(a, "value", &ok);
      c->v2 = (uint64_t)json_num(a, "valueTwo", &ok);
    }
    for (const struct json *n = x->names->child; n; n = n->next)
      for (size_t i = 0; i < sizeof sc_table / sizeof sc_table[0]; i++)
        if (!strcmp(sc_table[i].name, n->str))
          for (int abi = 0; abi < 3; abi++) {
            int nr = sc_table[i].nr[abi];
            if (nr > abi_max[abi]) abi_max[abi] = nr;
            if (nr >= 0 && nr < 600) x->has[abi][nr] = 1;
          }
  }

  long checks = 0, bad = 0;
  static const uint32_t extra[] = {600, 1000, 4095, 0x3fffffffU, 0x40000000U + 600, 0x7fffffffU, 0x80000000U, 0xffffffffU};
  for (int abi = 0; abi < 3; abi++) {
    for (int pass = 0; pass < 2; pass++) {
      int count = pass == 0 ? 600 : (int)(sizeof extra / sizeof extra[0]);
      for (int k = 0; k < count; k++) {
        uint32_t nr = pass == 0 ? (uint32_t)k + (abi == 2 ? X32 : 0) : extra[k];
        if (abi == 2 && nr < X32) continue;
        /* argument vectors: random, and each compared value of the rules naming it, +-1 */
        uint64_t vals[64];
        int nv = 0;
        for (int r = 0; r < nrules && nv < 50; r++)
          for (int c = 0; c < rules[r].nc && nv < 50; c++) {
            uint64_t v = rules[r].c[c].v, v2 = rules[r].c[c].v2;
            vals[nv++] = v; vals[nv++] = v - 1; vals[nv++] = v + 1; vals[nv++] = v2;
            vals[nv++] = v | (1ULL << 32);
          }
        for (int t = 0; t < nv + 8; t++) {
          struct data d;
          memset(&d, 0, sizeof d);
          d.nr = (int)nr;
          d.arch = abi == 1 ? A_I386 : A_X86_64;
          for (int i = 0; i < 6; i++) {
            d.args[i] = t < nv ? vals[t] : rnd();
            if (t >= nv && (rnd() & 1)) d.args[i] &= 0xffffffffU;
            if (abi == 1) d.args[i] &= 0xffffffffU; /* the kernel zero-extends i386 arguments */
          }
          if (t < nv) for (int i = 1; i < 6; i++) d.args[i] = d.args[0];
          uint32_t got = run(&d), want = expect(abi, nr, d.args);
          checks++;
          if (got != want && bad++ < 10)
            printf("abi %d nr %#x args %#llx: got %#x want %#x\n", abi, nr, (unsigned long long)d.args[0], got, want);
        }
      }
    }
  }
  /* a foreign architecture is killed */
  struct data f;
  memset(&f, 0, sizeof f);
  f.arch = 0xc00000b7U; /* aarch64 */
  checks++;
  if (run(&f) != KILLP && bad++ < 10) printf("foreign arch not killed\n");
  if (bad) { printf("%ld of %ld checks failed\n", bad, checks); return 1; }
  printf("ok %ld %zu\n", checks, plen);
  return 0;
}
