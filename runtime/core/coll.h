/* Collective and algorithm identifiers shared by the planner, tuner and engine. */
#ifndef STRATA_COLL_H
#define STRATA_COLL_H

typedef enum {
  STRATA_COLL_ALLREDUCE = 0,
  STRATA_COLL_ALLGATHER,
  STRATA_COLL_REDUCE_SCATTER,
  STRATA_COLL_BROADCAST,
  STRATA_COLL_REDUCE,
  STRATA_COLL_ALLTOALL,
  STRATA_COLL_BARRIER,
  STRATA_NUM_COLLS
} strata_coll_t;

typedef enum {
  STRATA_ALGO_AUTO = 0,
  STRATA_ALGO_RING,
  STRATA_ALGO_RECURSIVE_DOUBLING,
  STRATA_ALGO_RABENSEIFNER,
  STRATA_ALGO_SHM,               /* shared-memory native (all ranks on one node) */
  STRATA_ALGO_BRUCK,
  STRATA_ALGO_RECURSIVE_HALVING,
  STRATA_ALGO_BINOMIAL,
  STRATA_ALGO_SCATTER_ALLGATHER,
  STRATA_ALGO_REDUCE_SCATTER_GATHER,
  STRATA_ALGO_PAIRWISE,
  STRATA_ALGO_DISSEMINATION,
  STRATA_ALGO_DIRECT,            /* every rank exchanges with every other at once */
  STRATA_ALGO_HIERARCHICAL,      /* level by level: node, site, across sites */
  STRATA_NUM_ALGOS
} strata_algo_t;

const char *strata_coll_name(strata_coll_t c);
const char *strata_algo_name(strata_algo_t a);
int strata_coll_from_name(const char *s);  /* -1 if unknown */
int strata_algo_from_name(const char *s);  /* -1 if unknown */

#endif
