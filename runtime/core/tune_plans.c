/* Timing the candidate plans of a one-host communicator on its real ranks (tune_plans.h).
 *
 * Three steps, each ending in one allreduce (MAX) of every rank's timings, so that every
 * rank decides from the same numbers and all of them agree without another exchange:
 *   1. the node plans' builder thresholds: the node allreduce direct against sliced, then
 *      uncut against cut into 2, 4 or 8 chunks, at 16 KiB - 4 MiB;
 *   2. the point-to-point pipeline piece: ring allgather and allreduce of 8 MiB with pieces
 *      of 128 KiB - 4 MiB;
 *   3. every algorithm of every collective at 8 B - 8 MiB, with the thresholds of 1 and 2
 *      in force: the cost model scales its estimates by these (cost_model.c).
 * A measurement is the mean time of a few calls back to back on each rank; the figure kept
 * is the slowest rank's, best of three rounds, the candidates taking turns within each round.
 * A sample is tagged with the placement of the moment (the cache-line latency between ranks
 * 0 and 1), and an init plans with the samples of the placement it meets (plan_times.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tune_plans.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../algorithms/algo.h"
#include "clock.h"
#include "host_coll.h"
#include "log.h"
#include <stdatomic.h>

#define ROUNDS 3
#define MAXB ((size_t)8 << 20)
#define NEVER UINT64_MAX

typedef struct timer {
  strata_comm_t c;
  float *sb, *rb, *ib; /* send, receive; in place (zeros, so repeated sums stay finite) */
  double *v;   /* every measurement of this step, in schedule order */
  int n, cap;
} timer_t_;

static int env_set(const char *name) {
  const char *v = getenv(name);
  return v && *v;
}

static int iters_for(size_t bytes) {
  size_t k = bytes ? ((size_t)4 << 20) / bytes : 20;
  return k < 4 ? 4 : k > 20 ? 20 : (int)k;
}

/* One measurement: seconds per call on this rank (appended to tm->v). */
static strata_result_t measure_ex(timer_t_ *tm, strata_coll_t coll, strata_algo_t algo, size_t count, int warm,
                                  int inplace) {
  strata_comm_t c = tm->c;
  float *sb = inplace ? tm->ib : tm->sb, *rb = inplace ? tm->ib : tm->rb;
  const size_t bytes = coll == STRATA_COLL_ALLGATHER || coll == STRATA_COLL_REDUCE_SCATTER ||
                               coll == STRATA_COLL_ALLTOALL ? count * 4 * (size_t)c->nranks : count * 4;
  const int iters = iters_for(bytes);
  strata_result_t rc = STRATA_SUCCESS;
  if (tm->n == tm->cap) {
    int cap = tm->cap ? 2 * tm->cap : 256;
    double *v = realloc(tm->v, (size_t)cap * sizeof *v);
    if (!v) return STRATA_ERR_SYSTEM;
    tm->v = v;
    tm->cap = cap;
  }
  /* warm: one call first, untimed (the plan is built, the pages touched). Then, after a
   * barrier and one more untimed call (the ranks fall into step), the mean of calls back to
   * back: the steady state of a training step's (and a benchmark's) repeated calls */
  if (warm) rc = strata_host_coll(c, coll, sb, rb, count, STRATA_FLOAT32, STRATA_SUM, 0, algo, NULL);
  if (rc == STRATA_SUCCESS)
    rc = strata_host_coll(c, STRATA_COLL_BARRIER, NULL, NULL, 0, STRATA_INT8, STRATA_SUM, 0, STRATA_ALGO_AUTO, NULL);
  if (rc == STRATA_SUCCESS)
    rc = strata_host_coll(c, coll, sb, rb, count, STRATA_FLOAT32, STRATA_SUM, 0, algo, NULL);
  const double t0 = strata_now_s();
  for (int k = 0; k < iters && rc == STRATA_SUCCESS; k++)
    rc = strata_host_coll(c, coll, sb, rb, count, STRATA_FLOAT32, STRATA_SUM, 0, algo, NULL);
  tm->v[tm->n] = (strata_now_s() - t0) / iters;
  tm->n++;
  return rc;
}

