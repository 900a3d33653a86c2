#define _GNU_SOURCE
/* Multi-process correctness: every collective x algorithm (forced in turn) x in place or not
 * x counts {0, 1, 7, 1023, 65537, 1M+3} x unaligned buffers, compared element by element with
 * a reference. Every dtype x op at one rank count (--full), a rotating sample otherwise.
 * Usage: mpirun -np N test_collectives [--init mpi|uid|env] [--full] [--quick] [--large] [--expect-sites G]
 * Across hosts (or STRATA_HOSTID "hosts"), the forced algorithms include the hierarchical ones. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runtime/algorithms/algo.h"
#include "../../runtime/core/internal.h"
#include "../common/env_boot.h"
#include "../common/refdata.h"
#include "strata_cuda.h"
#include "strata_mpi.h"
#include "../../runtime/device/dev_coll.h"

static int me, P, errors, checks;
static int use_dev, use_stream; /* --device: buffers from strata_mem_alloc; --stream: the _stream twins */

#include "../common/check.h"

static strata_comm_t init_comm(const char *how) {
  strata_comm_t c = NULL;
  strata_result_t rc;
  if (!strcmp(how, "uid")) {
    strata_unique_id_t id;
    if (me == 0) CHECK(strata_get_unique_id(&id) == STRATA_SUCCESS, "get_unique_id");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    rc = strata_comm_init_rank(&c, P, id, me);
  } else if (!strcmp(how, "env")) {
    int port = 0;
    if (me == 0) port = env_boot_free_port();
    MPI_Bcast(&port, 1, MPI_INT, 0, MPI_COMM_WORLD);
    env_boot_set(port, me, P);
    rc = strata_comm_init_env(&c);
  } else {
    rc = strata_comm_init_mpi(&c, MPI_COMM_WORLD);
  }
  CHECK(rc == STRATA_SUCCESS, "init via %s: %s", how, strata_result_string(rc));
  int r = -1, s = -1;
  strata_comm_rank(c, &r);
  strata_comm_size(c, &s);
  CHECK(r == me && s == P, "rank/size %d/%d, want %d/%d", r, s, me, P);
  return c;
}

static size_t send_elems(strata_coll_t c, size_t n) {
  return (c == STRATA_COLL_REDUCE_SCATTER || c == STRATA_COLL_ALLTOALL) ? n * (size_t)P : c == STRATA_COLL_BARRIER ? 0 : n;
}
static size_t recv_elems(strata_coll_t c, size_t n) {
  return (c == STRATA_COLL_ALLGATHER || c == STRATA_COLL_ALLTOALL) ? n * (size_t)P : c == STRATA_COLL_BARRIER ? 0 : n;
}


