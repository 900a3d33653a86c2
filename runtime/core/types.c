/* Result strings, dtype sizes and names, version. */
#include "strata.h"

const char *strata_result_string(strata_result_t r) {
  switch (r) {
  case STRATA_SUCCESS: return "success";
  case STRATA_ERR_INVALID_ARGUMENT: return "invalid argument";
  case STRATA_ERR_INVALID_USAGE: return "invalid usage";
  case STRATA_ERR_SYSTEM: return "system error";
  case STRATA_ERR_TRANSPORT: return "transport error";
  case STRATA_ERR_TIMEOUT: return "timeout";
  case STRATA_ERR_PEER_FAILED: return "peer failed";
  case STRATA_ERR_UNSUPPORTED: return "unsupported";
  case STRATA_ERR_INTERNAL: return "internal error";
  case STRATA_IN_PROGRESS: return "in progress";
  case STRATA_ERR_REVOKED: return "communicator revoked";
  default: return "unknown result code";
  }
}

strata_result_t strata_get_version(int *version) {
  if (!version) return STRATA_ERR_INVALID_ARGUMENT;
  *version = STRATA_VERSION_CODE;
  return STRATA_SUCCESS;
}

size_t strata_dtype_size(strata_dtype_t d) {
  static const size_t sz[STRATA_NUM_DTYPES] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
  return (unsigned)d < STRATA_NUM_DTYPES ? sz[d] : 0;
}

const char *strata_dtype_name(strata_dtype_t d) {
  /* nccl-tests spellings */
  static const char *n[STRATA_NUM_DTYPES] = {"int8", "uint8", "int32", "uint32", "int64", "uint64",
                                             "half", "float", "double", "bfloat16", "f8e4m3", "f8e5m2"};
  return (unsigned)d < STRATA_NUM_DTYPES ? n[d] : "invalid";
}

const char *strata_op_name(strata_op_t op) {
  static const char *n[STRATA_NUM_OPS] = {"sum", "prod", "max", "min", "avg"};
  return (unsigned)op < STRATA_NUM_OPS ? n[op] : "invalid";
}
