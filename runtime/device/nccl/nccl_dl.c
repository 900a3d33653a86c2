/* NCCL through dlopen: STRATA_NCCL=1 lets a comm whose ranks share a host (each on its own
 * GPU) run device collectives through NCCL; the benchmarks time NCCL beside Strata (-N 1). */
#include "nccl_dl.h"

#include <dlfcn.h>
#include <pthread.h>

#include "../../core/coll.h"
#include "../../core/log.h"

static strata_nccl_api_t api;
static const strata_nccl_api_t *loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define SYM(field, name)                                          \
  do {                                                            \
    *(void **)&api.field = dlsym(h, name);                        \
    if (!api.field) {                                             \
      SLOG_INFO("NCCL: %s not found in libnccl.so.2", name);      \
      return;                                                     \
    }                                                             \
  } while (0)

static void load(void) {
  void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) h = dlopen("/usr/local/cuda/lib/libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    SLOG_INFO("NCCL: libnccl.so.2 not loadable (%s)", dlerror());
    return;
  }
  int (*get_version)(int *) = (int (*)(int *))dlsym(h, "ncclGetVersion");
  SYM(get_unique_id, "ncclGetUniqueId");
  SYM(comm_init_rank, "ncclCommInitRank");
  SYM(comm_destroy, "ncclCommDestroy");
  SYM(all_reduce, "ncclAllReduce");
  SYM(all_gather, "ncclAllGather");
  SYM(reduce_scatter, "ncclReduceScatter");
  SYM(broadcast, "ncclBroadcast");
  SYM(reduce, "ncclReduce");
  SYM(send, "ncclSend");
  SYM(recv, "ncclRecv");
  SYM(group_start, "ncclGroupStart");
  SYM(group_end, "ncclGroupEnd");
  SYM(error_string, "ncclGetErrorString");
  if (get_version) get_version(&api.version);
  SLOG_INFO("NCCL: loaded libnccl.so.2 (version code %d)", api.version);
  loaded = &api;
}

const strata_nccl_api_t *strata_nccl(void) {
  pthread_once(&once, load);
  return loaded;
}

int strata_nccl_coll(const strata_nccl_api_t *n, strata_nccl_comm_t c, int coll, const void *s, void *r, size_t count,
                     int dt, int op, int root, int rank, int nranks, size_t es, void *st) {
  (void)rank;
  switch (coll) {
  case STRATA_COLL_ALLREDUCE: return n->all_reduce(s, r, count, dt, op, c, st);
  case STRATA_COLL_ALLGATHER: return n->all_gather(s, r, count, dt, c, st);
  case STRATA_COLL_REDUCE_SCATTER: return n->reduce_scatter(s, r, count, dt, op, c, st);
  case STRATA_COLL_BROADCAST: return n->broadcast(s, r, count, dt, root, c, st);
  case STRATA_COLL_REDUCE: return n->reduce(s, r, count, dt, op, root, c, st);
  case STRATA_COLL_ALLTOALL: {
    int rc = n->group_start();
    for (int q = 0; q < nranks && !rc; q++) {
      rc = n->send((const char *)s + (size_t)q * count * es, count, dt, q, c, st);
      if (!rc) rc = n->recv((char *)r + (size_t)q * count * es, count, dt, q, c, st);
    }
    int rc2 = n->group_end();
    return rc ? rc : rc2;
  }
  default: return 1;
  }
}