/* One call, checked. nb: use the nonblocking twin. */
static void one(strata_comm_t comm, strata_coll_t coll, strata_algo_t algo, int dt, int op, size_t n, int inplace,
                int root, int nb) {
  const size_t es = strata_dtype_size((strata_dtype_t)dt);
  size_t sn = send_elems(coll, n), rn = recv_elems(coll, n);
  size_t big = (sn > rn ? sn : rn) * es;
  char *sbuf = malloc(big + 64), *rbuf = malloc(big + 64), *exp = malloc(rn * es + 1);
  memset(sbuf, 0x5A, big + 64);
  memset(rbuf, 0xA5, big + 64);
  char *send = sbuf + 3, *recv = rbuf + 1; /* unaligned */
  int fop = (coll == STRATA_COLL_ALLREDUCE || coll == STRATA_COLL_REDUCE || coll == STRATA_COLL_REDUCE_SCATTER) ? op : STRATA_SUM;
  char *out = recv;
  switch (coll) {
  case STRATA_COLL_ALLGATHER:
    if (inplace) send = recv + (size_t)me * n * es;
    ref_fill(dt, STRATA_SUM, me, send, n, 0);
    break;
  case STRATA_COLL_REDUCE_SCATTER:
    if (inplace) { send = rbuf + 1; recv = send + (size_t)me * n * es; out = recv; }
    ref_fill(dt, op, me, send, sn, 0);
    break;
  case STRATA_COLL_BROADCAST:
    if (inplace && me == root) send = recv;
    if (me == root) ref_fill(dt, STRATA_SUM, me, send, n, 0);
    break;
  case STRATA_COLL_REDUCE:
  case STRATA_COLL_ALLREDUCE:
    if (inplace && (coll == STRATA_COLL_ALLREDUCE || me == root)) send = recv;
    ref_fill(dt, fop, me, send, sn, 0);
    break;
  case STRATA_COLL_ALLTOALL: ref_fill(dt, STRATA_SUM, me, send, sn, 0); break;
  default: break;
  }
  /* --device: the same layout in device memory (host shadows keep the checks below unchanged) */
  char *dsb = NULL, *drb = NULL;
  const void *csend = send;
  void *crecv = recv;
  if (use_dev) {
    CHECK(strata_mem_alloc((void **)&dsb, big + 64) == STRATA_SUCCESS && strata_mem_alloc((void **)&drb, big + 64) == STRATA_SUCCESS,
          "strata_mem_alloc");
    strata_mem_copy(dsb, sbuf, big + 64);
    strata_mem_copy(drb, rbuf, big + 64);
    csend = send >= rbuf && send < rbuf + big + 64 ? drb + (send - rbuf) : dsb + (send - sbuf);
    crecv = drb + (recv - rbuf);
  }
  strata_request_t req = NULL;
  strata_result_t rc = strata_coll_run_ex(coll, csend, crecv, n, (strata_dtype_t)dt, (strata_op_t)op, root, comm,
                                          nb && !use_stream ? &req : NULL, algo, NULL, use_stream);
  if (use_dev) { /* after the stream's work (the copy runs on the same default stream) */
    strata_mem_copy(sbuf, dsb, big + 64);
    strata_mem_copy(rbuf, drb, big + 64);
    strata_mem_free(dsb);
    strata_mem_free(drb);
  }
  if (use_stream) nb = 0;
  if (nb && rc == STRATA_SUCCESS) {
    int done = 0;
    if (n % 2) { /* half the time test until done, else wait */
      while (!done && rc == STRATA_SUCCESS) rc = strata_test(req, &done);
    } else {
      rc = strata_wait(req);
    }
  }
  CHECK(rc == STRATA_SUCCESS, "%s/%s n=%zu dt=%s op=%s inplace=%d: %s", strata_coll_name(coll), strata_algo_name(algo), n,
        strata_dtype_name((strata_dtype_t)dt), strata_op_name((strata_op_t)op), inplace, strata_result_string(rc));
  int check = coll != STRATA_COLL_BARRIER && !(coll == STRATA_COLL_REDUCE && me != root);
  if (rc == STRATA_SUCCESS && check) {
    ref_expected(coll, dt, op, P, me, root, n, exp);
    size_t bad = 0;
    while (bad < rn * es && out[bad] == exp[bad]) bad++;
    CHECK(bad == rn * es, "%s/%s P=%d n=%zu dt=%s op=%s inplace=%d root=%d nb=%d: first wrong byte %zu of %zu",
          strata_coll_name(coll), strata_algo_name(algo), P, n, strata_dtype_name((strata_dtype_t)dt),
          strata_op_name((strata_op_t)op), inplace, root, nb, bad, rn * es);
    if (coll != STRATA_COLL_REDUCE_SCATTER || !inplace)
      CHECK((unsigned char)rbuf[0] == 0xA5 && (unsigned char)recv[rn * es] == 0xA5, "%s/%s wrote outside recvbuf",
            strata_coll_name(coll), strata_algo_name(algo));
  }
  if (!inplace && coll != STRATA_COLL_BROADCAST && coll != STRATA_COLL_BARRIER) { /* sendbuf intact */
    char *chk = malloc(sn * es + 1);
    ref_fill(dt, fop, me, chk, sn, 0);
    CHECK(!memcmp(chk, send, sn * es), "%s/%s modified sendbuf", strata_coll_name(coll), strata_algo_name(algo));
    free(chk);
  }
  free(sbuf);
  free(rbuf);
  free(exp);
}

