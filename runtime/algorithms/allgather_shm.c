/* Shared-memory-native allgather: each rank stages its block chunk by chunk; every rank
 * copies the other ranks' chunks straight into its recvbuf. */
#include "node_util.h"

int strata_algo_allgather_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t sc = a->count, e = a->esize, blk = sc * e;
  const strata_bref_t own = a->inplace ? BREF(SB_RECV, (uint64_t)r * blk) : BREF(SB_SEND, 0);
  if (!a->inplace) plan_copy(p, BREF(SB_RECV, (uint64_t)r * blk), BREF(SB_SEND, 0), blk, -1, -1, -1);
  size_t cb = node_chunk_bytes(a, blk);
  const int nch = blk ? (int)((blk + cb - 1) / cb) : 1;
  p->node_chunks = (uint32_t)nch;
  p->node_implied = nch == 1;
  for (int c = 0; c < nch; c++) {
    size_t o = (size_t)c * cb, len = blk - o < cb ? blk - o : cb;
    if (!blk) len = 0, o = 0;
    nput(p, (uint32_t)c, BREF(own.buf, own.off + o), 0, len, 1, 0, 0, -1);
    for (int i = 1; i < P; i++) {
      int q = mod(r + i, P);
      nget(p, (uint32_t)c, q, BREF(SB_RECV, (uint64_t)q * blk + o), 0, len, 0, -1);
    }
    ndone(p, (uint32_t)c);
  }
  return p->failed ? -1 : 0;
}
