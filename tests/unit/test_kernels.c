/* CPU kernels: every dtype x op against a scalar reference, narrow-float conversions against
 * an independent round-to-nearest-even in double precision (exhaustive for 8 and 16 bits),
 * NaN and infinity propagation, multi-source reduction, AVG, aliasing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strata.h"
#include "strata_elem.h"
#include "strata_kernels.h"

/* Independent reference: round x to a float format with `mb` mantissa bits, minimum normal
 * exponent emin, largest finite value maxf; overflow to inf (has_inf) or to maxf (fp8). */
static double ref_round(double x, int mb, int emin, double maxf, int sat) {
  if (isnan(x)) return x;
  if (isinf(x)) return sat ? copysign(maxf, x) : x;
  if (x == 0) return x;
  int e;
  frexp(x, &e);
  e -= 1; /* x = m * 2^e, 1 <= m < 2 */
  if (e < emin) e = emin;
  double q = nearbyint(ldexp(x, mb - e));
  double r = ldexp(q, e - mb);
  if (fabs(r) > maxf) return sat ? copysign(maxf, x) : copysign(INFINITY, x);
  return r;
}
static double ref_f16(double x) { return ref_round(x, 10, -14, 65504.0, 0); }
static double ref_bf16(double x) { return ref_round(x, 7, -126, 3.3895313892515355e38, 0); }
static double ref_e4m3(double x) { return ref_round(x, 3, -6, 448.0, 1); }
static double ref_e5m2(double x) { return ref_round(x, 2, -14, 57344.0, 1); }

static uint32_t rng = 12345;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static void same_value(double got, double want, const char *what, uint32_t in) {
  if (isnan(want)) {
    if (!isnan(got)) fail_msg("%s(%08x): got %g, want NaN", what, in, got);
    return;
  }
  if (got != want || signbit(got) != signbit(want)) fail_msg("%s(%08x): got %.9g, want %.9g", what, in, got, want);
}

static void test_narrow_decode_exhaustive(void **st) {
  (void)st;
  for (uint32_t h = 0; h < 65536; h++) {
    float f = strata_f16_to_f32((uint16_t)h);
    if (!isnan(f)) assert_int_equal(strata_f32_to_f16(f), h); /* round trip */
    int e = (h >> 10) & 31, m = h & 1023;
    double want = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    if (h & 0x8000) want = -want;
    same_value(f, want, "f16 decode", h);
    float b = strata_bf16_to_f32((uint16_t)h);
    if (!isnan(b)) assert_int_equal(strata_f32_to_bf16(b), h);
  }
  for (uint32_t v = 0; v < 256; v++) {
    float a = strata_fp8_to_f32((uint8_t)v, 1), b = strata_fp8_to_f32((uint8_t)v, 0);
    if (!isnan(a)) assert_int_equal(strata_f32_to_fp8(a, 1), v);
    if (!isnan(b) && !isinf(b)) assert_int_equal(strata_f32_to_fp8(b, 0), v);
    assert_true((v & 0x7f) == 0x7f ? isnan(a) : !isnan(a));
  }
  assert_true(strata_fp8_to_f32(0x7e, 1) == 448.0f);
  assert_true(strata_fp8_to_f32(0x7b, 0) == 57344.0f);
  assert_true(isinf(strata_fp8_to_f32(0x7c, 0)));
}

