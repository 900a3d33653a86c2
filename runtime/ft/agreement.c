/* Fault-tolerant agreement: every surviving member of a communicator ends with the same
 * failed set, the same set of communicator ids in use, and the AND of the flags. No root:
 * any member may die at any point, rank 0 included.
 *
 * Rounds of all-to-all among the members not yet known failed. In round r a member sends its
 * state to each and waits for each one's round-r state, or for it to be found dead (the
 * transport, a dead pid) or silent for STRATA_TIMEOUT_MS (it is then told it is excluded).
 * A member decides when a round brought no new failure and every state it received equals
 * its own; otherwise it merges (union of failed sets and ids, AND of flags) and goes on.
 * A decider sends FINAL(state) to every member it did not find failed; a member that gets a
 * FINAL adopts it and decides too, then sends its own FINAL. Before returning, each member
 * waits for the FINAL of every member of the decided set (or finds it failed meanwhile).
 *
 * Why it agrees: the first decider D heard round r from every member outside F, all holding
 * F. Any other member M ends round r with F or a superset; with F it decides F; with more
 * it reaches round r + 1, where D's FINAL (sent to every member outside F) makes it adopt F,
 * unless M finds D silent, which takes D's silence for the whole timeout: then D is as good
 * as failed and the new communicator finds it so. Why nothing is left behind: messages
 * between two members are matched in the order they were sent, and a member withdraws its
 * receives from a peer only after that peer's FINAL (which it sent last) has arrived, or
 * after the peer was found failed (never waited on again in this communicator). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "ft.h"

#define AGR_MAGIC 0x41475245u /* "AGRE" */
#define PEER_CHECK_NS 50000000ull
#define FT_ENTER_SLACK_NS 1000000000ull

typedef struct agr_hdr {
  uint32_t magic, kind, round, inst;
  uint64_t uid;
  uint32_t nranks, pad;
} agr_hdr_t;

typedef struct agr {
  struct strata_comm *c;
  int P, me;
  uint32_t inst;
  size_t msz, psz;              /* message and payload bytes */
  uint8_t *rxr, *rxf;           /* per peer: round and FINAL receive buffers */
  strata_treq_t *rr, *rf, *tf;  /* per peer: round receive, FINAL receive, FINAL send */
  uint8_t *rr_on, *rf_on, *got_final; /* posted? FINAL arrived? */
  uint8_t *rxr2, *rr2_on;       /* after deciding in round R: round R + 1 (a peer one round on) */
  strata_treq_t *rr2;
  uint8_t **txbuf;              /* per round: the state sent */
  strata_treq_t **txr;          /* per round: its sends */
  int nrounds;
  uint8_t *finbuf, *exclbuf;
  strata_treq_t *tx_excl;
  uint8_t *failed;              /* live view: st->failed */
  int excluded;                 /* a survivor found this rank failed */
  int silent_drops;             /* members dropped for silence (alive, maybe: a partition) */
  uint64_t limit;
} agr_t;

static void pack(const agr_t *a, uint8_t *msg, int kind, int round, const ft_state_t *st) {
  agr_hdr_t h = {AGR_MAGIC, (uint32_t)kind, (uint32_t)round, a->inst, a->c->uid, (uint32_t)a->P, 0};
  memcpy(msg, &h, sizeof h);
  uint8_t *p = msg + sizeof h;
  memcpy(p, &st->flag, 4);
  memcpy(p + 4, st->used, sizeof st->used);
  uint8_t *bits = p + 4 + sizeof st->used;
  memset(bits, 0, ((size_t)a->P + 7) / 8);
  for (int r = 0; r < a->P; r++)
    if (st->failed[r]) bits[r >> 3] |= (uint8_t)(1u << (r & 7));
}

static int msg_ok(const agr_t *a, const uint8_t *msg, int kind, int round) {
  agr_hdr_t h;
  memcpy(&h, msg, sizeof h);
  return h.magic == AGR_MAGIC && h.kind == (uint32_t)kind && (kind == FT_FINAL || h.round == (uint32_t)round) &&
         h.inst == a->inst && h.uid == a->c->uid && h.nranks == (uint32_t)a->P;
}

/* A message of an earlier agreement on this communicator whose tag this one's aliases (the
 * tag holds 12 bits of the instance): not this agreement's, and no sign of a fault. */
static int stale(const agr_t *a, const uint8_t *msg) {
  agr_hdr_t h;
  memcpy(&h, msg, sizeof h);
  return h.magic == AGR_MAGIC && h.uid == a->c->uid && h.inst != a->inst;
}

