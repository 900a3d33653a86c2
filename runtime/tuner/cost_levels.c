/* The cost model's view of a communicator that spans hosts and sites (docs/TUNING.md,
 * "Levels"). A flat algorithm is a sequence of rounds; a round costs the alpha of the
 * slowest level any pair crosses plus its bytes times the worst of: the node pair's
 * per-byte time, the busiest host NIC's share, the busiest site uplink's share. A
 * hierarchical plan is costed phase by phase with each level's figures; its pipeline chunks
 * overlap the phases, so beyond the slowest phase only 1/C of the others shows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../algorithms/algo.h"
#include "tuner.h"

#define NA 1e30

static int lvl_of(const strata_hier_t *h, int a, int b) {
  if (h->unit[1][a] != h->unit[1][b]) return 2;
  return h->unit[0][a] != h->unit[0][b] ? 1 : 0;
}

/* every rank r sends one message to to(r) (or none when to(r) < 0) */
static strata_pattern_t pattern(const strata_hier_t *h, int d, int xor_) {
  const int P = h->nranks;
  strata_pattern_t pt = {0, 0, 0};
  int *ho = calloc((size_t)h->nunits[0], sizeof *ho), *so = calloc((size_t)h->nunits[1], sizeof *so);
  if (!ho || !so) { free(ho); free(so); pt.lvl = 2; pt.host_out = pt.site_out = P; return pt; }
  for (int r = 0; r < P; r++) {
    int q = xor_ ? (r ^ d) : (r + d) % P;
    if (q >= P || q == r) continue;
    int l = lvl_of(h, r, q);
    if (l > pt.lvl) pt.lvl = l;
    if (l >= 1) ho[h->unit[0][r]]++;
    if (l >= 2) so[h->unit[1][r]]++;
  }
  for (int i = 0; i < h->nunits[0]; i++) pt.host_out = ho[i] > pt.host_out ? ho[i] : pt.host_out;
  for (int i = 0; i < h->nunits[1]; i++) pt.site_out = so[i] > pt.site_out ? so[i] : pt.site_out;
  free(ho);
  free(so);
  return pt;
}

void strata_tuner_set_topo(strata_tuner_t *t, const strata_hier_t *h, const double alpha[3], const double bw[3],
                           double cpu_over) {
  const int P = h->nranks;
  t->multi = 1;
  t->cpu_over = cpu_over > 1 ? cpu_over : 1;
  t->gamma *= t->cpu_over; /* a rank reduces at its share of a core */
  if (t->cpu_over > 1) {
    /* more ranks than cores: a shared-memory round costs a reschedule like any other (the
     * probed site latency was measured under the same contention), and copies share cores */
    t->la[0] = fmax(t->la[0], t->la[1]);
    t->lb[0] *= t->cpu_over;
  }
  t->nnodes = h->nunits[0];
  t->nsites = h->nunits[1];
  for (int l = 0; l < 3; l++) {
    t->la[l] = alpha[l];
    t->lb[l] = 1.0 / bw[l];
  }
  /* smallest node (ranks) and smallest site (nodes) */
  int *cn = calloc((size_t)h->nunits[0], sizeof *cn), *cs = calloc((size_t)h->nunits[1], sizeof *cs);
  int *seen = calloc((size_t)h->nunits[0], sizeof *seen);
  t->lmin = 1;
  t->nmin = 1;
  if (cn && cs && seen) {
    for (int r = 0; r < P; r++) {
      cn[h->unit[0][r]]++;
      if (!seen[h->unit[0][r]]++) cs[h->unit[1][r]]++;
    }
    t->lmin = P;
    for (int i = 0; i < h->nunits[0]; i++) t->lmin = cn[i] < t->lmin ? cn[i] : t->lmin;
    t->nmin = P;
    for (int i = 0; i < h->nunits[1]; i++) t->nmin = cs[i] < t->nmin ? cs[i] : t->nmin;
  }
  t->ring = pattern(h, 1, 0);
  t->nxr = 0;
  for (int d = 1; d < P && t->nxr < TUNER_MAX_XOR; d *= 2) t->xr[t->nxr++] = pattern(h, d, 1);
  /* direct: every rank sends 1/P of its data to every other rank */
  strata_pattern_t dp = {0, 0, 0};
  if (cn && cs) {
    int *rs = calloc((size_t)h->nunits[1], sizeof *rs);
    for (int r = 0; rs && r < P; r++) rs[h->unit[1][r]]++;
    for (int i = 0; i < h->nunits[0]; i++) {
      double v = (double)cn[i] * (P - cn[i]) / P;
      dp.host_out = v > dp.host_out ? v : dp.host_out;
    }
    for (int i = 0; rs && i < h->nunits[1]; i++) {
      double v = (double)rs[i] * (P - rs[i]) / P;
      dp.site_out = v > dp.site_out ? v : dp.site_out;
    }
    dp.lvl = h->nunits[1] > 1 ? 2 : 1;
    free(rs);
  }
  t->direct = dp;
  free(cn);
  free(cs);
  free(seen);
  /* the single-level formulas (other collectives) see the ring's effective figures */
  t->alpha = t->la[t->ring.lvl];
  t->beta = fmax(t->lb[0], fmax(t->ring.host_out * t->lb[1], t->ring.site_out * t->lb[2]));
  t->alpha_rndv = 0;
}

