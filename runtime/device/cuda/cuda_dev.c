/* The CUDA provider of the device ops table: memory queries, pinned staging memory, copies,
 * streams and events, CUDA IPC for memory and events, and Strata's kernels. Built only when
 * nvcc is found; active only when a GPU is visible at run time. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cuda_runtime_api.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../../core/config.h"
#include "../../../kernels/cuda/strata_cuda_kernels.h"
#include "../../core/log.h"
#include "../device.h"

_Static_assert(sizeof(cudaIpcMemHandle_t) <= STRATA_DEV_HANDLE_BYTES, "IPC handle size");
_Static_assert(sizeof(cudaIpcEventHandle_t) <= STRATA_DEV_HANDLE_BYTES, "IPC handle size");

static int rc_of(cudaError_t e) { return e == cudaSuccess ? 0 : (int)e; }

/* Pages known to be plain host memory: host calls on a GPU machine pay one lookup here
 * instead of cudaPointerGetAttributes each time. Safe to keep: with unified addressing,
 * device and managed allocations come from the driver's own reserved range, never from
 * addresses the host heap has handed out. */
#define HOST_CACHE 64
static _Thread_local uintptr_t host_pages[HOST_CACHE];

static int is_device_ptr(const void *p, int *dev) {
  uintptr_t pg = (uintptr_t)p >> 12;
  unsigned slot = (unsigned)(pg ^ (pg >> 6)) % HOST_CACHE;
  if (p && host_pages[slot] == pg + 1) return 0;
  struct cudaPointerAttributes a;
  if (!p || cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    (void)cudaGetLastError(); /* an unregistered host pointer on old runtimes */
    return 0;
  }
  if (a.type == cudaMemoryTypeUnregistered) host_pages[slot] = pg + 1;
  if (a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged) {
    if (dev) *dev = a.device;
    return 1;
  }
  return 0;
}
static int get_device(int *dev) { return rc_of(cudaGetDevice(dev)); }
static int mem_alloc(void **p, size_t n) { return rc_of(cudaMalloc(p, n ? n : 1)); }
static int mem_free(void *p) { return rc_of(cudaFree(p)); }
static int host_alloc(void **p, size_t n) { return rc_of(cudaHostAlloc(p, n ? n : 1, cudaHostAllocPortable | cudaHostAllocMapped)); }
static int host_free(void *p) { return rc_of(cudaFreeHost(p)); }
static int copy_async(void *d, const void *s, size_t n, void *st) {
  return n ? rc_of(cudaMemcpyAsync(d, s, n, cudaMemcpyDefault, (cudaStream_t)st)) : 0;
}
static int copy2d_async(void *d, size_t dp, const void *s, size_t sp, size_t w, size_t h, void *st) {
  if (!w || !h) return 0;
  return rc_of(cudaMemcpy2DAsync(d, dp, s, sp, w, h, cudaMemcpyDefault, (cudaStream_t)st));
}
static int stream_create(void **s) {
  cudaStream_t st;
  int rc = rc_of(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  *s = rc ? NULL : (void *)st;
  return rc;
}
static int stream_destroy(void *s) { return rc_of(cudaStreamDestroy((cudaStream_t)s)); }
/* Every wait is bounded: an event recorded on the stream is polled against
 * STRATA_TIMEOUT_MS (yielding), never cudaStreamSynchronize, which can block forever on a
 * hung kernel or a peer that never signals. cudaErrorTimeout after the deadline. */
static int stream_sync(void *s) {
  cudaEvent_t ev;
  cudaError_t e = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
  if (e != cudaSuccess) return rc_of(e);
  e = cudaEventRecord(ev, (cudaStream_t)s);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  const double limit = (double)strata_config()->timeout_ms * 1e-3;
  while (e == cudaSuccess) {
    cudaError_t q = cudaEventQuery(ev);
    if (q == cudaSuccess) break;
    if (q != cudaErrorNotReady) { e = q; break; }
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec) > limit) {
      SLOG_WARN("device: a stream did not finish within STRATA_TIMEOUT_MS (%lld ms)",
                (long long)strata_config()->timeout_ms);
      e = cudaErrorTimeout;
      break;
    }
    sched_yield();
  }
  cudaEventDestroy(ev);
  return rc_of(e);
}
static int event_create(void **e, int ipc) {
  cudaEvent_t ev;
  unsigned f = cudaEventDisableTiming | (ipc ? cudaEventInterprocess : 0);
  int rc = rc_of(cudaEventCreateWithFlags(&ev, f));
  *e = rc ? NULL : (void *)ev;
  return rc;
}
static int event_destroy(void *e) { return rc_of(cudaEventDestroy((cudaEvent_t)e)); }
static int event_record(void *e, void *s) { return rc_of(cudaEventRecord((cudaEvent_t)e, (cudaStream_t)s)); }
static int event_query(void *e) {
  cudaError_t r = cudaEventQuery((cudaEvent_t)e);
  if (r == cudaSuccess) return 0;
  if (r == cudaErrorNotReady) return 1;
  return -(int)r;
}
static int stream_wait_event(void *s, void *e) {
  return rc_of(cudaStreamWaitEvent((cudaStream_t)s, (cudaEvent_t)e, 0));
}
static int event_ipc_get(void *e, void *h) {
  cudaIpcEventHandle_t x;
  int rc = rc_of(cudaIpcGetEventHandle(&x, (cudaEvent_t)e));
  if (!rc) {
    memset(h, 0, STRATA_DEV_HANDLE_BYTES);
    memcpy(h, &x, sizeof x);
  }
  return rc;
}
static int event_ipc_open(const void *h, void **e) {
  cudaIpcEventHandle_t x;
  memcpy(&x, h, sizeof x);
  cudaEvent_t ev;
  int rc = rc_of(cudaIpcOpenEventHandle(&ev, x));
  *e = rc ? NULL : (void *)ev;
  return rc;
}

