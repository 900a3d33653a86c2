/* Bootstrap over an MPI communicator (jobs launched by mpirun). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/log.h"
#include "bootstrap.h"

typedef struct mpi_oob {
  strata_oob_t oob;
  MPI_Comm comm;
} mpi_oob_t;

static strata_result_t mpi_allgather(strata_oob_t *o, void *buf, size_t sz) {
  mpi_oob_t *m = (mpi_oob_t *)o;
  if (sz > (size_t)0x7fffffff) return STRATA_ERR_INVALID_ARGUMENT;
  int e = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, (int)sz, MPI_BYTE, m->comm);
  return e == MPI_SUCCESS ? STRATA_SUCCESS : STRATA_ERR_TRANSPORT;
}
static strata_result_t mpi_barrier(strata_oob_t *o) {
  return MPI_Barrier(((mpi_oob_t *)o)->comm) == MPI_SUCCESS ? STRATA_SUCCESS : STRATA_ERR_TRANSPORT;
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
  if (MPI_Comm_dup(comm, &m->comm) != MPI_SUCCESS) {
    free(m);
    return STRATA_ERR_TRANSPORT;
  }
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
  MPI_Bcast(&key, 1, MPI_UINT64_T, 0, m->comm);
  *job_key = key;
  *out = &m->oob;
  return STRATA_SUCCESS;
}
