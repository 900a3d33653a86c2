/* CPU reductions. Each (dtype, op) gets its own loop so the compiler vectorises it;
 * target_clones picks AVX-512, AVX2 or baseline code at load time. */
#include <stdint.h>
#include <string.h>

#include "strata.h"
#include "strata_elem.h"
#include "strata_kernels.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(STRATA_NO_CLONES)
#define KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KERNEL
#endif

typedef void (*red2_fn)(void *, const void *, const void *, size_t);

/* Callers' buffers need not be aligned to their element size: every access goes through
 * these 1-byte-aligned types (no undefined behaviour; the vectoriser uses unaligned ops). */
typedef int8_t i8_u __attribute__((aligned(1)));
typedef uint8_t u8_u __attribute__((aligned(1)));
typedef int32_t i32_u __attribute__((aligned(1)));
typedef uint32_t u32_u __attribute__((aligned(1)));
typedef int64_t i64_u __attribute__((aligned(1)));
typedef uint64_t u64_u __attribute__((aligned(1)));
typedef uint16_t u16_u __attribute__((aligned(1)));
typedef float f32_u __attribute__((aligned(1)));
typedef double f64_u __attribute__((aligned(1)));

/* The element ops are strata_elem.h's, shared with the CUDA kernels; op is a constant in each
 * loop, so the switch folds away and the loop vectorises. */
#define DEF_RED2(NAME, T, SUF, OPN)                                                \
  KERNEL static void NAME(void *d_, const void *a_, const void *b_, size_t n) {    \
    T *d = (T *)d_;                                                                \
    const T *a = (const T *)a_, *b = (const T *)b_;                                \
    for (size_t i = 0; i < n; i++) d[i] = strata_op_##SUF(OPN, a[i], b[i]);        \
  }
