#include "halving.h"

int rh_phase(strata_plan_t *p, const strata_coll_args_t *a, const fold_t *f, int v,
             const rh_spec_t *sp, int *last, int *sends, int *nsends) {
  const size_t e = a->esize, n = sp->n;
  int lo = 0, hi = f->p2, prev = sp->dep0, ns = 0;
  uint32_t cur = sp->cur_buf;
  uint64_t cur_off = cur == sp->acc_buf ? sp->acc_off : 0;
  for (int mask = f->p2 / 2; mask >= 1; mask >>= 1) {
    int mid = lo + mask, pv = v ^ mask, peer = fold_owner(f, pv);
    int klo, khi, slo, shi;
    if (v & mask) { klo = mid; khi = hi; slo = lo; shi = mid; }
    else { klo = lo; khi = mid; slo = mid; shi = hi; }
    size_t ko = velem(f, n, klo), kc = velem(f, n, khi) - ko;
    size_t so = velem(f, n, slo), sc = velem(f, n, shi) - so;
    uint32_t tag = sp->tagbase + (uint32_t)__builtin_ctz((unsigned)mask);
    int s = plan_send(p, peer, tag, BREF(cur, cur_off + so * e), sc * e, prev, -1, -1);
    int rv = plan_recv(p, peer, tag, BREF(SB_SCRATCH, sp->tmp_off), kc * e, prev, -1, -1);
    prev = plan_reduce(p, BREF(sp->acc_buf, sp->acc_off + ko * e), BREF(cur, cur_off + ko * e),
                       BREF(SB_SCRATCH, sp->tmp_off), kc, rv, prev, -1);
    sends[ns++] = s;
    cur = sp->acc_buf;
    cur_off = sp->acc_off;
    lo = klo;
    hi = khi;
  }
  /* with p2 == 1 nothing was exchanged: the range is the input itself */
  if (ns == 0 && sp->cur_buf != sp->acc_buf) {
    size_t o = velem(f, n, v), c = velem(f, n, v + 1) - o;
    prev = plan_copy(p, BREF(sp->acc_buf, sp->acc_off + o * e), BREF(sp->cur_buf, o * e), c * e,
                     prev, -1, -1);
  }
  *last = prev;
  *nsends = ns;
  return p->failed ? -1 : 0;
}
