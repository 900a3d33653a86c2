/* Fault tolerance: what a communicator knows of its failures, the notices that spread a
 * failure or a revoke to every member, and the fault-tolerant agreement behind
 * strata_comm_agree and strata_comm_shrink. Everything here talks to the transports
 * directly, with tags of its own (STRATA_FT_COMM_ID), never through plans: it must work on
 * a communicator whose collectives can no longer run. */
#ifndef STRATA_FT_H
#define STRATA_FT_H

#include <stdint.h>

#include "../core/comm.h"

/* FT tag: [STRATA_FT_COMM_ID][instance high bits: seq][communicator id:12 | kind:2 | round:6 |
 * instance low bits:6]. Instances count the agreements run on one communicator. */
enum { FT_NOTICE = 0, FT_ROUND = 1, FT_FINAL = 2 };
#define FT_MAX_ROUNDS 63
static inline uint64_t strata_ft_tag(uint32_t comm_id, int kind, uint32_t round, uint32_t inst) {
  uint32_t step = (comm_id & 0xfffu) << 14 | (uint32_t)kind << 12 | (round & 63u) << 6 | (inst & 63u);
  return strata_make_tag(STRATA_FT_COMM_ID, (inst >> 6) & 63u, step);
}

#define FT_NOTICE_SUSPECTS 10
typedef struct ft_notice {
  uint32_t magic;
  int32_t err;                  /* what the communicator failed with at its origin */
  uint64_t uid;                 /* the communicator's (a stale notice for a reused id is ignored) */
  int32_t origin;               /* comm rank that first failed or revoked */
  int32_t nsus;                 /* suspected comm ranks that follow */
  int32_t sus[FT_NOTICE_SUSPECTS];
} ft_notice_t;

typedef struct strata_ft {
  int nnb;                      /* neighbours: comm ranks r +- 2^k (a binomial graph) */
  int *nb;
  strata_treq_t *rx, *tx;       /* per neighbour: the posted notice receive, the notice send */
  ft_notice_t *rxbuf, out;
  int sent;                     /* notices have gone out (once) */
  uint8_t *suspect;             /* per comm rank: known dead, silent, excluded */
  int nsuspect;
  int excluded;                 /* the survivors excluded this rank */
  uint32_t instance;            /* agreements run on this communicator */
} strata_ft_t;

/* Post the notice receives of a new communicator (nranks > 1). */
strata_result_t strata_ft_attach(struct strata_comm *c);
/* Withdraw them (destroy). */
void strata_ft_detach(struct strata_comm *c);
/* Look at notices that arrived and at a strata_comm_abort from another thread; fails the
 * communicator when one did. Returns c->error. Cheap: a few loads when nothing arrived. */
strata_result_t strata_ft_poll(struct strata_comm *c);
/* Record that comm rank r failed (dead, silent, excluded); logs it once. why: how it was found. */
void strata_ft_suspect(struct strata_comm *c, int r, const char *why);
/* The communicator just failed with err: tell the neighbours (once), who tell theirs. */
void strata_ft_spread(struct strata_comm *c, strata_result_t err);
/* Progress the transports up to ns nanoseconds or until the notice sends are out. */
void strata_ft_flush_notices(struct strata_comm *c, uint64_t ns);

/* The agreed state: failed set (per comm rank), communicator ids in use at any survivor,
 * and the AND of the flags. */
typedef struct ft_state {
  uint8_t *failed;              /* nranks bytes, 0/1 */
  uint8_t used[STRATA_COMM_ID_LIMIT / 8];
  uint32_t flag;
} ft_state_t;
/* Fault-tolerant agreement over the members of c not in st->failed (this rank's suspects
 * are added first). On success every survivor holds the same state; ranks found dead or
 * silent meanwhile are in st->failed and the communicator's suspects. */
strata_result_t strata_ft_agreement(struct strata_comm *c, ft_state_t *st);

#endif
