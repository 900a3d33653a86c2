/* Bruck allgather: ceil(log2 P) steps for any P, then one rotation. Small messages. */
#include "algo.h"

int strata_algo_allgather_bruck(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t blk = a->count * a->esize;
  const strata_bref_t own_in = a->inplace ? BREF(SB_RECV, (uint64_t)r * blk) : BREF(SB_SEND, 0);
  /* scratch slot i holds block (r + i) mod P */
  p->scratch_bytes = blk * (size_t)P;
  int deps[40], nd = 0;
  deps[nd++] = plan_copy(p, BREF(SB_SCRATCH, 0), own_in, blk, -1, -1, -1);
  for (int dist = 1, k = 0; dist < P; dist <<= 1, k++) {
    int cnt = dist < P - dist ? dist : P - dist;
    int have = strata_plan_join(p, deps, nd);
    plan_send(p, mod(r - dist, P), (uint32_t)k, BREF(SB_SCRATCH, 0), (size_t)cnt * blk, have, -1, -1);
    deps[nd++] = plan_recv(p, mod(r + dist, P), (uint32_t)k, BREF(SB_SCRATCH, (uint64_t)dist * blk),
                           (size_t)cnt * blk, -1, -1, -1);
  }
  int all = strata_plan_join(p, deps, nd);
  /* recv[(r + i) mod P] = slot i: two contiguous runs */
  plan_copy(p, BREF(SB_RECV, (uint64_t)r * blk), BREF(SB_SCRATCH, 0), (size_t)(P - r) * blk, all, -1, -1);
  if (r) plan_copy(p, BREF(SB_RECV, 0), BREF(SB_SCRATCH, (uint64_t)(P - r) * blk), (size_t)r * blk, all, -1, -1);
  return p->failed ? -1 : 0;
}
