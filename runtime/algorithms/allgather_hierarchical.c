/* Hierarchical allgather: each site's data crosses to every other site once, and each
 * block crosses each host NIC of a site at most once.
 *   A. inside the site, every block goes from its owner to one relay on each other host of
 *      the site (the rank with the same local index) and to the owner's own host; relays
 *      pass it on to their host's other ranks (shared memory);
 *   B. member x (x < k, k = the smallest site's size) sends the blocks of its site's x-th
 *      share of members to member x of every other site;
 *   C. each member x spreads the foreign blocks it received through its site the way A does.
 * Blocks travel in pieces of the pipeline chunk, each piece moving on as soon as it arrived
 * (a site forwards while the WAN still delivers). Sites and hosts of any sizes work. */
#include "hier.h"

enum { TAG_A = 0, TAG_B = 1, TAG_C = 2 };
/* block `owner`, piece c of nch */
#define BTAG(ph, owner, c) (((uint32_t)(ph) << HIER_TAG_BITS) | (uint32_t)((owner) * nch + (c)))

typedef struct ag_ctx {
  strata_plan_t *p;
  int r, nch;
  size_t m, e, mb;
  const int *node, *lidx, *nsz, *nstart, *byhost; /* ranks of host u: byhost[nstart[u] + i] */
  const int *sitehosts;                          /* hosts of my site */
  int nsitehosts;
  int *got;
} ag_ctx_t;

/* the rank on host u that relays what holder h sends to u */
static int relay_of(const ag_ctx_t *g, int u, int h) { return g->byhost[g->nstart[u] + g->lidx[h] % g->nsz[u]]; }

/* piece c of block q, held (or about to be held, after step `dep`) by h, to every rank of
 * my site through one relay per host */
static void site_spread(ag_ctx_t *g, int ph, int q, int c, int h, int dep) {
  strata_plan_t *p = g->p;
  const int r = g->r, nch = g->nch, me_host = g->node[r], h_host = g->node[h];
  const size_t off = (size_t)q * g->mb + blk_off(g->m, nch, c) * g->e, len = blk_cnt(g->m, nch, c) * g->e;
  const uint32_t tag = BTAG(ph, q, c);
  if (r == h) {
    for (int i = 0; i < g->nsz[me_host]; i++) {
      int d = g->byhost[g->nstart[me_host] + i];
      if (d != r) plan_send(p, d, tag, BREF(SB_RECV, off), len, dep, -1, -1);
    }
    for (int j = 0; j < g->nsitehosts; j++) {
      int u = g->sitehosts[j];
      if (u != me_host) plan_send(p, relay_of(g, u, h), tag, BREF(SB_RECV, off), len, dep, -1, -1);
    }
    return;
  }
  if (me_host == h_host) { g->got[q * nch + c] = plan_recv(p, h, tag, BREF(SB_RECV, off), len, -1, -1, -1); return; }
  int rel = relay_of(g, me_host, h);
  if (rel != r) { g->got[q * nch + c] = plan_recv(p, rel, tag, BREF(SB_RECV, off), len, -1, -1, -1); return; }
  int rv = plan_recv(p, h, tag, BREF(SB_RECV, off), len, -1, -1, -1);
  g->got[q * nch + c] = rv;
  for (int i = 0; i < g->nsz[me_host]; i++) {
    int d = g->byhost[g->nstart[me_host] + i];
    if (d != r) plan_send(p, d, tag, BREF(SB_RECV, off), len, rv, -1, -1);
  }
}

