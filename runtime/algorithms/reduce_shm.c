/* Shared-memory-native reduce: every non-root rank stages its chunk; the root reduces all
 * slots and its own input into recvbuf. */
#include "node_util.h"

static void chunk(strata_plan_t *p, const strata_coll_args_t *a, uint32_t c, size_t c0, size_t cn) {
  const size_t e = a->esize;
  const unsigned avg = a->op == STRATA_AVG ? SF_AVG : 0;
  if (a->rank == a->root)
    nreduce(p, c, BREF(SB_RECV, c0 * e), BREF(IN_BUF(a), c0 * e), 0, cn, avg, -1);
  else
    nput(p, c, BREF(SB_SEND, c0 * e), 0, cn * e, 1, 0, 0, -1);
  ndone(p, c);
}

int strata_algo_reduce_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  const size_t n = a->count, e = a->esize;
  node_chunks(p, a, n, node_chunk_bytes(a, n * e) / e, e, chunk);
  return p->failed ? -1 : 0;
}
