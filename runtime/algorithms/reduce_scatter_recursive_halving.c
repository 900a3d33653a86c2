/* Recursive-halving reduce-scatter: log2(P) exchanges of halving size. */
#include "halving.h"

enum { TAG_FOLD = 0, TAG_UNFOLD = 1, TAG_RH = 2 };

int strata_algo_reduce_scatter_recursive_halving(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t rc = a->count, e = a->esize, n = rc * (size_t)P;
  if (plan_single_rank(p, a, rc * e)) return p->failed ? -1 : 0;
  fold_t f = fold_make(P);
  int v = fold_vrank(&f, r);
  if (v < 0) {
    plan_fold_sit_out(p, r, BREF(SB_SEND, 0), n * e, BREF(SB_RECV, 0), rc * e);
    return p->failed ? -1 : 0;
  }
  /* scratch: [0, n) partial sums, [n, 2n) incoming data */
  const uint64_t acc = 0, tmp = n * e;
  p->scratch_bytes = 2 * n * e;
  int dep0 = -1;
  uint32_t cur = SB_SEND;
  if (r < 2 * f.extra) {
    int rv = plan_recv(p, r - 1, TAG_FOLD, BREF(SB_SCRATCH, tmp), n * e, -1, -1, -1);
    dep0 = plan_reduce(p, BREF(SB_SCRATCH, acc), BREF(SB_SCRATCH, tmp), BREF(SB_SEND, 0), n, rv,
                       -1, -1);
    cur = SB_SCRATCH;
  }
  int sends[32], ns = 0, last;
  rh_spec_t rh = {.n = n, .cur_buf = cur, .acc_buf = SB_SCRATCH, .acc_off = acc, .tmp_off = tmp,
                  .dep0 = dep0, .tagbase = TAG_RH};
  if (rh_phase(p, a, &f, v, &rh, &last, sends, &ns)) return -1;
  if (a->op == STRATA_AVG) {
    size_t o = velem(&f, n, v), c = velem(&f, n, v + 1) - o;
    last = plan_avg(p, BREF(SB_SCRATCH, acc + o * e), c, last, -1, -1);
  }
  /* recvbuf may alias block r of sendbuf (in place): write it after every send read it */
  int rh_done = strata_plan_join(p, sends, ns);
  plan_copy(p, BREF(SB_RECV, 0), BREF(SB_SCRATCH, acc + (uint64_t)r * rc * e), rc * e, last,
            rh_done, -1);
  if (r < 2 * f.extra)
    plan_send(p, r - 1, TAG_UNFOLD, BREF(SB_SCRATCH, acc + (uint64_t)(r - 1) * rc * e), rc * e,
              last, -1, -1);
  return p->failed ? -1 : 0;
}
