/* Deriving the machine-dependent figures (machine.h): env, cache file, calibration, hwloc.
 *
 * The calibration runs what a node plan does between two cores: a writer thread fills a
 * ring of 4 staging slots piece by piece, a reader thread copies each piece out as soon as
 * it is published, and the slot is reused once read. It times that with plain stores and
 * with streaming stores at pieces of 4 KiB to 512 KiB; streaming stores are used from the
 * smallest piece size from which they win at every larger size (never, where they never
 * win: a large L3 shared by both cores keeps the pieces in cache for the reader). It also
 * measures a flag round trip between the two cores (node_alpha), the ring's throughput at
 * 64 KiB pieces (node_bw: a staging copy as node plans pay it, written on one core and read
 * on the other) and a float32 sum (reduce_bw). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../core/clock.h"
#include "machine.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../../kernels/strata_kernels.h"
#include "../core/log.h"
#include "../core/topo.h"

#define NSIZES 8 /* 4 KiB .. 512 KiB */
#define RING 4
#define NEVER UINT64_MAX


static void cpu_model(char *out, size_t n) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[256];
  snprintf(out, n, "unknown");
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "model name", 10)) {
      const char *c = strchr(line, ':');
      if (c) snprintf(out, n, "%s", c + 2);
      out[strcspn(out, "\n")] = 0;
      break;
    }
  if (f) fclose(f);
  for (char *p = out; *p; p++)
    if (*p == ' ' || *p == '/' || *p == '=') *p = '_';
}

/* ---- two pinned threads ---- */

typedef struct bench {
  char *slots, *src, *dst;
  size_t piece;
  int iters, stream, mode; /* mode 0: ring of slots, 1: ping-pong */
  _Atomic uint64_t put, done;
  _Atomic int abort;   /* the writer gave up (deadline): the reader stops too */
  double deadline;
  int cpu[2];
  double t;
} bench_t;

static void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void *reader(void *p) {
  bench_t *b = p;
  pin(b->cpu[1]);
  for (uint64_t v = 1; v <= (uint64_t)b->iters; v++) {
    while (atomic_load_explicit(&b->put, memory_order_acquire) < v)
      if (atomic_load_explicit(&b->abort, memory_order_relaxed)) return NULL;
    if (b->mode == 0) memcpy(b->dst, b->slots + ((v - 1) % RING) * b->piece, b->piece);
    atomic_store_explicit(&b->done, v, memory_order_release);
  }
  return NULL;
}

/* Spin until *w >= v; 0, or -1 (and abort) once the bench's deadline has passed: every
 * wait of the calibration is bounded (a reader that never gets its core, say). */
static int spin_until(bench_t *b, _Atomic uint64_t *w, uint64_t v) {
  for (unsigned k = 1; atomic_load_explicit(w, memory_order_acquire) < v; k++)
    if ((k & 4095) == 0 && strata_now_s() > b->deadline) {
      atomic_store(&b->abort, 1);
      return -1;
    }
  return 0;
}

static void run_bench(bench_t *b) {
  pthread_t th;
  atomic_store(&b->put, 0);
  atomic_store(&b->done, 0);
  atomic_store(&b->abort, 0);
  b->deadline = strata_now_s() + 2.0;
  if (pthread_create(&th, NULL, reader, b)) { b->t = -1; return; }
  pin(b->cpu[0]);
  double t0 = strata_now_s();
  for (uint64_t v = 1; v <= (uint64_t)b->iters; v++) {
    if (b->mode == 0) {
      /* the slot is free once its previous piece was read */
      if (v > RING && spin_until(b, &b->done, v - RING)) break;
      char *slot = b->slots + ((v - 1) % RING) * b->piece;
      if (b->stream) strata_kernel_copy_stream(slot, b->src, b->piece);
      else memcpy(slot, b->src, b->piece);
    } else {
      if (spin_until(b, &b->done, v - 1)) break;
    }
    atomic_store_explicit(&b->put, v, memory_order_release);
  }
  int late = atomic_load(&b->abort) || spin_until(b, &b->done, (uint64_t)b->iters);
  b->t = late ? -1 : strata_now_s() - t0;
  pthread_join(th, NULL);
}

