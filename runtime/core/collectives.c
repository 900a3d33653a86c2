/* Public collective calls: check the arguments, find (or build once) the plan for the call's
 * shape, run it on the engine. A repeated call does no planning and no allocation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../algorithms/algo.h"
#include "../device/dev_coll.h"
#include "../device/device.h"
#include "../engine/engine.h"
#include "internal.h"
#include "handles.h"
#include "log.h"

static const char *fn_name(strata_coll_t c) {
  static const char *n[STRATA_NUM_COLLS] = {"strata_allreduce", "strata_allgather", "strata_reduce_scatter",
                                            "strata_broadcast", "strata_reduce", "strata_alltoall",
                                            "strata_barrier"};
  return (unsigned)c < STRATA_NUM_COLLS ? n[c] : "?";
}

/* nccl-tests "size" of a call: what the cost model is given */
static size_t call_bytes(strata_coll_t c, size_t count, size_t es, int P) {
  switch (c) {
  case STRATA_COLL_ALLGATHER:
  case STRATA_COLL_REDUCE_SCATTER:
  case STRATA_COLL_ALLTOALL: return count * es * (size_t)P;
  default: return count * es;
  }
}

strata_algo_t strata_comm_choose(strata_comm_t comm, strata_coll_t coll, size_t bytes, double *cost,
                                 int *overridden) {
  strata_algo_t a = (strata_algo_t)comm->algo_override[coll];
  if (overridden) *overridden = 0;
  if (a != STRATA_ALGO_AUTO) {
    double c = strata_tuner_cost(&comm->tuner, coll, a, bytes);
    if (c < 1e29) {
      if (cost) *cost = c;
      if (overridden) *overridden = 1;
      return a;
    }
  }
  return strata_tuner_choose(&comm->tuner, coll, bytes, cost);
}

void strata_comm_free_cache(strata_comm_t comm) {
  for (int b = 0; b < PLAN_CACHE_BUCKETS; b++) {
    plan_cache_entry_t *e = comm->cache[b];
    while (e) {
      plan_cache_entry_t *n = e->next;
      strata_plan_free(&e->plan);
      free(e);
      e = n;
    }
    comm->cache[b] = NULL;
  }
  comm->cache_entries = 0;
}

#define CACHE_MAX 4096