static strata_result_t measure(timer_t_ *tm, strata_coll_t coll, strata_algo_t algo, size_t count, int warm) {
  return measure_ex(tm, coll, algo, count, warm, 0);
}

/* The slowest rank's figures, the same on every rank. */
static strata_result_t slowest(timer_t_ *tm) {
  double *out = malloc((size_t)(tm->n ? tm->n : 1) * sizeof *out);
  if (!out) return STRATA_ERR_SYSTEM;
  strata_result_t rc = strata_host_coll(tm->c, STRATA_COLL_ALLREDUCE, tm->v, out, (size_t)tm->n, STRATA_FLOAT64,
                                        STRATA_MAX, 0, STRATA_ALGO_RECURSIVE_DOUBLING, NULL);
  if (rc == STRATA_SUCCESS) memcpy(tm->v, out, (size_t)tm->n * sizeof *out);
  free(out);
  return rc;
}

/* best over the rounds of measurement j of a round of `per` measurements */
static double best(const timer_t_ *tm, int base, int per, int j) {
  double b = 1e30;
  for (int r = 0; r < ROUNDS; r++)
    if (tm->v[base + r * per + j] < b) b = tm->v[base + r * per + j];
  return b;
}

static void reset(strata_comm_t c) { strata_comm_free_cache(c); }

/* 1a. direct against sliced node allreduce */
static strata_result_t time_slice(timer_t_ *tm, strata_plan_times_t *smp) {
  enum { NS = STRATA_PT_NSLICE };
  strata_machine_t *m = &tm->c->ctx->machine;
  const uint64_t keep = m->node_slice_min;
  strata_result_t rc = STRATA_SUCCESS;
  tm->n = 0;
  for (int r = 0; r < ROUNDS && rc == STRATA_SUCCESS; r++)
    for (int i = 0; i < NS && rc == STRATA_SUCCESS; i++)
      for (int sl = 0; sl < 2 && rc == STRATA_SUCCESS; sl++) {
        m->node_slice_min = sl ? 1 : NEVER;
        reset(tm->c);
        rc = measure(tm, STRATA_COLL_ALLREDUCE, STRATA_ALGO_SHM, strata_pt_slice_sizes[i] / 4, r == 0);
      }
  m->node_slice_min = keep;
  reset(tm->c);
  if (rc == STRATA_SUCCESS) rc = slowest(tm);
  for (int i = 0; i < NS && rc == STRATA_SUCCESS; i++)
    for (int sl = 0; sl < 2; sl++) smp->slice[i][sl] = (float)best(tm, 0, 2 * NS, 2 * i + sl);
  return rc;
}

/* 1b. uncut against cut into 2, 4, 8 chunks */
static strata_result_t time_pipe(timer_t_ *tm, strata_plan_times_t *smp) {
  enum { NS = STRATA_PT_NPIPE, NC = 4 };
  strata_machine_t *m = &tm->c->ctx->machine;
  const uint64_t keep_min = m->node_pipe_min;
  const int32_t keep = m->node_pipe;
  strata_result_t rc = STRATA_SUCCESS;
  tm->n = 0;
  for (int r = 0; r < ROUNDS && rc == STRATA_SUCCESS; r++)
    for (int i = 0; i < NS && rc == STRATA_SUCCESS; i++)
      for (int k = 0; k < NC && rc == STRATA_SUCCESS; k++) {
        const int ch = strata_pt_pipe_chunks[k];
        m->node_pipe_min = ch ? 0 : NEVER;
        m->node_pipe = ch ? ch : 1;
        reset(tm->c);
        rc = measure(tm, STRATA_COLL_ALLREDUCE, STRATA_ALGO_SHM, strata_pt_pipe_sizes[i] / 4, r == 0);
      }
  m->node_pipe_min = keep_min;
  m->node_pipe = keep;
  reset(tm->c);
  if (rc == STRATA_SUCCESS) rc = slowest(tm);
  for (int i = 0; i < NS && rc == STRATA_SUCCESS; i++)
    for (int k = 0; k < NC; k++) smp->pipe[i][k] = (float)best(tm, 0, NS * NC, i * NC + k);
  return rc;
}

