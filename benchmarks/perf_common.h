/* nccl-tests-compatible benchmark driver shared by all_reduce_perf and friends.
 * -M 1 also times the MPI library's own collective on the same buffers, alternating with
 * Strata size by size, and prints mpi_time(us) and speedup (= MPI time / Strata time). */
#ifndef STRATA_PERF_COMMON_H
#define STRATA_PERF_COMMON_H

#include <mpi.h>
#include <stddef.h>

#include "strata.h"

typedef struct perf_coll {
  const char *name;     /* "allreduce" (STRATA_ALGO key) */
  int reducing, rooted;
  double busbw_factor_num; /* busbw = algbw * factor(nranks) */
  /* element counts for a "size" (nccl-tests semantics) */
  size_t (*send_count)(size_t count, int nranks);
  size_t (*recv_count)(size_t count, int nranks);
  size_t (*count_of_size)(size_t bytes, size_t es, int nranks); /* per-call count argument */
  double (*busbw_factor)(int nranks);
  strata_result_t (*run)(void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, int root,
                         strata_comm_t c, int inplace, int rank, size_t es);
  int (*run_mpi)(void *s, void *r, size_t n, MPI_Datatype d, MPI_Op op, int root, MPI_Comm c, int inplace,
                 int rank, size_t es);
  /* expected receive buffer for the check */
  void (*expect)(void *out, size_t n, int dt, int op, int root, int rank, int nranks);
  void (*fill)(void *send, void *recv, size_t n, int dt, int op, int root, int rank, int nranks, int inplace,
               size_t es);
} perf_coll_t;

int perf_main(int argc, char **argv, const perf_coll_t *coll);

#endif
