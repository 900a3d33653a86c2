/* The public fault-tolerance calls: the communicator's error and failed set, revoke, the
 * fault-tolerant agree, and shrink (an agreement on the failed set, then a communicator of
 * the survivors whose staging segment is set up under agreements too, so that a rank dying
 * meanwhile makes every survivor start over with it excluded, never some of them hang). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/internal.h"
#include "../core/log.h"
#include "../engine/engine.h"
#include "ft.h"

#define ASYNC_CHECK_NS 50000000ull

static strata_result_t need_comm(strata_comm_t c, const char *fn) {
  if (c) return STRATA_SUCCESS;
  SLOG_WARN("%s: comm is NULL", fn);
  return STRATA_ERR_INVALID_ARGUMENT;
}

strata_result_t strata_comm_get_async_error(strata_comm_t comm, strata_result_t *err) {
  if (need_comm(comm, "strata_comm_get_async_error") || !err) {
    if (comm) SLOG_WARN("strata_comm_get_async_error: err is NULL");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  /* never blocks: with another thread in a call, only what is already known */
  if (strata_comm_try_enter(comm)) {
    strata_context_t *x = comm->ctx;
    for (int i = 0; i < x->ntp; i++) x->tp[i]->ops->progress(x->tp[i]);
    strata_ft_poll(comm);
    static __thread uint64_t last;
    uint64_t now = strata_now_ns();
    if (comm->error == STRATA_SUCCESS && now - last > ASYNC_CHECK_NS) { /* dead processes on this host, UCX errors */
      last = now;
      for (int r = 0; r < comm->nranks; r++) {
        if (r == comm->rank) continue;
        strata_transport_t *tp = comm_tp(comm, r);
        if (tp->ops->peer_alive(tp, comm_world_rank(comm, r)) != STRATA_SUCCESS) {
          strata_ft_suspect(comm, r, "its process or connection is gone");
          strata_engine_fail_all(comm, STRATA_ERR_PEER_FAILED);
        }
      }
    }
    strata_comm_leave(comm);
  }
  *err = comm->error;
  if (*err == STRATA_SUCCESS) *err = (strata_result_t)atomic_load(&comm->abort_req); /* asked for, not yet done */
  return STRATA_SUCCESS;
}

