/* NCCL, loaded at run time (dlopen "libnccl.so.2"; no link-time dependency). Strata's dtype
 * and op numbering is NCCL's, so arguments pass through as casts. */
#ifndef STRATA_NCCL_DL_H
#define STRATA_NCCL_DL_H

#include <stddef.h>

typedef struct ncclComm *strata_nccl_comm_t;
typedef struct { char internal[128]; } strata_nccl_id_t;

typedef struct strata_nccl_api {
  int version;
  int (*get_unique_id)(strata_nccl_id_t *id);
  int (*comm_init_rank)(strata_nccl_comm_t *c, int nranks, strata_nccl_id_t id, int rank);
  int (*comm_destroy)(strata_nccl_comm_t c);
  int (*all_reduce)(const void *s, void *r, size_t n, int dt, int op, strata_nccl_comm_t c, void *stream);
  int (*all_gather)(const void *s, void *r, size_t n, int dt, strata_nccl_comm_t c, void *stream);
  int (*reduce_scatter)(const void *s, void *r, size_t n, int dt, int op, strata_nccl_comm_t c, void *stream);
  int (*broadcast)(const void *s, void *r, size_t n, int dt, int root, strata_nccl_comm_t c, void *stream);
  int (*reduce)(const void *s, void *r, size_t n, int dt, int op, int root, strata_nccl_comm_t c, void *stream);
  int (*send)(const void *s, size_t n, int dt, int peer, strata_nccl_comm_t c, void *stream);
  int (*recv)(void *r, size_t n, int dt, int peer, strata_nccl_comm_t c, void *stream);
  int (*group_start)(void);
  int (*group_end)(void);
  const char *(*error_string)(int rc);
} strata_nccl_api_t;

/* The loaded API, or NULL (with one log line saying why) when libnccl.so.2 is absent. */
const strata_nccl_api_t *strata_nccl(void);
/* One collective through NCCL (coll: strata_coll_t; alltoall as grouped send/recv). */
int strata_nccl_coll(const strata_nccl_api_t *n, strata_nccl_comm_t c, int coll, const void *s, void *r, size_t count,
                     int dt, int op, int root, int rank, int nranks, size_t esize, void *stream);

#endif
