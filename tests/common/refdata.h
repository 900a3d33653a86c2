/* Test data and reference results shared by the in-process and multi-process suites.
 * Inputs are integer-valued and chosen so every partial result is exactly representable
 * in the dtype (fp8 included), so results compare bit for bit whatever the algorithm. */
#ifndef STRATA_REFDATA_H
#define STRATA_REFDATA_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../../kernels/strata_elem.h"
#include "../../runtime/core/coll.h"
#include "strata.h"

static inline int ref_is_float(int dt) {
  return dt == STRATA_FLOAT16 || dt == STRATA_FLOAT32 || dt == STRATA_FLOAT64 ||
         dt == STRATA_BFLOAT16 || dt == STRATA_FLOAT8_E4M3 || dt == STRATA_FLOAT8_E5M2;
}
static inline int ref_is_unsigned(int dt) {
  return dt == STRATA_UINT8 || dt == STRATA_UINT32 || dt == STRATA_UINT64;
}

/* The value rank r contributes at element i. */
static inline double ref_input(int dt, int op, int r, size_t i) {
  unsigned h = (unsigned)(r * 131 + (int)(i % 1000003) * 7 + 3);
  int narrow = dt == STRATA_FLOAT8_E4M3 || dt == STRATA_FLOAT8_E5M2;
  switch (op) {
  case STRATA_PROD: /* +-1, and a 2 on at most a few ranks per element */
    if (((unsigned)r + (unsigned)i) % 8 == 0) return 2;
    return (ref_is_unsigned(dt) || (h % 3)) ? 1 : -1;
  case STRATA_MAX:
  case STRATA_MIN:
    if (narrow) return (double)(h % 15) - (ref_is_unsigned(dt) ? 0 : 7);
    return (double)(h % 97) - (ref_is_unsigned(dt) ? 0 : 48);
  default: /* SUM, AVG */
    if (narrow || dt == STRATA_INT8 || dt == STRATA_UINT8 || dt == STRATA_BFLOAT16)
      return (((unsigned)r * 3u + (unsigned)i) % 16u == 0) ? 1 : 0;
    return (double)(h % 11) - (ref_is_unsigned(dt) ? 0 : 5);
  }
}

/* Large-count tests: an int8 value that depends on all 64 bits of the index, so a piece
 * landing 2^31 or 2^32 bytes off shows. */
static inline int8_t ref_big_val(int r, size_t i) {
  uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull + (uint64_t)r * 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  x *= 0x94d049bb133111ebull;
  return (int8_t)(x >> 56);
}

/* buffers may be unaligned on purpose: store through memcpy */
#define REF_PUT(T, p, i, v)                                                     \
  do {                                                                          \
    T x_ = (v);                                                                 \
    memcpy((char *)(p) + (i) * sizeof(T), &x_, sizeof(T));                      \
  } while (0)
static inline void ref_store(int dt, void *p, size_t i, double v) {
  switch (dt) {
  case STRATA_INT8: REF_PUT(int8_t, p, i, (int8_t)v); break;
  case STRATA_UINT8: REF_PUT(uint8_t, p, i, (uint8_t)v); break;
  case STRATA_INT32: REF_PUT(int32_t, p, i, (int32_t)v); break;
  case STRATA_UINT32: REF_PUT(uint32_t, p, i, (uint32_t)v); break;
  case STRATA_INT64: REF_PUT(int64_t, p, i, (int64_t)v); break;
  case STRATA_UINT64: REF_PUT(uint64_t, p, i, (uint64_t)v); break;
  case STRATA_FLOAT16: REF_PUT(uint16_t, p, i, strata_f32_to_f16((float)v)); break;
  case STRATA_FLOAT32: REF_PUT(float, p, i, (float)v); break;
  case STRATA_FLOAT64: REF_PUT(double, p, i, v); break;
  case STRATA_BFLOAT16: REF_PUT(uint16_t, p, i, strata_f32_to_bf16((float)v)); break;
  case STRATA_FLOAT8_E4M3: REF_PUT(uint8_t, p, i, strata_f32_to_fp8((float)v, 1)); break;
  default: REF_PUT(uint8_t, p, i, strata_f32_to_fp8((float)v, 0)); break;
  }
}

/* Fill count elements of rank r's input. */
static inline void ref_fill(int dt, int op, int r, void *p, size_t count, size_t first_index) {
  for (size_t i = 0; i < count; i++) ref_store(dt, p, i, ref_input(dt, op, r, first_index + i));
}

