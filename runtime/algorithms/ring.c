#include "ring.h"

#define RING_RECV_SLOTS 4

int ring_rs_phase(strata_plan_t *p, const strata_coll_args_t *a, const ring_rs_spec_t *sp,
                  int *last_red, int *sends) {
  const int P = a->nranks, r = a->rank, nch = sp->nch;
  const size_t e = a->esize, n = sp->n;
  const int right = mod(r + 1, P), left = mod(r - 1, P);
  const size_t cap = blk_cnt(blk_cnt(n, P, 0), nch, 0); /* elements per chunk slot */
  /* a few receive slots, reused round-robin, so incoming chunks land in cache */
  const int K = nch < RING_RECV_SLOTS ? nch : RING_RECV_SLOTS;
  const uint64_t rslot = sp->scratch_off;
  const uint64_t aslot = rslot + (uint64_t)K * cap * e; /* 2 x nch partial-sum slots */
  size_t need = aslot + (sp->acc_buf == SB_RECV ? 0 : 2 * (size_t)nch * cap * e);
  if (need > p->scratch_bytes) p->scratch_bytes = need;
  int *prev_send = ialloc((size_t)nch, -1), *reader = ialloc((size_t)K, -1);
  if (!prev_send || !reader) { free(prev_send); free(reader); return -1; }
  for (int c = 0; c < nch; c++) last_red[c] = -1;

  for (int s = 0; s <= P - 2; s++) {
    int sb = mod(r - s + sp->k, P), rb = mod(r - s - 1 + sp->k, P);
    size_t sbc = blk_cnt(n, P, sb), rbc = blk_cnt(n, P, rb);
    int last = s == P - 2;
    for (int c = 0; c < nch; c++) {
      size_t so = blk_off(n, P, sb) + blk_off(sbc, nch, c), sc = blk_cnt(sbc, nch, c);
      size_t ro = blk_off(n, P, rb) + blk_off(rbc, nch, c), rc = blk_cnt(rbc, nch, c);
      uint32_t tag = sp->tagbase + (uint32_t)(s * nch + c);
      strata_bref_t src;
      if (s == 0) src = BREF(sp->in_buf, so * e);
      else if (sp->acc_buf == SB_RECV) src = BREF(SB_RECV, so * e);
      else src = BREF(SB_SCRATCH, aslot + ((uint64_t)((s - 1) % 2) * nch + c) * cap * e);
      int si = plan_send(p, right, tag, src, sc * e, s ? last_red[c] : -1, -1, -1);
      /* the slot is free once the reduce that last read it is done */
      uint64_t slot = rslot + (uint64_t)(c % K) * cap * e;
      int ri = plan_recv(p, left, tag, BREF(SB_SCRATCH, slot), rc * e, reader[c % K], -1, -1);
      strata_bref_t dst;
      if (last) dst = BREF(sp->final_buf, sp->final_off + blk_off(rbc, nch, c) * e);
      else if (sp->acc_buf == SB_RECV) dst = BREF(SB_RECV, ro * e);
      else dst = BREF(SB_SCRATCH, aslot + ((uint64_t)(s % 2) * nch + c) * cap * e);
      /* a scratch partial-sum slot is free once the send of step s-1 that read it is done */
      int red = plan_reduce(p, dst, BREF(sp->in_buf, ro * e), BREF(SB_SCRATCH, slot), rc, ri,
                            sp->acc_buf == SB_RECV ? -1 : prev_send[c], last_red[c]);
      last_red[c] = red;
      reader[c % K] = red;
      prev_send[c] = si;
      if (sends) sends[s * nch + c] = si;
    }
  }
  free(prev_send);
  free(reader);
  return p->failed ? -1 : 0;
}

int ring_ag_phase(strata_plan_t *p, const strata_coll_args_t *a, const ring_ag_spec_t *sp) {
  const int P = a->nranks, nch = sp->nch, vr = sp->vr;
  const size_t e = a->esize, n = sp->n;
  const int right = mod(vr + 1 + sp->rot, P), left = mod(vr - 1 + sp->rot, P);
  int *prev_recv = ialloc((size_t)nch, -1);
  if (!prev_recv) return -1;
  for (int s = 0; s <= P - 2; s++) {
    int sb = mod(vr + 1 + sp->k - s, P), rb = mod(vr + sp->k - s, P);
    size_t sbc = blk_cnt(n, P, sb), rbc = blk_cnt(n, P, rb);
    for (int c = 0; c < nch; c++) {
      uint32_t tag = sp->tagbase + (uint32_t)(s * nch + c);
      if (!sp->no_send) {
        size_t so = blk_off(n, P, sb) + blk_off(sbc, nch, c), sc = blk_cnt(sbc, nch, c);
        strata_bref_t src = BREF(sp->buf, so * e);
        if (s == 0 && sp->first_buf != SB_NONE)
          src = BREF(sp->first_buf, sp->first_off + blk_off(sbc, nch, c) * e);
        int dep = s == 0 ? (sp->first_dep ? sp->first_dep[c] : -1) : prev_recv[c];
        if (sp->no_recv) dep = sp->first_dep ? sp->first_dep[c] : -1;
        plan_send(p, right, tag, src, sc * e, dep, -1, -1);
      }
      if (!sp->no_recv) {
        size_t ro = blk_off(n, P, rb) + blk_off(rbc, nch, c), rc = blk_cnt(rbc, nch, c);
        prev_recv[c] = plan_recv(p, left, tag, BREF(sp->buf, ro * e), rc * e,
                                 sp->recv_dep ? sp->recv_dep[s * nch + c] : -1, -1, -1);
      }
    }
  }
  free(prev_recv);
  return p->failed ? -1 : 0;
}
