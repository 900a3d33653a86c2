/* Collectives over device buffers. Two paths, both over the device ops table:
 *  - direct (all ranks of the comm on one host, up to 8): peers' buffers mapped with IPC
 *    handles (exchanged by a host allgather over shared memory, cached), every rank runs one
 *    kernel over its slice that reads all peers' inputs and writes all peers' outputs.
 *    Ordering is stream-to-stream: each rank records an interprocess event before and after
 *    its kernel and waits on its peers' events, so the call never waits for the GPU.
 *  - staged (across hosts, or when IPC is unavailable): the call is cut into chunks that go
 *    device -> pinned host slot -> host collective (the normal engine, any algorithm, over
 *    shm and UCX) -> device, with several chunks in flight so the copies both ways and the
 *    network overlap. Block collectives move each chunk with one 2-D copy.
 * STRATA_DEV_PATH=ipc|staged forces a path (ipc falls back to staged where it cannot run). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/host_coll.h"
#include "../core/log.h"
#include "../core/clock.h"
#include "../engine/engine.h"
#include "../ft/ft.h"
#include "nccl/nccl_dl.h"
#include "dev_coll.h"
#include "device.h"

#define NSLOT 4
#define MAX_MAPS 512

typedef struct {
  int rank;
  unsigned char h[STRATA_DEV_HANDLE_BYTES];
  void *base;
} ipc_map_t;

struct strata_dev_comm {
  const strata_dev_ops_t *ops;
  void *stream;                 /* staging copies */
  void *ev_start, *ev_end;      /* caller's stream -> staging stream -> caller's stream */
  void *ev_sync;                /* a plain call's wait for its stream, bounded */
  void *ev_slot[NSLOT][2];      /* in-copy done, out-copy done */
  char *stage;                  /* NSLOT x (in, out) x chunk, pinned */
  size_t stage_chunk;
  int ipc;                      /* 0 not tried, 1 ready, -1 unavailable */
  void *ev_pre, *ev_post;       /* mine, interprocess */
  void **peer_pre, **peer_post; /* peers', opened */
  int npeers;
  ipc_map_t *maps;
  int nmaps;
  unsigned long n_ipc, n_staged, n_nccl;
  int nccl;                     /* 0 not tried, 1 ready, -1 unavailable */
  strata_nccl_comm_t ncomm;
};

static strata_result_t dev_err(const strata_dev_ops_t *o, int rc, const char *what) {
  SLOG_WARN("device: %s failed: %s", what, o->error_string(rc));
  return STRATA_ERR_SYSTEM;
}

static struct strata_dev_comm *dev_comm(strata_comm_t comm) {
  if (comm->dev) return comm->dev;
  const strata_dev_ops_t *o = strata_dev();
  if (!o) return NULL;
  struct strata_dev_comm *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->ops = o;
  int rc = o->stream_create(&d->stream);
  if (!rc) rc = o->event_create(&d->ev_start, 0);
  if (!rc) rc = o->event_create(&d->ev_end, 0);
  if (!rc) rc = o->event_create(&d->ev_sync, 0);
  for (int i = 0; i < NSLOT && !rc; i++) {
    rc = o->event_create(&d->ev_slot[i][0], 0);
    if (!rc) rc = o->event_create(&d->ev_slot[i][1], 0);
  }
  if (rc) {
    dev_err(o, rc, "creating the staging stream and events");
    strata_dev_comm_free(d);
    return NULL;
  }
  comm->dev = d;
  return d;
}

