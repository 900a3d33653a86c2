/* Ring allreduce: ring reduce-scatter then ring allgather, each block pipelined in chunks.
 * Bandwidth-optimal: 2(P-1)/P of the data crosses each link. */
#include "ring.h"

int strata_algo_allreduce_ring(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t n = a->count, e = a->esize;
  if (plan_single_rank(p, a, n * e)) return p->failed ? -1 : 0;
  int nch = nchunks_for(blk_cnt(n, P, 0), e, a->chunk_bytes);
  int *last = ialloc((size_t)nch, -1), *sends = ialloc((size_t)(P - 1) * nch, -1);
  if (!last || !sends) goto fail;
  ring_rs_spec_t rs = {.n = n, .k = 0, .nch = nch, .in_buf = IN_BUF(a), .acc_buf = SB_RECV,
                       .final_buf = SB_RECV, .final_off = blk_off(n, P, mod(r + 1, P)) * e,
                       .scratch_off = 0, .tagbase = 0};
  if (ring_rs_phase(p, a, &rs, last, sends)) goto fail;
  if (a->op == STRATA_AVG) {
    int fb = mod(r + 1, P);
    size_t fbc = blk_cnt(n, P, fb);
    for (int c = 0; c < nch; c++)
      last[c] = plan_avg(p, BREF(SB_RECV, (blk_off(n, P, fb) + blk_off(fbc, nch, c)) * e),
                         blk_cnt(fbc, nch, c), last[c], -1, -1);
  }
  ring_ag_spec_t ag = {.n = n, .vr = r, .rot = 0, .k = 0, .nch = nch, .buf = SB_RECV,
                       .first_buf = SB_NONE, .tagbase = (uint32_t)((P - 1) * nch),
                       .first_dep = last, .recv_dep = sends};
  if (ring_ag_phase(p, a, &ag)) goto fail;
  free(last);
  free(sends);
  return p->failed ? -1 : 0;
fail:
  free(last);
  free(sends);
  return -1;
}
