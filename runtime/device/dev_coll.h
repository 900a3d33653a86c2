/* Collectives over device buffers (runtime side; the provider does the GPU work). */
#ifndef STRATA_DEV_COLL_H
#define STRATA_DEV_COLL_H

#include "../core/coll.h"
#include "strata.h"

struct strata_dev_comm;

/* Run one collective whose buffers include device memory, ordered on `stream` (NULL: the
 * default stream). sync: wait for the GPU before returning (plain calls). */
strata_result_t strata_dev_coll_run(strata_comm_t comm, strata_coll_t coll, const void *sendbuf, void *recvbuf,
                                    size_t count, strata_dtype_t dtype, strata_op_t op, int root, int inplace,
                                    strata_algo_t force, void *stream, int sync);
void strata_dev_comm_free(struct strata_dev_comm *d);
/* how many calls each device path ran on this comm (tests, logs) */
void strata_dev_comm_counts(strata_comm_t comm, unsigned long *ipc, unsigned long *staged, unsigned long *nccl);

#endif
