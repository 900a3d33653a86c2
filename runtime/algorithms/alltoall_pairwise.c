/* Pairwise-exchange alltoall: in step i rank r sends to r+i and receives from r-i.
 * At most WINDOW exchanges are in flight, so large calls do not flood the transport. */
#include "algo.h"

#define WINDOW 4

int strata_algo_alltoall_pairwise(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t blk = a->count * a->esize;
  plan_copy(p, BREF(SB_RECV, (uint64_t)r * blk), BREF(SB_SEND, (uint64_t)r * blk), blk, -1, -1, -1);
  int *rv = ialloc((size_t)P, -1), *sv = ialloc((size_t)P, -1);
  if (!rv || !sv) { free(rv); free(sv); return -1; }
  for (int i = 1; i < P; i++) {
    int to = mod(r + i, P), from = mod(r - i, P);
    int d0 = i > WINDOW ? rv[i - WINDOW] : -1, d1 = i > WINDOW ? sv[i - WINDOW] : -1;
    sv[i] = plan_send(p, to, 0, BREF(SB_SEND, (uint64_t)to * blk), blk, d0, d1, -1);
    rv[i] = plan_recv(p, from, 0, BREF(SB_RECV, (uint64_t)from * blk), blk, d0, d1, -1);
  }
  free(rv);
  free(sv);
  return p->failed ? -1 : 0;
}
