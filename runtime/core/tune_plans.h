/* Timing the candidate plans at the first init with this many ranks on a host
 * (tune_plans.c), or taking the timings cached by an earlier one: the node plans' builder
 * thresholds and the point-to-point pipeline piece go into the host's machine figures, and
 * the times themselves scale the cost model's estimates (tuner/plan_times.h). */
#ifndef STRATA_TUNE_PLANS_H
#define STRATA_TUNE_PLANS_H

#include "../tuner/plan_times.h"
#include "internal.h"

/* Collective over c (a one-host world communicator). *out: the times (the caller owns
 * them), or NULL where nothing is measured (STRATA_TUNE=0, more ranks than cores, across
 * hosts, a single rank, no staging segment). STRATA_TUNE=again measures even when cached,
 * and even with more ranks than cores. */
strata_result_t strata_comm_tune_plans(strata_comm_t c, strata_plan_times_t **out);

#endif
