/* Bootstrap over an MPI communicator (jobs launched by mpirun). */
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "../core/log.h"
#include "../core/clock.h"
#include "bootstrap.h"

typedef struct mpi_oob {
  strata_oob_t oob;
  MPI_Comm comm;
} mpi_oob_t;

/* Every MPI call here is nonblocking and waited on with a deadline (STRATA_TIMEOUT_MS), so
 * a rank that never joins ends the init with STRATA_ERR_TIMEOUT instead of a hang. A timed
 * out request cannot be cancelled (MPI forbids cancelling collectives): it is left to MPI,
 * and its buffer, owned by the bootstrap, is leaked rather than freed under it. */
static strata_result_t wait_bounded(MPI_Request *rq, const char *what) {
  const uint64_t dl = strata_now_ns() + (uint64_t)strata_config()->timeout_ms * 1000000ull;
  unsigned polls = 0;
  for (;;) {
    int flag = 0;
    if (MPI_Test(rq, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) return STRATA_ERR_TRANSPORT;
    if (flag) return STRATA_SUCCESS;
    if (++polls > 1000) sched_yield();
    if ((polls & 127) == 0 && strata_now_ns() > dl) {
      SLOG_WARN("bootstrap (MPI): %s timed out after %lld ms (STRATA_TIMEOUT_MS): a rank did not join",
                what, (long long)strata_config()->timeout_ms);
      return STRATA_ERR_TIMEOUT;
    }
  }
}

static strata_result_t mpi_allgather(strata_oob_t *o, void *buf, size_t sz) {
  mpi_oob_t *m = (mpi_oob_t *)o;
  if (sz > (size_t)0x7fffffff) return STRATA_ERR_INVALID_ARGUMENT;
  /* into a copy: after a timeout MPI may still write it */
  size_t total = sz * (size_t)o->nranks;
  char *tmp = malloc(total ? total : 1);
  if (!tmp) return STRATA_ERR_SYSTEM;
  memcpy(tmp, buf, total);
  MPI_Request rq;
  if (MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, tmp, (int)sz, MPI_BYTE, m->comm, &rq) != MPI_SUCCESS) {
    free(tmp);
    return STRATA_ERR_TRANSPORT;
  }
  strata_result_t rc = wait_bounded(&rq, "allgather");
  if (rc == STRATA_SUCCESS) {
    memcpy(buf, tmp, total);
    free(tmp);
  }
  return rc;
}
static strata_result_t mpi_barrier(strata_oob_t *o) {
  MPI_Request rq;
  if (MPI_Ibarrier(((mpi_oob_t *)o)->comm, &rq) != MPI_SUCCESS) return STRATA_ERR_TRANSPORT;
  return wait_bounded(&rq, "barrier");
}
static void mpi_destroy(strata_oob_t *o) {
  mpi_oob_t *m = (mpi_oob_t *)o;
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Comm_free(&m->comm);
  free(m);
}

strata_result_t strata_bootstrap_mpi(MPI_Comm comm, strata_oob_t **out, uint64_t *job_key);
strata_result_t strata_bootstrap_mpi(MPI_Comm comm, strata_oob_t **out, uint64_t *job_key) {
  int init = 0;
  MPI_Initialized(&init);
  if (!init) {
    SLOG_WARN("strata_comm_init_mpi: MPI is not initialised (call MPI_Init first)");
    return STRATA_ERR_INVALID_USAGE;
  }
  mpi_oob_t *m = calloc(1, sizeof *m);
  if (!m) return STRATA_ERR_SYSTEM;
  MPI_Request drq;
  if (MPI_Comm_idup(comm, &m->comm, &drq) != MPI_SUCCESS) {
    free(m);
    return STRATA_ERR_TRANSPORT;
  }
  strata_result_t drc = wait_bounded(&drq, "communicator duplication");
  if (drc != STRATA_SUCCESS) return drc; /* m stays MPI's: idup may still write it */
  MPI_Comm_rank(m->comm, &m->oob.rank);
  MPI_Comm_size(m->comm, &m->oob.nranks);
  m->oob.allgather = mpi_allgather;
  m->oob.barrier = mpi_barrier;
  m->oob.destroy = mpi_destroy;
  uint64_t key = 0;
  if (m->oob.rank == 0) {
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&key, sizeof key, 1, f) != 1) key = (uint64_t)(uintptr_t)m ^ 0x9e3779b97f4a7c15ull;
    if (f) fclose(f);
  }
  uint64_t *kb = malloc(sizeof *kb);
  MPI_Request rq;
  strata_result_t rc = kb ? STRATA_SUCCESS : STRATA_ERR_SYSTEM;
  if (kb) {
    *kb = key;
    rc = MPI_Ibcast(kb, 1, MPI_UINT64_T, 0, m->comm, &rq) == MPI_SUCCESS ? wait_bounded(&rq, "broadcast")
                                                                          : STRATA_ERR_TRANSPORT;
  }
  if (rc != STRATA_SUCCESS) {
    m->oob.destroy = NULL;
    free(m); /* the duplicate communicator stays MPI's: freeing it could block */
    return rc;
  }
  key = *kb;
  free(kb);
  *job_key = key;
  *out = &m->oob;
  return STRATA_SUCCESS;
}