static void test_narrow_encode_rounding(void **st) {
  (void)st;
  for (int i = 0; i < 2000000; i++) {
    uint32_t u = rnd();
    if (i < 200000) u = (u & 0x807fffffu) | ((uint32_t)(100 + rnd() % 60) << 23); /* near the small ranges */
    float f;
    memcpy(&f, &u, 4);
    same_value(strata_f16_to_f32(strata_f32_to_f16(f)), ref_f16(f), "f16", u);
    same_value(strata_bf16_to_f32(strata_f32_to_bf16(f)), ref_bf16(f), "bf16", u);
    same_value(strata_fp8_to_f32(strata_f32_to_fp8(f, 1), 1), ref_e4m3(f), "e4m3", u);
    same_value(strata_fp8_to_f32(strata_f32_to_fp8(f, 0), 0), ref_e5m2(f), "e5m2", u);
  }
  /* ties go to even */
  assert_int_equal(strata_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
  assert_int_equal(strata_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
  assert_int_equal(strata_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
  assert_int_equal(strata_f32_to_f16(65520.0f), 0x7c00);
  assert_int_equal(strata_f32_to_fp8(1000.0f, 1), 0x7e);
  assert_int_equal(strata_f32_to_fp8(-INFINITY, 0), 0xfb);
}

/* ---- reductions ---- */

static size_t esz(int dt) { return strata_dtype_size((strata_dtype_t)dt); }
static int is_narrow(int dt) {
  return dt == STRATA_FLOAT16 || dt == STRATA_BFLOAT16 || dt == STRATA_FLOAT8_E4M3 || dt == STRATA_FLOAT8_E5M2;
}
#define GET(T, p, i) ({ T x_; memcpy(&x_, (const char *)(p) + (i) * sizeof(T), sizeof(T)); x_; })
static double load(int dt, const void *p, size_t i) {
  switch (dt) {
  case STRATA_INT8: return GET(int8_t, p, i);
  case STRATA_UINT8: return GET(uint8_t, p, i);
  case STRATA_INT32: return GET(int32_t, p, i);
  case STRATA_UINT32: return GET(uint32_t, p, i);
  case STRATA_INT64: return (double)GET(int64_t, p, i);
  case STRATA_UINT64: return (double)GET(uint64_t, p, i);
  case STRATA_FLOAT16: return strata_f16_to_f32(GET(uint16_t, p, i));
  case STRATA_FLOAT32: return GET(float, p, i);
  case STRATA_FLOAT64: return GET(double, p, i);
  case STRATA_BFLOAT16: return strata_bf16_to_f32(GET(uint16_t, p, i));
  case STRATA_FLOAT8_E4M3: return strata_fp8_to_f32(GET(uint8_t, p, i), 1);
  default: return strata_fp8_to_f32(GET(uint8_t, p, i), 0);
  }
}
static double rnd_narrow(int dt, double x) {
  switch (dt) {
  case STRATA_FLOAT16: return ref_f16(x);
  case STRATA_BFLOAT16: return ref_bf16(x);
  case STRATA_FLOAT8_E4M3: return ref_e4m3(x);
  case STRATA_FLOAT8_E5M2: return ref_e5m2(x);
  case STRATA_FLOAT32: return (float)x;
  default: return x;
  }
}
/* random bits, with NaN/inf/zero sprinkled into float types */
static void fill_random(int dt, void *p, size_t n) {
  unsigned char *b = p;
  for (size_t i = 0; i < n * esz(dt); i++) b[i] = (unsigned char)rnd();
  if (dt == STRATA_FLOAT32)
    for (size_t i = 0; i < n; i++) {
      uint32_t k = rnd() % 16;
      float f;
      if (k == 0) f = NAN;
      else if (k == 1) f = -INFINITY;
      else if (k == 2) f = -0.0f;
      else f = (float)((int)(rnd() % 2001) - 1000) / 8.0f;
      memcpy((char *)p + i * 4, &f, 4);
    }
  if (dt == STRATA_FLOAT64)
    for (size_t i = 0; i < n; i++) {
      double d = (rnd() % 16 == 0) ? INFINITY : ((int)(rnd() % 2001) - 1000) / 4.0;
      memcpy((char *)p + i * 8, &d, 8);
    }
}

static double refop(int op, double a, double b) {
  switch (op) {
  case STRATA_PROD: return a * b;
  case STRATA_MAX: return (a > b || isnan(a)) ? a : b;
  case STRATA_MIN: return (a < b || isnan(a)) ? a : b;
  default: return a + b;
  }
}

/* integers: compare raw results computed with wrapping arithmetic */
static uint64_t iload(int dt, const void *p, size_t i) {
  switch (dt) {
  case STRATA_INT8: return (uint64_t)(int64_t)GET(int8_t, p, i);
  case STRATA_UINT8: return GET(uint8_t, p, i);
  case STRATA_INT32: return (uint64_t)(int64_t)GET(int32_t, p, i);
  case STRATA_UINT32: return GET(uint32_t, p, i);
  case STRATA_INT64: return (uint64_t)GET(int64_t, p, i);
  default: return GET(uint64_t, p, i);
  }
}
static uint64_t iop(int dt, int op, uint64_t a, uint64_t b) {
  int sgn = dt == STRATA_INT8 || dt == STRATA_INT32 || dt == STRATA_INT64;
  unsigned bits = (unsigned)esz(dt) * 8;
  uint64_t mask = bits == 64 ? ~0ull : ((1ull << bits) - 1);
  int64_t sa = (int64_t)a, sb = (int64_t)b;
  switch (op) {
  case STRATA_PROD: return (a * b) & mask;
  case STRATA_MAX: return (sgn ? sa > sb : (a & mask) > (b & mask)) ? a : b;
  case STRATA_MIN: return (sgn ? sa < sb : (a & mask) < (b & mask)) ? a : b;
  default: return (a + b) & mask;
  }
}

static void check_elem(int dt, int op, const void *got, size_t i, const void *const *src, int nsrc, int avg_div) {
  if (!is_narrow(dt) && dt != STRATA_FLOAT32 && dt != STRATA_FLOAT64) {
    unsigned bits = (unsigned)esz(dt) * 8;
    uint64_t mask = bits == 64 ? ~0ull : ((1ull << bits) - 1);
    uint64_t acc = iload(dt, src[0], i);
    for (int s = 1; s < nsrc; s++) acc = iop(dt, op, acc, iload(dt, src[s], i));
    if (avg_div) {
      int sgn = dt == STRATA_INT8 || dt == STRATA_INT32 || dt == STRATA_INT64;
      if (sgn) {
        int64_t v = (int64_t)(acc << (64 - bits)) >> (64 - bits);
        acc = (uint64_t)(v / avg_div);
      } else {
        acc = (acc & mask) / (uint64_t)avg_div;
      }
    }
    if ((iload(dt, got, i) & mask) != (acc & mask))
      fail_msg("dtype %s op %s nsrc %d elem %zu: got %llx want %llx", strata_dtype_name((strata_dtype_t)dt),
               strata_op_name((strata_op_t)op), nsrc, i, (unsigned long long)(iload(dt, got, i) & mask),
               (unsigned long long)(acc & mask));
    return;
  }
  /* floats: float32/float64 combine in their own precision; narrow in float32, rounded once.
   * One source and no division is a plain copy. */
  double acc = load(dt, src[0], i);
  if (nsrc == 1 && !avg_div) {
    double g = load(dt, got, i);
    if (!(g == acc || (isnan(g) && isnan(acc)))) fail_msg("copy of elem %zu changed %g -> %g", i, acc, g);
    return;
  }
  for (int s = 1; s < nsrc; s++) {
    acc = refop(op, acc, load(dt, src[s], i));
    if (dt != STRATA_FLOAT64) acc = (float)acc;
  }
  if (avg_div) acc = dt == STRATA_FLOAT64 ? acc / avg_div : (float)((float)acc / (float)avg_div);
  double want = rnd_narrow(dt, acc), got_v = load(dt, got, i);
  if (isnan(want) && isnan(got_v)) return;
  if (!(want == got_v))
    fail_msg("dtype %s op %s nsrc %d elem %zu: got %.9g want %.9g", strata_dtype_name((strata_dtype_t)dt),
             strata_op_name((strata_op_t)op), nsrc, i, got_v, want);
}

static void test_reduce2_all(void **st) {
  (void)st;
  static const size_t ns[] = {0, 1, 7, 64, 1000, 4099};
  for (int dt = 0; dt < STRATA_NUM_DTYPES; dt++)
    for (int op = 0; op < STRATA_NUM_OPS; op++)
      for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        size_t n = ns[k], es = esz(dt);
        char *a = malloc(n * es + 8), *b = malloc(n * es + 8), *d = malloc(n * es + 8);
        /* unaligned by one byte */
        fill_random(dt, a + 1, n);
        fill_random(dt, b + 1, n);
        strata_kernel_reduce2(d + 1, a + 1, b + 1, n, dt, op);
        const void *src[2] = {a + 1, b + 1};
        for (size_t i = 0; i < n; i++) check_elem(dt, op == STRATA_AVG ? STRATA_SUM : op, d + 1, i, src, 2, 0);
        /* dst aliasing a */
        memcpy(d + 1, a + 1, n * es);
        strata_kernel_reduce2(a + 1, a + 1, b + 1, n, dt, op);
        const void *src2[2] = {d + 1, b + 1};
        for (size_t i = 0; i < n; i++) check_elem(dt, op == STRATA_AVG ? STRATA_SUM : op, a + 1, i, src2, 2, 0);
        /* dst aliasing b (operand order kept: a op b) */
        fill_random(dt, a + 1, n);
        memcpy(d + 1, b + 1, n * es);
        strata_kernel_reduce2(b + 1, a + 1, b + 1, n, dt, op);
        const void *src3[2] = {a + 1, d + 1};
        for (size_t i = 0; i < n; i++) check_elem(dt, op == STRATA_AVG ? STRATA_SUM : op, b + 1, i, src3, 2, 0);
        /* both operands the same buffer */
        strata_kernel_reduce2(d + 1, a + 1, a + 1, n, dt, op);
        const void *src4[2] = {a + 1, a + 1};
        for (size_t i = 0; i < n; i++) check_elem(dt, op == STRATA_AVG ? STRATA_SUM : op, d + 1, i, src4, 2, 0);
        free(a);
        free(b);
        free(d);
      }
}

static void test_reduce_multi(void **st) {
  (void)st;
  for (int dt = 0; dt < STRATA_NUM_DTYPES; dt++)
    for (int op = 0; op < STRATA_NUM_OPS; op++)
      for (int nsrc = 1; nsrc <= 9; nsrc++) {
        size_t n = 2500 + (size_t)nsrc, es = esz(dt);
        char *bufs[10];
        const void *src[10];
        for (int s = 0; s < nsrc; s++) {
          bufs[s] = malloc(n * es + 4);
          fill_random(dt, bufs[s] + 2, n);
          src[s] = bufs[s] + 2;
        }
        char *d = malloc(n * es);
        int avg = op == STRATA_AVG ? nsrc : 0;
        strata_kernel_reduce_multi(d, src, nsrc, n, dt, op, avg);
        for (size_t i = 0; i < n; i++) check_elem(dt, op == STRATA_AVG ? STRATA_SUM : op, d, i, src, nsrc, avg);
        /* dst aliasing a later source (sliced node reductions do this) */
        if (nsrc >= 3) {
          char *copy = malloc(n * es);
          memcpy(copy, bufs[2] + 2, n * es);
          const void *src2[10];
          memcpy(src2, src, sizeof src2);
          src2[2] = copy;
          strata_kernel_reduce_multi(bufs[2] + 2, src, nsrc, n, dt, op, avg);
          for (size_t i = 0; i < n; i++) check_elem(dt, op == STRATA_AVG ? STRATA_SUM : op, bufs[2] + 2, i, src2, nsrc, avg);
          free(copy);
        }
        for (int s = 0; s < nsrc; s++) free(bufs[s]);
        free(d);
      }
}

static void test_avg_integer_division(void **st) {
  (void)st;
  int32_t x[4] = {-7, 7, 10, -1}, y[4];
  strata_kernel_avg(y, x, 4, STRATA_INT32, 2);
  assert_int_equal(y[0], -3); /* C division truncates */
  assert_int_equal(y[1], 3);
  assert_int_equal(y[2], 5);
  assert_int_equal(y[3], 0);
  int8_t a[2] = {-128, 127}, b[2];
  strata_kernel_avg(b, a, 2, STRATA_INT8, 200); /* divisor wider than the type */
  assert_int_equal(b[0], 0);
  assert_int_equal(b[1], 0);
  float f[2] = {1.0f, NAN}, g[2];
  strata_kernel_avg(g, f, 2, STRATA_FLOAT32, 3);
  assert_true(g[0] == 1.0f / 3.0f);
  assert_true(isnan(g[1]));
}

static void test_nan_inf(void **st) {
  (void)st;
  float a[4] = {NAN, 1, INFINITY, -INFINITY}, b[4] = {1, NAN, -INFINITY, -INFINITY}, d[4];
  strata_kernel_reduce2(d, a, b, 4, STRATA_FLOAT32, STRATA_MAX);
  assert_true(isnan(d[0]) && isnan(d[1]) && d[2] == INFINITY && d[3] == -INFINITY);
  strata_kernel_reduce2(d, a, b, 4, STRATA_FLOAT32, STRATA_MIN);
  assert_true(isnan(d[0]) && isnan(d[1]) && d[2] == -INFINITY);
  strata_kernel_reduce2(d, a, b, 4, STRATA_FLOAT32, STRATA_SUM);
  assert_true(isnan(d[0]) && isnan(d[1]) && isnan(d[2]) && d[3] == -INFINITY);
  uint16_t h[2] = {0x7c00, 0x7e00}, k[2] = {0x3c00, 0x3c00}, o[2];
  strata_kernel_reduce2(o, h, k, 2, STRATA_FLOAT16, STRATA_SUM);
  assert_int_equal(o[0], 0x7c00);
  assert_true((o[1] & 0x7c00) == 0x7c00 && (o[1] & 0x3ff));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_narrow_decode_exhaustive), cmocka_unit_test(test_narrow_encode_rounding),
      cmocka_unit_test(test_reduce2_all),              cmocka_unit_test(test_reduce_multi),
      cmocka_unit_test(test_avg_integer_division),     cmocka_unit_test(test_nan_inf),
  };
  return cmocka_run_group_tests_name("kernels", tests, NULL, NULL);
}
