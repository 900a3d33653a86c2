#define _GNU_SOURCE
/* strata_info: the detected host topology and the cost model's decision table.
 * Usage: strata_info [-n NRANKS] [--hosts H] [-b MIN] [-e MAX]
 *        strata_info --topo [--model GxNxL] [-b MIN] [-e MAX]   (the fabric's levels; run it
 *        under mpirun, or with STRATA_RANK/STRATA_WORLD_SIZE/STRATA_ROOT, to see a job's)
 *   -n      ranks in the communicator (default: this host's cores)
 *   --hosts ranks spread over H hosts (UCX between them); default 1 (shared memory)
 * STRATA_ALGO and STRATA_COST_* apply as they would in a job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/algorithms/algo.h"
#include "../runtime/core/comm.h"
#include "../runtime/core/config.h"
#include "../runtime/core/topo.h"
#include "../runtime/tuner/tuner.h"
#include "strata.h"

#ifdef STRATA_INFO_MPI
#include <mpi.h>
#include "strata_mpi.h"
#endif

static void cell_print(strata_algo_t a, double cost, const strata_hier_choice_t *hc, const strata_tuner_t *t) {
  char cell[96];
  char extra[48] = "";
  if (a == STRATA_ALGO_HIERARCHICAL && hc && hc->outer > 0)
    snprintf(extra, sizeof extra, "[%s/%s/%s/%d]", t->lmin < 2 ? "-" : hc->kmax[0] == 1 ? "ldr" : "rs",
             t->nmin < 2 ? "-" : hc->kmax[1] == 1 ? "ldr" : "rs",
             t->nsites < 2 ? "-" : strata_algo_name((strata_algo_t)hc->top_algo), hc->outer);
  if (cost < 1e-3) snprintf(cell, sizeof cell, "%s%s %.1fus", a == STRATA_ALGO_HIERARCHICAL ? "hier" : strata_algo_name(a), extra, cost * 1e6);
  else snprintf(cell, sizeof cell, "%s%s %.2fms", a == STRATA_ALGO_HIERARCHICAL ? "hier" : strata_algo_name(a), extra, cost * 1e3);
  printf("  %-36s", cell);
}

/* the decision table of a communicator spanning levels */
static void topo_table(const strata_tuner_t *t, size_t minb, size_t maxb) {
  printf("\nDecision table across levels (hier[node/site/top/chunks]: rs = reduce-scatter among all,\n"
         "ldr = through one leader, top = the flat allreduce among one rank per site):\n%10s", "bytes");
  static const strata_coll_t cs[5] = {STRATA_COLL_ALLREDUCE, STRATA_COLL_ALLGATHER, STRATA_COLL_REDUCE_SCATTER,
                                      STRATA_COLL_BROADCAST, STRATA_COLL_REDUCE};
  for (int i = 0; i < 5; i++) printf("  %-36s", strata_coll_name(cs[i]));
  printf("\n");
  for (size_t b = minb; b <= maxb; b *= 4) {
    printf("%10zu", b);
    for (int i = 0; i < 5; i++) {
      double cost;
      strata_algo_t a = strata_tuner_choose(t, cs[i], b, &cost);
      strata_hier_choice_t hc;
      memset(&hc, 0, sizeof hc);
      if (a == STRATA_ALGO_HIERARCHICAL) strata_tuner_hier_cost(t, cs[i], b, &hc);
      cell_print(a, cost, &hc, t);
    }
    printf("\n");
  }
  printf("%10s  flat allreduce for comparison:", "");
  static const strata_algo_t fl[4] = {STRATA_ALGO_RING, STRATA_ALGO_RECURSIVE_DOUBLING, STRATA_ALGO_RABENSEIFNER,
                                      STRATA_ALGO_DIRECT};
  for (int i = 0; i < 4; i++) printf(" %s %.2fms at %zu B;", strata_algo_name(fl[i]),
                                     strata_tuner_cost(t, STRATA_COLL_ALLREDUCE, fl[i], maxb) * 1e3, maxb);
  printf("\n");
}

