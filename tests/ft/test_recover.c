/* Fault tolerance, end to end: ranks forked here with the env bootstrap (no launcher to
 * mask a failure), one or more killed (SIGKILL) or stopped (SIGSTOP) at a random moment of
 * a loop of verified allreduces. Every survivor must get an error within STRATA_TIMEOUT_MS
 * (+ slack), shrink, run 100 verified allreduces on the survivors, grow back with freshly
 * started processes (strata_comm_join) and run 50 more. A stopped victim, continued after
 * the shrink, must get an error, never a result.
 *
 * Usage: test_recover P kill|stop NVICTIMS [SEED]
 *   victims: the ranks SEED picks (rank 0 among them for every third seed), or
 *   RECOVER_VICTIMS=a,b,c; RECOVER_PPN=k: pretend hosts of k ranks (STRATA_HOSTID);
 *   RECOVER_SITES=k: ranks >= k are a second site/provider (STRATA_SITE), its joiners too;
 *   RECOVER_SHRINK_DIE=1: one more survivor dies while the others shrink.
 *   RECOVER_DEVICE=1: the allreduces on device buffers (strata_mem_alloc; STRATA_DEVICE=emulated
 *   runs the device paths without a GPU, STRATA_DEV_PATH=staged the staged pipeline).
 *   Under scripts/emucluster.sh with ... -- --direct -- (EMU_NETNS set), RECOVER_PPN=k puts
 *   ranks k at a time into the emulated hosts' network namespaces, each with its host name:
 *   real links between hosts, a provider per uplink. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/env_boot.h"
#include "strata.h"
#include "strata_cuda.h"

#define MAXP 16
typedef struct shared {
  double t_fail;                /* when the parent killed or stopped the victims */
  double t_err[MAXP], t_shrunk[MAXP], t_ok[MAXP], t_grown[MAXP];
  int err[MAXP];
  int ready;
  int victim_err;               /* a stopped victim's result after SIGCONT */
} shared_t;

static shared_t *sh;
static char idpath[256];
static int P, sites_at;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Word i of a space-separated list, into out (0: not there). */
static int word(const char *list, int i, char *out, size_t n) {
  if (!list) return 0;
  for (int k = 0; *list; k++) {
    while (*list == ' ') list++;
    size_t len = strcspn(list, " ");
    if (!len) break;
    if (k == i) {
      if (len >= n) return 0;
      memcpy(out, list, len);
      out[len] = 0;
      return 1;
    }
    list += len;
  }
  return 0;
}

/* On the emulated cluster (scripts/emucluster.sh with ... -- --direct): into the network
 * namespace of emulated host h, with its host name; the root is on host 0's address. */