void strata_dev_comm_free(struct strata_dev_comm *d) {
  if (!d) return;
  const strata_dev_ops_t *o = d->ops;
  if (d->stream) o->stream_sync(d->stream);
  if (d->ncomm) strata_nccl()->comm_destroy(d->ncomm);
  for (int i = 0; i < d->nmaps; i++) o->mem_ipc_close(d->maps[i].base);
  free(d->maps);
  for (int q = 0; q < d->npeers; q++) {
    if (d->peer_pre && d->peer_pre[q]) o->event_destroy(d->peer_pre[q]);
    if (d->peer_post && d->peer_post[q]) o->event_destroy(d->peer_post[q]);
  }
  free(d->peer_pre);
  free(d->peer_post);
  void *evs[] = {d->ev_pre, d->ev_post, d->ev_start, d->ev_end, d->ev_sync};
  for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
    if (evs[i]) o->event_destroy(evs[i]);
  for (int i = 0; i < NSLOT; i++)
    for (int k = 0; k < 2; k++)
      if (d->ev_slot[i][k]) o->event_destroy(d->ev_slot[i][k]);
  if (d->stage) o->host_free(d->stage);
  if (d->stream) o->stream_destroy(d->stream);
  free(d);
}

void strata_dev_comm_counts(strata_comm_t comm, unsigned long *ipc, unsigned long *staged, unsigned long *nccl) {
  struct strata_dev_comm *d = comm ? comm->dev : NULL;
  if (ipc) *ipc = d ? d->n_ipc : 0;
  if (staged) *staged = d ? d->n_staged : 0;
  if (nccl) *nccl = d ? d->n_nccl : 0;
}

/* host collectives on small host buffers, used for the device paths' own coordination */
static strata_result_t host_allgather(strata_comm_t c, const void *mine, void *all, size_t bytes) {
  return strata_host_coll(c, STRATA_COLL_ALLGATHER, mine, all, bytes, STRATA_UINT8, STRATA_SUM, 0, STRATA_ALGO_AUTO, NULL);
}
static strata_result_t host_all_ok(strata_comm_t c, int ok, int *all) {
  int32_t x = ok ? 1 : 0, y = 0;
  strata_result_t rc = strata_host_coll(c, STRATA_COLL_ALLREDUCE, &x, &y, 1, STRATA_INT32, STRATA_MIN, 0,
                                        STRATA_ALGO_AUTO, NULL);
  *all = rc == STRATA_SUCCESS && y == 1;
  return rc;
}

/* ---------------- direct path: IPC-mapped peers, one kernel per rank ---------------- */

typedef struct {
  unsigned char pre[STRATA_DEV_HANDLE_BYTES], post[STRATA_DEV_HANDLE_BYTES];
  int32_t ok, pad;
} ev_desc_t;

static strata_result_t ipc_setup(strata_comm_t comm, struct strata_dev_comm *d) {
  const strata_dev_ops_t *o = d->ops;
  const int P = comm->nranks, me = comm->rank;
  ev_desc_t mine, *all = calloc((size_t)P, sizeof *all);
  if (!all) return STRATA_ERR_SYSTEM;
  memset(&mine, 0, sizeof mine);
  int rc = o->event_create(&d->ev_pre, 1);
  if (!rc) rc = o->event_create(&d->ev_post, 1);
  if (!rc) rc = o->event_ipc_get(d->ev_pre, mine.pre);
  if (!rc) rc = o->event_ipc_get(d->ev_post, mine.post);
  if (rc) SLOG_INFO("device: interprocess events unavailable (%s): staged path", o->error_string(rc));
  mine.ok = rc == 0;
  strata_result_t r = host_allgather(comm, &mine, all, sizeof mine);
  int ok = r == STRATA_SUCCESS;
  for (int q = 0; q < P && ok; q++) ok = all[q].ok;
  d->peer_pre = calloc((size_t)P, sizeof(void *));
  d->peer_post = calloc((size_t)P, sizeof(void *));
  d->npeers = P;
  if (!d->peer_pre || !d->peer_post) ok = 0;
  for (int q = 0; q < P && ok; q++) {
    if (q == me) continue;
    rc = o->event_ipc_open(all[q].pre, &d->peer_pre[q]);
    if (!rc) rc = o->event_ipc_open(all[q].post, &d->peer_post[q]);
    if (rc) {
      SLOG_INFO("device: opening rank %d's events failed (%s): staged path", q, o->error_string(rc));
      ok = 0;
    }
  }
  free(all);
  if (r == STRATA_SUCCESS) r = host_all_ok(comm, ok, &ok);
  if (r != STRATA_SUCCESS) return r;
  d->ipc = ok ? 1 : -1;
  SLOG_INFO("device: comm %u (%d ranks on one host): %s", comm->id, P,
            ok ? "direct path ready (peers' buffers mapped with IPC handles, reduced by kernels)"
               : "direct path unavailable; device buffers go through host staging");
  return STRATA_SUCCESS;
}

