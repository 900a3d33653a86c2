/* Hierarchical reduce-scatter: each site sends the other sites only its partial sums of
 * their blocks, once.
 *   1. inside a site, block b (rank b's result) is collected by one member, c_s(b) =
 *      member b mod n_s: every member sends it its piece of block b, it reduces them;
 *   2. the collector sends that site partial to rank b (across sites when b is elsewhere);
 *   3. rank b reduces the G site partials into its receive buffer.
 * Sites of any size work. The input is the whole send buffer (in place the receive
 * buffer lies inside it at block r, written only by the final reduce). */
#include "hier.h"

#define TAG1(b) ((uint32_t)(b))
#define TAG2(b) ((1u << HIER_TAG_BITS) | (uint32_t)(b))

int strata_algo_reduce_scatter_hierarchical(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t m = a->count, e = a->esize, mb = m * e;
  if (plan_single_rank(p, a, mb)) return p->failed ? -1 : 0;
  if (!a->hier || P >= (1 << HIER_TAG_BITS)) return -1;
  const int *site = a->hier->unit[1], G = a->hier->nunits[1];
  int *cnt = ialloc((size_t)G, 0), *idx = ialloc((size_t)P, 0), *mem = ialloc((size_t)P, -1);
  int *start = ialloc((size_t)G + 1, 0), *reads = ialloc((size_t)P + 2, -1);
  if (!cnt || !idx || !mem || !start || !reads) goto fail;
  for (int q = 0; q < P; q++) idx[q] = cnt[site[q]]++;
  for (int s = 0; s < G; s++) start[s + 1] = start[s] + cnt[s];
  for (int q = 0; q < P; q++) mem[start[site[q]] + idx[q]] = q;
  const int ms = site[r], ns = cnt[ms];
  int nreads = 0;
  /* scratch: per collected block a partial and ns-1 receive slots; G slots for my result */
  uint64_t sc = 0;
  const uint64_t mine_slots = sc;
  sc += (uint64_t)G * mb;
  int my_partial_step = -1;
  uint64_t my_partial_off = 0;
  uint32_t my_partial_buf = SB_NONE;
  /* 1 + 2 */
  for (int b = 0; b < P; b++) {
    int col = mem[start[ms] + b % ns];
    if (col != r) {
      reads[nreads++] = plan_send(p, col, TAG1(b), BREF(SB_SEND, (size_t)b * mb), mb, -1, -1, -1);
      continue;
    }
    /* I collect block b for my site */
    uint32_t pbuf = SB_SEND;
    uint64_t poff = (size_t)b * mb;
    int acc = -1;
    if (ns > 1) {
      uint64_t part = sc;
      sc += mb;
      for (int j = 0; j < ns; j++) {
        int q = mem[start[ms] + j];
        if (q == r) continue;
        uint64_t slot = sc;
        sc += mb;
        int rv = plan_recv(p, q, TAG1(b), BREF(SB_SCRATCH, slot), mb, -1, -1, -1);
        acc = plan_reduce(p, BREF(SB_SCRATCH, part), BREF(acc < 0 ? SB_SEND : SB_SCRATCH, acc < 0 ? (size_t)b * mb : part),
                          BREF(SB_SCRATCH, slot), m, rv, acc, -1);
      }
      pbuf = SB_SCRATCH;
      poff = part;
    }
    if (b == r) {
      my_partial_step = acc;
      my_partial_buf = pbuf;
      my_partial_off = poff;
      if (acc >= 0 || ns == 1) reads[nreads++] = acc; /* it read SEND block r */
    } else {
      plan_send(p, b, TAG2(b), BREF(pbuf, poff), mb, acc, -1, -1);
    }
  }
  /* 3: my block's partials: my own site's (local or from its collector), then each other site's */
  int parts = 0, cur = -1;
  const uint64_t acc_off = sc; /* running sum in its own slot: inputs stay intact */
  sc += mb;
  uint32_t cbuf = SB_NONE;
  uint64_t coff = 0;
  for (int t = 0; t < G; t++) {
    if (!cnt[t]) continue;
    int col = mem[start[t] + r % cnt[t]];
    uint32_t pb;
    uint64_t po;
    int dep;
    if (col == r) { pb = my_partial_buf; po = my_partial_off; dep = my_partial_step; }
    else {
      po = mine_slots + (uint64_t)t * mb;
      pb = SB_SCRATCH;
      dep = plan_recv(p, col, TAG2(r), BREF(SB_SCRATCH, po), mb, -1, -1, -1);
    }
    if (!parts) { cbuf = pb; coff = po; cur = dep; }
    else {
      cur = plan_reduce(p, BREF(SB_SCRATCH, acc_off), BREF(cbuf, coff), BREF(pb, po), m, cur, dep, -1);
      cbuf = SB_SCRATCH;
      coff = acc_off;
    }
    parts++;
  }
  /* the result goes to RECV only after every read of SEND block r (in place they alias) */
  int rd = strata_plan_join(p, reads, nreads);
  cur = plan_copy(p, BREF(SB_RECV, 0), BREF(cbuf, coff), mb, cur, rd, -1);
  if (a->op == STRATA_AVG) plan_avg(p, BREF(SB_RECV, 0), m, cur, -1, -1);
  p->scratch_bytes = sc;
  free(cnt); free(idx); free(mem); free(start); free(reads);
  return p->failed ? -1 : 0;
fail:
  free(cnt); free(idx); free(mem); free(start); free(reads);
  return -1;
}
