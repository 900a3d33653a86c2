/* The engine. Each request walks its plan: a step starts once its dependencies are done;
 * sends and receives are posted to the transport of the peer; reductions and copies run
 * inline; node steps move data through the communicator's staging slots.
 *
 * Node-slot protocol (all ranks on one host): chunk k of a node request gets sequence
 * v = base + k + 1 and slot b = (v-1) % nbuf. A writer fills its slot and stores put = v
 * (release); readers wait for put >= v (acquire). A sliced reduction publishes red = v.
 * Every rank stores done = v when it has read everything of chunk v. A writer may reuse
 * slot b for v only when every rank's done >= v - nbuf, except when both this request and
 * the previous one are single-chunk plans in which every rank reads every slot ("implied"):
 * then each rank put v-1 only after finishing its request v-2, so the check is free. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "engine.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "../../kernels/strata_kernels.h"
#include "../core/clock.h"
#include "../core/log.h"
#include "../ft/ft.h"

#define WINDOW 256              /* steps of one request looked at per pass */
#define STRATA_CLOCK_POLLS 128  /* polls between clock reads while waiting (power of two) */
#define STRATA_PEER_CHECK_NS 50000000ull /* how often a wait asks whether peers are alive */
#define STRATA_SPIN_OVERSUBSCRIBED 32    /* polls before yielding when ranks outnumber cores */
#define STRATA_DRAIN_PASSES 256          /* transport progress passes a finished call may make */
enum { ST_IDLE = 0, ST_POSTED = 1, ST_DONE = 2 };
enum { R_IDLE = 0, R_POSTED = 1, R_DONE = 2, R_ERROR = 3 };

/* One run of a plan's steps: a loop body's run k shifts the caller's buffers and the chunk
 * numbers (plan.h); steps outside the loop run with none. */
typedef struct strata_run {
  uint64_t shift;
  uint64_t chunk;
} strata_run_t;
static const strata_run_t RUN0 = {0, 0};

static inline void *bptr(const struct strata_request *req, strata_bref_t b, const strata_run_t *run) {
  char *base = (char *)req->buf[b.buf];
  if (!base) return NULL;
  return base + b.off + ((b.buf == SB_SEND || b.buf == SB_RECV) ? run->shift : 0);
}

/* ---- request pool ---- */

struct strata_request *strata_request_get(struct strata_comm *comm) {
  struct strata_request *r = comm->free_list;
  if (r) {
    comm->free_list = r->next;
  } else {
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->all_next = comm->all_reqs;
    comm->all_reqs = r;
  }
  r->comm = comm;
  r->in_use = 1;
  r->next = NULL;
  return r;
}

void strata_request_put(struct strata_request *req) {
  struct strata_comm *comm = req->comm;
  if (req->owned_plan) {
    strata_plan_free(req->owned_plan);
    free(req->owned_plan);
    req->owned_plan = NULL;
  }
  req->in_use = 0;
  if (req->blocking) return;
  req->next = comm->free_list;
  comm->free_list = req;
}

static void request_release_memory(struct strata_request *r) {
  free(r->st);
  free(r->tr);
  free(r->scratch);
  r->st = NULL;
  r->tr = NULL;
  r->scratch = NULL;
  r->cap_st = r->cap_tr = 0;
  r->scratch_cap = 0;
}

void strata_request_free_pool(struct strata_comm *comm) {
  struct strata_request *r = comm->all_reqs; /* pooled and still held alike */
  while (r) {
    struct strata_request *n = r->all_next;
    if (r->owned_plan) {
      strata_plan_free(r->owned_plan);
      free(r->owned_plan);
    }
    request_release_memory(r);
    free(r);
    r = n;
  }
  comm->all_reqs = comm->free_list = NULL;
  request_release_memory(&comm->blocking_req);
}

/* ---- starting ---- */

/* Step states: the steps run once (before and after the loop body), then one body's worth
 * per run in flight. */
static int state_len(const strata_plan_t *plan) {
  int body = plan->loop_reps ? plan->loop_end - plan->loop_begin : 0;
  return plan->nsteps - body + body * (plan->loop_reps ? plan->loop_depth : 0);
}

