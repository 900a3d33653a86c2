/* The two ring phases every ring-based plan is made of. */
#ifndef STRATA_RING_H
#define STRATA_RING_H

#include "algo.h"

/* Reduce-scatter around the ring over n elements split into P blocks (blk_off), each block
 * in nch pipelined chunks. At step s a rank sends block (r-s+k) and receives, reduces
 * block (r-s-1+k); it ends owning block (r+1+k) mod P.
 * in_buf: the input. Partial sums go to RECV at the block's offset when acc_buf == SB_RECV
 * (allreduce), else to scratch (reduce_scatter/reduce), the final one to
 * (final_buf, final_off) + chunk offset. Scratch starts at scratch_off; the function raises
 * p->scratch_bytes as needed. last_red[c]: the step that finishes chunk c of the final
 * block. sends[s*nch+c] (optional): the step that sends chunk c at step s. */
typedef struct ring_rs_spec {
  size_t n;
  int k, nch;
  uint32_t in_buf, acc_buf, final_buf;
  uint64_t final_off;
  uint64_t scratch_off;
  uint32_t tagbase;
} ring_rs_spec_t;
int ring_rs_phase(strata_plan_t *p, const strata_coll_args_t *a, const ring_rs_spec_t *sp,
                  int *last_red, int *sends);

/* Allgather around a ring of P positions; position v is real rank (v + rot) % P. At step s
 * position vr sends block (vr+1+k-s) and receives block (vr+k-s) into buf. Blocks are
 * blk_off(n, P, b) in buf. The first send (s = 0) comes from (first_buf, first_off) when
 * first_buf != SB_NONE. no_recv: this position already holds every block (a broadcast
 * root); no_send: its right neighbour needs nothing. */
typedef struct ring_ag_spec {
  size_t n;
  int vr, rot, k, nch;
  uint32_t buf, first_buf;
  uint64_t first_off;
  uint32_t tagbase;
  const int *first_dep; /* per chunk, for s = 0 sends; may be NULL */
  const int *recv_dep;  /* per s*nch+c; may be NULL */
  int no_send, no_recv;
} ring_ag_spec_t;
int ring_ag_phase(strata_plan_t *p, const strata_coll_args_t *a, const ring_ag_spec_t *sp);

#endif