static const strata_plan_t *get_plan(strata_comm_t comm, strata_coll_t coll, size_t count, int dtype, int op,
                                     int root, int inplace, strata_algo_t force, strata_plan_t **owned) {
  uint64_t k0 = (uint64_t)coll | (uint64_t)dtype << 8 | (uint64_t)op << 16 | (uint64_t)inplace << 24 |
                (uint64_t)force << 28 | (uint64_t)(uint32_t)root << 32;
  uint64_t k1 = count;
  uint64_t h = (k0 * 0x9e3779b97f4a7c15ull) ^ (k1 * 0xc2b2ae3d27d4eb4full);
  unsigned b = (unsigned)(h >> 56) % PLAN_CACHE_BUCKETS;
  for (plan_cache_entry_t *e = comm->cache[b]; e; e = e->next)
    if (e->k0 == k0 && e->k1 == k1) return &e->plan;
  /* miss: choose and build */
  const strata_config_t *cfg = strata_config();
  size_t es = strata_dtype_size((strata_dtype_t)dtype);
  size_t bytes = call_bytes(coll, count, es, comm->nranks);
  double cost = 0;
  int over = 0;
  strata_algo_t algo = force != STRATA_ALGO_AUTO ? force : strata_comm_choose(comm, coll, bytes, &cost, &over);
  if (force == STRATA_ALGO_AUTO && comm->algo_override[coll] && !over && comm->logged_shapes < 64) {
    SLOG_WARN("STRATA_ALGO asks for %s:%s, which cannot run on this communicator; using %s",
              strata_coll_name(coll), strata_algo_name((strata_algo_t)comm->algo_override[coll]),
              strata_algo_name(algo));
  }
  strata_coll_args_t a = {.coll = coll, .rank = comm->rank, .nranks = comm->nranks, .count = count,
                          .dtype = dtype, .op = op, .root = root, .inplace = inplace, .esize = es,
                          .chunk_bytes = cfg->ring_chunk, .node_chunk = comm->node.base ? comm->node.chunk : cfg->node_chunk,
                          .node_nbuf = comm->node.base ? comm->node.nbuf : cfg->node_nbuf,
                          .node_pipe_min = (size_t)comm->ctx->machine.node_pipe_min,
                          .node_pipe = comm->ctx->machine.node_pipe,
                          .node_slice_min = (size_t)comm->ctx->machine.node_slice_min,
                          .hier = comm->hier_units ? &comm->hier : NULL};
  if (algo == STRATA_ALGO_HIERARCHICAL) {
    strata_tuner_hier_cost(&comm->tuner, coll, bytes, &a.hc);
    const strata_config_t *c = strata_config(); /* STRATA_HIER, where set, wins */
    for (int l = 0; l < 2; l++)
      if (c->hier_kmax[l] >= 0) a.hc.kmax[l] = c->hier_kmax[l];
    if (c->hier_top) a.hc.top_algo = c->hier_top;
    if (c->hier_outer) a.hc.outer = c->hier_outer;
  }
  if (!strata_algo_fits(&a, algo)) { /* a node plan whose pieces do not fit a slot */
    strata_tuner_t t = comm->tuner;
    t.node_ok = 0;
    strata_algo_t alt = strata_tuner_choose(&t, coll, bytes, &cost);
    SLOG_INFO("%s: %s does not fit %zu-byte staging slots at %d ranks; using %s", fn_name(coll),
              strata_algo_name(algo), a.node_chunk, comm->nranks, strata_algo_name(alt));
    algo = alt;
  }
  plan_cache_entry_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  if (strata_plan_build(&e->plan, &a, algo)) {
    SLOG_WARN("%s: could not build a %s plan (out of memory?)", fn_name(coll), strata_algo_name(algo));
    free(e);
    return NULL;
  }
  if (comm->logged_shapes < 1000 && algo == STRATA_ALGO_HIERARCHICAL && strata_log_level_v >= STRATA_LOG_INFO) {
    const strata_tuner_t *t = &comm->tuner;
    if (coll == STRATA_COLL_ALLREDUCE)
      SLOG_INFO("%s %zu B hierarchical: node (%d+ ranks): %s; site (%d+ nodes): %s; across %d sites: %s; %d "
                "pipeline chunk(s)", strata_coll_name(coll), bytes, t->lmin,
                t->lmin < 2 ? "-" : a.hc.kmax[0] == 1 ? "reduce to / broadcast from a leader" : "ring reduce-scatter / allgather",
                t->nmin, t->nmin < 2 ? "-" : a.hc.kmax[1] == 1 ? "through one node" : "ring reduce-scatter / allgather",
                t->nsites, t->nsites < 2 ? "-" : strata_algo_name((strata_algo_t)a.hc.top_algo), a.hc.outer);
    else
      SLOG_INFO("%s %zu B hierarchical over %d site(s), %d node(s): %s", strata_coll_name(coll), bytes, t->nsites,
                t->nnodes,
                coll == STRATA_COLL_ALLGATHER ? "inside a site one copy per host (relay over shm), each site's "
                                                "blocks to each other site once, split over its members"
                : coll == STRATA_COLL_REDUCE_SCATTER ? "a collector per block in each site, site partials to the "
                                                       "block's owner across sites"
                : "tree root -> one leader per site -> one per node -> node's ranks, chunked");
  }
  if (comm->logged_shapes < 1000) {
    comm->logged_shapes++;
    SLOG_INFO("%s %zu B %s %s on %d ranks (comm %u): %s%s, %d steps, est. %.2f us", strata_coll_name(coll),
              bytes, strata_dtype_name((strata_dtype_t)dtype), strata_op_name((strata_op_t)op), comm->nranks,
              comm->id, strata_algo_name(algo), over ? " (STRATA_ALGO)" : force ? " (internal)" : "",
              e->plan.nsteps, cost * 1e6);
  }
  if (comm->cache_entries >= CACHE_MAX) { /* an unbounded variety of shapes: do not keep them all */
    strata_plan_t *p = malloc(sizeof *p);
    if (!p) { strata_plan_free(&e->plan); free(e); return NULL; }
    *p = e->plan;
    free(e);
    *owned = p;
    return p;
  }
  e->k0 = k0;
  e->k1 = k1;
  e->next = comm->cache[b];
  comm->cache[b] = e;
  comm->cache_entries++;
  return &e->plan;
}

static int overlaps(const void *a, size_t an, const void *b, size_t bn) {
  uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return an && bn && x < y + bn && y < x + an;
}

strata_result_t strata_coll_run(strata_coll_t coll, const void *sendbuf, void *recvbuf, size_t count,
                                strata_dtype_t dtype, strata_op_t op, int root, strata_comm_t comm,
                                strata_request_t *reqp, strata_algo_t force) {
  return strata_coll_run_ex(coll, sendbuf, recvbuf, count, dtype, op, root, comm, reqp, force, NULL, 0);
}

static strata_result_t done_request(strata_comm_t comm, strata_request_t *reqp, strata_result_t rc) {
  if (!reqp) return rc;
  struct strata_request *r = strata_request_get(comm);
  if (!r) return STRATA_ERR_SYSTEM;
  r->done = 1;
  r->status = rc;
  if (!(*reqp = strata_handle_make(r))) {
    strata_request_put(r);
    return STRATA_ERR_SYSTEM;
  }
  return STRATA_SUCCESS;
}

