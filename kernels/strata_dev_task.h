/* One unit of device work: dst[0..ndst) = src[0] op ... op src[nsrc-1] over count elements
 * (a copy when nsrc is 1). Plain C, shared by the runtime and the CUDA kernels. */
#ifndef STRATA_DEV_TASK_H
#define STRATA_DEV_TASK_H

#include <stddef.h>

#define STRATA_DEV_MAX_SRC 8
#define STRATA_DEV_MAX_DST 8
#define STRATA_DEV_MAX_TASKS 8 /* per launch: the batch travels as kernel parameters */

typedef struct strata_dev_task {
  const void *src[STRATA_DEV_MAX_SRC];
  void *dst[STRATA_DEV_MAX_DST];
  int nsrc, ndst;
  size_t count;
} strata_dev_task_t;

#endif
