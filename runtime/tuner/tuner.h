/* The cost model: every automatic algorithm choice goes through strata_tuner_choose.
 * Costs are alpha-beta-gamma estimates in seconds with constants measured on the
 * development machines (docs/TUNING.md); STRATA_ALGO overrides the choice. */
#ifndef STRATA_TUNER_H
#define STRATA_TUNER_H

#include <stddef.h>

#include "../core/coll.h"
#include "../engine/plan.h"
#include "machine.h"
#include "plan_times.h"

/* Which level a communication pattern crosses and how many of its flows share the busiest
 * host NIC and site uplink (per rank's message). */
typedef struct strata_pattern {
  int lvl;          /* 0 node, 1 site, 2 global: the slowest link any pair uses */
  double host_out;  /* messages leaving the busiest host */
  double site_out;  /* messages leaving the busiest site */
} strata_pattern_t;

#define TUNER_MAX_XOR 32

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
  double dirty_beta;  /* per byte of a peer's read of data this core just wrote (in-place
                         calls: the caller's buffer, still dirty in its cache), s; 0: none */
  size_t dirty_max;   /* ...up to this size (beyond, the writer's cache has let it go) */
  size_t slice_min;   /* node allreduce: sliced from this size (the plan builder's threshold) */
  /* this host's measured plan times (plan_times.h), for a one-host communicator of exactly
   * pt->nranks ranks; NULL: the model alone */
  const strata_plan_times_t *pt;
  /* a communicator across hosts: level figures and its placement's patterns */
  int multi;
  double cpu_over;                /* ranks per core on this machine (>= 1): reductions share cores */
  int nnodes, nsites, lmin, nmin; /* fewest ranks on a node, fewest nodes in a site */
  double la[3], lb[3];            /* per level: alpha (s), seconds per byte (NIC, uplink) */
  strata_pattern_t ring, xr[TUNER_MAX_XOR], direct;
  int nxr;
} strata_tuner_t;

/* p2p_shm: point-to-point messages go over the shm transport (else UCX).
 * oversubscribed: more ranks than cores on this host: every synchronisation round waits for
 * a peer to be scheduled. */
void strata_tuner_init(strata_tuner_t *t, int nranks, int node_ok, int p2p_shm, int oversubscribed);
/* The same with this machine's measured node figures (NULL: the defaults). */
void strata_tuner_init_machine(strata_tuner_t *t, int nranks, int node_ok, int p2p_shm, int oversubscribed,
                               const strata_machine_t *m);
/* Scale estimates by measured plan times (NULL: none). Used only while t->nranks equals
 * pt->nranks and the communicator is on one host. */
void strata_tuner_set_measured(strata_tuner_t *t, const strata_plan_times_t *pt);
/* The model's estimate without the measured times (what they are compared with). */
double strata_tuner_model_cost(const strata_tuner_t *t, strata_coll_t c, strata_algo_t a, size_t bytes, int inplace);
/* Estimated seconds for algorithm a; a huge value when a does not apply. `bytes` is the
 * nccl-tests size: allgather the gathered total, reduce_scatter and alltoall the send total. */
double strata_tuner_cost(const strata_tuner_t *t, strata_coll_t c, strata_algo_t a, size_t bytes);
/* The same for an in-place call (inplace = 1): a peer's first read of the caller's buffer
 * pays dirty_beta. */
double strata_tuner_cost_ex(const strata_tuner_t *t, strata_coll_t c, strata_algo_t a, size_t bytes, int inplace);
/* A communicator spanning hosts: unit ids per rank (h), level alpha (s) and bandwidth
 * (bytes/s: node pair, host NIC, site uplink). Flat algorithms are then costed per round by
 * the slowest level they cross and how many flows share a NIC or an uplink. */
void strata_tuner_set_topo(strata_tuner_t *t, const strata_hier_t *h, const double alpha[3], const double bw[3],
                           double cpu_over);
/* Cost of the best hierarchical plan for c (and what it is, in *hc). */
double strata_tuner_flat_multi(const strata_tuner_t *t, strata_algo_t a, double bytes);
double strata_tuner_hier_cost(const strata_tuner_t *t, strata_coll_t c, size_t bytes, strata_hier_choice_t *hc);

strata_algo_t strata_tuner_choose(const strata_tuner_t *t, strata_coll_t c, size_t bytes, double *cost);
strata_algo_t strata_tuner_choose_ex(const strata_tuner_t *t, strata_coll_t c, size_t bytes, int inplace, double *cost);

#endif
