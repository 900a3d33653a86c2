/* Public collective calls: check the arguments, classify the memory once, and take the
 * device path (runtime/device/dev_coll.c) or the host path (host_coll.c); nonblocking calls
 * get a handle (handles.c), finished by strata_test / strata_wait. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../algorithms/algo.h"
#include "../device/dev_coll.h"
#include "../device/device.h"
#include "../engine/engine.h"
#include "internal.h"
#include "call_check.h"
#include "handles.h"
#include "host_coll.h"
#include "log.h"

#define fn_name strata_coll_fn_name

static int overlaps(const void *a, size_t an, const void *b, size_t bn) {
  uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return an && bn && x < y + bn && y < x + an;
}

strata_result_t strata_coll_run(strata_coll_t coll, const void *sendbuf, void *recvbuf, size_t count,
                                strata_dtype_t dtype, strata_op_t op, int root, strata_comm_t comm,
                                strata_request_t *reqp, strata_algo_t force) {
  return strata_coll_run_ex(coll, sendbuf, recvbuf, count, dtype, op, root, comm, reqp, force, NULL, 0);
}

/* A nonblocking call's handle for a started request (NULL: one finished with rc already). */
static strata_result_t started(strata_comm_t comm, strata_request_t *reqp, struct strata_request *r,
                               strata_result_t rc) {
  if (!reqp) return rc;
  if (!r) {
    if (!(r = strata_request_get(comm))) return STRATA_ERR_SYSTEM;
    r->done = 1;
    r->status = rc;
  }
  if (!(*reqp = strata_handle_make(r))) {
    /* no handle for a call the peers may finish: the communicator fails (every later call
     * says so), rather than the caller and its peers going out of step */
    SLOG_WARN("rank %d: out of memory for a request handle: the communicator fails", comm->rank);
    strata_engine_fail_all(comm, STRATA_ERR_SYSTEM);
    strata_request_put(r);
    return STRATA_ERR_SYSTEM;
  }
  return STRATA_SUCCESS;
}

/* The arguments as this rank alone can judge them; sets the layout. *buffers: the error is
 * about the buffers (judged after the communicator's own state, as before). */