/* 2. the point-to-point pipeline piece */
static strata_result_t time_piece(timer_t_ *tm, strata_plan_times_t *smp) {
  enum { NK = STRATA_PT_NPIECE };
  static const strata_coll_t CO[] = {STRATA_COLL_ALLGATHER, STRATA_COLL_ALLREDUCE};
  strata_machine_t *m = &tm->c->ctx->machine;
  const uint64_t keep = m->ring_chunk;
  const int P = tm->c->nranks;
  strata_result_t rc = STRATA_SUCCESS;
  tm->n = 0;
  for (int r = 0; r < ROUNDS && rc == STRATA_SUCCESS; r++)
    for (int j = 0; j < 2 && rc == STRATA_SUCCESS; j++)
      for (int k = 0; k < NK && rc == STRATA_SUCCESS; k++) {
        m->ring_chunk = strata_pt_pieces[k];
        reset(tm->c);
        rc = measure(tm, CO[j], STRATA_ALGO_RING, CO[j] == STRATA_COLL_ALLGATHER ? MAXB / 4 / (size_t)P : MAXB / 4,
                     r == 0);
      }
  m->ring_chunk = keep;
  reset(tm->c);
  if (rc == STRATA_SUCCESS) rc = slowest(tm);
  for (int j = 0; j < 2 && rc == STRATA_SUCCESS; j++)
    for (int k = 0; k < NK; k++) smp->piece[j][k] = (float)best(tm, 0, 2 * NK, j * NK + k);
  return rc;
}

/* 3. every candidate algorithm at every measured size */
static strata_result_t time_algos(timer_t_ *tm, strata_plan_times_t *pt) {
  strata_comm_t c = tm->c;
  const int P = c->nranks;
  strata_algo_t list[STRATA_NUM_COLLS][16];
  int nl[STRATA_NUM_COLLS];
  for (int co = 0; co < STRATA_NUM_COLLS; co++) {
    strata_algo_t all[16];
    int n = strata_algo_list((strata_coll_t)co, all, 16);
    nl[co] = 0;
    for (int i = 0; i < n; i++)
      if (all[i] != STRATA_ALGO_HIERARCHICAL &&
          strata_tuner_model_cost(&c->tuner, (strata_coll_t)co, all[i], 8, 0) < 1e29)
        list[co][nl[co]++] = all[i];
  }
  strata_result_t rc = STRATA_SUCCESS;
  tm->n = 0;
  int per = 0;
  for (int r = 0; r < ROUNDS && rc == STRATA_SUCCESS; r++) {
    for (int co = 0; co < STRATA_NUM_COLLS && rc == STRATA_SUCCESS; co++)
      for (int i = 0; i < (co == STRATA_COLL_BARRIER ? 1 : STRATA_PT_NPTS) && rc == STRATA_SUCCESS; i++)
        for (int k = 0; k < nl[co] && rc == STRATA_SUCCESS; k++)
          rc = measure(tm, (strata_coll_t)co, list[co][k], strata_pt_count((strata_coll_t)co, P, i), r == 0);
    for (int i = 0; i < STRATA_PT_NPTS && rc == STRATA_SUCCESS; i++) /* allreduce in place */
      for (int k = 0; k < nl[STRATA_COLL_ALLREDUCE] && rc == STRATA_SUCCESS; k++)
        rc = measure_ex(tm, STRATA_COLL_ALLREDUCE, list[STRATA_COLL_ALLREDUCE][k],
                        strata_pt_count(STRATA_COLL_ALLREDUCE, P, i), r == 0, 1);
    if (r == 0) per = tm->n;
  }
  if (rc == STRATA_SUCCESS) rc = slowest(tm);
  if (rc != STRATA_SUCCESS) return rc;
  int j = 0;
  for (int co = 0; co < STRATA_NUM_COLLS; co++)
    for (int i = 0; i < (co == STRATA_COLL_BARRIER ? 1 : STRATA_PT_NPTS); i++)
      for (int k = 0; k < nl[co]; k++) pt->t[co][list[co][k]][i] = (float)best(tm, 0, per, j++);
  for (int i = 0; i < STRATA_PT_NPTS; i++)
    for (int k = 0; k < nl[STRATA_COLL_ALLREDUCE]; k++) pt->ip[list[STRATA_COLL_ALLREDUCE][k]][i] = (float)best(tm, 0, per, j++);
  return STRATA_SUCCESS;
}