/* a peer's buffer, mapped once per allocation */
static void *ipc_map(struct strata_dev_comm *d, int rank, const unsigned char *h, uint64_t off) {
  for (int i = 0; i < d->nmaps; i++)
    if (d->maps[i].rank == rank && !memcmp(d->maps[i].h, h, STRATA_DEV_HANDLE_BYTES))
      return (char *)d->maps[i].base + off;
  const strata_dev_ops_t *o = d->ops;
  if (d->nmaps >= MAX_MAPS) return NULL; /* ipc_run flushes before it maps */
  if (!d->maps && !(d->maps = calloc(MAX_MAPS, sizeof *d->maps))) return NULL;
  void *base = NULL;
  int rc = o->mem_ipc_open(h, &base);
  if (rc) {
    SLOG_INFO("device: mapping rank %d's buffer failed (%s)", rank, o->error_string(rc));
    return NULL;
  }
  ipc_map_t *m = &d->maps[d->nmaps++];
  m->rank = rank;
  memcpy(m->h, h, STRATA_DEV_HANDLE_BYTES);
  m->base = base;
  return (char *)base + off;
}

typedef struct {
  unsigned char sh[STRATA_DEV_HANDLE_BYTES], rh[STRATA_DEV_HANDLE_BYTES];
  uint64_t soff, roff;
  int32_t ok, has_s, has_r, pad;
} buf_desc_t;

static size_t part_off(size_t n, int P, int q) { return (size_t)((unsigned __int128)n * (unsigned)q / (unsigned)P); }

