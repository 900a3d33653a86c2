#define _GNU_SOURCE
/* Regression tests for the core-hardening defects, one mode per defect; each failed
 * before its fix. MPI launches the ranks and gives them an out-of-band barrier that does
 * not progress Strata (what a training loop's own MPI calls do).
 *   leave      ring allgather, ~4 MiB per rank, every rank then leaves Strata for an MPI
 *              barrier: a receiver must owe its senders nothing once its call is done
 *   ids N      N split/destroy cycles (a third with color < 0), then concurrent
 *              allreduces on the world and on the newest communicator, checked
 *   fail       a size mismatch on one call fails every request of the communicator and
 *              every later call on it; the world goes on
 *   lifecycle  a request released by strata_test may not be waited on again; destroying
 *              a communicator with requests held invalidates their handles
 *   mismatch   ranks launched with different STRATA_* settings: init fails on every rank
 *              with STRATA_ERR_INVALID_USAGE, naming the rank and the variable
 *   silence    with STRATA_TIMEOUT_MS=40 a healthy allreduce that takes seconds
 *              succeeds; a rank silent for 2 s makes its peers time out
 * Usage: mpirun -np P test_hardening MODE [N] */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../runtime/core/comm.h"
#include "strata.h"
#include "strata_mpi.h"

static int me, P, errors, checks;

#include "../common/check.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void mode_leave(strata_comm_t w) {
  const size_t per = 1048579; /* uint32 elements per rank: 4 MiB + 12 B, odd */
  uint32_t *send = malloc(per * sizeof *send), *recv = malloc(per * (size_t)P * sizeof *recv);
  for (int it = 0; it < 12; it++) {
    for (size_t i = 0; i < per; i++) send[i] = (uint32_t)(me * 1000003u + i * 7u + (unsigned)it);
    memset(recv, 0xEE, per * (size_t)P * sizeof *recv);
    strata_result_t rc = strata_allgather(send, recv, per, STRATA_UINT32, w);
    CHECK(rc == STRATA_SUCCESS, "allgather iteration %d: %s", it, strata_result_string(rc));
    size_t bad = 0;
    for (int r = 0; r < P; r++)
      for (size_t i = 0; i < per; i++)
        bad += recv[(size_t)r * per + i] != (uint32_t)(r * 1000003u + i * 7u + (unsigned)it);
    CHECK(bad == 0, "allgather iteration %d: %zu wrong elements", it, bad);
    if (it % 3 == 2 && me == P - 1) usleep(50000); /* one rank late into the barrier */
    MPI_Barrier(MPI_COMM_WORLD); /* out of Strata: nothing of it progresses here */
  }
  free(send);
  free(recv);
}

/* Every rank that has its data goes straight into MPI: a finished call must owe its peers
 * nothing (a UCX rendezvous receiver's acknowledgement waiting in its own queue once left a
 * broadcast root waiting for good). Run with UCX_MM_FIFO_SIZE=16 to fill UCX's queues. */
static void mode_owed(strata_comm_t w) {
  const size_t n = 14641735; /* int8: ~14 MiB, odd; binomial in 256 KiB pieces */
  uint8_t *buf = malloc(n);
  for (int it = 0; it < 2 * P; it++) {
    int root = it % P;
    for (size_t i = 0; i < n; i++) buf[i] = me == root ? (uint8_t)(i * 31u + (unsigned)it) : 0xEE;
    strata_result_t rc = strata_broadcast(buf, buf, n, STRATA_INT8, root, w);
    CHECK(rc == STRATA_SUCCESS, "broadcast %d (root %d): %s", it, root, strata_result_string(rc));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += buf[i] != (uint8_t)(i * 31u + (unsigned)it);
    CHECK(bad == 0, "broadcast %d (root %d): %zu wrong", it, root, bad);
    MPI_Barrier(MPI_COMM_WORLD); /* out of Strata: nothing of it progresses here */
  }
  if (me == 0) printf("owed: %d broadcasts of %zu B, each followed by an MPI barrier\n", 2 * P, n);
  free(buf);
}

static void fill(float *a, size_t n, int rank, int salt) {
  for (size_t i = 0; i < n; i++) a[i] = (float)((rank + 1) * ((int)(i % 97) + salt));
}
static size_t check_sum(const float *a, size_t n, const int *ranks, int nr, int salt) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    float want = 0;
    for (int k = 0; k < nr; k++) want += (float)((ranks[k] + 1) * ((int)(i % 97) + salt));
    bad += a[i] != want;
  }
  return bad;
}

