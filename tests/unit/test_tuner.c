/* The cost model: a choice for every collective, size and rank count; the shapes of the
 * choices (latency-bound small sizes, bandwidth-bound large ones); STRATA_ALGO parsing. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../runtime/algorithms/algo.h"
#include "../../runtime/core/config.h"
#include "../../runtime/tuner/tuner.h"

static void test_every_shape_has_a_choice(void **st) {
  (void)st;
  for (int P = 1; P <= 64; P++)
    for (int node = 0; node < 2; node++)
      for (int c = 0; c < STRATA_NUM_COLLS; c++)
        for (size_t b = 1; b <= (1u << 30); b <<= 3) {
          strata_tuner_t t;
          strata_tuner_init(&t, P, node && P > 1, node, 0);
          double cost = -1;
          strata_algo_t a = strata_tuner_choose(&t, (strata_coll_t)c, b, &cost);
          assert_true(a != STRATA_ALGO_AUTO);
          assert_non_null(strata_algo_find((strata_coll_t)c, a));
          assert_true(cost >= 0 && cost < 1e29);
          if (!(node && P > 1)) assert_true(a != STRATA_ALGO_SHM); /* node plans need one host */
        }
}

/* Levels: 2 sites x 2 nodes x 2 ranks, 10 Gbit/s NICs, 1 Gbit/s uplinks, 1 ms across */
static void set_levels(strata_tuner_t *t, int interleaved, double wan_alpha) {
  static int u[16];
  for (int r = 0; r < 8; r++) {
    int h = interleaved ? (r % 2) * 2 + (r / 2) % 2 : r / 2; /* interleaved: sites alternate */
    u[r] = h;
    u[8 + r] = h / 2;
  }
  strata_hier_t h = {8, {4, 2}, {u, u + 8}};
  double al[3] = {0.5e-6, 30e-6, wan_alpha}, bw[3] = {6e9, 1.25e9, 1.25e8};
  strata_tuner_init(t, 8, 0, 0, 0);
  strata_tuner_set_topo(t, &h, al, bw, 1.0);
}

static void test_levels(void **st) {
  (void)st;
  strata_tuner_t b, i;
  set_levels(&b, 0, 1e-3);
  set_levels(&i, 1, 1e-3);
  /* a ring that crosses the WAN at every hop costs more than one that crosses it twice */
  assert_true(strata_tuner_cost(&i, STRATA_COLL_ALLREDUCE, STRATA_ALGO_RING, 16u << 20) >
              2 * strata_tuner_cost(&b, STRATA_COLL_ALLREDUCE, STRATA_ALGO_RING, 16u << 20));
  /* large vectors go hierarchical whatever the placement, and near the WAN bound: 2(G-1)/G S/B */
  for (int k = 0; k < 2; k++) {
    strata_tuner_t *t = k ? &i : &b;
    strata_hier_choice_t hc;
    assert_int_equal(strata_tuner_choose(t, STRATA_COLL_ALLREDUCE, 64u << 20, NULL), STRATA_ALGO_HIERARCHICAL);
    double c = strata_tuner_hier_cost(t, STRATA_COLL_ALLREDUCE, 64u << 20, &hc);
    double bound = (double)(64u << 20) / 1.25e8;
    assert_true(c >= bound && c < 1.25 * bound);
    assert_true(hc.outer > 1); /* pipelined */
    assert_int_equal(strata_tuner_choose(t, STRATA_COLL_ALLGATHER, 16u << 20, NULL), STRATA_ALGO_HIERARCHICAL);
  }
  /* with 10 ms across, hierarchical wins already at 64 KiB (one WAN crossing, not 14) */
  set_levels(&b, 0, 10e-3);
  assert_int_equal(strata_tuner_choose(&b, STRATA_COLL_ALLREDUCE, 65536, NULL), STRATA_ALGO_HIERARCHICAL);
  assert_true(strata_tuner_cost(&b, STRATA_COLL_ALLREDUCE, STRATA_ALGO_RING, 65536) >
              3 * strata_tuner_cost(&b, STRATA_COLL_ALLREDUCE, STRATA_ALGO_HIERARCHICAL, 65536));
}

