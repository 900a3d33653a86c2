/* Shared-memory-native barrier: publish a flag, wait for everyone's. */
#include "node_util.h"

int strata_algo_barrier_shm(strata_plan_t *p, const strata_coll_args_t *a) {
  (void)a;
  p->node_chunks = 1;
  p->node_implied = 1;
  int put = nput(p, 0, BREF(SB_NONE, 0), 0, 0, 1, 0, 0, -1);
  int wait = nreduce(p, 0, BREF(SB_NONE, 0), BREF(SB_NONE, 0), 0, 0, 0, put);
  (void)wait;
  ndone(p, 0);
  return p->failed ? -1 : 0;
}
