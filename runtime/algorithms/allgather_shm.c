/* Shared-memory-native allgather: each rank stages its block chunk by chunk; every rank
 * copies the other ranks' chunks straight into its recvbuf. */
#include "node_util.h"

static void chunk(strata_plan_t *p, const strata_coll_args_t *a, uint32_t c, size_t o, size_t len) {
  const int P = a->nranks, r = a->rank;
  const size_t blk = a->count * a->esize;
  const strata_bref_t own = a->inplace ? BREF(SB_RECV, (uint64_t)r * blk) : BREF(SB_SEND, 0);
  nput(p, c, BREF(own.buf, own.off + o), 0, len, 1, 0, 0, -1);
  for (int i = 1; i < P; i++) {
    int q = mod(r + i, P);
    nget(p, c, q, BREF(SB_RECV, (uint64_t)q * blk + o), 0, len, 0, -1);
  }
  ndone(p, c);
}

int strata_algo_allgather_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  const int r = a->rank;
  const size_t blk = a->count * a->esize;
  if (!a->inplace) plan_copy(p, BREF(SB_RECV, (uint64_t)r * blk), BREF(SB_SEND, 0), blk, -1, -1, -1);
  node_chunks(p, a, blk, node_chunk_bytes(a, blk), 1, chunk);
  p->node_implied = p->node_chunks == 1;
  return p->failed ? -1 : 0;
}
