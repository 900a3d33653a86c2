/* Hierarchical allreduce. Per pipeline chunk of the vector:
 *   node:  ring reduce-scatter among the node's ranks (shared memory) -> each holds a slice;
 *   site:  ring reduce-scatter of that slice among the same-slice ranks of the site's nodes;
 *   top:   allreduce of the smallest piece among one rank per site (the cost model's pick:
 *          direct, ring, recursive doubling or Rabenseifner), the only traffic across sites;
 *   then allgathers back down the site and the node.
 * Each site pushes 2(G-1)/G of the data across its cut, once. Units with more ranks than the
 * smallest fold their extra ranks in first (hand data to a partner, get the result back), so
 * uneven nodes and sites are correct. kmax 1 at a level turns it into reduce-to-leader and
 * broadcast-from-leader (fewer, larger messages: small vectors). Chunks are independent,
 * so the levels of different chunks overlap. */
#include <string.h>

#include "hier.h"
#include "ring.h"

enum { PH_FOLD0, PH_RS0, PH_FOLD1, PH_RS1, PH_TOP, PH_AG1, PH_UNFOLD1, PH_AG0, PH_UNFOLD0, PH_N };

static int splice_into(strata_plan_t *p, const strata_plan_t *sub, const int *members, uint32_t in_buf,
                       uint64_t off_bytes, uint32_t tag, int start) {
  splice_map_t m;
  memset(&m, 0, sizeof m);
  m.members = members;
  for (int b = 0; b < SB_NUM; b++) m.bufmap[b] = (uint32_t)b;
  m.bufmap[SB_SEND] = in_buf;
  m.offadd[SB_SEND] = off_bytes;
  m.offadd[SB_RECV] = off_bytes;
  m.tagbase = tag;
  m.start = start;
  return hier_splice(p, sub, &m);
}

/* ring reduce-scatter among k members over cnt elements at `off` of in_buf (partials and
 * the result in RECV); I end with block (x+1) % k. */
static int level_rs(strata_plan_t *p, const strata_coll_args_t *a, const int *mem, int x, int k, size_t off,
                    size_t cnt, uint32_t in_buf, uint32_t tag, int start) {
  strata_coll_args_t s = hier_sub_args(a, STRATA_COLL_ALLREDUCE, x, k, cnt, 0, 0);
  strata_plan_t sub;
  strata_plan_init(&sub, STRATA_COLL_ALLREDUCE, STRATA_ALGO_RING);
  int *last = ialloc((size_t)nchunks_for(blk_cnt(cnt, k, 0), a->esize, a->chunk_bytes), -1);
  if (!last) { p->failed = 1; return -2; }
  ring_rs_spec_t rs = {.n = cnt, .k = 0, .nch = nchunks_for(blk_cnt(cnt, k, 0), a->esize, a->chunk_bytes),
                       .in_buf = SB_SEND, .acc_buf = SB_RECV, .final_buf = SB_RECV,
                       .final_off = blk_off(cnt, k, (x + 1) % k) * a->esize, .scratch_off = 0, .tagbase = 0};
  if (ring_rs_phase(&sub, &s, &rs, last, NULL)) sub.failed = 1;
  free(last);
  int j = splice_into(p, &sub, mem, in_buf, off * a->esize, tag, start);
  strata_plan_free(&sub);
  return j;
}

/* ring allgather among k members of cnt elements at `off` of RECV; I hold block (x+1) % k */
static int level_ag(strata_plan_t *p, const strata_coll_args_t *a, const int *mem, int x, int k, size_t off,
                    size_t cnt, uint32_t tag, int start) {
  strata_coll_args_t s = hier_sub_args(a, STRATA_COLL_ALLREDUCE, x, k, cnt, 1, 0);
  strata_plan_t sub;
  strata_plan_init(&sub, STRATA_COLL_ALLREDUCE, STRATA_ALGO_RING);
  ring_ag_spec_t ag = {.n = cnt, .vr = x, .rot = 0, .k = 0,
                       .nch = nchunks_for(blk_cnt(cnt, k, 0), a->esize, a->chunk_bytes),
                       .buf = SB_RECV, .first_buf = SB_NONE, .tagbase = 0};
  if (ring_ag_phase(&sub, &s, &ag)) sub.failed = 1;
  int j = splice_into(p, &sub, mem, SB_RECV, off * a->esize, tag, start);
  strata_plan_free(&sub);
  return j;
}

/* the top level: a flat allreduce in place on RECV[off, cnt) among the top group */
static int top_allreduce(strata_plan_t *p, const strata_coll_args_t *a, const hier_path_t *hp, size_t off,
                         size_t cnt, uint32_t in, uint32_t tag, int start) {
  strata_coll_args_t s = hier_sub_args(a, STRATA_COLL_ALLREDUCE, hp->xtop, hp->ntop, cnt, in == SB_RECV, 0);
  s.op = a->op == STRATA_AVG ? STRATA_SUM : a->op; /* AVG: sum here, divide once at the end */
  strata_plan_t sub;
  strata_algo_t algo = (strata_algo_t)a->hc.top_algo;
  if (algo == STRATA_ALGO_AUTO || algo == STRATA_ALGO_HIERARCHICAL || algo == STRATA_ALGO_SHM)
    algo = STRATA_ALGO_RING;
  if (strata_plan_build(&sub, &s, algo)) { p->failed = 1; return -2; }
  int j = splice_into(p, &sub, hp->top, in, off * a->esize, tag, start);
  strata_plan_free(&sub);
  return j;
}

