/* Communicators: creation from a unique id, environment variables or MPI; split;
 * destroy and abort. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../bootstrap/bootstrap.h"
#include "../engine/engine.h"
#include "../device/dev_coll.h"
#include "internal.h"
#include "log.h"
#include "topo.h"
#include "agree.h"
#include "comm_ids.h"
#include "handles.h"

/* ---- unique id / env bootstrap ---- */

strata_result_t strata_get_unique_id(strata_unique_id_t *id) {
  strata_config();
  if (!id) {
    SLOG_WARN("strata_get_unique_id: id is NULL");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  strata_uid_t u;
  strata_result_t rc = strata_bootstrap_root_start(0, 0, &u);
  if (rc != STRATA_SUCCESS) return rc;
  memset(id, 0, sizeof *id);
  memcpy(id->internal, &u, sizeof u);
  return STRATA_SUCCESS;
}

strata_result_t strata_comm_init_rank(strata_comm_t *comm, int nranks, strata_unique_id_t id, int rank) {
  strata_config();
  if (!comm) { SLOG_WARN("strata_comm_init_rank: comm is NULL"); return STRATA_ERR_INVALID_ARGUMENT; }
  *comm = NULL;
  if (nranks < 1 || rank < 0 || rank >= nranks) {
    SLOG_WARN("strata_comm_init_rank: rank %d of %d is out of range", rank, nranks);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  strata_uid_t u;
  memcpy(&u, id.internal, sizeof u);
  if (u.magic != STRATA_UID_MAGIC) {
    SLOG_WARN("strata_comm_init_rank: the unique id was not made by strata_get_unique_id");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  strata_oob_t *oob = NULL;
  uint64_t key = 0;
  strata_result_t rc = strata_bootstrap_tcp_join(&u, rank, nranks, &oob, &key);
  if (rc != STRATA_SUCCESS) return rc;
  return strata_comm_create_world(oob, key, comm);
}

static int env_int(const char *n, int *v) {
  const char *s = getenv(n);
  if (!s || !*s) return -1;
  char *e;
  long x = strtol(s, &e, 10);
  if (*e || x < 0 || x > 0x7fffffff) return -1;
  *v = (int)x;
  return 0;
}

strata_result_t strata_comm_init_env(strata_comm_t *comm) {
  strata_config();
  if (!comm) { SLOG_WARN("strata_comm_init_env: comm is NULL"); return STRATA_ERR_INVALID_ARGUMENT; }
  *comm = NULL;
  int rank, size;
  if (env_int("STRATA_RANK", &rank) && env_int("RANK", &rank)) {
    SLOG_WARN("strata_comm_init_env: STRATA_RANK (or RANK) is not set to a rank number");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  if (env_int("STRATA_WORLD_SIZE", &size) && env_int("WORLD_SIZE", &size)) {
    SLOG_WARN("strata_comm_init_env: STRATA_WORLD_SIZE (or WORLD_SIZE) is not set");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  if (size < 1 || rank >= size) {
    SLOG_WARN("strata_comm_init_env: rank %d does not fit world size %d", rank, size);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  const char *root = getenv("STRATA_ROOT");
  char host[256];
  int port = -1;
  if (root && *root) {
    const char *colon = strrchr(root, ':');
    if (colon && colon != root && (size_t)(colon - root) < sizeof host) {
      memcpy(host, root, (size_t)(colon - root));
      host[colon - root] = 0;
      port = atoi(colon + 1);
    }
  } else {
    const char *ma = getenv("MASTER_ADDR"), *mp = getenv("MASTER_PORT");
    if (ma && mp) {
      snprintf(host, sizeof host, "%s", ma);
      port = atoi(mp) + 1; /* torchrun's own store holds MASTER_PORT */
    }
  }
  if (port <= 0 || port > 65535) {
    SLOG_WARN("strata_comm_init_env: STRATA_ROOT must be host:port (got '%s')", root ? root : "");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  uint32_t ip = strata_bootstrap_resolve(host);
  if (!ip) {
    SLOG_WARN("strata_comm_init_env: cannot resolve root host '%s'", host);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  strata_uid_t u;
  if (rank == 0) {
    strata_result_t rc = strata_bootstrap_root_start(htonl(INADDR_ANY), htons((uint16_t)port), &u);
    if (rc != STRATA_SUCCESS) return rc;
  }
  memset(&u, 0, sizeof u);
  u.magic = STRATA_UID_MAGIC;
  u.ipv4 = ip;
  u.port = htons((uint16_t)port);
  u.nonce = 0x53545241524f4f54ull ^ u.port;
  strata_oob_t *oob = NULL;
  uint64_t key = 0;
  strata_result_t rc = strata_bootstrap_tcp_join(&u, rank, size, &oob, &key);
  if (rc != STRATA_SUCCESS) return rc;
  return strata_comm_create_world(oob, key, comm);
}

/* ---- context ---- */

typedef struct host_rec {
  char name[64];
  char boot[40];                /* kernel boot id: ranks of emulated hosts share CPUs */
  char site[STRATA_SITE_NAME];  /* STRATA_SITE or this host's site in STRATA_TOPO_FILE */
} host_rec_t;

static void read_boot_id(char *out, size_t n) {
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  out[0] = 0;
  if (f) {
    if (!fgets(out, (int)n, f)) out[0] = 0;
    fclose(f);
  }
  out[strcspn(out, "\n")] = 0;
}

static void ctx_release(strata_context_t *x) {
  if (--x->refs > 0) return;
  if (x->shm) x->shm->ops->destroy(x->shm);
  if (x->ucx) x->ucx->ops->destroy(x->ucx);
  free(x->host_of);
  free(x->hostnames);
  strata_fabric_free(&x->fabric);
  free(x);
}

static strata_result_t ctx_create(strata_oob_t *oob, uint64_t key, strata_context_t **out) {
  const strata_config_t *cfg = strata_config();
  const int P = oob->nranks, me = oob->rank;
  strata_context_t *x = calloc(1, sizeof *x);
  host_rec_t *h = calloc((size_t)P, sizeof *h);
  if (!x || !h) { free(x); free(h); return STRATA_ERR_SYSTEM; }
  x->refs = 1;
  x->world_rank = me;
  x->world_size = P;
  x->key = key;
  x->comm_id_used[0] = 1;               /* the world */
  x->comm_id_used[STRATA_PROBE_COMM_ID] = 1; /* the link probe */
  gethostname(x->hostname, sizeof x->hostname - 1);
  const char *hid = getenv("STRATA_HOSTID"); /* tests: pretend ranks sit on different hosts */
  snprintf(h[me].name, sizeof h[me].name, "%s", hid && *hid ? hid : x->hostname);
  read_boot_id(h[me].boot, sizeof h[me].boot);
  /* this rank's site label: STRATA_SITE, else its host's site in the topology file (whose
   * level figures are read here too, once) */
  const char *site = getenv("STRATA_SITE"), *tfile = getenv("STRATA_TOPO_FILE");
  strata_fabric_defaults(x->fabric.lvl);
  if (tfile && *tfile) {
    char file_site[STRATA_SITE_NAME];
    strata_topo_file_read(tfile, h[me].name, file_site, x->fabric.lvl);
    snprintf(h[me].site, sizeof h[me].site, "%s", file_site);
  }
  if (site && *site) snprintf(h[me].site, sizeof h[me].site, "%s", site);
  strata_result_t rc = oob->allgather(oob, h, sizeof *h);
  if (rc != STRATA_SUCCESS) { free(h); free(x); return rc; }
  x->host_of = malloc((size_t)P * sizeof *x->host_of);
  if (!x->host_of) { free(h); free(x); return STRATA_ERR_SYSTEM; }
  /* host index = lowest world rank with the same host name */
  uint32_t nhosts = 0;
  for (int w = 0; w < P; w++) {
    x->host_of[w] = (uint32_t)w;
    for (int v = 0; v < w; v++)
      if (!strcmp(h[v].name, h[w].name)) { x->host_of[w] = x->host_of[v]; break; }
    if (x->host_of[w] == (uint32_t)w) nhosts++;
  }
  x->my_host = x->host_of[me];
  x->nhosts = nhosts;
  for (int w = 0; w < P; w++) x->local_size += x->host_of[w] == x->my_host;
  for (int w = 0; w < P; w++) x->machine_ranks += h[me].boot[0] ? !strcmp(h[w].boot, h[me].boot) : x->host_of[w] == x->my_host;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  x->oversubscribed = ncpu > 0 && x->machine_ranks > ncpu;
  char(*labels)[STRATA_SITE_NAME] = calloc((size_t)P, sizeof *labels);
  x->hostnames = calloc((size_t)P, sizeof *x->hostnames);
  if (!labels || !x->hostnames) { free(labels); free(h); free(x->host_of); free(x->hostnames); free(x); return STRATA_ERR_SYSTEM; }
  for (int w = 0; w < P; w++) {
    memcpy(labels[w], h[w].site, STRATA_SITE_NAME);
    labels[w][STRATA_SITE_NAME - 1] = 0;
    memcpy(x->hostnames[w], h[w].name, 64);
    x->hostnames[w][63] = 0;
  }
  free(h);
  /* this host's machine figures: its leader (lowest world rank) derives them, measuring
   * if nothing is cached; every rank takes its leader's */
  {
    strata_machine_t *all = calloc((size_t)P, sizeof *all);
    if (!all) { free(labels); ctx_release(x); return STRATA_ERR_SYSTEM; }
    if (x->host_of[me] == (uint32_t)me) strata_machine_derive(&all[me], 1);
    rc = oob->allgather(oob, all, sizeof *all);
    if (rc == STRATA_SUCCESS) x->machine = all[x->host_of[me]];
    free(all);
    if (rc != STRATA_SUCCESS) { free(labels); ctx_release(x); return rc; }
    if (x->host_of[me] == (uint32_t)me && strata_log_level_v >= STRATA_LOG_INFO) {
      char d[320];
      strata_machine_describe(&x->machine, d, sizeof d);
      SLOG_INFO("host %s: %s", x->hostname, d);
    }
  }
  strata_tp_init_t in = {me, P, x->host_of, x->my_host, key, oob, 0};
  int want_shm = (cfg->transports & STRATA_TRANSPORT_SHM) != 0;
  int want_ucx = (cfg->transports & STRATA_TRANSPORT_UCX) && (nhosts > 1 || !want_shm);
  if (want_shm) {
    rc = strata_shm_create(&in, &x->shm);
    if (rc != STRATA_SUCCESS) { ctx_release(x); return rc; }
  }
  if (want_ucx) {
    in.inter_host_only = x->shm != NULL;
    rc = strata_ucx_create(&in, &x->ucx);
    if (rc != STRATA_SUCCESS) {
      SLOG_WARN("UCX transport unavailable (%s)%s", strata_result_string(rc),
                nhosts > 1 ? ": ranks on other hosts cannot be reached" : "");
      ctx_release(x);
      return rc;
    }
  }
  rc = strata_fabric_setup(x, oob, labels);
  free(labels);
  if (rc == STRATA_SUCCESS) rc = strata_agree_world(x, oob); /* every plan input equal everywhere */
  if (rc != STRATA_SUCCESS) { ctx_release(x); return rc; }
  const char *save = getenv("STRATA_TOPO_SAVE");
  if (save && *save && me == 0) strata_topo_file_write(save, &x->fabric, P, x->hostnames, x->host_of);
  if (me == 0) {
    const strata_fabric_t *f = &x->fabric;
    SLOG_INFO("fabric: %u host(s), %d site(s) from %s; levels: node %.2f us %.1f Gbit/s (%s), site %.1f us %.2f "
              "Gbit/s (%s), global %.1f us %.2f Gbit/s (%s)", nhosts, f->nsites, f->site_source,
              f->lvl[0].alpha * 1e6, f->lvl[0].bw * 8e-9, f->lvl[0].source, f->lvl[1].alpha * 1e6,
              f->lvl[1].bw * 8e-9, f->lvl[1].source, f->lvl[2].alpha * 1e6, f->lvl[2].bw * 8e-9, f->lvl[2].source);
    for (int s2 = 0; s2 < f->nsites && strata_log_level_v >= STRATA_LOG_INFO; s2++) {
      char buf[512];
      size_t len = 0;
      buf[0] = 0;
      for (int w = 0; w < P && len + 70 < sizeof buf; w++)
        if (f->site_of[w] == (uint32_t)s2 && x->host_of[w] == (uint32_t)w)
          len += (size_t)snprintf(buf + len, sizeof buf - len, " %s", x->hostnames[w]);
      SLOG_INFO("  site %d '%s': hosts%s", s2, f->site_name[s2], buf);
    }
  }
  if (strata_log_level_v >= STRATA_LOG_INFO && x->host_of[me] == (uint32_t)me) { /* once per host */
    strata_host_topo_t tp;
    strata_host_topo(&tp);
    SLOG_INFO("host %s%s: %d package(s), %d NUMA node(s), %d cores, %d threads, L3 %zu KiB, NICs [near cores]: %s, GPUs: %s",
              x->hostname, tp.from_hwloc ? " (hwloc)" : "", tp.packages, tp.numa_nodes, tp.cores, tp.pus,
              tp.l3_bytes >> 10, tp.nics[0] ? tp.nics : "none", tp.gpus[0] ? tp.gpus : "none");
  }
  SLOG_INFO("world rank %d of %d on %s (site %s): %u hosts, %d ranks here, %d on this machine%s; transports:%s%s",
            me, P, x->hostname, x->fabric.site_name[x->fabric.site_of[me]], nhosts, x->local_size,
            x->machine_ranks, x->oversubscribed ? " (more ranks than cores)" : "",
            x->shm ? " shm" : "", x->ucx ? " ucx" : "");
  *out = x;
  return STRATA_SUCCESS;
}

/* ---- communicators ---- */

static strata_comm_t comm_alloc(strata_context_t *x, int rank, int nranks, int *world, uint32_t id) {
  strata_comm_t c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->ctx = x;
  x->refs++;
  c->rank = rank;
  c->nranks = nranks;
  c->world = world;
  c->id = id;
  c->blocking_req.blocking = 1;
  c->blocking_req.comm = c;
  memcpy(c->algo_override, strata_config()->algo, sizeof c->algo_override);
  c->all_local = 1;
  for (int r = 0; r < nranks; r++)
    if (x->host_of[comm_world_rank(c, r)] != x->my_host) c->all_local = 0;
  return c;
}

/* Staging segment for node plans: comm rank 0 creates it (smaller slots if /dev/shm is
 * short), the others attach. sync(): a barrier among the communicator's ranks; agree(): an
 * AND of every rank's flag. Without the segment everywhere, node plans are off for this
 * communicator on every rank (point-to-point plans over the shm transport run instead). */
static strata_result_t node_seg_setup(strata_comm_t c, strata_result_t (*sync)(void *),
                                      strata_result_t (*agree)(void *, int *), void *arg) {
  const strata_config_t *cfg = strata_config();
  strata_result_t rc = STRATA_SUCCESS, rc2;
  if (!c->all_local || !c->ctx->shm || c->nranks < 2) {
    if (c->nranks == 1) return strata_nseg_init_private(&c->node, 1, cfg->node_nbuf, cfg->node_chunk);
    return sync(arg);
  }
  char name[96];
  snprintf(name, sizeof name, "/strata-%016llx-c%u-w%d", (unsigned long long)c->ctx->key, c->id,
           comm_world_rank(c, 0));
  if (c->rank == 0) {
    shm_unlink(name);
    rc = strata_nseg_create(&c->node, name, c->nranks, cfg->node_nbuf, cfg->node_chunk);
  }
  rc2 = sync(arg);
  if (rc2 != STRATA_SUCCESS) return rc2;
  if (c->rank != 0) rc = strata_nseg_attach(&c->node, name, c->nranks, cfg->node_nbuf, cfg->node_chunk);
  int ok = rc == STRATA_SUCCESS;
  rc2 = agree(arg, &ok);
  if (c->rank == 0) strata_nseg_unlink(&c->node);
  if (rc2 != STRATA_SUCCESS) return rc2;
  if (!ok) {
    if (c->rank == 0)
      SLOG_WARN("communicator of %d ranks on %s: no node staging segment (/dev/shm too small?): shared-memory "
                "collectives off, point-to-point plans instead", c->nranks, c->ctx->hostname);
    strata_nseg_destroy(&c->node);
  }
  return STRATA_SUCCESS;
}

static strata_result_t oob_agree(void *o, int *ok) {
  strata_oob_t *oob = o;
  int *all = calloc((size_t)oob->nranks, sizeof *all);
  if (!all) return STRATA_ERR_SYSTEM;
  all[oob->rank] = *ok;
  strata_result_t rc = oob->allgather(oob, all, sizeof *all);
  for (int r = 0; r < oob->nranks; r++) *ok &= all[r] != 0;
  free(all);
  return rc;
}

static strata_result_t oob_sync(void *o) { return ((strata_oob_t *)o)->barrier((strata_oob_t *)o); }

/* dense ids, in order of first appearance */
static void densify(int *ids, int n, int *nunits) {
  int k = 0;
  int *map = malloc((size_t)n * sizeof *map), *orig = malloc((size_t)n * sizeof *orig);
  if (!map || !orig) { free(map); free(orig); for (int i = 0; i < n; i++) ids[i] = 0; *nunits = 1; return; }
  for (int i = 0; i < n; i++) {
    int j = 0;
    while (j < k && orig[j] != ids[i]) j++;
    if (j == k) orig[k++] = ids[i];
    map[i] = j;
  }
  memcpy(ids, map, (size_t)n * sizeof *ids);
  *nunits = k;
  free(map);
  free(orig);
}

static strata_result_t tuner_setup(strata_comm_t c) {
  const strata_context_t *x = c->ctx;
  int p2p_shm = c->all_local && x->shm;
  strata_tuner_init_machine(&c->tuner, c->nranks, c->node.base != NULL && c->nranks > 1, p2p_shm,
                            c->all_local && x->oversubscribed, &x->machine);
  if (c->all_local) return STRATA_SUCCESS;
  const int P = c->nranks;
  c->hier_units = malloc(2 * (size_t)P * sizeof *c->hier_units);
  if (!c->hier_units) return STRATA_ERR_SYSTEM;
  int *node = c->hier_units, *site = c->hier_units + P;
  for (int r = 0; r < P; r++) {
    int w = comm_world_rank(c, r);
    node[r] = (int)x->host_of[w];
    site[r] = (int)x->fabric.site_of[w];
  }
  c->hier.nranks = P;
  densify(node, P, &c->hier.nunits[0]);
  densify(site, P, &c->hier.nunits[1]);
  c->hier.unit[0] = node;
  c->hier.unit[1] = site;
  double al[3], bw[3];
  for (int l = 0; l < 3; l++) {
    al[l] = x->fabric.lvl[l].alpha;
    bw[l] = x->fabric.lvl[l].bw;
  }
  strata_tuner_set_topo(&c->tuner, &c->hier, al, bw, x->cpu_over);
  return STRATA_SUCCESS;
}

strata_result_t strata_comm_create_world(strata_oob_t *oob, uint64_t key, strata_comm_t *out) {
  strata_context_t *x = NULL;
  strata_result_t rc = ctx_create(oob, key, &x);
  if (rc != STRATA_SUCCESS) { oob->destroy(oob); return rc; }
  strata_comm_t c = comm_alloc(x, oob->rank, oob->nranks, NULL, 0);
  ctx_release(x); /* the communicator holds it now */
  if (!c) { oob->destroy(oob); return STRATA_ERR_SYSTEM; }
  rc = node_seg_setup(c, oob_sync, oob_agree, oob);
  oob->destroy(oob);
  if (rc == STRATA_SUCCESS) rc = tuner_setup(c);
  if (rc != STRATA_SUCCESS) { strata_comm_destroy(c); return rc; }
  *out = c;
  return STRATA_SUCCESS;
}

#ifdef STRATA_HAVE_MPI
#include "strata_mpi.h"
strata_result_t strata_bootstrap_mpi(MPI_Comm comm, strata_oob_t **out, uint64_t *job_key);
strata_result_t strata_comm_init_mpi(strata_comm_t *comm, MPI_Comm mpi_comm) {
  strata_config();
  if (!comm) { SLOG_WARN("strata_comm_init_mpi: comm is NULL"); return STRATA_ERR_INVALID_ARGUMENT; }
  *comm = NULL;
  if (mpi_comm == MPI_COMM_NULL) {
    SLOG_WARN("strata_comm_init_mpi: MPI_COMM_NULL");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  strata_oob_t *oob = NULL;
  uint64_t key = 0;
  strata_result_t rc = strata_bootstrap_mpi(mpi_comm, &oob, &key);
  if (rc != STRATA_SUCCESS) return rc;
  return strata_comm_create_world(oob, key, comm);
}
#endif

static strata_result_t comm_sync(void *arg) {
  return strata_coll_run(STRATA_COLL_BARRIER, NULL, NULL, 0, STRATA_INT8, STRATA_SUM, 0, (strata_comm_t)arg,
                         NULL, STRATA_ALGO_DISSEMINATION);
}

static strata_result_t comm_agree(void *arg, int *ok) {
  int32_t x = *ok ? 1 : 0, y = 0;
  strata_result_t rc = strata_coll_run(STRATA_COLL_ALLREDUCE, &x, &y, 1, STRATA_INT32, STRATA_MIN, 0,
                                       (strata_comm_t)arg, NULL, STRATA_ALGO_RECURSIVE_DOUBLING);
  *ok = rc == STRATA_SUCCESS && y == 1;
  return rc;
}

strata_result_t strata_comm_split(strata_comm_t comm, int color, int key, strata_comm_t *newcomm) {
  if (!comm || !newcomm) {
    SLOG_WARN("strata_comm_split: %s is NULL", comm ? "newcomm" : "comm");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  *newcomm = NULL;
  if (comm->error) return comm->error;
  const int P = comm->nranks;
  uint32_t id = 0;
  strata_result_t rc = strata_comm_id_agree(comm, &id);
  if (rc != STRATA_SUCCESS) return rc;
  int32_t mine[4] = {color < 0 ? -1 : color, key, comm->rank, (int32_t)(uint32_t)(comm->ctx->digest ^ (comm->ctx->digest >> 32))};
  int32_t *all = malloc((size_t)P * sizeof mine);
  if (!all) return STRATA_ERR_SYSTEM;
  memcpy(all + 4 * comm->rank, mine, sizeof mine);
  rc = strata_coll_run(STRATA_COLL_ALLGATHER, all + 4 * comm->rank, all, 4, STRATA_INT32, STRATA_SUM, 0, comm,
                       NULL, STRATA_ALGO_AUTO);
  if (rc != STRATA_SUCCESS) { free(all); return rc; }
  for (int r = 0; r < P; r++)
    if (all[4 * r + 3] != mine[3]) { /* the plan inputs changed on some rank since init */
      SLOG_WARN("strata_comm_split: rank %d and rank %d of the parent plan with different inputs (STRATA_* "
                "settings differ); no communicator is made", r, comm->rank);
      free(all);
      return STRATA_ERR_INVALID_USAGE;
    }
  if (color < 0) { free(all); return STRATA_SUCCESS; } /* no id used up */
  int n = 0, myrank = 0;
  for (int r = 0; r < P; r++) n += all[4 * r] == color;
  int *world = malloc((size_t)n * sizeof *world);
  int *order = malloc((size_t)n * sizeof *order);
  if (!world || !order) { free(all); free(world); free(order); return STRATA_ERR_SYSTEM; }
  for (int r = 0, k = 0; r < P; r++)
    if (all[4 * r] == color) order[k++] = r;
  /* sort members by (key, parent rank): insertion sort, n is a communicator size */
  for (int i = 1; i < n; i++) {
    int v = order[i], j = i - 1;
    while (j >= 0 && (all[4 * order[j] + 1] > all[4 * v + 1] ||
                      (all[4 * order[j] + 1] == all[4 * v + 1] && order[j] > v))) {
      order[j + 1] = order[j];
      j--;
    }
    order[j + 1] = v;
  }
  for (int i = 0; i < n; i++) {
    world[i] = comm_world_rank(comm, order[i]);
    if (order[i] == comm->rank) myrank = i;
  }
  free(order);
  free(all);
  strata_comm_t c = comm_alloc(comm->ctx, myrank, n, world, id);
  if (!c) { free(world); return STRATA_ERR_SYSTEM; }
  strata_comm_id_take(comm, id);
  rc = node_seg_setup(c, comm_sync, comm_agree, c);
  if (rc == STRATA_SUCCESS) rc = tuner_setup(c);
  if (rc != STRATA_SUCCESS) { strata_comm_destroy(c); return rc; }
  SLOG_INFO("split: color %d key %d -> rank %d of %d (comm id %u)", color, key, myrank, n, c->id);
  *newcomm = c;
  return STRATA_SUCCESS;
}

strata_result_t strata_comm_destroy(strata_comm_t comm) {
  if (!comm) { SLOG_WARN("strata_comm_destroy: comm is NULL"); return STRATA_ERR_INVALID_ARGUMENT; }
  /* calls still running fail; handles still held become invalid (a later wait or test on
   * them returns STRATA_ERR_INVALID_USAGE); ids of a failed communicator stay taken */
  if (comm->active_head) {
    SLOG_WARN("strata_comm_destroy: rank %d of %d (%s): calls still running are failed", comm->rank, comm->nranks,
              comm->ctx->hostname);
    strata_engine_fail_all(comm, STRATA_ERR_INVALID_USAGE);
  }
  int held = strata_handle_retire_comm(comm);
  if (held) SLOG_WARN("strata_comm_destroy: %d request handle(s) not waited for are now invalid", held);
  strata_comm_id_release(comm);
  strata_dev_comm_free(comm->dev);
  strata_comm_free_cache(comm);
  strata_request_free_pool(comm);
  strata_nseg_destroy(&comm->node);
  free(comm->world);
  free(comm->hier_units);
  strata_context_t *x = comm->ctx;
  free(comm);
  ctx_release(x);
  return STRATA_SUCCESS;
}

strata_result_t strata_comm_abort(strata_comm_t comm) {
  if (!comm) { SLOG_WARN("strata_comm_abort: comm is NULL"); return STRATA_ERR_INVALID_ARGUMENT; }
  strata_engine_fail_all(comm, STRATA_ERR_INVALID_USAGE);
  comm->error = STRATA_ERR_INVALID_USAGE;
  return STRATA_SUCCESS;
}

strata_result_t strata_comm_rank(strata_comm_t comm, int *rank) {
  if (!comm || !rank) { SLOG_WARN("strata_comm_rank: NULL argument"); return STRATA_ERR_INVALID_ARGUMENT; }
  *rank = comm->rank;
  return STRATA_SUCCESS;
}

strata_result_t strata_comm_size(strata_comm_t comm, int *size) {
  if (!comm || !size) { SLOG_WARN("strata_comm_size: NULL argument"); return STRATA_ERR_INVALID_ARGUMENT; }
  *size = comm->nranks;
  return STRATA_SUCCESS;
}