static int ensure_caps(struct strata_request *req, const strata_plan_t *plan) {
  int nst = state_len(plan);
  if (nst > req->cap_st) {
    uint8_t *st = realloc(req->st, (size_t)nst);
    if (!st) return -1;
    req->st = st;
    req->cap_st = nst;
  }
  if (plan->ntr > req->cap_tr) {
    strata_treq_t *tr = realloc(req->tr, (size_t)plan->ntr * sizeof *tr);
    if (!tr) return -1;
    req->tr = tr;
    req->cap_tr = plan->ntr;
  }
  if (plan->scratch_bytes > req->scratch_cap) {
    size_t sz = (plan->scratch_bytes + 63) & ~(size_t)63;
    void *s = aligned_alloc(64, sz);
    if (!s) return -1;
    free(req->scratch);
    req->scratch = s;
    req->scratch_cap = sz;
  }
  return 0;
}

strata_result_t strata_engine_start(struct strata_comm *comm, struct strata_request *req,
                                    const strata_plan_t *plan, const void *sendbuf, void *recvbuf,
                                    int dtype, int op) {
  if (ensure_caps(req, plan)) {
    SLOG_WARN("out of memory starting a %s of %d steps", strata_coll_name(plan->coll), plan->nsteps);
    return STRATA_ERR_SYSTEM;
  }
  req->plan = plan;
  req->buf[SB_NONE] = NULL;
  req->buf[SB_SEND] = (void *)sendbuf;
  req->buf[SB_RECV] = recvbuf;
  req->buf[SB_SCRATCH] = req->scratch;
  req->buf[SB_NODE] = NULL;
  req->dtype = dtype;
  req->op = op;
  req->lo = 0;
  req->phase = 0;
  req->it_lo = 0;
  memset(req->ilo, 0, sizeof req->ilo);
  req->done = 0;
  req->status = STRATA_IN_PROGRESS;
  req->seq = comm->seq++;
  if (state_len(plan)) memset(req->st, 0, (size_t)state_len(plan));
  if (plan->node_chunks) {
    req->node_base = comm->node_seq;
    comm->node_seq += plan->node_chunks;
  }
  req->t_quiet = 0;
  req->t_checked = 0;
  req->next = NULL;
  comm->ctx->inflight++;
  if (comm->active_tail) comm->active_tail->next = req;
  else comm->active_head = req;
  comm->active_tail = req;
  return STRATA_SUCCESS;
}

/* ---- node steps ---- */

static inline int node_slot_index(const struct strata_comm *c, uint64_t v) {
  return (int)((v - 1) % (uint64_t)c->node.nbuf);
}

static int run_nput(struct strata_request *req, const strata_step_t *s, const strata_run_t *run) {
  struct strata_comm *c = req->comm;
  const strata_node_seg_t *seg = &c->node;
  uint64_t v = req->node_base + s->chunk + run->chunk + 1;
  int implied = req->plan->node_implied && c->node_allread_v == v - 1;
  if (!implied && v > (uint64_t)seg->nbuf) {
    uint64_t need = v - (uint64_t)seg->nbuf;
    for (int q = 0; q < c->nranks; q++)
      if (atomic_load_explicit(nseg_done(seg, q), memory_order_acquire) < need) return R_IDLE;
  }
  char *slot = nseg_slot(seg, c->rank, node_slot_index(c, v));
  char *dst = nseg_data(slot) + s->dst.off;
  const char *src = bptr(req, s->src, run);
  if (s->n) {
    /* large pieces go to memory with streaming stores: the reader then streams them from
     * DRAM instead of pulling every line out of this core's cache */
    int stream = s->n >= c->ctx->machine.stream_min; /* derived on the machine (tuner/machine.c) */
    for (int k = 0; k < (s->nrep ? s->nrep : 1); k++) {
      if (stream) strata_kernel_copy_stream(dst + (size_t)k * s->dstride, src + (size_t)k * s->sstride, s->n);
      else memcpy(dst + (size_t)k * s->dstride, src + (size_t)k * s->sstride, s->n);
    }
  }
  atomic_store_explicit(nseg_put(slot), v, memory_order_release);
  return R_DONE;
}

