/* Functions shared inside the runtime (not public). */
#ifndef STRATA_INTERNAL_H
#define STRATA_INTERNAL_H

#include "../../transports/transport.h"
#include "comm.h"

/* The shared context (context.c): made once per init, released with its last communicator. */
strata_result_t strata_ctx_create(strata_oob_t *oob, uint64_t key, strata_context_t **out);
void strata_ctx_release(strata_context_t *x);
/* Build a world communicator over an out-of-band exchange (consumes oob). */
strata_result_t strata_comm_create_world(strata_oob_t *oob, uint64_t key, strata_comm_t *out);
/* Blocking collective entry used by the public API and internally (split). algo_force:
 * STRATA_ALGO_AUTO or an algorithm to use regardless of STRATA_ALGO. */
strata_result_t strata_coll_run(strata_coll_t coll, const void *sendbuf, void *recvbuf, size_t count,
                                strata_dtype_t dtype, strata_op_t op, int root, strata_comm_t comm,
                                strata_request_t *req, strata_algo_t algo_force);
/* The same, ordered on a device stream when has_stream (the strata_cuda.h twins). */
strata_result_t strata_coll_run_ex(strata_coll_t coll, const void *sendbuf, void *recvbuf, size_t count,
                                   strata_dtype_t dtype, strata_op_t op, int root, strata_comm_t comm,
                                   strata_request_t *req, strata_algo_t algo_force, void *stream, int has_stream);
/* The algorithm a communicator would use (strata_info, logging). */
strata_algo_t strata_comm_choose(strata_comm_t comm, strata_coll_t coll, size_t bytes, int inplace, double *cost,
                                 int *overridden);
void strata_comm_free_cache(strata_comm_t comm);
/* A communicator of the parent's context: world[] (taken over) maps its ranks; sync/agree
 * (NULL: over the new communicator itself) coordinate its staging segment. */
strata_result_t strata_comm_derive(strata_comm_t parent, int rank, int nranks, int *world, uint32_t id, uint64_t uid,
                                   strata_result_t (*sync)(void *), strata_result_t (*agree)(void *, int *),
                                   void *arg, strata_comm_t *out);
/* A uid for the parent's next child, equal on every member that passes the same salt. */
uint64_t strata_comm_child_uid(strata_comm_t parent, uint64_t salt);

#endif
