/* CUDA reduction and copy kernels for every dtype x op, in CUDA C (macros, no templates).
 *  - One pass over k sources into m destinations: each source read once, each destination
 *    written once (a reduce-scatter slice written straight into every peer's output).
 *  - 16-byte vector loads and stores where every pointer of a task shares its alignment
 *    (after a short scalar head), a scalar tail; grid-stride with UNROLL vectors in flight
 *    per thread so enough loads are outstanding to saturate HBM.
 *  - The per-element arithmetic is strata_elem.h's, the same functions the CPU kernels use. */
#include <cuda_runtime.h>
#include <stdint.h>

#include "../strata_elem.h"
#include "strata_cuda_kernels.h"

#define THREADS 512

typedef struct batch {
  strata_dev_task_t t[STRATA_DEV_MAX_TASKS];
} batch_t;

typedef void (*red_kernel_t)(batch_t, int);

/* elements before the first 16-byte boundary when every pointer of the task has the same
 * offset within 16 bytes (and it is a whole number of elements); -1 when they differ */
static __device__ __forceinline__ long long head_elems(const strata_dev_task_t *t, int es) {
  uintptr_t mis = (uintptr_t)t->src[0] & 15u;
  for (int s = 1; s < t->nsrc; s++)
    if (((uintptr_t)t->src[s] & 15u) != mis) return -1;
  for (int d = 0; d < t->ndst; d++)
    if (((uintptr_t)t->dst[d] & 15u) != mis) return -1;
  if (mis % (uintptr_t)es) return -1;
  long long h = mis ? (long long)((16u - mis) / (uintptr_t)es) : 0;
  return h > (long long)t->count ? (long long)t->count : h;
}

/* Native types: T is the element, SUF names its strata_elem.h ops, OPN is the op. */
#define DEF_NATIVE(SUF, T, OPN, UNROLL)                                                        \
  __global__ void __launch_bounds__(THREADS) red_##SUF##_##OPN(batch_t b, int avg_div) {       \
    const strata_dev_task_t *t = &b.t[blockIdx.y];                                             \
    enum { V = 16 / sizeof(T) };                                                               \
    typedef union { uint4 v; T e[V]; } vec_t;                                                  \
    const size_t n = t->count, tid = (size_t)blockIdx.x * blockDim.x + threadIdx.x;            \
    const size_t nth = (size_t)gridDim.x * blockDim.x;                                         \
    const int ns = t->nsrc, nd = t->ndst;                                                      \
    long long h = head_elems(t, (int)sizeof(T));                                               \
    size_t lo = 0, hi = 0; /* [lo, hi) goes in vectors */                                      \
    if (h >= 0) {                                                                              \
      lo = (size_t)h;                                                                          \
      hi = lo + (n - lo) / V * V;                                                              \
      const size_t nv = (hi - lo) / V;                                                         \
      for (size_t base = tid; base < nv; base += nth * UNROLL) {                               \
        vec_t acc[UNROLL], x[UNROLL];                                                          \
        _Pragma("unroll") for (int u = 0; u < UNROLL; u++) {                                   \
          size_t i = base + (size_t)u * nth;                                                   \
          if (i < nv) acc[u].v = ((const uint4 *)((const T *)t->src[0] + lo))[i];              \
        }                                                                                      \
        for (int s = 1; s < ns; s++) {                                                         \
          _Pragma("unroll") for (int u = 0; u < UNROLL; u++) {                                 \
            size_t i = base + (size_t)u * nth;                                                 \
            if (i < nv) x[u].v = ((const uint4 *)((const T *)t->src[s] + lo))[i];              \
          }                                                                                    \
          _Pragma("unroll") for (int u = 0; u < UNROLL; u++)                                   \
            _Pragma("unroll") for (int j = 0; j < V; j++)                                      \
              acc[u].e[j] = strata_op_##SUF(OPN, acc[u].e[j], x[u].e[j]);                      \
        }                                                                                      \
        if (avg_div)                                                                           \
          _Pragma("unroll") for (int u = 0; u < UNROLL; u++)                                   \
            _Pragma("unroll") for (int j = 0; j < V; j++)                                      \
              acc[u].e[j] = strata_avg_##SUF(acc[u].e[j], avg_div);                            \
        for (int d = 0; d < nd; d++)                                                           \
          _Pragma("unroll") for (int u = 0; u < UNROLL; u++) {                                 \
            size_t i = base + (size_t)u * nth;                                                 \
            if (i < nv) ((uint4 *)((T *)t->dst[d] + lo))[i] = acc[u].v;                        \
          }                                                                                    \
      }                                                                                        \
    }                                                                                          \
    /* scalar: the head [0, lo) and the tail [hi, n), or everything when misaligned */         \
    const size_t nsc = lo + (n - hi);                                                          \
    for (size_t k = tid; k < nsc; k += nth) {                                                  \
      size_t i = k < lo ? k : hi + (k - lo);                                                   \
      T a = ((const T *)t->src[0])[i];                                                         \
      for (int s = 1; s < ns; s++) a = strata_op_##SUF(OPN, a, ((const T *)t->src[s])[i]);     \
      if (avg_div) a = strata_avg_##SUF(a, avg_div);                                           \
      for (int d = 0; d < nd; d++) ((T *)t->dst[d])[i] = a;                                    \
    }                                                                                          \
  }