static void suite(strata_comm_t comm, int full, int quick) {
  static const size_t counts_all[] = {0, 1, 7, 1023, 65537, (1u << 20) + 3};
  const int ncounts = quick ? 4 : 6;
  long k = 0;
  for (int coll = 0; coll < STRATA_NUM_COLLS; coll++) {
    strata_algo_t algos[16];
    int na = strata_algo_list((strata_coll_t)coll, algos, 16);
    int reducing = coll == STRATA_COLL_ALLREDUCE || coll == STRATA_COLL_REDUCE || coll == STRATA_COLL_REDUCE_SCATTER;
    int rooted = coll == STRATA_COLL_BROADCAST || coll == STRATA_COLL_REDUCE;
    for (int ai = 0; ai < na; ai++) {
      double c = strata_tuner_cost(&comm->tuner, (strata_coll_t)coll, algos[ai], 1024);
      if (c > 1e29) continue; /* cannot run here (a node plan across hosts) */
      for (int ci = 0; ci < ncounts; ci++)
        for (int inplace = 0; inplace < 2; inplace++) {
          size_t n = counts_all[ci];
          if (coll == STRATA_COLL_ALLTOALL && inplace) continue;
          if (coll == STRATA_COLL_BARRIER && (ci || inplace)) continue;
          if (coll == STRATA_COLL_ALLTOALL && n > 65537) n = 65537 + 2; /* P x n each way */
          int big = n > 70000;
          for (int dt = 0; dt < STRATA_NUM_DTYPES; dt++)
            for (int op = 0; op < (reducing ? STRATA_NUM_OPS : 1); op++) {
              k++;
              /* every dtype x op with --full at small sizes; large sizes and the default run a
               * rotating sample so each (dtype, op) still appears */
              int pick = (int)((k * 7 + (long)P) % (reducing ? 13 : 4)) == 0;
              if (big && !(dt == STRATA_FLOAT32 && op == STRATA_SUM) && !(pick && (k % 3 == 0))) continue;
              if (!big && !full && !pick && !(dt == STRATA_FLOAT32 && op == STRATA_SUM)) continue;
              int root = rooted ? (int)(k % (unsigned)P) : 0;
              one(comm, (strata_coll_t)coll, algos[ai], dt, op, n, inplace, root, (int)(k % 5 == 0));
            }
        }
    }
  }
}

/* Randomized differential stress (--stress SEED SECONDS): every rank draws the same calls
 * from the seed (collective, algorithm auto or forced, dtype, op, count 0..64 MiB with odd
 * and unaligned sizes, in place or not, root, blocking or not) and one() checks each
 * element against the independent reference. A failure names the seed and the call's
 * index; --stress SEED SECONDS --from K replays from call K. */
