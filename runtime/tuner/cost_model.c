/* The one cost model. Per algorithm, the classic alpha-beta-gamma estimates (Thakur,
 * Rabenseifner, Gropp 2005) for point-to-point plans, and the same form for node plans
 * with the synchronisation and staging costs of shared slots. Constants: docs/TUNING.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../algorithms/algo.h"
#include "tuner.h"

#define NA 1e30

static double envd(const char *name, double def) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  char *end;
  double x = strtod(v, &end);
  return (*end || x < 0) ? def : x;
}

void strata_tuner_init(strata_tuner_t *t, int nranks, int node_ok, int p2p_shm, int oversubscribed) {
  strata_tuner_init_machine(t, nranks, node_ok, p2p_shm, oversubscribed, NULL);
}

void strata_tuner_init_machine(strata_tuner_t *t, int nranks, int node_ok, int p2p_shm, int oversubscribed,
                               const strata_machine_t *m) {
  memset(t, 0, sizeof *t);
  t->nranks = nranks;
  t->slice_min = m && m->node_slice_min ? (size_t)m->node_slice_min : 65536;
  t->node_ok = node_ok;
  /* measured with the benchmarks on the 2-core development VM (docs/TUNING.md) */
  /* STRATA_TUNE_COST: which measured figures feed the model. Default "p2p": the CMA read's
   * cost and bandwidth (the shm transport's large messages) and the dirty-read figure; "all":
   * the node figures too; "0": none (the defaults below) */
  const char *tc = getenv("STRATA_TUNE_COST");
  const int use_p2p = m && m->calibrated && !(tc && !strcmp(tc, "0"));
  const int use_node = use_p2p && tc && (!strcmp(tc, "all") || !strcmp(tc, "1"));
  if (p2p_shm) {
    t->alpha = envd("STRATA_COST_ALPHA_US", 0.5) * 1e-6;
    t->alpha_rndv = envd("STRATA_COST_RNDV_US", use_p2p && m->cma_alpha > 0 ? m->cma_alpha * 1e6 : 1.5) * 1e-6;
    t->beta = 1.0 / (envd("STRATA_COST_BW_GBS", use_p2p && m->cma_bw > 0 ? m->cma_bw * 1e-9 : 6.0) * 1e9);
    t->eager = 8128;
    /* in place, a peer reads what this core just wrote: at the staging copy's speed (the
     * calibration's copy of data the other core wrote), while it fits this core's cache */
    if (use_p2p && m->node_bw > 0) {
      t->dirty_beta = 1.0 / m->node_bw;
      t->dirty_max = (size_t)(m->core_cache ? m->core_cache : (1u << 20)) / 2;
    }
  } else {
    t->alpha = envd("STRATA_COST_ALPHA_US", 2.5) * 1e-6;
    t->alpha_rndv = envd("STRATA_COST_RNDV_US", 2.0) * 1e-6;
    t->beta = 1.0 / (envd("STRATA_COST_BW_GBS", 3.0) * 1e9);
    t->eager = 8192;
  }
  /* node figures: the development VM's; STRATA_COST_NODE_* win. The calibration measures
   * them too (tuner/machine.c, strata_tune prints them) but they feed the model only with
   * STRATA_TUNE_COST=1: its two-thread figures do not yet match what node plans pay
   * (fed in, allgather chose shm and lost 2.4x at 128 KiB; docs/TUNING.md) */
  if (!use_node) m = NULL;
  t->node_alpha = envd("STRATA_COST_NODE_ALPHA_US", m && m->calibrated ? m->node_alpha * 1e6 : 0.12) * 1e-6;
  t->node_beta = 1.0 / (envd("STRATA_COST_NODE_BW_GBS", m && m->calibrated ? m->node_bw * 1e-9 : 16.0) * 1e9);
  t->gamma = 1.0 / (envd("STRATA_COST_REDUCE_GBS", m && m->calibrated ? m->reduce_bw * 1e-9 : 12.0) * 1e9);
  if (oversubscribed) {
    /* a round that needs a peer costs a trip through the scheduler (measured: 4 ranks on 2
     * cores take ~4 us for an 8-byte allreduce that takes 0.15 us on 2) */
    double k = envd("STRATA_COST_OVERSUB", 30.0);
    t->alpha *= k;
    t->node_alpha *= k;
  }
}

static double lg(int P) { return P > 1 ? ceil(log2((double)P)) : 0; }

/* latency of one message of m bytes: rendezvous (CMA read + finish) above the eager size */
static double msg_alpha(const strata_tuner_t *t, double m) {
  return t->alpha + (m > (double)t->eager ? t->alpha_rndv : 0);
}