strata_result_t strata_comm_failed_ranks(strata_comm_t comm, int *ranks, int max, int *nfailed) {
  if (need_comm(comm, "strata_comm_failed_ranks") || !nfailed || max < 0 || (max > 0 && !ranks)) {
    if (comm) SLOG_WARN("strata_comm_failed_ranks: nfailed is NULL, max < 0, or ranks NULL with max > 0");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  int n = 0;
  const strata_ft_t *f = comm->ft;
  for (int r = 0; f && r < comm->nranks; r++)
    if (f->suspect[r]) {
      if (n < max) ranks[n] = r;
      n++;
    }
  *nfailed = n;
  return STRATA_SUCCESS;
}

strata_result_t strata_comm_revoke(strata_comm_t comm) {
  strata_result_t rc = need_comm(comm, "strata_comm_revoke");
  if (rc) return rc;
  if (!strata_comm_try_enter_wait_gate(comm)) { /* a call runs on it on another thread: it fails itself */
    int none = 0;
    atomic_compare_exchange_strong(&comm->abort_req, &none, (int)STRATA_ERR_REVOKED);
    return STRATA_SUCCESS;
  }
  SLOG_INFO("rank %d of %d (%s), comm %u: revoked", comm->rank, comm->nranks, comm->ctx->hostname, comm->id);
  strata_engine_fail_all(comm, STRATA_ERR_REVOKED); /* also tells the members */
  if (comm->error == STRATA_SUCCESS) comm->error = STRATA_ERR_REVOKED;
  strata_ft_flush_notices(comm, 20000000ull);
  strata_comm_leave(comm);
  return STRATA_SUCCESS;
}

static strata_result_t state_init(strata_comm_t c, ft_state_t *st, uint32_t flag) {
  memset(st, 0, sizeof *st);
  st->failed = calloc((size_t)c->nranks, 1);
  if (!st->failed) return STRATA_ERR_SYSTEM;
  for (uint32_t i = 0; i < STRATA_COMM_ID_LIMIT; i++)
    if (c->ctx->comm_id_used[i]) st->used[i >> 3] |= (uint8_t)(1u << (i & 7));
  st->flag = flag;
  return STRATA_SUCCESS;
}

strata_result_t strata_comm_agree(strata_comm_t comm, int *flag) {
  strata_result_t rc = need_comm(comm, "strata_comm_agree");
  if (rc) return rc;
  if (!flag) { SLOG_WARN("strata_comm_agree: flag is NULL"); return STRATA_ERR_INVALID_ARGUMENT; }
  if (comm->aborted) return STRATA_ERR_INVALID_USAGE;
  strata_comm_enter(comm);
  strata_ft_poll(comm);
  ft_state_t st;
  rc = state_init(comm, &st, (uint32_t)*flag);
  if (rc == STRATA_SUCCESS) rc = strata_ft_agreement(comm, &st);
  if (rc == STRATA_SUCCESS) {
    *flag = (int)st.flag;
    int nf = 0;
    for (int r = 0; r < comm->nranks; r++) nf += st.failed[r];
    SLOG_INFO("rank %d of %d, comm %u: agreed flag 0x%x over %d survivor(s)", comm->rank, comm->nranks, comm->id,
              (unsigned)st.flag, comm->nranks - nf);
  }
  free(st.failed);
  strata_comm_leave(comm);
  return rc;
}

/* ---- shrink ---- */

typedef struct shrink_try {
  strata_comm_t old;
  ft_state_t *st;               /* the decided state of this try */
  int changed;                  /* a later agreement found more failures: start over */
} shrink_try_t;

/* The staging segment's barrier and AND, as agreements on the old communicator among the
 * new one's members: a member dying meanwhile shows up as a changed failed set everywhere. */
static strata_result_t try_agree(void *arg, int *ok) {
  shrink_try_t *t = arg;
  const int P = t->old->nranks;
  ft_state_t s;
  strata_result_t rc = state_init(t->old, &s, ok ? (uint32_t)(*ok != 0) : 1u);
  if (rc != STRATA_SUCCESS) return rc;
  memcpy(s.failed, t->st->failed, (size_t)P);
  memcpy(s.used, t->st->used, sizeof s.used);
  rc = strata_ft_agreement(t->old, &s);
  if (rc == STRATA_SUCCESS && memcmp(s.failed, t->st->failed, (size_t)P)) {
    memcpy(t->st->failed, s.failed, (size_t)P);
    t->changed = 1;
    rc = STRATA_ERR_PEER_FAILED;
  }
  if (rc == STRATA_SUCCESS && ok) *ok = s.flag != 0;
  free(s.failed);
  return rc;
}
static strata_result_t try_sync(void *arg) { return try_agree(arg, NULL); }

strata_result_t strata_comm_shrink(strata_comm_t comm, const int *exclude, int nexclude, strata_comm_t *newcomm) {
  strata_result_t rc = need_comm(comm, "strata_comm_shrink");
  if (rc) return rc;
  if (!newcomm || nexclude < 0 || (nexclude > 0 && !exclude)) {
    SLOG_WARN("strata_comm_shrink: newcomm is NULL, nexclude < 0, or exclude NULL with nexclude > 0");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  *newcomm = NULL;
  for (int i = 0; i < nexclude; i++)
    if (exclude[i] < 0 || exclude[i] >= comm->nranks) {
      SLOG_WARN("strata_comm_shrink: exclude[%d] = %d is not a rank of the communicator (size %d)", i, exclude[i],
                comm->nranks);
      return STRATA_ERR_INVALID_ARGUMENT;
    }
  if (comm->aborted) return STRATA_ERR_INVALID_USAGE;
  strata_comm_enter(comm);
  uint64_t t0 = strata_now_ns();
  strata_ft_poll(comm);
  /* the old communicator is done with: whatever still runs on it here or at a member ends */
  if (comm->error == STRATA_SUCCESS) {
    strata_engine_fail_all(comm, STRATA_ERR_REVOKED);
    comm->error = STRATA_ERR_REVOKED;
  }
  ft_state_t st;
  rc = state_init(comm, &st, 1);
  if (rc != STRATA_SUCCESS) { strata_comm_leave(comm); return rc; }
  int self_excluded = 0;
  for (int i = 0; i < nexclude; i++) {
    if (exclude[i] == comm->rank) self_excluded = 1;
    else st.failed[exclude[i]] = 1;
  }
  if (self_excluded) { /* this rank leaves: nothing to agree on with the others */
    SLOG_INFO("strata_comm_shrink: rank %d of %d excludes itself: no new communicator", comm->rank, comm->nranks);
    free(st.failed);
    strata_comm_leave(comm);
    return STRATA_SUCCESS;
  }
  for (int attempt = 0; attempt <= comm->nranks; attempt++) {
    rc = strata_ft_agreement(comm, &st);
    if (rc != STRATA_SUCCESS) break;
    int n = 0, me = 0;
    for (int r = 0; r < comm->nranks; r++) {
      if (r == comm->rank) me = n;
      n += !st.failed[r];
    }
    int *world = malloc((size_t)n * sizeof *world);
    if (!world) { rc = STRATA_ERR_SYSTEM; break; }
    for (int r = 0, k = 0; r < comm->nranks; r++)
      if (!st.failed[r]) world[k++] = comm_world_rank(comm, r);
    uint32_t id = 1;
    while (id < STRATA_FT_COMM_ID && ((st.used[id >> 3] >> (id & 7)) & 1)) id++;
    if (id >= STRATA_FT_COMM_ID) {
      SLOG_WARN("strata_comm_shrink: every communicator id is in use at some survivor");
      free(world);
      rc = STRATA_ERR_UNSUPPORTED;
      break;
    }
    uint64_t uid = strata_comm_child_uid(comm, 0x5348524b00000000ull | comm->ft->instance);
    comm->nchildren++;
    shrink_try_t t = {comm, &st, 0};
    strata_comm_t c = NULL;
    rc = strata_comm_derive(comm, me, n, world, id, uid, try_sync, try_agree, &t, &c);
    if (rc == STRATA_SUCCESS) {
      comm->ctx->comm_id_used[id] = 1;
      int nf = comm->nranks - n;
      char list[256] = "";
      for (int r = 0, len = 0; r < comm->nranks && len < (int)sizeof list - 16; r++)
        if (st.failed[r]) len += snprintf(list + len, sizeof list - (size_t)len, " %d", r);
      SLOG_INFO("strata_comm_shrink: rank %d of %d -> rank %d of %d (comm %u), %d excluded:%s, %.1f ms", comm->rank,
                comm->nranks, me, n, id, nf, list, (double)(strata_now_ns() - t0) * 1e-6);
      *newcomm = c;
      break;
    }
    if (!t.changed) break; /* not a failure found by the agreements: give up */
    SLOG_INFO("strata_comm_shrink: a member failed while the new communicator was set up: again without it");
  }
  free(st.failed);
  strata_comm_leave(comm);
  return rc;
}
