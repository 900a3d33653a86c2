#include "comm_ids.h"

#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "host_coll.h"
#include "internal.h"
#include "log.h"
#include "../ft/ft.h"

strata_result_t strata_comm_id_agree(struct strata_comm *parent, uint32_t *id) {
  strata_context_t *x = parent->ctx;
  uint8_t *used = malloc(STRATA_COMM_ID_LIMIT);
  if (!used) return STRATA_ERR_SYSTEM;
  memcpy(used, x->comm_id_used, STRATA_COMM_ID_LIMIT);
  /* MAX over 0/1 bytes: an id is taken if any member has it */
  strata_result_t rc = strata_host_coll(parent, STRATA_COLL_ALLREDUCE, used, used, STRATA_COMM_ID_LIMIT,
                                        STRATA_UINT8, STRATA_MAX, 0, STRATA_ALGO_AUTO, NULL);
  if (rc == STRATA_SUCCESS) {
    uint32_t k = 1;
    while (k < STRATA_FT_COMM_ID && used[k]) k++;
    if (k >= STRATA_FT_COMM_ID) {
      SLOG_WARN("strata_comm_split: rank %d of %d (%s): every one of the %u communicator ids is in use by a "
                "member (destroy communicators first)", parent->rank, parent->nranks, x->hostname,
                STRATA_FT_COMM_ID - 1);
      rc = STRATA_ERR_UNSUPPORTED;
    }
    *id = k;
  }
  free(used);
  return rc;
}

void strata_comm_id_take(struct strata_comm *parent, uint32_t id) {
  if (id < STRATA_COMM_ID_LIMIT) parent->ctx->comm_id_used[id] = 1;
}

void strata_comm_id_release(struct strata_comm *comm) {
  if (comm->id == 0 || comm->id >= STRATA_COMM_ID_LIMIT) return;
  if (comm->error != STRATA_SUCCESS || (comm->ft && comm->ft->nsuspect > 0)) { /* agreements may still be in flight */
    SLOG_INFO("communicator id %u stays taken: the communicator failed and its messages may be in flight",
              comm->id);
    return;
  }
  comm->ctx->comm_id_used[comm->id] = 0;
}