int strata_algo_allgather_hierarchical(strata_plan_t *p, const strata_coll_args_t *a) {
  const int P = a->nranks, r = a->rank;
  const size_t m = a->count, e = a->esize, mb = m * e;
  if (plan_single_rank(p, a, mb * (size_t)P)) return p->failed ? -1 : 0;
  if (!a->hier || P >= (1 << HIER_TAG_BITS)) return -1;
  const int *site = a->hier->unit[1], *node = a->hier->unit[0];
  const int G = a->hier->nunits[1], H = a->hier->nunits[0];
  int nch = nchunks_for(m, e, a->chunk_bytes);
  if ((long)nch * P >= (1L << HIER_TAG_BITS)) nch = (int)(((1L << HIER_TAG_BITS) - 1) / P);
  if ((size_t)nch > m) nch = m ? (int)m : 1;
  if (nch < 1) nch = 1;
  int *cnt = ialloc((size_t)G, 0), *idx = ialloc((size_t)P, 0), *mem = ialloc((size_t)P, -1);
  int *start = ialloc((size_t)G + 1, 0), *got = ialloc((size_t)P * (size_t)nch, -1); /* per block piece */
  int *lidx = ialloc((size_t)P, 0), *nsz = ialloc((size_t)H, 0), *nstart = ialloc((size_t)H + 1, 0);
  int *byhost = ialloc((size_t)P, -1), *sitehosts = ialloc((size_t)H, -1), *fill = ialloc((size_t)H, 0);
  if (!cnt || !idx || !mem || !got || !start || !lidx || !nsz || !nstart || !byhost || !sitehosts || !fill) goto fail;
  for (int q = 0; q < P; q++) {
    idx[q] = cnt[site[q]]++;
    lidx[q] = nsz[node[q]]++;
  }
  int k = P;
  for (int s = 0; s < G; s++) {
    start[s + 1] = start[s] + cnt[s];
    if (cnt[s] && cnt[s] < k) k = cnt[s];
  }
  for (int u = 0; u < H; u++) nstart[u + 1] = nstart[u] + nsz[u];
  for (int q = 0; q < P; q++) {
    mem[start[site[q]] + idx[q]] = q;
    byhost[nstart[node[q]] + fill[node[q]]++] = q;
  }
  const int ms = site[r], x = idx[r], ns = cnt[ms];
  int nsh = 0;
  for (int u = 0; u < H; u++)
    if (nsz[u] && site[byhost[nstart[u]]] == ms) sitehosts[nsh++] = u;
  ag_ctx_t g = {p, r, nch, m, e, mb, node, lidx, nsz, nstart, byhost, sitehosts, nsh, got};
#define PO(q, c) ((size_t)(q) * mb + blk_off(m, nch, (c)) * e)
#define PB(c) (blk_cnt(m, nch, (c)) * e)
  /* my block into RECV (out of place); A for every block of my site */
  for (int c = 0; c < nch; c++) {
    int dep = -1;
    if (!a->inplace)
      dep = got[r * nch + c] = plan_copy(p, BREF(SB_RECV, PO(r, c)), BREF(SB_SEND, blk_off(m, nch, c) * e), PB(c), -1, -1, -1);
    for (int j = 0; j < ns; j++) {
      int q = mem[start[ms] + j];
      site_spread(&g, TAG_A, q, c, q, q == r ? dep : -1);
    }
  }
  /* B: my share of my site's blocks to member x of each other site, theirs to me */
  int *fromB = ialloc((size_t)P * (size_t)nch, -1);
  if (!fromB) goto fail;
  if (x < k)
    for (int c = 0; c < nch; c++)
      for (int t = 0; t < G; t++) {
        if (t == ms || !cnt[t]) continue;
        int peer = mem[start[t] + x];
        size_t o = blk_off((size_t)cnt[t], k, x), n = blk_cnt((size_t)cnt[t], k, x);
        for (size_t j = o; j < o + n; j++) {
          int q = mem[start[t] + (int)j];
          fromB[q * nch + c] = plan_recv(p, peer, BTAG(TAG_B, q, c), BREF(SB_RECV, PO(q, c)), PB(c), -1, -1, -1);
        }
        o = blk_off((size_t)ns, k, x);
        n = blk_cnt((size_t)ns, k, x);
        for (size_t j = o; j < o + n; j++) {
          int q = mem[start[ms] + (int)j];
          plan_send(p, peer, BTAG(TAG_B, q, c), BREF(SB_RECV, PO(q, c)), PB(c), got[q * nch + c], -1, -1);
        }
      }
  /* C: foreign pieces from the member that fetched them, through the site like A */
  for (int c = 0; c < nch; c++)
    for (int t = 0; t < G; t++) {
      if (t == ms || !cnt[t]) continue;
      for (int y = 0; y < k; y++) {
        size_t o = blk_off((size_t)cnt[t], k, y), n = blk_cnt((size_t)cnt[t], k, y);
        int holder = mem[start[ms] + y];
        for (size_t j = o; j < o + n; j++) {
          int q = mem[start[t] + (int)j];
          site_spread(&g, TAG_C, q, c, holder, holder == r ? fromB[q * nch + c] : -1);
        }
      }
    }
#undef PO
#undef PB
  free(fromB);
  free(cnt); free(idx); free(mem); free(got); free(start); free(lidx); free(nsz); free(nstart); free(byhost);
  free(sitehosts); free(fill);
  return p->failed ? -1 : 0;
fail:
  free(cnt); free(idx); free(mem); free(got); free(start); free(lidx); free(nsz); free(nstart); free(byhost);
  free(sitehosts); free(fill);
  return -1;
}
