/* Measured plan times (plan_times.h): the sizes they are measured at, the decisions taken
 * from them, how samples combine, and their cache file (one text file per host, CPU model,
 * core count and rank count, written atomically). */
#include "plan_times.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"

static const size_t base_bytes[STRATA_PT_NPTS] = {8, 128, 1024, 4096, 8192, 16384, 32768, 131072, 524288, 2097152, 8388608};
const uint64_t strata_pt_slice_sizes[STRATA_PT_NSLICE] = {16384, 32768, 65536, 131072, 262144, 1048576};
const uint64_t strata_pt_pipe_sizes[STRATA_PT_NPIPE] = {16384, 65536, 262144, 1048576, 4194304};
const uint64_t strata_pt_pieces[STRATA_PT_NPIECE] = {131072, 262144, 1048576, 4194304};
const int strata_pt_pipe_chunks[4] = {0, 2, 4, 8};

#define NEVER UINT64_MAX

size_t strata_pt_count(strata_coll_t c, int P, int i) {
  if (c == STRATA_COLL_BARRIER) return 0;
  size_t per = base_bytes[i] / 4;
  if (c == STRATA_COLL_ALLGATHER || c == STRATA_COLL_REDUCE_SCATTER || c == STRATA_COLL_ALLTOALL)
    per /= (size_t)(P > 0 ? P : 1);
  return per ? per : 1;
}

size_t strata_pt_bytes(strata_coll_t c, int P, int i) {
  size_t n = strata_pt_count(c, P, i) * 4;
  if (c == STRATA_COLL_ALLGATHER || c == STRATA_COLL_REDUCE_SCATTER || c == STRATA_COLL_ALLTOALL) n *= (size_t)P;
  return n;
}

/* every table as one flat array of floats, in a fixed order */
#define NFLOAT (STRATA_PT_NSLICE * 2 + STRATA_PT_NPIPE * 4 + 2 * STRATA_PT_NPIECE + \
                STRATA_NUM_COLLS * STRATA_NUM_ALGOS * STRATA_PT_NPTS + STRATA_NUM_ALGOS * STRATA_PT_NPTS)
static float *flat(strata_plan_times_t *pt) { return &pt->slice[0][0]; }
_Static_assert(offsetof(strata_plan_times_t, ip) + sizeof(((strata_plan_times_t *)0)->ip) -
                       offsetof(strata_plan_times_t, slice) ==
                   NFLOAT * sizeof(float),
               "the tables are contiguous, slice first, ip last, nothing between");

void strata_plan_times_merge(strata_plan_times_t *acc, const strata_plan_times_t *sample) {
  const double k = acc->nsamples > 0 ? acc->nsamples : 0;
  float *a = flat(acc);
  const float *s = &sample->slice[0][0];
  for (int i = 0; i < NFLOAT; i++) {
    if (!(s[i] > 0)) continue;
    a[i] = a[i] > 0 && k > 0 ? (float)exp((k * log(a[i]) + log(s[i])) / (k + 1)) : s[i];
  }
  acc->nranks = sample->nranks;
  acc->nsamples++;
  strata_plan_times_decide(acc);
}

void strata_plan_times_decide(strata_plan_times_t *pt) {
  enum { NS = STRATA_PT_NSLICE, NP = STRATA_PT_NPIPE, NK = STRATA_PT_NPIECE };
  if (pt->slice[0][0] > 0) {
    /* sliced from the smallest size from which it is no slower at every larger size */
    uint64_t from = NEVER; /* sliced never won, up to the largest size measured */
    for (int i = NS - 1; i >= 0 && pt->slice[i][1] <= pt->slice[i][0]; i--) from = strata_pt_slice_sizes[i];
    pt->node_slice_min = from;
  }
  if (pt->pipe[0][0] > 0) {
    /* the chunk count closest to the best at every size (sum of log ratios) */
    int kc = 1;
    double score[4] = {0};
    for (int k = 1; k < 4; k++) {
      for (int i = 0; i < NP; i++) {
        double b = pt->pipe[i][0];
        for (int q = 1; q < 4; q++) b = pt->pipe[i][q] < b ? pt->pipe[i][q] : b;
        score[k] += log(pt->pipe[i][k] / b);
      }
      if (score[k] < score[kc]) kc = k;
    }
    pt->node_pipe = strata_pt_pipe_chunks[kc];
    /* cut above the largest size at which cutting is slower */
    int from = NP;
    while (from > 0 && pt->pipe[from - 1][kc] <= pt->pipe[from - 1][0]) from--;
    pt->node_pipe_min = from == NP ? NEVER : from == 0 ? strata_pt_pipe_sizes[0] / 2 : strata_pt_pipe_sizes[from - 1];
  }
  if (pt->piece[0][0] > 0) {
    int kb = 1; /* 256 KiB unless another is better */
    double sb = 1e30;
    for (int k = 0; k < NK; k++) {
      double s = 0;
      for (int j = 0; j < 2; j++) {
        double b = 1e30;
        for (int q = 0; q < NK; q++) b = fmin(b, pt->piece[j][q]);
        s += log(pt->piece[j][k] / b);
      }
      if (s < sb - 1e-9) { sb = s; kb = k; }
    }
    pt->ring_chunk = strata_pt_pieces[kb];
  }
}