double strata_tuner_cost(const strata_tuner_t *t, strata_coll_t c, strata_algo_t a, size_t bytes) {
  return strata_tuner_cost_ex(t, c, a, bytes, 0);
}

double strata_tuner_model_cost(const strata_tuner_t *t, strata_coll_t c, strata_algo_t a, size_t bytes, int inplace) {
  const int P = t->nranks;
  const double n = (double)bytes, be = t->beta, ga = t->gamma;
  const double na = t->node_alpha, nb = t->node_beta, L = lg(P), f = (double)(P - 1) / P;
  const int pow2 = (P & (P - 1)) == 0;
  /* typical message sizes: whole vector (recursive doubling, trees), one block (rings) */
  const double al = msg_alpha(t, n), alb = msg_alpha(t, n / P), alh = msg_alpha(t, n / 2);
  const double fold = pow2 ? 0 : 2 * al; /* the extra ranks' hand-off, latency part */
  const strata_algo_entry_t *e = strata_algo_find(c, a);
  if (!e) return NA;
  if (e->node_only && !t->node_ok) return NA;
  if (a == STRATA_ALGO_HIERARCHICAL) return P == 1 ? NA : strata_tuner_hier_cost(t, c, bytes, NULL);
  if (P == 1) return e->node_only ? NA : 0; /* trivially local either way */
  if (t->multi && c == STRATA_COLL_ALLREDUCE) return strata_tuner_flat_multi(t, a, n);
  /* in place: the first message a peer reads comes out of the caller's buffer, which this
   * core has just written (measured: an in-place recursive doubling of 32 KiB 17.8 us, out of
   * place 6.7, on the Intel VM) */
  const double dirty = inplace && n <= (double)t->dirty_max && t->dirty_beta > be ? t->dirty_beta - be : 0;
  switch (c) {
  case STRATA_COLL_ALLREDUCE:
    switch (a) {
    case STRATA_ALGO_RING: return 2 * (P - 1) * alb + 2 * f * n * be + f * n * ga + n / P * dirty;
    case STRATA_ALGO_RECURSIVE_DOUBLING: return L * (al + n * be + n * ga) + fold + (pow2 ? 0 : 2 * n * be) + n * dirty;
    case STRATA_ALGO_RABENSEIFNER:
      return 2 * L * alh + 2 * f * n * be + f * n * ga + fold + (pow2 ? 0 : 2 * n * be) + n / 2 * dirty;
    /* P-1 messages at once, twice: the sender's link carries them one after another, and
     * every rank receiving from all at once (incast) costs a little more as P grows */
    case STRATA_ALGO_DIRECT: return 2 * (P - 1) * alb + 2 * f * n * be * (1 + 0.05 * (P - 2)) + f * n * ga + f * n * dirty;
    case STRATA_ALGO_SHM:
      /* direct below slice_min: every rank reads every slot; sliced above: 2 syncs, the
       * slice reductions overlap the copies */
      return n < (double)t->slice_min ? na + n * nb + (P - 1) * n * nb + (P - 1) * n * ga
                       : 2 * na + 2 * n * nb + f * n * ga;
    default: return NA;
    }
  case STRATA_COLL_ALLGATHER:
    switch (a) {
    case STRATA_ALGO_RING: return (P - 1) * alb + f * n * be;
    case STRATA_ALGO_RECURSIVE_DOUBLING: return L * alh + f * n * be + fold + (pow2 ? 0 : n * be);
    case STRATA_ALGO_BRUCK: return L * alh + f * n * be + n * nb;
    /* every byte received was staged (streamed out, read back): measured ~3 staging copies
     * per received byte against the single CMA copy of the ring (docs/TUNING.md) */
    case STRATA_ALGO_SHM: return na + n / P * nb + 3 * f * n * nb;
    default: return NA;
    }
  case STRATA_COLL_REDUCE_SCATTER:
    switch (a) {
    case STRATA_ALGO_RING: return (P - 1) * alb + f * n * (be + ga);
    case STRATA_ALGO_RECURSIVE_HALVING: return L * alh + f * n * (be + ga) + fold + (pow2 ? 0 : n * be);
    case STRATA_ALGO_SHM: return na + 2 * n * nb + f * n * ga;
    default: return NA;
    }
  case STRATA_COLL_BROADCAST:
    switch (a) {
        /* pipelined or not, the root sends the whole message to each of its log P children */
    case STRATA_ALGO_BINOMIAL: return L * (al + n * be);
    case STRATA_ALGO_SCATTER_ALLGATHER: return P * alb + 2 * f * n * be;
    case STRATA_ALGO_SHM: return na + 2 * n * nb;
    default: return NA;
    }
  case STRATA_COLL_REDUCE:
    switch (a) {
    case STRATA_ALGO_BINOMIAL: return L * (al + n * be + n * ga);
    case STRATA_ALGO_REDUCE_SCATTER_GATHER: return P * alb + 2 * f * n * be + f * n * ga;
    case STRATA_ALGO_SHM: return na + n * nb + (P - 1) * n * (nb + ga);
    default: return NA;
    }
  case STRATA_COLL_ALLTOALL:
    switch (a) {
    case STRATA_ALGO_PAIRWISE: return (P - 1) * alb + f * n * be;
    case STRATA_ALGO_BRUCK: return L * alh + L * n / 2 * be + 2 * n * nb;
    case STRATA_ALGO_SHM: return na + 2 * n * nb;
    default: return NA;
    }
  case STRATA_COLL_BARRIER:
    switch (a) {
    case STRATA_ALGO_DISSEMINATION: return L * t->alpha;
    case STRATA_ALGO_SHM: return na + (P - 1) * 0.02e-6;
    default: return NA;
    }
  default: return NA;
  }
}

