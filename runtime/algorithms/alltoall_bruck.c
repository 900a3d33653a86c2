/* Bruck alltoall: ceil(log2 P) steps, each moving about half the blocks (packed into one
 * message). Fewer messages than pairwise: for small blocks. */
#include "algo.h"

int strata_algo_alltoall_bruck(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t blk = a->count * a->esize;
  /* scratch: [0, P) rotated blocks; then a send pack and a receive pack of P/2+1 blocks */
  const uint64_t pk = (uint64_t)P * blk, pk2 = pk + (uint64_t)(P / 2 + 1) * blk;
  p->scratch_bytes = pk2 + (size_t)(P / 2 + 1) * blk;
  /* phase 1: slot i = sendbuf block (r + i) mod P */
  plan_copy(p, BREF(SB_SCRATCH, 0), BREF(SB_SEND, (uint64_t)r * blk), (size_t)(P - r) * blk, -1, -1, -1);
  if (r) plan_copy(p, BREF(SB_SCRATCH, (uint64_t)(P - r) * blk), BREF(SB_SEND, 0), (size_t)r * blk, -1, -1, -1);
  for (int dist = 1, k = 0; dist < P; dist <<= 1, k++) {
    int f = plan_fence(p);
    int np = 0;
    for (int i = 0; i < P; i++)
      if (i & dist) plan_copy(p, BREF(SB_SCRATCH, pk + (uint64_t)np++ * blk), BREF(SB_SCRATCH, (uint64_t)i * blk), blk, f, -1, -1);
    int f2 = plan_fence(p);
    int s = plan_send(p, mod(r + dist, P), (uint32_t)k, BREF(SB_SCRATCH, pk), (size_t)np * blk, f2, -1, -1);
    int rv = plan_recv(p, mod(r - dist, P), (uint32_t)k, BREF(SB_SCRATCH, pk2), (size_t)np * blk, f2, -1, -1);
    np = 0;
    for (int i = 0; i < P; i++)
      if (i & dist) plan_copy(p, BREF(SB_SCRATCH, (uint64_t)i * blk), BREF(SB_SCRATCH, pk2 + (uint64_t)np++ * blk), blk, rv, s, -1);
  }
  int f = plan_fence(p);
  /* phase 3: recv block (r - i) mod P = slot i */
  for (int i = 0; i < P; i++)
    plan_copy(p, BREF(SB_RECV, (uint64_t)mod(r - i, P) * blk), BREF(SB_SCRATCH, (uint64_t)i * blk), blk, f, -1, -1);
  return p->failed ? -1 : 0;
}
