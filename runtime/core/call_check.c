/* STRATA_CHECK=1: before each collective, its members check that they all called the same
 * collective with the same count, datatype, op and root, and that none of them rejected its
 * own arguments (a NULL buffer, a bad root, overlapping buffers): one small allreduce (the MAX of
 * each field and of its negation, so a field differs exactly when max != -max(-x)). On a
 * mismatch an allgather of the fields names the rank and the field; every rank returns
 * STRATA_ERR_INVALID_USAGE and the collective itself never starts, so nothing can hang or
 * overrun a buffer. The communicator stays usable. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_check.h"
#include "host_coll.h"
#include "log.h"

enum { F_COLL, F_COUNT, F_DTYPE, F_OP, F_ROOT, F_ARGS, NF };
static const char *const field_name[NF] = {"collective", "count", "datatype", "op", "root",
                                           "validity of the arguments"};

static void show(char *out, size_t n, int field, int64_t v) {
  switch (field) {
  case F_COLL: snprintf(out, n, "%s", strata_coll_fn_name((strata_coll_t)v)); break;
  case F_DTYPE: snprintf(out, n, "%s", strata_dtype_name((strata_dtype_t)v)); break;
  case F_OP: snprintf(out, n, "%s", strata_op_name((strata_op_t)v)); break;
  case F_ARGS: snprintf(out, n, "%s", v ? "arguments it rejects (see its log)" : "valid arguments"); break;
  default: snprintf(out, n, "%" PRId64, v); break;
  }
}

strata_result_t strata_call_check(strata_comm_t comm, strata_coll_t coll, size_t count, strata_dtype_t dtype,
                                  strata_op_t op, int root, int invalid) {
  if (comm->nranks < 2) return STRATA_SUCCESS;
  const int64_t f[NF] = {(int64_t)coll, (int64_t)count, (int64_t)dtype, (int64_t)op, (int64_t)root,
                         (int64_t)(invalid != 0)};
  int64_t v[2 * NF];
  for (int i = 0; i < NF; i++) {
    v[i] = f[i];
    v[NF + i] = -f[i];
  }
  /* the cost model's choice (agreed by every rank at init), so the check costs what a small
   * allreduce costs; a per-rank STRATA_ALGO that differs breaks every collective alike */
  strata_result_t rc = strata_host_coll(comm, STRATA_COLL_ALLREDUCE, v, v, 2 * NF, STRATA_INT64, STRATA_MAX, 0,
                                        STRATA_ALGO_AUTO, NULL);
  if (rc != STRATA_SUCCESS) return rc;
  int bad = -1;
  for (int i = 0; i < NF && bad < 0; i++)
    if (v[i] != -v[NF + i]) bad = i;
  if (bad < 0) return STRATA_SUCCESS;
  const int P = comm->nranks;
  int64_t *all = calloc((size_t)P * NF, sizeof *all);
  if (!all) return STRATA_ERR_SYSTEM;
  memcpy(all + (size_t)comm->rank * NF, f, sizeof f);
  rc = strata_host_coll(comm, STRATA_COLL_ALLGATHER, all + (size_t)comm->rank * NF, all, NF, STRATA_INT64,
                        STRATA_SUM, 0, STRATA_ALGO_AUTO, NULL);
  if (rc == STRATA_SUCCESS) {
    int r = 1;
    while (r < P && all[(size_t)r * NF + bad] == all[bad]) r++;
    char a[48], b[48];
    show(a, sizeof a, bad, all[(size_t)(r < P ? r : 0) * NF + bad]);
    show(b, sizeof b, bad, all[bad]);
    SLOG_WARN("STRATA_CHECK: %s on rank %d of %d (%s), comm %u: the ranks disagree on the %s: rank %d has %s, "
              "rank 0 has %s; nothing was run", strata_coll_fn_name(coll), comm->rank, P, comm->ctx->hostname,
              comm->id, field_name[bad], r < P ? r : 0, a, b);
  }
  free(all);
  return rc == STRATA_SUCCESS ? STRATA_ERR_INVALID_USAGE : rc;
}
