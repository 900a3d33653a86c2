/* CPU reduction kernels for every dtype x op. dst may alias a source exactly. */
#ifndef STRATA_KERNELS_H
#define STRATA_KERNELS_H

#include <stddef.h>

/* dst[i] = a[i] op b[i] (AVG reduces as SUM; the divide is strata_kernel_avg). */
void strata_kernel_reduce2(void *dst, const void *a, const void *b, size_t n, int dtype, int op);
/* dst[i] = src[0][i] op ... op src[nsrc-1][i], in source order; narrow floats accumulate in
 * float32 and round once. avg_div > 0 divides the result by avg_div (STRATA_AVG). */
void strata_kernel_reduce_multi(void *dst, const void *const *src, int nsrc, size_t n,
                                int dtype, int op, int avg_div);
/* dst[i] = src[i] / div (C integer division for integers). */
void strata_kernel_avg(void *dst, const void *src, size_t n, int dtype, int div);

/* Copy with non-temporal (streaming) stores: the lines go to memory instead of staying in
 * this core's cache, so another core reading them streams from memory rather than snooping
 * here. dst must be 16-byte aligned. */
void strata_kernel_copy_stream(void *dst, const void *src, size_t bytes);

#endif
