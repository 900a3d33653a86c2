/* reduce_scatter_perf: nccl-tests-compatible reduce_scatter benchmark (see perf_common.c). */
#include "perf_colls.h"

int main(int argc, char **argv) { return perf_main(argc, argv, &perf_reduce_scatter); }
