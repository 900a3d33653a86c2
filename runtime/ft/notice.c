/* Failure notices: a communicator that fails (a dead or silent peer, a revoke, an abort)
 * tells its neighbours in a binomial graph (comm ranks r +- 2^k), and each tells its own
 * the first time it hears: every member learns within O(log P) hops, even when some of
 * them are dead, and calls blocked anywhere in the communicator end at once instead of
 * waiting out their own timeout. Each member keeps one small receive posted per neighbour
 * for the communicator's life. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../engine/engine.h"
#include "ft.h"

#define NOTICE_MAGIC 0x4e4f5449u /* "NOTI" */

static void post_rx(struct strata_comm *c, int i) {
  strata_ft_t *f = c->ft;
  strata_transport_t *tp = comm_tp(c, f->nb[i]);
  memset(&f->rx[i], 0, sizeof f->rx[i]);
  if (tp->ops->irecv(tp, comm_world_rank(c, f->nb[i]), strata_ft_tag(c->id, FT_NOTICE, 0, 0), &f->rxbuf[i],
                     sizeof f->rxbuf[i], &f->rx[i]) != STRATA_SUCCESS)
    f->rx[i].state = -(int)STRATA_ERR_TRANSPORT;
}

strata_result_t strata_ft_attach(struct strata_comm *c) {
  const int P = c->nranks, me = c->rank;
  strata_ft_t *f = calloc(1, sizeof *f);
  if (!f) return STRATA_ERR_SYSTEM;
  f->suspect = calloc((size_t)P, 1);
  int cap = 2;
  for (int k = 1; k < P; k *= 2) cap += 2;
  f->nb = malloc((size_t)cap * sizeof *f->nb);
  if (!f->suspect || !f->nb) { free(f->suspect); free(f->nb); free(f); return STRATA_ERR_SYSTEM; }
  for (int k = 1; k < P; k *= 2) {
    int cand[2] = {(me + k) % P, (me - k % P + P) % P};
    for (int j = 0; j < 2; j++) {
      int dup = cand[j] == me;
      for (int i = 0; i < f->nnb && !dup; i++) dup = f->nb[i] == cand[j];
      if (!dup) f->nb[f->nnb++] = cand[j];
    }
  }
  c->ft = f;
  if (!f->nnb) return STRATA_SUCCESS;
  f->rx = calloc((size_t)f->nnb, sizeof *f->rx);
  f->tx = calloc((size_t)f->nnb, sizeof *f->tx);
  f->rxbuf = calloc((size_t)f->nnb, sizeof *f->rxbuf);
  if (!f->rx || !f->tx || !f->rxbuf) { strata_ft_detach(c); return STRATA_ERR_SYSTEM; }
  for (int i = 0; i < f->nnb; i++) {
    post_rx(c, i);
    f->tx[i].state = 1; /* nothing sent */
  }
  return STRATA_SUCCESS;
}

void strata_ft_detach(struct strata_comm *c) {
  strata_ft_t *f = c->ft;
  if (!f) return;
  if (f->rx && f->tx)
    for (int i = 0; i < f->nnb; i++) {
      strata_transport_t *tp = comm_tp(c, f->nb[i]);
      if (f->rx[i].state == 0) tp->ops->cancel(tp, &f->rx[i], STRATA_ERR_INVALID_USAGE);
      if (f->tx[i].state == 0) tp->ops->cancel(tp, &f->tx[i], STRATA_ERR_INVALID_USAGE);
    }
  free(f->rx);
  free(f->tx);
  free(f->rxbuf);
  free(f->nb);
  free(f->suspect);
  free(f);
  c->ft = NULL;
}

void strata_ft_suspect(struct strata_comm *c, int r, const char *why) {
  strata_ft_t *f = c->ft;
  if (!f || r < 0 || r >= c->nranks || r == c->rank || f->suspect[r]) return;
  f->suspect[r] = 1;
  f->nsuspect++;
  int w = comm_world_rank(c, r);
  SLOG_WARN("rank %d of %d (world %d, %s), comm %u: rank %d (world %d, host %s) is failed: %s", c->rank, c->nranks,
            c->ctx->world_rank, c->ctx->hostname, c->id, r, w, c->ctx->hostnames[w], why);
}

static int tx_pending(const strata_ft_t *f) {
  for (int i = 0; i < f->nnb; i++)
    if (f->tx[i].state == 0) return 1;
  return 0;
}

void strata_ft_flush_notices(struct strata_comm *c, uint64_t ns) {
  strata_ft_t *f = c->ft;
  if (!f || !f->nnb) return;
  strata_context_t *x = c->ctx;
  uint64_t t0 = strata_now_ns();
  while (tx_pending(f) && strata_now_ns() - t0 < ns)
    for (int i = 0; i < x->ntp; i++) x->tp[i]->ops->progress(x->tp[i]);
}

