/* Communicator ids: the context a message's tag names. An id is taken below
 * STRATA_COMM_ID_LIMIT at split time, the lowest one that no member of the parent uses for
 * a live communicator (an allreduce of the members' in-use maps), so two live
 * communicators that share a rank never share an id, whatever was created and destroyed
 * before. Destroying a communicator frees its id, except after a failure, when messages of
 * it may still be in flight: such an id stays taken for the life of the process. When all
 * are taken, split returns STRATA_ERR_UNSUPPORTED on every member. Id 0 is the world's. */
#ifndef STRATA_COMM_IDS_H
#define STRATA_COMM_IDS_H

#include <stdint.h>

#include "strata.h"

struct strata_comm;

/* Collective over parent: the id every member agrees on, in *id. */
strata_result_t strata_comm_id_agree(struct strata_comm *parent, uint32_t *id);
void strata_comm_id_take(struct strata_comm *parent, uint32_t id);
/* The communicator is going: its id is free again unless it failed. */
void strata_comm_id_release(struct strata_comm *comm);

#endif