/* Returns STRATA_ERR_UNSUPPORTED (every rank alike) when the direct path cannot run this call. */
static strata_result_t ipc_run(strata_comm_t comm, struct strata_dev_comm *d, strata_coll_t coll, const void *sbuf,
                               void *rbuf, size_t n, strata_dtype_t dtype, strata_op_t op, int root, int inplace,
                               void *stream) {
  const strata_dev_ops_t *o = d->ops;
  const int P = comm->nranks, me = comm->rank;
  const size_t es = strata_dtype_size(dtype);
  buf_desc_t mine;
  memset(&mine, 0, sizeof mine);
  mine.has_s = coll != STRATA_COLL_BROADCAST || me == root;
  mine.has_r = coll != STRATA_COLL_REDUCE || me == root;
  mine.ok = 1;
  if (mine.has_s) mine.ok &= o->is_device_ptr(sbuf, NULL) == 1 && !o->mem_ipc_get(sbuf, mine.sh, &mine.soff);
  if (mine.has_r) mine.ok &= o->is_device_ptr(rbuf, NULL) == 1 && !o->mem_ipc_get(rbuf, mine.rh, &mine.roff);
  buf_desc_t *all = calloc((size_t)P, sizeof *all);
  if (!all) return STRATA_ERR_SYSTEM;
  int rc = o->event_record(d->ev_pre, stream);
  if (rc) mine.ok = 0;
  strata_result_t r = host_allgather(comm, &mine, all, sizeof mine);
  if (r != STRATA_SUCCESS) { free(all); return r; }
  int ok = 1;
  for (int q = 0; q < P; q++) ok &= all[q].ok;
  if (!ok) { free(all); return STRATA_ERR_UNSUPPORTED; }
  if (d->nmaps + 2 * P > MAX_MAPS) { /* many distinct buffers: drop every mapping, after the GPU is done with them */
    o->stream_sync(stream);
    o->stream_sync(NULL);
    for (int i = 0; i < d->nmaps; i++) o->mem_ipc_close(d->maps[i].base);
    d->nmaps = 0;
  }
  /* which peers' buffers this rank's kernel touches */
  const void *S[STRATA_DEV_MAX_SRC] = {0};
  void *R[STRATA_DEV_MAX_DST] = {0};
  int need_s_all = coll == STRATA_COLL_ALLREDUCE || coll == STRATA_COLL_REDUCE_SCATTER || coll == STRATA_COLL_REDUCE;
  int need_r_all = coll == STRATA_COLL_ALLREDUCE || coll == STRATA_COLL_ALLGATHER || coll == STRATA_COLL_BROADCAST ||
                   coll == STRATA_COLL_ALLTOALL;
  int lok = 1;
  for (int q = 0; q < P && lok; q++) {
    int ns = need_s_all || (coll == STRATA_COLL_BROADCAST && q == root) || q == me;
    int nr = need_r_all || (coll == STRATA_COLL_REDUCE && q == root) || q == me;
    if (ns && all[q].has_s) S[q] = q == me ? sbuf : ipc_map(d, q, all[q].sh, all[q].soff);
    if (nr && all[q].has_r) R[q] = q == me ? rbuf : ipc_map(d, q, all[q].rh, all[q].roff);
    if ((ns && all[q].has_s && !S[q]) || (nr && all[q].has_r && !R[q])) lok = 0;
  }
  free(all);
  r = host_all_ok(comm, lok, &ok);
  if (r != STRATA_SUCCESS) return r;
  if (!ok) return STRATA_ERR_UNSUPPORTED;
  for (int q = 0; q < P; q++)
    if (q != me && (rc = o->stream_wait_event(stream, d->peer_pre[q]))) return dev_err(o, rc, "waiting on a peer's event");
  /* this rank's share of the work */
  strata_dev_task_t t[STRATA_DEV_MAX_TASKS];
  memset(t, 0, sizeof t);
  int nt = 0, reducing = 0;
  size_t lo = part_off(n, P, me), cnt = part_off(n, P, me + 1) - lo;
  switch (coll) {
  case STRATA_COLL_ALLREDUCE: /* slice me of every input, into slice me of every output */
  case STRATA_COLL_REDUCE:
    reducing = 1;
    if (!cnt) break;
    for (int q = 0; q < P; q++) t[0].src[q] = (const char *)S[q] + lo * es;
    t[0].nsrc = P;
    if (coll == STRATA_COLL_REDUCE) {
      t[0].dst[0] = (char *)R[root] + lo * es;
      t[0].ndst = 1;
    } else {
      for (int q = 0; q < P; q++) t[0].dst[q] = (char *)R[q] + lo * es;
      t[0].ndst = P;
    }
    t[0].count = cnt;
    nt = 1;
    break;
  case STRATA_COLL_REDUCE_SCATTER: /* block me of every input, into my output */
    reducing = 1;
    for (int q = 0; q < P; q++) t[0].src[q] = (const char *)S[q] + (size_t)me * n * es;
    t[0].nsrc = P;
    t[0].dst[0] = rbuf;
    t[0].ndst = 1;
    t[0].count = n;
    nt = 1;
    break;
  case STRATA_COLL_ALLGATHER: /* my input into block me of every output (bytes) */
    t[0].src[0] = sbuf;
    t[0].nsrc = 1;
    for (int q = 0; q < P; q++) {
      char *dst = (char *)R[q] + (size_t)me * n * es;
      if (q == me && inplace) continue;
      t[0].dst[t[0].ndst++] = dst;
    }
    t[0].count = n * es;
    nt = t[0].ndst ? 1 : 0;
    break;
  case STRATA_COLL_BROADCAST: /* slice me of the root's input into slice me of every output */
    if (!cnt) break;
    t[0].src[0] = (const char *)S[root] + lo * es;
    t[0].nsrc = 1;
    for (int q = 0; q < P; q++)
      if (!(q == root && inplace)) t[0].dst[t[0].ndst++] = (char *)R[q] + lo * es;
    t[0].count = cnt * es;
    nt = t[0].ndst ? 1 : 0;
    break;
  case STRATA_COLL_ALLTOALL: /* my block q into block me of rank q's output */
    for (int q = 0; q < P; q++) {
      t[nt].src[0] = (const char *)sbuf + (size_t)q * n * es;
      t[nt].nsrc = 1;
      t[nt].dst[0] = (char *)R[q] + (size_t)me * n * es;
      t[nt].ndst = 1;
      t[nt].count = n * es;
      nt++;
    }
    break;
  default: break;
  }
  if (nt) {
    rc = reducing ? o->reduce(t, nt, dtype, op, op == STRATA_AVG ? P : 0, stream) : o->copy(t, nt, stream);
    if (rc) return dev_err(o, rc, "launching the reduction kernel");
  }
  if ((rc = o->event_record(d->ev_post, stream))) return dev_err(o, rc, "recording an event");
  r = strata_host_coll(comm, STRATA_COLL_BARRIER, NULL, NULL, 0, STRATA_INT8, STRATA_SUM, 0, STRATA_ALGO_AUTO, NULL);
  if (r != STRATA_SUCCESS) return r;
  for (int q = 0; q < P; q++)
    if (q != me && (rc = o->stream_wait_event(stream, d->peer_post[q]))) return dev_err(o, rc, "waiting on a peer's event");
  d->n_ipc++;
  return STRATA_SUCCESS;
}