static void mode_ids(strata_comm_t w, int cycles) {
  strata_comm_t newest = NULL;
  for (int c = 0; c < cycles; c++) {
    int color = c % 3 == 2 ? -1 : (me + c) % 2; /* color < 0 must not use up ids */
    strata_comm_t s = NULL;
    strata_result_t rc = strata_comm_split(w, color, -me, &s);
    CHECK(rc == STRATA_SUCCESS, "split %d: %s", c, strata_result_string(rc));
    if (rc != STRATA_SUCCESS) return;
    CHECK((color < 0) == (s == NULL), "split %d: color %d gave %p", c, color, (void *)s);
    if (c == cycles - 1 && s) newest = s;
    else if (s) strata_comm_destroy(s);
  }
  if (!newest) { /* the last cycle had color < 0: one more */
    CHECK(strata_comm_split(w, me % 2, -me, &newest) == STRATA_SUCCESS, "last split");
  }
  int nsize = 0, nrank = -1;
  strata_comm_size(newest, &nsize);
  strata_comm_rank(newest, &nrank);
  int members[64], nm = 0;
  /* exchange membership out of band: each rank says which colour its newest has */
  int mycol[2] = {0, nrank};
  int *all = malloc(2 * (size_t)P * sizeof(int));
  {
    /* identify the group by the smallest world rank in it: allreduce MIN over newest */
    int x = me, y = 0;
    CHECK(strata_allreduce(&x, &y, 1, STRATA_INT32, STRATA_MIN, newest) == STRATA_SUCCESS, "min");
    mycol[0] = y;
  }
  MPI_Allgather(mycol, 2, MPI_INT, all, 2, MPI_INT, MPI_COMM_WORLD);
  for (int r = 0; r < P; r++)
    if (all[2 * r] == mycol[0]) members[nm++] = r;
  free(all);
  CHECK(nm == nsize, "newest has %d members, %d found", nsize, nm);
  int world_ranks[64];
  for (int r = 0; r < P; r++) world_ranks[r] = r;
  /* line the two call sequences up (white box: the seq numbers), so that a communicator id
   * that aliased the world's in the tag would make their messages collide */
  while (newest->seq < 8) strata_barrier(newest); /* every group's newest at seq 8 (groups differ) */
  while (((w->seq - newest->seq) & 0x3ffu) != 0) strata_barrier(w); /* the world: the same everywhere */
  if (me == 0) printf("ids: newest communicator id %u (world %u), seq %u / %u\n", newest->id, w->id, newest->seq, w->seq);
  /* concurrent allreduces on both, many in flight, every element checked */
  enum { N = 70001, K = 6 };
  float *a[K], *b[K];
  strata_request_t q[K];
  /* communicators are independent: odd ranks post the newest's calls first, even ranks the
   * world's, so matching by arrival order cannot hide an aliased tag */
  for (int j = 0; j < K; j++) {
    int k = me % 2 ? (j < K / 2 ? 2 * j + 1 : 2 * (j - K / 2)) : j;
    a[k] = malloc(N * sizeof(float));
    b[k] = malloc(N * sizeof(float));
    fill(a[k], N, me, k);
    strata_comm_t on = k % 2 ? newest : w;
    strata_result_t rc = strata_iallreduce(a[k], b[k], N, STRATA_FLOAT32, STRATA_SUM, on, &q[k]);
    CHECK(rc == STRATA_SUCCESS, "iallreduce %d: %s", k, strata_result_string(rc));
  }
  for (int k = K - 1; k >= 0; k--) {
    strata_result_t rc = strata_wait(q[k]);
    CHECK(rc == STRATA_SUCCESS, "wait %d: %s", k, strata_result_string(rc));
    size_t bad = k % 2 ? check_sum(b[k], N, members, nm, k) : check_sum(b[k], N, world_ranks, P, k);
    CHECK(bad == 0, "allreduce %d on the %s communicator: %zu wrong elements", k, k % 2 ? "newest" : "world", bad);
    free(a[k]);
    free(b[k]);
  }
  strata_comm_destroy(newest);
}

