/* Rabenseifner allreduce: recursive-halving reduce-scatter, then recursive-doubling
 * allgather. 2 log2(P) messages and 2(P-1)/P of the data: good for mid/large sizes. */
#include "halving.h"

enum { TAG_FOLD = 0, TAG_UNFOLD = 1, TAG_RH = 2, TAG_AG = 40 };

int strata_algo_allreduce_rabenseifner(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t n = a->count, e = a->esize;
  const uint32_t in = IN_BUF(a);
  if (plan_single_rank(p, a, n * e)) return p->failed ? -1 : 0;
  fold_t f = fold_make(P);
  int v = fold_vrank(&f, r);
  p->scratch_bytes = n * e;
  if (v < 0) {
    plan_fold_sit_out(p, r, BREF(in, 0), n * e, BREF(SB_RECV, 0), n * e);
    return p->failed ? -1 : 0;
  }
  int dep0 = -1;
  uint32_t cur = in;
  if (r < 2 * f.extra) {
    int rv = plan_recv(p, r - 1, TAG_FOLD, BREF(SB_SCRATCH, 0), n * e, -1, -1, -1);
    dep0 = plan_reduce(p, BREF(SB_RECV, 0), BREF(SB_SCRATCH, 0), BREF(in, 0), n, rv, -1, -1);
    cur = SB_RECV;
  }
  int sends[32], ns = 0, last;
  rh_spec_t rh = {.n = n, .cur_buf = cur, .acc_buf = SB_RECV, .acc_off = 0, .tmp_off = 0,
                  .dep0 = dep0, .tagbase = TAG_RH};
  if (rh_phase(p, a, &f, v, &rh, &last, sends, &ns)) return -1;
  if (a->op == STRATA_AVG) {
    size_t o = velem(&f, n, v), c = velem(&f, n, v + 1) - o;
    last = plan_avg(p, BREF(SB_RECV, o * e), c, last, -1, -1);
  }
  /* the allgather overwrites ranges the halving sends read: wait for them all */
  int rh_done = strata_plan_join(p, sends, ns);
  int prev_recv = last, prev_send = -1;
  for (int mask = 1; mask < f.p2; mask <<= 1) {
    int pv = v ^ mask, peer = fold_owner(&f, pv);
    int base = v & ~(mask - 1), pbase = pv & ~(mask - 1);
    size_t mo = velem(&f, n, base), mc = velem(&f, n, base + mask) - mo;
    size_t po = velem(&f, n, pbase), pc = velem(&f, n, pbase + mask) - po;
    uint32_t tag = TAG_AG + (uint32_t)__builtin_ctz((unsigned)mask);
    int s = plan_send(p, peer, tag, BREF(SB_RECV, mo * e), mc * e, prev_recv, prev_send, -1);
    prev_recv = plan_recv(p, peer, tag, BREF(SB_RECV, po * e), pc * e, rh_done, -1, -1);
    prev_send = s;
  }
  if (r < 2 * f.extra)
    plan_send(p, r - 1, TAG_UNFOLD, BREF(SB_RECV, 0), n * e, prev_recv, prev_send, rh_done);
  return p->failed ? -1 : 0;
}