/* ---------------- NCCL (STRATA_NCCL=1, ranks on one host, each on its own GPU) ---------------- */

static strata_result_t nccl_setup(strata_comm_t comm, struct strata_dev_comm *d) {
  const strata_nccl_api_t *n = strcmp(d->ops->name, "cuda") ? NULL : strata_nccl();
  int ok = n != NULL;
  strata_result_t r = host_all_ok(comm, ok, &ok);
  if (r != STRATA_SUCCESS) return r;
  if (ok) {
    strata_nccl_id_t id;
    memset(&id, 0, sizeof id);
    if (comm->rank == 0 && n->get_unique_id(&id)) SLOG_WARN("NCCL: ncclGetUniqueId failed");
    r = strata_host_coll(comm, STRATA_COLL_BROADCAST, &id, &id, sizeof id, STRATA_UINT8, STRATA_SUM, 0,
                         STRATA_ALGO_AUTO, NULL);
    if (r != STRATA_SUCCESS) return r;
    int rc = n->comm_init_rank(&d->ncomm, comm->nranks, id, comm->rank);
    if (rc) {
      SLOG_INFO("NCCL: ncclCommInitRank: %s (several ranks on one GPU?)", n->error_string(rc));
      d->ncomm = NULL;
    }
    r = host_all_ok(comm, rc == 0, &ok);
    if (r != STRATA_SUCCESS) return r;
    if (!ok && d->ncomm) {
      n->comm_destroy(d->ncomm);
      d->ncomm = NULL;
    }
  }
  d->nccl = ok ? 1 : -1;
  SLOG_INFO("device: comm %u: NCCL %s", comm->id, ok ? "runs the node's device collectives (STRATA_NCCL=1)"
                                                      : "unavailable; Strata's own paths run them");
  return STRATA_SUCCESS;
}

/* ---------------- staged path: device -> pinned host -> host collective -> device ---------------- */

typedef struct {
  int state; /* 0 free, 1 copying in, 2 host collective, 3 copying out */
  int chunk;
  struct strata_request *req;
} slot_t;