static void cache_write(const strata_machine_t *m);

int strata_machine_calibrate(strata_machine_t *m) {
  cpu_set_t allowed;
  int cpus[2] = {-1, -1}, k = 0;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
      if (CPU_ISSET(c, &allowed)) cpus[k++] = c;
  if (k < 2) return -1; /* one core: nothing to stream to */
  cpu_set_t saved;
  pthread_getaffinity_np(pthread_self(), sizeof saved, &saved);
  const size_t maxp = (size_t)4096 << (NSIZES - 1);
  bench_t b;
  memset(&b, 0, sizeof b);
  b.cpu[0] = cpus[0];
  b.cpu[1] = cpus[1];
  b.slots = aligned_alloc(4096, RING * maxp);
  b.src = aligned_alloc(4096, maxp);
  b.dst = aligned_alloc(4096, maxp);
  if (!b.slots || !b.src || !b.dst) { free(b.slots); free(b.src); free(b.dst); return -1; }
  memset(b.slots, 1, RING * maxp);
  memset(b.src, 2, maxp);
  memset(b.dst, 3, maxp);
  double tp[NSIZES], ts[NSIZES];
  for (int i = 0; i < NSIZES; i++) tp[i] = ts[i] = 1e30;
  /* alternate plain and streaming, size by size, three times: the best of each */
  for (int rep = 0; rep < 3; rep++)
    for (int i = 0; i < NSIZES; i++)
      for (int st = 0; st < 2; st++) {
        b.piece = (size_t)4096 << i;
        b.stream = st;
        b.mode = 0;
        b.iters = (int)(((size_t)8 << 20) / b.piece) + RING; /* 8 MiB through the ring */
        run_bench(&b);
        if (b.t < 0) goto fail;
        double per = b.t / (double)b.iters;
        if (st) { if (per < ts[i]) ts[i] = per; }
        else if (per < tp[i]) tp[i] = per;
      }
  m->stream_min = NEVER;
  for (int i = 0; i < NSIZES; i++) m->copy_gain[i] = ts[i] / tp[i];
  for (int i = NSIZES - 1; i >= 0 && m->copy_gain[i] < 0.95; i--)
    m->stream_min = (uint64_t)4096 << i; /* wins here and at every larger piece */
  /* flag round trip */
  b.mode = 1;
  b.iters = 20000;
  run_bench(&b);
  if (b.t < 0) goto fail;
  m->node_alpha = b.t / b.iters / 2;
  /* the staging copy as node plans see it: bytes through the ring of slots per second
   * (written on one core, read on the other), at 64 KiB pieces with the stores chosen */
  m->node_bw = (double)((size_t)4096 << 4) / (m->stream_min <= ((size_t)4096 << 4) ? ts[4] : tp[4]);
  /* float32 sum of cache-resident inputs, one core */
  {
    const size_t n = 64 << 10;
    int reps = 2000;
    double t0;
    float *x = (float *)b.src, *y = (float *)b.dst;
    for (size_t i = 0; i < n / 4; i++) x[i] = y[i] = 1.0f;
    t0 = strata_now_s();
    for (int r = 0; r < reps; r++) strata_kernel_reduce2(b.slots, x, y, n / 4, 7 /* FLOAT32 */, 0 /* SUM */);
    m->reduce_bw = (double)n * reps / (strata_now_s() - t0);
  }
  /* CMA: process_vm_readv of this process's own memory takes the kernel path a peer's read
   * takes (pin the pages, copy): per-call cost at 4 KiB and bandwidth at 1 MiB, best of 3 */
  {
    const size_t big = (size_t)1 << 20;
    char *a = malloc(big), *c = malloc(big);
    if (a && c) {
      memset(a, 5, big);
      memset(c, 6, big);
      double best_s = 1e30, best_b = 1e30;
      for (int rep = 0; rep < 3; rep++) {
        struct iovec l = {c, 4096}, r = {a, 4096};
        double t0 = strata_now_s();
        for (int k = 0; k < 200; k++) process_vm_readv(getpid(), &l, 1, &r, 1, 0);
        double ts1 = (strata_now_s() - t0) / 200;
        l.iov_len = r.iov_len = big;
        t0 = strata_now_s();
        for (int k = 0; k < 20; k++) process_vm_readv(getpid(), &l, 1, &r, 1, 0);
        double tb = (strata_now_s() - t0) / 20;
        if (ts1 < best_s) best_s = ts1;
        if (tb < best_b) best_b = tb;
      }
      m->cma_alpha = best_s;
      m->cma_bw = (double)big / best_b;
    }
    free(a);
    free(c);
  }
  pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
  free(b.slots); free(b.src); free(b.dst);
  m->calibrated = 1;
  snprintf(m->source, sizeof m->source, "calibrated");
  cache_write(m);
  return 0;
fail:
  pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
  free(b.slots); free(b.src); free(b.dst);
  return -1;
}