/* Narrow floats: widen to float32, combine, round once on store. */
#define DEF_NARROW(SUF, T, LOAD, STORE, OPN, UNROLL)                                           \
  __global__ void __launch_bounds__(THREADS) red_##SUF##_##OPN(batch_t b, int avg_div) {       \
    const strata_dev_task_t *t = &b.t[blockIdx.y];                                             \
    enum { V = 16 / sizeof(T) };                                                               \
    typedef union { uint4 v; T e[V]; } vec_t;                                                  \
    const size_t n = t->count, tid = (size_t)blockIdx.x * blockDim.x + threadIdx.x;            \
    const size_t nth = (size_t)gridDim.x * blockDim.x;                                         \
    const int ns = t->nsrc, nd = t->ndst;                                                      \
    const float div = (float)avg_div;                                                          \
    long long h = head_elems(t, (int)sizeof(T));                                               \
    size_t lo = 0, hi = 0;                                                                     \
    if (h >= 0) {                                                                              \
      lo = (size_t)h;                                                                          \
      hi = lo + (n - lo) / V * V;                                                              \
      const size_t nv = (hi - lo) / V;                                                         \
      for (size_t base = tid; base < nv; base += nth * UNROLL) {                               \
        vec_t x[UNROLL];                                                                       \
        float acc[UNROLL][V];                                                                  \
        _Pragma("unroll") for (int u = 0; u < UNROLL; u++) {                                   \
          size_t i = base + (size_t)u * nth;                                                   \
          if (i < nv) x[u].v = ((const uint4 *)((const T *)t->src[0] + lo))[i];                \
          _Pragma("unroll") for (int j = 0; j < V; j++) acc[u][j] = LOAD(x[u].e[j]);           \
        }                                                                                      \
        for (int s = 1; s < ns; s++) {                                                         \
          _Pragma("unroll") for (int u = 0; u < UNROLL; u++) {                                 \
            size_t i = base + (size_t)u * nth;                                                 \
            if (i < nv) x[u].v = ((const uint4 *)((const T *)t->src[s] + lo))[i];              \
          }                                                                                    \
          _Pragma("unroll") for (int u = 0; u < UNROLL; u++)                                   \
            _Pragma("unroll") for (int j = 0; j < V; j++)                                      \
              acc[u][j] = strata_opf(OPN, acc[u][j], LOAD(x[u].e[j]));                         \
        }                                                                                      \
        _Pragma("unroll") for (int u = 0; u < UNROLL; u++)                                     \
          _Pragma("unroll") for (int j = 0; j < V; j++)                                        \
            x[u].e[j] = STORE(avg_div ? acc[u][j] / div : acc[u][j]);                          \
        for (int d = 0; d < nd; d++)                                                           \
          _Pragma("unroll") for (int u = 0; u < UNROLL; u++) {                                 \
            size_t i = base + (size_t)u * nth;                                                 \
            if (i < nv) ((uint4 *)((T *)t->dst[d] + lo))[i] = x[u].v;                          \
          }                                                                                    \
      }                                                                                        \
    }                                                                                          \
    const size_t nsc = lo + (n - hi);                                                          \
    for (size_t k = tid; k < nsc; k += nth) {                                                  \
      size_t i = k < lo ? k : hi + (k - lo);                                                   \
      float a = LOAD(((const T *)t->src[0])[i]);                                               \
      for (int s = 1; s < ns; s++) a = strata_opf(OPN, a, LOAD(((const T *)t->src[s])[i]));    \
      if (avg_div) a /= div;                                                                   \
      T o = STORE(a);                                                                          \
      for (int d = 0; d < nd; d++) ((T *)t->dst[d])[i] = o;                                    \
    }                                                                                          \
  }

#define F8A_L(x) strata_fp8_to_f32((x), 1)
#define F8B_L(x) strata_fp8_to_f32((x), 0)
#define F8A_S(x) strata_f32_to_fp8((x), 1)
#define F8B_S(x) strata_f32_to_fp8((x), 0)