static void test_shapes(void **st) {
  (void)st;
  strata_tuner_t t;
  /* across hosts (UCX), 8 ranks */
  strata_tuner_init(&t, 8, 0, 0, 0);
  assert_int_equal(strata_tuner_choose(&t, STRATA_COLL_ALLREDUCE, 8, NULL), STRATA_ALGO_RECURSIVE_DOUBLING);
  strata_algo_t big = strata_tuner_choose(&t, STRATA_COLL_ALLREDUCE, 64u << 20, NULL);
  assert_true(big == STRATA_ALGO_RING || big == STRATA_ALGO_RABENSEIFNER);
  assert_int_equal(strata_tuner_choose(&t, STRATA_COLL_BROADCAST, 64u << 20, NULL), STRATA_ALGO_SCATTER_ALLGATHER);
  assert_int_equal(strata_tuner_choose(&t, STRATA_COLL_BROADCAST, 8, NULL), STRATA_ALGO_BINOMIAL);
  assert_int_equal(strata_tuner_choose(&t, STRATA_COLL_ALLTOALL, 64, NULL), STRATA_ALGO_BRUCK);
  assert_int_equal(strata_tuner_choose(&t, STRATA_COLL_ALLTOALL, 64u << 20, NULL), STRATA_ALGO_PAIRWISE);
  /* one host: shared-memory-native plans */
  strata_tuner_init(&t, 2, 1, 1, 0);
  for (size_t b = 8; b <= (256u << 20); b *= 2) /* measured best at every size (docs/PERFORMANCE.md) */
    assert_int_equal(strata_tuner_choose(&t, STRATA_COLL_ALLREDUCE, b, NULL), STRATA_ALGO_SHM);
  assert_int_equal(strata_tuner_choose(&t, STRATA_COLL_ALLGATHER, 64, NULL), STRATA_ALGO_SHM);
  assert_int_equal(strata_tuner_choose(&t, STRATA_COLL_ALLGATHER, 16u << 20, NULL), STRATA_ALGO_RING);
  /* 4 ranks on 2 cores: one synchronisation beats log P rounds at mid sizes */
  strata_tuner_init(&t, 4, 1, 1, 1);
  assert_int_equal(strata_tuner_choose(&t, STRATA_COLL_ALLREDUCE, 32768, NULL), STRATA_ALGO_SHM);
  /* costs grow with size */
  for (int a = 1; a < STRATA_NUM_ALGOS; a++) {
    double prev = 0;
    for (size_t b = 1; b <= (1u << 28); b <<= 2) {
      double c = strata_tuner_cost(&t, STRATA_COLL_ALLREDUCE, (strata_algo_t)a, b);
      if (c > 1e29) break;
      assert_true(c >= prev);
      prev = c;
    }
  }
}

/* Allreduce "times" at the measured sizes: every algorithm as the model estimates it, the
 * winner 3x faster than the best of them */
static void measure_as_modelled(const strata_tuner_t *t, float tab[][STRATA_PT_NPTS], int inplace,
                                strata_algo_t winner) {
  for (int i = 0; i < STRATA_PT_NPTS; i++) {
    size_t b = strata_pt_bytes(STRATA_COLL_ALLREDUCE, 2, i);
    strata_algo_t list[16];
    int n = strata_algo_list(STRATA_COLL_ALLREDUCE, list, 16);
    double lo = 1e30;
    for (int k = 0; k < n; k++) {
      double e = strata_tuner_model_cost(t, STRATA_COLL_ALLREDUCE, list[k], b, inplace);
      if (e < 1e29) {
        tab[list[k]][i] = (float)e;
        if (e < lo) lo = e;
      }
    }
    tab[winner][i] = (float)(lo / 3);
  }
}

/* Measured plan times: at the measured sizes the choice is the measured winner, between
 * them the model's form scaled by the measurements around; other rank counts and
 * communicators across hosts ignore them. */
