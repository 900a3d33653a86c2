/* The six collectives as the benchmark driver sees them: sizes, busbw factors, how to call
 * Strata and MPI, and what a correct result is. */
#include <string.h>

#include "../tests/common/refdata.h"
#include "perf_colls.h"

#define INPLACE(f) ((f)&1)
#define NONBLOCKING(f) ((f)&2)

static size_t same(size_t n, int P) { (void)P; return n; }
static size_t times_p(size_t n, int P) { return n * (size_t)P; }
static size_t cnt_plain(size_t b, size_t es, int P) { (void)P; return b / es; }
static size_t cnt_per_rank(size_t b, size_t es, int P) { return b / es / (size_t)P; }
static double f_allreduce(int P) { return 2.0 * (P - 1) / P; }
static double f_gather(int P) { return (double)(P - 1) / P; }
static double f_one(int P) { (void)P; return 1.0; }

static strata_result_t finish(strata_result_t rc, strata_request_t req) {
  return rc == STRATA_SUCCESS ? strata_wait(req) : rc;
}

/* ---- allreduce ---- */
static strata_result_t ar_run(void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, int root, strata_comm_t c,
                              int f, int rank, size_t es) {
  (void)root; (void)rank; (void)es;
  if (INPLACE(f)) s = r;
  if (NONBLOCKING(f)) { strata_request_t q; return finish(strata_iallreduce(s, r, n, d, op, c, &q), q); }
  return strata_allreduce(s, r, n, d, op, c);
}
static int ar_mpi(void *s, void *r, size_t n, MPI_Datatype d, MPI_Op op, int root, MPI_Comm c, int f, int rank, size_t es) {
  (void)root; (void)rank; (void)es;
  return MPI_Allreduce(INPLACE(f) ? MPI_IN_PLACE : s, r, (int)n, d, op, c);
}
static void ar_expect(void *out, size_t n, int dt, int op, int root, int rank, int P) {
  (void)root; (void)rank;
  for (size_t i = 0; i < n; i++) ref_reduce_store(dt, op, P, i, out, i);
}
static void ar_fill(void *s, void *r, size_t n, int dt, int op, int root, int rank, int P, int inplace, size_t es) {
  (void)root; (void)P; (void)es;
  ref_fill(dt, op, rank, inplace ? r : s, n, 0);
}
const perf_coll_t perf_allreduce = {"allreduce", 1, 0, 0, same, same, cnt_plain, f_allreduce, ar_run, ar_mpi, ar_expect, ar_fill};

/* ---- allgather: size = gathered total ---- */
static strata_result_t ag_run(void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, int root, strata_comm_t c,
                              int f, int rank, size_t es) {
  (void)op; (void)root;
  if (INPLACE(f)) s = (char *)r + (size_t)rank * n * es;
  if (NONBLOCKING(f)) { strata_request_t q; return finish(strata_iallgather(s, r, n, d, c, &q), q); }
  return strata_allgather(s, r, n, d, c);
}
static int ag_mpi(void *s, void *r, size_t n, MPI_Datatype d, MPI_Op op, int root, MPI_Comm c, int f, int rank, size_t es) {
  (void)op; (void)root; (void)rank; (void)es;
  if (INPLACE(f)) return MPI_Allgather(MPI_IN_PLACE, 0, d, r, (int)n, d, c);
  return MPI_Allgather(s, (int)n, d, r, (int)n, d, c);
}
static void ag_expect(void *out, size_t n, int dt, int op, int root, int rank, int P) {
  (void)op; (void)root; (void)rank;
  size_t es = strata_dtype_size((strata_dtype_t)dt);
  for (int q = 0; q < P; q++) ref_fill(dt, STRATA_SUM, q, (char *)out + (size_t)q * n * es, n, 0);
}
static void ag_fill(void *s, void *r, size_t n, int dt, int op, int root, int rank, int P, int inplace, size_t es) {
  (void)op; (void)root; (void)P;
  ref_fill(dt, STRATA_SUM, rank, inplace ? (char *)r + (size_t)rank * n * es : s, n, 0);
}
const perf_coll_t perf_allgather = {"allgather", 0, 0, 0, same, times_p, cnt_per_rank, f_gather, ag_run, ag_mpi, ag_expect, ag_fill};

/* ---- reduce_scatter: size = send total; in place recvbuf = sendbuf + rank block ---- */
static strata_result_t rs_run(void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, int root, strata_comm_t c,
                              int f, int rank, size_t es) {
  (void)root;
  if (INPLACE(f)) r = (char *)s + (size_t)rank * n * es;
  if (NONBLOCKING(f)) { strata_request_t q; return finish(strata_ireduce_scatter(s, r, n, d, op, c, &q), q); }
  return strata_reduce_scatter(s, r, n, d, op, c);
}
static int rs_mpi(void *s, void *r, size_t n, MPI_Datatype d, MPI_Op op, int root, MPI_Comm c, int f, int rank, size_t es) {
  (void)root; (void)rank; (void)es;
  if (INPLACE(f)) return MPI_Reduce_scatter_block(MPI_IN_PLACE, s, (int)n, d, op, c);
  return MPI_Reduce_scatter_block(s, r, (int)n, d, op, c);
}
static void rs_expect(void *out, size_t n, int dt, int op, int root, int rank, int P) {
  (void)root;
  for (size_t i = 0; i < n; i++) ref_reduce_store(dt, op, P, (size_t)rank * n + i, out, i);
}
static void rs_fill(void *s, void *r, size_t n, int dt, int op, int root, int rank, int P, int inplace, size_t es) {
  (void)r; (void)root; (void)inplace; (void)es;
  ref_fill(dt, op, rank, s, n * (size_t)P, 0);
}
const perf_coll_t perf_reduce_scatter = {"reduce_scatter", 1, 0, 0, times_p, same, cnt_per_rank, f_gather, rs_run, rs_mpi, rs_expect, rs_fill};

