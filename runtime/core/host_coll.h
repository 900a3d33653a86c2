/* The host path (host_coll.c): plans and the engine, below the public calls and below the
 * device path. Callers have checked the arguments. */
#ifndef STRATA_HOST_COLL_H
#define STRATA_HOST_COLL_H

#include "internal.h"

/* Run one collective on host buffers. out == NULL: blocking. Otherwise *out is the started
 * request, to be finished with strata_host_test (until done) or strata_host_wait, which
 * release it. Barrier ignores the buffers, count, dtype and op. */
strata_result_t strata_host_coll(strata_comm_t comm, strata_coll_t coll, const void *sendbuf, void *recvbuf,
                                 size_t count, strata_dtype_t dtype, strata_op_t op, int root, strata_algo_t force,
                                 struct strata_request **out);
strata_result_t strata_host_test(struct strata_request *req, int *done);
strata_result_t strata_host_wait(struct strata_request *req);

/* Is this the collective's in-place layout? bytes: count * element size. */
int strata_coll_inplace(strata_coll_t coll, const void *sendbuf, const void *recvbuf, size_t bytes, int me, int root);
/* "strata_allreduce", ... for messages */
const char *strata_coll_fn_name(strata_coll_t c);

#endif
