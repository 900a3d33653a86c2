/* CUDA kernels, callable from C. Every launcher is asynchronous on `stream` (a cudaStream_t)
 * and returns a cudaError_t as int (0 = launched). */
#ifndef STRATA_CUDA_KERNELS_H
#define STRATA_CUDA_KERNELS_H

#include <stdint.h>

#include "../strata_dev_task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Each task: dst[k][i] = src[0][i] op ... op src[nsrc-1][i] (in source order; float16,
 * bfloat16 and fp8 accumulate in float32 and round once), then / avg_div when avg_div > 0.
 * One pass: every source is read once, every destination written once. A destination may
 * be one of the sources (same element range). dtype, op: strata_dtype_t, strata_op_t. */
int strata_cuda_reduce(const strata_dev_task_t *tasks, int ntasks, int dtype, int op, int avg_div,
                       void *stream);
/* Byte copies: each task copies count bytes from src[0] to every dst. */
int strata_cuda_copy(const strata_dev_task_t *tasks, int ntasks, void *stream);
/* Blocks the stream until *flag >= value (flag in mapped pinned host memory), or until
 * timeout_ns passes, whichever is first; then sets *timed_out (device-visible) to 1 if it
 * timed out. One thread; sleeps between polls. */
int strata_cuda_wait_flag(volatile uint32_t *flag, uint32_t value, uint64_t timeout_ns,
                          volatile uint32_t *timed_out, void *stream);

#ifdef __cplusplus
}
#endif
#endif
