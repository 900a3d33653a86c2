/* Recursive doubling allreduce: log2(P) exchanges of the whole vector. Latency-optimal for
 * small messages. Non-powers of two fold the extra ranks in first (see fold_t). */
#include "algo.h"

enum { TAG_FOLD = 0, TAG_UNFOLD = 1, TAG_STEP = 2 };

int strata_algo_allreduce_recursive_doubling(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t n = a->count, e = a->esize;
  const uint32_t in = IN_BUF(a);
  if (plan_single_rank(p, a, n * e)) return p->failed ? -1 : 0;
  fold_t f = fold_make(P);
  int v = fold_vrank(&f, r);
  p->scratch_bytes = n * e;
  if (v < 0) { /* sit out: hand our data to r+1, get the result back */
    plan_fold_sit_out(p, r, BREF(in, 0), n * e, BREF(SB_RECV, 0), n * e);
    return p->failed ? -1 : 0;
  }
  uint32_t cur = in; /* where our running result lives */
  int last = -1, last_send = -1;
  if (r < 2 * f.extra) {
    int rv = plan_recv(p, r - 1, TAG_FOLD, BREF(SB_SCRATCH, 0), n * e, -1, -1, -1);
    /* (r-1)'s data first, so every rank combines in the same order */
    last = plan_reduce(p, BREF(SB_RECV, 0), BREF(SB_SCRATCH, 0), BREF(in, 0), n, rv, -1, -1);
    cur = SB_RECV;
  }
  for (int mask = 1; mask < f.p2; mask <<= 1) {
    int pv = v ^ mask, peer = fold_owner(&f, pv);
    uint32_t tag = TAG_STEP + (uint32_t)__builtin_ctz((unsigned)mask);
    /* receive first: the peer's message then meets a posted receive, not the unexpected queue */
    int rv = plan_recv(p, peer, tag, BREF(SB_SCRATCH, 0), n * e, last, -1, -1);
    int s = plan_send(p, peer, tag, BREF(cur, 0), n * e, last, -1, -1);
    /* the lower virtual rank's partial sum goes first: both sides compute the same bits */
    if (v < pv)
      last = plan_reduce(p, BREF(SB_RECV, 0), BREF(cur, 0), BREF(SB_SCRATCH, 0), n, rv, s, -1);
    else
      last = plan_reduce(p, BREF(SB_RECV, 0), BREF(SB_SCRATCH, 0), BREF(cur, 0), n, rv, s, -1);
    last_send = s;
    cur = SB_RECV;
  }
  (void)last_send;
  if (a->op == STRATA_AVG) last = plan_avg(p, BREF(SB_RECV, 0), n, last, -1, -1);
  if (r < 2 * f.extra) plan_send(p, r - 1, TAG_UNFOLD, BREF(SB_RECV, 0), n * e, last, -1, -1);
  return p->failed ? -1 : 0;
}
