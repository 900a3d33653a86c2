/* The host path: find (or build once) the plan for a call's shape and run it on the engine.
 * Below the public calls (collectives.c), which check the arguments and classify the memory,
 * and below the device path (runtime/device/dev_coll.c), which stages through host buffers
 * and coordinates with small host collectives: both call down into here, nothing here calls
 * back up. A repeated call does no planning and no allocation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../algorithms/algo.h"
#include "../engine/engine.h"
#include "../ft/ft.h"
#include "host_coll.h"
#include "log.h"

const char *strata_coll_fn_name(strata_coll_t c) {
  static const char *n[STRATA_NUM_COLLS] = {"strata_allreduce", "strata_allgather", "strata_reduce_scatter",
                                            "strata_broadcast", "strata_reduce", "strata_alltoall",
                                            "strata_barrier"};
  return (unsigned)c < STRATA_NUM_COLLS ? n[c] : "?";
}

int strata_coll_inplace(strata_coll_t coll, const void *sendbuf, const void *recvbuf, size_t bytes, int me, int root) {
  switch (coll) {
  case STRATA_COLL_ALLREDUCE: return sendbuf == recvbuf;
  case STRATA_COLL_BROADCAST:
  case STRATA_COLL_REDUCE: return me == root && sendbuf == recvbuf;
  case STRATA_COLL_ALLGATHER: return (const char *)sendbuf == (const char *)recvbuf + (size_t)me * bytes;
  case STRATA_COLL_REDUCE_SCATTER: return (const char *)recvbuf == (const char *)sendbuf + (size_t)me * bytes;
  default: return 0;
  }
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

strata_algo_t strata_comm_choose(strata_comm_t comm, strata_coll_t coll, size_t bytes, int inplace, double *cost,
                                 int *overridden) {
  strata_algo_t a = (strata_algo_t)comm->algo_override[coll];
  if (overridden) *overridden = 0;
  if (a != STRATA_ALGO_AUTO) {
    double c = strata_tuner_cost_ex(&comm->tuner, coll, a, bytes, inplace);
    if (c < 1e29) {
      if (cost) *cost = c;
      if (overridden) *overridden = 1;
      return a;
    }
  }
  return strata_tuner_choose_ex(&comm->tuner, coll, bytes, inplace, cost);
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
  strata_algo_t algo = force != STRATA_ALGO_AUTO ? force : strata_comm_choose(comm, coll, bytes, inplace, &cost, &over);
  if (force == STRATA_ALGO_AUTO && comm->algo_override[coll] && !over && comm->logged_shapes < 64) {
    SLOG_WARN("STRATA_ALGO asks for %s:%s, which cannot run on this communicator; using %s",
              strata_coll_name(coll), strata_algo_name((strata_algo_t)comm->algo_override[coll]),
              strata_algo_name(algo));
  }
  strata_coll_args_t a = {.coll = coll, .rank = comm->rank, .nranks = comm->nranks, .count = count,
                          .dtype = dtype, .op = op, .root = root, .inplace = inplace, .esize = es,
                          .chunk_bytes = comm->all_local && comm->ctx->machine.ring_chunk ? (size_t)comm->ctx->machine.ring_chunk : cfg->ring_chunk, .node_chunk = comm->node.base ? comm->node.chunk : cfg->node_chunk,
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
    strata_algo_t alt = strata_tuner_choose_ex(&t, coll, bytes, inplace, &cost);
    SLOG_INFO("%s: %s does not fit %zu-byte staging slots at %d ranks; using %s", strata_coll_fn_name(coll),
              strata_algo_name(algo), a.node_chunk, comm->nranks, strata_algo_name(alt));
    algo = alt;
  }
  plan_cache_entry_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  if (strata_plan_build(&e->plan, &a, algo)) {
    SLOG_WARN("%s: could not build a %s plan (out of memory?)", strata_coll_fn_name(coll), strata_algo_name(algo));
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

strata_result_t strata_host_coll(strata_comm_t comm, strata_coll_t coll, const void *sendbuf, void *recvbuf,
                                 size_t count, strata_dtype_t dtype, strata_op_t op, int root, strata_algo_t force,
                                 struct strata_request **out) {
  const char *fn = strata_coll_fn_name(coll);
  if (out) *out = NULL;
  if (coll == STRATA_COLL_BARRIER) {
    sendbuf = recvbuf = NULL;
    dtype = STRATA_INT8;
    op = STRATA_SUM;
    count = 1;
  }
  if (strata_ft_poll(comm) != STRATA_SUCCESS) return comm->error; /* failed, revoked, aborted */
  if (count == 0) { /* nothing to move: a request that is already done */
    if (!out) return STRATA_SUCCESS;
    struct strata_request *r = strata_request_get(comm);
    if (!r) return STRATA_ERR_SYSTEM;
    r->done = 1;
    r->status = STRATA_SUCCESS;
    *out = r;
    return STRATA_SUCCESS;
  }
  const int inplace = strata_coll_inplace(coll, sendbuf, recvbuf, count * strata_dtype_size(dtype), comm->rank, root);
  strata_plan_t *owned = NULL;
  const strata_plan_t *plan = get_plan(comm, coll, count, dtype, op, root, inplace, force, &owned);
  if (!plan) return STRATA_ERR_SYSTEM;
  struct strata_request *req;
  if (out) {
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
  if (!req) {
    if (owned) { strata_plan_free(owned); free(owned); }
    return STRATA_ERR_SYSTEM;
  }
  req->owned_plan = owned;
  strata_result_t rc = strata_engine_start(comm, req, plan, sendbuf, recvbuf, dtype, op);
  if (rc != STRATA_SUCCESS) {
    strata_request_put(req);
    return rc;
  }
  if (out) {
    *out = req;
    strata_engine_progress(comm); /* get it going */
    return STRATA_SUCCESS;
  }
  rc = strata_engine_wait(req);
  strata_request_put(req);
  return rc;
}

strata_result_t strata_host_test(struct strata_request *req, int *done) {
  strata_result_t rc = strata_engine_test(req, done);
  if (*done) strata_request_put(req);
  return rc;
}

strata_result_t strata_host_wait(struct strata_request *req) {
  strata_result_t rc = strata_engine_wait(req);
  strata_request_put(req);
  return rc;
}
