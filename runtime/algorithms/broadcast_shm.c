/* Shared-memory-native broadcast: the root stages chunks, everyone copies them out. */
#include "node_util.h"

int strata_algo_broadcast_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  const int r = a->rank, root = a->root;
  const size_t n = a->count, e = a->esize, bytes = n * e;
  if (r == root && !a->inplace) plan_copy(p, BREF(SB_RECV, 0), BREF(SB_SEND, 0), bytes, -1, -1, -1);
  size_t cb = node_chunk_bytes(a, bytes);
  const int nch = (int)((bytes + cb - 1) / cb);
  p->node_chunks = (uint32_t)nch;
  for (int c = 0; c < nch; c++) {
    size_t o = (size_t)c * cb, len = bytes - o < cb ? bytes - o : cb;
    if (r == root) nput(p, (uint32_t)c, BREF(IN_BUF(a), o), 0, len, 1, 0, 0, -1);
    else nget(p, (uint32_t)c, root, BREF(SB_RECV, o), 0, len, 0, -1);
    ndone(p, (uint32_t)c);
  }
  return p->failed ? -1 : 0;
}