strata_result_t strata_coll_run_ex(strata_coll_t coll, const void *sendbuf, void *recvbuf, size_t count,
                                   strata_dtype_t dtype, strata_op_t op, int root, strata_comm_t comm,
                                   strata_request_t *reqp, strata_algo_t force, void *stream, int has_stream) {
  const char *fn = fn_name(coll);
  if (!comm) {
    SLOG_WARN("%s: comm is NULL", fn);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  if (reqp) *reqp = NULL;
  const int P = comm->nranks, me = comm->rank;
  const int reducing = coll == STRATA_COLL_ALLREDUCE || coll == STRATA_COLL_REDUCE || coll == STRATA_COLL_REDUCE_SCATTER;
  const int rooted = coll == STRATA_COLL_BROADCAST || coll == STRATA_COLL_REDUCE;
  if (coll == STRATA_COLL_BARRIER) {
    sendbuf = recvbuf = NULL;
    dtype = STRATA_INT8;
    op = STRATA_SUM;
    count = 1;
  }
  if ((unsigned)dtype >= STRATA_NUM_DTYPES) {
    SLOG_WARN("%s: invalid datatype %d", fn, (int)dtype);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  if (reducing && (unsigned)op >= STRATA_NUM_OPS) {
    SLOG_WARN("%s: invalid reduction op %d", fn, (int)op);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  if (!reducing) op = STRATA_SUM;
  if (rooted && (root < 0 || root >= P)) {
    SLOG_WARN("%s: root %d is not a rank of this communicator (size %d)", fn, root, P);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  if (!rooted) root = 0;
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
  if (comm->error != STRATA_SUCCESS) {
    SLOG_WARN("%s: the communicator has failed (%s); destroy it", fn, strata_result_string(comm->error));
    return comm->error;
  }
  if (count == 0 && coll != STRATA_COLL_BARRIER) return done_request(comm, reqp, STRATA_SUCCESS);
  if ((sbytes && !sendbuf) || (rbytes && !recvbuf)) {
    SLOG_WARN("%s: %s is NULL with count %zu", fn, sbytes && !sendbuf ? "sendbuf" : "recvbuf", count);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  int inplace = 0;
  switch (coll) {
  case STRATA_COLL_ALLREDUCE: inplace = sendbuf == recvbuf; break;
  case STRATA_COLL_BROADCAST:
  case STRATA_COLL_REDUCE: inplace = me == root && sendbuf == recvbuf; break;
  case STRATA_COLL_ALLGATHER: inplace = (const char *)sendbuf == (const char *)recvbuf + (size_t)me * sbytes; break;
  case STRATA_COLL_REDUCE_SCATTER: inplace = (const char *)recvbuf == (const char *)sendbuf + (size_t)me * rbytes; break;
  case STRATA_COLL_ALLTOALL:
    if (overlaps(sendbuf, sbytes, recvbuf, rbytes)) {
      SLOG_WARN("%s: in-place (overlapping) buffers are not supported", fn);
      return STRATA_ERR_INVALID_ARGUMENT;
    }
    break;
  default: break;
  }
  if (!inplace && coll != STRATA_COLL_BARRIER && overlaps(sendbuf, sbytes, recvbuf, rbytes)) {
    SLOG_WARN("%s: sendbuf and recvbuf overlap without being the in-place layout", fn);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  if (has_stream || (strata_dev() && (strata_dev_is_device_ptr(sendbuf) || strata_dev_is_device_ptr(recvbuf)))) {
    /* device buffers (plain calls: synchronous; nonblocking twins complete before returning) */
    strata_result_t rc = strata_dev_coll_run(comm, coll, sendbuf, recvbuf, count, dtype, op, root, inplace, force,
                                             stream, !has_stream);
    return rc == STRATA_SUCCESS ? done_request(comm, reqp, rc) : rc;
  }
  strata_plan_t *owned = NULL;
  const strata_plan_t *plan = get_plan(comm, coll, count, dtype, op, root, inplace, force, &owned);
  if (!plan) return STRATA_ERR_SYSTEM;
  struct strata_request *req;
  if (reqp) {
    req = strata_request_get(comm);
  } else {
    req = &comm->blocking_req;
    if (req->in_use) {
      SLOG_WARN("%s: a blocking call is already running on this communicator (another thread?)", fn);
      if (owned) { strata_plan_free(owned); free(owned); }
      return STRATA_ERR_INVALID_USAGE;
    }
    req->in_use = 1;
  }
  if (!req) return STRATA_ERR_SYSTEM;
  req->owned_plan = owned;
  strata_result_t rc = strata_engine_start(comm, req, plan, sendbuf, recvbuf, dtype, op);
  if (rc != STRATA_SUCCESS) {
    strata_request_put(req);
    return rc;
  }
  if (reqp) {
    if (!(*reqp = strata_handle_make(req))) {
      strata_engine_fail_all(comm, STRATA_ERR_SYSTEM);
      strata_request_put(req);
      return STRATA_ERR_SYSTEM;
    }
    strata_engine_progress(comm); /* get it going */
    return STRATA_SUCCESS;
  }
  rc = strata_engine_wait(req);
  strata_request_put(req);
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
  strata_result_t rc = strata_engine_test(req, done);
  if (*done) return release(req);
  strata_handle_put_back(h);
  return rc;
}

strata_result_t strata_wait(strata_request_t h) {
  if (!h) {
    SLOG_WARN("strata_wait: req is NULL");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  struct strata_request *req = held_request(h, "strata_wait");
  if (!req) return STRATA_ERR_INVALID_USAGE;
  strata_engine_wait(req);
  return release(req);
}
