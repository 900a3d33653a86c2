/* Ring allgather: P-1 steps, each rank forwards the block it received last, pipelined. */
#include "ring.h"

int strata_algo_allgather_ring(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t sc = a->count, e = a->esize, n = sc * (size_t)P;
  int own = -1;
  /* out of place: our own block goes into recvbuf too */
  if (!a->inplace)
    own = plan_copy(p, BREF(SB_RECV, (uint64_t)r * sc * e), BREF(SB_SEND, 0), sc * e, -1, -1, -1);
  (void)own;
  if (P == 1) return p->failed ? -1 : 0;
  int nch = nchunks_for(sc, e, a->chunk_bytes);
  ring_ag_spec_t ag = {.n = n, .vr = r, .rot = 0, .k = -1, .nch = nch, .buf = SB_RECV,
                       .first_buf = a->inplace ? SB_NONE : SB_SEND, .first_off = 0,
                       .tagbase = 0};
  return ring_ag_phase(p, a, &ag);
}
