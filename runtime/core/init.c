/* Entry points that make a world communicator: from a unique id, from environment
 * variables (STRATA_ROOT or torchrun's MASTER_ADDR/PORT), or from an MPI communicator. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bootstrap/bootstrap.h"
#include "internal.h"
#include "log.h"

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
