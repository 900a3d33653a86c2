/* Strata communicators from an MPI communicator (jobs launched by mpirun). */
#ifndef STRATA_MPI_H
#define STRATA_MPI_H

#include <mpi.h>
#include "strata.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Collective over mpi_comm: every rank of it calls this. MPI is used only for the
 * bootstrap exchange; collectives then run over Strata's own transports. */
strata_result_t strata_comm_init_mpi(strata_comm_t *comm, MPI_Comm mpi_comm);

#ifdef __cplusplus
}
#endif
#endif /* STRATA_MPI_H */