static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void stress(strata_comm_t comm, uint64_t seed, double seconds, long from) {
  uint64_t st = seed;
  double t0 = MPI_Wtime();
  long k = 0;
  for (;; k++) {
    int stop = 0;
    if (me == 0) stop = MPI_Wtime() - t0 > seconds;
    MPI_Bcast(&stop, 1, MPI_INT, 0, MPI_COMM_WORLD); /* every rank makes the same number of calls */
    if (stop) break;
    int coll = (int)(rng_next(&st) % STRATA_NUM_COLLS);
    strata_algo_t algos[16];
    int na = strata_algo_list((strata_coll_t)coll, algos, 16);
    strata_algo_t algo = STRATA_ALGO_AUTO;
    if (rng_next(&st) % 3) algo = algos[rng_next(&st) % (unsigned)na];
    if (algo != STRATA_ALGO_AUTO && strata_tuner_cost(&comm->tuner, (strata_coll_t)coll, algo, 1024) > 1e29)
      algo = STRATA_ALGO_AUTO; /* cannot run here (a node plan across hosts) */
    int reducing = coll == STRATA_COLL_ALLREDUCE || coll == STRATA_COLL_REDUCE || coll == STRATA_COLL_REDUCE_SCATTER;
    int dt = (int)(rng_next(&st) % STRATA_NUM_DTYPES);
    int op = reducing ? (int)(rng_next(&st) % STRATA_NUM_OPS) : STRATA_SUM;
    size_t es = strata_dtype_size((strata_dtype_t)dt);
    /* bytes per rank buffer: log-uniform from 0 to 64 MiB, then an odd count */
    int lg = (int)(rng_next(&st) % 27);
    size_t bytes = lg == 0 ? 0 : ((size_t)1 << lg) + rng_next(&st) % ((size_t)1 << lg);
    if (bytes > ((size_t)64 << 20)) bytes = (size_t)64 << 20;
    size_t n = bytes / es;
    if (n && rng_next(&st) % 2) n |= 1;
    if (coll == STRATA_COLL_ALLGATHER || coll == STRATA_COLL_REDUCE_SCATTER || coll == STRATA_COLL_ALLTOALL)
      n /= (size_t)P; /* the per-rank count: the whole buffer stays within 64 MiB */
    if (coll == STRATA_COLL_BARRIER) n = 0;
    int inplace = coll != STRATA_COLL_ALLTOALL && coll != STRATA_COLL_BARRIER && rng_next(&st) % 2;
    int root = (int)(rng_next(&st) % (unsigned)P);
    int nb = (int)(rng_next(&st) % 3 == 0);
    if (k < from) continue;
    int before = errors;
    one(comm, (strata_coll_t)coll, algo, dt, op, n, inplace, root, nb);
    if (errors != before)
      printf("[rank %d] stress seed %llu call %ld: %s/%s n=%zu dt=%s op=%s inplace=%d root=%d nb=%d  (replay: --stress %llu "
             "SECONDS --from %ld)\n", me, (unsigned long long)seed, k, strata_coll_name((strata_coll_t)coll),
             strata_algo_name(algo), n, strata_dtype_name((strata_dtype_t)dt), strata_op_name((strata_op_t)op), inplace,
             root, nb, (unsigned long long)seed, k);
    int any = 0;
    MPI_Allreduce(&errors, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (any) break; /* the first failing call is the one to replay */
  }
  if (me == 0) printf("stress: seed %llu, %ld calls in %.1f s on %d ranks\n", (unsigned long long)seed, k,
                      MPI_Wtime() - t0, P);
}

/* Stream ordering: the input is written on the stream right before the call (an
 * asynchronous copy queued on the same stream); the result must see it. */
static void stream_order_test(strata_comm_t comm) {
  enum { N = 1 << 16 };
  int32_t *h = malloc(N * sizeof *h), *o = malloc(N * sizeof *o);
  void *d = NULL, *r = NULL;
  if (strata_mem_alloc(&d, N * 4) != STRATA_SUCCESS || strata_mem_alloc(&r, N * 4) != STRATA_SUCCESS) {
    CHECK(0, "strata_mem_alloc");
    return;
  }
  for (int it = 0; it < 3; it++) {
    for (int i = 0; i < N; i++) h[i] = me * 3 + i % 101 + it;
    CHECK(strata_mem_copy(d, h, N * 4) == STRATA_SUCCESS, "copy in");
    CHECK(strata_allreduce_stream(d, r, N, STRATA_INT32, STRATA_SUM, comm, NULL) == STRATA_SUCCESS, "allreduce_stream");
    CHECK(strata_allreduce_stream(r, r, N, STRATA_INT32, STRATA_MAX, comm, NULL) == STRATA_SUCCESS, "in place");
    CHECK(strata_mem_copy(o, r, N * 4) == STRATA_SUCCESS, "copy out");
    int bad = 0;
    for (int i = 0; i < N; i++) bad += o[i] != (int32_t)(3 * P * (P - 1) / 2 + P * (i % 101 + it));
    CHECK(!bad, "stream order: %d wrong of %d", bad, N);
  }
  strata_mem_free(d);
  strata_mem_free(r);
  free(h);
  free(o);
}

static void bad_input(strata_comm_t comm) {
  float x[4] = {1, 2, 3, 4}, y[4];
  CHECK(strata_allreduce(NULL, y, 4, STRATA_FLOAT32, STRATA_SUM, comm) == STRATA_ERR_INVALID_ARGUMENT, "NULL sendbuf");
  CHECK(strata_allreduce(x, NULL, 4, STRATA_FLOAT32, STRATA_SUM, comm) == STRATA_ERR_INVALID_ARGUMENT, "NULL recvbuf");
  CHECK(strata_allreduce(x, y, 4, (strata_dtype_t)99, STRATA_SUM, comm) == STRATA_ERR_INVALID_ARGUMENT, "bad dtype");
  CHECK(strata_allreduce(x, y, 4, STRATA_FLOAT32, (strata_op_t)-1, comm) == STRATA_ERR_INVALID_ARGUMENT, "bad op");
  CHECK(strata_broadcast(x, y, 4, STRATA_FLOAT32, P, comm) == STRATA_ERR_INVALID_ARGUMENT, "bad root");
  CHECK(strata_reduce(x, y, 4, STRATA_FLOAT32, STRATA_SUM, -1, comm) == STRATA_ERR_INVALID_ARGUMENT, "bad root");
  CHECK(strata_allreduce(x, y, 4, STRATA_FLOAT32, STRATA_SUM, NULL) == STRATA_ERR_INVALID_ARGUMENT, "NULL comm");
  CHECK(strata_alltoall(y, y, 1, STRATA_FLOAT32, comm) == STRATA_ERR_INVALID_ARGUMENT, "alltoall in place");
  CHECK(strata_allreduce(x, x + 1, 2, STRATA_FLOAT32, STRATA_SUM, comm) == STRATA_ERR_INVALID_ARGUMENT, "overlap");
  CHECK(strata_iallreduce(x, y, 4, STRATA_FLOAT32, STRATA_SUM, comm, NULL) == STRATA_ERR_INVALID_ARGUMENT, "NULL req");
  CHECK(strata_allreduce(NULL, NULL, 0, STRATA_FLOAT32, STRATA_SUM, comm) == STRATA_SUCCESS, "count 0 with NULL");
  CHECK(strata_test(NULL, NULL) == STRATA_ERR_INVALID_ARGUMENT, "test NULL");
  CHECK(strata_result_string((strata_result_t)12345) != NULL, "result string");
  int v = 0;
  CHECK(strata_get_version(&v) == STRATA_SUCCESS && v == 100, "version %d", v);
  /* still usable */
  for (int i = 0; i < 4; i++) x[i] = (float)(me + i);
  CHECK(strata_allreduce(x, y, 4, STRATA_FLOAT32, STRATA_SUM, comm) == STRATA_SUCCESS, "usable after bad input");
  CHECK(y[0] == (float)(P * (P - 1) / 2), "allreduce after bad input: %g", (double)y[0]);
}

/* --large (opt-in, ~6 GiB a rank at 2 ranks): counts above 2^31 elements and a receive
 * buffer above 4 GiB across processes, every element checked. int8 MAX over values that
 * depend on every bit of the index. */
static void large_test(strata_comm_t comm) {
  const size_t n = ((size_t)1 << 31) + 7;
  struct { strata_coll_t coll; strata_algo_t algo; int inplace; } cases[] = {
      {STRATA_COLL_ALLREDUCE, STRATA_ALGO_AUTO, 0},
      {STRATA_COLL_ALLREDUCE, STRATA_ALGO_RING, 1},
      {STRATA_COLL_ALLGATHER, STRATA_ALGO_AUTO, 0},
  };
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    strata_coll_t coll = cases[ci].coll;
    size_t rn = coll == STRATA_COLL_ALLGATHER ? n * (size_t)P : n;
    int8_t *rb = malloc(rn), *sb = cases[ci].inplace ? rb : malloc(n);
    CHECK(rb && sb, "large: out of memory");
    if (!rb || !sb) return;
    for (size_t i = 0; i < n; i++) sb[i] = ref_big_val(me, i);
    double t0 = MPI_Wtime();
    strata_result_t rc = strata_coll_run(coll, sb, rb, n, STRATA_INT8, STRATA_MAX, 0, comm, NULL, cases[ci].algo);
    double dt = MPI_Wtime() - t0;
    CHECK(rc == STRATA_SUCCESS, "large %s: %s", strata_coll_name(coll), strata_result_string(rc));
    size_t bad = SIZE_MAX;
    for (size_t i = 0; i < rn && bad == SIZE_MAX; i++) {
      int8_t want;
      if (coll == STRATA_COLL_ALLGATHER) {
        want = ref_big_val((int)(i / n), i % n);
      } else {
        want = ref_big_val(0, i);
        for (int q = 1; q < P; q++)
          if (ref_big_val(q, i) > want) want = ref_big_val(q, i);
      }
      if (rb[i] != want) bad = i;
    }
    CHECK(bad == SIZE_MAX, "large %s/%s: element %zu wrong", strata_coll_name(coll), strata_algo_name(cases[ci].algo),
          bad);
    if (me == 0)
      printf("large %s/%s%s: %zu int8 elements, %zu-byte receive buffer: %s in %.2f s\n", strata_coll_name(coll),
             strata_algo_name(cases[ci].algo), cases[ci].inplace ? " in place" : "", n, rn,
             bad == SIZE_MAX && rc == STRATA_SUCCESS ? "every element right" : "WRONG", dt);
    if (sb != rb) free(sb);
    free(rb);
  }
}

