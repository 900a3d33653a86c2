/* The benchmark driver: nccl-tests flags, output and busbw formulas; -M 1 adds the MPI
 * library's own collective, timed on the same buffers in the same run. */
#define _GNU_SOURCE
#include "perf_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/core/coll.h"
#include "../runtime/core/internal.h"
#include "../runtime/device/device.h"
#include "../runtime/device/nccl/nccl_dl.h"
#include "strata_cuda.h"
#include "../tests/common/refdata.h"
#include "strata_mpi.h"

typedef struct opts {
  size_t minb, maxb, stepb;
  double factor;
  int iters, warmup, check, op, dtype, root, average, mpi, rounds, blocking;
  const char *algo, *json;
  int timeout_s;
  int dev, nccl;
} opts_t;

/* -D 1: device buffers (host shadows for filling and checking); -N 1: NCCL as the baseline */
static char *dsb, *drb;
static size_t dbytes;
static strata_nccl_comm_t ncomm;

static int rank, nranks;

static int parse_dtype(const char *s) {
  for (int d = 0; d < STRATA_NUM_DTYPES; d++)
    if (!strcmp(s, strata_dtype_name((strata_dtype_t)d))) return d;
  if (!strcmp(s, "fp16") || !strcmp(s, "float16")) return STRATA_FLOAT16;
  if (!strcmp(s, "fp32") || !strcmp(s, "float32")) return STRATA_FLOAT32;
  if (!strcmp(s, "fp64") || !strcmp(s, "float64")) return STRATA_FLOAT64;
  if (!strcmp(s, "bf16")) return STRATA_BFLOAT16;
  if (!strcmp(s, "all")) return -1;
  return -2;
}
static int parse_op(const char *s) {
  for (int o = 0; o < STRATA_NUM_OPS; o++)
    if (!strcmp(s, strata_op_name((strata_op_t)o))) return o;
  if (!strcmp(s, "all")) return -1;
  return -2;
}
static size_t parse_size(const char *s) {
  char *e;
  double v = strtod(s, &e);
  switch (*e) {
  case 'G': case 'g': v *= 1024.0 * 1024 * 1024; break;
  case 'M': case 'm': v *= 1024.0 * 1024; break;
  case 'K': case 'k': v *= 1024.0; break;
  default: break;
  }
  return (size_t)v;
}

static void usage(const char *prog) {
  if (rank) return;
  printf("USAGE: %s\n"
         "  -b,--minbytes <min size in bytes>   (default 32M)\n"
         "  -e,--maxbytes <max size in bytes>   (default 32M)\n"
         "  -i,--stepbytes <increment size>     (default 1M)\n"
         "  -f,--stepfactor <increment factor>  (overrides -i)\n"
         "  -n,--iters <iteration count>        (default 20)\n"
         "  -w,--warmup_iters <warmup count>    (default 5)\n"
         "  -c,--check <0/1>                    check correctness (default 1)\n"
         "  -o,--op <sum/prod/min/max/avg/all>  (default sum)\n"
         "  -d,--datatype <int8/uint8/int32/uint32/int64/uint64/half/float/double/bfloat16/f8e4m3/f8e5m2/all>\n"
         "  -r,--root <root>                    (default 0)\n"
         "  -a,--average <0/1/2/3>              report time of rank 0/average/min/max (default 1)\n"
         "  -T,--timeout <seconds>              STRATA_TIMEOUT_MS for the run\n"
         "  -M,--mpi <0/1>                      also time MPI's own collective (default 0)\n"
         "  -R,--rounds <n>                     alternating Strata/MPI rounds per size; median (default 3)\n"
         "  -A,--algo <name>                    force Strata's algorithm (see strata_info)\n"
         "  -J,--json <file>                    write results as JSON\n"
         "  -z,--blocking <0/1>                 nonblocking call + wait (0) or blocking call (1, default)\n"
         "  -D,--device <0/1>                   buffers in GPU memory (default 0: host memory)\n"
         "  -N,--nccl <0/1>                     time NCCL's own collective in the same run (needs -D 1)\n"
         "  -t,-g <1>                           accepted for nccl-tests compatibility (1 thread, 1 device)\n",
         prog);
}