static strata_result_t wait_event(const strata_dev_ops_t *o, void *ev, uint64_t deadline) {
  for (;;) {
    int q = o->event_query(ev);
    if (q == 0) return STRATA_SUCCESS;
    if (q < 0) return dev_err(o, -q, "a device copy");
    if (strata_now_ns() > deadline) {
      SLOG_WARN("device: the GPU did not finish within STRATA_TIMEOUT_MS");
      return STRATA_ERR_TIMEOUT;
    }
  }
}

/* wait for everything queued on stream so far, within STRATA_TIMEOUT_MS */
static strata_result_t bounded_sync(struct strata_dev_comm *d, void *stream) {
  const strata_dev_ops_t *o = d->ops;
  int rc = o->event_record(d->ev_sync, stream);
  if (rc) return dev_err(o, rc, "recording an event");
  return wait_event(o, d->ev_sync, strata_now_ns() + (uint64_t)strata_config()->timeout_ms * 1000000ull);
}

static strata_result_t staged_run(strata_comm_t comm, struct strata_dev_comm *d, strata_coll_t coll, const void *sbuf,
                                  void *rbuf, size_t n, strata_dtype_t dtype, strata_op_t op, int root,
                                  strata_algo_t force, void *stream) {
  const strata_dev_ops_t *o = d->ops;
  const int P = comm->nranks, me = comm->rank;
  const size_t es = strata_dtype_size(dtype);
  const strata_config_t *cfg = strata_config();
  const int blocks = coll == STRATA_COLL_ALLGATHER || coll == STRATA_COLL_REDUCE_SCATTER || coll == STRATA_COLL_ALLTOALL;
  size_t chunk = cfg->dev_chunk;
  size_t ce = blocks ? chunk / ((size_t)P * es) : chunk / es; /* elements per block per chunk */
  if (ce < 1) ce = 1;
  size_t slot_bytes = ce * es * (blocks ? (size_t)P : 1);
  slot_bytes = (slot_bytes + 255) & ~(size_t)255;
  if (d->stage_chunk < slot_bytes) {
    if (d->stage) {
      o->stream_sync(d->stream);
      o->host_free(d->stage);
      d->stage = NULL;
      d->stage_chunk = 0;
    }
    int rc = o->host_alloc((void **)&d->stage, slot_bytes * 2 * NSLOT);
    if (rc) return dev_err(o, rc, "allocating pinned staging memory");
    d->stage_chunk = slot_bytes;
  }
  const int nch = (int)((n + ce - 1) / ce);
  int has_in = coll != STRATA_COLL_BROADCAST || me == root;
  int has_out = coll != STRATA_COLL_REDUCE || me == root;
  /* the staging stream starts after the caller's earlier work */
  int rc = o->event_record(d->ev_start, stream);
  if (!rc) rc = o->stream_wait_event(d->stream, d->ev_start);
  if (rc) return dev_err(o, rc, "ordering after the caller's stream");
  /* silence, not the call's length, ends it: nothing moved (no chunk, no message of the
   * communicator) for STRATA_TIMEOUT_MS; a failure a member reports ends it at once */
  const uint64_t limit = (uint64_t)cfg->timeout_ms * 1000000ull;
  uint64_t quiet_since = strata_now_ns(), seen = comm->moves;
  slot_t slot[NSLOT];
  memset(slot, 0, sizeof slot);
  int next_in = 0, next_host = 0, done = 0;
  strata_result_t err = STRATA_SUCCESS;
  while (done < nch && err == STRATA_SUCCESS) {
    int progressed = 0;
    for (int i = 0; i < NSLOT && err == STRATA_SUCCESS; i++) {
      slot_t *s = &slot[i];
      char *in = d->stage + (size_t)i * 2 * d->stage_chunk, *out = in + d->stage_chunk;
      if (s->state == 0 && next_in < nch && next_in < next_host + NSLOT) {
        size_t c0 = (size_t)next_in * ce, cn = n - c0 < ce ? n - c0 : ce;
        if (has_in) {
          if (coll == STRATA_COLL_REDUCE_SCATTER || coll == STRATA_COLL_ALLTOALL)
            rc = o->copy2d_async(in, cn * es, (const char *)sbuf + c0 * es, n * es, cn * es, (size_t)P, d->stream);
          else
            rc = o->copy_async(in, (const char *)sbuf + c0 * es, cn * es, d->stream);
          if (!rc) rc = o->event_record(d->ev_slot[i][0], d->stream);
          if (rc) { err = dev_err(o, rc, "copying a chunk to the host"); break; }
        }
        s->state = 1;
        s->chunk = next_in++;
        progressed = 1;
      }
      if (s->state == 1 && s->chunk == next_host) {
        if (has_in) {
          int q = o->event_query(d->ev_slot[i][0]);
          if (q < 0) { err = dev_err(o, -q, "copying a chunk to the host"); break; }
          if (q) continue;
        }
        size_t c0 = (size_t)s->chunk * ce, cn = n - c0 < ce ? n - c0 : ce;
        (void)c0;
        err = strata_host_coll(comm, coll, in, out, cn, dtype, op, root, force, &s->req);
        if (err != STRATA_SUCCESS) break;
        s->state = 2;
        next_host++;
        progressed = 1;
      }
      if (s->state == 2) {
        int fin = 0;
        err = strata_host_test(s->req, &fin);
        if (err != STRATA_SUCCESS) { s->req = NULL; break; }
        if (!fin) continue;
        s->req = NULL;
        size_t c0 = (size_t)s->chunk * ce, cn = n - c0 < ce ? n - c0 : ce;
        if (has_out) {
          if (coll == STRATA_COLL_ALLGATHER || coll == STRATA_COLL_ALLTOALL)
            rc = o->copy2d_async((char *)rbuf + c0 * es, n * es, out, cn * es, cn * es, (size_t)P, d->stream);
          else
            rc = o->copy_async((char *)rbuf + c0 * es, out, cn * es, d->stream);
          if (!rc) rc = o->event_record(d->ev_slot[i][1], d->stream);
          if (rc) { err = dev_err(o, rc, "copying a chunk back to the device"); break; }
        }
        s->state = 3;
        progressed = 1;
      }
      if (s->state == 3) {
        if (has_out) {
          int q = o->event_query(d->ev_slot[i][1]);
          if (q < 0) { err = dev_err(o, -q, "copying a chunk back to the device"); break; }
          if (q) continue;
        }
        s->state = 0;
        done++;
        progressed = 1;
      }
    }
    if (err == STRATA_SUCCESS) {
      uint64_t now = strata_now_ns();
      if (progressed || comm->moves != seen) {
        quiet_since = now;
        seen = comm->moves;
      } else {
        strata_engine_progress(comm);
        strata_ctx_gate_yield(comm->ctx);
        if (strata_ft_poll(comm) != STRATA_SUCCESS) err = comm->error; /* a member's notice, an abort */
        else if (now - quiet_since > limit) {
          SLOG_WARN("device: staged %s: nothing moved for %llu ms (STRATA_TIMEOUT_MS): the communicator fails",
                    strata_coll_name(coll), (unsigned long long)((now - quiet_since) / 1000000ull));
          err = STRATA_ERR_TIMEOUT;
          strata_engine_fail_all(comm, err); /* the started host collectives end too; members are told */
        }
      }
    }
  }
  for (int i = 0; i < NSLOT; i++) /* after an error: let started host collectives end (at once when the
                                   * communicator failed; a device error leaves them healthy) */
    if (slot[i].req) strata_host_wait(slot[i].req);
  if (err != STRATA_SUCCESS && comm->error == STRATA_SUCCESS && next_host > 0 && next_host < nch) {
    /* a device error midway: the members wait for chunks this rank will not send */
    SLOG_WARN("device: staged %s stopped after %d of %d chunks (%s): the communicator fails", strata_coll_name(coll),
              next_host, nch, strata_result_string(err));
    strata_engine_fail_all(comm, err);
  }
  if (err != STRATA_SUCCESS) {
    o->stream_sync(d->stream);
    return err;
  }
  /* later work on the caller's stream waits for the last copies back */
  rc = o->event_record(d->ev_end, d->stream);
  if (!rc) rc = o->stream_wait_event(stream, d->ev_end);
  if (rc) return dev_err(o, rc, "ordering the caller's stream after the copies");
  d->n_staged++;
  return STRATA_SUCCESS;
}