#define DEF_RED2_ALL(P, T, SUF)                                                    \
  DEF_RED2(P##_sum, T, SUF, 0)                                                     \
  DEF_RED2(P##_prod, T, SUF, 1)                                                    \
  DEF_RED2(P##_max, T, SUF, 2)                                                     \
  DEF_RED2(P##_min, T, SUF, 3)

DEF_RED2_ALL(r_i8, i8_u, i8)
DEF_RED2_ALL(r_u8, u8_u, u8)
DEF_RED2_ALL(r_i32, i32_u, i32)
DEF_RED2_ALL(r_u32, u32_u, u32)
DEF_RED2_ALL(r_i64, i64_u, i64)
DEF_RED2_ALL(r_u64, u64_u, u64)
DEF_RED2_ALL(r_f32, f32_u, f32)
DEF_RED2_ALL(r_f64, f64_u, f64)

/* Narrow floats: widen, combine in float32, round to nearest even on store. */
#define DEF_RED2_NARROW(NAME, T, LOAD, STORE, OPN)                                 \
  KERNEL static void NAME(void *d_, const void *a_, const void *b_, size_t n) {    \
    T *d = (T *)d_;                                                                \
    const T *a = (const T *)a_, *b = (const T *)b_;                                \
    for (size_t i = 0; i < n; i++) d[i] = STORE(strata_opf(OPN, LOAD(a[i]), LOAD(b[i]))); \
  }
#define F8A(x) strata_fp8_to_f32((x), 1)
#define F8B(x) strata_fp8_to_f32((x), 0)
#define S8A(x) strata_f32_to_fp8((x), 1)
#define S8B(x) strata_f32_to_fp8((x), 0)
#define DEF_RED2_NARROW_ALL(P, T, LOAD, STORE)                                     \
  DEF_RED2_NARROW(P##_sum, T, LOAD, STORE, 0)                                      \
  DEF_RED2_NARROW(P##_prod, T, LOAD, STORE, 1)                                     \
  DEF_RED2_NARROW(P##_max, T, LOAD, STORE, 2)                                      \
  DEF_RED2_NARROW(P##_min, T, LOAD, STORE, 3)
DEF_RED2_NARROW_ALL(r_f16, u16_u, strata_f16_to_f32, strata_f32_to_f16)
DEF_RED2_NARROW_ALL(r_bf16, u16_u, strata_bf16_to_f32, strata_f32_to_bf16)
DEF_RED2_NARROW_ALL(r_e4m3, uint8_t, F8A, S8A)
DEF_RED2_NARROW_ALL(r_e5m2, uint8_t, F8B, S8B)

#define ROW(P) {P##_sum, P##_prod, P##_max, P##_min, P##_sum}
static const red2_fn red2_table[STRATA_NUM_DTYPES][STRATA_NUM_OPS] = {
    ROW(r_i8), ROW(r_u8), ROW(r_i32), ROW(r_u32), ROW(r_i64), ROW(r_u64),
    ROW(r_f16), ROW(r_f32), ROW(r_f64), ROW(r_bf16), ROW(r_e4m3), ROW(r_e5m2)};

static const size_t esize[STRATA_NUM_DTYPES] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};

void strata_kernel_reduce2(void *dst, const void *a, const void *b, size_t n, int dtype, int op) {
  if (n) red2_table[dtype][op](dst, a, b, n);
}

static int is_narrow(int dtype) {
  return dtype == STRATA_FLOAT16 || dtype == STRATA_BFLOAT16 || dtype == STRATA_FLOAT8_E4M3 ||
         dtype == STRATA_FLOAT8_E5M2;
}
static float narrow_load(int dtype, const void *p, size_t i) {
  switch (dtype) {
  case STRATA_FLOAT16: return strata_f16_to_f32(((const u16_u *)p)[i]);
  case STRATA_BFLOAT16: return strata_bf16_to_f32(((const u16_u *)p)[i]);
  case STRATA_FLOAT8_E4M3: return strata_fp8_to_f32(((const uint8_t *)p)[i], 1);
  default: return strata_fp8_to_f32(((const uint8_t *)p)[i], 0);
  }
}
static void narrow_store(int dtype, void *p, size_t i, float v) {
  switch (dtype) {
  case STRATA_FLOAT16: ((u16_u *)p)[i] = strata_f32_to_f16(v); break;
  case STRATA_BFLOAT16: ((u16_u *)p)[i] = strata_f32_to_bf16(v); break;
  case STRATA_FLOAT8_E4M3: ((uint8_t *)p)[i] = strata_f32_to_fp8(v, 1); break;
  default: ((uint8_t *)p)[i] = strata_f32_to_fp8(v, 0); break;
  }
}

/* Widen a block of narrow floats into float32 (one loop per dtype so it vectorises). */
KERNEL static void widen(float *acc, const void *src, size_t n, int dtype) {
  switch (dtype) {
  case STRATA_FLOAT16: for (size_t i = 0; i < n; i++) acc[i] = strata_f16_to_f32(((const u16_u *)src)[i]); break;
  case STRATA_BFLOAT16: for (size_t i = 0; i < n; i++) acc[i] = strata_bf16_to_f32(((const u16_u *)src)[i]); break;
  default: for (size_t i = 0; i < n; i++) acc[i] = narrow_load(dtype, src, i); break;
  }
}
KERNEL static void acc_narrow(float *acc, const void *src, size_t n, int dtype, int op) {
  switch (dtype) {
  case STRATA_FLOAT16:
    for (size_t i = 0; i < n; i++) acc[i] = strata_opf(op, acc[i], strata_f16_to_f32(((const u16_u *)src)[i]));
    break;
  case STRATA_BFLOAT16:
    for (size_t i = 0; i < n; i++) acc[i] = strata_opf(op, acc[i], strata_bf16_to_f32(((const u16_u *)src)[i]));
    break;
  default:
    for (size_t i = 0; i < n; i++) acc[i] = strata_opf(op, acc[i], narrow_load(dtype, src, i));
    break;
  }
}

#define MULTI_BLOCK 1024
void strata_kernel_reduce_multi(void *dst, const void *const *src, int nsrc, size_t n, int dtype,
                                int op, int avg_div) {
  if (!n) return;
  if (nsrc == 1 && !avg_div) {
    if (dst != src[0]) memmove(dst, src[0], n * esize[dtype]);
    return;
  }
  if (is_narrow(dtype)) {
    float acc[MULTI_BLOCK];
    size_t es = esize[dtype];
    int opf = op == STRATA_AVG ? STRATA_SUM : op;
    for (size_t base = 0; base < n; base += MULTI_BLOCK) {
      size_t m = n - base < MULTI_BLOCK ? n - base : MULTI_BLOCK;
      widen(acc, (const char *)src[0] + base * es, m, dtype);
      for (int s = 1; s < nsrc; s++) acc_narrow(acc, (const char *)src[s] + base * es, m, dtype, opf);
      if (avg_div)
        for (size_t i = 0; i < m; i++) acc[i] /= (float)avg_div;
      for (size_t i = 0; i < m; i++) narrow_store(dtype, (char *)dst + base * es, i, acc[i]);
    }
    return;
  }
  /* Native types: block-wise so the partial result stays in L1 across sources. When dst is
   * one of src[2..], partial results would overwrite it before it is read: go through a
   * local block instead. */
  size_t es = esize[dtype];
  size_t blk = 8192 / es;
  red2_fn f = red2_table[dtype][op];
  int alias = 0;
  for (int s = 2; s < nsrc; s++) alias |= src[s] == dst;
  _Alignas(64) char tmp[8192];
  for (size_t base = 0; base < n; base += blk) {
    size_t m = n - base < blk ? n - base : blk;
    char *d = alias ? tmp : (char *)dst + base * es;
    if (nsrc == 1) memmove(d, (const char *)src[0] + base * es, m * es);
    else f(d, (const char *)src[0] + base * es, (const char *)src[1] + base * es, m);
    for (int s = 2; s < nsrc; s++) f(d, d, (const char *)src[s] + base * es, m);
    if (avg_div) strata_kernel_avg(d, d, m, dtype, avg_div);
    if (alias) memcpy((char *)dst + base * es, tmp, m * es);
  }
}

#define DEF_AVG(NAME, T, SUF)                                                     \
  KERNEL static void NAME(void *d_, const void *s_, size_t n, int div) {          \
    T *d = (T *)d_;                                                               \
    const T *s = (const T *)s_;                                                   \
    for (size_t i = 0; i < n; i++) d[i] = strata_avg_##SUF(s[i], div);            \
  }
DEF_AVG(avg_i8, i8_u, i8)
DEF_AVG(avg_u8, u8_u, u8)
DEF_AVG(avg_i32, i32_u, i32)
DEF_AVG(avg_u32, u32_u, u32)
DEF_AVG(avg_i64, i64_u, i64)
DEF_AVG(avg_u64, u64_u, u64)
DEF_AVG(avg_f32, f32_u, f32)
DEF_AVG(avg_f64, f64_u, f64)
void strata_kernel_avg(void *dst, const void *src, size_t n, int dtype, int div) {
  if (!n) return;
  switch (dtype) {
  case STRATA_INT8: avg_i8(dst, src, n, div); break;
  case STRATA_UINT8: avg_u8(dst, src, n, div); break;
  case STRATA_INT32: avg_i32(dst, src, n, div); break;
  case STRATA_UINT32: avg_u32(dst, src, n, div); break;
  case STRATA_INT64: avg_i64(dst, src, n, div); break;
  case STRATA_UINT64: avg_u64(dst, src, n, div); break;
  case STRATA_FLOAT32: avg_f32(dst, src, n, div); break;
  case STRATA_FLOAT64: avg_f64(dst, src, n, div); break;
  default:
    for (size_t i = 0; i < n; i++) narrow_store(dtype, dst, i, narrow_load(dtype, src, i) / (float)div);
    break;
  }
}

void strata_kernel_copy_stream(void *dst, const void *src, size_t bytes) {
#if defined(__x86_64__)
  char *d = dst;
  const char *s = src;
  size_t i = 0;
  if (((uintptr_t)d & 15) == 0) {
    for (; i + 64 <= bytes; i += 64) {
      __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
      __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
      __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
      __m128i e = _mm_loadu_si128((const __m128i *)(s + i + 48));
      _mm_stream_si128((__m128i *)(d + i), a);
      _mm_stream_si128((__m128i *)(d + i + 16), b);
      _mm_stream_si128((__m128i *)(d + i + 32), c);
      _mm_stream_si128((__m128i *)(d + i + 48), e);
    }
    _mm_sfence();
  }
  if (i < bytes) memcpy(d + i, s + i, bytes - i);
#else
  memcpy(dst, src, bytes);
#endif
}
