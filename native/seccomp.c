/* Seccomp: compiles an OCI linux.seccomp object into a classic BPF program and loads it.

   No libseccomp: the helper is one static binary that must also run where libseccomp is old
   or missing. The program, for x86_64 with the i386 and x32 ABIs:

     load arch; x86_64 -> A, i386 -> B (when listed), anything else -> kill the process
     A: load nr; nr >= the x32 bit -> C (when x32 is listed, else kill); tree of x86_64 numbers
     B: tree of i386 numbers          C: tree of x32 numbers
     chains: one block per distinct decision (rules with argument checks in order, then the
             unconditional action or the default), shared by every syscall and ABI using it

   Each tree is a binary search (jge) over intervals of syscall numbers that share a chain,
   so a syscall costs about log2(intervals) comparisons. Syscall numbers above the highest
   one the profile names for that ABI get ENOSYS instead of the default action when the
   default refuses (errno, kill, trap): a newer libc then falls back to an older call rather
   than failing with EPERM (the same rule runc applies). Syscalls the profile names that this
   ABI lacks are skipped, as are names unknown to the table (syscalls.h, see gen-syscalls.sh).

   Precedence for one syscall: its rules with argument conditions, in profile order, the
   first whose conditions all hold deciding; then its unconditional rules (the most
   restrictive action among them); then the default action. Arguments are compared as 64-bit
   values (i386 arguments are zero-extended by the kernel). Values come from JSON numbers, so
   they are exact up to 2^53. */
#include "runtime.h"
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#include "syscalls.h"
#define HAVE_SECCOMP_TABLES 1
#endif

/* The kernel's BPF and seccomp ABI (linux/filter.h, linux/seccomp.h), spelled out here: the
   musl toolchain has no kernel headers. */
struct sock_filter {
  uint16_t code;
  uint8_t jt, jf;
  uint32_t k;
};
struct sock_fprog {
  unsigned short len;
  struct sock_filter *filter;
};
struct seccomp_data {
  int nr;
  uint32_t arch;
  uint64_t instruction_pointer;
  uint64_t args[6];
};
#define BPF_LD 0x00
#define BPF_ALU 0x04
#define BPF_JMP 0x05
#define BPF_RET 0x06
#define BPF_W 0x00
#define BPF_ABS 0x20
#define BPF_K 0x00
#define BPF_AND 0x50
#define BPF_JA 0x00
#define BPF_JEQ 0x10
#define BPF_JGT 0x20
#define BPF_JGE 0x30
#define BPF_STMT(code, k) {(uint16_t)(code), 0, 0, k}
#define BPF_JUMP(code, k, jt, jf) {(uint16_t)(code), jt, jf, k}
#ifndef SECCOMP_MODE_FILTER
#define SECCOMP_MODE_FILTER 2
#endif
#define SECCOMP_RET_ALLOW 0x7fff0000U
#define SECCOMP_RET_ERRNO 0x00050000U
#define SECCOMP_RET_TRAP 0x00030000U
#define SECCOMP_RET_TRACE 0x7ff00000U
#ifndef SECCOMP_RET_ACTION_FULL
#define SECCOMP_RET_ACTION_FULL 0xffff0000U
#endif
#ifndef SECCOMP_RET_KILL_THREAD
#define SECCOMP_RET_KILL_THREAD 0U
#endif
#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif
#ifndef SECCOMP_RET_LOG
#define SECCOMP_RET_LOG 0x7ffc0000U
#endif
#ifndef SECCOMP_SET_MODE_FILTER
#define SECCOMP_SET_MODE_FILTER 1
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC
#define SECCOMP_FILTER_FLAG_TSYNC 1U
#endif
#ifndef SECCOMP_FILTER_FLAG_LOG
#define SECCOMP_FILTER_FLAG_LOG 2U
#endif
#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW 4U
#endif
#ifndef AUDIT_ARCH_X86_64
#define AUDIT_ARCH_X86_64 0xc000003eU
#endif
#ifndef AUDIT_ARCH_I386
#define AUDIT_ARCH_I386 0x40000003U
#endif
#if defined(__x86_64__) && !defined(SYS_seccomp)
#define SYS_seccomp 317 /* older libc headers (EL7) */
#endif
#define X32_BIT 0x40000000U
#define MAX_INSNS 4096
#define MAX_NR 600 /* table numbers are below this (x32: without the bit) */
#define NO_ACTION 0xffffffffU /* no unconditional rule (no action has this value) */

