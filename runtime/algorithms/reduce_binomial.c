/* Binomial-tree reduce, pipelined in chunks; children are combined in a fixed order. */
#include "algo.h"

int strata_algo_reduce_binomial(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank, root = a->root;
  const size_t n = a->count, e = a->esize;
  const int vr = mod(r - root, P);
  const int nch = nchunks_for(n, e, a->chunk_bytes);
  const uint32_t in = vr == 0 ? IN_BUF(a) : SB_SEND;
  int lowbit = 1;
  if (vr == 0) while (lowbit < P) lowbit <<= 1;
  else lowbit = vr & -vr;
  int kids[32], nk = 0;
  for (int m = 1; m < lowbit; m <<= 1) /* smallest subtree first: it finishes first */
    if (vr + m < P) kids[nk++] = mod(vr + m + root, P);
  /* accumulator: recvbuf at the root, scratch elsewhere (never the caller's sendbuf);
   * scratch also holds two chunk-sized landing slots per child */
  const size_t cap = blk_cnt(n, nch, 0) * e;
  const uint32_t accb = vr == 0 ? SB_RECV : SB_SCRATCH;
  const uint64_t slots = vr == 0 ? 0 : n * e;
  p->scratch_bytes = slots + (size_t)nk * 2 * cap;
  int *prev = ialloc((size_t)nk * 2, -1); /* last reduce that read slot [kid][c%2] */
  if (!prev) return -1;
  if (vr == 0 && nk == 0 && !a->inplace)
    plan_copy(p, BREF(SB_RECV, 0), BREF(SB_SEND, 0), n * e, -1, -1, -1);
  for (int c = 0; c < nch; c++) {
    size_t co = blk_off(n, nch, c) * e, cnt = blk_cnt(n, nch, c);
    uint32_t cur = in;
    int last = -1;
    for (int k = 0; k < nk; k++) {
      uint64_t slot = slots + ((uint64_t)k * 2 + (uint64_t)(c % 2)) * cap;
      int rv = plan_recv(p, kids[k], (uint32_t)c, BREF(SB_SCRATCH, slot), cnt * e,
                         prev[k * 2 + c % 2], -1, -1);
      last = plan_reduce(p, BREF(accb, co), BREF(cur, co), BREF(SB_SCRATCH, slot), cnt, rv, last, -1);
      prev[k * 2 + c % 2] = last;
      cur = accb;
    }
    if (vr == 0) {
      if (a->op == STRATA_AVG) plan_avg(p, BREF(SB_RECV, co), cnt, last, -1, -1);
    } else {
      plan_send(p, mod(vr - lowbit + root, P), (uint32_t)c, BREF(cur, co), cnt * e, last, -1, -1);
    }
  }
  free(prev);
  return p->failed ? -1 : 0;
}