static int emu_enter(int h) {
  char ns[128], name[64], path[256];
  if (!word(getenv("EMU_NETNS"), h, ns, sizeof ns) || !word(getenv("EMU_HOSTS"), h, name, sizeof name)) {
    fprintf(stderr, "emulated host %d is not in EMU_NETNS/EMU_HOSTS\n", h);
    return -1;
  }
  snprintf(path, sizeof path, "/var/run/netns/%s", ns);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0 || unshare(CLONE_NEWUTS) != 0 || sethostname(name, strlen(name)) != 0) {
    fprintf(stderr, "cannot enter emulated host %s (%s): %s\n", name, ns, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

static void place(int r, int joiner) {
  const char *ppn = getenv("RECOVER_PPN");
  char h[32];
  if (getenv("EMU_NETNS") && ppn && atoi(ppn) > 0) { /* real (emulated) hosts: no pretending */
    if (emu_enter(r / atoi(ppn)) != 0) _exit(40);
  } else if (ppn && atoi(ppn) > 0) {
    snprintf(h, sizeof h, "h%d%s", r / atoi(ppn), joiner ? "j" : "");
    setenv("STRATA_HOSTID", h, 1);
  }
  if (sites_at > 0) setenv("STRATA_SITE", r >= sites_at ? "b" : "a", 1);
}

/* RECOVER_SHRINK_DIE's extra victim: the first rank after victims[0] that is not a victim. */
static int extra_rank(const int *victims, int nvict) {
  for (int d = 1; d < P; d++) {
    int r = (victims[0] + d) % P, is_v = 0;
    for (int i = 0; i < nvict; i++) is_v |= victims[i] == r;
    if (!is_v) return r;
  }
  return -1;
}

static void root_on_emu_host0(int port) {
  char a[64], v[96];
  if (!getenv("EMU_NETNS") || !word(getenv("EMU_ADDRS"), 0, a, sizeof a)) return;
  snprintf(v, sizeof v, "%s:%d", a, port);
  setenv("STRATA_ROOT", v, 1);
}

/* Verified allreduces: element i of rank r is r * 1000 + (i + it) % 13. */
static int run_allreduces(strata_comm_t c, int n, int it0, const char *what) {
  int rank, size;
  strata_comm_rank(c, &rank);
  strata_comm_size(c, &size);
  static int32_t a[6000], b[6000];
  static void *da, *db; /* RECOVER_DEVICE=1: the buffers in device memory (STRATA_DEVICE) */
  const int dev = getenv("RECOVER_DEVICE") != NULL;
  if (dev && !da && (strata_mem_alloc(&da, sizeof a) != STRATA_SUCCESS || strata_mem_alloc(&db, sizeof b) != STRATA_SUCCESS)) {
    fprintf(stderr, "rank %d: strata_mem_alloc failed (RECOVER_DEVICE=1 needs STRATA_DEVICE)\n", rank);
    return -1;
  }
  for (int it = it0; it < it0 + n; it++) {
    size_t cnt = 1 + (size_t)(it * 7919) % 5999;
    for (size_t i = 0; i < cnt; i++) a[i] = rank * 1000 + (int32_t)((i + (size_t)it) % 13);
    strata_result_t rc;
    if (dev) {
      strata_mem_copy(da, a, cnt * sizeof *a);
      rc = strata_allreduce(da, db, cnt, STRATA_INT32, STRATA_SUM, c);
      if (rc == STRATA_SUCCESS) strata_mem_copy(b, db, cnt * sizeof *b);
    } else {
      rc = strata_allreduce(a, b, cnt, STRATA_INT32, STRATA_SUM, c);
    }
    if (rc != STRATA_SUCCESS) {
      fprintf(stderr, "rank %d of %d: %s allreduce %d failed: %s\n", rank, size, what, it, strata_result_string(rc));
      return -1;
    }
    for (size_t i = 0; i < cnt; i++) {
      int32_t want = 1000 * size * (size - 1) / 2 + size * (int32_t)((i + (size_t)it) % 13);
      if (b[i] != want) {
        fprintf(stderr, "rank %d of %d: %s allreduce %d: element %zu is %d, not %d\n", rank, size, what, it, i, b[i],
                want);
        return -2;
      }
    }
  }
  return 0;
}

/* One verified collective of a seeded mix (the same on every rank): returns 0, -1 on an
 * error, -2 on wrong data. */
static int run_mixed(strata_comm_t c, int it) {
  int me, n;
  strata_comm_rank(c, &me);
  strata_comm_size(c, &n);
  static int32_t a[16 * 701], b[16 * 701];
  unsigned h = (unsigned)it * 2654435761u;
  int kind = (int)(h >> 8) % 7, root = (int)(h >> 20) % n;
  size_t cnt = 1 + (h >> 4) % 700;
  strata_result_t rc;
#define V(r, k, i) ((r) * 1000 + (k) * 10 + (int32_t)(((i) + (size_t)it) % 13))
  switch (kind) {
  case 0: return run_allreduces(c, 1, it, "pre-failure");
  case 1:
    for (size_t i = 0; i < cnt; i++) a[i] = V(me, 0, i);
    rc = strata_allgather(a, b, cnt, STRATA_INT32, c);
    if (rc) return -1;
    for (int r = 0; r < n; r++)
      for (size_t i = 0; i < cnt; i++) if (b[(size_t)r * cnt + i] != V(r, 0, i)) return -2;
    return 0;
  case 2:
    for (size_t i = 0; i < cnt; i++) a[i] = me == root ? V(root, 1, i) : -1;
    rc = strata_broadcast(a, a, cnt, STRATA_INT32, root, c);
    if (rc) return -1;
    for (size_t i = 0; i < cnt; i++) if (a[i] != V(root, 1, i)) return -2;
    return 0;
  case 3:
    for (size_t i = 0; i < cnt; i++) a[i] = V(me, 0, i);
    rc = strata_reduce(a, b, cnt, STRATA_INT32, STRATA_SUM, root, c);
    if (rc) return -1;
    if (me == root)
      for (size_t i = 0; i < cnt; i++) if (b[i] != 1000 * n * (n - 1) / 2 + n * V(0, 0, i)) return -2;
    return 0;
  case 4:
    for (int k = 0; k < n; k++)
      for (size_t i = 0; i < cnt; i++) a[(size_t)k * cnt + i] = V(me, k, i);
    rc = strata_reduce_scatter(a, b, cnt, STRATA_INT32, STRATA_SUM, c);
    if (rc) return -1;
    for (size_t i = 0; i < cnt; i++) if (b[i] != 1000 * n * (n - 1) / 2 + n * V(0, me, i)) return -2;
    return 0;
  case 5:
    for (int k = 0; k < n; k++)
      for (size_t i = 0; i < cnt; i++) a[(size_t)k * cnt + i] = V(me, k, i);
    rc = strata_alltoall(a, b, cnt, STRATA_INT32, c);
    if (rc) return -1;
    for (int r = 0; r < n; r++)
      for (size_t i = 0; i < cnt; i++) if (b[(size_t)r * cnt + i] != V(r, me, i)) return -2;
    return 0;
  default: return strata_barrier(c) ? -1 : 0;
  }
#undef V
}

static void write_id(const strata_unique_id_t *id) {
  char tmp[300];
  snprintf(tmp, sizeof tmp, "%s.tmp", idpath);
  FILE *f = fopen(tmp, "wb");
  if (!f) return;
  fwrite(id, sizeof *id, 1, f);
  fclose(f);
  rename(tmp, idpath);
}

static void *die_soon(void *arg) {
  (void)arg;
  usleep((useconds_t)(rand() % 3000));
  raise(SIGKILL);
  return NULL;
}

/* Grow the shrunk communicator back by nnew: its rank 0 makes the id and shares it over
 * the communicator and, for the new processes, in a file the parent watches. */
static int grow_back(strata_comm_t nc, int nnew, strata_comm_t *gc) {
  int rank;
  strata_comm_rank(nc, &rank);
  strata_unique_id_t id;
  memset(&id, 0, sizeof id);
  if (rank == 0 && strata_get_unique_id(&id) != STRATA_SUCCESS) return -1;
  if (strata_broadcast(&id, &id, sizeof id, STRATA_UINT8, 0, nc) != STRATA_SUCCESS) return -2;
  if (rank == 0) write_id(&id);
  strata_result_t rc = strata_comm_grow(nc, nnew, id, gc);
  if (rc != STRATA_SUCCESS) {
    fprintf(stderr, "grow failed: %s\n", strata_result_string(rc));
    return -3;
  }
  return 0;
}

static int original(int port, int r, int nvict, const int *victims, int stop, double timeout_s) {
  (void)stop; /* a stopped victim takes the same path as a survivor until its error */
  place(r, 0);
  env_boot_set(port, r, P);
  root_on_emu_host0(port);
  strata_comm_t comm;
  if (strata_comm_init_env(&comm) != STRATA_SUCCESS) return 10;
  __atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
  int is_victim = 0;
  for (int i = 0; i < nvict; i++) is_victim |= victims[i] == r;
  strata_result_t rc = STRATA_SUCCESS;
  int it = 0;
  double t_end = now() + 120;
  while (rc == STRATA_SUCCESS && now() < t_end) {
    int v = getenv("RECOVER_MIX") ? run_mixed(comm, it++) : run_allreduces(comm, 1, it++, "pre-failure");
    if (v == -2) { fprintf(stderr, "rank %d: WRONG DATA in call %d before the shrink\n", r, it - 1); return 99; }
    if (v == -1) {
      strata_comm_get_async_error(comm, &rc);
      if (rc == STRATA_SUCCESS) return 12;
    }
  }
  if (rc == STRATA_SUCCESS) return 13;
  double t_err = now();
  if (is_victim) { /* a stopped rank, continued: it must have failed, never succeeded */
    sh->victim_err = (int)rc;
    fprintf(stderr, "victim rank %d woke to %s\n", r, strata_result_string(rc));
    strata_comm_t nc = NULL;
    strata_result_t src = strata_comm_shrink(comm, NULL, 0, &nc); /* it cannot get back in */
    if (src == STRATA_SUCCESS && nc) { /* the others went on without it: it may not rejoin them */
      int sz;
      strata_comm_size(nc, &sz);
      if (sz > 1) {
        fprintf(stderr, "victim rank %d: shrink gave it a communicator of %d\n", r, sz);
        return 14;
      }
      strata_comm_destroy(nc);
    }
    strata_comm_destroy(comm);
    return 0;
  }
  sh->t_err[r] = t_err;
  sh->err[r] = (int)rc;
  if (rc != STRATA_ERR_PEER_FAILED && rc != STRATA_ERR_TIMEOUT && rc != STRATA_ERR_REVOKED) {
    fprintf(stderr, "rank %d: error %s is not a failure\n", r, strata_result_string(rc));
    return 15;
  }
  if (sh->t_fail > 0 && t_err - sh->t_fail > timeout_s + 3.0) {
    fprintf(stderr, "rank %d: the error came %.2f s after the failure (timeout %.1f s)\n", r, t_err - sh->t_fail,
            timeout_s);
    return 16;
  }
  if (getenv("RECOVER_SHRINK_DIE") && r == extra_rank(victims, nvict)) { /* dies while the others shrink */
    pthread_t th;
    pthread_create(&th, NULL, die_soon, NULL);
  }
  strata_comm_t nc = NULL;
  rc = strata_comm_shrink(comm, NULL, 0, &nc);
  if (rc != STRATA_SUCCESS || !nc) {
    fprintf(stderr, "rank %d: shrink failed: %s\n", r, strata_result_string(rc));
    return 17;
  }
  double t_sh = now();
  int fr[MAXP], nf = 0;
  strata_comm_failed_ranks(comm, fr, MAXP, &nf);
  for (int i = 0; i < nvict; i++) {
    int found = 0;
    for (int k = 0; k < nf && k < MAXP; k++) found |= fr[k] == victims[i];
    if (!found) {
      fprintf(stderr, "rank %d: victim %d is not among the %d failed ranks\n", r, victims[i], nf);
      return 18;
    }
  }
  double td = now();
  strata_comm_destroy(comm); /* after a failure: prompt */
  if (now() - td > 2.0) {
    fprintf(stderr, "rank %d: destroy after the failure took %.2f s\n", r, now() - td);
    return 19;
  }
  int nsize;
  strata_comm_size(nc, &nsize);
  int extra = getenv("RECOVER_SHRINK_DIE") ? 1 : 0;
  if (nsize < P - nvict - extra) { /* the others went on without this rank: a clear error, not a result */
    fprintf(stderr, "rank %d: excluded by the survivors (a communicator of %d)\n", r, nsize);
    strata_comm_destroy(nc);
    return 26;
  }
  /* a further failure during the shrink (or just after it: the extra victim's death is
   * timed, not placed) may leave one more dead member: shrink again */
  for (int tries = 0;; tries++) {
    int v = run_allreduces(nc, 1, 100000, "first");
    if (v == 0 && !sh->t_ok[r]) {
      sh->t_shrunk[r] = t_sh;
      sh->t_ok[r] = now();
    }
    if (v == 0) v = run_allreduces(nc, 100, 0, "shrunk");
    if (v == 0) break;
    if (v == -2) return 99;
    if (!extra || tries >= 2) return 22;
    strata_comm_t n2 = NULL;
    if (strata_comm_shrink(nc, NULL, 0, &n2) != STRATA_SUCCESS || !n2) return 21;
    strata_comm_destroy(nc);
    nc = n2;
  }
  strata_comm_size(nc, &nsize);
  strata_comm_t gc = NULL;
  if (grow_back(nc, P - nsize, &gc)) return 23;
  sh->t_grown[r] = now();
  int gsize, grank, nrank;
  strata_comm_size(gc, &gsize);
  strata_comm_rank(gc, &grank);
  strata_comm_rank(nc, &nrank);
  if (gsize != P || grank != nrank) {
    fprintf(stderr, "rank %d: grown communicator: rank %d of %d, expected %d of %d\n", r, grank, gsize, nrank, P);
    return 24;
  }
  int gv = run_allreduces(gc, 50, 7, "grown");
  if (gv) return gv == -2 ? 99 : 25;
  strata_comm_destroy(nc);
  strata_comm_destroy(gc);
  return 0;
}

static int joiner(int index, int nsurv) {
  strata_unique_id_t id;
  FILE *f = fopen(idpath, "rb");
  if (!f || fread(&id, sizeof id, 1, f) != 1) return 30;
  fclose(f);
  place(nsurv + index, 1);
  strata_comm_t gc;
  strata_result_t rc = strata_comm_join(id, index, &gc);
  if (rc != STRATA_SUCCESS) {
    fprintf(stderr, "joiner %d: %s\n", index, strata_result_string(rc));
    return 31;
  }
  int gr;
  strata_comm_rank(gc, &gr);
  if (gr != nsurv + index) return 32;
  int gv = run_allreduces(gc, 50, 7, "grown");
  if (gv) return gv == -2 ? 99 : 33;
  strata_comm_destroy(gc);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s P kill|stop NVICTIMS [SEED]\n", argv[0]);
    return 2;
  }
  P = atoi(argv[1]);
  int stop = !strcmp(argv[2], "stop");
  int nvict = atoi(argv[3]);
  unsigned seed = argc > 4 ? (unsigned)atoi(argv[4]) : (unsigned)time(NULL);
  if (P < 2 || P > MAXP || nvict < 1 || nvict >= P) return 2;
  const char *sa = getenv("RECOVER_SITES");
  sites_at = sa ? atoi(sa) : 0;
  srand(seed);
  int victims[MAXP];
  const char *vl = getenv("RECOVER_VICTIMS");
  if (vl) {
    nvict = 0;
    for (const char *p = vl; *p && nvict < MAXP;) {
      victims[nvict++] = atoi(p);
      while (*p && *p != ',') p++;
      if (*p) p++;
    }
  } else {
    for (int i = 0; i < nvict; i++) {
      int v, dup;
      do {
        v = (i == 0 && seed % 3 == 0) ? 0 : rand() % P;
        dup = 0;
        for (int k = 0; k < i; k++) dup |= victims[k] == v;
      } while (dup);
      victims[i] = v;
    }
  }
  const char *to = getenv("STRATA_TIMEOUT_MS");
  if (!to) setenv("STRATA_TIMEOUT_MS", "2000", 1);
  double timeout_s = atof(getenv("STRATA_TIMEOUT_MS")) / 1000.0;
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  memset(sh, 0, sizeof *sh);
  snprintf(idpath, sizeof idpath, "/tmp/strata-recover-%d.id", (int)getpid());
  unlink(idpath);
  int port = env_boot_free_port();
  printf("test_recover: %d ranks, %s, victims", P, stop ? "SIGSTOP" : "SIGKILL");
  for (int i = 0; i < nvict; i++) printf(" %d", victims[i]);
  printf(", seed %u, timeout %.1f s\n", seed, timeout_s);
  fflush(stdout);
  pid_t pids[MAXP], jp[MAXP];
  for (int r = 0; r < P; r++) {
    pids[r] = fork();
    if (pids[r] == 0) _exit(original(port, r, nvict, victims, stop, timeout_s));
  }
  int fails = 0, wrong = 0, hung = 0;
  double t0 = now();
  while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < P && now() - t0 < 60) usleep(1000);
  if (sh->ready < P) { fprintf(stderr, "not every rank initialised\n"); fails++; }
  usleep(100000 + (useconds_t)(rand() % 700000)); /* somewhere in the loop */
  sh->t_fail = now();
  for (int i = 0; i < nvict; i++) kill(pids[victims[i]], stop ? SIGSTOP : SIGKILL);
  int extra = getenv("RECOVER_SHRINK_DIE") ? 1 : 0;
  int nsurv = P - nvict - extra;
  struct stat stt;
  t0 = now();
  while (stat(idpath, &stt) != 0 && now() - t0 < 90) usleep(2000);
  int njoin = 0;
  if (stat(idpath, &stt) == 0) {
    for (int j = 0; j < P - nsurv; j++) {
      jp[j] = fork();
      if (jp[j] == 0) _exit(joiner(j, nsurv));
      njoin++;
    }
  } else {
    fprintf(stderr, "the survivors never grew back\n");
    fails++;
  }
  if (stop)
    for (int i = 0; i < nvict; i++) kill(pids[victims[i]], SIGCONT);
  /* every process ends, within a bound */
  pid_t all[2 * MAXP];
  int nall = 0;
  for (int r = 0; r < P; r++) all[nall++] = pids[r];
  for (int j = 0; j < njoin; j++) all[nall++] = jp[j];
  double dl = now() + 120;
  int left = nall;
  int done[2 * MAXP] = {0};
  while (left > 0 && now() < dl) {
    for (int k = 0; k < nall; k++) {
      if (done[k]) continue;
      int st;
      pid_t w = waitpid(all[k], &st, WNOHANG);
      if (w != all[k]) continue;
      done[k] = 1;
      left--;
      int is_v = 0;
      for (int i = 0; i < nvict; i++) is_v |= k < P && victims[i] == k;
      int killed_ok = (is_v && !stop) || (extra && k == extra_rank(victims, nvict));
      if (killed_ok) continue;
      if (WIFEXITED(st) && WEXITSTATUS(st) == 99) wrong++;
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s %d: %s %d\n", k < P ? "rank" : "joiner", k < P ? k : k - P,
                WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        fails++;
      }
    }
    usleep(2000);
  }
  if (left > 0) {
    fprintf(stderr, "%d process(es) hung\n", left);
    hung = 1;
    for (int k = 0; k < nall; k++)
      if (!done[k]) kill(all[k], SIGKILL);
    fails++;
  }
  double det = 0, rec = 0, gro = 0;
  int nd = 0;
  for (int r = 0; r < P; r++)
    if (sh->t_err[r] > 0 && sh->t_ok[r] > 0) {
      det = sh->t_err[r] - sh->t_fail > det ? sh->t_err[r] - sh->t_fail : det;
      rec = sh->t_ok[r] - sh->t_fail > rec ? sh->t_ok[r] - sh->t_fail : rec;
      if (sh->t_grown[r] > 0) gro = sh->t_grown[r] - sh->t_ok[r] > gro ? sh->t_grown[r] - sh->t_ok[r] : gro;
      nd++;
    }
  printf("test_recover: %d survivors: detected within %.3f s, first verified allreduce on the shrunk communicator "
         "%.3f s after the failure, grow %.3f s%s%s\n", nd, det, rec, gro, stop ? "; stopped victim woke to " : "",
         stop ? strata_result_string((strata_result_t)sh->victim_err) : "");
  unlink(idpath);
  printf("test_recover: %s\n", wrong ? "FAILED: WRONG DATA" : hung ? "FAILED: HUNG" : fails ? "FAILED" : "ok");
  return wrong ? 3 : hung ? 4 : fails ? 1 : 0;
}