static strata_result_t check_args(strata_coll_t coll, const void *sendbuf, const void *recvbuf, size_t count,
                                  strata_dtype_t dtype, strata_op_t op, int root, int P, int me, int *inplace,
                                  int *buffers) {
  const char *fn = fn_name(coll);
  const int reducing = coll == STRATA_COLL_ALLREDUCE || coll == STRATA_COLL_REDUCE || coll == STRATA_COLL_REDUCE_SCATTER;
  const int rooted = coll == STRATA_COLL_BROADCAST || coll == STRATA_COLL_REDUCE;
  *inplace = 0;
  *buffers = 0;
  if ((unsigned)dtype >= STRATA_NUM_DTYPES) {
    SLOG_WARN("%s: invalid datatype %d", fn, (int)dtype);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  if (reducing && (unsigned)op >= STRATA_NUM_OPS) {
    SLOG_WARN("%s: invalid reduction op %d", fn, (int)op);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  if (rooted && (root < 0 || root >= P)) {
    SLOG_WARN("%s: root %d is not a rank of this communicator (size %d)", fn, root, P);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  const size_t es = strata_dtype_size(dtype);
  if (count > SIZE_MAX / es / (size_t)P) {
    SLOG_WARN("%s: count %zu is too large", fn, count);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  size_t sbytes = 0, rbytes = 0;
  switch (coll) {
  case STRATA_COLL_ALLREDUCE: sbytes = rbytes = count * es; break;
  case STRATA_COLL_ALLGATHER: sbytes = count * es; rbytes = sbytes * (size_t)P; break;
  case STRATA_COLL_REDUCE_SCATTER: rbytes = count * es; sbytes = rbytes * (size_t)P; break;
  case STRATA_COLL_BROADCAST: sbytes = me == root ? count * es : 0; rbytes = count * es; break;
  case STRATA_COLL_REDUCE: sbytes = count * es; rbytes = me == root ? count * es : 0; break;
  case STRATA_COLL_ALLTOALL: sbytes = rbytes = count * es * (size_t)P; break;
  default: break;
  }
  if (count == 0 && coll != STRATA_COLL_BARRIER) return STRATA_SUCCESS;
  *buffers = 1;
  if ((sbytes && !sendbuf) || (rbytes && !recvbuf)) {
    SLOG_WARN("%s: %s is NULL with count %zu", fn, sbytes && !sendbuf ? "sendbuf" : "recvbuf", count);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  *inplace = coll != STRATA_COLL_BARRIER && strata_coll_inplace(coll, sendbuf, recvbuf, count * es, me, root);
  if (coll == STRATA_COLL_ALLTOALL && overlaps(sendbuf, sbytes, recvbuf, rbytes)) {
    SLOG_WARN("%s: in-place (overlapping) buffers are not supported", fn);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  if (!*inplace && coll != STRATA_COLL_BARRIER && overlaps(sendbuf, sbytes, recvbuf, rbytes)) {
    SLOG_WARN("%s: sendbuf and recvbuf overlap without being the in-place layout", fn);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  *buffers = 0;
  return STRATA_SUCCESS;
}

static strata_result_t coll_run(strata_coll_t coll, const void *sendbuf, void *recvbuf, size_t count,
                                strata_dtype_t dtype, strata_op_t op, int root, strata_comm_t comm,
                                strata_request_t *reqp, strata_algo_t force, void *stream, int has_stream) {
  const char *fn = fn_name(coll);
  const int P = comm->nranks, me = comm->rank;
  const int reducing = coll == STRATA_COLL_ALLREDUCE || coll == STRATA_COLL_REDUCE || coll == STRATA_COLL_REDUCE_SCATTER;
  const int rooted = coll == STRATA_COLL_BROADCAST || coll == STRATA_COLL_REDUCE;
  if (coll == STRATA_COLL_BARRIER) {
    sendbuf = recvbuf = NULL;
    dtype = STRATA_INT8;
    op = STRATA_SUM;
    count = 1;
  }
  if (!reducing) op = STRATA_SUM;
  if (!rooted) root = 0;
  int inplace = 0, buffers = 0;
  const strata_result_t arc = check_args(coll, sendbuf, recvbuf, count, dtype, op, root, P, me, &inplace, &buffers);
  if (strata_config()->check && comm->error == STRATA_SUCCESS) {
    /* before anything runs: a rank with a different root or count, or with arguments it
     * rejects itself, must not leave the others waiting in a collective it never joins */
    strata_result_t crc = strata_call_check(comm, coll, count, dtype, op, root, arc != STRATA_SUCCESS);
    if (crc != STRATA_SUCCESS) return crc; /* the same answer on every rank */
  }
  if (arc != STRATA_SUCCESS && !buffers) return arc;
  if (comm->error != STRATA_SUCCESS) {
    SLOG_WARN("%s: the communicator has failed (%s); destroy it", fn, strata_result_string(comm->error));
    return comm->error;
  }
  if (arc != STRATA_SUCCESS) return arc;
  if (count == 0 && coll != STRATA_COLL_BARRIER) return started(comm, reqp, NULL, STRATA_SUCCESS);
  /* The memory is classified once, here: device buffers (or a stream) take the device path,
   * which uses the host path below it; everything else takes the host path. */
  if (has_stream || (strata_dev() && (strata_dev_is_device_ptr(sendbuf) || strata_dev_is_device_ptr(recvbuf)))) {
    /* plain calls: synchronous; nonblocking twins complete before returning */
    strata_result_t rc = strata_dev_coll_run(comm, coll, sendbuf, recvbuf, count, dtype, op, root, inplace, force,
                                             stream, !has_stream);
    return rc == STRATA_SUCCESS ? started(comm, reqp, NULL, rc) : rc;
  }
  struct strata_request *req = NULL;
  strata_result_t rc = strata_host_coll(comm, coll, sendbuf, recvbuf, count, dtype, op, root, force, reqp ? &req : NULL);
  return reqp && rc == STRATA_SUCCESS ? started(comm, reqp, req, rc) : rc;
}

strata_result_t strata_coll_run_ex(strata_coll_t coll, const void *sendbuf, void *recvbuf, size_t count,
                                   strata_dtype_t dtype, strata_op_t op, int root, strata_comm_t comm,
                                   strata_request_t *reqp, strata_algo_t force, void *stream, int has_stream) {
  if (reqp) *reqp = NULL;
  if (!comm) {
    SLOG_WARN("%s: comm is NULL", fn_name(coll));
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  strata_comm_enter(comm);
  strata_result_t rc = coll_run(coll, sendbuf, recvbuf, count, dtype, op, root, comm, reqp, force, stream, has_stream);
  strata_comm_leave(comm);
  return rc;
}

/* ---- public API ---- */

strata_result_t strata_allreduce(const void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, strata_comm_t c) {
  return strata_coll_run(STRATA_COLL_ALLREDUCE, s, r, n, d, op, 0, c, NULL, STRATA_ALGO_AUTO);
}
strata_result_t strata_allgather(const void *s, void *r, size_t n, strata_dtype_t d, strata_comm_t c) {
  return strata_coll_run(STRATA_COLL_ALLGATHER, s, r, n, d, STRATA_SUM, 0, c, NULL, STRATA_ALGO_AUTO);
}
strata_result_t strata_reduce_scatter(const void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op,
                                      strata_comm_t c) {
  return strata_coll_run(STRATA_COLL_REDUCE_SCATTER, s, r, n, d, op, 0, c, NULL, STRATA_ALGO_AUTO);
}
strata_result_t strata_broadcast(const void *s, void *r, size_t n, strata_dtype_t d, int root, strata_comm_t c) {
  return strata_coll_run(STRATA_COLL_BROADCAST, s, r, n, d, STRATA_SUM, root, c, NULL, STRATA_ALGO_AUTO);
}
strata_result_t strata_reduce(const void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, int root,
                              strata_comm_t c) {
  return strata_coll_run(STRATA_COLL_REDUCE, s, r, n, d, op, root, c, NULL, STRATA_ALGO_AUTO);
}
strata_result_t strata_alltoall(const void *s, void *r, size_t n, strata_dtype_t d, strata_comm_t c) {
  return strata_coll_run(STRATA_COLL_ALLTOALL, s, r, n, d, STRATA_SUM, 0, c, NULL, STRATA_ALGO_AUTO);
}
strata_result_t strata_barrier(strata_comm_t c) {
  return strata_coll_run(STRATA_COLL_BARRIER, NULL, NULL, 0, STRATA_INT8, STRATA_SUM, 0, c, NULL, STRATA_ALGO_AUTO);
}

static strata_result_t need_req(strata_request_t *req, const char *fn) {
  if (!req) {
    SLOG_WARN("%s: req is NULL", fn);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  return STRATA_SUCCESS;
}
#define NB(fn, call)                                                           \
  do {                                                                         \
    strata_result_t e_ = need_req(req, fn);                                    \
    return e_ != STRATA_SUCCESS ? e_ : (call);                                 \
  } while (0)

strata_result_t strata_iallreduce(const void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, strata_comm_t c,
                                  strata_request_t *req) {
  NB("strata_iallreduce", strata_coll_run(STRATA_COLL_ALLREDUCE, s, r, n, d, op, 0, c, req, STRATA_ALGO_AUTO));
}
strata_result_t strata_iallgather(const void *s, void *r, size_t n, strata_dtype_t d, strata_comm_t c,
                                  strata_request_t *req) {
  NB("strata_iallgather", strata_coll_run(STRATA_COLL_ALLGATHER, s, r, n, d, STRATA_SUM, 0, c, req, STRATA_ALGO_AUTO));
}
strata_result_t strata_ireduce_scatter(const void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op,
                                       strata_comm_t c, strata_request_t *req) {
  NB("strata_ireduce_scatter", strata_coll_run(STRATA_COLL_REDUCE_SCATTER, s, r, n, d, op, 0, c, req, STRATA_ALGO_AUTO));
}
strata_result_t strata_ibroadcast(const void *s, void *r, size_t n, strata_dtype_t d, int root, strata_comm_t c,
                                  strata_request_t *req) {
  NB("strata_ibroadcast", strata_coll_run(STRATA_COLL_BROADCAST, s, r, n, d, STRATA_SUM, root, c, req, STRATA_ALGO_AUTO));
}
strata_result_t strata_ireduce(const void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, int root,
                               strata_comm_t c, strata_request_t *req) {
  NB("strata_ireduce", strata_coll_run(STRATA_COLL_REDUCE, s, r, n, d, op, root, c, req, STRATA_ALGO_AUTO));
}
strata_result_t strata_ialltoall(const void *s, void *r, size_t n, strata_dtype_t d, strata_comm_t c,
                                 strata_request_t *req) {
  NB("strata_ialltoall", strata_coll_run(STRATA_COLL_ALLTOALL, s, r, n, d, STRATA_SUM, 0, c, req, STRATA_ALGO_AUTO));
}
strata_result_t strata_ibarrier(strata_comm_t c, strata_request_t *req) {
  NB("strata_ibarrier", strata_coll_run(STRATA_COLL_BARRIER, NULL, NULL, 0, STRATA_INT8, STRATA_SUM, 0, c, req,
                                        STRATA_ALGO_AUTO));
}

/* A handle is good for one release: strata_wait, or strata_test reporting done. After that,
 * or after its communicator was destroyed, it is refused with STRATA_ERR_INVALID_USAGE. */
static struct strata_request *held_request(strata_request_t h, const char *fn) {
  struct strata_request *r = strata_handle_get(h);
  if (!r)
    SLOG_WARN("%s: request %p is not a pending request (already released by strata_wait or a strata_test that "
              "reported done, its communicator was destroyed, or another thread is waiting on it)", fn, (void *)h);
  return r;
}

static strata_result_t release(struct strata_request *r) {
  strata_result_t rc = r->status;
  strata_handle_retire(r->handle);
  strata_request_put(r);
  return rc;
}

strata_result_t strata_test(strata_request_t h, int *done) {
  if (!h || !done) {
    SLOG_WARN("strata_test: %s is NULL", h ? "done" : "req");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  *done = 0;
  struct strata_request *req = held_request(h, "strata_test");
  if (!req) return STRATA_ERR_INVALID_USAGE;
  struct strata_comm *c = req->comm;
  strata_comm_enter(c);
  strata_result_t rc = strata_engine_test(req, done);
  if (*done) rc = release(req);
  else strata_handle_put_back(h);
  strata_comm_leave(c);
  return rc;
}

strata_result_t strata_wait(strata_request_t h) {
  if (!h) {
    SLOG_WARN("strata_wait: req is NULL");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  struct strata_request *req = held_request(h, "strata_wait");
  if (!req) return STRATA_ERR_INVALID_USAGE;
  struct strata_comm *c = req->comm;
  strata_comm_enter(c);
  strata_engine_wait(req);
  strata_result_t rc = release(req);
  strata_comm_leave(c);
  return rc;
}
