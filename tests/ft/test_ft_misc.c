/* Fault tolerance, the rest: abort from another thread, revoke, agree, destroy after a
 * failure, and STRATA_CHECK=1 mismatches. Ranks are forked here with the env bootstrap.
 * Usage: test_ft_misc MODE [P]   MODE: abort | revoke | agree | destroy | check | threads
 *   threads: one thread runs verified allreduces on one communicator while another polls
 *   get_async_error on a second and then aborts a third, all of one context (their
 *   transports are shared): every allreduce right, the abort felt by the third only.
 *   threads2: two threads per rank in blocking allreduces on two communicators of one context. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/env_boot.h"
#include "strata.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define FAIL(...) do { fprintf(stderr, "rank %d: ", r); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); return 1; } while (0)

static strata_comm_t g_comm;
static void *abort_later(void *arg) {
  (void)arg;
  usleep(300000);
  strata_comm_abort(g_comm);
  return NULL;
}

static int allreduce_ok(strata_comm_t c, int P) {
  int32_t a[257], b[257];
  int rank;
  strata_comm_rank(c, &rank);
  for (int i = 0; i < 257; i++) a[i] = rank + i;
  if (strata_allreduce(a, b, 257, STRATA_INT32, STRATA_SUM, c) != STRATA_SUCCESS) return 0;
  for (int i = 0; i < 257; i++)
    if (b[i] != P * (P - 1) / 2 + P * i) return 0;
  return 1;
}

/* Every rank: the call returns exactly `want`. */
static int expect(int r, strata_result_t rc, strata_result_t want, const char *what) {
  if (rc == want) return 0;
  fprintf(stderr, "rank %d: %s returned %s, expected %s\n", r, what, strata_result_string(rc),
          strata_result_string(want));
  return 1;
}

static int run_check(int r, int P, strata_comm_t c) {
  float a[64], b[64];
  memset(a, 0, sizeof a);
  int bad = 0;
  int odd = r == P - 1; /* the rank that calls differently */
  bad |= expect(r, strata_allreduce(a, b, odd ? 33 : 32, STRATA_FLOAT32, STRATA_SUM, c), STRATA_ERR_INVALID_USAGE, "count mismatch");
  bad |= expect(r, strata_allreduce(a, b, 16, odd ? STRATA_INT32 : STRATA_FLOAT32, STRATA_SUM, c), STRATA_ERR_INVALID_USAGE, "dtype mismatch");
  bad |= expect(r, strata_allreduce(a, b, 16, STRATA_FLOAT32, odd ? STRATA_MAX : STRATA_SUM, c), STRATA_ERR_INVALID_USAGE, "op mismatch");
  bad |= expect(r, strata_broadcast(a, b, 16, STRATA_FLOAT32, odd ? 1 : 0, c), STRATA_ERR_INVALID_USAGE, "root mismatch");
  bad |= expect(r, odd ? strata_broadcast(a, b, 16, STRATA_FLOAT32, 0, c) : strata_allreduce(a, b, 16, STRATA_FLOAT32, STRATA_SUM, c),
                STRATA_ERR_INVALID_USAGE, "collective mismatch");
  /* a root out of range on one rank: every rank is told, nobody waits */
  bad |= expect(r, strata_reduce(a, b, 16, STRATA_FLOAT32, STRATA_SUM, odd ? P + 3 : 0, c), STRATA_ERR_INVALID_USAGE, "bad root");
  /* arguments only one rank rejects (a NULL buffer, overlapping buffers): every rank is
   * told, nobody waits for it until the timeout */
  bad |= expect(r, strata_allreduce(a, odd ? NULL : b, 16, STRATA_FLOAT32, STRATA_SUM, c), STRATA_ERR_INVALID_USAGE, "NULL recvbuf on one rank");
  bad |= expect(r, strata_allgather(a, odd ? a + 1 : b, 8, STRATA_FLOAT32, c), STRATA_ERR_INVALID_USAGE, "overlap on one rank");
  strata_request_t q;
  strata_result_t rc = strata_iallgather(a, b, odd ? 2 : 3, STRATA_FLOAT32, c, &q);
  bad |= expect(r, rc, STRATA_ERR_INVALID_USAGE, "nonblocking count mismatch");
  if (!allreduce_ok(c, P)) FAIL("the communicator is unusable after the mismatches");
  bad |= expect(r, strata_barrier(c), STRATA_SUCCESS, "barrier");
  return bad;
}

