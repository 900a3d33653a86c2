/* The cost model: every automatic algorithm choice goes through strata_tuner_choose.
 * Costs are alpha-beta-gamma estimates in seconds with constants measured on the
 * development machines (docs/TUNING.md); STRATA_ALGO overrides the choice. */
#ifndef STRATA_TUNER_H
#define STRATA_TUNER_H

#include <stddef.h>

#include "../core/coll.h"

typedef struct strata_tuner {
  int nranks;
  int node_ok;        /* node plans possible: every rank on one host, shm enabled */
  double alpha;       /* point-to-point latency per message, s */
  double alpha_rndv;  /* extra per message above the eager size (CMA / rendezvous), s */
  size_t eager;       /* largest message sent eagerly, bytes */
  double beta;        /* point-to-point time per byte, s */
  double node_alpha;  /* one synchronisation through shared flags, s */
  double node_beta;   /* staging copy per byte (cache-resident), s */
  double gamma;       /* reduction per byte, s */
} strata_tuner_t;

/* p2p_shm: point-to-point messages go over the shm transport (else UCX).
 * oversubscribed: more ranks than cores on this host: every synchronisation round waits for
 * a peer to be scheduled. */
void strata_tuner_init(strata_tuner_t *t, int nranks, int node_ok, int p2p_shm, int oversubscribed);
/* Estimated seconds for algorithm a; a huge value when a does not apply. `bytes` is the
 * nccl-tests size: allgather the gathered total, reduce_scatter and alltoall the send total. */
double strata_tuner_cost(const strata_tuner_t *t, strata_coll_t c, strata_algo_t a, size_t bytes);
strata_algo_t strata_tuner_choose(const strata_tuner_t *t, strata_coll_t c, size_t bytes, double *cost);

#endif
