/* Hierarchical broadcast: the root sends to one leader per other site (the only traffic
 * across sites), site leaders to one leader per other node, node leaders to their node's
 * ranks (shared memory). Chunked: a leader forwards each chunk as soon as it arrived. */
#include "hier.h"

int strata_algo_broadcast_hierarchical(strata_plan_t *p, const strata_coll_args_t *a) {
  const int r = a->rank;
  const size_t n = a->count, e = a->esize;
  if (plan_single_rank(p, a, n * e)) return p->failed ? -1 : 0;
  if (!a->hier) return -1;
  hier_tree_t t;
  if (hier_tree_make(&t, a->hier, a->root, r)) return -1;
  const int C = nchunks_for(n, e, a->chunk_bytes);
  const uint32_t src = r == a->root ? IN_BUF(a) : SB_RECV;
  for (int c = 0; c < C; c++) {
    size_t o = blk_off(n, C, c) * e, b = blk_cnt(n, C, c) * e;
    int have = -1;
    if (t.parent >= 0) have = plan_recv(p, t.parent, (uint32_t)c, BREF(SB_RECV, o), b, -1, -1, -1);
    for (int i = 0; i < t.nchild; i++) plan_send(p, t.child[i], (uint32_t)c, BREF(src, o), b, have, -1, -1);
    if (r == a->root && !a->inplace) plan_copy(p, BREF(SB_RECV, o), BREF(SB_SEND, o), b, -1, -1, -1);
  }
  hier_tree_free(&t);
  return p->failed ? -1 : 0;
}
