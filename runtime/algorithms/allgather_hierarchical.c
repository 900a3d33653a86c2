/* Hierarchical allgather: each site's data crosses to every other site once.
 *   A. inside the site, every rank sends its block to every other member;
 *   B. member x (x < k, k = the smallest site's size) sends the blocks of its site's x-th
 *      share of members to member x of every other site;
 *   C. each member x spreads the foreign blocks it received to its site's other members.
 * Blocks travel in pieces of the pipeline chunk, each piece moving on to the next phase as
 * soon as it arrived (a site forwards while the WAN still delivers).
 * Sites of any sizes work: shares are whole members' blocks, split k ways. */
#include "hier.h"

enum { TAG_A = 0, TAG_B = 1, TAG_C = 2 };
/* block `owner`, piece c of nch */
#define BTAG(ph, owner, c) (((uint32_t)(ph) << HIER_TAG_BITS) | (uint32_t)((owner) * nch + (c)))

int strata_algo_allgather_hierarchical(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t m = a->count, e = a->esize, mb = m * e;
  if (plan_single_rank(p, a, mb * (size_t)P)) return p->failed ? -1 : 0;
  if (!a->hier || P >= (1 << HIER_TAG_BITS)) return -1;
  const int *site = a->hier->unit[1], G = a->hier->nunits[1];
  int nch = nchunks_for(m, e, a->chunk_bytes);
  if ((long)nch * P >= (1L << HIER_TAG_BITS)) nch = (int)(((1L << HIER_TAG_BITS) - 1) / P);
  if ((size_t)nch > m) nch = m ? (int)m : 1;
  if (nch < 1) nch = 1;
  int *cnt = ialloc((size_t)G, 0), *idx = ialloc((size_t)P, 0), *mem = ialloc((size_t)P, -1);
  int *start = ialloc((size_t)G + 1, 0), *got = ialloc((size_t)P * (size_t)nch, -1); /* per block piece */
  if (!cnt || !idx || !mem || !got || !start) goto fail;
  for (int q = 0; q < P; q++) idx[q] = cnt[site[q]]++;
  int k = P;
  for (int s = 0; s < G; s++) {
    start[s + 1] = start[s] + cnt[s];
    if (cnt[s] && cnt[s] < k) k = cnt[s];
  }
  for (int q = 0; q < P; q++) mem[start[site[q]] + idx[q]] = q;
  const int ms = site[r], x = idx[r], ns = cnt[ms];
  /* piece c of block q: offset and bytes */
#define PO(q, c) ((size_t)(q) * mb + blk_off(m, nch, (c)) * e)
#define PB(c) (blk_cnt(m, nch, (c)) * e)
  const uint32_t mybuf = a->inplace ? SB_RECV : SB_SEND;
  const size_t mybase = a->inplace ? (size_t)r * mb : 0;
  for (int c = 0; c < nch; c++) {
    if (!a->inplace)
      got[r * nch + c] = plan_copy(p, BREF(SB_RECV, PO(r, c)), BREF(SB_SEND, blk_off(m, nch, c) * e), PB(c), -1, -1, -1);
    /* A: my block to my site; theirs to me */
    for (int j = 0; j < ns; j++) {
      int q = mem[start[ms] + j];
      if (q == r) continue;
      got[q * nch + c] = plan_recv(p, q, BTAG(TAG_A, q, c), BREF(SB_RECV, PO(q, c)), PB(c), -1, -1, -1);
      plan_send(p, q, BTAG(TAG_A, r, c), BREF(mybuf, mybase + blk_off(m, nch, c) * e), PB(c), -1, -1, -1);
    }
  }
  /* B: my share of my site's blocks to member x of each other site, theirs to me */
  if (x < k)
    for (int c = 0; c < nch; c++)
      for (int t = 0; t < G; t++) {
        if (t == ms || !cnt[t]) continue;
        int peer = mem[start[t] + x];
        size_t o = blk_off((size_t)cnt[t], k, x), n = blk_cnt((size_t)cnt[t], k, x);
        for (size_t j = o; j < o + n; j++) {
          int q = mem[start[t] + (int)j];
          got[q * nch + c] = plan_recv(p, peer, BTAG(TAG_B, q, c), BREF(SB_RECV, PO(q, c)), PB(c), -1, -1, -1);
        }
        o = blk_off((size_t)ns, k, x);
        n = blk_cnt((size_t)ns, k, x);
        for (size_t j = o; j < o + n; j++) {
          int q = mem[start[ms] + (int)j];
          plan_send(p, peer, BTAG(TAG_B, q, c), BREF(SB_RECV, PO(q, c)), PB(c), got[q * nch + c], -1, -1);
        }
      }
  /* C: foreign pieces from the member that fetched them; mine to the others */
  for (int c = 0; c < nch; c++)
    for (int t = 0; t < G; t++) {
      if (t == ms || !cnt[t]) continue;
      for (int y = 0; y < k; y++) {
        size_t o = blk_off((size_t)cnt[t], k, y), n = blk_cnt((size_t)cnt[t], k, y);
        int holder = mem[start[ms] + y];
        for (size_t j = o; j < o + n; j++) {
          int q = mem[start[t] + (int)j];
          if (holder == r) {
            for (int i = 0; i < ns; i++) {
              int d = mem[start[ms] + i];
              if (d != r) plan_send(p, d, BTAG(TAG_C, q, c), BREF(SB_RECV, PO(q, c)), PB(c), got[q * nch + c], -1, -1);
            }
          } else {
            plan_recv(p, holder, BTAG(TAG_C, q, c), BREF(SB_RECV, PO(q, c)), PB(c), -1, -1, -1);
          }
        }
      }
    }
#undef PO
#undef PB
  free(cnt); free(idx); free(mem); free(got); free(start);
  return p->failed ? -1 : 0;
fail:
  free(cnt); free(idx); free(mem); free(got); free(start);
  return -1;
}