static void test_measured_times(void **st) {
  (void)st;
  static strata_plan_times_t pt;
  memset(&pt, 0, sizeof pt);
  pt.nranks = 2;
  pt.nsamples = 1;
  strata_tuner_t t;
  strata_tuner_init(&t, 2, 1, 1, 0);
  /* ring measured 3x faster than every other allreduce at every size; the rest as modelled */
  measure_as_modelled(&t, pt.t[STRATA_COLL_ALLREDUCE], 0, STRATA_ALGO_RING);
  strata_tuner_set_measured(&t, &pt);
  for (size_t b = 8; b <= ((size_t)64 << 20); b <<= 1) {
    double c = 0;
    assert_int_equal(strata_tuner_choose(&t, STRATA_COLL_ALLREDUCE, b, &c), STRATA_ALGO_RING);
    assert_true(c > 0 && c < 1e29);
  }
  /* in place, allreduce has its own times: recursive doubling measured fastest there */
  measure_as_modelled(&t, pt.ip, 1, STRATA_ALGO_RECURSIVE_DOUBLING);
  for (size_t b = 8; b <= ((size_t)64 << 20); b <<= 1) {
    assert_int_equal(strata_tuner_choose_ex(&t, STRATA_COLL_ALLREDUCE, b, 1, NULL), STRATA_ALGO_RECURSIVE_DOUBLING);
    assert_int_equal(strata_tuner_choose_ex(&t, STRATA_COLL_ALLREDUCE, b, 0, NULL), STRATA_ALGO_RING);
  }
  /* allgather was not measured: the model alone */
  strata_tuner_t m;
  strata_tuner_init(&m, 2, 1, 1, 0);
  for (size_t b = 8; b <= ((size_t)64 << 20); b <<= 2)
    assert_int_equal(strata_tuner_choose(&t, STRATA_COLL_ALLGATHER, b, NULL),
                     strata_tuner_choose(&m, STRATA_COLL_ALLGATHER, b, NULL));
  /* another rank count: ignored */
  strata_tuner_t t3, m3;
  strata_tuner_init(&t3, 3, 1, 1, 0);
  strata_tuner_init(&m3, 3, 1, 1, 0);
  strata_tuner_set_measured(&t3, &pt);
  for (size_t b = 8; b <= ((size_t)64 << 20); b <<= 2)
    assert_true(strata_tuner_cost(&t3, STRATA_COLL_ALLREDUCE, STRATA_ALGO_RING, b) ==
                strata_tuner_cost(&m3, STRATA_COLL_ALLREDUCE, STRATA_ALGO_RING, b));
  /* between two measured sizes the factor is interpolated in log size: at the geometric
   * midpoint of two sizes with factors 2 and 8 it is 4 */
  memset(&pt, 0, sizeof pt);
  pt.nranks = 2;
  size_t b3 = strata_pt_bytes(STRATA_COLL_BROADCAST, 2, 3), b4 = strata_pt_bytes(STRATA_COLL_BROADCAST, 2, 4);
  strata_tuner_t u;
  strata_tuner_init(&u, 2, 1, 1, 0);
  pt.t[STRATA_COLL_BROADCAST][STRATA_ALGO_BINOMIAL][3] =
      (float)(2 * strata_tuner_model_cost(&u, STRATA_COLL_BROADCAST, STRATA_ALGO_BINOMIAL, b3, 0));
  pt.t[STRATA_COLL_BROADCAST][STRATA_ALGO_BINOMIAL][4] =
      (float)(8 * strata_tuner_model_cost(&u, STRATA_COLL_BROADCAST, STRATA_ALGO_BINOMIAL, b4, 0));
  strata_tuner_set_measured(&u, &pt);
  size_t mid = (size_t)sqrt((double)b3 * (double)b4);
  double f = strata_tuner_cost(&u, STRATA_COLL_BROADCAST, STRATA_ALGO_BINOMIAL, mid) /
             strata_tuner_model_cost(&u, STRATA_COLL_BROADCAST, STRATA_ALGO_BINOMIAL, mid, 0);
  assert_true(f > 3.9 && f < 4.1);
  /* outside the measured sizes: the nearest one's */
  f = strata_tuner_cost(&u, STRATA_COLL_BROADCAST, STRATA_ALGO_BINOMIAL, 8) /
      strata_tuner_model_cost(&u, STRATA_COLL_BROADCAST, STRATA_ALGO_BINOMIAL, 8, 0);
  assert_true(f > 1.99 && f < 2.01);
}

/* Samples combine as geometric means; the thresholds follow the combined tables; the cache
 * file reads back what was written (a damaged one is refused); an init plans with the
 * samples of its placement. */
