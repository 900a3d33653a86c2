#ifndef STRATA_PERF_COLLS_H
#define STRATA_PERF_COLLS_H
#include "perf_common.h"
extern const perf_coll_t perf_allreduce, perf_allgather, perf_reduce_scatter, perf_broadcast, perf_reduce,
    perf_alltoall;
#endif