static int names_me(const agr_t *a, const uint8_t *msg) {
  const uint8_t *bits = msg + sizeof(agr_hdr_t) + 4 + STRATA_COMM_ID_LIMIT / 8;
  return (bits[a->me >> 3] >> (a->me & 7)) & 1;
}

/* Merge msg's state into st; returns 1 when st changed. */
static int merge(const agr_t *a, const uint8_t *msg, ft_state_t *st) {
  const uint8_t *p = msg + sizeof(agr_hdr_t);
  int changed = 0;
  uint32_t fl;
  memcpy(&fl, p, 4);
  if ((st->flag & fl) != st->flag) { st->flag &= fl; changed = 1; }
  for (size_t i = 0; i < sizeof st->used; i++)
    if ((st->used[i] | p[4 + i]) != st->used[i]) { st->used[i] |= p[4 + i]; changed = 1; }
  const uint8_t *bits = p + 4 + sizeof st->used;
  for (int r = 0; r < a->P; r++)
    if (((bits[r >> 3] >> (r & 7)) & 1) && !st->failed[r] && r != a->me) { st->failed[r] = 1; changed = 1; }
  return changed;
}

/* Does msg carry the failed set st holds (this rank itself aside)? */
static int same_failed(const agr_t *a, const uint8_t *msg, const ft_state_t *st) {
  const uint8_t *bits = msg + sizeof(agr_hdr_t) + 4 + sizeof st->used;
  for (int r = 0; r < a->P; r++)
    if (r != a->me && (int)((bits[r >> 3] >> (r & 7)) & 1) != (st->failed[r] != 0)) return 0;
  return 1;
}

static void adopt(const agr_t *a, const uint8_t *msg, ft_state_t *st) {
  const uint8_t *p = msg + sizeof(agr_hdr_t);
  memcpy(&st->flag, p, 4);
  memcpy(st->used, p + 4, sizeof st->used);
  const uint8_t *bits = p + 4 + sizeof st->used;
  for (int r = 0; r < a->P; r++) st->failed[r] = (bits[r >> 3] >> (r & 7)) & 1;
}

static strata_transport_t *tp_of(const agr_t *a, int q) { return comm_tp(a->c, q); }

static int post(agr_t *a, int q, int kind, int round, void *buf, strata_treq_t *r, int send) {
  strata_transport_t *tp = tp_of(a, q);
  memset(r, 0, sizeof *r);
  uint64_t tag = strata_ft_tag(a->c->id, kind, (uint32_t)round, a->inst);
  int w = comm_world_rank(a->c, q);
  strata_result_t rc = send ? tp->ops->isend(tp, w, tag, buf, a->msz, r) : tp->ops->irecv(tp, w, tag, buf, a->msz, r);
  if (rc != STRATA_SUCCESS) r->state = -(int)rc;
  return rc == STRATA_SUCCESS;
}

static void progress(agr_t *a) {
  strata_context_t *x = a->c->ctx;
  int m = 0;
  for (int i = 0; i < x->ntp; i++) m += x->tp[i]->ops->progress(x->tp[i]);
  if (!m) {
    strata_ctx_gate_yield(x);
    sched_yield();
  }
}

/* q is failed: withdraw what waits on it, tell it when it may be alive (silent). */
static void drop_peer(agr_t *a, ft_state_t *st, int q, const char *why, int tell) {
  if (st->failed[q]) return;
  st->failed[q] = 1;
  strata_ft_suspect(a->c, q, why);
  strata_transport_t *tp = tp_of(a, q);
  if (a->rr_on[q] && a->rr[q].state == 0) tp->ops->cancel(tp, &a->rr[q], STRATA_ERR_PEER_FAILED);
  if (a->rr2_on[q] && a->rr2[q].state == 0) tp->ops->cancel(tp, &a->rr2[q], STRATA_ERR_PEER_FAILED);
  a->rr_on[q] = a->rr2_on[q] = 0;
  /* a FINAL already in stays to be taken: q decided, and its decision binds whatever was
   * found of q since (it may have died after deciding) */
  if (a->rf_on[q] && a->rf[q].state == 0) {
    tp->ops->cancel(tp, &a->rf[q], STRATA_ERR_PEER_FAILED);
    a->rf_on[q] = 0;
  } else if (a->rf_on[q] && a->rf[q].state < 0) {
    a->rf_on[q] = 0;
  }
  a->silent_drops += tell;
  if (tell) { /* a FINAL naming it: a stopped rank that wakes learns it was left out */
    pack(a, a->exclbuf, FT_FINAL, 0, st);
    post(a, q, FT_FINAL, 0, a->exclbuf, &a->tx_excl[q], 1);
  }
}

