/* The device ops table: everything the runtime needs from a GPU, behind one small interface.
 * Providers: "cuda" (runtime/device/cuda/cuda_dev.c, built when nvcc is found, active when a GPU
 * is present) and "emulated" (runtime/device/dev_emulated.c: host memory posing as device
 * memory, with IPC through shared-memory files, so every device path runs in CI without a
 * GPU; STRATA_DEVICE=emulated). Streams and events are opaque; all calls return 0 on success.
 * Nothing outside the providers knows about CUDA. */
#ifndef STRATA_DEVICE_H
#define STRATA_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "strata_dev_task.h"

#define STRATA_DEV_HANDLE_BYTES 64

typedef struct strata_dev_ops {
  const char *name;
  /* 1: device memory (*dev its ordinal), 0: host memory (pinned or not) */
  int (*is_device_ptr)(const void *p, int *dev);
  int (*get_device)(int *dev);
  int (*mem_alloc)(void **p, size_t bytes);
  int (*mem_free)(void *p);
  int (*host_alloc)(void **p, size_t bytes); /* pinned, device-visible */
  int (*host_free)(void *p);
  /* asynchronous on stream (NULL: the provider's default); any direction */
  int (*copy_async)(void *dst, const void *src, size_t bytes, void *stream);
  /* height rows of width bytes: dst + r * dpitch <- src + r * spitch */
  int (*copy2d_async)(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                      size_t height, void *stream);
  int (*stream_create)(void **s);
  int (*stream_destroy)(void *s);
  int (*stream_sync)(void *s);
  int (*event_create)(void **e, int interprocess);
  int (*event_destroy)(void *e);
  int (*event_record)(void *e, void *s);
  int (*event_query)(void *e); /* 0 done, 1 not yet, < 0 error */
  int (*stream_wait_event)(void *s, void *e);
  int (*event_ipc_get)(void *e, void *handle);
  int (*event_ipc_open)(const void *handle, void **e);
  /* handle of the allocation holding p, and p's offset in it */
  int (*mem_ipc_get)(const void *p, void *handle, size_t *offset);
  int (*mem_ipc_open)(const void *handle, void **base);
  int (*mem_ipc_close)(void *base);
  int (*reduce)(const strata_dev_task_t *t, int ntasks, int dtype, int op, int avg_div, void *stream);
  int (*copy)(const strata_dev_task_t *t, int ntasks, void *stream);
  /* stream waits until *flag >= value (flag: host_alloc memory) or timeout_ns; *timed_out = 1 then */
  int (*wait_flag)(volatile uint32_t *flag, uint32_t value, uint64_t timeout_ns, volatile uint32_t *timed_out,
                   void *stream);
  /* device address of host_alloc memory */
  int (*host_dev_ptr)(void *host, void **dev);
  const char *(*error_string)(int rc);
} strata_dev_ops_t;

/* The active provider (chosen once: STRATA_DEVICE=emulated|cuda|none, else cuda when built
 * and a GPU is visible), or NULL when there is none. Cheap after the first call. */
const strata_dev_ops_t *strata_dev(void);
/* 1 when p is device memory of the active provider. */
int strata_dev_is_device_ptr(const void *p);

const strata_dev_ops_t *strata_dev_cuda_ops(void);     /* NULL without a GPU or CUDA build */
const strata_dev_ops_t *strata_dev_emulated_ops(void);

#endif
