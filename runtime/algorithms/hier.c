#include "hier.h"

#include <string.h>

void hier_path_free(hier_path_t *hp) {
  for (int l = 0; l < STRATA_HIER_LEVELS; l++) free(hp->mem[l]);
  free(hp->top);
  memset(hp, 0, sizeof *hp);
}

int hier_path_make(hier_path_t *hp, const strata_hier_t *h, const int *kmax, int rank) {
  const int P = h->nranks;
  memset(hp, 0, sizeof *hp);
  hp->extra_at = -1;
  int *group = ialloc((size_t)P, 0), *next = ialloc((size_t)P, 0), *idx = ialloc((size_t)P, 0);
  int maxu = 1;
  for (int l = 0; l < STRATA_HIER_LEVELS; l++) maxu = h->nunits[l] > maxu ? h->nunits[l] : maxu;
  int *cnt = ialloc((size_t)maxu, 0);
  if (!group || !next || !idx || !cnt) goto fail;
  int ng = P;
  for (int r = 0; r < P; r++) group[r] = r;
  for (int l = 0; l < STRATA_HIER_LEVELS; l++) {
    const int *unit = h->unit[l];
    for (int u = 0; u < h->nunits[l]; u++) cnt[u] = 0;
    for (int i = 0; i < ng; i++) idx[i] = cnt[unit[group[i]]]++; /* index within its unit */
    int k = P;
    for (int u = 0; u < h->nunits[l]; u++)
      if (cnt[u] && cnt[u] < k) k = cnt[u];
    if (kmax && kmax[l] > 0 && kmax[l] < k) k = kmax[l];
    const int mu = unit[rank];
    hp->mem[l] = ialloc((size_t)cnt[mu], -1);
    if (!hp->mem[l]) goto fail;
    int x = -1;
    for (int i = 0, j = 0; i < ng; i++)
      if (unit[group[i]] == mu) {
        if (group[i] == rank) x = j;
        hp->mem[l][j++] = group[i];
      }
    hp->k[l] = k;
    hp->x[l] = x;
    hp->nmem[l] = cnt[mu];
    hp->nlev = l + 1;
    if (x >= k) { hp->extra_at = l; break; }
    int nn = 0;
    for (int i = 0; i < ng; i++)
      if (idx[i] == x) next[nn++] = group[i];
    memcpy(group, next, (size_t)nn * sizeof *group);
    ng = nn;
  }
  if (hp->extra_at < 0) {
    hp->top = ialloc((size_t)ng, -1);
    if (!hp->top) goto fail;
    memcpy(hp->top, group, (size_t)ng * sizeof *group);
    hp->ntop = ng;
    for (int i = 0; i < ng; i++)
      if (group[i] == rank) hp->xtop = i;
  }
  free(group); free(next); free(idx); free(cnt);
  return 0;
fail:
  free(group); free(next); free(idx); free(cnt);
  hier_path_free(hp);
  return -1;
}

int hier_splice(strata_plan_t *p, const strata_plan_t *sub, const splice_map_t *m) {
  if (p->failed || sub->failed) { p->failed = 1; return -2; }
  if (sub->nsteps == 0) return m->start;
  const int base = p->nsteps;
  const uint64_t sbase = (p->scratch_bytes + 63) & ~(uint64_t)63;
  if (sub->scratch_bytes) p->scratch_bytes = sbase + sub->scratch_bytes;
  char *used = calloc((size_t)sub->nsteps, 1);
  int *sinks = ialloc((size_t)sub->nsteps, -1);
  if (!used || !sinks) { free(used); free(sinks); p->failed = 1; return -2; }
  for (int i = 0; i < sub->nsteps; i++) {
    strata_step_t s = sub->steps[i];
    if (s.kind == SK_SEND || s.kind == SK_RECV) {
      if (s.tag >= (1u << HIER_TAG_BITS)) { /* would collide with the next phase's tags */
        free(used); free(sinks); p->failed = 1; return -2;
      }
      s.peer = m->members[s.peer];
      s.tag += m->tagbase;
    }
    strata_bref_t *b[3] = {&s.dst, &s.src, &s.src2};
    for (int j = 0; j < 3; j++) {
      uint32_t ob = b[j]->buf;
      if (ob == SB_NONE || ob >= SB_NUM) continue;
      if (ob == SB_SCRATCH) { b[j]->off += sbase; continue; }
      b[j]->buf = m->bufmap[ob];
      b[j]->off += m->offadd[ob];
    }
    int any = 0;
    for (int j = 0; j < STRATA_MAX_DEPS; j++)
      if (s.dep[j] >= 0) { used[s.dep[j]] = 1; s.dep[j] += base; any = 1; }
    /* a fence (SF_FENCE) stays one: it waits for every earlier step of the whole plan,
     * which is later than it needs but correct */
    if (!any && m->start >= 0) s.dep[0] = m->start;
    if (strata_plan_add(p, &s) < 0) { free(used); free(sinks); return -2; }
  }
  int n = 0;
  for (int i = 0; i < sub->nsteps; i++)
    if (!used[i]) sinks[n++] = base + i;
  int j = strata_plan_join(p, sinks, n);
  free(used);
  free(sinks);
  return p->failed ? -2 : j;
}

int hier_tree_make(hier_tree_t *t, const strata_hier_t *h, int root, int rank) {
  const int P = h->nranks;
  const int *node = h->unit[0], *site = h->unit[1];
  int *nl = ialloc((size_t)h->nunits[0], -1), *sl = ialloc((size_t)h->nunits[1], -1);
  t->child = ialloc((size_t)P, -1);
  t->nchild = 0;
  t->parent = -1;
  if (!nl || !sl || !t->child) { free(nl); free(sl); free(t->child); t->child = NULL; return -1; }
  nl[node[root]] = root;
  sl[site[root]] = root;
  for (int q = 0; q < P; q++) {
    if (sl[site[q]] < 0) sl[site[q]] = q;
    if (nl[node[q]] < 0) nl[node[q]] = q;
  }
  /* a site leader leads its node too */
  for (int s = 0; s < h->nunits[1]; s++) nl[node[sl[s]]] = sl[s];
  const int me_sl = sl[site[rank]] == rank, me_nl = nl[node[rank]] == rank;
  if (rank != root) t->parent = me_sl ? root : me_nl ? sl[site[rank]] : nl[node[rank]];
  if (rank == root)
    for (int s = 0; s < h->nunits[1]; s++)
      if (s != site[rank]) t->child[t->nchild++] = sl[s];
  if (me_sl)
    for (int u = 0; u < h->nunits[0]; u++)
      if (nl[u] >= 0 && u != node[rank] && site[nl[u]] == site[rank]) t->child[t->nchild++] = nl[u];
  if (me_nl)
    for (int q = 0; q < P; q++)
      if (q != rank && node[q] == node[rank]) t->child[t->nchild++] = q;
  free(nl);
  free(sl);
  return 0;
}