static void mode_fail(strata_comm_t w) {
  strata_comm_t s = NULL;
  CHECK(strata_comm_split(w, 0, me, &s) == STRATA_SUCCESS, "split");
  enum { N = 300000 };
  float *a = calloc(N + 1024, sizeof(float)), *b = calloc(N + 1024, sizeof(float));
  /* one call in flight that is fine by itself, then one whose sizes differ between ranks */
  strata_request_t q1;
  CHECK(strata_iallreduce(a, b, N, STRATA_FLOAT32, STRATA_SUM, s, &q1) == STRATA_SUCCESS, "iallreduce");
  size_t n2 = me == 0 ? 5000 : 5000 + 64;
  strata_result_t r2 = strata_allgather(a, b, n2, STRATA_FLOAT32, s);
  strata_result_t r1 = strata_wait(q1);
  CHECK(r2 != STRATA_SUCCESS, "mismatched allgather succeeded");
  /* the call in flight beside it fails with it (it may have finished first on some ranks) */
  CHECK(r1 != STRATA_SUCCESS || me != 0, "the call in flight on the failed communicator succeeded on rank 0");
  /* after a failure every later call on it fails at once */
  double t3 = now();
  strata_result_t r3 = strata_allreduce(a, b, 16, STRATA_FLOAT32, STRATA_SUM, s);
  CHECK(r3 != STRATA_SUCCESS, "a call after the failure succeeded");
  CHECK(now() - t3 < 0.5, "a call after the failure took %.2f s to fail", now() - t3);
  if (me == 0) printf("fail: mismatched call -> %s, the call before it -> %s, a later call -> %s\n",
                      strata_result_string(r2), strata_result_string(r1), strata_result_string(r3));
  (void)r1;
  strata_comm_destroy(s);
  MPI_Barrier(MPI_COMM_WORLD);
  /* over shm the world is untouched. UCX cannot cancel a send its receiver gave up on: the
   * UCX transport fails instead, so the world may fail too, but cleanly and in bounded time */
  float x = (float)me, y = 0;
  const char *tp = getenv("STRATA_TRANSPORTS");
  int over_ucx = tp && !strcmp(tp, "ucx");
  strata_result_t rw = strata_allreduce(&x, &y, 1, STRATA_FLOAT32, STRATA_SUM, w);
  CHECK(rw == STRATA_SUCCESS || over_ucx, "world after: %s", strata_result_string(rw));
  CHECK(rw != STRATA_SUCCESS || y == (float)(P * (P - 1) / 2), "world sum %g", (double)y);
  if (me == 0) printf("fail: the world afterwards -> %s\n", strata_result_string(rw));
  free(a);
  free(b);
}

static void mode_lifecycle(strata_comm_t w) {
  float x = 1, y = 0;
  strata_request_t q;
  CHECK(strata_iallreduce(&x, &y, 1, STRATA_FLOAT32, STRATA_SUM, w, &q) == STRATA_SUCCESS, "iallreduce");
  int done = 0;
  double t0 = now();
  while (!done && now() - t0 < 30) CHECK(strata_test(q, &done) == STRATA_SUCCESS, "test");
  CHECK(done && y == (float)P, "test: done %d y %g", done, (double)y);
  /* released by the test: a wait or test on it again is an error, not a second release */
  CHECK(strata_wait(q) == STRATA_ERR_INVALID_USAGE, "wait after test reported done");
  CHECK(strata_test(q, &done) == STRATA_ERR_INVALID_USAGE && done == 0, "test after release");
  /* the handle's old memory is reused by the next call: the stale handle still refers to nothing */
  strata_request_t q2;
  CHECK(strata_iallreduce(&x, &y, 1, STRATA_FLOAT32, STRATA_SUM, w, &q2) == STRATA_SUCCESS, "iallreduce 2");
  CHECK(strata_wait(q) == STRATA_ERR_INVALID_USAGE, "stale handle after reuse");
  CHECK(strata_wait(q2) == STRATA_SUCCESS, "wait 2");
  CHECK(strata_wait(q2) == STRATA_ERR_INVALID_USAGE, "double wait");
  CHECK(strata_wait((strata_request_t)(uintptr_t)0x12345) == STRATA_ERR_INVALID_USAGE, "forged handle");
  /* destroy with requests held: they fail and their handles become invalid */
  strata_comm_t s = NULL;
  CHECK(strata_comm_split(w, 0, me, &s) == STRATA_SUCCESS, "split");
  enum { N = 1 << 16 };
  float *a = calloc(N, sizeof(float)), *b = calloc(N, sizeof(float));
  strata_request_t h[3];
  for (int k = 0; k < 3; k++) CHECK(strata_iallreduce(a, b, N, STRATA_FLOAT32, STRATA_SUM, s, &h[k]) == STRATA_SUCCESS, "i");
  CHECK(strata_wait(h[0]) == STRATA_SUCCESS, "first of the three");
  MPI_Barrier(MPI_COMM_WORLD);
  CHECK(strata_comm_destroy(s) == STRATA_SUCCESS, "destroy with requests held");
  CHECK(strata_wait(h[1]) == STRATA_ERR_INVALID_USAGE, "wait on a destroyed communicator's request");
  CHECK(strata_test(h[2], &done) == STRATA_ERR_INVALID_USAGE, "test on a destroyed communicator's request");
  free(a);
  free(b);
  MPI_Barrier(MPI_COMM_WORLD);
}