static int run_nreduce(struct strata_request *req, const strata_step_t *s, const strata_run_t *run) {
  struct strata_comm *c = req->comm;
  const strata_node_seg_t *seg = &c->node;
  const int P = c->nranks, me = c->rank;
  uint64_t v = req->node_base + s->chunk + run->chunk + 1;
  int b = node_slot_index(c, v);
  int own = s->src.buf != SB_NONE;
  for (int q = 0; q < P; q++) {
    if (q == me && own) continue;
    if (atomic_load_explicit(nseg_put(nseg_slot(seg, q, b)), memory_order_acquire) < v) return R_IDLE;
  }
  if (s->n) {
    const void *srcs_stack[64];
    const void **srcs = P <= 64 ? srcs_stack : malloc((size_t)P * sizeof *srcs);
    if (!srcs) return R_ERROR;
    for (int q = 0; q < P; q++)
      srcs[q] = (q == me && own) ? bptr(req, s->src, run) : nseg_data(nseg_slot(seg, q, b)) + s->src2.off;
    void *dst = s->dst.buf == SB_NODE ? nseg_data(nseg_slot(seg, me, b)) + s->dst.off : bptr(req, s->dst, run);
    strata_kernel_reduce_multi(dst, srcs, P, s->n, req->dtype, req->op, (s->flags & SF_AVG) ? P : 0);
    if (srcs != srcs_stack) free(srcs);
  }
  if (s->dst.buf == SB_NODE)
    atomic_store_explicit(nseg_red(nseg_slot(seg, me, b)), v, memory_order_release);
  return R_DONE;
}

static int run_nget(struct strata_request *req, const strata_step_t *s, const strata_run_t *run) {
  struct strata_comm *c = req->comm;
  uint64_t v = req->node_base + s->chunk + run->chunk + 1;
  char *slot = nseg_slot(&c->node, s->peer, node_slot_index(c, v));
  _Atomic uint64_t *flag = (s->flags & SF_RED) ? nseg_red(slot) : nseg_put(slot);
  if (atomic_load_explicit(flag, memory_order_acquire) < v) return R_IDLE;
  if (s->n) memcpy(bptr(req, s->dst, run), nseg_data(slot) + s->src.off, s->n);
  return R_DONE;
}

/* ---- step execution ---- */

static int start_step(struct strata_request *req, const strata_step_t *s, const strata_run_t *run) {
  struct strata_comm *c = req->comm;
  switch (s->kind) {
  case SK_SEND:
  case SK_RECV: {
    strata_transport_t *tp = comm_tp(c, s->peer);
    strata_treq_t *tr = &req->tr[s->tri];
    tr->state = 0;
    uint64_t tag = strata_make_tag(c->id, req->seq, s->tag);
    int w = comm_world_rank(c, s->peer);
    strata_result_t rc = s->kind == SK_SEND
                             ? tp->ops->isend(tp, w, tag, bptr(req, s->src, run), s->n, tr)
                             : tp->ops->irecv(tp, w, tag, bptr(req, s->dst, run), s->n, tr);
    if (rc != STRATA_SUCCESS) {
      req->status = rc;
      return R_ERROR;
    }
    return tr->state == 1 ? R_DONE : R_POSTED;
  }
  case SK_REDUCE:
    strata_kernel_reduce2(bptr(req, s->dst, run), bptr(req, s->src, run), bptr(req, s->src2, run), s->n,
                          req->dtype, req->op);
    return R_DONE;
  case SK_COPY:
    if (s->n) {
      void *d = bptr(req, s->dst, run);
      const void *src = bptr(req, s->src, run);
      if (d != src) memmove(d, src, s->n);
    }
    return R_DONE;
  case SK_AVG:
    strata_kernel_avg(bptr(req, s->dst, run), bptr(req, s->src, run), s->n, req->dtype, c->nranks);
    return R_DONE;
  case SK_NPUT: return run_nput(req, s, run);
  case SK_NREDUCE: return run_nreduce(req, s, run);
  case SK_NGET: return run_nget(req, s, run);
  case SK_NDONE: {
    uint64_t v = req->node_base + s->chunk + run->chunk + 1;
    atomic_store_explicit(nseg_done(&c->node, c->rank), v, memory_order_release);
    return R_DONE;
  }
  default: return R_ERROR;
  }
}

/* The steps run once that are current: those before the loop body (phase 0) or after it
 * (phase 2). *first: index of the first in the plan; returns their states. */
static uint8_t *once_steps(const struct strata_request *req, int *first, int *n) {
  const strata_plan_t *plan = req->plan;
  if (!plan->loop_reps) {
    *first = 0;
    *n = plan->nsteps;
    return req->st;
  }
  if (req->phase == 0) {
    *first = 0;
    *n = plan->loop_begin;
    return req->st;
  }
  *first = plan->loop_end;
  *n = plan->nsteps - plan->loop_end;
  return req->st + plan->loop_begin + (plan->loop_end - plan->loop_begin) * plan->loop_depth;
}