static MPI_Datatype mpi_dtype(int d) {
  switch (d) {
  case STRATA_INT8: return MPI_INT8_T;
  case STRATA_UINT8: return MPI_UINT8_T;
  case STRATA_INT32: return MPI_INT32_T;
  case STRATA_UINT32: return MPI_UINT32_T;
  case STRATA_INT64: return MPI_INT64_T;
  case STRATA_UINT64: return MPI_UINT64_T;
  case STRATA_FLOAT32: return MPI_FLOAT;
  case STRATA_FLOAT64: return MPI_DOUBLE;
  default: return MPI_DATATYPE_NULL; /* MPI has no half, bfloat16 or fp8 */
  }
}
static MPI_Op mpi_op(int o) {
  switch (o) {
  case STRATA_PROD: return MPI_PROD;
  case STRATA_MAX: return MPI_MAX;
  case STRATA_MIN: return MPI_MIN;
  default: return MPI_SUM; /* MPI has no AVG: SUM is the nearest work */
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* combine a per-rank time as -a says */
static double combine(double t, int average) {
  double out = t;
  switch (average) {
  case 0: MPI_Bcast(&out, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD); break;
  case 2: MPI_Allreduce(&t, &out, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD); break;
  case 3: MPI_Allreduce(&t, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD); break;
  default: MPI_Allreduce(&t, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); out /= nranks; break;
  }
  return out;
}

typedef struct result {
  double time_us, algbw, busbw, mpi_us;
  long wrong;
  int valid, mpi_valid;
} result_t;

static strata_result_t run_strata(const perf_coll_t *c, const opts_t *o, void *s, void *r, size_t n, int dt, int op,
                                  strata_comm_t comm, int inplace, size_t es) {
  return c->run(s, r, n, (strata_dtype_t)dt, (strata_op_t)op, o->root, comm, inplace | (o->blocking ? 0 : 2), rank, es);
}

/* Time one (size, dtype, op, in-place) cell. */
static void measure(const perf_coll_t *c, const opts_t *o, strata_comm_t comm, char *sbuf, char *rbuf, size_t bytes,
                    size_t n, int dt, int op, int inplace, result_t *res) {
  const size_t es = strata_dtype_size((strata_dtype_t)dt);
  MPI_Datatype mdt = mpi_dtype(dt);
  int do_nccl = o->nccl && ncomm;
  int do_mpi = (o->mpi && mdt != MPI_DATATYPE_NULL) || do_nccl;
  char *hs = sbuf, *hr = rbuf; /* host shadows */
  if (o->dev) {
    sbuf = dsb;
    rbuf = drb;
  }
  const strata_nccl_api_t *nc = do_nccl ? strata_nccl() : NULL;
  const strata_coll_t cid = (strata_coll_t)strata_coll_from_name(c->name);
  double ts[64], tm[64];
  int R = o->rounds < 1 ? 1 : o->rounds > 64 ? 64 : o->rounds;
  c->fill(hs, hr, n, dt, op, o->root, rank, nranks, inplace, es);
  if (o->dev) {
    strata_mem_copy(dsb, hs, dbytes);
    strata_mem_copy(drb, hr, dbytes);
  }
  strata_result_t rc = STRATA_SUCCESS;
  for (int i = 0; i < o->warmup && rc == STRATA_SUCCESS; i++)
    rc = run_strata(c, o, sbuf, rbuf, n, dt, op, comm, inplace, es);
  /* the baseline: NCCL on the same device buffers (each call waited for, like Strata's plain
   * calls), or MPI on the host buffers */
#define BASELINE()                                                                                        \
  do {                                                                                                    \
    if (do_nccl) {                                                                                        \
      void *s_ = inplace ? (cid == STRATA_COLL_ALLGATHER ? rbuf + (size_t)rank * n * es : rbuf) : sbuf;     \
      void *r_ = inplace && cid == STRATA_COLL_REDUCE_SCATTER ? sbuf + (size_t)rank * n * es : rbuf;       \
      if (inplace && cid == STRATA_COLL_REDUCE_SCATTER) s_ = sbuf;                                         \
      strata_nccl_coll(nc, ncomm, cid, s_, r_, n, dt, op, o->root, rank, nranks, es, NULL);                 \
      strata_dev()->stream_sync(NULL);                                                                    \
    } else {                                                                                              \
      c->run_mpi(hs, hr, n, mdt, mpi_op(op), o->root, MPI_COMM_WORLD, inplace, rank, es);                  \
    }                                                                                                     \
  } while (0)
  if (do_mpi)
    for (int i = 0; i < o->warmup; i++) BASELINE();
  for (int k = 0; k < R && rc == STRATA_SUCCESS; k++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < o->iters && rc == STRATA_SUCCESS; i++)
      rc = run_strata(c, o, sbuf, rbuf, n, dt, op, comm, inplace, es);
    ts[k] = (MPI_Wtime() - t0) / o->iters;
    if (do_mpi) {
      MPI_Barrier(MPI_COMM_WORLD);
      t0 = MPI_Wtime();
      for (int i = 0; i < o->iters; i++) BASELINE();
      tm[k] = (MPI_Wtime() - t0) / o->iters;
    }
  }
  if (rc != STRATA_SUCCESS) {
    fprintf(stderr, "[rank %d] %s failed: %s\n", rank, c->name, strata_result_string(rc));
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  double t = combine(median(ts, R), o->average);
  res->time_us = t * 1e6;
  res->algbw = t > 0 ? (double)bytes / t / 1e9 : 0;
  res->busbw = res->algbw * c->busbw_factor(nranks);
  res->valid = 1;
  res->mpi_valid = do_mpi;
  if (do_mpi) res->mpi_us = combine(median(tm, R), o->average) * 1e6;
  res->wrong = 0;
  if (o->check) {
    size_t rn = c->recv_count(n, nranks);
    char *exp = malloc(rn * es + 1);
    c->fill(hs, hr, n, dt, op, o->root, rank, nranks, inplace, es);
    if (o->dev) {
      strata_mem_copy(dsb, hs, dbytes);
      strata_mem_copy(drb, hr, dbytes);
    }
    rc = run_strata(c, o, sbuf, rbuf, n, dt, op, comm, inplace, es);
    if (o->dev) {
      strata_mem_copy(hs, dsb, dbytes);
      strata_mem_copy(hr, drb, dbytes);
    }
    long wrong = 0;
    int check_here = !(c->rooted && c->reducing && rank != o->root);
    if (rc != STRATA_SUCCESS) wrong = (long)rn;
    else if (check_here) {
      c->expect(exp, n, dt, op, o->root, rank, nranks);
      const char *out = hr;
      if (!strcmp(c->name, "reduce_scatter") && inplace) out = hs + (size_t)rank * n * es;
      for (size_t i = 0; i < rn; i++)
        if (memcmp(out + i * es, exp + i * es, es)) wrong++;
    }
    free(exp);
    MPI_Allreduce(&wrong, &res->wrong, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  }
}

static void print_group(const result_t *r, int mpi) {
  if (!r->valid) {
    printf("  %7s  %6s  %6s  %6s", "N/A", "N/A", "N/A", "N/A");
    if (mpi) printf("  %12s  %7s", "N/A", "N/A");
    return;
  }
  char t[32];
  if (r->time_us >= 10000) snprintf(t, sizeof t, "%7.0f", r->time_us);
  else if (r->time_us >= 100) snprintf(t, sizeof t, "%7.1f", r->time_us);
  else snprintf(t, sizeof t, "%7.2f", r->time_us);
  printf("  %7s  %6.2f  %6.2f  %6ld", t, r->algbw, r->busbw, r->wrong);
  if (mpi) {
    if (r->mpi_valid) printf("  %12.2f  %7.2f", r->mpi_us, r->mpi_us / r->time_us);
    else printf("  %12s  %7s", "N/A", "N/A");
  }
}

int perf_main(int argc, char **argv, const perf_coll_t *c) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  opts_t o = {32u << 20, 32u << 20, 1u << 20, 0, 20, 5, 1, STRATA_SUM, STRATA_FLOAT32, 0, 1, 0, 3, 1, NULL, NULL, 0, 0, 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (a[0] != '-' || !v) { usage(argv[0]); MPI_Finalize(); return 1; }
    const char *k = a[1] == '-' ? a + 2 : a + 1;
    i++;
    if (!strcmp(k, "b") || !strcmp(k, "minbytes")) o.minb = parse_size(v);
    else if (!strcmp(k, "e") || !strcmp(k, "maxbytes")) o.maxb = parse_size(v);
    else if (!strcmp(k, "i") || !strcmp(k, "stepbytes")) o.stepb = parse_size(v);
    else if (!strcmp(k, "f") || !strcmp(k, "stepfactor")) o.factor = atof(v);
    else if (!strcmp(k, "n") || !strcmp(k, "iters")) o.iters = atoi(v);
    else if (!strcmp(k, "w") || !strcmp(k, "warmup_iters")) o.warmup = atoi(v);
    else if (!strcmp(k, "c") || !strcmp(k, "check")) o.check = atoi(v);
    else if (!strcmp(k, "o") || !strcmp(k, "op")) o.op = parse_op(v);
    else if (!strcmp(k, "d") || !strcmp(k, "datatype")) o.dtype = parse_dtype(v);
    else if (!strcmp(k, "r") || !strcmp(k, "root")) o.root = atoi(v);
    else if (!strcmp(k, "a") || !strcmp(k, "average")) o.average = atoi(v);
    else if (!strcmp(k, "T") || !strcmp(k, "timeout")) o.timeout_s = atoi(v);
    else if (!strcmp(k, "M") || !strcmp(k, "mpi")) o.mpi = atoi(v);
    else if (!strcmp(k, "R") || !strcmp(k, "rounds")) o.rounds = atoi(v);
    else if (!strcmp(k, "A") || !strcmp(k, "algo")) o.algo = v;
    else if (!strcmp(k, "J") || !strcmp(k, "json")) o.json = v;
    else if (!strcmp(k, "z") || !strcmp(k, "blocking")) o.blocking = atoi(v) != 0;
    else if (!strcmp(k, "D") || !strcmp(k, "device")) o.dev = atoi(v) != 0;
    else if (!strcmp(k, "N") || !strcmp(k, "nccl")) o.nccl = atoi(v) != 0;
    else if (!strcmp(k, "t") || !strcmp(k, "nthreads") || !strcmp(k, "g") || !strcmp(k, "ngpus") ||
             !strcmp(k, "m") || !strcmp(k, "G") || !strcmp(k, "p")) {
      /* nccl-tests options with no meaning here */
    } else { usage(argv[0]); MPI_Finalize(); return 1; }
  }
  if (o.dtype == -2 || o.op == -2 || o.iters < 1 || o.minb > o.maxb || o.root < 0 || o.root >= nranks) {
    usage(argv[0]);
    MPI_Finalize();
    return 1;
  }
  if (o.algo) {
    char v[128];
    snprintf(v, sizeof v, "%s:%s", c->name, o.algo);
    setenv("STRATA_ALGO", v, 1);
  }
  if (o.timeout_s > 0) {
    char v[32];
    snprintf(v, sizeof v, "%d", o.timeout_s * 1000);
    setenv("STRATA_TIMEOUT_MS", v, 1);
  }
  strata_comm_t comm;
  strata_result_t rc = strata_comm_init_mpi(&comm, MPI_COMM_WORLD);
  if (rc != STRATA_SUCCESS) {
    fprintf(stderr, "strata_comm_init_mpi: %s\n", strata_result_string(rc));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  int dt0 = o.dtype < 0 ? 0 : o.dtype, dt1 = o.dtype < 0 ? STRATA_NUM_DTYPES : o.dtype + 1;
  int op0 = o.op < 0 ? 0 : o.op, op1 = o.op < 0 ? STRATA_NUM_OPS : o.op + 1;
  if (!c->reducing) { op0 = STRATA_SUM; op1 = op0 + 1; }
  /* buffers for the largest size and widest type */
  size_t maxcount = c->count_of_size(o.maxb, 1, nranks) + 8;
  size_t sbytes = c->send_count(maxcount, nranks) * 8 + 64, rbytes = c->recv_count(maxcount, nranks) * 8 + 64;
  size_t bigb = sbytes > rbytes ? sbytes : rbytes;
  char *sbuf = aligned_alloc(4096, (bigb + 4095) & ~(size_t)4095), *rbuf = aligned_alloc(4096, (bigb + 4095) & ~(size_t)4095);
  if (!sbuf || !rbuf) MPI_Abort(MPI_COMM_WORLD, 1);
  memset(sbuf, 0, bigb);
  memset(rbuf, 0, bigb);
  if (o.nccl) o.dev = 1;
  if (o.dev) {
    int avail = 0;
    const char *dn = "none";
    strata_device_available(&avail, &dn);
    dbytes = (bigb + 4095) & ~(size_t)4095;
    if (!avail || strata_mem_alloc((void **)&dsb, dbytes) != STRATA_SUCCESS ||
        strata_mem_alloc((void **)&drb, dbytes) != STRATA_SUCCESS) {
      if (rank == 0) fprintf(stderr, "-D 1: no device memory (%s)\n", avail ? "allocation failed" : "no GPU");
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (o.nccl) {
      const strata_nccl_api_t *nc = strata_nccl();
      strata_nccl_id_t id;
      memset(&id, 0, sizeof id);
      int ok = nc != NULL && !strcmp(dn, "cuda");
      if (ok && rank == 0) nc->get_unique_id(&id);
      MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
      if (ok && nc->comm_init_rank(&ncomm, nranks, id, rank)) ncomm = NULL;
      int mine = ncomm != NULL, all = 0;
      MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
      if (!all && rank == 0) printf("# -N 1: NCCL unavailable here (not loadable, or several ranks on one GPU)\n");
      if (!all && ncomm) { nc->comm_destroy(ncomm); ncomm = NULL; }
    }
  }
  char host[64] = {0};
  gethostname(host, sizeof host - 1);
  char *hosts = rank == 0 ? malloc((size_t)nranks * 64) : NULL;
  int *pids = rank == 0 ? malloc((size_t)nranks * sizeof(int)) : NULL;
  int pid = (int)getpid();
  MPI_Gather(host, 64, MPI_CHAR, hosts, 64, MPI_CHAR, 0, MPI_COMM_WORLD);
  MPI_Gather(&pid, 1, MPI_INT, pids, 1, MPI_INT, 0, MPI_COMM_WORLD);
  FILE *js = NULL;
  if (ncomm) o.mpi = 1; /* the baseline columns show NCCL */
  const char *bl = ncomm ? "  nccl_time(us) speedup" : "  mpi_time(us)  speedup";
  if (rank == 0) {
    printf("# nThread 1 nGpus 1 minBytes %zu maxBytes %zu step: ", o.minb, o.maxb);
    if (o.factor > 1) printf("%g(factor)", o.factor); else printf("%zu(bytes)", o.stepb);
    printf(" warmup iters: %d iters: %d agg iters: 1 validation: %d graph: 0\n", o.warmup, o.iters, o.check);
    printf("#\n# Using devices\n");
    for (int r = 0; r < nranks; r++)
      printf("#  Rank %2d Group  0 Pid %6d on %10s device  0 [%s] %s (Strata)\n", r, pids[r], hosts + r * 64,
             o.dev ? "gpu" : "host", o.dev ? "device memory, synchronous calls" : "host memory");
    int v = 0;
    strata_get_version(&v);
    printf("#\n# Strata %d.%d.%d, %s%s%s; MPI baseline: %s\n", v / 10000, v / 100 % 100, v % 100,
           o.algo ? "algorithm forced: " : "algorithm: cost model", o.algo ? o.algo : "",
           getenv("STRATA_TRANSPORTS") ? getenv("STRATA_TRANSPORTS") : "",
           ncomm ? "NCCL, timed in the same run on the same device buffers (-N 1)" : o.mpi ? "timed in the same run (-M 1)" : "off");
    printf("#\n");
    const char *mh = o.mpi ? "                       " : "";
    printf("#                                                              out-of-place          %s             in-place\n", mh);
    printf("#       size         count      type   redop    root     time   algbw   busbw #wrong");
    if (o.mpi) printf("%s", bl);
    printf("     time   algbw   busbw #wrong");
    if (o.mpi) printf("%s", bl);
    printf("\n#        (B)    (elements)                               (us)  (GB/s)  (GB/s)       ");
    if (o.mpi) printf("                       ");
    printf("     (us)  (GB/s)  (GB/s)       \n");
    if (o.json) {
      js = fopen(o.json, "w");
      if (js) fprintf(js, "{\"collective\": \"%s\", \"nranks\": %d, \"mpi\": %d, \"results\": [\n", c->name, nranks, o.mpi);
    }
  }
  long total_wrong = 0;
  double bw_sum = 0;
  int bw_n = 0, first = 1;
  for (int dt = dt0; dt < dt1; dt++)
    for (int op = op0; op < op1; op++) {
      size_t es = strata_dtype_size((strata_dtype_t)dt);
      for (size_t size = o.minb; size <= o.maxb;) {
        size_t n = c->count_of_size(size, es, nranks);
        size_t bytes = c->send_count(n, nranks) > c->recv_count(n, nranks) ? c->send_count(n, nranks) * es : c->recv_count(n, nranks) * es;
        if (!strcmp(c->name, "allreduce") || !strcmp(c->name, "broadcast") || !strcmp(c->name, "reduce")) bytes = n * es;
        result_t oop = {0}, ip = {0};
        measure(c, &o, comm, sbuf, rbuf, bytes, n, dt, op, 0, &oop);
        if (strcmp(c->name, "alltoall")) measure(c, &o, comm, sbuf, rbuf, bytes, n, dt, op, 1, &ip);
        total_wrong += oop.wrong + ip.wrong;
        bw_sum += oop.busbw + (ip.valid ? ip.busbw : 0);
        bw_n += 1 + ip.valid;
        if (rank == 0) {
          size_t shown = strcmp(c->name, "allreduce") && strcmp(c->name, "broadcast") && strcmp(c->name, "reduce")
                             ? bytes / es : n;
          printf("%12zu  %12zu  %8s  %6s  %6d", bytes, shown, strata_dtype_name((strata_dtype_t)dt),
                 c->reducing ? strata_op_name((strata_op_t)op) : "none", c->rooted ? o.root : -1);
          print_group(&oop, o.mpi);
          print_group(&ip, o.mpi);
          printf("\n");
          fflush(stdout);
          if (js) {
            double cost = 0;
            int over = 0;
            strata_algo_t al = strata_comm_choose(comm, (strata_coll_t)strata_coll_from_name(c->name), bytes, 0, &cost, &over);
            fprintf(js, "%s  {\"size\": %zu, \"count\": %zu, \"type\": \"%s\", \"redop\": \"%s\", \"root\": %d, \"algo\": \"%s\",\n"
                        "   \"oop\": {\"time_us\": %.3f, \"algbw\": %.4f, \"busbw\": %.4f, \"wrong\": %ld, \"mpi_time_us\": %.3f, \"speedup\": %.4f},\n"
                        "   \"ip\": {\"time_us\": %.3f, \"algbw\": %.4f, \"busbw\": %.4f, \"wrong\": %ld, \"mpi_time_us\": %.3f, \"speedup\": %.4f}}",
                    first ? "" : ",\n", bytes, shown, strata_dtype_name((strata_dtype_t)dt), strata_op_name((strata_op_t)op),
                    c->rooted ? o.root : -1, strata_algo_name(al), oop.time_us, oop.algbw, oop.busbw, oop.wrong,
                    oop.mpi_valid ? oop.mpi_us : 0.0, oop.mpi_valid ? oop.mpi_us / oop.time_us : 0.0, ip.valid ? ip.time_us : 0.0,
                    ip.algbw, ip.busbw, ip.wrong, ip.mpi_valid ? ip.mpi_us : 0.0, ip.mpi_valid ? ip.mpi_us / ip.time_us : 0.0);
            first = 0;
          }
        }
        if (o.factor > 1) {
          size_t next = (size_t)((double)size * o.factor);
          size = next > size ? next : size + 1;
        } else {
          size += o.stepb ? o.stepb : 1;
        }
      }
    }
  if (rank == 0) {
    printf("# Out of bounds values : %ld %s\n", total_wrong, total_wrong ? "FAILED" : "OK");
    printf("# Avg bus bandwidth    : %g \n#\n", bw_n ? bw_sum / bw_n : 0.0);
    if (js) {
      fprintf(js, "\n], \"wrong\": %ld, \"avg_busbw\": %g}\n", total_wrong, bw_n ? bw_sum / bw_n : 0.0);
      fclose(js);
    }
  }
  strata_comm_destroy(comm);
  if (ncomm) strata_nccl()->comm_destroy(ncomm);
  strata_mem_free(dsb);
  strata_mem_free(drb);
  free(sbuf);
  free(rbuf);
  free(hosts);
  free(pids);
  MPI_Finalize();
  return total_wrong ? 1 : 0;
}