/* Did this rank already send a round state naming q failed? Then others may decide on it. */
static int announced_failed(const agr_t *a, int q) {
  if (a->nrounds == 0) return 0;
  const uint8_t *bits = a->txbuf[a->nrounds - 1] + sizeof(agr_hdr_t) + 4 + STRATA_COMM_ID_LIMIT / 8;
  return (bits[q >> 3] >> (q & 7)) & 1;
}

/* FINALs that arrived: returns 1 when one names this rank (excluded). Before deciding (ref
 * NULL), the first acceptable FINAL is adopted and nothing more is taken now; after (ref: the
 * decided state), each is compared with the decision. */
static int take_finals(agr_t *a, ft_state_t *st, int *decided, const ft_state_t *ref) {
  for (int q = 0; q < a->P; q++) {
    if (q == a->me || !a->rf_on[q] || a->got_final[q]) continue;
    int s = a->rf[q].state;
    if (s == 0) continue;
    a->rf_on[q] = 0;
    if (s < 0) { drop_peer(a, st, q, "its connection failed during an agreement", 0); continue; }
    const uint8_t *m = a->rxf + (size_t)q * a->msz;
    if (stale(a, m)) { /* an earlier agreement's: wait for this one's */
      a->rf_on[q] = (uint8_t)post(a, q, FT_FINAL, 0, a->rxf + (size_t)q * a->msz, &a->rf[q], 0);
      continue;
    }
    if (!msg_ok(a, m, FT_FINAL, 0)) { drop_peer(a, st, q, "it sent a malformed agreement message", 0); continue; }
    a->got_final[q] = 1;
    if (names_me(a, m)) { a->excluded = 1; return 1; }
    if (!*decided) {
      /* q decided; but once this rank told the others q failed, they may decide on that: then
       * q's decision is not this rank's to take (the others' FINALs settle it) */
      if (st->failed[q] && announced_failed(a, q)) continue;
      adopt(a, m, st);
      *decided = 1;
      return 0;
    } else if (ref && !same_failed(a, m, ref)) {
      SLOG_WARN("rank %d of %d (%s), comm %u: rank %d decided another failed set than this rank in an "
                "agreement (it found a failure later than its FINAL could carry)", a->me, a->P,
                a->c->ctx->hostname, a->c->id, q);
    }
  }
  return 0;
}

static void check_alive(agr_t *a, ft_state_t *st, const uint8_t *waiting) {
  for (int q = 0; q < a->P; q++) {
    if (q == a->me || st->failed[q] || !waiting[q]) continue;
    strata_transport_t *tp = tp_of(a, q);
    if (tp->ops->peer_alive(tp, comm_world_rank(a->c, q)) != STRATA_SUCCESS)
      drop_peer(a, st, q, "found dead during an agreement", 0);
  }
}

static void cleanup(agr_t *a) {
  if (!a->rr || !a->rf || !a->rr2 || !a->tf || !a->tx_excl || !a->rr_on || !a->rf_on || !a->rr2_on || !a->txr)
    goto mem;
  for (int q = 0; q < a->P; q++) {
    if (q == a->me) continue;
    strata_transport_t *tp = tp_of(a, q);
    if (a->rr_on[q] && a->rr[q].state == 0) tp->ops->cancel(tp, &a->rr[q], STRATA_ERR_REVOKED);
    if (a->rf_on[q] && a->rf[q].state == 0) tp->ops->cancel(tp, &a->rf[q], STRATA_ERR_REVOKED);
    if (a->rr2_on[q] && a->rr2[q].state == 0) tp->ops->cancel(tp, &a->rr2[q], STRATA_ERR_REVOKED);
  }
  /* sends: out at once when small; give the rest a bounded while, then withdraw them */
  uint64_t t0 = strata_now_ns();
  for (;;) {
    int pend = 0;
    for (int k = 0; k < a->nrounds; k++)
      for (int q = 0; q < a->P; q++) pend += a->txr[k][q].state == 0;
    for (int q = 0; q < a->P; q++) pend += a->tf[q].state == 0 || a->tx_excl[q].state == 0;
    if (!pend || strata_now_ns() - t0 > 20000000ull) break;
    progress(a);
  }
  for (int q = 0; q < a->P; q++) {
    if (q == a->me) continue;
    strata_transport_t *tp = tp_of(a, q);
    for (int k = 0; k < a->nrounds; k++)
      if (a->txr[k][q].state == 0) tp->ops->cancel(tp, &a->txr[k][q], STRATA_ERR_REVOKED);
    if (a->tf[q].state == 0) tp->ops->cancel(tp, &a->tf[q], STRATA_ERR_REVOKED);
    if (a->tx_excl[q].state == 0) tp->ops->cancel(tp, &a->tx_excl[q], STRATA_ERR_REVOKED);
  }
mem:
  for (int k = 0; a->txbuf && a->txr && k < a->nrounds; k++) { free(a->txbuf[k]); free(a->txr[k]); }
  free(a->txbuf); free(a->txr); free(a->rxr2); free(a->rr2); free(a->rr2_on);
  free(a->rxr); free(a->rxf); free(a->rr); free(a->rf); free(a->tf); free(a->tx_excl);
  free(a->rr_on); free(a->rf_on); free(a->got_final); free(a->finbuf); free(a->exclbuf);
}