static void cancel_posted(struct strata_request *req, strata_result_t why) {
  const strata_plan_t *plan = req->plan;
  int first, n;
  uint8_t *st = once_steps(req, &first, &n); /* loop bodies hold no sends or receives */
  for (int i = req->lo; i < n; i++) {
    if (st[i] != ST_POSTED) continue;
    const strata_step_t *s = &plan->steps[first + i];
    strata_transport_t *tp = comm_tp(req->comm, s->peer);
    if (req->tr[s->tri].state == 0) tp->ops->cancel(tp, &req->tr[s->tri], why);
    st[i] = ST_DONE;
  }
}

static void finish(struct strata_request *req, strata_result_t status) {
  struct strata_comm *c = req->comm;
  if (status != STRATA_SUCCESS) cancel_posted(req, status);
  req->status = status;
  if (!req->done) c->ctx->inflight--;
  req->done = 1;
  if (req->plan->node_chunks && status == STRATA_SUCCESS) {
    c->node_allread_v = req->plan->node_implied ? req->node_base + 1 : 0;
    c->node_ready_base = req->node_base + req->plan->node_chunks;
  }
}

/* A send or receive failed with e: when its peer is known gone (a UCX endpoint error
 * said so), that is a peer failure, and the peer is named as failed. */
static strata_result_t failure_of(struct strata_request *req, const strata_step_t *s, strata_result_t e) {
  struct strata_comm *c = req->comm;
  strata_transport_t *tp = comm_tp(c, s->peer);
  if (e != STRATA_ERR_PEER_FAILED && tp->ops->peer_alive(tp, comm_world_rank(c, s->peer)) == STRATA_ERR_PEER_FAILED)
    e = STRATA_ERR_PEER_FAILED;
  if (e == STRATA_ERR_PEER_FAILED) strata_ft_suspect(c, s->peer, "its connection failed");
  return e;
}

/* Runs steps [first, first + n) of the plan once: st holds their states, *lop the first not
 * done. A dependency before `first` has completed (earlier steps finish first); a fence
 * also needs `oldest` (no older run of the loop body is unfinished). Returns the steps
 * that moved, or -1 after finishing the request with an error. */
static int run_steps(struct strata_request *req, int first, int n, uint8_t *st, int *lop, const strata_run_t *run,
                     int oldest) {
  const strata_step_t *steps = req->plan->steps + first;
  int lo = *lop, end = lo + WINDOW < n ? lo + WINDOW : n, moved = 0;
  for (int i = lo; i < end; i++) {
    int x = st[i];
    if (x == ST_DONE) {
      if (i == lo) lo++;
      continue;
    }
    const strata_step_t *s = &steps[i];
    if (x == ST_POSTED) {
      int t = req->tr[s->tri].state;
      if (t == 0) continue;
      if (t < 0) {
        *lop = lo;
        finish(req, failure_of(req, s, (strata_result_t)-t));
        return -1;
      }
      st[i] = ST_DONE;
      moved++;
      if (i == lo) lo++;
      continue;
    }
    int blocked = 0;
    for (int d = 0; d < STRATA_MAX_DEPS; d++)
      if (s->dep[d] >= first && st[s->dep[d] - first] != ST_DONE) blocked = 1;
    if (blocked || ((s->flags & SF_FENCE) && (i != lo || !oldest))) continue;
    int r = start_step(req, s, run);
    if (r == R_IDLE) continue;
    if (r == R_ERROR) {
      *lop = lo;
      if (req->status == STRATA_IN_PROGRESS || req->status == STRATA_SUCCESS)
        req->status = STRATA_ERR_INTERNAL;
      finish(req, req->status);
      return -1;
    }
    moved++;
    if (r == R_POSTED) {
      st[i] = ST_POSTED;
    } else {
      st[i] = ST_DONE;
      if (i == lo) lo++;
    }
  }
  *lop = lo;
  return moved;
}

/* The loop body's runs in flight (oldest first); a finished oldest run frees its states for
 * the run loop_depth later. Returns the steps that moved, or -1 after an error. */