void strata_tuner_set_measured(strata_tuner_t *t, const strata_plan_times_t *pt) { t->pt = pt; }

/* measured / estimated at the measured sizes around `bytes`, interpolated in log size (log
 * ratio linear in log size), the nearest one's outside them; 1 where nothing was measured */
static double measured_factor(const strata_tuner_t *t, strata_coll_t c, strata_algo_t a, size_t bytes, int inplace) {
  const int P = t->nranks;
  /* in-place allreduce has its own times where measured (against the in-place estimate) */
  const float *meas = t->pt->t[c][a];
  if (inplace && c == STRATA_COLL_ALLREDUCE) {
    int any = 0;
    for (int i = 0; i < STRATA_PT_NPTS; i++) any |= t->pt->ip[a][i] > 0;
    if (any) meas = t->pt->ip[a];
    else inplace = 0;
  } else {
    inplace = 0;
  }
  double x = log2((double)(bytes ? bytes : 1)), xl = 0, fl = 0, xh = 0, fh = 0;
  int have_l = 0, have_h = 0;
  for (int i = 0; i < STRATA_PT_NPTS; i++) {
    double m = meas[i];
    if (!(m > 0)) continue;
    size_t b = strata_pt_bytes(c, P, i);
    double e = strata_tuner_model_cost(t, c, a, b, inplace);
    if (!(e > 0) || e >= NA) continue;
    double xi = log2((double)(b ? b : 1)), fi = log(m / e);
    if (xi <= x && (!have_l || xi >= xl)) { xl = xi; fl = fi; have_l = 1; }
    if (xi >= x && (!have_h || xi < xh)) { xh = xi; fh = fi; have_h = 1; }
  }
  if (!have_l && !have_h) return 1;
  if (!have_l) return exp(fh);
  if (!have_h || xh <= xl) return exp(fl);
  return exp(fl + (fh - fl) * (x - xl) / (xh - xl));
}

double strata_tuner_cost_ex(const strata_tuner_t *t, strata_coll_t c, strata_algo_t a, size_t bytes, int inplace) {
  double e = strata_tuner_model_cost(t, c, a, bytes, inplace);
  if (e >= NA || !t->pt || t->multi || t->pt->nranks != t->nranks || (unsigned)c >= STRATA_NUM_COLLS ||
      (unsigned)a >= STRATA_NUM_ALGOS)
    return e;
  return e * measured_factor(t, c, a, bytes, inplace);
}

strata_algo_t strata_tuner_choose(const strata_tuner_t *t, strata_coll_t c, size_t bytes, double *cost) {
  return strata_tuner_choose_ex(t, c, bytes, 0, cost);
}

strata_algo_t strata_tuner_choose_ex(const strata_tuner_t *t, strata_coll_t c, size_t bytes, int inplace, double *cost) {
  strata_algo_t list[16], best = STRATA_ALGO_AUTO;
  double bc = NA;
  int n = strata_algo_list(c, list, 16);
  for (int i = 0; i < n; i++) {
    double x = strata_tuner_cost_ex(t, c, list[i], bytes, inplace);
    if (x < bc) {
      bc = x;
      best = list[i];
    }
  }
  if (cost) *cost = bc;
  return best;
}
