/* Communicators: the world's over a bootstrap, split, destroy and abort, their staging
 * segments and tuners. Entry points: init.c; the shared context: context.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../engine/engine.h"
#include "../device/dev_coll.h"
#include "../ft/ft.h"
#include "comm_ids.h"
#include "handles.h"
#include "host_coll.h"
#include "internal.h"
#include "log.h"
#include "tune_plans.h"

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
  if (!c->all_local || !strata_config_transport_on("shm") || c->nranks < 2) {
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
  if (rc2 != STRATA_SUCCESS) {
    if (c->rank == 0 && rc == STRATA_SUCCESS) strata_nseg_unlink(&c->node); /* leave no name behind */
    return rc2;
  }
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
  int p2p_shm = c->all_local && (comm_tp(c, 0)->ops->flags & STRATA_TP_SHARED_MEMORY);
  strata_tuner_init_machine(&c->tuner, c->nranks, c->node.base != NULL && c->nranks > 1, p2p_shm,
                            c->all_local && x->oversubscribed, &x->machine);
  if (c->all_local) {
    strata_tuner_set_measured(&c->tuner, x->ptimes);
    return STRATA_SUCCESS;
  }
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
  strata_result_t rc = strata_ctx_create(oob, key, &x);
  if (rc != STRATA_SUCCESS) { oob->destroy(oob); return rc; }
  strata_comm_t c = comm_alloc(x, oob->rank, oob->nranks, NULL, 0);
  strata_ctx_release(x); /* the communicator holds it now */
  if (!c) { oob->destroy(oob); return STRATA_ERR_SYSTEM; }
  c->uid = key;
  rc = strata_ft_attach(c);
  if (rc == STRATA_SUCCESS) rc = node_seg_setup(c, oob_sync, oob_agree, oob);
  oob->destroy(oob);
  if (rc == STRATA_SUCCESS) rc = tuner_setup(c);
  /* one host: time the candidate plans (or take the cached times), then plan with them */
  if (rc == STRATA_SUCCESS && c->all_local) rc = strata_comm_tune_plans(c, &x->ptimes);
  if (rc == STRATA_SUCCESS && x->ptimes) {
    strata_comm_free_cache(c);
    rc = tuner_setup(c);
  }
  if (rc != STRATA_SUCCESS) { strata_comm_destroy(c); return rc; }
  *out = c;
  return STRATA_SUCCESS;
}


static strata_result_t comm_sync(void *arg);
static strata_result_t comm_agree(void *arg, int *ok);
#define comm_sync_cb comm_sync
#define comm_agree_cb comm_agree

uint64_t strata_comm_child_uid(strata_comm_t parent, uint64_t salt) {
  uint64_t h = parent->uid ^ (0x9e3779b97f4a7c15ull * (parent->nchildren + 1)) ^ (salt * 0xc2b2ae3d27d4eb4full);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 29);
}

strata_result_t strata_comm_derive(strata_comm_t parent, int rank, int nranks, int *world, uint32_t id, uint64_t uid,
                                   strata_result_t (*sync)(void *), strata_result_t (*agree)(void *, int *),
                                   void *arg, strata_comm_t *out) {
  *out = NULL;
  strata_comm_t c = comm_alloc(parent->ctx, rank, nranks, world, id);
  if (!c) { free(world); return STRATA_ERR_SYSTEM; }
  c->uid = uid;
  strata_result_t rc = strata_ft_attach(c);
  if (rc == STRATA_SUCCESS) rc = node_seg_setup(c, sync ? sync : comm_sync_cb, agree ? agree : comm_agree_cb, sync ? arg : c);
  if (rc == STRATA_SUCCESS) rc = tuner_setup(c);
  if (rc != STRATA_SUCCESS) { strata_comm_destroy(c); return rc; }
  *out = c;
  return STRATA_SUCCESS;
}

static strata_result_t comm_sync(void *arg) {
  return strata_host_coll((strata_comm_t)arg, STRATA_COLL_BARRIER, NULL, NULL, 0, STRATA_INT8, STRATA_SUM, 0,
                          STRATA_ALGO_DISSEMINATION, NULL);
}