#define NATIVE_ALL(SUF, T) \
  DEF_NATIVE(SUF, T, 0, 4) DEF_NATIVE(SUF, T, 1, 4) DEF_NATIVE(SUF, T, 2, 4) DEF_NATIVE(SUF, T, 3, 4)
#define NARROW_ALL(SUF, T, L, S, U) \
  DEF_NARROW(SUF, T, L, S, 0, U) DEF_NARROW(SUF, T, L, S, 1, U) DEF_NARROW(SUF, T, L, S, 2, U) DEF_NARROW(SUF, T, L, S, 3, U)

NATIVE_ALL(i8, int8_t)
NATIVE_ALL(u8, uint8_t)
NATIVE_ALL(i32, int32_t)
NATIVE_ALL(u32, uint32_t)
NATIVE_ALL(i64, int64_t)
NATIVE_ALL(u64, uint64_t)
NATIVE_ALL(f32, float)
NATIVE_ALL(f64, double)
NARROW_ALL(f16, uint16_t, strata_f16_to_f32, strata_f32_to_f16, 4)
NARROW_ALL(bf16, uint16_t, strata_bf16_to_f32, strata_f32_to_bf16, 4)
NARROW_ALL(e4m3, uint8_t, F8A_L, F8A_S, 2)
NARROW_ALL(e5m2, uint8_t, F8B_L, F8B_S, 2)

/* [dtype][op], dtypes in strata_dtype_t order; AVG runs SUM with avg_div */
#define ROW(SUF) {red_##SUF##_0, red_##SUF##_1, red_##SUF##_2, red_##SUF##_3}
static const red_kernel_t table[12][4] = {ROW(i8),  ROW(u8),  ROW(i32), ROW(u32), ROW(i64),  ROW(u64),
                                          ROW(f16), ROW(f32), ROW(f64), ROW(bf16), ROW(e4m3), ROW(e5m2)};
static const int esize[12] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};

static int sm_count(void) {
  static int cached[64];
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0) return 80;
  if (dev < 64 && cached[dev]) return cached[dev];
  int n = 0;
  if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) n = 80;
  if (dev < 64) cached[dev] = n;
  return n;
}

static int launch(red_kernel_t k, const strata_dev_task_t *tasks, int ntasks, int es, int avg_div,
                  void *stream) {
  for (int off = 0; off < ntasks; off += STRATA_DEV_MAX_TASKS) {
    int m = ntasks - off < STRATA_DEV_MAX_TASKS ? ntasks - off : STRATA_DEV_MAX_TASKS;
    batch_t b;
    size_t most = 0;
    for (int i = 0; i < m; i++) {
      b.t[i] = tasks[off + i];
      if (tasks[off + i].count > most) most = tasks[off + i].count;
    }
    if (!most) continue;
    /* about 4 vectors per thread per pass; at most 4 blocks per SM over all the tasks */
    size_t vecs = most * (size_t)es / 16 + 1;
    size_t want = (vecs + (size_t)THREADS * 4 - 1) / ((size_t)THREADS * 4);
    size_t cap = (size_t)sm_count() * 4 / (size_t)m;
    if (cap < 1) cap = 1;
    dim3 grid((unsigned)(want < cap ? want : cap), (unsigned)m);
    k<<<grid, THREADS, 0, (cudaStream_t)stream>>>(b, avg_div);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return (int)e;
  }
  return 0;
}

extern "C" int strata_cuda_reduce(const strata_dev_task_t *tasks, int ntasks, int dtype, int op,
                                  int avg_div, void *stream) {
  if (dtype < 0 || dtype >= 12 || op < 0 || op > 4) return (int)cudaErrorInvalidValue;
  return launch(table[dtype][op == 4 ? 0 : op], tasks, ntasks, esize[dtype], avg_div, stream);
}

extern "C" int strata_cuda_copy(const strata_dev_task_t *tasks, int ntasks, void *stream) {
  return launch(red_u8_0, tasks, ntasks, 1, 0, stream);
}

static __device__ __forceinline__ uint64_t global_ns(void) {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void wait_flag_kernel(volatile uint32_t *flag, uint32_t value, uint64_t timeout_ns,
                                 volatile uint32_t *timed_out) {
  uint64_t t0 = global_ns();
  while ((int32_t)(*flag - value) < 0) {
    if (global_ns() - t0 > timeout_ns) {
      *timed_out = 1;
      break;
    }
    __nanosleep(2000);
  }
  __threadfence_system();
}

extern "C" int strata_cuda_wait_flag(volatile uint32_t *flag, uint32_t value, uint64_t timeout_ns,
                                     volatile uint32_t *timed_out, void *stream) {
  wait_flag_kernel<<<1, 1, 0, (cudaStream_t)stream>>>(flag, value, timeout_ns, timed_out);
  return (int)cudaGetLastError();
}