static int run_loop(struct strata_request *req) {
  const strata_plan_t *plan = req->plan;
  const int B = plan->loop_end - plan->loop_begin, D = plan->loop_depth;
  uint8_t *body = req->st + plan->loop_begin;
  int moved = 0;
  for (;;) {
    uint64_t end = req->it_lo + (uint64_t)D < plan->loop_reps ? req->it_lo + (uint64_t)D : plan->loop_reps;
    for (uint64_t k = req->it_lo; k < end; k++) {
      int slot = (int)(k % (uint64_t)D);
      strata_run_t run = {k * plan->loop_shift, k * plan->loop_chunks};
      int m = run_steps(req, plan->loop_begin, B, body + (size_t)slot * B, &req->ilo[slot], &run, k == req->it_lo);
      if (m < 0) return -1;
      moved += m;
    }
    int retired = 0;
    while (req->it_lo < plan->loop_reps && req->ilo[req->it_lo % (uint64_t)D] == B) {
      int slot = (int)(req->it_lo % (uint64_t)D);
      memset(body + (size_t)slot * B, 0, (size_t)B);
      req->ilo[slot] = 0;
      req->it_lo++;
      retired = 1;
    }
    if (!retired || req->it_lo == plan->loop_reps) return moved;
  }
}

/* Returns the number of steps that moved. */
static int request_progress(struct strata_request *req) {
  const strata_plan_t *plan = req->plan;
  struct strata_comm *c = req->comm;
  if (req->done) return 0;
  if (plan->node_chunks && req->node_base != c->node_ready_base) return 0;
  int moved = 0;
  for (;;) {
    int first, n;
    if (req->phase == 1) {
      int m = run_loop(req);
      if (m < 0) return moved;
      moved += m;
      if (req->it_lo < plan->loop_reps) return moved;
      req->phase = 2;
      req->lo = 0;
    }
    uint8_t *st = once_steps(req, &first, &n);
    int m = run_steps(req, first, n, st, &req->lo, &RUN0, 1);
    if (m < 0) return moved;
    moved += m;
    if (req->lo < n) return moved;
    if (req->phase != 0 || !plan->loop_reps) break;
    req->phase = 1;
    req->lo = 0; /* the epilogue's, once the loop is done */
  }
  finish(req, STRATA_SUCCESS);
  return moved;
}

static int progress_transports(struct strata_comm *c) {
  strata_context_t *x = c->ctx;
  /* a transport moving bytes (a fragment stream, a large UCX message in pieces) before the
   * step completes is progress too */
  int m = 0;
  for (int i = 0; i < x->ntp; i++) m += x->tp[i]->ops->progress(x->tp[i]);
  return m;
}

/* Seq numbers travel in few tag bits (6 over UCX). A request starts moving only when it is
 * fewer than STRATA_SEQ_WINDOW calls younger than the oldest unfinished one on this rank.
 * Messages with the same wrapped tag may still be in flight together (a rank that only
 * sends can run ahead), but a receive of call s + 64 is never posted before the receive of
 * call s was matched, and messages between two ranks are matched in sending order, so a
 * wrapped tag never matches the wrong call. */
static int seq_blocked(const struct strata_comm *c, const struct strata_request *r) {
  const struct strata_request *oldest = c->active_head;
  return oldest && (uint32_t)(r->seq - oldest->seq) >= STRATA_SEQ_WINDOW;
}

void strata_engine_progress(struct strata_comm *c) {
  c->moves += (uint64_t)progress_transports(c);
  struct strata_request *prev = NULL, *r = c->active_head;
  strata_result_t failed = STRATA_SUCCESS;
  while (r) {
    struct strata_request *next = r->next;
    if (!seq_blocked(c, r)) c->moves += (uint64_t)request_progress(r);
    if (r->done) { /* unlink */
      if (r->status != STRATA_SUCCESS && failed == STRATA_SUCCESS) failed = r->status;
      if (prev) prev->next = next;
      else c->active_head = next;
      if (c->active_tail == r) c->active_tail = prev;
      r->next = NULL;
    } else {
      prev = r;
    }
    r = next;
  }
  /* a transport error, a size mismatch or a failed step fails the whole communicator */
  if (failed != STRATA_SUCCESS) {
    SLOG_WARN("rank %d of %d (world %d, %s): a call failed (%s): the communicator fails with it",
              c->rank, c->nranks, c->ctx->world_rank, c->ctx->hostname, strata_result_string(failed));
    strata_engine_fail_all(c, failed);
  }
}

