#define _GNU_SOURCE
/* Planning and dispatch overhead of a cached call: a 1-rank communicator, so the call
 * is argument checks + plan-cache lookup + engine start/progress + one 8-byte copy.
 * Usage: dispatch_overhead [calls] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  long calls = argc > 1 ? atol(argv[1]) : 2000000;
  strata_unique_id_t id;
  strata_comm_t comm;
  if (strata_get_unique_id(&id) || strata_comm_init_rank(&comm, 1, id, 0)) return 1;
  double in[2] = {1, 2}, out[2];
  const char *names[] = {"allreduce 8 B (float64 x1)", "allreduce 16 B in place", "broadcast 8 B", "allgather 8 B"};
  printf("# dispatch overhead of a cached call, 1 rank, %ld calls per round, median of 7 rounds\n", calls);
  for (int k = 0; k < 4; k++) {
    double r[7];
    for (int round = 0; round < 7; round++) {
      double t0 = now();
      for (long i = 0; i < calls; i++) {
        switch (k) {
        case 0: strata_allreduce(in, out, 1, STRATA_FLOAT64, STRATA_SUM, comm); break;
        case 1: strata_allreduce(out, out, 2, STRATA_FLOAT64, STRATA_SUM, comm); break;
        case 2: strata_broadcast(in, out, 1, STRATA_FLOAT64, 0, comm); break;
        default: strata_allgather(in, out, 1, STRATA_FLOAT64, comm); break;
        }
      }
      r[round] = (now() - t0) / (double)calls * 1e9;
    }
    qsort(r, 7, sizeof r[0], cmp);
    printf("%-28s %7.1f ns/call (min %.1f)\n", names[k], r[3], r[0]);
  }
  strata_comm_destroy(comm);
  return 0;
}
