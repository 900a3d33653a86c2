/* Plans: what one rank does for one collective, as steps with dependencies.
 * Algorithms (runtime/algorithms) are pure functions from strata_coll_args_t to a plan;
 * the engine (engine.c) runs plans over transports. Buffers are symbolic (SB_*), bound
 * to addresses when a plan runs, so one plan serves every call of the same shape. */
#ifndef STRATA_PLAN_H
#define STRATA_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "../core/coll.h"
#include "strata.h"

enum strata_buf {
  SB_NONE = 0,
  SB_SEND,    /* the caller's send buffer */
  SB_RECV,    /* the caller's receive buffer */
  SB_SCRATCH, /* per-request scratch, plan->scratch_bytes long */
  SB_NODE,    /* node plans: this rank's staging slot for the step's chunk */
  SB_NUM
};

typedef enum strata_step_kind {
  SK_SEND = 0, /* send n bytes of src to peer, with tag */
  SK_RECV,     /* receive n bytes from peer into dst, with tag */
  SK_REDUCE,   /* dst = src op src2, n elements */
  SK_COPY,     /* dst = src, n bytes */
  SK_AVG,      /* dst = src / nranks, n elements (STRATA_AVG finish) */
  /* node plans (all ranks on one host, shared staging slots): */
  SK_NPUT,     /* slot[dst.off + k*dstride] = src[+k*sstride], nrep pieces of n bytes;
                  then publish "put" for the chunk */
  SK_NREDUCE,  /* wait every rank's "put"; dst = op over ranks q of slot(q)[src2.off] (own
                  term from src when src.buf != SB_NONE), n elements; dst SB_NODE publishes "red" */
  SK_NGET,     /* wait peer's "put" (or "red" with SF_RED); dst = slot(peer)[src.off], n bytes */
  SK_NDONE,    /* publish that this rank has finished reading the chunk everywhere */
  SK_NUM_KINDS
} strata_step_kind_t;

/* step flags */
#define SF_AVG 1u /* SK_NREDUCE: divide by nranks (STRATA_AVG) */
#define SF_RED 2u /* SK_NGET: wait for the peer's reduced slice, not its put */
#define SF_FENCE 4u /* starts only after every earlier step has completed */

typedef struct strata_bref {
  uint32_t buf;
  uint32_t pad_;
  uint64_t off; /* bytes */
} strata_bref_t;

#define STRATA_MAX_DEPS 3

typedef struct strata_step {
  uint8_t kind;
  uint8_t flags;
  uint16_t nrep;
  int32_t peer;
  uint32_t tag;
  uint32_t chunk;
  int32_t tri; /* send/recv: index of its transport request */
  int32_t dep[STRATA_MAX_DEPS];
  strata_bref_t dst, src, src2;
  uint64_t n;
  uint64_t sstride, dstride;
} strata_step_t;

/* The fabric's strata as hierarchical plans see them: per comm rank, its unit at each level
 * below the top (level 0 = node, level 1 = site); unit ids are dense, 0..nunits-1. */
#define STRATA_HIER_LEVELS 2
typedef struct strata_hier {
  int nranks;
  int nunits[STRATA_HIER_LEVELS];
  const int *unit[STRATA_HIER_LEVELS];
} strata_hier_t;

/* What the cost model chose for one hierarchical call (plans stay pure: they are told). */
typedef struct strata_hier_choice {
  int kmax[STRATA_HIER_LEVELS]; /* slices per unit at a level: 1 = through one leader,
                                   0 = as many as the smallest unit has ranks */
  int top_algo;                 /* flat allreduce among the one-per-site group */
  int outer;                    /* pipeline chunks (levels of different chunks overlap) */
} strata_hier_choice_t;

