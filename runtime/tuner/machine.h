/* What this machine is like, for the decisions that depend on it: the builder thresholds
 * of node plans, the streaming-store threshold of staging copies, and the node-level
 * cost-model figures. Nothing here is a constant tuned on another machine:
 *   1. a STRATA_* variable, where set, wins (STRATA_SHM_STREAM_MIN, STRATA_SHM_PIPE_MIN,
 *      STRATA_SHM_SLICE_MIN, STRATA_COST_NODE_*);
 *   2. else a calibration of this host (two threads on two cores, ~0.2 s), cached per host
 *      and CPU model in $XDG_CACHE_HOME/strata/ (else ~/.cache/strata/); build/bin/strata_tune
 *      runs it and prints it; STRATA_TUNE=0 turns it off;
 *   3. else hwloc's cache sizes (docs/TUNING.md says how each figure is derived).
 * Only one rank per host measures (the host's lowest world rank); every rank of the job
 * then takes its host leader's node figures through the bootstrap, and the digest of
 * runtime/core/agree.c makes sure every rank plans with the same inputs. */
#ifndef STRATA_MACHINE_H
#define STRATA_MACHINE_H

#include <stddef.h>
#include <stdint.h>

typedef struct strata_machine {
  uint64_t stream_min;      /* staging copies of at least this many bytes use streaming stores */
  uint64_t node_pipe_min;   /* node plans cut calls from this size on into node_pipe chunks */
  uint64_t node_slice_min;  /* node allreduce: sliced reduction from this size */
  int32_t node_pipe;
  uint64_t ring_chunk;      /* point-to-point pipeline piece on one host (0: STRATA_RING_CHUNK's) */
  int32_t calibrated;       /* 1: measured here (or cached), 0: from hwloc/defaults */
  double node_alpha;        /* one shared-flag synchronisation between two cores, s */
  double node_bw;           /* staging copy (cache-resident), bytes/s */
  double reduce_bw;         /* float32 sum of two cache-resident inputs, bytes/s */
  double cma_alpha;         /* one process_vm_readv of 4 KiB, s (the shm transport's large-message cost) */
  double cma_bw;            /* process_vm_readv of 1 MiB, bytes/s */
  uint64_t core_cache;      /* one core's private cache (hwloc L2): data a core wrote is still
                               held there, dirty, up to about half of it */
  double copy_gain[8];      /* calibration: streaming time / plain time at 16K..2M (log) */
  char source[32];
} strata_machine_t;

/* Fill m for this host: env, cache, calibration (when may_measure), hwloc. */
void strata_machine_derive(strata_machine_t *m, int may_measure);
/* Measure now (and write the cache); returns 0 on success. */
int strata_machine_calibrate(strata_machine_t *m);
/* Whether strata_machine_derive(m, 1) here would measure (nothing cached, two cores). */
int strata_machine_will_calibrate(void);
/* Sleep until this host's calibration is cached (bounded): for the leader's peers. */
void strata_machine_await_calibration(void);
/* This host's cache file: $XDG_CACHE_HOME/strata/PREFIX-HOST-CPUMODEL-NCPU(SUFFIX).conf (else
 * ~/.cache/strata/); mkdirs: create the directories. 0, or -1 (no home). */
int strata_machine_cache_file(char *out, size_t n, const char *prefix, const char *suffix, int mkdirs);
/* One line describing m, for INFO logs and strata_info. */
void strata_machine_describe(const strata_machine_t *m, char *out, size_t n);

#endif