typedef struct poll_arg {
  strata_comm_t x, z;
  volatile int stop;
  int polls, bad;
} poll_arg_t;

static void *poll_others(void *arg) {
  poll_arg_t *a = arg;
  while (!a->stop) {
    strata_result_t e = STRATA_ERR_INTERNAL;
    if (strata_comm_get_async_error(a->x, &e) != STRATA_SUCCESS || e != STRATA_SUCCESS) a->bad++;
    a->polls++;
    if (a->polls == 200) strata_comm_abort(a->z); /* a communicator no call runs on */
    usleep(200);                                 /* a watchdog's pace, not a spin */
  }
  return NULL;
}

static int run_threads(int r, int P, strata_comm_t c) {
  strata_comm_t y = NULL, z = NULL;
  if (strata_comm_split(c, 0, r, &y) != STRATA_SUCCESS || strata_comm_split(c, 0, r, &z) != STRATA_SUCCESS)
    FAIL("split");
  poll_arg_t a = {c, z, 0, 0, 0};
  pthread_t th;
  pthread_create(&th, NULL, poll_others, &a);
  int ok = 1;
  /* the same number of calls on every rank: enough to overlap the poller's abort anywhere */
  double t0 = now();
  for (int i = 0; i < 20000 && ok; i++) ok = allreduce_ok(y, P);
  if (now() - t0 < 0.2) fprintf(stderr, "rank %d: the allreduces took only %.3f s\n", r, now() - t0);
  while (a.polls < 300 && now() - t0 < 30) usleep(1000);
  a.stop = 1;
  pthread_join(th, NULL);
  if (!ok) FAIL("an allreduce on y failed or was wrong while another thread polled and aborted");
  if (a.bad) FAIL("get_async_error on an idle communicator reported %d errors", a.bad);
  if (a.polls < 200) FAIL("only %d polls: the abort was not reached", a.polls);
  float v = 1, w = 0;
  if (strata_allreduce(&v, &w, 1, STRATA_FLOAT32, STRATA_SUM, z) == STRATA_SUCCESS) FAIL("z was not aborted");
  if (!allreduce_ok(c, P) || !allreduce_ok(y, P)) FAIL("c or y unusable after z's abort");
  strata_comm_destroy(z);
  strata_comm_destroy(y);
  return 0;
}

/* threads2: two threads per rank, each with blocking allreduces on a communicator of its own
 * (one context): the one waiting gives the transports to the other, so neither rank's pair
 * can block the other's (rank 0's first thread waiting for rank 1 on one, rank 1's second
 * waiting for rank 0 on the other). */
typedef struct two_arg {
  strata_comm_t c;
  int P, ok;
} two_arg_t;

static void *allreduce_loop(void *arg) {
  two_arg_t *a = arg;
  a->ok = 1;
  for (int i = 0; i < 400 && a->ok; i++) a->ok = allreduce_ok(a->c, a->P);
  return NULL;
}

static int run_threads2(int r, int P, strata_comm_t c) {
  strata_comm_t y = NULL, z = NULL;
  if (strata_comm_split(c, 0, r, &y) != STRATA_SUCCESS || strata_comm_split(c, 0, r, &z) != STRATA_SUCCESS)
    FAIL("split");
  two_arg_t ay = {y, P, 0}, az = {z, P, 0};
  pthread_t ty, tz;
  /* odd ranks start the other one first, and late, so that the first calls cross */
  if (r % 2) { pthread_create(&tz, NULL, allreduce_loop, &az); usleep(20000); pthread_create(&ty, NULL, allreduce_loop, &ay); }
  else { pthread_create(&ty, NULL, allreduce_loop, &ay); usleep(20000); pthread_create(&tz, NULL, allreduce_loop, &az); }
  pthread_join(ty, NULL);
  pthread_join(tz, NULL);
  if (!ay.ok || !az.ok) FAIL("two threads' blocking allreduces on two communicators: %s failed", !ay.ok ? "y" : "z");
  strata_comm_destroy(z);
  strata_comm_destroy(y);
  return 0;
}

