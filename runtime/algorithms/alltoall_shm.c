/* Shared-memory-native alltoall: chunk c stages piece c of every outgoing block; rank q
 * copies piece c of block q out of every slot. */
#include "node_util.h"

int strata_algo_alltoall_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t blk = a->count * a->esize;
  size_t cb = a->node_chunk / (size_t)P;
  size_t want = node_chunk_bytes(a, blk * (size_t)P) / (size_t)P;
  if (want < cb) cb = want;
  if (cb < 1) cb = 1;
  const int nch = (int)((blk + cb - 1) / cb);
  p->node_chunks = (uint32_t)nch;
  p->node_implied = nch == 1;
  for (int c = 0; c < nch; c++) {
    size_t o = (size_t)c * cb, len = blk - o < cb ? blk - o : cb;
    int put = nput(p, (uint32_t)c, BREF(SB_SEND, o), 0, len, P, blk, len, -1);
    for (int i = 0; i < P; i++) {
      int q = mod(r + i, P);
      nget(p, (uint32_t)c, q, BREF(SB_RECV, (uint64_t)q * blk + o), (uint64_t)r * len, len, 0,
                   q == r ? put : -1);
    }
    ndone(p, (uint32_t)c);
  }
  return p->failed ? -1 : 0;
}
