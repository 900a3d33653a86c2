/* strata_cuda.h: the stream-ordered twins and the device memory helpers. */
#include "../core/internal.h"
#include "../core/log.h"
#include "device.h"
#include "strata_cuda.h"

#define ST(s) ((void *)(s))

strata_result_t strata_allreduce_stream(const void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op,
                                        strata_comm_t c, strata_stream_t st) {
  return strata_coll_run_ex(STRATA_COLL_ALLREDUCE, s, r, n, d, op, 0, c, NULL, STRATA_ALGO_AUTO, ST(st), 1);
}
strata_result_t strata_allgather_stream(const void *s, void *r, size_t n, strata_dtype_t d, strata_comm_t c,
                                        strata_stream_t st) {
  return strata_coll_run_ex(STRATA_COLL_ALLGATHER, s, r, n, d, STRATA_SUM, 0, c, NULL, STRATA_ALGO_AUTO, ST(st), 1);
}
strata_result_t strata_reduce_scatter_stream(const void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op,
                                             strata_comm_t c, strata_stream_t st) {
  return strata_coll_run_ex(STRATA_COLL_REDUCE_SCATTER, s, r, n, d, op, 0, c, NULL, STRATA_ALGO_AUTO, ST(st), 1);
}
strata_result_t strata_broadcast_stream(const void *s, void *r, size_t n, strata_dtype_t d, int root,
                                        strata_comm_t c, strata_stream_t st) {
  return strata_coll_run_ex(STRATA_COLL_BROADCAST, s, r, n, d, STRATA_SUM, root, c, NULL, STRATA_ALGO_AUTO, ST(st), 1);
}
strata_result_t strata_reduce_stream(const void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, int root,
                                     strata_comm_t c, strata_stream_t st) {
  return strata_coll_run_ex(STRATA_COLL_REDUCE, s, r, n, d, op, root, c, NULL, STRATA_ALGO_AUTO, ST(st), 1);
}
strata_result_t strata_alltoall_stream(const void *s, void *r, size_t n, strata_dtype_t d, strata_comm_t c,
                                       strata_stream_t st) {
  return strata_coll_run_ex(STRATA_COLL_ALLTOALL, s, r, n, d, STRATA_SUM, 0, c, NULL, STRATA_ALGO_AUTO, ST(st), 1);
}
strata_result_t strata_barrier_stream(strata_comm_t c, strata_stream_t st) {
  return strata_coll_run_ex(STRATA_COLL_BARRIER, NULL, NULL, 0, STRATA_INT8, STRATA_SUM, 0, c, NULL, STRATA_ALGO_AUTO,
                            ST(st), 1);
}

strata_result_t strata_device_available(int *available, const char **name) {
  if (!available) {
    SLOG_WARN("strata_device_available: available is NULL");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  const strata_dev_ops_t *o = strata_dev();
  *available = o != NULL;
  if (name) *name = o ? o->name : "none";
  return STRATA_SUCCESS;
}

static const strata_dev_ops_t *need_dev(const char *fn) {
  const strata_dev_ops_t *o = strata_dev();
  if (!o) SLOG_WARN("%s: no GPU is available to this process (and STRATA_DEVICE is not 'emulated')", fn);
  return o;
}

strata_result_t strata_mem_alloc(void **ptr, size_t bytes) {
  if (!ptr) {
    SLOG_WARN("strata_mem_alloc: ptr is NULL");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  *ptr = NULL;
  const strata_dev_ops_t *o = need_dev("strata_mem_alloc");
  if (!o) return STRATA_ERR_UNSUPPORTED;
  int rc = o->mem_alloc(ptr, bytes);
  if (rc) {
    SLOG_WARN("strata_mem_alloc(%zu bytes): %s", bytes, o->error_string(rc));
    *ptr = NULL;
    return STRATA_ERR_SYSTEM;
  }
  return STRATA_SUCCESS;
}

strata_result_t strata_mem_free(void *ptr) {
  if (!ptr) return STRATA_SUCCESS;
  const strata_dev_ops_t *o = need_dev("strata_mem_free");
  if (!o) return STRATA_ERR_UNSUPPORTED;
  int rc = o->mem_free(ptr);
  if (rc) {
    SLOG_WARN("strata_mem_free(%p): %s", ptr, o->error_string(rc));
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  return STRATA_SUCCESS;
}

strata_result_t strata_mem_copy(void *dst, const void *src, size_t bytes) {
  if (!bytes) return STRATA_SUCCESS;
  if (!dst || !src) {
    SLOG_WARN("strata_mem_copy: %s is NULL", dst ? "src" : "dst");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  const strata_dev_ops_t *o = need_dev("strata_mem_copy");
  if (!o) return STRATA_ERR_UNSUPPORTED;
  int rc = o->copy_async(dst, src, bytes, NULL);
  if (!rc) rc = o->stream_sync(NULL);
  if (rc) {
    SLOG_WARN("strata_mem_copy(%zu bytes): %s", bytes, o->error_string(rc));
    return STRATA_ERR_SYSTEM;
  }
  return STRATA_SUCCESS;
}