/* ---- broadcast ---- */
static strata_result_t bc_run(void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, int root, strata_comm_t c,
                              int f, int rank, size_t es) {
  (void)op; (void)rank; (void)es;
  if (INPLACE(f)) s = r;
  if (NONBLOCKING(f)) { strata_request_t q; return finish(strata_ibroadcast(s, r, n, d, root, c, &q), q); }
  return strata_broadcast(s, r, n, d, root, c);
}
static int bc_mpi(void *s, void *r, size_t n, MPI_Datatype d, MPI_Op op, int root, MPI_Comm c, int f, int rank, size_t es) {
  (void)op; (void)es;
  /* MPI_Bcast is in place by nature; out of place copies first, as a caller would */
  if (!INPLACE(f) && rank == root) memcpy(r, s, n * (size_t)es);
  return MPI_Bcast(r, (int)n, d, root, c);
}
static void bc_expect(void *out, size_t n, int dt, int op, int root, int rank, int P) {
  (void)op; (void)rank; (void)P;
  ref_fill(dt, STRATA_SUM, root, out, n, 0);
}
static void bc_fill(void *s, void *r, size_t n, int dt, int op, int root, int rank, int P, int inplace, size_t es) {
  (void)op; (void)P;
  memset(r, 0, n * es);
  if (rank == root) ref_fill(dt, STRATA_SUM, rank, inplace ? r : s, n, 0);
}
const perf_coll_t perf_broadcast = {"broadcast", 0, 1, 0, same, same, cnt_plain, f_one, bc_run, bc_mpi, bc_expect, bc_fill};

/* ---- reduce ---- */
static strata_result_t rd_run(void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, int root, strata_comm_t c,
                              int f, int rank, size_t es) {
  (void)es;
  if (INPLACE(f) && rank == root) s = r;
  if (NONBLOCKING(f)) { strata_request_t q; return finish(strata_ireduce(s, r, n, d, op, root, c, &q), q); }
  return strata_reduce(s, r, n, d, op, root, c);
}
static int rd_mpi(void *s, void *r, size_t n, MPI_Datatype d, MPI_Op op, int root, MPI_Comm c, int f, int rank, size_t es) {
  (void)es;
  if (INPLACE(f) && rank == root) return MPI_Reduce(MPI_IN_PLACE, r, (int)n, d, op, root, c);
  return MPI_Reduce(INPLACE(f) ? r : s, r, (int)n, d, op, root, c);
}
static void rd_fill(void *s, void *r, size_t n, int dt, int op, int root, int rank, int P, int inplace, size_t es) {
  (void)P; (void)es;
  ref_fill(dt, op, rank, inplace && rank == root ? r : s, n, 0);
  if (inplace && rank != root) ref_fill(dt, op, rank, r, n, 0);
}
const perf_coll_t perf_reduce = {"reduce", 1, 1, 0, same, same, cnt_plain, f_one, rd_run, rd_mpi, ar_expect, rd_fill};

/* ---- alltoall: size = per-rank send total ---- */
static strata_result_t aa_run(void *s, void *r, size_t n, strata_dtype_t d, strata_op_t op, int root, strata_comm_t c,
                              int f, int rank, size_t es) {
  (void)op; (void)root; (void)rank; (void)es;
  if (NONBLOCKING(f)) { strata_request_t q; return finish(strata_ialltoall(s, r, n, d, c, &q), q); }
  return strata_alltoall(s, r, n, d, c);
}
static int aa_mpi(void *s, void *r, size_t n, MPI_Datatype d, MPI_Op op, int root, MPI_Comm c, int f, int rank, size_t es) {
  (void)op; (void)root; (void)f; (void)rank; (void)es;
  return MPI_Alltoall(s, (int)n, d, r, (int)n, d, c);
}
static void aa_expect(void *out, size_t n, int dt, int op, int root, int rank, int P) {
  (void)op; (void)root;
  size_t es = strata_dtype_size((strata_dtype_t)dt);
  for (int q = 0; q < P; q++) ref_fill(dt, STRATA_SUM, q, (char *)out + (size_t)q * n * es, n, (size_t)rank * n);
}
static void aa_fill(void *s, void *r, size_t n, int dt, int op, int root, int rank, int P, int inplace, size_t es) {
  (void)r; (void)op; (void)root; (void)inplace; (void)es;
  ref_fill(dt, STRATA_SUM, rank, s, n * (size_t)P, 0);
}
const perf_coll_t perf_alltoall = {"alltoall", 0, 0, 0, times_p, times_p, cnt_per_rank, f_gather, aa_run, aa_mpi, aa_expect, aa_fill};
