/* The cost model: a choice for every collective, size and rank count; the shapes of the
 * choices (latency-bound small sizes, bandwidth-bound large ones); STRATA_ALGO parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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
  };
  return cmocka_run_group_tests_name("tuner", tests, NULL, NULL);
}
