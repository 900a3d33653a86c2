/* Broadcast for large messages (van de Geijn): the root scatters one block to each rank,
 * then a ring allgather. The root's links carry (P-1)/P of the data once instead of log P. */
#include "ring.h"

int strata_algo_broadcast_scatter_allgather(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank, root = a->root;
  const size_t n = a->count, e = a->esize;
  const int vr = mod(r - root, P);
  if (plan_single_rank(p, a, n * e)) return p->failed ? -1 : 0;
  int nch = nchunks_for(blk_cnt(n, P, 0), e, a->chunk_bytes);
  /* blocks are numbered by virtual rank: block j belongs to real rank (j + root) mod P */
  int *first = ialloc((size_t)nch, -1);
  if (!first) return -1;
  if (vr == 0) {
    if (!a->inplace) plan_copy(p, BREF(SB_RECV, 0), BREF(SB_SEND, 0), n * e, -1, -1, -1);
    for (int j = 1; j < P; j++)
      plan_send(p, mod(j + root, P), 0, BREF(IN_BUF(a), blk_off(n, P, j) * e), blk_cnt(n, P, j) * e,
                -1, -1, -1);
  } else {
    int got = plan_recv(p, root, 0, BREF(SB_RECV, blk_off(n, P, vr) * e), blk_cnt(n, P, vr) * e,
                        -1, -1, -1);
    for (int c = 0; c < nch; c++) first[c] = got;
  }
  /* the root already holds every block and its left neighbour need not feed it */
  ring_ag_spec_t ag = {.n = n, .vr = vr, .rot = root, .k = -1, .nch = nch,
                       .buf = vr == 0 ? IN_BUF(a) : SB_RECV, .first_buf = SB_NONE,
                       .tagbase = 1, .first_dep = first, .no_recv = vr == 0,
                       .no_send = vr == P - 1};
  int rc = ring_ag_phase(p, a, &ag);
  free(first);
  return rc || p->failed ? -1 : 0;
}