static void split_test(strata_comm_t comm) {
  strata_comm_t sub = NULL;
  int color = me % 2, key = -me;
  CHECK(strata_comm_split(comm, color, key, &sub) == STRATA_SUCCESS, "split");
  int n = (P - color + 1) / 2, r = -1, s = -1;
  strata_comm_rank(sub, &r);
  strata_comm_size(sub, &s);
  CHECK(s == n, "split size %d want %d", s, n);
  CHECK(r == n - 1 - me / 2, "split rank %d want %d (keys reversed)", r, n - 1 - me / 2);
  int64_t x = me, y = -1;
  CHECK(strata_allreduce(&x, &y, 1, STRATA_INT64, STRATA_SUM, sub) == STRATA_SUCCESS, "allreduce on split");
  int64_t want = 0;
  for (int q = color; q < P; q += 2) want += q;
  CHECK(y == want, "split allreduce %lld want %lld", (long long)y, (long long)want);
  strata_comm_t none = (strata_comm_t)1;
  CHECK(strata_comm_split(comm, me == 0 ? -1 : 0, 0, &none) == STRATA_SUCCESS, "split with -1");
  if (me == 0) CHECK(none == NULL, "color -1 gives NULL");
  else {
    int64_t z = 1, w = 0;
    strata_allreduce(&z, &w, 1, STRATA_INT64, STRATA_SUM, none);
    CHECK(w == P - 1, "split without rank 0: %lld", (long long)w);
    strata_comm_destroy(none);
  }
  strata_comm_destroy(sub);
}

