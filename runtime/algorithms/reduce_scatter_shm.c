/* Shared-memory-native reduce-scatter: chunk c stages piece c of every block; rank q
 * reduces piece c of block q across all slots straight into its recvbuf. */
#include "node_util.h"

static void chunk(strata_plan_t *p, const strata_coll_args_t *a, uint32_t c, size_t o, size_t cn) {
  const int P = a->nranks, r = a->rank;
  const size_t rc = a->count, e = a->esize;
  const unsigned avg = a->op == STRATA_AVG ? SF_AVG : 0;
  int put = nput(p, c, BREF(SB_SEND, o * e), 0, cn * e, P, rc * e, cn * e, -1);
  nreduce(p, c, BREF(SB_RECV, o * e), BREF(SB_NONE, 0), (uint64_t)r * cn * e, cn, avg, put);
  ndone(p, c);
}

int strata_algo_reduce_scatter_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks;
  const size_t rc = a->count, e = a->esize;
  size_t ce = a->node_chunk / ((size_t)P * e); /* elements per block piece */
  size_t want = node_chunk_bytes(a, rc * e * (size_t)P) / ((size_t)P * e);
  if (want < ce) ce = want;
  node_chunks(p, a, rc, ce, e, chunk);
  p->node_implied = p->node_chunks == 1;
  return p->failed ? -1 : 0;
}
