/* Hierarchical reduce: the broadcast tree upside down. Node ranks send to their node
 * leader, node leaders their node's sum to the site leader, site leaders their site's sum to
 * the root: one message per site across sites. Chunked: each chunk moves up as soon as its
 * children's pieces are in; two receive slots per child alternate between chunks. */
#include "hier.h"

int strata_algo_reduce_hierarchical(strata_plan_t *p, const strata_coll_args_t *a) {
  const int r = a->rank;
  const size_t n = a->count, e = a->esize;
  if (plan_single_rank(p, a, n * e)) return p->failed ? -1 : 0;
  if (!a->hier) return -1;
  hier_tree_t t;
  if (hier_tree_make(&t, a->hier, a->root, r)) return -1;
  const int C = nchunks_for(n, e, a->chunk_bytes);
  const size_t cmax = blk_cnt(n, C, 0) * e;
  const uint32_t in = r == a->root ? IN_BUF(a) : SB_SEND;
  const int root = r == a->root;
  /* scratch: 2 slots per child, then 2 running-sum slots (non-root leaders) */
  const uint64_t accs = (uint64_t)t.nchild * 2 * cmax;
  p->scratch_bytes = accs + (t.nchild && !root ? 2 * cmax : 0);
  int *reader = ialloc((size_t)t.nchild * 2 + 2, -1), *sent = ialloc(2, -1);
  if (!reader || !sent) { free(reader); free(sent); hier_tree_free(&t); return -1; }
  for (int c = 0; c < C; c++) {
    size_t o = blk_off(n, C, c) * e, b = blk_cnt(n, C, c) * e, cnt = blk_cnt(n, C, c);
    strata_bref_t cur = BREF(in, o);
    int dep = -1;
    strata_bref_t acc = root ? BREF(SB_RECV, o) : BREF(SB_SCRATCH, accs + (uint64_t)(c % 2) * cmax);
    for (int i = 0; i < t.nchild; i++) {
      uint64_t slot = ((uint64_t)i * 2 + (uint64_t)(c % 2)) * cmax;
      int rv = plan_recv(p, t.child[i], (uint32_t)c, BREF(SB_SCRATCH, slot), b, reader[i * 2 + c % 2], -1, -1);
      /* the running-sum slot of chunk c-2 is free once its send is done */
      dep = plan_reduce(p, acc, cur, BREF(SB_SCRATCH, slot), cnt, rv, dep, i == 0 ? sent[c % 2] : -1);
      reader[i * 2 + c % 2] = dep;
      cur = acc;
    }
    if (root) {
      if (!t.nchild && !a->inplace) dep = plan_copy(p, BREF(SB_RECV, o), cur, b, -1, -1, -1);
      if (a->op == STRATA_AVG) plan_avg(p, BREF(SB_RECV, o), cnt, dep, -1, -1);
    } else {
      sent[c % 2] = plan_send(p, t.parent, (uint32_t)c, cur, b, dep, -1, -1);
    }
  }
  free(reader);
  free(sent);
  hier_tree_free(&t);
  return p->failed ? -1 : 0;
}
