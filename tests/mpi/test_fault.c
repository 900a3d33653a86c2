/* A rank killed in the middle of collectives: every other rank must get
 * STRATA_ERR_TIMEOUT or STRATA_ERR_PEER_FAILED within STRATA_TIMEOUT_MS (+ slack), never hang.
 * Forks its ranks itself, so no launcher can mask the failure. The parent starts no threads
 * before forking (a child forked while another thread holds a lock can deadlock): the ranks
 * bootstrap from environment variables and rank 0 hosts the root.
 * Usage: test_fault [nranks] (environment: STRATA_TRANSPORTS, STRATA_ALGO; FAULT_PPN=k: ranks
 * in pretend hosts of k, UCX between them with peer error handling; FAULT_EXPECT=peer: every
 * survivor must get STRATA_ERR_PEER_FAILED, not a timeout) */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int child(int port, int P, int r, int victim, double timeout_s) {
  strata_comm_t comm;
  env_boot_set(port, r, P);
  const char *ppn = getenv("FAULT_PPN"); /* ranks per pretend host: UCX between them, peer errors on */
  if (ppn && atoi(ppn) > 0) {
    char h[32];
    snprintf(h, sizeof h, "h%d", r / atoi(ppn));
    setenv("STRATA_HOSTID", h, 1);
  }
  double ti = now();
  if (strata_comm_init_env(&comm) != STRATA_SUCCESS) return 10;
  if (getenv("FAULT_VERBOSE")) fprintf(stderr, "rank %d: init took %.3f s\n", r, now() - ti);
  enum { N = 1 << 18 };
  float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
  for (int i = 0; i < N; i++) a[i] = (float)r;
  for (int it = 0; it < 100000; it++) {
    if (r == victim && it == 20) raise(SIGKILL); /* dies between collectives the others are in */
    double t0 = now();
    strata_result_t rc = strata_allreduce(a, b, N, STRATA_FLOAT32, STRATA_SUM, comm);
    double dt = now() - t0;
    if (rc == STRATA_SUCCESS) {
      if (b[7] != (float)(P * (P - 1) / 2)) return 11;
      continue;
    }
    if (rc != STRATA_ERR_TIMEOUT && rc != STRATA_ERR_PEER_FAILED) {
      fprintf(stderr, "rank %d: unexpected error %s\n", r, strata_result_string(rc));
      return 12;
    }
    const char *want = getenv("FAULT_EXPECT"); /* "peer": the transport must name the dead peer */
    if (want && !strcmp(want, "peer") && rc != STRATA_ERR_PEER_FAILED) {
      fprintf(stderr, "rank %d: %s, where the transport should have reported the dead peer\n", r,
              strata_result_string(rc));
      return 16;
    }
    if (dt > timeout_s + 3.0) {
      fprintf(stderr, "rank %d: the failure took %.1f s to report (timeout %.1f s)\n", r, dt, timeout_s);
      return 13;
    }
    fprintf(stderr, "rank %d: iteration %d returned %s after %.3f s\n", r, it, strata_result_string(rc), dt);
    /* the communicator stays failed; later calls fail at once */
    rc = strata_allreduce(a, b, N, STRATA_FLOAT32, STRATA_SUM, comm);
    if (rc == STRATA_SUCCESS) return 14;
    strata_comm_destroy(comm);
    free(a);
    free(b);
    return 0;
  }
  return 15; /* never noticed */
}

int main(int argc, char **argv) {
  int P = argc > 1 ? atoi(argv[1]) : 4;
  if (!getenv("STRATA_TIMEOUT_MS")) setenv("STRATA_TIMEOUT_MS", "2000", 1);
  double timeout_s = atof(getenv("STRATA_TIMEOUT_MS")) / 1000.0;
  int port = env_boot_free_port();
  int victim = P - 1;
  pid_t pids[64];
  alarm(120);
  for (int r = 0; r < P; r++) {
    pids[r] = fork();
    if (pids[r] == 0) _exit(child(port, P, r, victim, timeout_s));
  }
  int failures = 0;
  for (int r = 0; r < P; r++) {
    int st = 0;
    waitpid(pids[r], &st, 0);
    if (r == victim) {
      if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) failures++;
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      printf("rank %d exited with status %d\n", r, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
      failures++;
    }
  }
  printf("%d passed, %d failed\n", P - failures, failures);
  return failures ? 1 : 0;
}
