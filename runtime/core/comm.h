/* Internal definitions of communicators, the context they share, and requests. */
#ifndef STRATA_COMM_INT_H
#define STRATA_COMM_INT_H

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "../../transports/shm/node_seg.h"
#include "../../transports/transport.h"
#include "../engine/plan.h"
#include "../tuner/machine.h"
#include "../tuner/tuner.h"
#include "config.h"
#include "fabric.h"
#include "strata.h"

/* What every communicator derived from one init shares: world ranks, transports, the
 * world's host map. Per-rank state: O(1) plus one host index per world rank. */
typedef struct strata_context {
  int refs;
  int world_rank, world_size;
  uint64_t key;                 /* random per job: names shared segments */
  strata_transport_t *tp[STRATA_MAX_TRANSPORTS]; /* created, in the registry's order */
  int ntp;
  uint8_t *peer_tp;             /* per world rank: the index in tp[] of its transport */
  int inflight;                 /* requests started and not finished, every communicator */
  uint32_t *host_of;            /* host index of each world rank */
  uint32_t my_host;
  int local_size;               /* world ranks on this host */
  int oversubscribed;           /* more ranks on this machine than cores: yield early */
  int machine_ranks;            /* world ranks sharing this kernel (boot id), emulated hosts too */
  uint32_t nhosts;
  strata_fabric_t fabric;       /* sites and level figures */
  char (*hostnames)[64];        /* per world rank (strata_info, STRATA_TOPO_SAVE) */
  uint8_t comm_id_used[STRATA_COMM_ID_LIMIT]; /* ids of live (or failed) comms here */
  char hostname[64];
  strata_machine_t machine;     /* this host's figures, as its leader derived them */
  uint64_t digest;              /* of every plan-choice input (agree.c), equal on all ranks */
  double cpu_over;              /* ranks per core, the largest over the job's machines (agreed) */
  struct strata_plan_times *ptimes; /* measured plan times of this host (one-host jobs), or NULL */
  _Atomic(uintptr_t) gate_owner;  /* the thread inside a call on any of its communicators (its token), or 0 */
  int gate_depth;                 /* that thread's entries (a call inside a call: shrink, grow) */
  _Atomic int gate_waiters;       /* threads waiting for the gate */
} strata_context_t;

typedef struct plan_cache_entry {
  struct plan_cache_entry *next;
  uint64_t k0, k1;              /* coll, dtype, op, root, inplace | count */
  strata_plan_t plan;
} plan_cache_entry_t;

#define PLAN_CACHE_BUCKETS 256

struct strata_request {
  struct strata_comm *comm;
  const strata_plan_t *plan;
  strata_plan_t *owned_plan;    /* uncached plan freed with the request */
  void *buf[SB_NUM];
  uint8_t *st;                  /* per-step state */
  strata_treq_t *tr;            /* per send/recv step */
  int cap_st, cap_tr;
  int lo;                       /* lowest step not done of the steps run once (see engine.c) */
  int phase;                    /* 0: steps before the loop body, 1: the loop, 2: after it */
  uint64_t it_lo;               /* loop: oldest run not finished */
  int ilo[STRATA_LOOP_MAX_DEPTH]; /* loop: lowest body step not done, per run in flight */
  uint32_t seq;
  uint64_t node_base;
  int node_started;
  strata_result_t status;
  int done, blocking, in_use;
  int dtype, op;
  struct strata_request *next;  /* active list / free list */
  void *scratch;
  size_t scratch_cap;
  uint64_t t_quiet;             /* strata_test: when the communicator was last seen moving */
  uint64_t t_checked;           /* strata_test: when its peers were last asked whether they are alive */
  uint64_t seen_moves;          /* its move count then */
  strata_request_t handle;      /* the caller's handle (nonblocking calls), NULL otherwise */
  struct strata_request *all_next; /* every request the communicator allocated */
};