/* fold the extras of my unit at level l into me: RECV[off, cnt) = in + theirs */
static int fold_in(strata_plan_t *p, const strata_coll_args_t *a, const hier_path_t *hp, int l, size_t off,
                   size_t cnt, uint32_t *in_buf, uint32_t tag, int start) {
  const int k = hp->k[l], x = hp->x[l];
  const size_t e = a->esize;
  int last = start;
  uint64_t slot = (p->scratch_bytes + 63) & ~(uint64_t)63;
  int any = 0;
  for (int y = x + k; y < hp->nmem[l]; y += k) {
    if (!any) p->scratch_bytes = slot + cnt * e;
    int rv = plan_recv(p, hp->mem[l][y], tag, BREF(SB_SCRATCH, slot), cnt * e, last, -1, -1);
    last = plan_reduce(p, BREF(SB_RECV, off * e), BREF(*in_buf, off * e), BREF(SB_SCRATCH, slot), cnt, rv,
                       last, -1);
    *in_buf = SB_RECV;
    any = 1;
  }
  return last;
}

static int fold_out(strata_plan_t *p, const strata_coll_args_t *a, const hier_path_t *hp, int l, size_t off,
                    size_t cnt, uint32_t tag, int start) {
  const int k = hp->k[l], x = hp->x[l];
  int n = 0, s[64], last = start;
  for (int y = x + k; y < hp->nmem[l]; y += k) {
    s[n++] = plan_send(p, hp->mem[l][y], tag, BREF(SB_RECV, off * a->esize), cnt * a->esize, start, -1, -1);
    if (n == 64) { last = strata_plan_join(p, s, n); s[0] = last; n = 1; }
  }
  return n ? strata_plan_join(p, s, n) : last;
}

static int one_chunk(strata_plan_t *p, const strata_coll_args_t *a, const hier_path_t *hp, int ch, size_t off,
                     size_t cnt) {
  const size_t e = a->esize;
  uint32_t in = IN_BUF(a);
  size_t roff[STRATA_HIER_LEVELS + 1], rcnt[STRATA_HIER_LEVELS + 1];
  int cur = -1;
  roff[0] = off;
  rcnt[0] = cnt;
  const int L = hp->nlev;
  for (int l = 0; l < L; l++) {
    const int k = hp->k[l], x = hp->x[l];
    if (hp->extra_at == l) { /* hand my piece to my partner, take the result back */
      int partner = hp->mem[l][x % k];
      int s = plan_send(p, partner, hier_tag(ch, PH_N, l ? PH_FOLD1 : PH_FOLD0), BREF(in, roff[l] * e),
                        rcnt[l] * e, cur, -1, -1);
      cur = plan_recv(p, partner, hier_tag(ch, PH_N, l ? PH_UNFOLD1 : PH_UNFOLD0), BREF(SB_RECV, roff[l] * e),
                      rcnt[l] * e, s, cur, -1);
      break;
    }
    cur = fold_in(p, a, hp, l, roff[l], rcnt[l], &in, hier_tag(ch, PH_N, l ? PH_FOLD1 : PH_FOLD0), cur);
    if (k > 1) {
      cur = level_rs(p, a, hp->mem[l], x, k, roff[l], rcnt[l], in, hier_tag(ch, PH_N, l ? PH_RS1 : PH_RS0), cur);
      in = SB_RECV;
      int b = (x + 1) % k;
      roff[l + 1] = roff[l] + blk_off(rcnt[l], k, b);
      rcnt[l + 1] = blk_cnt(rcnt[l], k, b);
    } else {
      roff[l + 1] = roff[l];
      rcnt[l + 1] = rcnt[l];
    }
    if (l == L - 1) { /* the top */
      if (hp->ntop > 1)
        cur = top_allreduce(p, a, hp, roff[L], rcnt[L], in, hier_tag(ch, PH_N, PH_TOP), cur);
      else if (in != SB_RECV) /* nothing reduced here (one rank per unit, out of place) */
        cur = plan_copy(p, BREF(SB_RECV, roff[L] * e), BREF(in, roff[L] * e), rcnt[L] * e, cur, -1, -1);
      if (a->op == STRATA_AVG) cur = plan_avg(p, BREF(SB_RECV, roff[L] * e), rcnt[L], cur, -1, -1);
    }
  }
  /* back down */
  const int top = hp->extra_at >= 0 ? hp->extra_at - 1 : L - 1;
  for (int l = top; l >= 0; l--) {
    const int k = hp->k[l], x = hp->x[l];
    if (k > 1) cur = level_ag(p, a, hp->mem[l], x, k, roff[l], rcnt[l], hier_tag(ch, PH_N, l ? PH_AG1 : PH_AG0), cur);
    cur = fold_out(p, a, hp, l, roff[l], rcnt[l], hier_tag(ch, PH_N, l ? PH_UNFOLD1 : PH_UNFOLD0), cur);
  }
  return p->failed ? -1 : 0;
}

int strata_algo_allreduce_hierarchical(strata_plan_t *p, const strata_coll_args_t *a) {
  const size_t n = a->count;
  if (plan_single_rank(p, a, n * a->esize)) return p->failed ? -1 : 0;
  if (!a->hier) return -1;
  hier_path_t hp;
  if (hier_path_make(&hp, a->hier, a->hc.kmax, a->rank)) return -1;
  int C = a->hc.outer > 0 ? a->hc.outer : 1;
  if (C > HIER_MAX_OUTER) C = HIER_MAX_OUTER;
  if ((size_t)C > n) C = n ? (int)n : 1;
  for (int c = 0; c < C && !p->failed; c++) one_chunk(p, a, &hp, c, blk_off(n, C, c), blk_cnt(n, C, c));
  hier_path_free(&hp);
  return p->failed ? -1 : 0;
}
