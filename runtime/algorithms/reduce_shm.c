/* Shared-memory-native reduce: every non-root rank stages its chunk; the root reduces all
 * slots and its own input into recvbuf. */
#include "node_util.h"

int strata_algo_reduce_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  const int r = a->rank, root = a->root;
  const size_t n = a->count, e = a->esize;
  const unsigned avg = a->op == STRATA_AVG ? SF_AVG : 0;
  size_t ce = node_chunk_bytes(a, n * e) / e;
  if (ce < 1) ce = 1;
  const int nch = (int)((n + ce - 1) / ce);
  p->node_chunks = (uint32_t)nch;
  for (int c = 0; c < nch; c++) {
    size_t c0 = (size_t)c * ce, cn = n - c0 < ce ? n - c0 : ce;
    if (r == root)
      nreduce(p, (uint32_t)c, BREF(SB_RECV, c0 * e), BREF(IN_BUF(a), c0 * e), 0, cn, avg, -1);
    else
      nput(p, (uint32_t)c, BREF(SB_SEND, c0 * e), 0, cn * e, 1, 0, 0, -1);
    ndone(p, (uint32_t)c);
  }
  return p->failed ? -1 : 0;
}
