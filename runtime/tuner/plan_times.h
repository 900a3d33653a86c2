/* Measured plan times: what the candidate plans of a one-host communicator actually took on
 * this machine, at a few sizes, timed across the real ranks at the first init with that many
 * ranks on the host (runtime/core/tune_plans.c), and cached per host, CPU model, core count
 * and rank count. The cost model (cost_model.c) scales each algorithm's estimate by
 * measured / estimated at the nearest measured sizes, so its choice at those sizes is the
 * measured winner and its form decides between them. The same run derives the node plans'
 * builder thresholds and the point-to-point pipeline piece. */
#ifndef STRATA_PLAN_TIMES_H
#define STRATA_PLAN_TIMES_H

#include <stddef.h>
#include <stdint.h>

#include "../core/coll.h"

#define STRATA_PT_NPTS 11 /* sizes 8 B .. 8 MiB (plan_times.c) */
#define STRATA_PT_VERSION 5
/* Samples: these VMs run their two vCPUs in one of two placements ("near": a cache line
 * moves between them in ~25 ns, "far": ~200 ns), changing every few seconds or launches, and
 * the fastest plan is not the same in both. Each sample records the one-way cache-line
 * latency between ranks 0 and 1 when it was taken; an init measures that latency (~1 ms)
 * and plans with the samples taken within 1.5x of it, measuring a new one (about 1 s) while
 * fewer than STRATA_PT_SAMPLES match, up to STRATA_PT_MAX_SAMPLES in all. */
#define STRATA_PT_SAMPLES 2
#define STRATA_PT_MAX_SAMPLES 8

/* The builder-threshold experiments (tune_plans.c). */
#define STRATA_PT_NSLICE 6 /* node allreduce direct | sliced at 16 KiB .. 1 MiB */
#define STRATA_PT_NPIPE 5  /* node allreduce uncut | 2 | 4 | 8 chunks at 16 KiB .. 4 MiB */
#define STRATA_PT_NPIECE 4 /* ring allgather, allreduce of 8 MiB in pieces of 128 KiB .. 4 MiB */
extern const uint64_t strata_pt_slice_sizes[STRATA_PT_NSLICE], strata_pt_pipe_sizes[STRATA_PT_NPIPE],
    strata_pt_pieces[STRATA_PT_NPIECE];
extern const int strata_pt_pipe_chunks[4];

typedef struct strata_plan_times {
  int32_t nranks;           /* ranks of the communicator they were measured on; 0: none */
  int32_t nsamples;         /* inits that measured them */
  /* decided from the tables below (strata_plan_times_decide) */
  int32_t node_pipe;        /* node plans: chunks per call above node_pipe_min */
  int32_t pad;
  uint64_t node_pipe_min;   /* UINT64_MAX: never cut */
  uint64_t node_slice_min;  /* node allreduce: sliced from this size */
  uint64_t ring_chunk;      /* point-to-point pipeline piece */
  /* seconds per call: the slowest rank's, best of three rounds, geometric mean over the
   * samples; 0: not measured */
  float slice[STRATA_PT_NSLICE][2];
  float pipe[STRATA_PT_NPIPE][4];
  float piece[2][STRATA_PT_NPIECE];
  float t[STRATA_NUM_COLLS][STRATA_NUM_ALGOS][STRATA_PT_NPTS];
  /* allreduce in place (a training step's gradient buckets): a peer's first read comes out of
   * the caller's buffer, just written, so the ranking differs from out of place */
  float ip[STRATA_NUM_ALGOS][STRATA_PT_NPTS];
} strata_plan_times_t;

/* Fold one sample into acc (geometric means weighted by acc->nsamples), then decide. */
void strata_plan_times_merge(strata_plan_times_t *acc, const strata_plan_times_t *sample);
/* The thresholds and the piece from the tables; where a table was not measured (its
 * variable was set), that field stays as it is. */
void strata_plan_times_decide(strata_plan_times_t *pt);

/* The nccl-tests size of measured point i of collective c on P ranks (float32 elements:
 * counts round down to at least one element per rank). */
size_t strata_pt_bytes(strata_coll_t c, int P, int i);
/* Element count for strata_host_coll at that point. */
size_t strata_pt_count(strata_coll_t c, int P, int i);

typedef struct strata_plan_samples {
  int32_t nranks, n;
  float placement_ns[STRATA_PT_MAX_SAMPLES]; /* one-way cache-line latency when taken */
  strata_plan_times_t s[STRATA_PT_MAX_SAMPLES];
} strata_plan_samples_t;

/* Do two placement latencies (ns) describe the same placement (within 1.5x)? */
int strata_plan_same_placement(double a, double b);
/* out's tables := the geometric means of the samples taken in the placement `ns` (all of them
 * where none was, or ns <= 0), decided from out's current thresholds; returns how many matched. */
int strata_plan_samples_combine(const strata_plan_samples_t *ss, double ns, strata_plan_times_t *out);
/* The cache for P ranks on this host: 0 and *ss filled, or -1 (none, damaged or older). */
int strata_plan_samples_read(strata_plan_samples_t *ss, int P);
void strata_plan_samples_write(const strata_plan_samples_t *ss);
/* The cache file's path for P ranks (for messages). */
void strata_plan_times_path(char *out, size_t n, int P);

#endif
