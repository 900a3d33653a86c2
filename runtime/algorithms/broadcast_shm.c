/* Shared-memory-native broadcast: the root stages chunks, everyone copies them out. */
#include "node_util.h"

static void chunk(strata_plan_t *p, const strata_coll_args_t *a, uint32_t c, size_t o, size_t len) {
  if (a->rank == a->root) nput(p, c, BREF(IN_BUF(a), o), 0, len, 1, 0, 0, -1);
  else nget(p, c, a->root, BREF(SB_RECV, o), 0, len, 0, -1);
  ndone(p, c);
}

int strata_algo_broadcast_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  const size_t bytes = a->count * a->esize;
  if (a->rank == a->root && !a->inplace) plan_copy(p, BREF(SB_RECV, 0), BREF(SB_SEND, 0), bytes, -1, -1, -1);
  node_chunks(p, a, bytes, node_chunk_bytes(a, bytes), 1, chunk);
  return p->failed ? -1 : 0;
}