/* one round of pattern pt with m bytes per message */
static double round_cost(const strata_tuner_t *t, const strata_pattern_t *pt, double m) {
  double b = t->lb[0];
  if (pt->lvl >= 1) b = fmax(b, pt->host_out * t->lb[1]);
  if (pt->lvl >= 2) b = fmax(b, pt->site_out * t->lb[2]);
  return t->la[pt->lvl] + m * b;
}

/* flat allreduce algorithms on a multi-level communicator */
double strata_tuner_flat_multi(const strata_tuner_t *t, strata_algo_t a, double n) {
  const int P = t->nranks;
  const double f = (double)(P - 1) / P, ga = t->gamma;
  switch (a) {
  case STRATA_ALGO_RING: return 2 * (P - 1) * round_cost(t, &t->ring, n / P) + f * n * ga;
  /* P-1 messages per rank per round are handled one by one (measured: 8 ranks on the
   * emulated cluster, 656 us for 8 bytes against 156 us by recursive doubling) */
  case STRATA_ALGO_DIRECT:
    return 2 * (round_cost(t, &t->direct, n / P * (P - 1)) + (P - 2) * t->la[t->direct.lvl]) + f * n * ga;
  case STRATA_ALGO_RECURSIVE_DOUBLING: {
    double c = 0;
    for (int i = 0; i < t->nxr; i++) c += round_cost(t, &t->xr[i], n) + n * ga;
    return c + ((P & (P - 1)) ? 2 * round_cost(t, &t->xr[0], n) : 0);
  }
  case STRATA_ALGO_RABENSEIFNER: {
    double c = 0, m = n;
    for (int i = 0; i < t->nxr; i++) {
      m /= 2;
      c += 2 * round_cost(t, &t->xr[i], m) + m * ga;
    }
    return c + ((P & (P - 1)) ? 2 * round_cost(t, &t->xr[0], n) : 0);
  }
  default: return NA;
  }
}

/* allreduce among G ranks, one per site, with `share` such groups at once on each uplink */
static double top_cost(const strata_tuner_t *t, int algo, int G, double m, double share, double *lat) {
  const double a2 = t->la[2], b2 = t->lb[2] * share, lg = ceil(log2((double)G));
  const double f = (double)(G - 1) / G;
  /* whole-vector exchanges (recursive doubling, and Rabenseifner's halves) measured ~15%
   * slower than a pipelined reduce-scatter + allgather when the WAN is the bottleneck
   * (64 MiB on the emulated 2 x 2 x 2 cluster: 670 ms against 590 ms) */
  const double sf = 1.15;
  switch (algo) {
  case STRATA_ALGO_DIRECT: *lat = 2 * (G - 1) * a2; return 2 * f * m * b2;
  case STRATA_ALGO_RING: *lat = 2 * (G - 1) * a2; return 2 * f * m * b2;
  case STRATA_ALGO_RABENSEIFNER: *lat = 2 * lg * a2; return sf * 2 * f * m * b2 + ((G & (G - 1)) ? 2 * m * b2 : 0);
  default: *lat = lg * a2 + ((G & (G - 1)) ? 2 * a2 : 0); return sf * lg * m * b2 + ((G & (G - 1)) ? 2 * m * b2 : 0);
  }
}

