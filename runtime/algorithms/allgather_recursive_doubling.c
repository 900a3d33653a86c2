/* Recursive-doubling allgather: log2(P) exchanges of doubling size. Non-powers of two fold
 * the extra ranks in (each virtual rank's blocks stay contiguous). */
#include "algo.h"

enum { TAG_FOLD = 0, TAG_UNFOLD = 1, TAG_STEP = 2 };

int strata_algo_allgather_recursive_doubling(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t sc = a->count, e = a->esize, blk = sc * e;
  const strata_bref_t own_in = a->inplace ? BREF(SB_RECV, (uint64_t)r * blk) : BREF(SB_SEND, 0);
  fold_t f = fold_make(P);
  int v = fold_vrank(&f, r);
  if (v < 0) {
    plan_fold_sit_out(p, r, own_in, blk, BREF(SB_RECV, 0), blk * (size_t)P);
    return p->failed ? -1 : 0;
  }
  int ready[2] = {-1, -1}, nr = 0;
  if (!a->inplace)
    ready[nr++] = plan_copy(p, BREF(SB_RECV, (uint64_t)r * blk), BREF(SB_SEND, 0), blk, -1, -1, -1);
  if (r < 2 * f.extra)
    ready[nr++] = plan_recv(p, r - 1, TAG_FOLD, BREF(SB_RECV, (uint64_t)(r - 1) * blk), blk, -1, -1, -1);
  int prev_recv = ready[0], prev_send = ready[1];
  for (int mask = 1; mask < f.p2; mask <<= 1) {
    int pv = v ^ mask, peer = fold_owner(&f, pv);
    int base = v & ~(mask - 1), pbase = pv & ~(mask - 1);
    int mb = fold_first(&f, base), mb2 = fold_first(&f, base + mask);
    int pb = fold_first(&f, pbase), pb2 = fold_first(&f, pbase + mask);
    uint32_t tag = TAG_STEP + (uint32_t)__builtin_ctz((unsigned)mask);
    int s = plan_send(p, peer, tag, BREF(SB_RECV, (uint64_t)mb * blk), (size_t)(mb2 - mb) * blk,
                      prev_recv, prev_send, -1);
    prev_recv = plan_recv(p, peer, tag, BREF(SB_RECV, (uint64_t)pb * blk), (size_t)(pb2 - pb) * blk,
                          -1, -1, -1);
    prev_send = s;
  }
  if (r < 2 * f.extra)
    plan_send(p, r - 1, TAG_UNFOLD, BREF(SB_RECV, 0), blk * (size_t)P, prev_recv, prev_send, -1);
  return p->failed ? -1 : 0;
}