void strata_engine_fail_all(struct strata_comm *c, strata_result_t err) {
  if (c->error == STRATA_SUCCESS) {
    c->error = err;
    strata_context_t *x = c->ctx; /* its calls' messages still to come are dropped */
    for (int i = 0; i < x->ntp; i++)
      if (x->tp[i]->ops->retire) x->tp[i]->ops->retire(x->tp[i], c->id);
  }
  struct strata_request *r = c->active_head;
  while (r) {
    struct strata_request *next = r->next;
    if (!r->done) finish(r, err);
    r->next = NULL;
    r = next;
  }
  c->active_head = c->active_tail = NULL;
  strata_ft_spread(c, c->error); /* the other members stop too (once) */
}

/* Is a peer this request waits on known to be dead? */
static strata_result_t check_peers(struct strata_request *req) {
  struct strata_comm *c = req->comm;
  const strata_plan_t *plan = req->plan;
  if (plan->node_chunks) {
    for (int q = 0; q < c->nranks; q++) {
      strata_transport_t *tp = comm_tp(c, q);
      if (q != c->rank && tp->ops->peer_alive(tp, comm_world_rank(c, q)) != STRATA_SUCCESS) {
        SLOG_WARN("rank %d (world %d, %s) died during a %s", q, comm_world_rank(c, q),
                  c->ctx->hostnames[comm_world_rank(c, q)], strata_coll_name(plan->coll));
        strata_ft_suspect(c, q, "its process is gone");
        return STRATA_ERR_PEER_FAILED;
      }
    }
    return STRATA_SUCCESS;
  }
  int first, n;
  const uint8_t *st = once_steps(req, &first, &n);
  int end = req->lo + WINDOW < n ? req->lo + WINDOW : n;
  for (int i = req->lo; i < end; i++) {
    const strata_step_t *s = &plan->steps[first + i];
    if (st[i] == ST_DONE || (s->kind != SK_SEND && s->kind != SK_RECV)) continue;
    strata_transport_t *tp = comm_tp(c, s->peer);
    if (tp->ops->peer_alive(tp, comm_world_rank(c, s->peer)) != STRATA_SUCCESS) {
      SLOG_WARN("rank %d (world %d, %s) died during a %s", s->peer, comm_world_rank(c, s->peer),
                c->ctx->hostnames[comm_world_rank(c, s->peer)], strata_coll_name(plan->coll));
      strata_ft_suspect(c, s->peer, "its process or connection is gone");
      return STRATA_ERR_PEER_FAILED;
    }
  }
  return STRATA_SUCCESS;
}

/* The first peer req still waits on, for the timeout message (-1: a node step or none). */
static int waited_peer(const struct strata_request *req) {
  const strata_plan_t *plan = req->plan;
  int first, n;
  const uint8_t *st = once_steps(req, &first, &n);
  for (int i = req->lo; i < n; i++) {
    const strata_step_t *s = &plan->steps[first + i];
    if (st[i] != ST_DONE && (s->kind == SK_SEND || s->kind == SK_RECV)) return s->peer;
  }
  return -1;
}

static void time_out(struct strata_request *req, uint64_t quiet_ns) {
  struct strata_comm *c = req->comm;
  int q = waited_peer(req);
  char who[128] = "its node peers";
  if (q >= 0)
    snprintf(who, sizeof who, "rank %d (world %d, %s)", q, comm_world_rank(c, q),
             c->ctx->hostnames[comm_world_rank(c, q)]);
  SLOG_WARN("rank %d of %d (world %d, %s): %s #%u timed out: nothing moved for %llu ms "
            "(STRATA_TIMEOUT_MS), waiting on %s", c->rank, c->nranks, c->ctx->world_rank, c->ctx->hostname,
            strata_coll_name(req->plan->coll), req->seq, (unsigned long long)(quiet_ns / 1000000ull), who);
  strata_engine_fail_all(c, STRATA_ERR_TIMEOUT);
}

/* A call that is done here may still owe its peers protocol messages the transport sends
 * from its progress (UCX rendezvous: the receiver's acknowledgement once it has the data).
 * Before the call returns to a caller that may now wait elsewhere (an MPI barrier, compute),
 * the transports are progressed until they report nothing left to move (bounded). */
