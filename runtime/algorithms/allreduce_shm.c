/* Shared-memory-native allreduce (all ranks on one host). Each rank copies a chunk of its
 * input into its staging slot; then either
 *  - direct (small): every rank reduces all slots into its own recvbuf, one sync per chunk;
 *  - sliced (large): rank q reduces slice q of every slot in parallel and publishes it;
 *    every rank copies all reduced slices out. Slots stay cache-resident, so memory
 *    traffic is one read of the input and one write of the output per rank.
 * Every element is combined in rank order by one routine, so all ranks get the same bits. */
#include "node_util.h"

static void chunk(strata_plan_t *p, const strata_coll_args_t *a, uint32_t c, size_t c0, size_t cn) {
  const int P = a->nranks, r = a->rank;
  const size_t e = a->esize;
  const unsigned avg = a->op == STRATA_AVG ? SF_AVG : 0;
  int put = nput(p, c, BREF(IN_BUF(a), c0 * e), 0, cn * e, 1, 0, 0, -1);
  if (!(P > 1 && a->count * e >= a->node_slice_min)) { /* direct */
    nreduce(p, c, BREF(SB_RECV, c0 * e), BREF(SB_NONE, 0), 0, cn, avg, put);
    ndone(p, c);
    return;
  }
  size_t so = blk_off(cn, P, r), sn = blk_cnt(cn, P, r);
  int red = nreduce(p, c, BREF(SB_NODE, so * e), BREF(SB_NONE, 0), so * e, sn, avg, put);
  for (int i = 0; i < P; i++) {
    int q = mod(r + i, P);
    size_t qo = blk_off(cn, P, q), qn = blk_cnt(cn, P, q);
    nget(p, c, q, BREF(SB_RECV, (c0 + qo) * e), qo * e, qn * e, SF_RED, red);
  }
  ndone(p, c);
}

int strata_algo_allreduce_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  const size_t n = a->count, e = a->esize, bytes = n * e;
  size_t ce = node_chunk_bytes(a, bytes) / e;
  node_chunks(p, a, n, ce, e, chunk);
  p->node_implied = p->node_chunks == 1 && !(a->nranks > 1 && bytes >= a->node_slice_min);
  return p->failed ? -1 : 0;
}
