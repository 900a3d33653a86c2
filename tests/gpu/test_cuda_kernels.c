/* The CUDA reduction and copy kernels against the CPU kernels (the same element
 * arithmetic): every dtype x op, 1-8 sources, 1-3 destinations, in place, aligned and
 * misaligned, sizes 0..1M+5, bit for bit. Prints "skipped: no GPU" (77) without a GPU. */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernels/cuda/strata_cuda_kernels.h"
#include "../common/refdata.h"
#include "strata.h"
#include "strata_kernels.h"

static int fails, checks;

static void one(int dt, int op, int nsrc, int ndst, size_t n, size_t mis, int inplace) {
  size_t es = strata_dtype_size((strata_dtype_t)dt), bytes = n * es + 64;
  char *h[8], *d[8], *o[3], *ho = malloc(bytes), *want = malloc(bytes);
  const void *srcs[8];
  strata_dev_task_t t;
  memset(&t, 0, sizeof t);
  for (int s = 0; s < nsrc; s++) {
    h[s] = malloc(bytes);
    memset(h[s], 0x11 * s, bytes);
    ref_fill(dt, op, s, h[s] + mis * es, n, 0);
    cudaMalloc((void **)&d[s], bytes);
    cudaMemcpy(d[s], h[s], bytes, cudaMemcpyHostToDevice);
    t.src[s] = d[s] + mis * es;
    srcs[s] = h[s] + mis * es;
  }
  for (int k = 0; k < ndst; k++) {
    if (inplace && k == 0) o[k] = d[0];
    else { cudaMalloc((void **)&o[k], bytes); cudaMemset(o[k], 0xEE, bytes); }
    t.dst[k] = o[k] + (k == 1 ? 0 : mis * es); /* destination 1 misaligned against the sources */
  }
  t.nsrc = nsrc;
  t.ndst = ndst;
  t.count = n;
  int avg = op == STRATA_AVG ? nsrc : 0;
  strata_kernel_reduce_multi(want, srcs, nsrc, n, dt, op, avg);
  int rc = strata_cuda_reduce(&t, 1, dt, op, avg, NULL);
  cudaError_t e = cudaDeviceSynchronize();
  for (int k = 0; k < ndst; k++) {
    checks++;
    cudaMemcpy(ho, (char *)t.dst[k], n * es, cudaMemcpyDeviceToHost);
    if (rc || e != cudaSuccess || memcmp(ho, want, n * es)) {
      if (++fails < 20)
        printf("FAIL %s %s nsrc=%d ndst=%d n=%zu mis=%zu inplace=%d dst %d: %s\n", strata_dtype_name(dt),
               strata_op_name(op), nsrc, ndst, n, mis, inplace, k, cudaGetErrorString(e));
    }
  }
  for (int s = 0; s < nsrc; s++) { cudaFree(d[s]); free(h[s]); }
  for (int k = (inplace ? 1 : 0); k < ndst; k++) cudaFree(o[k]);
  free(ho);
  free(want);
}

int main(void) {
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev < 1) {
    printf("skipped: no GPU\n");
    return 77;
  }
  static const size_t sizes[] = {0, 1, 7, 33, 4099, (1u << 20) + 5};
  static const int ns[] = {1, 2, 3, 8};
  for (int dt = 0; dt < STRATA_NUM_DTYPES; dt++)
    for (int op = 0; op < STRATA_NUM_OPS; op++)
      for (int si = 0; si < 6; si++)
        for (int k = 0; k < 4; k++) {
          int big = si == 5;
          if (big && k != 1) continue;
          one(dt, op, ns[k], 1 + (k % 3), sizes[si], 0, 0);
          one(dt, op, ns[k], 1, sizes[si], 3, k == 2);
        }
  /* copies: bytes, several destinations */
  char *a, *b, *c, hb[10000], hc[10000];
  cudaMalloc((void **)&a, 10000); cudaMalloc((void **)&b, 10000); cudaMalloc((void **)&c, 10000);
  for (int i = 0; i < 10000; i++) hb[i] = (char)(i * 7);
  cudaMemcpy(a, hb, 10000, cudaMemcpyHostToDevice);
  strata_dev_task_t t = {{a + 5}, {b + 5, c + 9}, 1, 2, 9000};
  strata_cuda_copy(&t, 1, NULL);
  cudaMemcpy(hc, b + 5, 9000, cudaMemcpyDeviceToHost);
  checks++;
  if (memcmp(hc, hb + 5, 9000)) { fails++; printf("FAIL copy to destination 0\n"); }
  cudaMemcpy(hc, c + 9, 9000, cudaMemcpyDeviceToHost);
  checks++;
  if (memcmp(hc, hb + 5, 9000)) { fails++; printf("FAIL copy to destination 1\n"); }
  printf("test_cuda_kernels: %d checks, %d failures\n", checks, fails);
  return fails ? 1 : 0;
}
