/* Strata: collective communication for distributed training.
 * Public C11 API. Datatype and op numbering follow NCCL, so adapters are casts. */
#ifndef STRATA_H
#define STRATA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_VERSION_MAJOR 0
#define STRATA_VERSION_MINOR 1
#define STRATA_VERSION_PATCH 0
#define STRATA_VERSION_CODE \
  (STRATA_VERSION_MAJOR * 10000 + STRATA_VERSION_MINOR * 100 + STRATA_VERSION_PATCH)

typedef struct strata_comm *strata_comm_t;
typedef struct strata_request *strata_request_t;
typedef struct { char internal[128]; } strata_unique_id_t;

typedef enum {
  STRATA_SUCCESS = 0,
  STRATA_ERR_INVALID_ARGUMENT, /* bad pointer, count, dtype, op, root, rank */
  STRATA_ERR_INVALID_USAGE,    /* wrong call order, mismatch detected, comm aborted */
  STRATA_ERR_SYSTEM,           /* OS or allocation failure */
  STRATA_ERR_TRANSPORT,        /* UCX / shared memory / socket failure */
  STRATA_ERR_TIMEOUT,          /* a peer did not answer within the timeout */
  STRATA_ERR_PEER_FAILED,      /* a peer is known to have died */
  STRATA_ERR_UNSUPPORTED,
  STRATA_ERR_INTERNAL,
  STRATA_IN_PROGRESS,
  STRATA_ERR_REVOKED           /* the communicator was revoked (or this rank excluded from it) */
} strata_result_t;

typedef enum {
  STRATA_INT8 = 0, STRATA_UINT8, STRATA_INT32, STRATA_UINT32, STRATA_INT64,
  STRATA_UINT64, STRATA_FLOAT16, STRATA_FLOAT32, STRATA_FLOAT64,
  STRATA_BFLOAT16, STRATA_FLOAT8_E4M3, STRATA_FLOAT8_E5M2, STRATA_NUM_DTYPES
} strata_dtype_t;

typedef enum { STRATA_SUM = 0, STRATA_PROD, STRATA_MAX, STRATA_MIN, STRATA_AVG,
               STRATA_NUM_OPS } strata_op_t;

const char *strata_result_string(strata_result_t r); /* never NULL, any value */
strata_result_t strata_get_version(int *version);    /* 100 for 0.1.0 */

/* Communicator creation. */
strata_result_t strata_get_unique_id(strata_unique_id_t *id);
strata_result_t strata_comm_init_rank(strata_comm_t *comm, int nranks,
                                      strata_unique_id_t id, int rank);
/* STRATA_RANK, STRATA_WORLD_SIZE, STRATA_ROOT=host:port */
strata_result_t strata_comm_init_env(strata_comm_t *comm);
/* color < 0: *newcomm = NULL */
strata_result_t strata_comm_split(strata_comm_t comm, int color, int key,
                                  strata_comm_t *newcomm);
strata_result_t strata_comm_destroy(strata_comm_t comm);
strata_result_t strata_comm_abort(strata_comm_t comm);
strata_result_t strata_comm_rank(strata_comm_t comm, int *rank);
strata_result_t strata_comm_size(strata_comm_t comm, int *size);

/* Blocking collectives. */
strata_result_t strata_allreduce(const void *sendbuf, void *recvbuf, size_t count,
                                 strata_dtype_t dtype, strata_op_t op, strata_comm_t comm);
strata_result_t strata_allgather(const void *sendbuf, void *recvbuf, size_t sendcount,
                                 strata_dtype_t dtype, strata_comm_t comm);
strata_result_t strata_reduce_scatter(const void *sendbuf, void *recvbuf, size_t recvcount,
                                      strata_dtype_t dtype, strata_op_t op, strata_comm_t comm);
strata_result_t strata_broadcast(const void *sendbuf, void *recvbuf, size_t count,
                                 strata_dtype_t dtype, int root, strata_comm_t comm);
