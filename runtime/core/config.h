/* Run-time configuration from STRATA_* environment variables, read once. */
#ifndef STRATA_CONFIG_H
#define STRATA_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "coll.h"

typedef struct strata_config {
  int64_t timeout_ms;        /* STRATA_TIMEOUT_MS, default 600000 */
  int check;                 /* STRATA_CHECK=1: every collective first checks its arguments match */
  unsigned transports;       /* STRATA_TRANSPORTS=shm,ucx: bit i = transport i of the registry
                                (transports/registry.c); default all */
  size_t ring_chunk;         /* STRATA_RING_CHUNK bytes for pipelined p2p algorithms */
  size_t node_chunk;         /* STRATA_SHM_CHUNK bytes per shared-memory staging slot */
  int node_nbuf;             /* STRATA_SHM_NBUF staging slots per rank */
  int spin_polls;            /* STRATA_SPIN polls before a waiting rank yields */
  size_t eager_max;          /* STRATA_SHM_EAGER: shm inbox cell payload */
  int shm_cells;             /* STRATA_SHM_CELLS: cells in each rank's shm inbox */
  int cma;                   /* STRATA_SHM_CMA=0 disables process_vm_readv */
  int algo[STRATA_NUM_COLLS];/* STRATA_ALGO overrides, 0 = automatic */
  int hier_kmax[2];          /* STRATA_HIER: node/site slicing, -1 = the cost model's */
  int hier_top, hier_outer;  /* STRATA_HIER: top algorithm, pipeline chunks; 0 = the model's */
  int device;                /* STRATA_DEVICE: 0 auto (cuda when a GPU is seen), 1 cuda, 2 emulated, -1 none */
  int dev_path;              /* STRATA_DEV_PATH: 0 auto, 1 ipc (direct kernels), 2 staged through host */
  size_t dev_chunk;          /* STRATA_DEV_CHUNK bytes per staging pipeline chunk */
  int nccl;                  /* STRATA_NCCL=1: node level through NCCL when it loads */
  /* machine-dependent thresholds: set by env, else derived on the machine (runtime/tuner/derive.c) */
  int64_t shm_pipe_min;      /* STRATA_SHM_PIPE_MIN (-1: derive) */
  int shm_pipe;              /* STRATA_SHM_PIPE pipeline chunks of a node call */
  int64_t shm_slice_min;     /* STRATA_SHM_SLICE_MIN (-1: derive) */
  int64_t shm_stream_min;    /* STRATA_SHM_STREAM_MIN (-1: derive) */
} strata_config_t;

const strata_config_t *strata_config(void);
/* Does STRATA_TRANSPORTS allow the registry's transport `name` (shm: shared memory at all)? */
int strata_config_transport_on(const char *name);
/* Parse an STRATA_ALGO-style string ("allreduce:ring;allgather:bruck") into out[].
 * Returns 0, or -1 with a log line naming what was not understood. */
int strata_config_parse_algos(const char *s, int out[STRATA_NUM_COLLS]);

#endif
