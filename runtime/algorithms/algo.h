/* Algorithms: pure functions (args -> plan). One file per algorithm; this header holds
 * their declarations, the registry, and the partitioning helpers they share. */
#ifndef STRATA_ALGO_H
#define STRATA_ALGO_H

#include <stdlib.h>

#include "../engine/plan.h"

typedef int (*strata_algo_build_fn)(strata_plan_t *p, const strata_coll_args_t *a);

typedef struct strata_algo_entry {
  strata_coll_t coll;
  strata_algo_t algo;
  strata_algo_build_fn build;
  int node_only; /* needs every rank on one host (shared staging memory) */
} strata_algo_entry_t;

/* The registry: every (collective, algorithm) pair that exists. */
const strata_algo_entry_t *strata_algo_find(strata_coll_t coll, strata_algo_t algo);
int strata_algo_list(strata_coll_t coll, strata_algo_t *out, int max);
/* Can algo run this shape? Node plans that stage a piece of every rank's block in one slot
 * need nranks * esize <= node_chunk. The same answer on every rank. */
int strata_algo_fits(const strata_coll_args_t *a, strata_algo_t algo);
/* Build a plan for algo; 0 on success, -1 on allocation failure. */
int strata_plan_build(strata_plan_t *p, const strata_coll_args_t *a, strata_algo_t algo);

#define DECL(name) int strata_algo_##name(strata_plan_t *p, const strata_coll_args_t *a)
DECL(allreduce_ring);
DECL(allreduce_recursive_doubling);
DECL(allreduce_rabenseifner);
DECL(allreduce_shm);
DECL(allreduce_direct);
DECL(allreduce_hierarchical);
DECL(allgather_ring);
DECL(allgather_recursive_doubling);
DECL(allgather_bruck);
DECL(allgather_shm);
DECL(allgather_hierarchical);
DECL(reduce_scatter_ring);
DECL(reduce_scatter_recursive_halving);
DECL(reduce_scatter_shm);
DECL(reduce_scatter_hierarchical);
DECL(broadcast_binomial);
DECL(broadcast_scatter_allgather);
DECL(broadcast_shm);
DECL(broadcast_hierarchical);
DECL(reduce_binomial);
DECL(reduce_reduce_scatter_gather);
DECL(reduce_shm);
DECL(reduce_hierarchical);
DECL(alltoall_pairwise);
DECL(alltoall_bruck);
DECL(alltoall_shm);
DECL(barrier_dissemination);
DECL(barrier_shm);
#undef DECL

/* ---- shared helpers ---- */

/* Block b of n elements split over k blocks: the first n % k blocks get one more. */
static inline size_t blk_cnt(size_t n, int k, int b) {
  return n / (size_t)k + ((size_t)b < n % (size_t)k ? 1 : 0);
}
static inline size_t blk_off(size_t n, int k, int b) {
  size_t r = n % (size_t)k;
  return (size_t)b * (n / (size_t)k) + ((size_t)b < r ? (size_t)b : r);
}
static inline int mod(int a, int m) { return ((a % m) + m) % m; }

/* Number of pipeline chunks for a piece of `elems` elements: pieces of chunk_bytes, but at
 * most STRATA_PLAN_MAX_CHUNKS (larger pieces beyond), so a point-to-point plan's size does
 * not grow with the message (a 16 GiB ring has chunks of 16 GiB / P / 64). */
#define STRATA_PLAN_MAX_CHUNKS 64
static inline int nchunks_for(size_t elems, size_t esize, size_t chunk_bytes) {
  size_t bytes = elems * esize;
  size_t n = bytes ? (bytes + chunk_bytes - 1) / chunk_bytes : 1;
  return n < 1 ? 1 : n > STRATA_PLAN_MAX_CHUNKS ? STRATA_PLAN_MAX_CHUNKS : (int)n;
}

/* Folding a non-power-of-two rank count onto p2 = 2^floor(log2 P) "virtual" ranks, as
 * MPICH does: ranks below 2*extra pair up (even r hands its data to r+1 and sits out);
 * virtual rank v stands for the real ranks [fold_first(v), fold_first(v+1)), contiguous. */
typedef struct { int P, p2, extra; } fold_t;
static inline fold_t fold_make(int P) {
  fold_t f;
  f.P = P;
  f.p2 = 1;
  while (f.p2 * 2 <= P) f.p2 *= 2;
  f.extra = P - f.p2;
  return f;
}
/* -1 for a rank that sits out */
static inline int fold_vrank(const fold_t *f, int r) {
  if (r < 2 * f->extra) return (r & 1) ? r / 2 : -1;
  return r - f->extra;
}
static inline int fold_first(const fold_t *f, int v) {
  return v < f->extra ? 2 * v : v + f->extra;
}
static inline int fold_owner(const fold_t *f, int v) {
  return v < f->extra ? 2 * v + 1 : v + f->extra;
}

#define IN_BUF(a) ((a)->inplace ? SB_RECV : SB_SEND)
#define BREF(b, o) strata_bref((b), (o))

/* One rank: the plan is a copy (out of place) or nothing. Returns 1 when it handled P == 1. */
static inline int plan_single_rank(strata_plan_t *p, const strata_coll_args_t *a, uint64_t bytes) {
  if (a->nranks != 1) return 0;
  if (!a->inplace) plan_copy(p, strata_bref(SB_RECV, 0), strata_bref(SB_SEND, 0), bytes, -1, -1, -1);
  return 1;
}

/* A rank the fold leaves out (see fold_t): hand its input to r+1 (tag 0) and receive its
 * result back (tag 1), in that order (in place they share memory). */
static inline void plan_fold_sit_out(strata_plan_t *p, int r, strata_bref_t in, uint64_t in_bytes,
                                     strata_bref_t out, uint64_t out_bytes) {
  int s = plan_send(p, r + 1, 0, in, in_bytes, -1, -1, -1);
  plan_recv(p, r + 1, 1, out, out_bytes, s, -1, -1);
}

/* A growable int array for bookkeeping step indices while building. */
static inline int *ialloc(size_t n, int fill) {
  int *x = (int *)malloc((n ? n : 1) * sizeof(int));
  if (x)
    for (size_t i = 0; i < n; i++) x[i] = fill;
  return x;
}

#endif
