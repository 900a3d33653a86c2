/* Grow: the members of a communicator and nnew new processes make a new one through a
 * fresh bootstrap (the unique id one member made and shared): members keep their ranks,
 * joiner i becomes rank size + i. The new communicator has a context of its own (its
 * transports connect the new processes); the old one stays usable until destroyed. */
#include <string.h>

#include "../bootstrap/bootstrap.h"
#include "../core/clock.h"
#include "../core/internal.h"
#include "../core/log.h"
#include "ft.h"

static strata_result_t uid_of(strata_unique_id_t id, strata_uid_t *u, const char *fn) {
  memcpy(u, id.internal, sizeof *u);
  if (u->magic == STRATA_UID_MAGIC) return STRATA_SUCCESS;
  SLOG_WARN("%s: the unique id was not made by strata_get_unique_id", fn);
  return STRATA_ERR_INVALID_ARGUMENT;
}

strata_result_t strata_comm_grow(strata_comm_t comm, int nnew, strata_unique_id_t id, strata_comm_t *newcomm) {
  if (!comm || !newcomm) {
    SLOG_WARN("strata_comm_grow: %s is NULL", comm ? "newcomm" : "comm");
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  *newcomm = NULL;
  if (nnew < 0 || nnew > (1 << 24) - comm->nranks) {
    SLOG_WARN("strata_comm_grow: nnew %d is out of range", nnew);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  strata_uid_t u;
  strata_result_t rc = uid_of(id, &u, "strata_comm_grow");
  if (rc) return rc;
  strata_comm_enter(comm);
  rc = strata_ft_poll(comm);
  strata_comm_leave(comm);
  if (rc != STRATA_SUCCESS) {
    SLOG_WARN("strata_comm_grow: rank %d of %d (%s): the communicator has failed (%s); shrink it first", comm->rank,
              comm->nranks, comm->ctx->hostname, strata_result_string(rc));
    return rc;
  }
  uint64_t t0 = strata_now_ns();
  strata_oob_t *oob = NULL;
  uint64_t key = 0;
  rc = strata_bootstrap_tcp_join_ex(&u, comm->rank, comm->nranks + nnew, nnew, -1, &oob, &key);
  if (rc == STRATA_SUCCESS) rc = strata_comm_create_world(oob, key, newcomm);
  if (rc == STRATA_SUCCESS)
    SLOG_INFO("strata_comm_grow: rank %d of %d -> rank %d of %d, %.1f ms", comm->rank, comm->nranks, comm->rank,
              comm->nranks + nnew, (double)(strata_now_ns() - t0) * 1e-6);
  return rc;
}

strata_result_t strata_comm_join(strata_unique_id_t id, int index, strata_comm_t *newcomm) {
  strata_config();
  if (!newcomm) { SLOG_WARN("strata_comm_join: newcomm is NULL"); return STRATA_ERR_INVALID_ARGUMENT; }
  *newcomm = NULL;
  if (index < 0) {
    SLOG_WARN("strata_comm_join: index %d is negative", index);
    return STRATA_ERR_INVALID_ARGUMENT;
  }
  strata_uid_t u;
  strata_result_t rc = uid_of(id, &u, "strata_comm_join");
  if (rc) return rc;
  strata_oob_t *oob = NULL;
  uint64_t key = 0;
  rc = strata_bootstrap_tcp_join_ex(&u, -1, 0, 0, index, &oob, &key);
  if (rc != STRATA_SUCCESS) return rc;
  int rank = oob->rank, size = oob->nranks;
  rc = strata_comm_create_world(oob, key, newcomm);
  if (rc == STRATA_SUCCESS) SLOG_INFO("strata_comm_join: joiner %d is rank %d of %d", index, rank, size);
  return rc;
}