/* The builder inputs of pt into this host's machine figures, where no variable sets them. */
static void apply(strata_comm_t c, const strata_plan_times_t *pt) {
  strata_machine_t *m = &c->ctx->machine;
  if (!env_set("STRATA_SHM_SLICE_MIN")) m->node_slice_min = pt->node_slice_min;
  if (!env_set("STRATA_SHM_PIPE_MIN")) m->node_pipe_min = pt->node_pipe_min;
  if (!env_set("STRATA_SHM_PIPE")) m->node_pipe = pt->node_pipe;
  m->ring_chunk = env_set("STRATA_RING_CHUNK") ? 0 : pt->ring_chunk;
}

static void describe(const strata_plan_times_t *pt, int P, double ns, int n, const char *how, double secs) {
  if (strata_log_level_v < STRATA_LOG_INFO) return;
  SLOG_INFO("plan times for %d ranks on this host: cache line between ranks 0 and 1 %.0f ns; planning with %d of "
            "%d samples%s (%s)", P, ns, pt->nsamples, n, pt->nsamples < n ? " (those taken in this placement)" : "",
            how);
  char pm[32];
  if (pt->node_pipe_min == NEVER) snprintf(pm, sizeof pm, "never");
  else snprintf(pm, sizeof pm, "above %llu B", (unsigned long long)pt->node_pipe_min);
  SLOG_INFO("  %.2f s: node allreduce sliced from %llu B, node plans cut "
            "into %d chunks %s, point-to-point pieces of %llu B", secs,
            (unsigned long long)pt->node_slice_min, pt->node_pipe, pm, (unsigned long long)pt->ring_chunk);
  for (int co = 0; co < STRATA_NUM_COLLS; co++) {
    char line[512];
    int len = 0;
    line[0] = 0;
    for (int i = 0; i < (co == STRATA_COLL_BARRIER ? 1 : STRATA_PT_NPTS) && len < 440; i++) {
      int ba = 0;
      for (int a = 1; a < STRATA_NUM_ALGOS; a++)
        if (pt->t[co][a][i] > 0 && (!ba || pt->t[co][a][i] < pt->t[co][ba][i])) ba = a;
      if (ba)
        len += snprintf(line + len, sizeof line - (size_t)len, " %zu B: %s %.1f us;", strata_pt_bytes((strata_coll_t)co, P, i),
                        strata_algo_name((strata_algo_t)ba), pt->t[co][ba][i] * 1e6);
    }
    SLOG_INFO("  fastest measured %s:%s", strata_coll_name((strata_coll_t)co), line);
  }
  char line[512];
  int len = 0;
  for (int i = 0; i < STRATA_PT_NPTS && len < 440; i++) {
    int ba = 0;
    for (int a = 1; a < STRATA_NUM_ALGOS; a++)
      if (pt->ip[a][i] > 0 && (!ba || pt->ip[a][i] < pt->ip[ba][i])) ba = a;
    if (ba)
      len += snprintf(line + len, sizeof line - (size_t)len, " %zu B: %s %.1f us;",
                      strata_pt_bytes(STRATA_COLL_ALLREDUCE, P, i), strata_algo_name((strata_algo_t)ba), pt->ip[ba][i] * 1e6);
  }
  if (len) SLOG_INFO("  fastest measured allreduce in place:%s", line);
}

/* acc with the part of smp measured so far folded in, decided, in force */
static void apply_merged(strata_comm_t c, const strata_plan_times_t *acc, const strata_plan_times_t *smp) {
  strata_plan_times_t tmp = *acc;
  strata_plan_times_merge(&tmp, smp);
  apply(c, &tmp);
}

