/* Shared-memory-native alltoall: chunk c stages piece c of every outgoing block; rank q
 * copies piece c of block q out of every slot. */
#include "node_util.h"

static void chunk(strata_plan_t *p, const strata_coll_args_t *a, uint32_t c, size_t o, size_t len) {
  const int P = a->nranks, r = a->rank;
  const size_t blk = a->count * a->esize;
  int put = nput(p, c, BREF(SB_SEND, o), 0, len, P, blk, len, -1);
  for (int i = 0; i < P; i++) {
    int q = mod(r + i, P);
    nget(p, c, q, BREF(SB_RECV, (uint64_t)q * blk + o), (uint64_t)r * len, len, 0, q == r ? put : -1);
  }
  ndone(p, c);
}

int strata_algo_alltoall_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks;
  const size_t blk = a->count * a->esize;
  size_t cb = a->node_chunk / (size_t)P;
  size_t want = node_chunk_bytes(a, blk * (size_t)P) / (size_t)P;
  if (want < cb) cb = want;
  node_chunks(p, a, blk, cb, 1, chunk);
  p->node_implied = p->node_chunks == 1;
  return p->failed ? -1 : 0;
}