strata_result_t strata_dev_coll_run(strata_comm_t comm, strata_coll_t coll, const void *sendbuf, void *recvbuf,
                                    size_t count, strata_dtype_t dtype, strata_op_t op, int root, int inplace,
                                    strata_algo_t force, void *stream, int sync) {
  const strata_dev_ops_t *o = strata_dev();
  struct strata_dev_comm *d = o ? dev_comm(comm) : NULL;
  if (!d) {
    SLOG_WARN("%s: device buffers or a stream, but %s", strata_coll_name(coll),
              o ? "the device state could not be created" : "no GPU is available to this process");
    return o ? STRATA_ERR_SYSTEM : STRATA_ERR_UNSUPPORTED;
  }
  strata_result_t r = STRATA_ERR_UNSUPPORTED;
  const strata_config_t *cfg = strata_config();
  const int any_dev = (sendbuf && o->is_device_ptr(sendbuf, NULL) == 1) || (recvbuf && o->is_device_ptr(recvbuf, NULL) == 1);
  if (coll == STRATA_COLL_BARRIER || !any_dev) {
    /* nothing on the device: the stream's earlier work first, then the host collective */
    strata_result_t w = bounded_sync(d, stream);
    if (w != STRATA_SUCCESS) return w;
    return strata_host_coll(comm, coll, sendbuf, recvbuf, count, dtype, op, root, force, NULL);
  }
  if (cfg->nccl && comm->all_local && comm->nranks > 1) {
    if (d->nccl == 0 && (r = nccl_setup(comm, d)) != STRATA_SUCCESS) return r;
    if (d->nccl == 1) {
      int rc = strata_nccl_coll(strata_nccl(), d->ncomm, coll, sendbuf, recvbuf, count, dtype, op, root, comm->rank,
                                comm->nranks, strata_dtype_size(dtype), stream);
      if (rc) {
        SLOG_WARN("%s: NCCL: %s", strata_coll_name(coll), strata_nccl()->error_string(rc));
        return STRATA_ERR_TRANSPORT;
      }
      d->n_nccl++;
      return sync ? bounded_sync(d, stream) : STRATA_SUCCESS;
    }
  }
  int direct = cfg->dev_path != 2 && comm->all_local && comm->nranks <= STRATA_DEV_MAX_SRC;
  if (direct && d->ipc == 0) {
    r = ipc_setup(comm, d);
    if (r != STRATA_SUCCESS) return r;
  }
  if (direct && d->ipc == 1) r = ipc_run(comm, d, coll, sendbuf, recvbuf, count, dtype, op, root, inplace, stream);
  if (r == STRATA_ERR_UNSUPPORTED) {
    if (direct && d->ipc == 1 && comm->logged_shapes < 1000)
      SLOG_INFO("%s: buffers not shareable by IPC (not cudaMalloc memory?): staged path", strata_coll_name(coll));
    r = staged_run(comm, d, coll, sendbuf, recvbuf, count, dtype, op, root, force, stream);
  }
  if (r == STRATA_SUCCESS && sync) r = bounded_sync(d, stream);
  return r;
}
