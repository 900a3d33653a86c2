/* What this host looks like (hwloc when available): for strata_info and INFO logs. */
#ifndef STRATA_TOPO_H
#define STRATA_TOPO_H

#include <stddef.h>

typedef struct strata_host_topo {
  int packages, numa_nodes, cores, pus;
  size_t l3_bytes;
  size_t l2_bytes;  /* one core's L2 (hwloc), 0 when unknown */
  int from_hwloc;
  char nics[256]; /* OS network devices hwloc reports, each with the cores next to it:
                     "eth0[0-1],mlx5_0[0-15]" (recorded for NIC-aware placement) */
  char gpus[128]; /* GPU / coprocessor devices, the same way */
} strata_host_topo_t;

void strata_host_topo(strata_host_topo_t *t);

#endif