/* The reduction over ranks 0..P-1 at element i, stored into p[j]. Integer results wrap as
 * the dtype does; AVG divides as the library promises. */
static inline void ref_reduce_store(int dt, int op, int P, size_t i, void *p, size_t j) {
  if (!ref_is_float(dt)) {
    uint64_t acc = 0;
    int64_t mx = 0;
    for (int r = 0; r < P; r++) {
      double x = ref_input(dt, op, r, i);
      int64_t xi = (int64_t)x;
      if (r == 0) { acc = (uint64_t)xi; mx = xi; continue; }
      switch (op) {
      case STRATA_PROD: acc *= (uint64_t)xi; break;
      case STRATA_MAX: if (xi > mx) mx = xi; break;
      case STRATA_MIN: if (xi < mx) mx = xi; break;
      default: acc += (uint64_t)xi; break;
      }
    }
    if (op == STRATA_MAX || op == STRATA_MIN) acc = (uint64_t)mx;
    /* wrap to the dtype's width, then divide in the dtype for AVG */
    switch (dt) {
    case STRATA_INT8: { int8_t v = (int8_t)(uint8_t)acc; if (op == STRATA_AVG) v = (int8_t)(v / P); REF_PUT(int8_t, p, j, v); break; }
    case STRATA_UINT8: { uint8_t v = (uint8_t)acc; if (op == STRATA_AVG) v = (uint8_t)(v / P); REF_PUT(uint8_t, p, j, v); break; }
    case STRATA_INT32: { int32_t v = (int32_t)(uint32_t)acc; if (op == STRATA_AVG) v = v / P; REF_PUT(int32_t, p, j, v); break; }
    case STRATA_UINT32: { uint32_t v = (uint32_t)acc; if (op == STRATA_AVG) v = v / (uint32_t)P; REF_PUT(uint32_t, p, j, v); break; }
    case STRATA_INT64: { int64_t v = (int64_t)acc; if (op == STRATA_AVG) v = v / P; REF_PUT(int64_t, p, j, v); break; }
    default: { uint64_t v = acc; if (op == STRATA_AVG) v = v / (uint64_t)P; REF_PUT(uint64_t, p, j, v); break; }
    }
    return;
  }
  double acc = 0;
  for (int r = 0; r < P; r++) {
    double x = ref_input(dt, op, r, i);
    if (r == 0) { acc = x; continue; }
    switch (op) {
    case STRATA_PROD: acc *= x; break;
    case STRATA_MAX: if (x > acc) acc = x; break;
    case STRATA_MIN: if (x < acc) acc = x; break;
    default: acc += x; break;
    }
  }
  if (op == STRATA_AVG) {
    if (dt == STRATA_FLOAT64) acc = acc / P;
    else acc = (double)((float)acc / (float)P);
  }
  ref_store(dt, p, j, acc);
}

/* What rank r's receive buffer must hold after collective `coll` on P ranks (count as the
 * API takes it), when every rank q contributed ref_fill(dt, op or SUM, q, ...). */
static inline void ref_expected(int coll, int dt, int op, int P, int r, int root, size_t n, char *out) {
  const size_t es = strata_dtype_size((strata_dtype_t)dt);
  switch (coll) {
  case STRATA_COLL_ALLREDUCE:
  case STRATA_COLL_REDUCE:
    for (size_t i = 0; i < n; i++) ref_reduce_store(dt, op, P, i, out, i);
    break;
  case STRATA_COLL_REDUCE_SCATTER:
    for (size_t i = 0; i < n; i++) ref_reduce_store(dt, op, P, (size_t)r * n + i, out, i);
    break;
  case STRATA_COLL_ALLGATHER:
    for (int q = 0; q < P; q++) ref_fill(dt, STRATA_SUM, q, out + (size_t)q * n * es, n, 0);
    break;
  case STRATA_COLL_BROADCAST: ref_fill(dt, STRATA_SUM, root, out, n, 0); break;
  case STRATA_COLL_ALLTOALL: /* block q of rank r = block r of rank q's sendbuf */
    for (int q = 0; q < P; q++) ref_fill(dt, STRATA_SUM, q, out + (size_t)q * n * es, n, (size_t)r * n);
    break;
  default: break;
  }
}

#endif
