/* The reduction kernel against cudaMemcpy device-to-device, in the same run.
 * Bandwidth is memory traffic per second: a copy moves 2 bytes per byte copied (read +
 * write), a k-input reduction k+1. Usage: kernel_perf [MiB=256] [iters=20] */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>

#include "../kernels/cuda/strata_cuda_kernels.h"
#include "strata.h"

static double time_ms(cudaEvent_t a, cudaEvent_t b) {
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  return ms;
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
  int iters = argc > 2 ? atoi(argv[2]) : 20;
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev < 1) {
    printf("skipped: no GPU\n");
    return 77;
  }
  struct cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  size_t bytes = mib << 20;
  char *a, *b, *c;
  if (cudaMalloc((void **)&a, bytes) || cudaMalloc((void **)&b, bytes) || cudaMalloc((void **)&c, bytes)) {
    printf("cudaMalloc of 3 x %zu MiB failed\n", mib);
    return 1;
  }
  cudaMemset(a, 0, bytes);
  cudaMemset(b, 0, bytes);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  /* copy */
  for (int i = 0; i < 3; i++) cudaMemcpy(c, a, bytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord(e0, 0);
  for (int i = 0; i < iters; i++) cudaMemcpyAsync(c, a, bytes, cudaMemcpyDeviceToDevice, 0);
  cudaEventRecord(e1, 0);
  cudaEventSynchronize(e1);
  double tc = time_ms(e0, e1) / iters / 1e3, copy_bw = 2.0 * (double)bytes / tc / 1e9;
  printf("# device %s, %zu MiB per buffer, %d iterations\n", p.name, mib, iters);
  printf("%-28s %10.1f us  %8.1f GB/s traffic  (%7.1f GB/s copied)\n", "cudaMemcpy D2D", tc * 1e6, copy_bw,
         (double)bytes / tc / 1e9);
  const int dts[] = {STRATA_FLOAT32, STRATA_BFLOAT16, STRATA_FLOAT16, STRATA_FLOAT8_E4M3, STRATA_INT32, STRATA_FLOAT64};
  for (size_t k = 0; k < sizeof dts / sizeof *dts; k++) {
    int dt = dts[k];
    size_t n = bytes / strata_dtype_size((strata_dtype_t)dt);
    strata_dev_task_t t = {{a, b}, {c}, 2, 1, n};
    for (int i = 0; i < 3; i++) strata_cuda_reduce(&t, 1, dt, STRATA_SUM, 0, NULL);
    cudaEventRecord(e0, 0);
    for (int i = 0; i < iters; i++) strata_cuda_reduce(&t, 1, dt, STRATA_SUM, 0, NULL);
    cudaEventRecord(e1, 0);
    cudaEventSynchronize(e1);
    double tr = time_ms(e0, e1) / iters / 1e3, bw = 3.0 * (double)bytes / tr / 1e9;
    char name[64];
    snprintf(name, sizeof name, "reduce 2->1 %s sum", strata_dtype_name((strata_dtype_t)dt));
    printf("%-28s %10.1f us  %8.1f GB/s traffic  %5.1f%% of copy\n", name, tr * 1e6, bw, 100.0 * bw / copy_bw);
  }
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) printf("CUDA error: %s\n", cudaGetErrorString(e));
  return e != cudaSuccess;
}