static void mode_silence(strata_comm_t w) {
  /* healthy but long: far more than STRATA_TIMEOUT_MS in all, never that long without progress */
  const size_t n = (size_t)192 << 20; /* 768 MiB of float32: ~0.3 s a call even on a fast day */
  float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) a[i] = (float)(me + (int)(i & 7));
  memset(b, 0, n * sizeof(float));
  MPI_Barrier(MPI_COMM_WORLD); /* a peer still touching its pages is silent, and rightly times out */
  double t0 = now(), dt = 0;
  strata_result_t rc = STRATA_SUCCESS;
  int rounds = 0;
  while (rc == STRATA_SUCCESS && (dt = now() - t0) < 1.5) {
    rc = strata_allreduce(a, b, n, STRATA_FLOAT32, STRATA_SUM, w);
    rounds++;
  }
  CHECK(rc == STRATA_SUCCESS, "healthy allreduce after %.2f s: %s", now() - t0, strata_result_string(rc));
  size_t bad = 0;
  for (size_t i = 0; i < n; i += 4099) bad += b[i] != (float)(P * (P - 1) / 2 + P * (int)(i & 7));
  CHECK(bad == 0, "%zu wrong", bad);
  double one = dt / rounds;
  if (me == 0) printf("silence: %d allreduces of 768 MiB, %.2f s each, STRATA_TIMEOUT_MS=%s\n", rounds, one,
                      getenv("STRATA_TIMEOUT_MS"));
  const char *tm = getenv("STRATA_TIMEOUT_MS");
  double limit_s = (tm ? atof(tm) : 600000.0) / 1000.0;
  CHECK(one > 1.5 * limit_s, "one allreduce took %.3f s, not well beyond STRATA_TIMEOUT_MS=%.0f ms: the test proves nothing",
        one, limit_s * 1000);
  /* a silent rank: its peers time out after ~STRATA_TIMEOUT_MS, not later */
  MPI_Barrier(MPI_COMM_WORLD);
  if (me == P - 1) sleep(2);
  t0 = now();
  float x = 1, y = 0;
  rc = strata_allreduce(&x, &y, 1, STRATA_FLOAT32, STRATA_SUM, w);
  if (me != P - 1) {
    CHECK(rc == STRATA_ERR_TIMEOUT, "a silent peer gave %s", strata_result_string(rc));
    CHECK(now() - t0 < 1.8, "timed out after %.2f s", now() - t0);
  }
  free(a);
  free(b);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm_size(MPI_COMM_WORLD, &P);
  const char *mode = argc > 1 ? argv[1] : "leave";
  strata_comm_t w = NULL;
  double ti = now();
  strata_result_t rc = strata_comm_init_mpi(&w, MPI_COMM_WORLD);
  if (!strcmp(mode, "mismatch")) { /* launched with different STRATA_* settings on some ranks */
    CHECK(rc == STRATA_ERR_INVALID_USAGE, "init with mismatched settings: %s", strata_result_string(rc));
    CHECK(now() - ti < 10, "init took %.1f s to refuse", now() - ti);
    if (rc == STRATA_SUCCESS) strata_comm_destroy(w);
    int all = 0;
    MPI_Allreduce(&errors, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (me == 0) printf("mismatch: init refused on every rank: %s\n", all ? "no" : "yes");
    MPI_Finalize();
    return all ? 1 : 0;
  }
  if (rc != STRATA_SUCCESS) {
    printf("[rank %d] init: %s\n", me, strata_result_string(rc));
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  double t0 = now();
  if (!strcmp(mode, "leave")) mode_leave(w);
  else if (!strcmp(mode, "ids")) mode_ids(w, argc > 2 ? atoi(argv[2]) : 3000);
  else if (!strcmp(mode, "fail")) mode_fail(w);
  else if (!strcmp(mode, "lifecycle")) mode_lifecycle(w);
  else if (!strcmp(mode, "silence")) mode_silence(w);
  else if (!strcmp(mode, "owed")) mode_owed(w);
  else { printf("unknown mode %s\n", mode); errors++; }
  int all = 0;
  MPI_Allreduce(&errors, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (me == 0) printf("%s: P=%d, %.2f s, %d failures\n", mode, P, now() - t0, all);
  strata_comm_destroy(w);
  MPI_Finalize();
  return all ? 1 : 0;
}
