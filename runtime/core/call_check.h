/* STRATA_CHECK=1: do all members call the same collective the same way? */
#ifndef STRATA_CALL_CHECK_H
#define STRATA_CALL_CHECK_H

#include "comm.h"

/* STRATA_SUCCESS when every member passed the same coll, count, dtype, op, root and no
 * member found its own arguments invalid (invalid != 0 here: this one did);
 * STRATA_ERR_INVALID_USAGE on every member (with a line naming rank and field) otherwise. */
strata_result_t strata_call_check(strata_comm_t comm, strata_coll_t coll, size_t count, strata_dtype_t dtype,
                                  strata_op_t op, int root, int invalid);

#endif
