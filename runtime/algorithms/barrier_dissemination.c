/* Dissemination barrier: ceil(log2 P) rounds of zero-byte messages, any P. */
#include "algo.h"

int strata_algo_barrier_dissemination(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  int prev = -1;
  for (int dist = 1, k = 0; dist < P; dist <<= 1, k++) {
    plan_send(p, mod(r + dist, P), (uint32_t)k, BREF(SB_NONE, 0), 0, prev, -1, -1);
    prev = plan_recv(p, mod(r - dist, P), (uint32_t)k, BREF(SB_NONE, 0), 0, prev, -1, -1);
  }
  return p->failed ? -1 : 0;
}
