#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../transports/transport.h"
#include "log.h"

static strata_config_t cfg;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;

static const char *coll_names[STRATA_NUM_COLLS] = {
    "allreduce", "allgather", "reduce_scatter", "broadcast", "reduce", "alltoall", "barrier"};
static const char *algo_names[STRATA_NUM_ALGOS] = {
    "auto", "ring", "recursive_doubling", "rabenseifner", "shm", "bruck",
    "recursive_halving", "binomial", "scatter_allgather", "reduce_scatter_gather",
    "pairwise", "dissemination", "direct", "hierarchical"};

const char *strata_coll_name(strata_coll_t c) {
  return (unsigned)c < STRATA_NUM_COLLS ? coll_names[c] : "unknown";
}
const char *strata_algo_name(strata_algo_t a) {
  return (unsigned)a < STRATA_NUM_ALGOS ? algo_names[a] : "unknown";
}
int strata_coll_from_name(const char *s) {
  for (int i = 0; i < STRATA_NUM_COLLS; i++)
    if (!strcasecmp(s, coll_names[i])) return i;
  if (!strcasecmp(s, "bcast")) return STRATA_COLL_BROADCAST;
  if (!strcasecmp(s, "reducescatter")) return STRATA_COLL_REDUCE_SCATTER;
  return -1;
}
int strata_algo_from_name(const char *s) {
  for (int i = 0; i < STRATA_NUM_ALGOS; i++)
    if (!strcasecmp(s, algo_names[i])) return i;
  if (!strcasecmp(s, "rd")) return STRATA_ALGO_RECURSIVE_DOUBLING;
  if (!strcasecmp(s, "rh")) return STRATA_ALGO_RECURSIVE_HALVING;
  if (!strcasecmp(s, "node") || !strcasecmp(s, "shm_native")) return STRATA_ALGO_SHM;
  if (!strcasecmp(s, "tree")) return STRATA_ALGO_BINOMIAL;
  return -1;
}

int strata_config_parse_algos(const char *s, int out[STRATA_NUM_COLLS]) {
  char buf[512];
  int rc = 0;
  strncpy(buf, s, sizeof buf - 1);
  buf[sizeof buf - 1] = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ";, ", &save); tok; tok = strtok_r(NULL, ";, ", &save)) {
    char *colon = strchr(tok, ':');
    if (!colon) {
      SLOG_WARN("STRATA_ALGO: '%s' is not coll:algo (e.g. allreduce:ring)", tok);
      rc = -1;
      continue;
    }
    *colon = 0;
    int c = strata_coll_from_name(tok), a = strata_algo_from_name(colon + 1);
    if (c < 0 || a < 0) {
      SLOG_WARN("STRATA_ALGO: unknown %s '%s'", c < 0 ? "collective" : "algorithm",
                c < 0 ? tok : colon + 1);
      rc = -1;
      continue;
    }
    out[c] = a;
  }
  return rc;
}

static long env_long(const char *name, long def, long lo, long hi) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  char *end;
  long x = strtol(v, &end, 0);
  if (*end == 'k' || *end == 'K') x <<= 10, end++;
  else if (*end == 'm' || *end == 'M') x <<= 20, end++;
  if (*end || x < lo || x > hi) {
    SLOG_WARN("%s=%s is not a number in [%ld, %ld]; using %ld", name, v, lo, hi, def);
    return def;
  }
  return x;
}

/* STRATA_HIER=NODE,SITE,TOP,CHUNKS overrides the cost model's hierarchical choice:
 * NODE/SITE "rs" (reduce-scatter among all ranks/nodes) or "leader", TOP a flat allreduce
 * algorithm name, CHUNKS the pipeline depth; "-" or an empty field keeps the model's pick. */
/* STRATA_TRANSPORTS=name,name...: the registry's transports allowed (all when unset) */
static unsigned parse_transports(const char *t) {
  int n;
  const strata_transport_entry_t *e = strata_transport_list(&n);
  unsigned all = n >= 32 ? ~0u : (1u << n) - 1u, m = 0;
  if (!t || !*t) return all;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", t);
  int unknown = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ",; ", &save); tok; tok = strtok_r(NULL, ",; ", &save)) {
    int i = 0;
    while (i < n && strcasecmp(e[i].name, tok)) i++;
    if (i < n) {
      m |= 1u << i;
    } else {
      SLOG_WARN("STRATA_TRANSPORTS: '%s' is not a transport of this build", tok);
      unknown = 1;
    }
  }
  /* fail closed: a misspelt list allows nothing, and init says which peer is unreachable */
  if (unknown || !m) SLOG_WARN("STRATA_TRANSPORTS=%s: not a list of this build's transports; none allowed", t);
  (void)all;
  return unknown ? 0 : m;
}

