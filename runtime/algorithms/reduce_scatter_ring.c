/* Ring reduce-scatter: P-1 pipelined steps; rank r ends with block r. */
#include "ring.h"

int strata_algo_reduce_scatter_ring(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks;
  const size_t rc = a->count, e = a->esize, n = rc * (size_t)P;
  if (plan_single_rank(p, a, rc * e)) return p->failed ? -1 : 0;
  int nch = nchunks_for(rc, e, a->chunk_bytes);
  int *last = ialloc((size_t)nch, -1);
  if (!last) return -1;
  /* the input is always the whole send buffer; in place, recvbuf lies inside it at block r,
   * which this rank reads only in its final reduce, the one that writes recvbuf */
  ring_rs_spec_t rs = {.n = n, .k = -1, .nch = nch, .in_buf = SB_SEND, .acc_buf = SB_SCRATCH,
                       .final_buf = SB_RECV, .final_off = 0, .scratch_off = 0, .tagbase = 0};
  int rc_ = ring_rs_phase(p, a, &rs, last, NULL);
  if (!rc_ && a->op == STRATA_AVG)
    for (int c = 0; c < nch; c++)
      plan_avg(p, BREF(SB_RECV, blk_off(rc, nch, c) * e), blk_cnt(rc, nch, c), last[c], -1, -1);
  free(last);
  return rc_ || p->failed ? -1 : 0;
}