/* spin until *w >= v, bounded by `end`: 0, or -1 past it */
static int wait_for(_Atomic uint64_t *w, uint64_t v, double end) {
  for (unsigned k = 1; atomic_load_explicit(w, memory_order_acquire) < v; k++)
    if ((k & 1023) == 0 && strata_now_s() > end) return -1;
    else strata_cpu_relax();
  return 0;
}

/* The placement of the moment: the one-way latency of a cache line between ranks 0 and 1
 * (two header lines of the staging segment, 3 x 300 round trips, the fastest batch), as rank
 * 0 measured it, on every rank; -1 when it could not be measured within 0.5 s. */
static strata_result_t placement(strata_comm_t c, double *ns) {
  _Atomic uint64_t *ping = nseg_probe(&c->node, 0), *pong = nseg_probe(&c->node, 1);
  /* where the counters stand, from rank 0 (the only writer of ping; pong never passes it) */
  uint64_t base = atomic_load(ping);
  strata_result_t rc = strata_host_coll(c, STRATA_COLL_BROADCAST, &base, &base, 1, STRATA_UINT64, STRATA_SUM, 0,
                                        STRATA_ALGO_BINOMIAL, NULL);
  if (rc != STRATA_SUCCESS) return rc;
  double best = 1e30;
  int late = 0;
  if (c->rank <= 1) {
    const double end = strata_now_s() + 0.5;
    for (int b = 0; b < 3 && !late; b++) {
      const double t0 = strata_now_s();
      for (uint64_t k = 1; k <= 300 && !late; k++) {
        const uint64_t v = base + (uint64_t)b * 300 + k;
        if (c->rank == 0) {
          atomic_store_explicit(ping, v, memory_order_release);
          late = wait_for(pong, v, end) != 0;
        } else {
          late = wait_for(ping, v, end) != 0;
          atomic_store_explicit(pong, v, memory_order_release);
        }
      }
      if (!late) best = fmin(best, (strata_now_s() - t0) / 600);
    }
  }
  double r = late ? -1 : best * 1e9;
  rc = strata_host_coll(c, STRATA_COLL_BARRIER, NULL, NULL, 0, STRATA_INT8, STRATA_SUM, 0, STRATA_ALGO_AUTO, NULL);
  if (rc == STRATA_SUCCESS)
    rc = strata_host_coll(c, STRATA_COLL_BROADCAST, &r, &r, 1, STRATA_FLOAT64, STRATA_SUM, 0, STRATA_ALGO_BINOMIAL,
                          NULL);
  *ns = r;
  return rc;
}