static void levels_print(const strata_level_figs_t *l, const char *src) {
  static const char *nm[3] = {"node", "site", "global"}, *tp[3] = {"shm", "ucx", "ucx"};
  printf("Fabric levels (sites from %s):\n  %-7s %12s %14s  %-8s %s\n", src, "level", "alpha", "bandwidth", "source",
         "transport");
  for (int i = 0; i < 3; i++)
    printf("  %-7s %9.2f us %9.3f Gbit/s  %-8s %s\n", nm[i], l[i].alpha * 1e6, l[i].bw * 8e-9, l[i].source, tp[i]);
}

/* --topo: a real communicator (under mpirun, or STRATA_RANK/STRATA_WORLD_SIZE/STRATA_ROOT)
 * prints what it detected; --model GxNxL models G sites x N nodes x L ranks instead. */
static int topo_main(int argc, char **argv, size_t minb, size_t maxb, const char *model) {
  if (model) {
    int G = 0, N = 0, L = 0;
    if (sscanf(model, "%dx%dx%d", &G, &N, &L) != 3 || G < 1 || N < 1 || L < 1 || G * N * L > 1 << 20) {
      fprintf(stderr, "strata_info: --model wants GxNxL (sites x nodes per site x ranks per node)\n");
      return 1;
    }
    int P = G * N * L;
    int *u = malloc(2 * (size_t)P * sizeof *u);
    if (!u) return 1;
    for (int r = 0; r < P; r++) { u[r] = r / L; u[P + r] = r / (N * L); }
    strata_hier_t h = {P, {G * N, G}, {u, u + P}};
    strata_fabric_t f;
    memset(&f, 0, sizeof f);
    char lab[STRATA_SITE_NAME];
    /* defaults, then the file, as a job would see them */
    strata_fabric_defaults(f.lvl);
    const char *file = getenv("STRATA_TOPO_FILE");
    if (file && *file) strata_topo_file_read(file, "", lab, f.lvl);
    levels_print(f.lvl, "--model");
    printf("Modelled: %d site(s) x %d node(s) x %d rank(s) = %d ranks, blocked placement\n", G, N, L, P);
    strata_tuner_t t;
    strata_tuner_init(&t, P, 0, 0, 0);
    double al[3], bw[3];
    for (int i = 0; i < 3; i++) { al[i] = f.lvl[i].alpha; bw[i] = f.lvl[i].bw; }
    if (G * N > 1) strata_tuner_set_topo(&t, &h, al, bw, 1.0);
    topo_table(&t, minb, maxb);
    free(u);
    return 0;
  }
  strata_comm_t comm = NULL;
  strata_result_t rc;
#ifdef STRATA_INFO_MPI
  int mpi = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE");
  if (mpi) {
    MPI_Init(&argc, &argv);
    rc = strata_comm_init_mpi(&comm, MPI_COMM_WORLD);
  } else
#endif
  {
    (void)argc; (void)argv;
    if (getenv("STRATA_RANK") || getenv("RANK")) rc = strata_comm_init_env(&comm);
    else {
      strata_unique_id_t id;
      rc = strata_get_unique_id(&id);
      if (rc == STRATA_SUCCESS) rc = strata_comm_init_rank(&comm, 1, id, 0);
    }
  }
  if (rc != STRATA_SUCCESS) { fprintf(stderr, "strata_info: init failed: %s\n", strata_result_string(rc)); return 1; }
  const strata_context_t *x = comm->ctx;
  if (comm->rank == 0) {
    const strata_fabric_t *f = &x->fabric;
    printf("Detected hierarchy: %d ranks, %u host(s), %d site(s)%s\n", x->world_size, x->nhosts, f->nsites,
           f->probe_ms > 0 ? "" : "");
    if (f->probe_ms > 0) printf("  probing took %.0f ms\n", f->probe_ms);
    for (int s = 0; s < f->nsites; s++) {
      printf("  site %d '%s':\n", s, f->site_name[s]);
      for (int w = 0; w < x->world_size; w++) {
        if (f->site_of[w] != (uint32_t)s || x->host_of[w] != (uint32_t)w) continue;
        printf("    host %-16s ranks", x->hostnames[w]);
        for (int q = 0; q < x->world_size; q++)
          if (x->host_of[q] == (uint32_t)w) printf(" %d", q);
        printf("\n");
      }
    }
    levels_print(f->lvl, f->site_source);
    if (comm->hier_units) topo_table(&comm->tuner, minb, maxb);
    else printf("\nOne host: the node-level decision table is the one strata_info prints without --topo.\n");
  }
  strata_comm_destroy(comm);
#ifdef STRATA_INFO_MPI
  if (mpi) MPI_Finalize();
#endif
  return 0;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--topo")) {
      size_t minb = 8, maxb = 256u << 20;
      const char *model = NULL;
      for (int j = 1; j < argc; j++) {
        if (!strcmp(argv[j], "-b") && j + 1 < argc) minb = (size_t)atol(argv[++j]);
        else if (!strcmp(argv[j], "-e") && j + 1 < argc) maxb = (size_t)atol(argv[++j]);
        else if (!strcmp(argv[j], "--model") && j + 1 < argc) model = argv[++j];
      }
      return topo_main(argc, argv, minb, maxb, model);
    }
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
      printf("usage: %s [-n NRANKS] [--hosts H] [-b MINBYTES] [-e MAXBYTES]\n"
             "       %s --topo [--model GxNxL] [-b MINBYTES] [-e MAXBYTES]\n", argv[0], argv[0]);
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
  printf("  network devices [near cores]: %s\n", topo.nics[0] ? topo.nics : "(none reported)");
  printf("  GPUs [near cores]: %s\n", topo.gpus[0] ? topo.gpus : "(none reported)");
  int ntp;
  const strata_transport_entry_t *tps = strata_transport_list(&ntp);
  printf("Transports (in order of preference; STRATA_TRANSPORTS):");
  for (int i = 0; i < ntp; i++) printf(" %s%s", tps[i].name, (cfg->transports >> i) & 1u ? "" : " (off)");
  printf("\n");
  int shm_on = strata_config_transport_on("shm");
  int node_ok = hosts == 1 && shm_on && n > 1;
  int p2p_shm = hosts == 1 && shm_on;
  strata_tuner_t t;
  int oversub = hosts == 1 && n > topo.pus;
  /* as init plans: this host's machine figures (cached, never measured here) and, for one
   * host, the plan times the first inits with n ranks measured */
  strata_machine_t m;
  strata_machine_derive(&m, 0);
  static strata_plan_times_t pt;
  static strata_plan_samples_t ss;
  char ptpath[1024];
  strata_plan_times_path(ptpath, sizeof ptpath, n);
  int have_pt = hosts == 1 && node_ok && !oversub && strata_plan_samples_read(&ss, n) == 0;
  if (have_pt) { /* every sample: which placement a job meets is known only when it starts */
    pt.node_slice_min = m.node_slice_min;
    pt.node_pipe_min = m.node_pipe_min;
    pt.node_pipe = m.node_pipe;
    pt.ring_chunk = cfg->ring_chunk;
    strata_plan_samples_combine(&ss, -1, &pt);
    if (!getenv("STRATA_SHM_SLICE_MIN")) m.node_slice_min = pt.node_slice_min;
  }
  strata_tuner_init_machine(&t, n, node_ok, p2p_shm, oversub, &m);
  if (have_pt) strata_tuner_set_measured(&t, &pt);
  char md[400];
  strata_machine_describe(&m, md, sizeof md);
  printf("%c%s\n", md[0] - 32, md + 1);
  if (have_pt)
  if (have_pt) {
    printf("Plan times: %d sample(s) in %s, taken with a cache line between ranks 0 and 1 at", ss.n, ptpath);
    for (int k = 0; k < ss.n; k++) printf(" %.0f ns", (double)ss.placement_ns[k]);
    printf("\n  all of them combined (a job plans with those of the placement it meets at init): ");
  }
  if (have_pt)
    printf("node allreduce sliced from %llu B, node plans in %d chunks above %llu "
           "B, point-to-point pieces of %llu B; estimates below are scaled by them\n", (unsigned long long)pt.node_slice_min, pt.node_pipe, (unsigned long long)pt.node_pipe_min,
           (unsigned long long)pt.ring_chunk);
  else if (hosts == 1 && node_ok && !oversub)
    printf("Plan times: none yet for %d ranks on this host (the first init with %d ranks measures them: %s)\n", n, n,
           ptpath);
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
