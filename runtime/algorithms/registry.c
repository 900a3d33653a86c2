/* Which algorithms exist for which collective. */
#include <string.h>

#include "algo.h"

#define E(c, a, fn, node) {STRATA_COLL_##c, STRATA_ALGO_##a, strata_algo_##fn, node}
static const strata_algo_entry_t registry[] = {
    E(ALLREDUCE, RING, allreduce_ring, 0),
    E(ALLREDUCE, RECURSIVE_DOUBLING, allreduce_recursive_doubling, 0),
    E(ALLREDUCE, RABENSEIFNER, allreduce_rabenseifner, 0),
    E(ALLREDUCE, SHM, allreduce_shm, 1),
    E(ALLREDUCE, DIRECT, allreduce_direct, 0),
    E(ALLREDUCE, HIERARCHICAL, allreduce_hierarchical, 0),
    E(ALLGATHER, RING, allgather_ring, 0),
    E(ALLGATHER, RECURSIVE_DOUBLING, allgather_recursive_doubling, 0),
    E(ALLGATHER, BRUCK, allgather_bruck, 0),
    E(ALLGATHER, SHM, allgather_shm, 1),
    E(ALLGATHER, HIERARCHICAL, allgather_hierarchical, 0),
    E(REDUCE_SCATTER, RING, reduce_scatter_ring, 0),
    E(REDUCE_SCATTER, RECURSIVE_HALVING, reduce_scatter_recursive_halving, 0),
    E(REDUCE_SCATTER, SHM, reduce_scatter_shm, 1),
    E(REDUCE_SCATTER, HIERARCHICAL, reduce_scatter_hierarchical, 0),
    E(BROADCAST, BINOMIAL, broadcast_binomial, 0),
    E(BROADCAST, SCATTER_ALLGATHER, broadcast_scatter_allgather, 0),
    E(BROADCAST, SHM, broadcast_shm, 1),
    E(BROADCAST, HIERARCHICAL, broadcast_hierarchical, 0),
    E(REDUCE, BINOMIAL, reduce_binomial, 0),
    E(REDUCE, REDUCE_SCATTER_GATHER, reduce_reduce_scatter_gather, 0),
    E(REDUCE, SHM, reduce_shm, 1),
    E(REDUCE, HIERARCHICAL, reduce_hierarchical, 0),
    E(ALLTOALL, PAIRWISE, alltoall_pairwise, 0),
    E(ALLTOALL, BRUCK, alltoall_bruck, 0),
    E(ALLTOALL, SHM, alltoall_shm, 1),
    E(BARRIER, DISSEMINATION, barrier_dissemination, 0),
    E(BARRIER, SHM, barrier_shm, 1),
};
#define NREG ((int)(sizeof registry / sizeof registry[0]))

const strata_algo_entry_t *strata_algo_find(strata_coll_t coll, strata_algo_t algo) {
  for (int i = 0; i < NREG; i++)
    if (registry[i].coll == coll && registry[i].algo == algo) return &registry[i];
  return NULL;
}

int strata_algo_list(strata_coll_t coll, strata_algo_t *out, int max) {
  int n = 0;
  for (int i = 0; i < NREG; i++)
    if (registry[i].coll == coll && n < max) out[n++] = registry[i].algo;
  return n;
}

int strata_algo_fits(const strata_coll_args_t *a, strata_algo_t algo) {
  const strata_algo_entry_t *e = strata_algo_find(a->coll, algo);
  if (!e) return 0;
  if (algo == STRATA_ALGO_HIERARCHICAL) /* needs a topology with more than one node */
    return a->hier != NULL && a->hier->nranks == a->nranks && a->hier->nunits[0] > 1 &&
           /* allgather/reduce_scatter tag blocks by rank within a phase's 2^16 tags */
           (a->nranks < 65536 || a->coll == STRATA_COLL_ALLREDUCE || a->coll == STRATA_COLL_BROADCAST ||
            a->coll == STRATA_COLL_REDUCE);
  if (e->node_only && (a->coll == STRATA_COLL_REDUCE_SCATTER || a->coll == STRATA_COLL_ALLTOALL))
    return (size_t)a->nranks * a->esize <= a->node_chunk;
  return 1;
}

int strata_plan_build(strata_plan_t *p, const strata_coll_args_t *a, strata_algo_t algo) {
  const strata_algo_entry_t *e = strata_algo_find(a->coll, algo);
  strata_plan_init(p, a->coll, algo);
  if (!e || !strata_algo_fits(a, algo)) return -1;
  if (e->build(p, a) || p->failed) {
    strata_plan_free(p);
    return -1;
  }
  return 0;
}
