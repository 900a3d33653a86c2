/* Building blocks of hierarchical plans: a rank's path through the levels (node, site,
 * top) and splicing a flat plan, built for a group of ranks, into a larger plan. */
#ifndef STRATA_HIER_H
#define STRATA_HIER_H

#include "algo.h"

/* My way through the levels. At level l my unit (node, then site) has nmem[l] members of
 * the current group, mem[l] (comm ranks, ascending), me at x[l]. Only the first k[l]
 * members of every unit take part in the level's exchanges; a member at x >= k is an
 * "extra": it hands its data to mem[x % k] and gets the result back. The group of the
 * next level is the members at the same index x of every unit. top: the last group,
 * at most one rank per site. */
typedef struct hier_path {
  int nlev;                      /* levels reached (an extra stops at its level) */
  int k[STRATA_HIER_LEVELS], x[STRATA_HIER_LEVELS], nmem[STRATA_HIER_LEVELS];
  int *mem[STRATA_HIER_LEVELS];
  int extra_at;                  /* level where I am an extra, or -1 */
  int ntop, xtop;
  int *top;
} hier_path_t;

int hier_path_make(hier_path_t *hp, const strata_hier_t *h, const int *kmax, int rank);
void hier_path_free(hier_path_t *hp);

/* A rooted tree through the levels: the root sends to (receives from) one leader per other
 * site, a site leader to one leader per other node of its site, a node leader to the other
 * ranks of its node. Leaders are the root where it is, else the lowest rank. */
typedef struct hier_tree {
  int parent;    /* -1 at the root */
  int nchild;
  int *child;    /* farthest first: other sites, other nodes, this node */
} hier_tree_t;
int hier_tree_make(hier_tree_t *t, const strata_hier_t *h, int root, int rank);
static inline void hier_tree_free(hier_tree_t *t) { free(t->child); t->child = NULL; }

/* Splice `sub` (a plan built for ranks 0..n-1 of a group) into p: peers through members[],
 * buffers renamed and shifted (bufmap/offadd per SB_*), tags raised by tagbase, its own
 * scratch appended to p's, and `start` added as a dependency of every step that had none.
 * Returns a step that completes once every spliced step has (start when sub is empty),
 * or -2 when p failed. */
typedef struct splice_map {
  const int *members;
  uint32_t bufmap[SB_NUM];
  uint64_t offadd[SB_NUM];
  uint32_t tagbase;
  int start;
} splice_map_t;
int hier_splice(strata_plan_t *p, const strata_plan_t *sub, const splice_map_t *m);

/* Tag space of one phase of a hierarchical plan (phases are numbered per pipeline chunk):
 * 2^16 tags a phase, at most 1024 phases, inside the 26 step-tag bits every transport keeps. */
#define HIER_TAG_BITS 16
#define HIER_MAX_OUTER 64
static inline uint32_t hier_tag(int chunk, int nphases, int phase) {
  return (uint32_t)(chunk * nphases + phase) << HIER_TAG_BITS;
}

/* Sub-plan arguments: the same call on a group of n ranks (me at x) over cnt elements. */
static inline strata_coll_args_t hier_sub_args(const strata_coll_args_t *a, strata_coll_t coll, int x, int n,
                                               size_t cnt, int inplace, int op) {
  strata_coll_args_t s = *a;
  s.coll = coll;
  s.rank = x;
  s.nranks = n;
  s.count = cnt;
  s.inplace = inplace;
  s.op = op;
  s.root = 0;
  s.hier = NULL;
  return s;
}

#endif