static int child(int port, int P, int r, const char *mode) {
  env_boot_set(port, r, P);
  strata_comm_t c;
  if (strata_comm_init_env(&c) != STRATA_SUCCESS) FAIL("init");
  if (!allreduce_ok(c, P)) FAIL("first allreduce");
  if (!strcmp(mode, "check")) return run_check(r, P, c) | (strata_comm_destroy(c) != STRATA_SUCCESS);
  if (!strcmp(mode, "threads")) return run_threads(r, P, c) | (strata_comm_destroy(c) != STRATA_SUCCESS);
  if (!strcmp(mode, "threads2")) return run_threads2(r, P, c) | (strata_comm_destroy(c) != STRATA_SUCCESS);
  if (!strcmp(mode, "pidns")) { /* each rank in its own pid namespace, one host name: no false deaths */
    for (int i = 0; i < 3000; i++) {
      if (r == 0 && i % 500 == 0) usleep(150000); /* the others wait long enough to check their peers' pids */
      if (!allreduce_ok(c, P)) FAIL("allreduce %d across pid namespaces failed or was wrong", i);
    }
    return strata_comm_destroy(c) != STRATA_SUCCESS;
  }
  if (!strcmp(mode, "agree")) {
    int flag = r == 1 ? 0x5 : 0x7; /* AND = 0x5 */
    if (strata_comm_agree(c, &flag) != STRATA_SUCCESS || flag != 0x5) FAIL("agree gave 0x%x", flag);
    /* with a dead member: the survivors' AND, every survivor the same */
    if (r == P - 1) raise(SIGKILL);
    flag = 0xff ^ (1 << r);
    int want = 0xff;
    for (int k = 0; k < P - 1; k++) want &= 0xff ^ (1 << k);
    double t0 = now();
    if (strata_comm_agree(c, &flag) != STRATA_SUCCESS) FAIL("agree after a death failed");
    if (flag != want) FAIL("agree after a death gave 0x%x, expected 0x%x", flag, want);
    int fr[8], nf = 0;
    strata_comm_failed_ranks(c, fr, 8, &nf);
    if (nf != 1 || fr[0] != P - 1) FAIL("failed ranks: %d (first %d)", nf, nf ? fr[0] : -1);
    fprintf(stderr, "rank %d: agree over the survivors in %.3f s\n", r, now() - t0);
    strata_comm_destroy(c);
    return 0;
  }
  if (!strcmp(mode, "revoke")) {
    /* rank 0 revokes while the others wait in a collective it never joins */
    double t0 = now();
    strata_result_t rc;
    if (r == 0) {
      usleep(200000);
      rc = strata_comm_revoke(c);
      if (rc != STRATA_SUCCESS) FAIL("revoke");
      rc = strata_barrier(c);
    } else {
      rc = strata_barrier(c);
    }
    if (rc != STRATA_ERR_REVOKED) FAIL("pending call after revoke: %s", strata_result_string(rc));
    if (now() - t0 > 5) FAIL("revoke took %.2f s to reach this rank", now() - t0);
    strata_result_t ae;
    strata_comm_get_async_error(c, &ae);
    if (ae != STRATA_ERR_REVOKED) FAIL("async error %s", strata_result_string(ae));
    if (strata_allreduce(&ae, &ae, 1, STRATA_INT32, STRATA_SUM, c) != STRATA_ERR_REVOKED) FAIL("later call not revoked");
    strata_comm_t nc;
    if (strata_comm_shrink(c, NULL, 0, &nc) != STRATA_SUCCESS || !nc) FAIL("shrink after revoke");
    int sz;
    strata_comm_size(nc, &sz);
    if (sz != P || !allreduce_ok(nc, P)) FAIL("the shrunk communicator (%d ranks) does not work", sz);
    strata_comm_destroy(nc);
    strata_comm_destroy(c);
    return 0;
  }
  if (!strcmp(mode, "abort")) {
    /* rank 1 stays away; rank 0 blocks in an allreduce and another thread aborts it */
    if (r == 1) {
      usleep(1500000);
      strata_result_t rc = strata_barrier(c);
      if (rc == STRATA_SUCCESS) FAIL("a call on the aborted communicator succeeded");
      strata_comm_destroy(c);
      return 0;
    }
    double t0 = now();
    strata_result_t rc;
    if (r == 0) {
      g_comm = c;
      pthread_t th;
      pthread_create(&th, NULL, abort_later, NULL);
      rc = strata_barrier(c);
      pthread_join(th, NULL);
      if (rc != STRATA_ERR_INVALID_USAGE) FAIL("aborted call returned %s", strata_result_string(rc));
    } else {
      rc = strata_barrier(c);
      if (rc != STRATA_ERR_REVOKED) FAIL("a member's call after the abort returned %s", strata_result_string(rc));
    }
    if (now() - t0 > 1.3) FAIL("the aborted call took %.2f s", now() - t0);
    double td = now();
    strata_comm_destroy(c);
    if (now() - td > 1.0) FAIL("destroy after abort took %.2f s", now() - td);
    return 0;
  }
  if (!strcmp(mode, "destroy")) {
    /* destroy right after a failure, split on a failed communicator: prompt, never a hang */
    if (r == 0) raise(SIGKILL);
    strata_result_t rc = STRATA_SUCCESS;
    for (int i = 0; i < 100000 && rc == STRATA_SUCCESS; i++) rc = strata_barrier(c);
    if (rc == STRATA_SUCCESS) FAIL("no error");
    double t0 = now();
    strata_comm_t s = NULL;
    rc = strata_comm_split(c, 0, r, &s);
    if (rc == STRATA_SUCCESS || s) FAIL("split of a failed communicator succeeded");
    if (strata_comm_destroy(c) != STRATA_SUCCESS) FAIL("destroy");
    if (now() - t0 > 1.0) FAIL("split + destroy after the failure took %.2f s", now() - t0);
    return 0;
  }
  FAIL("unknown mode %s", mode);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *mode = argv[1];
  int P = argc > 2 ? atoi(argv[2]) : 4;
  if (!getenv("STRATA_TIMEOUT_MS")) setenv("STRATA_TIMEOUT_MS", !strcmp(mode, "abort") ? "60000" : "3000", 1);
  if (!strcmp(mode, "check")) setenv("STRATA_CHECK", "1", 1);
  int port = env_boot_free_port();
  pid_t pids[64];
  for (int r = 0; r < P; r++) {
    pids[r] = fork();
    if (pids[r] == 0 && !strcmp(mode, "pidns")) { /* the rank runs in a pid namespace of its own */
      if (unshare(CLONE_NEWPID) != 0) _exit(77);
      pid_t g = fork(); /* pid 1 there */
      if (g == 0) {
        /* r short-lived children first, so that the rank is pid r + 2 there: each rank's pid
         * names nobody in the others' namespaces */
        for (int k = 0; k < r; k++) {
          pid_t b = fork();
          if (b == 0) _exit(0);
          if (b > 0) waitpid(b, NULL, 0);
        }
        pid_t h = fork();
        if (h == 0) {
          prctl(PR_SET_PDEATHSIG, SIGKILL); /* the harness kills the wrapper on a hang */
          _exit(child(port, P, r, mode));
        }
        int st = 0;
        if (h < 0 || waitpid(h, &st, 0) != h) _exit(1);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
      }
      int st = 0;
      if (g < 0 || waitpid(g, &st, 0) != g) _exit(1);
      _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
    }
    if (pids[r] == 0) _exit(child(port, P, r, mode));
  }
  int fails = 0, skips = 0;
  double dl = now() + 120;
  for (int r = 0; r < P; r++) {
    int st = 0;
    pid_t w;
    while ((w = waitpid(pids[r], &st, WNOHANG)) == 0 && now() < dl) usleep(5000);
    if (w == 0) {
      fprintf(stderr, "rank %d hung\n", r);
      kill(pids[r], SIGKILL);
      waitpid(pids[r], &st, 0);
      fails++;
      continue;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) { skips++; continue; }
    int killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL &&
                 ((!strcmp(mode, "agree") && r == P - 1) || (!strcmp(mode, "destroy") && r == 0));
    if (!killed && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      fprintf(stderr, "rank %d: %s %d\n", r, WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
      fails++;
    }
  }
  if (skips == P && !fails) {
    printf("test_ft_misc %s: skipped: no namespaces (unshare(CLONE_NEWPID) refused)\n", mode);
    return 77;
  }
  if (skips) fails++;
  printf("test_ft_misc %s, %d ranks: %s\n", mode, P, fails ? "FAILED" : "ok");
  return fails != 0;
}