/* ---- the cache file ---- */

int strata_machine_cache_file(char *out, size_t n, const char *prefix, const char *suffix, int mkdirs) {
  const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
  char dir[512];
  if (x && *x) snprintf(dir, sizeof dir, "%s/strata", x);
  else if (h && *h) snprintf(dir, sizeof dir, "%s/.cache/strata", h);
  else return -1;
  if (mkdirs) {
    char parent[512];
    snprintf(parent, sizeof parent, "%s", dir);
    char *sl = strrchr(parent, '/');
    if (sl) { *sl = 0; mkdir(parent, 0700); }
    mkdir(dir, 0700);
  }
  char host[64] = "host", model[128];
  gethostname(host, sizeof host - 1);
  cpu_model(model, sizeof model);
  snprintf(out, n, "%s/%s-%s-%s-%ld%s.conf", dir, prefix, host, model, sysconf(_SC_NPROCESSORS_ONLN), suffix);
  return 0;
}

static int cache_read(strata_machine_t *m) {
  char path[1024];
  if (strata_machine_cache_file(path, sizeof path, "machine", "", 0)) return -1;
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  unsigned long long sm = 0;
  int ok = fscanf(f, "stream_min %llu node_alpha %lf node_bw %lf reduce_bw %lf cma_alpha %lf cma_bw %lf", &sm,
                  &m->node_alpha, &m->node_bw, &m->reduce_bw, &m->cma_alpha, &m->cma_bw) == 6;
  fclose(f);
  if (!ok || m->node_alpha <= 0 || m->node_bw <= 0 || m->reduce_bw <= 0 || m->cma_alpha <= 0 || m->cma_bw <= 0)
    return -1; /* an older or damaged cache: measure again */
  m->stream_min = sm;
  m->calibrated = 1;
  snprintf(m->source, sizeof m->source, "cached");
  return 0;
}

static void cache_write(const strata_machine_t *m) {
  char path[1024], tmp[1100];
  if (strata_machine_cache_file(path, sizeof path, "machine", "", 1)) return;
  snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fprintf(f, "stream_min %llu node_alpha %.9g node_bw %.6g reduce_bw %.6g cma_alpha %.9g cma_bw %.6g\n",
          (unsigned long long)m->stream_min, m->node_alpha, m->node_bw, m->reduce_bw, m->cma_alpha, m->cma_bw);
  fclose(f);
  if (rename(tmp, path)) unlink(tmp); /* atomic: a reader sees the old file or the new one */
}

/* ---- derive ---- */