strata_result_t strata_comm_tune_plans(strata_comm_t c, strata_plan_times_t **out) {
  *out = NULL;
  const char *tune = getenv("STRATA_TUNE");
  const int P = c->nranks;
  const int again = tune && !strcmp(tune, "again");
  /* timing with more ranks than cores measures the scheduler: only when asked (again) */
  if ((tune && !strcmp(tune, "0")) || !c->all_local || P < 2 || !c->node.base || (c->ctx->oversubscribed && !again))
    return STRATA_SUCCESS;
  strata_plan_times_t *acc = calloc(1, sizeof *acc), *smp = calloc(1, sizeof *smp);
  strata_plan_samples_t *ss = calloc(1, sizeof *ss);
  if (!acc || !smp || !ss) { free(acc); free(smp); free(ss); return STRATA_ERR_SYSTEM; }
  /* the cache as rank 0 reads it, for every rank (a concurrent job may rewrite the file) */
  if (c->rank == 0 && (again || strata_plan_samples_read(ss, P) != 0)) memset(ss, 0, sizeof *ss);
  strata_result_t rc = strata_host_coll(c, STRATA_COLL_BROADCAST, ss, ss, sizeof *ss, STRATA_INT8, STRATA_SUM, 0,
                                        STRATA_ALGO_BINOMIAL, NULL);
  ss->nranks = P;
  double ns = -1;
  if (rc == STRATA_SUCCESS) rc = placement(c, &ns);
  /* decided from the samples of this placement, where measured; elsewhere the machine's
   * figures (or the variables) */
  strata_machine_t *m = &c->ctx->machine;
  acc->node_slice_min = m->node_slice_min;
  acc->node_pipe_min = m->node_pipe_min;
  acc->node_pipe = m->node_pipe;
  acc->ring_chunk = strata_config()->ring_chunk;
  const int matched = strata_plan_samples_combine(ss, ns, acc);
  int measuring = rc == STRATA_SUCCESS && ns > 0 && matched < STRATA_PT_SAMPLES;
  const double t0 = strata_now_s();
  timer_t_ tm = {.c = c};
  if (measuring) { /* every rank has its buffers, or none measures */
    tm.sb = malloc(MAXB);
    tm.rb = malloc(MAXB);
    tm.ib = calloc(1, MAXB);
    int32_t ok = tm.sb && tm.rb && tm.ib, all = 0;
    rc = strata_host_coll(c, STRATA_COLL_ALLREDUCE, &ok, &all, 1, STRATA_INT32, STRATA_MIN, 0,
                          STRATA_ALGO_RECURSIVE_DOUBLING, NULL);
    measuring = rc == STRATA_SUCCESS && all;
    if (rc == STRATA_SUCCESS && !all && c->rank == 0)
      SLOG_WARN("plan times: a rank could not allocate 24 MiB to time the plans; planning with the model");
  }
  if (measuring && matched == 0) {
    /* a placement not seen yet: its thresholds start from the machine's, not from the
     * samples of another placement */
    strata_plan_times_t d = *acc;
    memset(acc, 0, sizeof *acc);
    acc->nranks = P;
    acc->node_slice_min = d.node_slice_min;
    acc->node_pipe_min = d.node_pipe_min;
    acc->node_pipe = d.node_pipe;
    acc->ring_chunk = d.ring_chunk;
  }
  if (measuring) {
    for (size_t i = 0; rc == STRATA_SUCCESS && i < MAXB / 4; i++) tm.sb[i] = tm.rb[i] = 1.0f;
    smp->nranks = P;
    if (rc == STRATA_SUCCESS && !env_set("STRATA_SHM_SLICE_MIN")) rc = time_slice(&tm, smp);
    if (rc == STRATA_SUCCESS) apply_merged(c, acc, smp);
    if (rc == STRATA_SUCCESS && !env_set("STRATA_SHM_PIPE_MIN") && !env_set("STRATA_SHM_PIPE")) rc = time_pipe(&tm, smp);
    if (rc == STRATA_SUCCESS) apply_merged(c, acc, smp);
    if (rc == STRATA_SUCCESS && !env_set("STRATA_RING_CHUNK")) rc = time_piece(&tm, smp);
    if (rc == STRATA_SUCCESS) {
      apply_merged(c, acc, smp); /* the algorithms are timed with the thresholds in force */
      reset(c);
      rc = time_algos(&tm, smp);
    }
    if (rc == STRATA_SUCCESS) {
      if (ss->n == STRATA_PT_MAX_SAMPLES) { /* full: the oldest goes */
        memmove(&ss->s[0], &ss->s[1], (STRATA_PT_MAX_SAMPLES - 1) * sizeof ss->s[0]);
        memmove(&ss->placement_ns[0], &ss->placement_ns[1], (STRATA_PT_MAX_SAMPLES - 1) * sizeof ss->placement_ns[0]);
        ss->n--;
      }
      ss->s[ss->n] = *smp;
      ss->placement_ns[ss->n] = (float)ns;
      ss->n++;
      if (c->rank == 0) strata_plan_samples_write(ss);
      strata_plan_samples_combine(ss, ns, acc);
    }
  }
  free(tm.sb);
  free(tm.rb);
  free(tm.ib);
  free(tm.v);
  free(smp);
  reset(c);
  const int used = ss->n;
  free(ss);
  if (rc != STRATA_SUCCESS || used == 0) {
    free(acc);
    return rc;
  }
  apply(c, acc);
  if (c->rank == 0) describe(acc, P, ns, used, measuring ? "measured one now" : "cached", strata_now_s() - t0);
  *out = acc;
  return STRATA_SUCCESS;
}
