/* Reduce for large messages (Rabenseifner's reduce): ring reduce-scatter, then every rank
 * sends its reduced block to the root. Each link carries about 2(P-1)/P of the data. */
#include "ring.h"

int strata_algo_reduce_reduce_scatter_gather(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank, root = a->root;
  const size_t n = a->count, e = a->esize;
  if (plan_single_rank(p, a, n * e)) return p->failed ? -1 : 0;
  int nch = nchunks_for(blk_cnt(n, P, 0), e, a->chunk_bytes);
  int *last = ialloc((size_t)nch, -1);
  if (!last) return -1;
  const size_t cap = blk_cnt(blk_cnt(n, P, 0), nch, 0) * e;
  /* ring layout: nch receive slots, 2*nch partial-sum slots, then our final block */
  const uint64_t final_off = (uint64_t)3 * nch * cap;
  const int me_root = r == root;
  const uint32_t in = me_root ? IN_BUF(a) : SB_SEND;
  ring_rs_spec_t rs = {.n = n, .k = -1, .nch = nch, .in_buf = in, .acc_buf = SB_SCRATCH,
                       .final_buf = me_root ? SB_RECV : SB_SCRATCH,
                       .final_off = me_root ? blk_off(n, P, r) * e : final_off,
                       .scratch_off = 0, .tagbase = 1};
  if (ring_rs_phase(p, a, &rs, last, NULL)) { free(last); return -1; }
  if (!me_root && final_off + blk_cnt(n, P, r) * e > p->scratch_bytes)
    p->scratch_bytes = final_off + blk_cnt(n, P, r) * e;
  size_t bc = blk_cnt(n, P, r);
  if (a->op == STRATA_AVG)
    for (int c = 0; c < nch; c++)
      last[c] = plan_avg(p, BREF(rs.final_buf, rs.final_off + blk_off(bc, nch, c) * e),
                         blk_cnt(bc, nch, c), last[c], -1, -1);
  int done = strata_plan_join(p, last, nch);
  if (me_root) {
    /* in place, recvbuf is our input: gather into it only after the ring is done with it */
    int fence = a->inplace ? plan_fence(p) : -1;
    for (int q = 0; q < P; q++)
      if (q != r)
        plan_recv(p, q, 0, BREF(SB_RECV, blk_off(n, P, q) * e), blk_cnt(n, P, q) * e, fence, -1, -1);
  } else {
    plan_send(p, root, 0, BREF(SB_SCRATCH, final_off), bc * e, done, -1, -1);
  }
  free(last);
  return p->failed ? -1 : 0;
}
