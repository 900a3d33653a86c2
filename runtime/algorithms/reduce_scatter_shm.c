/* Shared-memory-native reduce-scatter: chunk c stages piece c of every block; rank q
 * reduces piece c of block q across all slots straight into its recvbuf. */
#include "node_util.h"

int strata_algo_reduce_scatter_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t rc = a->count, e = a->esize;
  const unsigned avg = a->op == STRATA_AVG ? SF_AVG : 0;
  size_t ce = a->node_chunk / ((size_t)P * e); /* elements per block piece */
  size_t want = node_chunk_bytes(a, rc * e * (size_t)P) / ((size_t)P * e);
  if (want < ce) ce = want;
  if (ce < 1) ce = 1;
  const int nch = (int)((rc + ce - 1) / ce);
  p->node_chunks = (uint32_t)nch;
  p->node_implied = nch == 1;
  for (int c = 0; c < nch; c++) {
    size_t o = (size_t)c * ce, cn = rc - o < ce ? rc - o : ce;
    int put = nput(p, (uint32_t)c, BREF(SB_SEND, o * e), 0, cn * e, P, rc * e, cn * e, -1);
    nreduce(p, (uint32_t)c, BREF(SB_RECV, o * e), BREF(SB_NONE, 0), (uint64_t)r * cn * e,
                      cn, avg, put);
    ndone(p, (uint32_t)c);
  }
  return p->failed ? -1 : 0;
}