static void drain_transports(struct strata_comm *c) {
  strata_context_t *x = c->ctx;
  for (int t = 0; t < x->ntp; t++) {
    strata_transport_t *tp = x->tp[t];
    if (!(tp->ops->flags & STRATA_TP_DRAIN)) continue;
    for (int i = 0, idle = 0; i < STRATA_DRAIN_PASSES && idle < 2; i++)
      idle = tp->ops->progress(tp) ? 0 : idle + 1;
    /* owed messages only: with a call still in flight a flush would wait on its sends too */
    if (tp->ops->flush && x->inflight == 0) tp->ops->flush(tp);
  }
}

/* A call that completed here while a member's notice (a failure, a revoke, an abort) was
 * already in: it reports the communicator's error, as every later call does. Its data is
 * whole (every message it took was its own), but the members disagree on its outcome. */
static void revoked_meanwhile(struct strata_request *req) {
  if (req->status == STRATA_SUCCESS && strata_ft_poll(req->comm) != STRATA_SUCCESS) req->status = req->comm->error;
}

strata_result_t strata_engine_test(struct strata_request *req, int *done) {
  if (!req->done) {
    struct strata_comm *c = req->comm;
    uint64_t before = c->moves;
    strata_engine_progress(c);
    if (!req->done) strata_ft_poll(c); /* a notice from a member, an abort */
    /* a caller polling strata_test on a machine with more ranks than cores: give the core to
     * the peers this call waits on, as strata_wait does */
    if (!req->done && c->ctx->oversubscribed && c->moves == before) sched_yield();
    if (!req->done) {
      uint64_t now = strata_now_ns();
      if (!req->t_quiet || c->moves != req->seen_moves) {
        req->t_quiet = now;
        req->seen_moves = c->moves;
      } else if (now - req->t_quiet > (uint64_t)strata_config()->timeout_ms * 1000000ull) {
        time_out(req, now - req->t_quiet);
      }
      /* a caller that polls (strata_test, the device staged pipeline) finds a dead peer as
       * fast as one that waits */
      if (!req->done && now - req->t_checked > STRATA_PEER_CHECK_NS) {
        if (req->t_checked) {
          strata_result_t pr = check_peers(req);
          if (pr != STRATA_SUCCESS) strata_engine_fail_all(c, pr);
        }
        req->t_checked = now;
      }
    }
  }
  if (req->done) {
    drain_transports(req->comm);
    revoked_meanwhile(req);
  }
  *done = req->done;
  return req->done ? req->status : STRATA_SUCCESS;
}

/* Waits end when the request does, when a peer it waits on is known dead, or when nothing
 * of the communicator has moved for STRATA_TIMEOUT_MS: silence, not the call's length,
 * so a long healthy transfer never times out. */
strata_result_t strata_engine_wait(struct strata_request *req) {
  struct strata_comm *c = req->comm;
  const strata_config_t *cfg = strata_config();
  const int spin = c->ctx->oversubscribed ? STRATA_SPIN_OVERSUBSCRIBED : cfg->spin_polls;
  uint64_t quiet_since = 0, last_check = 0, seen = c->moves;
  const uint64_t limit = (uint64_t)cfg->timeout_ms * 1000000ull;
  unsigned polls = 0;
  while (!req->done) {
    strata_engine_progress(c);
    if (req->done) break;
    if (++polls > (unsigned)spin) sched_yield();
    else strata_cpu_relax();
    if ((polls & (STRATA_CLOCK_POLLS - 1)) == 0) {
      strata_ctx_gate_yield(c->ctx); /* another thread's call on this context may go on meanwhile */
      uint64_t now = strata_now_ns();
      if (!quiet_since) quiet_since = last_check = now;
      if (c->moves != seen) {
        seen = c->moves;
        quiet_since = now;
      }
      if (strata_ft_poll(c) != STRATA_SUCCESS && req->done) break; /* a member's notice, an abort */
      if (now - last_check > STRATA_PEER_CHECK_NS) { /* is a peer dead? */
        last_check = now;
        strata_result_t pr = check_peers(req);
        if (pr != STRATA_SUCCESS) {
          strata_engine_fail_all(c, pr);
          break;
        }
      }
      if (now - quiet_since > limit) {
        time_out(req, now - quiet_since);
        break;
      }
    }
  }
  drain_transports(c);
  revoked_meanwhile(req);
  return req->status;
}