static void test_plan_times_file(void **st) {
  (void)st;
  char dir[] = "/tmp/strata-pt-XXXXXX";
  assert_non_null(mkdtemp(dir));
  setenv("XDG_CACHE_HOME", dir, 1);
  static strata_plan_times_t acc, s1, s2;
  memset(&acc, 0, sizeof acc);
  memset(&s1, 0, sizeof s1);
  memset(&s2, 0, sizeof s2);
  acc.node_slice_min = 65536;
  acc.node_pipe_min = 32768;
  acc.node_pipe = 4;
  acc.ring_chunk = 262144;
  s1.nranks = s2.nranks = 2;
  /* sample 1: sliced wins from 128 KiB; sample 2: from 32 KiB, but by less than sample 1
   * loses there: combined, from 128 KiB */
  for (int i = 0; i < STRATA_PT_NSLICE; i++) {
    s1.slice[i][0] = 1e-5f;
    s1.slice[i][1] = strata_pt_slice_sizes[i] >= 131072 ? 0.5e-5f : 4e-5f;
    s2.slice[i][0] = 1e-5f;
    s2.slice[i][1] = strata_pt_slice_sizes[i] >= 32768 ? 0.8e-5f : 2e-5f;
  }
  s1.t[STRATA_COLL_ALLREDUCE][STRATA_ALGO_RING][0] = 1e-6f;
  s2.t[STRATA_COLL_ALLREDUCE][STRATA_ALGO_RING][0] = 4e-6f;
  strata_plan_times_merge(&acc, &s1);
  assert_int_equal(acc.node_slice_min, 131072);
  strata_plan_times_merge(&acc, &s2);
  assert_int_equal(acc.nsamples, 2);
  assert_int_equal(acc.node_slice_min, 131072);
  assert_true(fabs(acc.t[STRATA_COLL_ALLREDUCE][STRATA_ALGO_RING][0] - 2e-6) < 1e-9);
  assert_int_equal(acc.node_pipe, 4); /* not measured: as it was */
  /* the file: two samples in two placements; an init plans with those of its placement */
  static strata_plan_samples_t ss, sb;
  memset(&ss, 0, sizeof ss);
  ss.nranks = 2;
  ss.n = 2;
  ss.placement_ns[0] = 25;
  ss.placement_ns[1] = 200;
  ss.s[0] = s1;
  ss.s[1] = s2;
  strata_plan_samples_write(&ss);
  assert_int_equal(strata_plan_samples_read(&sb, 2), 0);
  assert_int_equal(sb.n, 2);
  assert_true(fabs(sb.placement_ns[1] - 200) < 1e-3);
  assert_true(fabs(sb.s[1].slice[1][1] / s2.slice[1][1] - 1) < 1e-5);
  assert_true(fabs(sb.s[0].t[STRATA_COLL_ALLREDUCE][STRATA_ALGO_RING][0] - 1e-6) < 1e-12);
  strata_plan_times_t near = acc, far = acc, any = acc;
  assert_int_equal(strata_plan_samples_combine(&sb, 30, &near), 1);
  assert_int_equal(near.nsamples, 1);
  assert_true(fabs(near.t[STRATA_COLL_ALLREDUCE][STRATA_ALGO_RING][0] - 1e-6) < 1e-12);
  assert_int_equal(near.node_slice_min, 131072);
  assert_int_equal(strata_plan_samples_combine(&sb, 150, &far), 1);
  assert_true(fabs(far.t[STRATA_COLL_ALLREDUCE][STRATA_ALGO_RING][0] - 4e-6) < 1e-12);
  assert_int_equal(far.node_slice_min, 32768);
  assert_int_equal(strata_plan_samples_combine(&sb, 70, &any), 0); /* neither: all of them */
  assert_int_equal(any.nsamples, 2);
  assert_int_equal(any.node_slice_min, 131072);
  assert_int_equal(strata_plan_samples_read(&sb, 3), -1); /* another rank count: none */
  setenv("STRATA_SHM_CMA", "0", 1); /* another configuration: its own samples */
  assert_int_equal(strata_plan_samples_read(&sb, 2), -1);
  unsetenv("STRATA_SHM_CMA");
  assert_int_equal(strata_plan_samples_read(&sb, 2), 0);
  char path[1024];
  strata_plan_times_path(path, sizeof path, 2);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "nranks 2 samples 2\nsample 25\nslice 1 2 3\n"); /* truncated */
  fclose(f);
  assert_int_equal(strata_plan_samples_read(&sb, 2), -1);
  unlink(path);
  char sub[64];
  snprintf(sub, sizeof sub, "%s/strata", dir);
  rmdir(sub);
  rmdir(dir);
  unsetenv("XDG_CACHE_HOME");
}

static void test_algo_parse(void **st) {
  (void)st;
  int o[STRATA_NUM_COLLS] = {0};
  assert_int_equal(strata_config_parse_algos("allreduce:rabenseifner;allgather:bruck", o), 0);
  assert_int_equal(o[STRATA_COLL_ALLREDUCE], STRATA_ALGO_RABENSEIFNER);
  assert_int_equal(o[STRATA_COLL_ALLGATHER], STRATA_ALGO_BRUCK);
  assert_int_equal(strata_config_parse_algos("bcast:tree,reduce_scatter:rh", o), 0);
  assert_int_equal(o[STRATA_COLL_BROADCAST], STRATA_ALGO_BINOMIAL);
  assert_int_equal(o[STRATA_COLL_REDUCE_SCATTER], STRATA_ALGO_RECURSIVE_HALVING);
  assert_int_equal(strata_config_parse_algos("allreduce:nonsense", o), -1);
  assert_int_equal(strata_config_parse_algos("justwords", o), -1);
  assert_int_equal(o[STRATA_COLL_ALLREDUCE], STRATA_ALGO_RABENSEIFNER); /* unchanged */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_shape_has_a_choice),
      cmocka_unit_test(test_shapes),
      cmocka_unit_test(test_levels),
      cmocka_unit_test(test_algo_parse),
      cmocka_unit_test(test_measured_times),
      cmocka_unit_test(test_plan_times_file),
  };
  return cmocka_run_group_tests_name("tuner", tests, NULL, NULL);
}
