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
      cmocka_unit_test(test_algo_parse),
  };
  return cmocka_run_group_tests_name("tuner", tests, NULL, NULL);
}
