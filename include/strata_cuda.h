/* Strata on CUDA device buffers: stream-ordered twins of the collectives, and helpers.
 *
 * Every collective in strata.h also accepts device pointers (cudaMalloc memory, detected
 * with cudaPointerGetAttributes); those plain calls are synchronous. The _stream twins here
 * behave like NCCL's: the operation starts after the work already queued on `stream`, later
 * work on `stream` waits for it, and the call returns without waiting for the GPU (across
 * hosts, the staged path waits on the host for the stream's earlier work before it copies).
 * Every rank of one call passes the same kind of memory. Without a GPU (or a CUDA build)
 * these return STRATA_ERR_UNSUPPORTED with a log line.
 *
 * The stream type is CUDA's own (cudaStream_t is `struct CUstream_st *`), so this header
 * needs no CUDA header; a NULL stream is the default stream. */
#ifndef STRATA_CUDA_H
#define STRATA_CUDA_H

#include "strata.h"

#ifdef __cplusplus
extern "C" {
#endif

struct CUstream_st;
typedef struct CUstream_st *strata_stream_t; /* == cudaStream_t */

strata_result_t strata_allreduce_stream(const void *sendbuf, void *recvbuf, size_t count, strata_dtype_t dtype,
                                        strata_op_t op, strata_comm_t comm, strata_stream_t stream);
strata_result_t strata_allgather_stream(const void *sendbuf, void *recvbuf, size_t sendcount, strata_dtype_t dtype,
                                        strata_comm_t comm, strata_stream_t stream);
strata_result_t strata_reduce_scatter_stream(const void *sendbuf, void *recvbuf, size_t recvcount,
                                             strata_dtype_t dtype, strata_op_t op, strata_comm_t comm,
                                             strata_stream_t stream);
strata_result_t strata_broadcast_stream(const void *sendbuf, void *recvbuf, size_t count, strata_dtype_t dtype,
                                        int root, strata_comm_t comm, strata_stream_t stream);
strata_result_t strata_reduce_stream(const void *sendbuf, void *recvbuf, size_t count, strata_dtype_t dtype,
                                     strata_op_t op, int root, strata_comm_t comm, strata_stream_t stream);
strata_result_t strata_alltoall_stream(const void *sendbuf, void *recvbuf, size_t count, strata_dtype_t dtype,
                                       strata_comm_t comm, strata_stream_t stream);
/* ranks' earlier stream work done before any rank's later stream work (host-side wait) */
strata_result_t strata_barrier_stream(strata_comm_t comm, strata_stream_t stream);

/* *available = 1 when device buffers are accepted (a GPU, or STRATA_DEVICE=emulated);
 * name (may be NULL): "cuda", "emulated" or "none". */
strata_result_t strata_device_available(int *available, const char **name);
/* Device memory that the direct (IPC) path can share (cudaMalloc); like ncclMemAlloc. */
strata_result_t strata_mem_alloc(void **ptr, size_t bytes);
strata_result_t strata_mem_free(void *ptr);
/* Synchronous copy between any two of host and device memory. */
strata_result_t strata_mem_copy(void *dst, const void *src, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif /* STRATA_CUDA_H */