/* The variables that change what the plans cost (slots, eager size, CMA, transports, the
 * builder inputs, polling): a job with any of them set keeps its own samples, tagged with a
 * hash of their values (a test with CMA off must not tune the default runs). STRATA_ALGO and
 * STRATA_COST_* are not among them: the timing forces every algorithm and measures times. */
static const char *const timing_vars[] = {"STRATA_SHM_CHUNK", "STRATA_SHM_NBUF", "STRATA_SHM_EAGER",
                                          "STRATA_SHM_CELLS", "STRATA_SHM_CMA", "STRATA_SHM_STREAM_MIN",
                                          "STRATA_SHM_PIPE_MIN", "STRATA_SHM_PIPE", "STRATA_SHM_SLICE_MIN",
                                          "STRATA_RING_CHUNK", "STRATA_TRANSPORTS", "STRATA_SPIN"};

static void file_name(char *suffix, size_t n, int P) {
  uint64_t h = 0xcbf29ce484222325ull;
  int any = 0;
  for (size_t i = 0; i < sizeof timing_vars / sizeof timing_vars[0]; i++) {
    const char *v = getenv(timing_vars[i]);
    if (!v || !*v) continue;
    any = 1;
    for (const char *p = timing_vars[i]; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    h = (h ^ '=') * 0x100000001b3ull;
    for (const char *p = v; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    h = (h ^ ';') * 0x100000001b3ull;
  }
  /* an instrumented build (ASan/UBSan) times its own plans: slower, and not what a
   * release build pays */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
  const char *build = "-sanitized";
#else
  const char *build = "";
#endif
  if (any)
    snprintf(suffix, n, "-%dranks-v%d%s-env%08llx", P, STRATA_PT_VERSION, build, (unsigned long long)(h & 0xffffffffu));
  else snprintf(suffix, n, "-%dranks-v%d%s", P, STRATA_PT_VERSION, build);
}

void strata_plan_times_path(char *out, size_t n, int P) {
  char suffix[64];
  file_name(suffix, sizeof suffix, P);
  if (strata_machine_cache_file(out, n, "plans", suffix, 0)) snprintf(out, n, "(no cache directory)");
}

int strata_plan_same_placement(double a, double b) {
  return a > 0 && b > 0 && a < 1.5 * b && b < 1.5 * a;
}

int strata_plan_samples_combine(const strata_plan_samples_t *ss, double ns, strata_plan_times_t *out) {
  int match = 0;
  for (int k = 0; k < ss->n; k++) match += strata_plan_same_placement(ss->placement_ns[k], ns);
  strata_plan_times_t keep = *out;
  memset(out, 0, sizeof *out);
  out->node_pipe = keep.node_pipe;
  out->node_pipe_min = keep.node_pipe_min;
  out->node_slice_min = keep.node_slice_min;
  out->ring_chunk = keep.ring_chunk;
  out->nranks = ss->nranks;
  for (int k = 0; k < ss->n; k++)
    if (!match || strata_plan_same_placement(ss->placement_ns[k], ns)) strata_plan_times_merge(out, &ss->s[k]);
  return match;
}

static int read_row(FILE *f, float *v, int n) {
  for (int i = 0; i < n; i++) {
    double t;
    if (fscanf(f, "%lf", &t) != 1 || !(t >= 0 && t < 10)) return 0;
    v[i] = (float)t;
  }
  return 1;
}

static int read_word(FILE *f, const char *w) {
  char b[32];
  return fscanf(f, "%31s", b) == 1 && !strcmp(b, w);
}

/* a threshold table is all measured (every entry > 0) or not at all (all 0) */
static int whole(const float *v, int n) {
  int pos = 0;
  for (int i = 0; i < n; i++) pos += v[i] > 0;
  return pos == 0 || pos == n;
}

static int read_sample(FILE *f, strata_plan_times_t *pt) {
  if (!read_word(f, "slice") || !read_row(f, &pt->slice[0][0], STRATA_PT_NSLICE * 2)) return 0;
  if (!read_word(f, "pipe") || !read_row(f, &pt->pipe[0][0], STRATA_PT_NPIPE * 4)) return 0;
  if (!read_word(f, "piece") || !read_row(f, &pt->piece[0][0], 2 * STRATA_PT_NPIECE)) return 0;
  if (!whole(&pt->slice[0][0], STRATA_PT_NSLICE * 2) || !whole(&pt->pipe[0][0], STRATA_PT_NPIPE * 4) ||
      !whole(&pt->piece[0][0], 2 * STRATA_PT_NPIECE))
    return 0;
  char cn[32], an[32];
  for (;;) {
    if (fscanf(f, "%31s", cn) != 1) return 0;
    if (!strcmp(cn, "end")) return 1;
    if (fscanf(f, "%31s", an) != 1) return 0;
    const int inplace = !strcmp(cn, "allreduce_inplace");
    int c = inplace ? STRATA_COLL_ALLREDUCE : strata_coll_from_name(cn), a = strata_algo_from_name(an);
    if (c < 0 || a <= 0 || c >= STRATA_NUM_COLLS || a >= STRATA_NUM_ALGOS) return 0;
    if (!read_row(f, inplace ? pt->ip[a] : pt->t[c][a], STRATA_PT_NPTS)) return 0;
  }
}

int strata_plan_samples_read(strata_plan_samples_t *ss, int P) {
  char path[1024], suffix[64];
  file_name(suffix, sizeof suffix, P);
  if (strata_machine_cache_file(path, sizeof path, "plans", suffix, 0)) return -1;
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  memset(ss, 0, sizeof *ss);
  int np = 0, ns = 0;
  int ok = fscanf(f, "nranks %d samples %d", &np, &ns) == 2 && np == P && ns >= 1 && ns <= STRATA_PT_MAX_SAMPLES;
  for (int k = 0; ok && k < ns; k++) {
    double lat = 0;
    ok = read_word(f, "sample") && fscanf(f, "%lf", &lat) == 1 && lat > 0 && lat < 1e6 && read_sample(f, &ss->s[k]);
    ss->placement_ns[k] = (float)lat;
    ss->s[k].nranks = P;
    ss->s[k].nsamples = 1;
  }
  fclose(f);
  if (!ok) { memset(ss, 0, sizeof *ss); return -1; } /* older or damaged: measure again */
  ss->nranks = np;
  ss->n = ns;
  return 0;
}

static void write_row(FILE *f, const float *v, int n) {
  for (int i = 0; i < n; i++) fprintf(f, " %.6g", (double)v[i]);
  fputc('\n', f);
}

void strata_plan_samples_write(const strata_plan_samples_t *ss) {
  char path[1024], tmp[1100], suffix[64];
  file_name(suffix, sizeof suffix, ss->nranks);
  if (strata_machine_cache_file(path, sizeof path, "plans", suffix, 1)) return;
  snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fprintf(f, "nranks %d samples %d\n", ss->nranks, ss->n);
  for (int k = 0; k < ss->n; k++) {
    const strata_plan_times_t *pt = &ss->s[k];
    fprintf(f, "sample %.1f\nslice", (double)ss->placement_ns[k]);
    write_row(f, &pt->slice[0][0], STRATA_PT_NSLICE * 2);
    fprintf(f, "pipe");
    write_row(f, &pt->pipe[0][0], STRATA_PT_NPIPE * 4);
    fprintf(f, "piece");
    write_row(f, &pt->piece[0][0], 2 * STRATA_PT_NPIECE);
    for (int c = 0; c < STRATA_NUM_COLLS; c++)
      for (int a = 1; a < STRATA_NUM_ALGOS; a++) {
        int any = 0;
        for (int i = 0; i < STRATA_PT_NPTS; i++) any |= pt->t[c][a][i] > 0;
        if (!any) continue;
        fprintf(f, "%s %s", strata_coll_name((strata_coll_t)c), strata_algo_name((strata_algo_t)a));
        write_row(f, pt->t[c][a], STRATA_PT_NPTS);
      }
    for (int a = 1; a < STRATA_NUM_ALGOS; a++) {
      int any = 0;
      for (int i = 0; i < STRATA_PT_NPTS; i++) any |= pt->ip[a][i] > 0;
      if (!any) continue;
      fprintf(f, "allreduce_inplace %s", strata_algo_name((strata_algo_t)a));
      write_row(f, pt->ip[a], STRATA_PT_NPTS);
    }
    fprintf(f, "end\n");
  }
  int bad = ferror(f);
  fclose(f);
  if (bad || rename(tmp, path)) unlink(tmp);
}