struct cond {
  unsigned idx;
  int op; /* index in ops[] */
  uint64_t v, v2;
};
struct rule {
  uint32_t action;
  struct cond *conds;
  size_t nconds;
};

static const char *const ops[] = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                                  "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"};
enum { OP_NE, OP_LT, OP_LE, OP_EQ, OP_GE, OP_GT, OP_MASKED_EQ };

/* restrictiveness, for unconditional rules that disagree: higher wins */
static int severity(uint32_t a) {
  switch (a & SECCOMP_RET_ACTION_FULL) {
  case SECCOMP_RET_KILL_PROCESS: return 7;
  case SECCOMP_RET_KILL_THREAD: return 6;
  case SECCOMP_RET_TRAP: return 5;
  case SECCOMP_RET_ERRNO: return 4;
  case SECCOMP_RET_TRACE: return 3;
  case SECCOMP_RET_LOG: return 2;
  default: return 1;
  }
}

static int parse_action(const char *name, const struct json *errno_ret, int errno_dflt, uint32_t *out, char *err,
                        size_t errlen) {
  int e = errno_dflt;
  if (errno_ret && errno_ret->type == J_NUM) {
    if (errno_ret->num < 0 || errno_ret->num > 4095) {
      snprintf(err, errlen, "errnoRet %g is out of range", errno_ret->num);
      return -1;
    }
    e = (int)errno_ret->num;
  }
  if (!name) { snprintf(err, errlen, "a seccomp action is missing"); return -1; }
  if (!strcmp(name, "SCMP_ACT_ALLOW")) *out = SECCOMP_RET_ALLOW;
  else if (!strcmp(name, "SCMP_ACT_ERRNO")) *out = SECCOMP_RET_ERRNO | (uint32_t)(e & 0xffff);
  else if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD")) *out = SECCOMP_RET_KILL_THREAD;
  else if (!strcmp(name, "SCMP_ACT_KILL_PROCESS")) *out = SECCOMP_RET_KILL_PROCESS;
  else if (!strcmp(name, "SCMP_ACT_TRAP")) *out = SECCOMP_RET_TRAP;
  else if (!strcmp(name, "SCMP_ACT_TRACE")) *out = SECCOMP_RET_TRACE | (uint32_t)(e & 0xffff);
  else if (!strcmp(name, "SCMP_ACT_LOG")) *out = SECCOMP_RET_LOG;
  else {
    snprintf(err, errlen, "unsupported seccomp action %s", name);
    return -1;
  }
  return 0;
}

static int blocking(uint32_t a) {
  uint32_t k = a & SECCOMP_RET_ACTION_FULL;
  return k == SECCOMP_RET_ERRNO || k == SECCOMP_RET_KILL_THREAD || k == SECCOMP_RET_KILL_PROCESS ||
         k == SECCOMP_RET_TRAP;
}

/* ---- the emitter: instructions are produced last first, so every jump knows its distance ---- */

struct emit {
  struct sock_filter *rev; /* reversed */
  size_t n;
  int overflow;
};

static int put(struct emit *e, struct sock_filter f) {
  if (e->n >= MAX_INSNS) { e->overflow = 1; return (int)e->n; }
  e->rev[e->n] = f;
  return (int)e->n++;
}
static int ret_(struct emit *e, uint32_t v) { return put(e, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, v)); }
static int ld_(struct emit *e, uint32_t off) { return put(e, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off)); }
static int and_(struct emit *e, uint32_t k) { return put(e, (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, k)); }
static int ja_(struct emit *e, int target) {
  return put(e, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, (uint32_t)((int)e->n - target - 1), 0, 0));
}
/* A conditional jump placed before the instructions emitted so far; far targets go through
   an unconditional jump placed right after it. */
static int jmp_(struct emit *e, int op, uint32_t k, int t, int f) {
  if ((int)e->n - t - 1 > 255) t = ja_(e, t);
  if ((int)e->n - f - 1 > 255) f = ja_(e, f);
  if ((int)e->n - t - 1 > 255) t = ja_(e, t); /* the second trampoline moved the first out of reach */
  return put(e, (struct sock_filter)BPF_JUMP(BPF_JMP | op | BPF_K, k, (uint8_t)((int)e->n - t - 1),
                                             (uint8_t)((int)e->n - f - 1)));
}

