/* Per-element arithmetic shared by the CPU kernels and the CUDA kernels
 * (host/device inline functions): float16, bfloat16 and fp8 conversions with
 * round-to-nearest-even, and the reduction ops. Narrow floats accumulate in float32. */
#ifndef STRATA_ELEM_H
#define STRATA_ELEM_H

#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define STRATA_HD static __host__ __device__ __forceinline__
#else
#define STRATA_HD static inline __attribute__((always_inline))
#endif

STRATA_HD uint32_t strata_f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
STRATA_HD float strata_bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* ---- bfloat16 ---- */
STRATA_HD float strata_bf16_to_f32(uint16_t h) { return strata_bits_f32((uint32_t)h << 16); }
STRATA_HD uint16_t strata_f32_to_bf16(float f) {
  uint32_t u = strata_f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

/* ---- IEEE float16 ---- */
STRATA_HD float strata_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return strata_bits_f32(sign | 0x7f800000u | (man << 13));
  if (exp == 0) {
    /* subnormal or zero: man * 2^-24, exact in float32 */
    float v = (float)man * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return strata_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}
STRATA_HD uint16_t strata_f32_to_f16(float f) {
  uint32_t u = strata_f32_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);     /* NaN */
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);    /* rounds to >= 65520: inf */
  if (a < 0x38800000u) {                                      /* below 2^-14: subnormal */
    if (a < 0x33000000u) return sign;                         /* below 2^-25: rounds to 0 */
    uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e;                                /* 14..24 */
    uint32_t v = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (v & 1u))) v++;
    return (uint16_t)(sign | v);
  }
  uint32_t v = ((a >> 13) - (112u << 10));
  uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (v & 1u))) v++;
  return (uint16_t)(sign | v);
}

/* ---- fp8 (OCP): E4M3 (bias 7, no inf, 0x7f NaN, max 448) and E5M2 (bias 15, IEEE-like).
 * Conversion from float32 saturates to the largest finite value (as CUDA's __NV_SATFINITE),
 * NaN stays NaN. ---- */
STRATA_HD float strata_fp8_to_f32(uint8_t v, int e4m3) {
  const int M = e4m3 ? 3 : 2, bias = e4m3 ? 7 : 15;
  uint32_t sign = (uint32_t)(v & 0x80u) << 24;
  uint32_t e = (v & 0x7fu) >> M, m = v & ((1u << M) - 1u);
  if (e4m3) {
    if (e == 15 && m == 7) return strata_bits_f32(0x7fc00000u | sign);
  } else if (e == 31) {
    return strata_bits_f32(sign | (m ? 0x7fc00000u : 0x7f800000u));
  }
  if (e == 0) {
    float x = (float)m * (e4m3 ? 0.001953125f /* 2^-9 */ : 1.52587890625e-05f /* 2^-16 */);
    return sign ? -x : x;
  }
  return strata_bits_f32(sign | ((e - (uint32_t)bias + 127u) << 23) | (m << (23 - M)));
}
STRATA_HD uint8_t strata_f32_to_fp8(float f, int e4m3) {
  const int M = e4m3 ? 3 : 2, bias = e4m3 ? 7 : 15;
  const uint32_t maxcode = e4m3 ? 0x7eu : 0x7bu, nancode = e4m3 ? 0x7fu : 0x7eu;
  uint32_t u = strata_f32_bits(f);
  uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint8_t)(sign | nancode);
  if (a == 0x7f800000u) return (uint8_t)(sign | maxcode);
  int e = (int)(a >> 23) - 127 + bias;
  uint32_t m = a & 0x7fffffu, v;
  if (e >= 1) {
    uint32_t shift = 23u - (uint32_t)M;
    v = ((uint32_t)e << M) | (m >> shift);
    uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (v & 1u))) v++;
  } else {
    uint32_t shift = 23u - (uint32_t)M + (uint32_t)(1 - e);
    if (shift > 24u) return sign;
    m |= 0x800000u;
    v = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (v & 1u))) v++;
  }
  if (v > maxcode) v = maxcode;
  return (uint8_t)(sign | v);
}

/* ---- ops on float32 accumulators ---- */
STRATA_HD float strata_opf(int op, float a, float b) {
  switch (op) {
  case 1: return a * b;                                    /* PROD */
  case 2: return (a > b || a != a) ? a : b;                 /* MAX, NaN propagates */
  case 3: return (a < b || a != a) ? a : b;                 /* MIN, NaN propagates */
  default: return a + b;                                   /* SUM, AVG */
  }
}

/* ---- ops on native types: integers wrap (computed in the unsigned type U), floats follow
 * IEEE with NaN propagating through MAX/MIN. op: 0 SUM (and AVG), 1 PROD, 2 MAX, 3 MIN. ---- */
#define STRATA_NAN_NEVER(x) 0
#define STRATA_NAN_FLOAT(x) ((x) != (x))
#define STRATA_DEF_ELEM_OP(SUF, T, U, ISNAN)                                       \
  STRATA_HD T strata_op_##SUF(int op, T x, T y) {                                  \
    switch (op) {                                                                  \
    case 1: return (T)((U)x * (U)y);                                               \
    case 2: return (x > y || ISNAN(x)) ? x : y;                                    \
    case 3: return (x < y || ISNAN(x)) ? x : y;                                    \
    default: return (T)((U)x + (U)y);                                              \
    }                                                                              \
  }
STRATA_DEF_ELEM_OP(i8, int8_t, uint8_t, STRATA_NAN_NEVER)
STRATA_DEF_ELEM_OP(u8, uint8_t, uint8_t, STRATA_NAN_NEVER)
STRATA_DEF_ELEM_OP(i32, int32_t, uint32_t, STRATA_NAN_NEVER)
STRATA_DEF_ELEM_OP(u32, uint32_t, uint32_t, STRATA_NAN_NEVER)
STRATA_DEF_ELEM_OP(i64, int64_t, uint64_t, STRATA_NAN_NEVER)
STRATA_DEF_ELEM_OP(u64, uint64_t, uint64_t, STRATA_NAN_NEVER)
STRATA_DEF_ELEM_OP(f32, float, float, STRATA_NAN_FLOAT)
STRATA_DEF_ELEM_OP(f64, double, double, STRATA_NAN_FLOAT)

/* AVG's divide, in a type W wide enough for the value and the divisor (C division for
 * integers: truncates toward zero). */
#define STRATA_DEF_ELEM_AVG(SUF, T, W) \
  STRATA_HD T strata_avg_##SUF(T x, int div) { return (T)((W)x / (W)div); }
STRATA_DEF_ELEM_AVG(i8, int8_t, int32_t)
STRATA_DEF_ELEM_AVG(u8, uint8_t, int32_t)
STRATA_DEF_ELEM_AVG(i32, int32_t, int32_t)
STRATA_DEF_ELEM_AVG(u32, uint32_t, uint32_t)
STRATA_DEF_ELEM_AVG(i64, int64_t, int64_t)
STRATA_DEF_ELEM_AVG(u64, uint64_t, uint64_t)
STRATA_DEF_ELEM_AVG(f32, float, float)
STRATA_DEF_ELEM_AVG(f64, double, double)

#endif