/* cuMemGetAddressRange through the runtime (no link to libcuda) */
typedef int (*addr_range_fn)(unsigned long long *base, size_t *size, unsigned long long p);
static addr_range_fn addr_range(void) {
  static addr_range_fn fn;
  static int tried;
  if (!tried) {
    tried = 1;
    void *f = NULL;
    enum cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuMemGetAddressRange", &f, 12000, cudaEnableDefault, &q) == cudaSuccess &&
        q == cudaDriverEntryPointSuccess)
      fn = (addr_range_fn)f;
  }
  return fn;
}
static int mem_ipc_get(const void *p, void *h, size_t *off) {
  addr_range_fn ar = addr_range();
  unsigned long long base = (unsigned long long)(uintptr_t)p;
  size_t size = 0;
  if (ar && ar(&base, &size, (unsigned long long)(uintptr_t)p) != 0) base = (unsigned long long)(uintptr_t)p;
  cudaIpcMemHandle_t x;
  int rc = rc_of(cudaIpcGetMemHandle(&x, (void *)(uintptr_t)base));
  if (rc) {
    (void)cudaGetLastError();
    return rc;
  }
  memset(h, 0, STRATA_DEV_HANDLE_BYTES);
  memcpy(h, &x, sizeof x);
  *off = (size_t)((uintptr_t)p - (uintptr_t)base);
  return 0;
}
static int mem_ipc_open(const void *h, void **base) {
  cudaIpcMemHandle_t x;
  memcpy(&x, h, sizeof x);
  int rc = rc_of(cudaIpcOpenMemHandle(base, x, cudaIpcMemLazyEnablePeerAccess));
  if (rc) (void)cudaGetLastError();
  return rc;
}
static int mem_ipc_close(void *base) { return rc_of(cudaIpcCloseMemHandle(base)); }
static int reduce(const strata_dev_task_t *t, int nt, int dtype, int op, int avg_div, void *st) {
  return strata_cuda_reduce(t, nt, dtype, op, avg_div, st);
}
static int copy(const strata_dev_task_t *t, int nt, void *st) { return strata_cuda_copy(t, nt, st); }
static int wait_flag(volatile uint32_t *flag, uint32_t v, uint64_t tmo, volatile uint32_t *to, void *st) {
  void *df = NULL, *dt = NULL;
  if (cudaHostGetDevicePointer(&df, (void *)(uintptr_t)flag, 0) != cudaSuccess ||
      cudaHostGetDevicePointer(&dt, (void *)(uintptr_t)to, 0) != cudaSuccess)
    return (int)cudaGetLastError();
  return strata_cuda_wait_flag((volatile uint32_t *)df, v, tmo, (volatile uint32_t *)dt, st);
}
static int host_dev_ptr(void *h, void **d) { return rc_of(cudaHostGetDevicePointer(d, h, 0)); }
static const char *error_string(int rc) { return rc < 0 ? cudaGetErrorString((cudaError_t)-rc) : cudaGetErrorString((cudaError_t)rc); }

static const strata_dev_ops_t cuda_ops = {
    "cuda", is_device_ptr, get_device, mem_alloc, mem_free, host_alloc, host_free, copy_async, copy2d_async,
    stream_create, stream_destroy, stream_sync, event_create, event_destroy, event_record, event_query,
    stream_wait_event, event_ipc_get, event_ipc_open, mem_ipc_get, mem_ipc_open, mem_ipc_close, reduce, copy,
    wait_flag, host_dev_ptr, error_string};

const strata_dev_ops_t *strata_dev_cuda_ops(void) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n <= 0) {
    (void)cudaGetLastError();
    SLOG_INFO("CUDA: no GPU (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    return NULL;
  }
  int dev = 0, rv = 0, dv = 0;
  cudaGetDevice(&dev);
  cudaRuntimeGetVersion(&rv);
  cudaDriverGetVersion(&dv);
  struct cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, dev) == cudaSuccess)
    SLOG_INFO("CUDA: %d GPU(s); using device %d (%s, sm_%d%d, %d SMs); runtime %d, driver %d", n, dev, p.name,
              p.major, p.minor, p.multiProcessorCount, rv, dv);
  return &cuda_ops;
}