static double hier_allreduce(const strata_tuner_t *t, double n, const strata_hier_choice_t *hc) {
  const int L = t->lmin, N = t->nmin, G = t->nsites;
  const int k0 = hc->kmax[0] == 1 ? 1 : L, k1 = hc->kmax[1] == 1 ? 1 : N;
  const double ga = t->gamma;
  double lat = 0, ph[3] = {0, 0, 0};
  if (L > 1) {
    if (k0 > 1) { lat += 2 * (k0 - 1) * t->la[0]; ph[0] = 2.0 * (k0 - 1) / k0 * n * (t->lb[0] + ga / 2); }
    /* the leader takes the L-1 folds (and hands the results back) one after another */
    else { lat += 2 * (L - 1) * t->la[0]; ph[0] = 2.0 * (L - 1) * n * t->lb[0] + (L - 1) * n * ga; }
  }
  const double n1 = n / k0;
  if (N > 1) { /* k0 ranks of a host share its NIC */
    if (k1 > 1) { lat += 2 * (k1 - 1) * t->la[1]; ph[1] = 2.0 * (k1 - 1) / k1 * n1 * k0 * t->lb[1] + n1 * ga; }
    else { lat += 2 * (N - 1) * t->la[1]; ph[1] = 2.0 * (N - 1) * n1 * k0 * t->lb[1] + (N - 1) * n1 * ga; }
  }
  const double n2 = n1 / k1;
  if (G > 1) {
    double l2;
    ph[2] = top_cost(t, hc->top_algo, G, n2, (double)k0 * k1, &l2) + n2 * ga;
    lat += l2;
  }
  const int C = hc->outer > 0 ? hc->outer : 1;
  double mx = fmax(ph[0], fmax(ph[1], ph[2])), sum = ph[0] + ph[1] + ph[2];
  /* each extra chunk pays its own steps; chunks in flight overlap most of their latencies
   * (measured: 64 chunks beat 16 at 16 and 64 MiB on the emulated cluster) */
  return lat + (C - 1) * (2 * t->la[0] + t->la[1] / 4) + mx + (sum - mx) / C;
}

double strata_tuner_hier_cost(const strata_tuner_t *t, strata_coll_t c, size_t bytes, strata_hier_choice_t *hc) {
  if (!t->multi || t->nnodes < 2) return NA;
  const double n = (double)bytes;
  strata_hier_choice_t best, h;
  double bc = NA;
  memset(&best, 0, sizeof best);
  memset(&h, 0, sizeof h);
  /* ring first: with two sites it equals direct in the model, and measured faster */
  static const int tops[4] = {STRATA_ALGO_RING, STRATA_ALGO_DIRECT, STRATA_ALGO_RECURSIVE_DOUBLING,
                              STRATA_ALGO_RABENSEIFNER};
  static const int outs[7] = {1, 2, 4, 8, 16, 32, 64};
  switch (c) {
  case STRATA_COLL_ALLREDUCE:
    for (int k0 = 0; k0 < 2; k0++)
      for (int k1 = 0; k1 < 2; k1++)
        for (int ti = 0; ti < 4; ti++)
          for (int oi = 0; oi < 7; oi++) {
            if (oi && n / outs[oi] < 256 * 1024) break;
            h.kmax[0] = k0;
            h.kmax[1] = k1;
            h.top_algo = tops[ti];
            h.outer = outs[oi];
            double x = hier_allreduce(t, n, &h);
            if (x < bc) { bc = x; best = h; }
          }
    break;
  case STRATA_COLL_ALLGATHER:
  case STRATA_COLL_REDUCE_SCATTER: {
    /* bytes: the whole vector. Inside a site every rank trades with every other member
     * (L ranks share a NIC); across, each site ships its share (or partials) once */
    const int G = t->nsites, L = t->lmin;
    const double Ss = n / G, f = (double)(G - 1) / G;
    double l = 2 * t->la[1] + (G > 1 ? t->la[2] : 0);
    double pa = L * Ss * t->lb[1], pb = G > 1 ? f * n * t->lb[2] : 0, pc = L * f * n * t->lb[1] / t->nmin;
    double mx = fmax(pa, fmax(pb, pc));
    bc = l + mx + (pa + pb + pc - mx) / 4 + (c == STRATA_COLL_REDUCE_SCATTER ? n * t->gamma : 0);
    break;
  }
  case STRATA_COLL_BROADCAST:
  case STRATA_COLL_REDUCE: {
    /* the root's uplink carries one copy per other site, a site leader's NIC one per other
     * node, a node leader's memory one per local rank; chunks pipeline the levels */
    const int G = t->nsites, N = t->nmin, L = t->lmin;
    double l = (G > 1 ? t->la[2] : 0) + (N > 1 ? t->la[1] : 0) + (L > 1 ? t->la[0] : 0);
    double p2 = (G - 1) * n * t->lb[2], p1 = (N - 1) * n * t->lb[1], p0 = (L - 1) * n * t->lb[0];
    double mx = fmax(p2, fmax(p1, p0));
    bc = l + mx + (p2 + p1 + p0 - mx) / 8 + (c == STRATA_COLL_REDUCE ? (G + N + L) * n * t->gamma : 0);
    break;
  }
  default: return NA;
  }
  if (hc) *hc = best;
  return bc;
}