static int env_u64(const char *name, uint64_t *v) {
  const char *s = getenv(name);
  if (!s || !*s) return 0;
  char *e;
  unsigned long long x = strtoull(s, &e, 0);
  if (*e == 'k' || *e == 'K') x <<= 10, e++;
  else if (*e == 'm' || *e == 'M') x <<= 20, e++;
  else if (*e == 'g' || *e == 'G') x <<= 30, e++;
  if (*e) {
    SLOG_WARN("%s=%s is not a size; derived on the machine instead", name, s);
    return 0;
  }
  *v = x;
  return 1;
}

static int calibration_cpus(void) {
  cpu_set_t allowed;
  return sched_getaffinity(0, sizeof allowed, &allowed) == 0 ? CPU_COUNT(&allowed) : 0;
}

static int tune_on(void) {
  const char *tune = getenv("STRATA_TUNE");
  return !(tune && !strcmp(tune, "0"));
}

int strata_machine_will_calibrate(void) {
  strata_machine_t m;
  return tune_on() && calibration_cpus() >= 2 && cache_read(&m) != 0;
}

/* The other ranks of a host while its leader calibrates: asleep, not spinning in the
 * bootstrap's collective, which on a 2-core machine took the leader's cores and got
 * 0.2 GB/s staging copies cached. Bounded: a calibration that fails writes nothing. */
#define STRATA_CALIBRATION_WAIT_S 10.0
void strata_machine_await_calibration(void) {
  strata_machine_t m;
  const double end = strata_now_s() + STRATA_CALIBRATION_WAIT_S;
  const struct timespec nap = {0, 2000000};
  while (cache_read(&m) != 0 && strata_now_s() < end) nanosleep(&nap, NULL);
}

void strata_machine_derive(strata_machine_t *m, int may_measure) {
  memset(m, 0, sizeof *m);
  /* without a measurement: streaming stores only where the staging ring cannot stay in
   * the L3 shared by the cores (hwloc), a conservative flag latency and copy speeds */
  strata_host_topo_t tp;
  strata_host_topo(&tp);
  m->stream_min = tp.l3_bytes && tp.l3_bytes < ((size_t)8 << 20) ? 8192 : NEVER;
  m->core_cache = tp.l2_bytes ? tp.l2_bytes : (1u << 20);
  m->node_alpha = 0.2e-6;
  m->node_bw = 16e9;
  m->reduce_bw = 12e9;
  snprintf(m->source, sizeof m->source, "hwloc");
  if (tune_on() && cache_read(m) != 0 && may_measure) {
    strata_machine_t c = *m;
    if (strata_machine_calibrate(&c) == 0) *m = c;
  }
  /* the variables win over everything */
  if (env_u64("STRATA_SHM_STREAM_MIN", &m->stream_min)) snprintf(m->source, sizeof m->source, "env");
  m->node_pipe_min = 32768;
  m->node_slice_min = 65536;
  m->node_pipe = 4;
  env_u64("STRATA_SHM_PIPE_MIN", &m->node_pipe_min);
  env_u64("STRATA_SHM_SLICE_MIN", &m->node_slice_min);
  uint64_t pipe = 0;
  if (env_u64("STRATA_SHM_PIPE", &pipe) && pipe >= 1 && pipe <= 64) m->node_pipe = (int32_t)pipe;
}

void strata_machine_describe(const strata_machine_t *m, char *out, size_t n) {
  char sm[32];
  if (m->stream_min == NEVER) snprintf(sm, sizeof sm, "never");
  else snprintf(sm, sizeof sm, "%llu B", (unsigned long long)m->stream_min);
  snprintf(out, n, "machine figures (%s): streaming stores from %s, flag round trip %.0f ns, staging copy %.1f GB/s, "
           "reduce %.1f GB/s, CMA %.2f us + %.1f GB/s, node pipeline from %llu B in %d chunks, sliced node allreduce from %llu B", m->source, sm,
           m->node_alpha * 2e9, m->node_bw * 1e-9, m->reduce_bw * 1e-9, m->cma_alpha * 1e6, m->cma_bw * 1e-9,
           (unsigned long long)m->node_pipe_min,
           m->node_pipe, (unsigned long long)m->node_slice_min);
}