void strata_ft_spread(struct strata_comm *c, strata_result_t err) {
  strata_ft_t *f = c->ft;
  if (!f || f->sent || !f->nnb) return;
  f->sent = 1;
  ft_notice_t *o = &f->out;
  if (o->magic != NOTICE_MAGIC) { /* this rank is where the failure was found (else: a forward) */
    o->magic = NOTICE_MAGIC;
    o->origin = c->rank;
    o->err = (int32_t)err;
  }
  o->uid = c->uid;
  o->nsus = 0;
  for (int r = 0; r < c->nranks && o->nsus < FT_NOTICE_SUSPECTS; r++)
    if (f->suspect[r]) o->sus[o->nsus++] = r;
  for (int i = 0; i < f->nnb; i++) {
    if (f->suspect[f->nb[i]]) continue; /* a send to a dead rank would only linger */
    strata_transport_t *tp = comm_tp(c, f->nb[i]);
    memset(&f->tx[i], 0, sizeof f->tx[i]);
    if (tp->ops->isend(tp, comm_world_rank(c, f->nb[i]), strata_ft_tag(c->id, FT_NOTICE, 0, 0), o, sizeof *o,
                       &f->tx[i]) != STRATA_SUCCESS)
      f->tx[i].state = -(int)STRATA_ERR_TRANSPORT;
  }
  strata_ft_flush_notices(c, 5000000ull); /* small sends: out at once on shm and UCX eager */
}

/* What a member does with its neighbour's notice; 1 when the communicator failed by it. */
static int take_notice(struct strata_comm *c, int i) {
  strata_ft_t *f = c->ft;
  const ft_notice_t *n = &f->rxbuf[i];
  int from = f->nb[i], wf = comm_world_rank(c, from);
  if (f->rx[i].state < 0) { /* the transport says the neighbour is gone */
    f->rx[i].state = 2;     /* handled */
    strata_ft_suspect(c, from, "its connection failed");
    if (c->error) return 0;
    strata_engine_fail_all(c, STRATA_ERR_PEER_FAILED);
    return 1;
  }
  f->rx[i].state = 2;
  if (n->magic != NOTICE_MAGIC || n->uid != c->uid) { /* a notice for an earlier communicator of this id */
    post_rx(c, i);
    return 0;
  }
  int me_named = 0;
  for (int k = 0; k < n->nsus && k < FT_NOTICE_SUSPECTS; k++) {
    if (n->sus[k] == c->rank) me_named = 1;
    else strata_ft_suspect(c, n->sus[k], "reported by a survivor");
  }
  strata_result_t err = (strata_result_t)n->err;
  if (err != STRATA_ERR_PEER_FAILED && err != STRATA_ERR_TIMEOUT) err = STRATA_ERR_REVOKED;
  if (me_named) {
    f->excluded = 1;
    err = STRATA_ERR_REVOKED;
  }
  if (c->error) return 0;
  int wo = n->origin >= 0 && n->origin < c->nranks ? comm_world_rank(c, n->origin) : -1;
  SLOG_WARN("rank %d of %d (world %d, %s), comm %u: %s (told by rank %d, %s; first found by rank %d, %s): the "
            "communicator fails with %s", c->rank, c->nranks, c->ctx->world_rank, c->ctx->hostname, c->id,
            me_named ? "the other ranks found this rank failed (it was stopped or too slow)"
            : n->err == STRATA_ERR_REVOKED || n->err == STRATA_ERR_INVALID_USAGE ? "the communicator was revoked"
                                                                                  : "a member failed",
            from, c->ctx->hostnames[wf], n->origin, wo >= 0 ? c->ctx->hostnames[wo] : "?", strata_result_string(err));
  f->out = *n; /* forwarded as it came */
  strata_engine_fail_all(c, err);
  return 1;
}

strata_result_t strata_ft_poll(struct strata_comm *c) {
  if (atomic_load_explicit(&c->abort_req, memory_order_relaxed)) {
    strata_result_t why = (strata_result_t)atomic_exchange(&c->abort_req, 0);
    if (why == STRATA_ERR_INVALID_USAGE) c->aborted = 1;
    SLOG_WARN("rank %d of %d (%s), comm %u: %s: calls in progress end", c->rank, c->nranks, c->ctx->hostname,
              c->id, why == STRATA_ERR_INVALID_USAGE ? "strata_comm_abort" : "strata_comm_revoke");
    strata_engine_fail_all(c, why);
  }
  strata_ft_t *f = c->ft;
  if (!f) return c->error;
  for (int i = 0; i < f->nnb; i++)
    if (f->rx[i].state != 0 && f->rx[i].state != 2) take_notice(c, i);
  return c->error;
}
