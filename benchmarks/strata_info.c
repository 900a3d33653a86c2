#define _GNU_SOURCE
/* strata_info: the detected host topology and the cost model's decision table.
 * Usage: strata_info [-n NRANKS] [--hosts H] [-b MIN] [-e MAX]
 *   -n      ranks in the communicator (default: this host's cores)
 *   --hosts ranks spread over H hosts (UCX between them); default 1 (shared memory)
 * STRATA_ALGO and STRATA_COST_* apply as they would in a job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/algorithms/algo.h"
#include "../runtime/core/config.h"
#include "../runtime/core/topo.h"
#include "../runtime/tuner/tuner.h"
#include "strata.h"

int main(int argc, char **argv) {
  strata_host_topo_t topo;
  strata_host_topo(&topo);
  int n = topo.cores, hosts = 1;
  size_t minb = 8, maxb = 256u << 20;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-n") && i + 1 < argc) n = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--hosts") && i + 1 < argc) hosts = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-b") && i + 1 < argc) minb = (size_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "-e") && i + 1 < argc) maxb = (size_t)atol(argv[++i]);
    else {
      printf("usage: %s [-n NRANKS] [--hosts H] [-b MINBYTES] [-e MAXBYTES]\n", argv[0]);
      return 1;
    }
  }
  if (n < 1 || hosts < 1 || hosts > n) {
    fprintf(stderr, "strata_info: need 1 <= hosts <= n\n");
    return 1;
  }
  const strata_config_t *cfg = strata_config();
  char host[64] = {0};
  gethostname(host, sizeof host - 1);
  int v = 0;
  strata_get_version(&v);
  printf("Strata %d.%d.%d\n\n", v / 10000, v / 100 % 100, v % 100);
  printf("Host %s%s: %d package(s), %d NUMA node(s), %d cores, %d hardware threads, L3 %zu KiB\n", host,
         topo.from_hwloc ? " (hwloc)" : "", topo.packages, topo.numa_nodes, topo.cores, topo.pus, topo.l3_bytes >> 10);
  printf("  network devices: %s\n", topo.nics[0] ? topo.nics : "(none reported)");
  printf("Transports enabled: %s%s\n", cfg->transports & STRATA_TRANSPORT_SHM ? "shm " : "",
         cfg->transports & STRATA_TRANSPORT_UCX ? "ucx" : "");
  int node_ok = hosts == 1 && (cfg->transports & STRATA_TRANSPORT_SHM) && n > 1;
  int p2p_shm = hosts == 1 && (cfg->transports & STRATA_TRANSPORT_SHM);
  strata_tuner_t t;
  int oversub = hosts == 1 && n > topo.pus;
  strata_tuner_init(&t, n, node_ok, p2p_shm, oversub);
  printf("\nCommunicator modelled: %d ranks on %d host(s); point-to-point over %s%s\n", n, hosts,
         p2p_shm ? "shm" : "ucx", oversub ? "; more ranks than cores (rounds cost a reschedule)" : "");
  printf("Cost model: alpha %.2f us, beta %.2f GB/s, node sync %.2f us, node copy %.2f GB/s, reduce %.2f GB/s\n",
         t.alpha * 1e6, 1e-9 / t.beta, t.node_alpha * 1e6, 1e-9 / t.node_beta, 1e-9 / t.gamma);
  int any = 0;
  for (int c = 0; c < STRATA_NUM_COLLS; c++)
    if (cfg->algo[c]) {
      if (!any) printf("STRATA_ALGO overrides:");
      printf(" %s:%s", strata_coll_name((strata_coll_t)c), strata_algo_name((strata_algo_t)cfg->algo[c]));
      any = 1;
    }
  if (any) printf("\n");
  printf("\nDecision table (algorithm, estimated time):\n%10s", "bytes");
  for (int c = 0; c < STRATA_NUM_COLLS - 1; c++) printf("  %-29s", strata_coll_name((strata_coll_t)c));
  printf("\n");
  for (size_t b = minb; b <= maxb; b *= 4) {
    printf("%10zu", b);
    for (int c = 0; c < STRATA_NUM_COLLS - 1; c++) {
      double cost;
      strata_algo_t a = strata_tuner_choose(&t, (strata_coll_t)c, b, &cost);
      if (cfg->algo[c] && strata_tuner_cost(&t, (strata_coll_t)c, (strata_algo_t)cfg->algo[c], b) < 1e29) {
        a = (strata_algo_t)cfg->algo[c];
        cost = strata_tuner_cost(&t, (strata_coll_t)c, a, b);
      }
      char cell[64];
      if (cost < 1e-3) snprintf(cell, sizeof cell, "%s %.2fus", strata_algo_name(a), cost * 1e6);
      else snprintf(cell, sizeof cell, "%s %.2fms", strata_algo_name(a), cost * 1e3);
      printf("  %-29s", cell);
    }
    printf("\n");
  }
  double cost;
  strata_algo_t a = strata_tuner_choose(&t, STRATA_COLL_BARRIER, 0, &cost);
  printf("%10s  barrier: %s %.2fus\n", "", strata_algo_name(a), cost * 1e6);
  return 0;
}
