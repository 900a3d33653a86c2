/* Binomial-tree broadcast, pipelined in chunks: a chunk moves on as soon as it arrives. */
#include "algo.h"

int strata_algo_broadcast_binomial(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank, root = a->root;
  const size_t n = a->count, e = a->esize;
  const int vr = mod(r - root, P);
  const int nch = nchunks_for(n, e, a->chunk_bytes);
  /* the root sends from its send buffer; everyone else from what it received */
  const uint32_t data = (vr == 0) ? IN_BUF(a) : SB_RECV;
  if (vr == 0 && !a->inplace)
    plan_copy(p, BREF(SB_RECV, 0), BREF(SB_SEND, 0), n * e, -1, -1, -1);
  int lowbit = 1;
  if (vr == 0) while (lowbit < P) lowbit <<= 1;
  else lowbit = vr & -vr;
  for (int c = 0; c < nch; c++) {
    size_t co = blk_off(n, nch, c) * e, cb = blk_cnt(n, nch, c) * e;
    int got = -1;
    if (vr != 0)
      got = plan_recv(p, mod(vr - lowbit + root, P), (uint32_t)c, BREF(SB_RECV, co), cb, -1, -1, -1);
    for (int m = lowbit >> 1; m >= 1; m >>= 1)
      if (vr + m < P) plan_send(p, mod(vr + m + root, P), (uint32_t)c, BREF(data, co), cb, got, -1, -1);
  }
  return p->failed ? -1 : 0;
}
