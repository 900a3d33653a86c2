/* Direct allreduce: every rank owns one block; all ranks send each block to its owner at
 * once, owners reduce, then send their block to everyone at once. Two rounds, P-1 flows
 * in flight per rank, each block in pipelined chunks: for a few ranks across a long fat
 * pipe (the top level of a hierarchical plan) it keeps the most bytes in flight. */
#include "algo.h"

int strata_algo_allreduce_direct(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t n = a->count, e = a->esize;
  const uint32_t in = IN_BUF(a);
  if (plan_single_rank(p, a, n * e)) return p->failed ? -1 : 0;
  const size_t bmax = blk_cnt(n, P, 0);
  const int nch = nchunks_for(bmax, e, a->chunk_bytes);
  p->scratch_bytes = (size_t)(P - 1) * bmax * e;
  int *sent = ialloc((size_t)P * nch, -1); /* RS send of (block q, chunk c) */
  if (!sent) return -1;
  const size_t rbo = blk_off(n, P, r), rbc = blk_cnt(n, P, r);
  for (int c = 0; c < nch; c++) {
    const size_t co = blk_off(rbc, nch, c), cc = blk_cnt(rbc, nch, c);
    int acc = -1;
    for (int d = 1; d < P; d++) {
      int q = (r + d) % P;
      size_t qbc = blk_cnt(n, P, q);
      size_t qo = blk_off(n, P, q) + blk_off(qbc, nch, c), qc = blk_cnt(qbc, nch, c);
      uint64_t slot = ((uint64_t)(d - 1) * bmax + co) * e;
      int rv = plan_recv(p, q, (uint32_t)c, BREF(SB_SCRATCH, slot), cc * e, -1, -1, -1);
      sent[q * nch + c] = plan_send(p, q, (uint32_t)c, BREF(in, qo * e), qc * e, -1, -1, -1);
      /* the owner alone computes its block: any fixed order gives every rank the same bits */
      acc = plan_reduce(p, BREF(SB_RECV, (rbo + co) * e), BREF(acc < 0 ? in : SB_RECV, (rbo + co) * e),
                        BREF(SB_SCRATCH, slot), cc, rv, acc, -1);
    }
    if (a->op == STRATA_AVG) acc = plan_avg(p, BREF(SB_RECV, (rbo + co) * e), cc, acc, -1, -1);
    for (int d = 1; d < P; d++) {
      int q = (r + d) % P;
      size_t qbc = blk_cnt(n, P, q);
      size_t qo = blk_off(n, P, q) + blk_off(qbc, nch, c), qc = blk_cnt(qbc, nch, c);
      plan_recv(p, q, (uint32_t)(nch + c), BREF(SB_RECV, qo * e), qc * e, sent[q * nch + c], -1, -1);
      plan_send(p, q, (uint32_t)(nch + c), BREF(SB_RECV, (rbo + co) * e), cc * e, acc, -1, -1);
    }
  }
  free(sent);
  return p->failed ? -1 : 0;
}
