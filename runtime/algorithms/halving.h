/* Recursive halving reduce-scatter over the virtual ranks of a fold (see fold_t): the
 * phase Rabenseifner's allreduce and the recursive-halving reduce-scatter share. */
#ifndef STRATA_HALVING_H
#define STRATA_HALVING_H

#include "algo.h"

/* element offset where virtual rank v's range starts */
static inline size_t velem(const fold_t *f, size_t n, int v) {
  return blk_off(n, f->P, fold_first(f, v));
}

typedef struct rh_spec {
  size_t n;
  uint32_t cur_buf;   /* where this rank's input is (the acc buffer if pre-reduced) */
  uint32_t acc_buf;   /* where partial sums go; offsets are element offsets * esize */
  uint64_t acc_off;
  uint64_t tmp_off;   /* scratch for incoming halves (n/2 elements at most) */
  int dep0;           /* step the first exchange waits for */
  uint32_t tagbase;
} rh_spec_t;

/* *last: the step that completes this rank's range [velem(v), velem(v+1)) in acc.
 * sends[]: the send steps (log2 p2 of them); *nsends set. */
int rh_phase(strata_plan_t *p, const strata_coll_args_t *a, const fold_t *f, int v,
             const rh_spec_t *sp, int *last, int *sends, int *nsends);

#endif