#define ARG_LO(i) (uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i) + 4)

/* One condition: code that goes to PASS or FAIL; returns its first instruction. */
static int emit_cond(struct emit *e, const struct cond *c, int pass, int fail) {
  uint32_t hi = (uint32_t)(c->v >> 32), lo = (uint32_t)c->v;
  int x;
  switch (c->op) {
  case OP_EQ:
  case OP_NE: {
    int p = c->op == OP_EQ ? pass : fail, q = c->op == OP_EQ ? fail : pass;
    jmp_(e, BPF_JEQ, lo, p, q);
    x = ld_(e, ARG_LO(c->idx));
    jmp_(e, BPF_JEQ, hi, x, q);
    return ld_(e, ARG_HI(c->idx));
  }
  case OP_MASKED_EQ: {
    uint32_t mhi = (uint32_t)(c->v >> 32), mlo = (uint32_t)c->v;
    uint32_t vhi = (uint32_t)(c->v2 >> 32), vlo = (uint32_t)c->v2;
    jmp_(e, BPF_JEQ, vlo, pass, fail);
    and_(e, mlo);
    x = ld_(e, ARG_LO(c->idx));
    jmp_(e, BPF_JEQ, vhi, x, fail);
    and_(e, mhi);
    return ld_(e, ARG_HI(c->idx));
  }
  default: {
    /* GT/GE hold when hi > vhi, or hi == vhi and lo >(=) vlo; LT/LE are their negations */
    int neg = c->op == OP_LT || c->op == OP_LE;
    int strict = c->op == OP_GT || c->op == OP_LE;
    int p = neg ? fail : pass, q = neg ? pass : fail;
    jmp_(e, strict ? BPF_JGT : BPF_JGE, lo, p, q);
    x = ld_(e, ARG_LO(c->idx));
    x = jmp_(e, BPF_JEQ, hi, x, q);
    jmp_(e, BPF_JGT, hi, p, x);
    return ld_(e, ARG_HI(c->idx));
  }
  }
}

/* ---- per-ABI tables ---- */

#ifdef HAVE_SECCOMP_TABLES
struct abi {
  const char *scmp; /* SCMP_ARCH_ name */
  uint32_t base;    /* added to table numbers */
  int on;
  short chain[MAX_NR]; /* chain per number; -1 none */
  short cond[MAX_NR];  /* first conditional rule (index in the pool), -1 none */
  uint32_t uncond[MAX_NR]; /* the unconditional action, NO_ACTION none */
  int max;           /* highest number named by the profile, -1 none */
};

static const struct sc_entry *sc_lookup(const char *name) {
  size_t lo = 0, hi = sizeof sc_table / sizeof sc_table[0];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const char *m = sc_table[mid].name;
    int c = (unsigned char)name[0] - (unsigned char)m[0];
    if (!c) c = strcmp(name, m);
    if (!c) return &sc_table[mid];
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}
#endif

/* A chain: the conditional rules (indices) of one syscall and its final action. */
struct chain {
  int *rules;
  size_t nrules;
  uint32_t final;
  int label;
};

struct ctx {
  struct rule *rules;
  size_t nrules;
  struct chain *chains;
  size_t nchains, capchains;
};

static int chain_find(struct ctx *c, const int *rules, size_t n, uint32_t final) {
  for (size_t i = 0; i < c->nchains; i++) {
    struct chain *ch = &c->chains[i];
    if (ch->final == final && ch->nrules == n && (n == 0 || !memcmp(ch->rules, rules, n * sizeof *rules))) return (int)i;
  }
  if (c->nchains == c->capchains) {
    c->capchains = c->capchains ? c->capchains * 2 : 16;
    c->chains = realloc(c->chains, c->capchains * sizeof *c->chains);
    if (!c->chains) die(125, "out of memory");
  }
  struct chain *ch = &c->chains[c->nchains];
  ch->rules = xmalloc((n + 1) * sizeof *rules);
  if (n) memcpy(ch->rules, rules, n * sizeof *rules);
  ch->nrules = n;
  ch->final = final;
  ch->label = -1;
  return (int)c->nchains++;
}

