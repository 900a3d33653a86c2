/* In-process transport: P "ranks" in one process exchange messages through a hub. Used by
 * the plan tests to run every algorithm through the real engine without MPI. */
#ifndef STRATA_LOOPBACK_H
#define STRATA_LOOPBACK_H

#include "../transport.h"

typedef struct lb_hub lb_hub_t;
lb_hub_t *strata_lb_hub_create(int nranks);
void strata_lb_hub_destroy(lb_hub_t *h);
/* Rendezvous mode: a send completes only when a receive matches it (and its buffer is read
 * then), as large messages behave on real transports. Buffering hides deadlocks; this
 * does not. */
void strata_lb_hub_rendezvous(lb_hub_t *h, int on);
/* Messages still queued (unmatched) in the hub: a finished plan leaves none. */
int strata_lb_hub_pending(const lb_hub_t *h);
strata_transport_t *strata_lb_transport(lb_hub_t *h, int rank);

#endif