int strata_config_transport_on(const char *name) {
  int n;
  const strata_transport_entry_t *e = strata_transport_list(&n);
  for (int i = 0; i < n; i++)
    if (!strcmp(e[i].name, name)) return (strata_config()->transports >> i) & 1u;
  return 0;
}

static void parse_hier(const char *v) {
  char buf[128], *save = NULL;
  snprintf(buf, sizeof buf, "%s", v);
  int i = 0;
  for (char *f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save), i++) {
    if (!strcmp(f, "-")) continue;
    if (i < 2) {
      if (!strcmp(f, "rs")) cfg.hier_kmax[i] = 0;
      else if (!strcmp(f, "leader")) cfg.hier_kmax[i] = 1;
      else SLOG_WARN("STRATA_HIER field %d '%s': rs or leader; the model picks", i + 1, f);
    } else if (i == 2) {
      int a = strata_algo_from_name(f);
      if (a == STRATA_ALGO_RING || a == STRATA_ALGO_DIRECT || a == STRATA_ALGO_RECURSIVE_DOUBLING ||
          a == STRATA_ALGO_RABENSEIFNER) cfg.hier_top = a;
      else SLOG_WARN("STRATA_HIER top '%s': ring, direct, recursive_doubling or rabenseifner; the model picks", f);
    } else if (i == 3) {
      int c = atoi(f);
      if (c >= 1 && c <= 64) cfg.hier_outer = c;
      else SLOG_WARN("STRATA_HIER chunks '%s': 1..64; the model picks", f);
    } else {
      SLOG_WARN("STRATA_HIER has more than 4 fields (NODE,SITE,TOP,CHUNKS); '%s' ignored", f);
    }
  }
}

static void cfg_load(void) {
  strata_log_init();
  cfg.timeout_ms = env_long("STRATA_TIMEOUT_MS", 600000, 1, 1L << 40);
  cfg.check = (int)env_long("STRATA_CHECK", 0, 0, 1);
  cfg.ring_chunk = (size_t)env_long("STRATA_RING_CHUNK", 256 << 10, 1024, 1L << 30);
  cfg.node_chunk = (size_t)env_long("STRATA_SHM_CHUNK", 128 << 10, 4096, 16L << 20);
  cfg.node_chunk = (cfg.node_chunk + 63) & ~(size_t)63;
  cfg.node_nbuf = (int)env_long("STRATA_SHM_NBUF", 4, 2, 64);
  cfg.spin_polls = (int)env_long("STRATA_SPIN", 2000, 0, 1L << 30);
  cfg.eager_max = (size_t)env_long("STRATA_SHM_EAGER", 8192 - 64, 64, 1 << 20);
  cfg.shm_cells = (int)env_long("STRATA_SHM_CELLS", 32, 4, 4096);
  cfg.cma = (int)env_long("STRATA_SHM_CMA", 1, 0, 1);
  cfg.transports = parse_transports(getenv("STRATA_TRANSPORTS"));
  const char *a = getenv("STRATA_ALGO");
  if (a && *a) strata_config_parse_algos(a, cfg.algo);
  cfg.hier_kmax[0] = cfg.hier_kmax[1] = -1;
  const char *h = getenv("STRATA_HIER");
  if (h && *h) parse_hier(h);
  const char *d = getenv("STRATA_DEVICE");
  if (d && *d) {
    if (!strcmp(d, "cuda")) cfg.device = 1;
    else if (!strcmp(d, "emulated")) cfg.device = 2;
    else if (!strcmp(d, "none")) cfg.device = -1;
    else if (strcmp(d, "auto")) SLOG_WARN("STRATA_DEVICE=%s: auto, cuda, emulated or none; using auto", d);
  }
  const char *dp = getenv("STRATA_DEV_PATH");
  if (dp && *dp) {
    if (!strcmp(dp, "ipc")) cfg.dev_path = 1;
    else if (!strcmp(dp, "staged")) cfg.dev_path = 2;
    else if (strcmp(dp, "auto")) SLOG_WARN("STRATA_DEV_PATH=%s: auto, ipc or staged; using auto", dp);
  }
  cfg.dev_chunk = (size_t)env_long("STRATA_DEV_CHUNK", 2 << 20, 4096, 1L << 30);
  cfg.dev_chunk = (cfg.dev_chunk + 63) & ~(size_t)63;
  cfg.nccl = (int)env_long("STRATA_NCCL", 0, 0, 1);
  cfg.shm_pipe_min = env_long("STRATA_SHM_PIPE_MIN", -1, 0, 1L << 40);
  cfg.shm_pipe = (int)env_long("STRATA_SHM_PIPE", 4, 1, 64);
  cfg.shm_slice_min = env_long("STRATA_SHM_SLICE_MIN", -1, 0, 1L << 40);
  cfg.shm_stream_min = env_long("STRATA_SHM_STREAM_MIN", -1, 0, 1L << 40);
}

const strata_config_t *strata_config(void) {
  pthread_once(&cfg_once, cfg_load);
  return &cfg;
}