static int parse_u64(const struct json *o, const char *key, uint64_t *out, char *err, size_t errlen) {
  struct json *v = json_get(o, key);
  *out = 0;
  if (!v || v->type == J_NULL) return 0;
  if (v->type != J_NUM || v->num < 0 || v->num > 18446744073709551615.0) {
    snprintf(err, errlen, "seccomp argument %s must be a non-negative number", key);
    return -1;
  }
  *out = v->num >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v->num;
  return 0;
}

#ifdef HAVE_SECCOMP_TABLES
/* The tree over [lo, hi] of intervals; returns the label of its first instruction. */
struct ival {
  uint32_t lo;
  int chain;
};
static int emit_tree(struct emit *e, struct ctx *c, const struct ival *iv, size_t a, size_t b) {
  if (a == b) return c->chains[iv[a].chain].label;
  size_t mid = (a + b + 1) / 2;
  int right = emit_tree(e, c, iv, mid, b);
  int left = emit_tree(e, c, iv, a, mid - 1);
  return jmp_(e, BPF_JGE, iv[mid].lo, right, left);
}

/* Intervals of ABI numbers from FROM up: named numbers by chain, gaps by DFLT, past max by TAIL. */
static size_t abi_intervals(const struct abi *ab, int dflt, int tail, struct ival *out) {
  size_t n = 0;
  int last = -2;
  for (int nr = 0; nr <= ab->max + 1 && nr < MAX_NR; nr++) {
    int ch = nr > ab->max ? tail : ab->chain[nr] >= 0 ? ab->chain[nr] : dflt;
    if (ch == last) continue;
    out[n].lo = ab->base + (uint32_t)nr;
    out[n].chain = ch;
    n++;
    last = ch;
  }
  if (n == 0) { out[0].lo = ab->base; out[0].chain = tail; n = 1; }
  return n;
}
#endif

int seccomp_compile(const struct json *sec, struct seccomp_prog *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!sec || sec->type == J_NULL) return 0;
  if (sec->type != J_OBJ) { snprintf(err, errlen, "linux.seccomp must be an object"); return -1; }
#ifndef HAVE_SECCOMP_TABLES
  snprintf(err, errlen, "seccomp filters are not supported on this architecture by ctr-helper; run with --security-opt seccomp=unconfined");
  return -1;
