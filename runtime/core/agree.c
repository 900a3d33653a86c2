#include "agree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* What goes into the digest, one hash each. Variables that may rightly differ per rank
 * (STRATA_RANK, STRATA_HOSTID, STRATA_SITE, STRATA_DEBUG, STRATA_ROOT, STRATA_TIMEOUT_MS,
 * the topology file's path) are left out; the figures they lead to are in. */
static const char *const vars[] = {
    "STRATA_ALGO", "STRATA_HIER", "STRATA_RING_CHUNK", "STRATA_SHM_CHUNK", "STRATA_SHM_NBUF", "STRATA_SHM_EAGER",
    "STRATA_SHM_CELLS", "STRATA_SHM_CMA", "STRATA_TRANSPORTS", "STRATA_DEVICE", "STRATA_DEV_PATH",
    "STRATA_DEV_CHUNK", "STRATA_NCCL", "STRATA_UCX_RNDV_THRESH", "STRATA_TOPO_PROBE", "STRATA_TUNE",
    "STRATA_SHM_STREAM_MIN", "STRATA_SHM_PIPE_MIN", "STRATA_SHM_PIPE", "STRATA_SHM_SLICE_MIN", "STRATA_TUNE_COST",
    "UCX_RNDV_THRESH" /* where the UCX transport's acknowledgement starts */};
#define NVARS (sizeof vars / sizeof vars[0])
#define NITEMS (NVARS + 3) /* + STRATA_COST_*, STRATA_LEVEL_*, the level figures */

extern char **environ;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ull;
  return h;
}

static const char *item_name(size_t i) {
  if (i < NVARS) return vars[i];
  if (i == NVARS) return "STRATA_COST_* (cost-model constants)";
  if (i == NVARS + 1) return "STRATA_LEVEL_* (level figures)";
  return "the fabric's level figures (STRATA_TOPO_FILE contents, STRATA_LEVEL_*, probing)";
}

static uint64_t prefix_hash(const char *prefix) {
  /* order-independent: sum of the hashes of every NAME=value with the prefix */
  uint64_t h = 0;
  size_t n = strlen(prefix);
  for (char **e = environ; e && *e; e++)
    if (!strncmp(*e, prefix, n)) h += fnv(0xcbf29ce484222325ull, *e, strlen(*e));
  return h;
}

static void items(const strata_context_t *x, uint64_t hv[NITEMS]) {
  for (size_t i = 0; i < NVARS; i++) {
    const char *v = getenv(vars[i]);
    hv[i] = v ? fnv(0xcbf29ce484222325ull, v, strlen(v)) : 0;
  }
  hv[NVARS] = prefix_hash("STRATA_COST_");
  hv[NVARS + 1] = prefix_hash("STRATA_LEVEL_");
  uint64_t h = 0xcbf29ce484222325ull;
  for (int l = 0; l < STRATA_NUM_LVLS; l++) {
    h = fnv(h, &x->fabric.lvl[l].alpha, sizeof(double));
    h = fnv(h, &x->fabric.lvl[l].bw, sizeof(double));
  }
  hv[NVARS + 2] = h;
}

typedef struct rec {
  uint64_t digest;
  double cpu_over;
} rec_t;

strata_result_t strata_agree_world(strata_context_t *x, strata_oob_t *oob) {
  const int P = oob->nranks, me = oob->rank;
  uint64_t hv[NITEMS];
  items(x, hv);
  uint64_t d = fnv(0xcbf29ce484222325ull, hv, sizeof hv);
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  rec_t *all = calloc((size_t)P, sizeof *all);
  if (!all) return STRATA_ERR_SYSTEM;
  all[me].digest = d;
  all[me].cpu_over = ncpu > 0 ? (double)x->machine_ranks / (double)ncpu : 1.0;
  strata_result_t rc = oob->allgather(oob, all, sizeof *all);
  if (rc != STRATA_SUCCESS) { free(all); return rc; }
  int bad = -1;
  x->cpu_over = 1.0;
  for (int r = 0; r < P; r++) {
    if (bad < 0 && all[r].digest != all[0].digest) bad = r;
    if (all[r].cpu_over > x->cpu_over) x->cpu_over = all[r].cpu_over;
  }
  free(all);
  x->digest = d;
  if (bad < 0) return STRATA_SUCCESS;
  /* rare: find the variable, with every rank's item hashes */
  uint64_t *iv = calloc((size_t)P * NITEMS, sizeof *iv);
  if (!iv) return STRATA_ERR_INVALID_USAGE;
  memcpy(iv + (size_t)me * NITEMS, hv, sizeof hv);
  rc = oob->allgather(oob, iv, sizeof hv);
  size_t item = 0;
  if (rc == STRATA_SUCCESS)
    while (item < NITEMS && iv[(size_t)bad * NITEMS + item] == iv[item]) item++;
  free(iv);
  const char *v = item < NVARS ? getenv(vars[item]) : NULL;
  SLOG_WARN("init: world rank %d (%s) and world rank 0 (%s) plan with different inputs: %s differs "
             "(here, on rank %d: '%s'). Every rank must see the same STRATA_* settings.",
             bad, x->hostnames[bad], x->hostnames[0], item < NITEMS ? item_name(item) : "an input", me,
             item < NVARS ? (v ? v : "unset") : "see above");
  return STRATA_ERR_INVALID_USAGE;
}