strata_result_t strata_ft_agreement(struct strata_comm *c, ft_state_t *st) {
  strata_ft_t *f = c->ft;
  const int P = c->nranks, me = c->rank;
  if (!f || P < 1) return STRATA_ERR_INTERNAL;
  if (f->excluded) {
    SLOG_WARN("rank %d of %d (%s), comm %u: the survivors excluded this rank; it cannot take part", me, P,
              c->ctx->hostname, c->id);
    return STRATA_ERR_REVOKED;
  }
  for (int r = 0; r < P; r++) st->failed[r] = (st->failed[r] || f->suspect[r]) && r != me;
  if (P == 1) return STRATA_SUCCESS;
  agr_t a;
  memset(&a, 0, sizeof a);
  a.c = c; a.P = P; a.me = me; a.inst = f->instance++;
  a.psz = 4 + sizeof st->used + ((size_t)P + 7) / 8;
  a.msz = sizeof(agr_hdr_t) + a.psz;
  /* a member may need up to a second after its failed call before it can answer (UCX
   * withdrawing its sends): silence beyond the timeout and that is failure */
  a.limit = (uint64_t)strata_config()->timeout_ms * 1000000ull + FT_ENTER_SLACK_NS;
  a.rxr = malloc((size_t)P * a.msz); a.rxf = malloc((size_t)P * a.msz);
  a.rr = calloc((size_t)P, sizeof *a.rr); a.rf = calloc((size_t)P, sizeof *a.rf);
  a.tf = calloc((size_t)P, sizeof *a.tf); a.tx_excl = calloc((size_t)P, sizeof *a.tx_excl);
  a.rxr2 = malloc((size_t)P * a.msz); a.rr2 = calloc((size_t)P, sizeof *a.rr2); a.rr2_on = calloc((size_t)P, 1);
  a.rr_on = calloc((size_t)P, 1); a.rf_on = calloc((size_t)P, 1); a.got_final = calloc((size_t)P, 1);
  a.finbuf = malloc(a.msz); a.exclbuf = malloc(a.msz);
  a.txbuf = calloc(FT_MAX_ROUNDS, sizeof *a.txbuf); a.txr = calloc(FT_MAX_ROUNDS, sizeof *a.txr);
  uint8_t *waiting = calloc((size_t)P, 1);
  ft_state_t next = {.failed = calloc((size_t)P, 1)};
  strata_result_t rc = STRATA_SUCCESS;
  if (!a.rxr || !a.rxf || !a.rr || !a.rf || !a.tf || !a.tx_excl || !a.rr_on || !a.rf_on || !a.got_final ||
      !a.finbuf || !a.exclbuf || !a.rxr2 || !a.rr2 || !a.rr2_on || !a.txbuf || !a.txr || !waiting || !next.failed) {
    rc = STRATA_ERR_SYSTEM;
    goto out;
  }
  for (int q = 0; q < P; q++) a.tf[q].state = a.tx_excl[q].state = 1; /* nothing sent */
  for (int q = 0; q < P; q++)
    if (q != me && !st->failed[q]) a.rf_on[q] = (uint8_t)post(&a, q, FT_FINAL, 0, a.rxf + (size_t)q * a.msz, &a.rf[q], 0);
  int decided = 0;
  for (int round = 0; !decided; round++) {
    if (round >= FT_MAX_ROUNDS) {
      SLOG_WARN("rank %d of %d (%s), comm %u: the agreement did not settle in %d rounds", me, P, c->ctx->hostname,
                c->id, FT_MAX_ROUNDS);
      rc = STRATA_ERR_INTERNAL;
      goto out;
    }
    /* this round's state goes to every member not known failed */
    int fresh = 0, differ = 0;
    uint8_t *mine = malloc(a.msz);
    strata_treq_t *tx = calloc((size_t)P, sizeof *tx);
    if (!mine || !tx) { free(mine); free(tx); rc = STRATA_ERR_SYSTEM; goto out; }
    a.txbuf[a.nrounds] = mine; a.txr[a.nrounds] = tx; a.nrounds++;
    for (int q = 0; q < P; q++) tx[q].state = 1;
    pack(&a, mine, FT_ROUND, round, st);
    memset(waiting, 0, (size_t)(unsigned)P);
    for (int q = 0; q < P; q++)
      if (q != me && !st->failed[q]) {
        a.rr_on[q] = (uint8_t)post(&a, q, FT_ROUND, round, a.rxr + (size_t)q * a.msz, &a.rr[q], 0);
        if (!a.rr_on[q]) {
          drop_peer(&a, st, q, "a receive from it could not be posted", 0);
          a.silent_drops++; /* this rank's own transport: it may be the one cut off */
        }
        else waiting[q] = 1;
      }
    for (int q = 0; q < P; q++)
      if (waiting[q] && !post(&a, q, FT_ROUND, round, mine, &tx[q], 1)) {
        drop_peer(&a, st, q, "a message to it could not be sent", 0);
        a.silent_drops++;
        waiting[q] = 0;
        fresh = 1;
      }
    memcpy(next.failed, st->failed, (size_t)P);
    memcpy(next.used, st->used, sizeof st->used);
    next.flag = st->flag;
    uint64_t t0 = strata_now_ns(), checked = t0;
    for (;;) {
      int left = 0;
      /* FINALs first: a decision already made binds, whatever this round's states say */
      if (take_finals(&a, st, &decided, NULL) || decided) break;
      for (int q = 0; q < P; q++) {
        if (!waiting[q]) continue;
        if (st->failed[q] || !a.rr_on[q]) { waiting[q] = 0; if (st->failed[q]) fresh = 1; continue; }
        int s = a.rr[q].state;
        if (s == 0) { left++; continue; }
        waiting[q] = 0;
        a.rr_on[q] = 0;
        const uint8_t *m = a.rxr + (size_t)q * a.msz;
        if (s < 0) { drop_peer(&a, st, q, "its connection failed during an agreement", 0); fresh = 1; continue; }
        if (stale(&a, m)) { /* an earlier agreement's message: wait for this one's */
          a.rr_on[q] = (uint8_t)post(&a, q, FT_ROUND, round, a.rxr + (size_t)q * a.msz, &a.rr[q], 0);
          waiting[q] = a.rr_on[q];
          left += waiting[q];
          continue;
        }
        if (!msg_ok(&a, m, FT_ROUND, round)) { drop_peer(&a, st, q, "it sent a malformed agreement message", 0); fresh = 1; continue; }
        if (names_me(&a, m)) { a.excluded = 1; break; }
        if (memcmp(m + sizeof(agr_hdr_t), mine + sizeof(agr_hdr_t), a.psz)) differ = 1;
        merge(&a, m, &next);
        for (int z = 0; z < P; z++) /* a member another survivor found failed: no need to wait for it */
          if (waiting[z] && next.failed[z] && !st->failed[z]) {
            drop_peer(&a, st, z, "another survivor found it failed", 0);
            fresh = 1;
          }
      }
      if (a.excluded) break;
      if (take_finals(&a, st, &decided, NULL)) break;
      if (decided || !left) break;
      if (c->aborted || atomic_load(&c->abort_req) == STRATA_ERR_INVALID_USAGE) { rc = STRATA_ERR_INVALID_USAGE; goto out; }
      progress(&a);
      uint64_t now = strata_now_ns();
      if (now - checked > PEER_CHECK_NS) { checked = now; check_alive(&a, st, waiting); }
      if (now - t0 > a.limit)
        for (int q = 0; q < P; q++)
          if (waiting[q] && !st->failed[q] && !(a.rf_on[q] && a.rf[q].state != 0)) { /* a FINAL in: not silent */
            drop_peer(&a, st, q, "silent for STRATA_TIMEOUT_MS during an agreement", 1);
            fresh = 1;
          }
    }
    if (a.excluded) break;
    if (decided) break; /* adopted a FINAL */
    /* whatever failed since this round's state was sent (a post, a FINAL's receive, a dead pid) */
    if (!same_failed(&a, mine, st)) fresh = 1;
    for (int q = 0; q < P; q++) if (st->failed[q]) next.failed[q] = 1;
    if (!fresh && !differ) { decided = 1; break; }
    for (int q = 0; q < P; q++)
      if (next.failed[q] && !st->failed[q]) drop_peer(&a, st, q, "another survivor found it failed", 0);
    /* a FINAL that came in meanwhile binds before this rank names its sender failed to anyone */
    if (take_finals(&a, st, &decided, NULL)) break;
    if (decided) break;
    memcpy(st->used, next.used, sizeof st->used);
    st->flag = next.flag;
  }
  if (!a.excluded) {
    /* decided in round R: FINAL to every member of the decided set, then every one's FINAL.
     * A peer may be one round further (R + 1) and have sent it: receive that too, so that
     * nothing of this agreement is left unmatched once the peer's FINAL is in. */
    int R = a.nrounds - 1;
    pack(&a, a.finbuf, FT_FINAL, 0, st);
    for (int q = 0; q < P; q++) {
      if (q == me || st->failed[q]) continue;
      post(&a, q, FT_FINAL, 0, a.finbuf, &a.tf[q], 1);
      if (!a.rf_on[q] && !a.got_final[q]) /* its receive went with a failure it was then cleared of */
        a.rf_on[q] = (uint8_t)post(&a, q, FT_FINAL, 0, a.rxf + (size_t)q * a.msz, &a.rf[q], 0);
      if (R + 1 < FT_MAX_ROUNDS)
        a.rr2_on[q] = (uint8_t)post(&a, q, FT_ROUND, R + 1, a.rxr2 + (size_t)q * a.msz, &a.rr2[q], 0);
    }
    uint64_t t0 = strata_now_ns(), checked = t0;
    ft_state_t view = {.failed = next.failed}; /* the decided set stays; failures now only get noted */
    memcpy(view.failed, st->failed, (size_t)P);
    memcpy(view.used, st->used, sizeof st->used);
    for (;;) {
      int left = 0, dec2 = 1;
      if (take_finals(&a, &view, &dec2, st)) break;
      for (int q = 0; q < P; q++) {
        waiting[q] = q != me && !view.failed[q] && !a.got_final[q] && a.rf_on[q];
        left += waiting[q];
      }
      if (!left) break;
      if (c->aborted || atomic_load(&c->abort_req) == STRATA_ERR_INVALID_USAGE) { rc = STRATA_ERR_INVALID_USAGE; goto out; }
      progress(&a);
      uint64_t now = strata_now_ns();
      if (now - checked > PEER_CHECK_NS) { /* a member that dies now stays in the decided set */
        checked = now;
        check_alive(&a, &view, waiting);
      }
      if (now - t0 > a.limit) {
        for (int q = 0; q < P; q++)
          if (waiting[q]) drop_peer(&a, &view, q, "sent no FINAL within STRATA_TIMEOUT_MS", 0);
        break;
      }
    }
  }
  if (a.excluded) {
    f->excluded = 1;
    SLOG_WARN("rank %d of %d (world %d, %s), comm %u: the survivors found this rank failed (stopped or too slow) "
              "and went on without it", me, P, c->ctx->world_rank, c->ctx->hostname, c->id);
    rc = STRATA_ERR_REVOKED;
  }
  int alone = !a.excluded && rc == STRATA_SUCCESS;
  for (int q = 0; q < P && alone; q++) alone = q == me || st->failed[q];
  if (alone && a.silent_drops > 0) { /* cut off from every member: this rank is the one left out */
    SLOG_WARN("rank %d of %d (world %d, %s), comm %u: no other member answered within the timeout; this rank "
              "was cut off (stopped, partitioned) and does not go on alone", me, P, c->ctx->world_rank,
              c->ctx->hostname, c->id);
    f->excluded = 1;
    rc = STRATA_ERR_REVOKED;
  }
  for (int q = 0; q < P; q++)
    if (st->failed[q]) strata_ft_suspect(c, q, "the survivors agreed it failed");
out:
  cleanup(&a);
  free(waiting);
  free(next.failed);
  return rc;
}