#else
  struct json *dnum = json_get(sec, "defaultErrnoRet");
  uint32_t dflt;
  if (parse_action(json_str(sec, "defaultAction"), dnum, EPERM, &dflt, err, errlen) < 0) return -1;
  if (json_str(sec, "listenerPath") && *json_str(sec, "listenerPath")) {
    snprintf(err, errlen, "seccomp listenerPath (SCMP_ACT_NOTIFY) is not supported");
    return -1;
  }
  struct json *fl = json_get(sec, "flags");
  for (struct json *f = fl && fl->type == J_ARR ? fl->child : NULL; f; f = f->next) {
    if (f->type != J_STR) continue;
    if (!strcmp(f->str, "SECCOMP_FILTER_FLAG_TSYNC")) out->flags |= SECCOMP_FILTER_FLAG_TSYNC;
    else if (!strcmp(f->str, "SECCOMP_FILTER_FLAG_LOG")) out->flags |= SECCOMP_FILTER_FLAG_LOG;
    else if (!strcmp(f->str, "SECCOMP_FILTER_FLAG_SPEC_ALLOW")) out->flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    else { snprintf(err, errlen, "unsupported seccomp flag %s", f->str); return -1; }
  }

  static struct abi abis[3];
  static const char *const scmp[3] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  for (int i = 0; i < 3; i++) {
    abis[i].scmp = scmp[i];
    abis[i].base = i == 2 ? X32_BIT : 0;
    abis[i].on = i == 0; /* the native ABI always, the others when listed */
    abis[i].max = -1;
  }
  struct json *archs = json_get(sec, "architectures");
  for (struct json *a = archs && archs->type == J_ARR ? archs->child : NULL; a; a = a->next) {
    if (a->type != J_STR) continue;
    for (int i = 0; i < 3; i++)
      if (!strcmp(a->str, abis[i].scmp)) abis[i].on = 1;
    /* other architectures cannot run here: nothing to emit */
  }

  struct ctx c = {0};
  struct json *scs = json_get(sec, "syscalls");
  size_t nrules = 0;
  for (struct json *r = scs && scs->type == J_ARR ? scs->child : NULL; r; r = r->next) nrules++;
  c.rules = xmalloc((nrules + 1) * sizeof *c.rules);
  /* per ABI and number: its conditional rules (a list in POOL, in profile order) and the
     unconditional action */
  struct cr {
    int rule;
    short next;
  } *pool = NULL;
  size_t npool = 0, cappool = 0;
  for (int i = 0; i < 3; i++) {
    if (!abis[i].on) continue;
    memset(abis[i].chain, 0xff, sizeof abis[i].chain);
    memset(abis[i].cond, 0xff, sizeof abis[i].cond);
    memset(abis[i].uncond, 0xff, sizeof abis[i].uncond);
  }

  size_t ri = 0;
  for (struct json *r = scs && scs->type == J_ARR ? scs->child : NULL; r; r = r->next, ri++) {
    struct rule *ru = &c.rules[ri];
    memset(ru, 0, sizeof *ru);
    if (parse_action(json_str(r, "action"), json_get(r, "errnoRet"), EPERM, &ru->action, err, errlen) < 0) return -1;
    struct json *args = json_get(r, "args");
    size_t na = 0;
    for (struct json *a = args && args->type == J_ARR ? args->child : NULL; a; a = a->next) na++;
    ru->conds = xmalloc((na + 1) * sizeof *ru->conds);
    for (struct json *a = args && args->type == J_ARR ? args->child : NULL; a; a = a->next) {
      struct cond *cd = &ru->conds[ru->nconds++];
      int ok;
      double idx = json_num(a, "index", &ok);
      if (!ok || idx < 0 || idx > 5) { snprintf(err, errlen, "seccomp argument index must be 0 to 5"); return -1; }
      cd->idx = (unsigned)idx;
      const char *op = json_str(a, "op");
      cd->op = -1;
      for (int k = 0; op && k < (int)(sizeof ops / sizeof ops[0]); k++)
        if (!strcmp(op, ops[k])) cd->op = k;
      if (cd->op < 0) { snprintf(err, errlen, "unsupported seccomp operator %s", op ? op : "(none)"); return -1; }
      if (parse_u64(a, "value", &cd->v, err, errlen) < 0 || parse_u64(a, "valueTwo", &cd->v2, err, errlen) < 0) return -1;
    }
    struct json *names = json_get(r, "names");
    for (struct json *nm = names && names->type == J_ARR ? names->child : NULL; nm; nm = nm->next) {
      if (nm->type != J_STR) continue;
      const struct sc_entry *se = sc_lookup(nm->str);
      if (!se) continue;
      for (int i = 0; i < 3; i++) {
        int nr = se->nr[i];
        if (!abis[i].on || nr < 0 || nr >= MAX_NR) continue;
        if (nr > abis[i].max) abis[i].max = nr;
        if (ru->nconds) {
          if (npool >= 30000) {
            snprintf(err, errlen, "too many conditional seccomp rules");
            return -1;
          }
          if (npool == cappool) {
            cappool = cappool ? cappool * 2 : 64;
            pool = realloc(pool, cappool * sizeof *pool);
            if (!pool) die(125, "out of memory");
          }
          pool[npool] = (struct cr){(int)ri, -1};
          short *link = &abis[i].cond[nr];
          while (*link >= 0) link = &pool[*link].next;
          *link = (short)npool++;
        } else if (abis[i].uncond[nr] == NO_ACTION || severity(ru->action) > severity(abis[i].uncond[nr])) {
          abis[i].uncond[nr] = ru->action;
        }
      }
    }
  }
  c.nrules = ri;

  int dflt_chain = chain_find(&c, NULL, 0, dflt);
  int tail_chain = blocking(dflt) ? chain_find(&c, NULL, 0, SECCOMP_RET_ERRNO | ENOSYS) : dflt_chain;
  for (int i = 0; i < 3; i++) {
    if (!abis[i].on) continue;
    for (int nr = 0; nr <= abis[i].max; nr++) {
      if (abis[i].cond[nr] < 0 && abis[i].uncond[nr] == NO_ACTION) continue;
      int list[64];
      size_t n = 0;
      for (short k = abis[i].cond[nr]; k >= 0; k = pool[k].next) {
        if (n == sizeof list / sizeof list[0]) {
          snprintf(err, errlen, "more than %zu seccomp rules with arguments for one syscall", n);
          return -1;
        }
        list[n++] = pool[k].rule;
      }
      abis[i].chain[nr] = (short)chain_find(&c, list, n, abis[i].uncond[nr] != NO_ACTION ? abis[i].uncond[nr] : dflt);
    }
  }

  free(pool);
  struct emit e = {xmalloc(MAX_INSNS * sizeof(struct sock_filter)), 0, 0};
  /* chains (the end of the program) */
  for (size_t k = c.nchains; k-- > 0;) {
    struct chain *ch = &c.chains[k];
    int next = ret_(&e, ch->final);
    for (size_t j = ch->nrules; j-- > 0;) {
      const struct rule *ru = &c.rules[ch->rules[j]];
      int pass = ret_(&e, ru->action);
      for (size_t q = ru->nconds; q-- > 0;) pass = emit_cond(&e, &ru->conds[q], pass, next);
      next = pass;
    }
    ch->label = next;
  }
  int kill = ret_(&e, SECCOMP_RET_KILL_PROCESS);
  struct ival *iv = xmalloc((MAX_NR + 2) * sizeof *iv);
  int tree[3] = {-1, -1, -1};
  int l32 = kill;
  for (int i = 2; i >= 0; i--) {
    if (!abis[i].on) continue;
    size_t n = abi_intervals(&abis[i], dflt_chain, tail_chain, iv);
    tree[i] = emit_tree(&e, &c, iv, 0, n - 1);
    if (i == 1) { /* i386 starts here: the number, then its tree */
      if (tree[1] != (int)e.n - 1) ja_(&e, tree[1]);
      l32 = ld_(&e, offsetof(struct seccomp_data, nr));
    }
  }
  free(iv);
  /* x86_64: x32 numbers (with the x32 bit) apart, then the x86_64 tree */
  jmp_(&e, BPF_JGE, X32_BIT, abis[2].on ? tree[2] : kill, tree[0]);
  int l64 = ld_(&e, offsetof(struct seccomp_data, nr));
  int other = abis[1].on ? jmp_(&e, BPF_JEQ, AUDIT_ARCH_I386, l32, kill) : kill;
  jmp_(&e, BPF_JEQ, AUDIT_ARCH_X86_64, l64, other);
  ld_(&e, offsetof(struct seccomp_data, arch));
  if (e.overflow) {
    snprintf(err, errlen, "the seccomp profile compiles to more than %d BPF instructions", MAX_INSNS);
    return -1;
  }
  out->len = (unsigned short)e.n;
  out->insns = xmalloc(e.n * sizeof *out->insns);
  for (size_t k = 0; k < e.n; k++) out->insns[k] = e.rev[e.n - 1 - k];
  free(e.rev);
  return 0;
#endif
}

int seccomp_load(const struct seccomp_prog *p, char *err, size_t errlen) {
  if (!p->insns) return 0;
  struct sock_fprog prog = {p->len, p->insns};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->flags, &prog) == 0) return 0;
  if (errno == ENOSYS && p->flags == 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0) return 0;
  snprintf(err, errlen, "loading the seccomp filter: %s%s", strerror(errno),
           errno == EACCES ? " (no_new_privs is off and CAP_SYS_ADMIN is gone)" : "");
  return -1;
}

/* The monitor keeps the spec for the container's life; the filter is the init's business
   alone, and its parsed tree (about 60 kB of small allocations) would stay resident. */
void spec_drop_seccomp(struct spec *s) {
  struct json *lx = json_get(s->doc, "linux");
  if (!lx || lx->type != J_OBJ) return;
  for (struct json **p = &lx->child; *p; p = &(*p)->next) {
    if ((*p)->key && !strcmp((*p)->key, "seccomp")) {
      struct json *victim = *p;
      *p = victim->next;
      victim->next = NULL;
      json_free(victim);
      break;
    }
  }
  s->proc.seccomp = NULL;
}