/* Several nonblocking collectives in flight at once, completed out of order. */
static void overlap_test(strata_comm_t comm) {
  enum { K = 6, N = 5000 };
  static int32_t in[K][N], out[K][N * 8];
  strata_request_t req[K];
  for (int k = 0; k < K; k++) {
    for (int i = 0; i < N; i++) in[k][i] = me * 1000 + k * 7 + i % 13;
    strata_result_t rc = k % 2 ? strata_iallgather(in[k], out[k], N, STRATA_INT32, comm, &req[k])
                               : strata_iallreduce(in[k], out[k], N, STRATA_INT32, STRATA_SUM, comm, &req[k]);
    CHECK(rc == STRATA_SUCCESS, "post %d", k);
  }
  for (int k = K - 1; k >= 0; k--) CHECK(strata_wait(req[k]) == STRATA_SUCCESS, "wait %d", k);
  for (int k = 0; k < K; k++) {
    if (k % 2) {
      for (int q = 0; q < P; q++) CHECK(out[k][q * N + 5] == q * 1000 + k * 7 + 5, "overlap allgather k=%d", k);
    } else {
      int64_t want = 0;
      for (int q = 0; q < P; q++) want += q * 1000 + k * 7 + 5;
      CHECK(out[k][5] == want, "overlap allreduce k=%d: %d want %lld", k, out[k][5], (long long)want);
    }
  }
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm_size(MPI_COMM_WORLD, &P);
  const char *how = "mpi";
  int full = 0, quick = 0, expect_sites = 0, large = 0;
  long stress_from = 0;
  double stress_s = 0;
  unsigned long long stress_seed = 0;
  const char *expect_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--expect-sites") && i + 1 < argc) expect_sites = atoi(argv[++i]);
    if (!strcmp(argv[i], "--init") && i + 1 < argc) how = argv[++i];
    else if (!strcmp(argv[i], "--full")) full = 1;
    else if (!strcmp(argv[i], "--stress") && i + 2 < argc) {
      stress_seed = strtoull(argv[i + 1], NULL, 0);
      stress_s = atof(argv[i + 2]);
      i += 2;
    } else if (!strcmp(argv[i], "--from") && i + 1 < argc) stress_from = atol(argv[++i]);
    else if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--large")) large = 1;
    else if (!strcmp(argv[i], "--device")) use_dev = 1;
    else if (!strcmp(argv[i], "--stream")) use_dev = use_stream = 1;
    else if (!strcmp(argv[i], "--expect-path") && i + 1 < argc) expect_path = argv[++i];
  }
  if (use_dev) {
    int avail = 0;
    const char *dname = "none";
    strata_device_available(&avail, &dname);
    const char *want = getenv("STRATA_DEVICE");
    if (!avail && want && !strcmp(want, "emulated")) { /* asked for and not there: a failure, not a skip */
      if (me == 0) printf("FAIL: STRATA_DEVICE=emulated but the emulated device is not available\n");
      MPI_Finalize();
      return 1;
    }
    if (!avail) { /* ctest SKIP_RETURN_CODE: the one reason to skip is "no GPU" */
      if (me == 0) printf("skipped: no GPU (and STRATA_DEVICE is not 'emulated')\n");
      MPI_Finalize();
      return 77;
    }
    if (me == 0) printf("device buffers on '%s'%s\n", dname, use_stream ? ", stream twins" : "");
  }
  strata_comm_t comm = init_comm(how);
  if (comm && expect_sites) { /* the fabric detection (STRATA_SITE, topology file, probing) */
    const strata_fabric_t *f = &comm->ctx->fabric;
    CHECK(f->nsites == expect_sites, "found %d site(s) (from %s), expected %d", f->nsites, f->site_source,
          expect_sites);
    if (me == 0) printf("fabric: %d site(s) from %s, %u hosts\n", f->nsites, f->site_source, comm->ctx->nhosts);
  }
  if (comm && large) {
    large_test(comm);
    CHECK(strata_comm_destroy(comm) == STRATA_SUCCESS, "destroy");
  } else if (comm && stress_s > 0) {
    stress(comm, stress_seed, stress_s, stress_from);
    CHECK(strata_comm_destroy(comm) == STRATA_SUCCESS, "destroy");
  } else if (comm) {
    bad_input(comm);
    suite(comm, full, quick);
    if (use_dev) {
      stream_order_test(comm);
      unsigned long ni = 0, ns = 0, nn = 0;
      strata_dev_comm_counts(comm, &ni, &ns, &nn);
      printf("[rank %d] device calls: %lu direct (IPC), %lu staged, %lu NCCL\n", me, ni, ns, nn);
      if (expect_path) CHECK(!strcmp(expect_path, "ipc") ? ni > 0 : !strcmp(expect_path, "staged") ? ns > 0 : nn > 0,
                             "expected the %s path to run", expect_path);
    } else {
      overlap_test(comm);
    }
    split_test(comm);
    CHECK(strata_comm_destroy(comm) == STRATA_SUCCESS, "destroy");
  }
  int tot[2] = {errors, checks}, all[2];
  MPI_Allreduce(tot, all, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (me == 0) {
    printf("test_collectives P=%d init=%s transports=%s: %d checks, %d failures\n", P, how,
           getenv("STRATA_TRANSPORTS") ? getenv("STRATA_TRANSPORTS") : "default", all[1], all[0]);
  }
  MPI_Finalize();
  return all[0] ? 1 : 0;
}