struct strata_comm {
  strata_context_t *ctx;
  int rank, nranks;
  int *world;                   /* comm rank -> world rank; NULL = identity */
  uint32_t id;
  uint32_t seq;
  int all_local;                /* every rank on this host */
  strata_node_seg_t node;       /* staging for node plans (base NULL when absent) */
  uint64_t node_seq;            /* chunks handed out to node plans so far */
  uint64_t node_allread_v;      /* last chunk of the last single-chunk all-read node plan */
  uint64_t node_ready_base;     /* node requests run one at a time, in start order */
  strata_tuner_t tuner;
  strata_hier_t hier;           /* node and site of each comm rank (comms across hosts) */
  int *hier_units;
  int algo_override[STRATA_NUM_COLLS];
  plan_cache_entry_t *cache[PLAN_CACHE_BUCKETS];
  int cache_entries;
  struct strata_request *active_head, *active_tail, *free_list, *all_reqs;
  uint64_t moves;               /* steps moved (and UCX progress), for silence timeouts */
  struct strata_request blocking_req;
  strata_result_t error;        /* sticky after a timeout or peer failure */
  int logged_shapes;
  struct strata_dev_comm *dev;  /* device buffers: streams, IPC mappings, staging (lazily) */
  struct strata_ft *ft;         /* failures known, notices, agreements (runtime/ft) */
  uint64_t uid;                 /* equal on every member, differs between communicators */
  uint32_t nchildren;           /* communicators made from this one (their uids) */
  _Atomic int abort_req;        /* from strata_comm_abort / revoke on another thread: the error to fail with */
  int aborted;                  /* strata_comm_abort took effect */
  _Atomic int busy;             /* a thread is inside a call on it */
};

/* One thread at a time in a call on a communicator, and at the transports of a context (its
 * communicators share them; they are not thread-safe). A thread may take the context's gate
 * again while it holds it (shrink and grow make communicators). A call that waits gives the
 * gate to a thread asking for it (strata_ctx_gate_yield), so that two threads in blocking
 * calls on two communicators of one context both progress. abort and revoke from another
 * thread only try the communicator, and otherwise leave a request (abort_req) for the thread
 * in the call; get_async_error only tries, and otherwise reports what is known. */
extern _Thread_local char strata_thread_token;
static inline int strata_ctx_gate_try(strata_context_t *x) {
  uintptr_t me = (uintptr_t)&strata_thread_token, none = 0;
  if (atomic_load_explicit(&x->gate_owner, memory_order_acquire) == me) {
    x->gate_depth++;
    return 1;
  }
  if (atomic_compare_exchange_strong(&x->gate_owner, &none, me)) {
    x->gate_depth = 1;
    return 1;
  }
  return 0;
}
static inline void strata_ctx_gate_take(strata_context_t *x) {
  if (strata_ctx_gate_try(x)) return;
  atomic_fetch_add(&x->gate_waiters, 1);
  while (!strata_ctx_gate_try(x)) sched_yield();
  atomic_fetch_sub(&x->gate_waiters, 1);
}
static inline void strata_ctx_gate_give(strata_context_t *x) {
  if (--x->gate_depth == 0) atomic_store_explicit(&x->gate_owner, 0, memory_order_release);
}
/* In a wait, with nothing of this thread's half-done at the transports: let a thread that
 * asks for the gate have it for a while, then take it back (at the same depth). */
static inline void strata_ctx_gate_yield(strata_context_t *x) {
  if (atomic_load_explicit(&x->gate_waiters, memory_order_relaxed) == 0) return;
  if (atomic_load_explicit(&x->gate_owner, memory_order_relaxed) != (uintptr_t)&strata_thread_token) return;
  int depth = x->gate_depth;
  x->gate_depth = 0;
  atomic_store_explicit(&x->gate_owner, 0, memory_order_release);
  sched_yield();
  strata_ctx_gate_take(x);
  x->gate_depth = depth;
}
static inline int strata_comm_try_enter(struct strata_comm *c) {
  int e = 0;
  if (!atomic_compare_exchange_strong(&c->busy, &e, 1)) return 0;
  if (strata_ctx_gate_try(c->ctx)) return 1;
  atomic_store(&c->busy, 0);
  return 0;
}
/* The communicator free (no call on it), then the gate, waiting for it: bounded, since
 * the holder gives it up in its waits. */
static inline int strata_comm_try_enter_wait_gate(struct strata_comm *c) {
  int e = 0;
  if (!atomic_compare_exchange_strong(&c->busy, &e, 1)) return 0;
  strata_ctx_gate_take(c->ctx);
  return 1;
}
static inline void strata_comm_enter(struct strata_comm *c) {
  int e = 0;
  while (!atomic_compare_exchange_strong(&c->busy, &e, 1)) {
    e = 0;
    sched_yield();
  }
  strata_ctx_gate_take(c->ctx);
}
static inline void strata_comm_leave(struct strata_comm *c) {
  strata_ctx_gate_give(c->ctx);
  atomic_store(&c->busy, 0);
}

static inline int comm_world_rank(const struct strata_comm *c, int r) {
  return c->world ? c->world[r] : r;
}
static inline strata_transport_t *ctx_tp(const strata_context_t *x, int world_rank) {
  return x->tp[x->peer_tp[world_rank]];
}
static inline strata_transport_t *comm_tp(const struct strata_comm *c, int r) {
  return ctx_tp(c->ctx, comm_world_rank(c, r));
}

#endif
