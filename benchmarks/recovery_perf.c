/* Recovery time: from a rank's death (SIGKILL) or stop (SIGSTOP) to the first verified
 * allreduce of the survivors, two ways, in the same run:
 *   shrink   strata_comm_shrink on the failed communicator (then: grow back with a new
 *            process, timed from the grow call to the first verified allreduce of all);
 *   reinit   what NCCL users do today: destroy everything, initialise a new communicator of
 *            the survivors through a new bootstrap root.
 * Ranks are forked here with the env bootstrap. Medians over -r launches of each.
 * Usage: recovery_perf [-n P] [-r reps] [-s] (STRATA_TIMEOUT_MS, STRATA_TRANSPORTS, ... as set;
 * -s: SIGSTOP instead of SIGKILL) */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tests/common/env_boot.h"
#include "strata.h"

#define MAXP 64
typedef struct {
  double t_fail, t_err[MAXP], t_ok[MAXP], t_grow0[MAXP], t_grown[MAXP];
  int ready;
} shm_t;
static shm_t *sh;
static char idpath[128];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One verified allreduce of 4096 floats; 0 when right. */
static int verified(strata_comm_t c) {
  static float a[4096], b[4096];
  int r, n;
  strata_comm_rank(c, &r);
  strata_comm_size(c, &n);
  for (int i = 0; i < 4096; i++) a[i] = (float)(r + i % 5);
  if (strata_allreduce(a, b, 4096, STRATA_FLOAT32, STRATA_SUM, c) != STRATA_SUCCESS) return -1;
  for (int i = 0; i < 4096; i++)
    if (b[i] != (float)(n * (n - 1) / 2 + n * (i % 5))) return -2;
  return 0;
}

static int rank_main(int port, int port2, int P, int r, int victim, int reinit) {
  env_boot_set(port, r, P);
  strata_comm_t c;
  if (strata_comm_init_env(&c) != STRATA_SUCCESS) return 10;
  for (int i = 0; i < 20; i++)
    if (verified(c)) return 11;
  __atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
  int v;
  while ((v = verified(c)) == 0) {}
  if (v == -2) return 12;
  if (r == victim) { strata_comm_destroy(c); return 0; } /* a stopped victim, continued */
  sh->t_err[r] = now();
  strata_comm_t nc = NULL;
  if (!reinit) {
    if (strata_comm_shrink(c, NULL, 0, &nc) != STRATA_SUCCESS || !nc) return 13;
  } else { /* tear down, start over with the survivors through a new root */
    strata_comm_destroy(c);
    c = NULL;
    env_boot_set(port2, r < victim ? r : r - 1, P - 1);
    if (strata_comm_init_env(&nc) != STRATA_SUCCESS) return 14;
  }
  if (verified(nc)) return 15;
  sh->t_ok[r] = now();
  if (!reinit) { /* grow back */
    int nr;
    strata_comm_rank(nc, &nr);
    strata_unique_id_t id;
    memset(&id, 0, sizeof id);
    if (nr == 0 && strata_get_unique_id(&id)) return 16;
    if (strata_broadcast(&id, &id, sizeof id, STRATA_UINT8, 0, nc)) return 17;
    sh->t_grow0[r] = now();
    if (nr == 0) {
      char tmp[160];
      snprintf(tmp, sizeof tmp, "%s.tmp", idpath);
      FILE *f = fopen(tmp, "wb");
      if (!f) return 18;
      fwrite(&id, sizeof id, 1, f);
      fclose(f);
      rename(tmp, idpath);
    }
    strata_comm_t gc;
    if (strata_comm_grow(nc, 1, id, &gc)) return 19;
    if (verified(gc)) return 20;
    sh->t_grown[r] = now();
    strata_comm_destroy(gc);
    strata_comm_destroy(c);
  }
  strata_comm_destroy(nc);
  return 0;
}

static int joiner_main(void) {
  strata_unique_id_t id;
  FILE *f = fopen(idpath, "rb");
  if (!f || fread(&id, sizeof id, 1, f) != 1) return 30;
  fclose(f);
  strata_comm_t gc;
  if (strata_comm_join(id, 0, &gc)) return 31;
  if (verified(gc)) return 32;
  strata_comm_destroy(gc);
  return 0;
}