static strata_result_t comm_agree(void *arg, int *ok) {
  int32_t x = *ok ? 1 : 0, y = 0;
  strata_result_t rc = strata_host_coll((strata_comm_t)arg, STRATA_COLL_ALLREDUCE, &x, &y, 1, STRATA_INT32,
                                        STRATA_MIN, 0, STRATA_ALGO_RECURSIVE_DOUBLING, NULL);
  *ok = rc == STRATA_SUCCESS && y == 1;
  return rc;
}

static strata_result_t split_entered(strata_comm_t comm, int color, int key, strata_comm_t *newcomm) {
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
  rc = strata_host_coll(comm, STRATA_COLL_ALLGATHER, all + 4 * comm->rank, all, 4, STRATA_INT32, STRATA_SUM, 0,
                        STRATA_ALGO_AUTO, NULL);
  if (rc != STRATA_SUCCESS) { free(all); return rc; }
  for (int r = 0; r < P; r++)
    if (all[4 * r + 3] != mine[3]) { /* the plan inputs changed on some rank since init */
      SLOG_WARN("strata_comm_split: rank %d and rank %d of the parent plan with different inputs (STRATA_* "
                "settings differ); no communicator is made", r, comm->rank);
      free(all);
      return STRATA_ERR_INVALID_USAGE;
    }
  uint64_t uid = strata_comm_child_uid(comm, 0);
  comm->nchildren++; /* on every member, with a child here or not */
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
  strata_comm_id_take(comm, id);
  strata_comm_t c = NULL;
  rc = strata_comm_derive(comm, myrank, n, world, id, uid ^ (uint64_t)(uint32_t)color * 0xff51afd7ed558ccdull, NULL,
                          NULL, NULL, &c);
  if (rc != STRATA_SUCCESS) return rc;
  SLOG_INFO("split: color %d key %d -> rank %d of %d (comm id %u)", color, key, myrank, n, c->id);
  *newcomm = c;
  return STRATA_SUCCESS;
}

strata_result_t strata_comm_split(strata_comm_t comm, int color, int key, strata_comm_t *newcomm) {
  if (!comm) return split_entered(comm, color, key, newcomm); /* (says what is wrong) */
  strata_comm_enter(comm); /* its collectives use the context's transports */
  strata_result_t rc = split_entered(comm, color, key, newcomm);
  strata_comm_leave(comm);
  return rc;
}

strata_result_t strata_comm_destroy(strata_comm_t comm) {
  if (!comm) { SLOG_WARN("strata_comm_destroy: comm is NULL"); return STRATA_ERR_INVALID_ARGUMENT; }
  strata_comm_enter(comm); /* the transports are shared: not while another thread runs a call */
  /* calls still running fail; handles still held become invalid (a later wait or test on
   * them returns STRATA_ERR_INVALID_USAGE); ids of a failed communicator stay taken */
  if (comm->active_head) {
    SLOG_WARN("strata_comm_destroy: rank %d of %d (%s): calls still running are failed", comm->rank, comm->nranks,
              comm->ctx->hostname);
    strata_engine_fail_all(comm, STRATA_ERR_INVALID_USAGE);
  }
  if (comm->ft && comm->error != STRATA_SUCCESS) strata_ft_flush_notices(comm, 20000000ull);
  strata_ft_detach(comm);
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
  strata_comm_leave(comm);
  free(comm);
  strata_ctx_release(x);
  return STRATA_SUCCESS;
}

_Thread_local char strata_thread_token; /* its address names the thread (comm.h) */

/* Safe from another thread while a call is blocked in Strata: that call returns at once
 * (STRATA_ERR_INVALID_USAGE) and the members are told (their calls end STRATA_ERR_REVOKED). */
strata_result_t strata_comm_abort(strata_comm_t comm) {
  if (!comm) { SLOG_WARN("strata_comm_abort: comm is NULL"); return STRATA_ERR_INVALID_ARGUMENT; }
  atomic_store(&comm->abort_req, (int)STRATA_ERR_INVALID_USAGE);
  if (strata_comm_try_enter_wait_gate(comm)) { /* no call on it: fail it here (the gate comes within a wait) */
    strata_ft_poll(comm);
    comm->error = STRATA_ERR_INVALID_USAGE;
    strata_comm_leave(comm);
  }
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