typedef struct strata_coll_args {
  strata_coll_t coll;
  int rank, nranks;
  size_t count; /* allreduce/broadcast/reduce: count; allgather: sendcount;
                   reduce_scatter: recvcount; alltoall: count per peer */
  strata_dtype_t dtype;
  strata_op_t op;
  int root;
  int inplace;
  size_t esize;
  size_t chunk_bytes; /* pipeline chunk for point-to-point plans */
  size_t node_chunk;  /* bytes per staging slot (node plans) */
  int node_nbuf;      /* staging slots per rank (node plans) */
  /* builder thresholds: tuner inputs (every rank agrees on them, runtime/core/agree.c), so a
   * plan is a pure function of its arguments */
  size_t node_pipe_min; /* node plans: from this size on, cut the call into node_pipe chunks */
  int node_pipe;
  size_t node_slice_min; /* node allreduce: sliced (parallel) reduction from this size */
  const strata_hier_t *hier;  /* NULL: no topology beyond "one host or not" */
  strata_hier_choice_t hc;    /* hierarchical plans only */
} strata_coll_args_t;

typedef struct strata_plan {
  strata_coll_t coll;
  strata_algo_t algo;
  int nsteps, cap;
  int ntr;               /* send and recv steps */
  strata_step_t *steps;
  size_t scratch_bytes;
  uint64_t node_chunks;  /* > 0: a node plan using this many staging chunks */
  uint8_t node_implied;  /* every rank reads every slot once per chunk: NPUT needs no
                            explicit wait for readers (see engine.c) */
  uint8_t failed;        /* an allocation failed while building */
  /* A chunk loop, so that a plan's size does not grow with the message: steps
   * [loop_begin, loop_end) are a body run loop_reps times, after steps [0, loop_begin) and
   * before steps [loop_end, nsteps). Run k adds k * loop_shift bytes to the offsets of its
   * SB_SEND and SB_RECV references and k * loop_chunks to its chunk numbers; up to
   * loop_depth runs are in flight at once. A body holds no send or receive (their tags
   * would repeat) and depends only on steps of the same run or before the body; a step
   * after the body starts once every run has finished. loop_reps 0: no loop. */
  int loop_begin, loop_end, loop_depth;
  uint32_t loop_chunks;
  uint64_t loop_reps, loop_shift;
} strata_plan_t;

#define STRATA_LOOP_MAX_DEPTH 16 /* runs of a loop body in flight at once */

/* Builder. Each returns the new step's index (or -1 after an allocation failure, which
 * marks the plan failed; later calls are no-ops). deps: up to 3 step indices, -1 = none. */
void strata_plan_init(strata_plan_t *p, strata_coll_t coll, strata_algo_t algo);
void strata_plan_free(strata_plan_t *p);
int strata_plan_add(strata_plan_t *p, const strata_step_t *s);
strata_bref_t strata_bref(uint32_t buf, uint64_t off);

int plan_send(strata_plan_t *p, int peer, uint32_t tag, strata_bref_t src, uint64_t bytes,
              int d0, int d1, int d2);
int plan_recv(strata_plan_t *p, int peer, uint32_t tag, strata_bref_t dst, uint64_t bytes,
              int d0, int d1, int d2);
int plan_reduce(strata_plan_t *p, strata_bref_t dst, strata_bref_t a, strata_bref_t b,
                uint64_t count, int d0, int d1, int d2);
int plan_copy(strata_plan_t *p, strata_bref_t dst, strata_bref_t src, uint64_t bytes,
              int d0, int d1, int d2);
int plan_avg(strata_plan_t *p, strata_bref_t dst, uint64_t count, int d0, int d1, int d2);

/* A dependency on several earlier steps: when more than 3, the builder adds nothing but
 * the plan's order guarantees it (see strata_plan_join). */
int strata_plan_join(strata_plan_t *p, const int *deps, int n);

/* Make steps [begin, nsteps) a loop body (see strata_plan_t); 0, or -1 (plan failed) when the
 * body holds a send or receive or depends on a later step. */
int strata_plan_loop(strata_plan_t *p, int begin, uint64_t reps, uint64_t shift, uint32_t chunks, int depth);

/* A zero-byte step that completes after every earlier step. */
int plan_fence(strata_plan_t *p);

const char *strata_step_kind_name(int kind);
void strata_plan_dump(const strata_plan_t *p, int rank);

#endif