strata_result_t strata_reduce(const void *sendbuf, void *recvbuf, size_t count,
                              strata_dtype_t dtype, strata_op_t op, int root,
                              strata_comm_t comm);
/* count per peer */
strata_result_t strata_alltoall(const void *sendbuf, void *recvbuf, size_t count,
                                strata_dtype_t dtype, strata_comm_t comm);
strata_result_t strata_barrier(strata_comm_t comm);

/* Nonblocking twins. */
strata_result_t strata_iallreduce(const void *sendbuf, void *recvbuf, size_t count,
                                  strata_dtype_t dtype, strata_op_t op, strata_comm_t comm,
                                  strata_request_t *req);
strata_result_t strata_iallgather(const void *sendbuf, void *recvbuf, size_t sendcount,
                                  strata_dtype_t dtype, strata_comm_t comm,
                                  strata_request_t *req);
strata_result_t strata_ireduce_scatter(const void *sendbuf, void *recvbuf, size_t recvcount,
                                       strata_dtype_t dtype, strata_op_t op,
                                       strata_comm_t comm, strata_request_t *req);
strata_result_t strata_ibroadcast(const void *sendbuf, void *recvbuf, size_t count,
                                  strata_dtype_t dtype, int root, strata_comm_t comm,
                                  strata_request_t *req);
strata_result_t strata_ireduce(const void *sendbuf, void *recvbuf, size_t count,
                               strata_dtype_t dtype, strata_op_t op, int root,
                               strata_comm_t comm, strata_request_t *req);
strata_result_t strata_ialltoall(const void *sendbuf, void *recvbuf, size_t count,
                                 strata_dtype_t dtype, strata_comm_t comm,
                                 strata_request_t *req);
strata_result_t strata_ibarrier(strata_comm_t comm, strata_request_t *req);

strata_result_t strata_test(strata_request_t req, int *done); /* done != 0 releases req */
strata_result_t strata_wait(strata_request_t req);            /* releases req */

/* Fault tolerance (docs/FAULTS.md). A failure (a dead or silent peer, a revoke) fails the
 * communicator on every member: pending and later calls return STRATA_ERR_PEER_FAILED,
 * STRATA_ERR_TIMEOUT or STRATA_ERR_REVOKED. Survivors then shrink it and may grow back. */
/* The communicator's sticky error (STRATA_SUCCESS while healthy); never blocks. */
strata_result_t strata_comm_get_async_error(strata_comm_t comm, strata_result_t *err);
/* The comm ranks this rank knows or suspects to have failed (up to max of them). */
strata_result_t strata_comm_failed_ranks(strata_comm_t comm, int *ranks, int max, int *nfailed);
/* Not collective: every member's pending and later calls return STRATA_ERR_REVOKED. */
strata_result_t strata_comm_revoke(strata_comm_t comm);
/* Collective over the survivors: a communicator of every rank not excluded and not found
 * dead or unresponsive, ranks renumbered in order; the survivors agree on the set. */
strata_result_t strata_comm_shrink(strata_comm_t comm, const int *exclude, int nexclude,
                                   strata_comm_t *newcomm);
/* Collective over the survivors, fault tolerant: *flag becomes the bitwise AND of theirs. */
strata_result_t strata_comm_agree(strata_comm_t comm, int *flag);
/* Members call grow, nnew new processes call join, all with one id from
 * strata_get_unique_id: members keep their ranks, joiner index becomes rank size + index. */
strata_result_t strata_comm_grow(strata_comm_t comm, int nnew, strata_unique_id_t id,
                                 strata_comm_t *newcomm);
strata_result_t strata_comm_join(strata_unique_id_t id, int index, strata_comm_t *newcomm);

/* Introspection (used by strata_info and the benchmarks). */
size_t strata_dtype_size(strata_dtype_t dtype); /* 0 for an invalid dtype */
const char *strata_dtype_name(strata_dtype_t dtype);
const char *strata_op_name(strata_op_t op);

#ifdef __cplusplus
}
#endif
#endif /* STRATA_H */