/* One launch: returns 0 and fills detect/recover/grow (s), or -1. */
static int launch(int P, int stop, int reinit, double *detect, double *recover, double *grow) {
  memset(sh, 0, sizeof *sh);
  unlink(idpath);
  int port = env_boot_free_port(), port2 = env_boot_free_port();
  if (port2 == port) port2 = port + 1;
  int victim = P - 1 > 1 ? 1 : P - 1;
  pid_t pid[MAXP], jp = -1;
  for (int r = 0; r < P; r++)
    if ((pid[r] = fork()) == 0) _exit(rank_main(port, port2, P, r, victim, reinit));
  double t0 = now();
  while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < P && now() - t0 < 60) usleep(500);
  usleep(200000);
  sh->t_fail = now();
  kill(pid[victim], stop ? SIGSTOP : SIGKILL);
  if (!reinit) {
    struct stat st;
    while (stat(idpath, &st) != 0 && now() - t0 < 120) usleep(500);
    if ((jp = fork()) == 0) _exit(joiner_main());
  }
  int bad = 0;
  if (stop) { /* continue it once the others are done with it */
    for (int r = 0; r < P; r++) if (r != victim) { int s; waitpid(pid[r], &s, 0); bad |= !WIFEXITED(s) || WEXITSTATUS(s); }
    kill(pid[victim], SIGCONT);
    int s;
    waitpid(pid[victim], &s, 0);
  } else {
    for (int r = 0; r < P; r++) { int s; waitpid(pid[r], &s, 0); if (r != victim) bad |= !WIFEXITED(s) || WEXITSTATUS(s); }
  }
  if (jp > 0) { int s; waitpid(jp, &s, 0); bad |= !WIFEXITED(s) || WEXITSTATUS(s); }
  *detect = *recover = *grow = 0;
  for (int r = 0; r < P; r++) {
    if (r == victim) continue;
    if (sh->t_err[r] - sh->t_fail > *detect) *detect = sh->t_err[r] - sh->t_fail;
    if (sh->t_ok[r] - sh->t_fail > *recover) *recover = sh->t_ok[r] - sh->t_fail;
    if (!reinit && sh->t_grown[r] - sh->t_grow0[r] > *grow) *grow = sh->t_grown[r] - sh->t_grow0[r];
  }
  unlink(idpath);
  return bad ? -1 : 0;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n ? (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2])) : 0;
}

int main(int argc, char **argv) {
  int P = 5, reps = 5, stop = 0, opt;
  while ((opt = getopt(argc, argv, "n:r:s")) != -1) {
    if (opt == 'n') P = atoi(optarg);
    else if (opt == 'r') reps = atoi(optarg);
    else if (opt == 's') stop = 1;
    else { fprintf(stderr, "usage: %s [-n P] [-r reps] [-s]\n", argv[0]); return 2; }
  }
  if (P < 2 || P > MAXP || reps < 1 || reps > 100) return 2;
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  snprintf(idpath, sizeof idpath, "/tmp/strata-recovery-%d.id", (int)getpid());
  const char *to = getenv("STRATA_TIMEOUT_MS"), *tp = getenv("STRATA_TRANSPORTS");
  printf("# recovery_perf: %d ranks, %s, STRATA_TIMEOUT_MS=%s, transports %s, %d launches each (medians)\n", P,
         stop ? "SIGSTOP" : "SIGKILL", to ? to : "600000 (default)", tp ? tp : "default", reps);
  fflush(stdout); /* before the forks */
  double d[2][100], rc[2][100], g[100];
  int n[2] = {0, 0};
  for (int k = 0; k < reps; k++)
    for (int reinit = 0; reinit < 2; reinit++) { /* alternate the two ways */
      double a, b, c;
      if (launch(P, stop, reinit, &a, &b, &c) == 0) {
        d[reinit][n[reinit]] = a;
        rc[reinit][n[reinit]] = b;
        if (!reinit) g[n[0]] = c;
        n[reinit]++;
      } else {
        fprintf(stderr, "recovery_perf: a %s launch failed\n", reinit ? "reinit" : "shrink");
      }
    }
  double gm = median(g, n[0]);
  double s_det = median(d[0], n[0]), s_rec = median(rc[0], n[0]);
  double r_det = median(d[1], n[1]), r_rec = median(rc[1], n[1]);
  printf("%-8s %6s %14s %24s %12s\n", "way", "runs", "detect (ms)", "failure->verified (ms)", "grow (ms)");
  printf("%-8s %6d %14.1f %24.1f %12.1f\n", "shrink", n[0], s_det * 1e3, s_rec * 1e3, gm * 1e3);
  printf("%-8s %6d %14.1f %24.1f %12s\n", "reinit", n[1], r_det * 1e3, r_rec * 1e3, "-");
  if (n[0] && n[1]) printf("# reinit / shrink (failure -> first verified allreduce): %.2fx\n", r_rec / s_rec);
  return n[0] == reps && n[1] == reps ? 0 : 1;
}
