/* The transport interface: nonblocking tagged send/recv of byte ranges between world
 * ranks, behind a small ops table. Transports are listed in transports/registry.c in order
 * of preference; a peer's messages go through the first that reaches it (a transport is
 * one ops table and one line there). Their users are the engine and, once at init before
 * any communicator exists, the link probe (runtime/core/probe.c); nothing outside
 * transports/ knows about shared memory FIFOs or UCX. */
#ifndef STRATA_TRANSPORT_H
#define STRATA_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "strata.h"

/* A transport request lives inside the engine's per-step state: no allocation per message.
 * The transport sets state to 1 on completion or to -(strata_result_t) on failure. */
typedef struct strata_treq {
  volatile int state;
  int peer;
  uint64_t tag;
  void *buf;
  size_t len, off;
  struct strata_treq *next;
  void *tp_data;
  uint64_t aux;
} strata_treq_t;

typedef struct strata_transport strata_transport_t;

/* ops flags */
#define STRATA_TP_SHARED_MEMORY 1u /* moves a host's messages through its memory (the tuner's
                                      "point to point inside a host" costs) */
#define STRATA_TP_DRAIN 2u         /* a finished call may still owe peers protocol messages
                                      that only progress sends (UCX rendezvous replies) */

typedef struct strata_transport_ops {
  const char *name;
  unsigned flags;
  /* 1 when this transport carries messages to world rank peer (fixed once created) */
  int (*reaches)(strata_transport_t *t, int peer);
  strata_result_t (*isend)(strata_transport_t *t, int peer, uint64_t tag, const void *buf,
                           size_t len, strata_treq_t *r);
  strata_result_t (*irecv)(strata_transport_t *t, int peer, uint64_t tag, void *buf, size_t len,
                           strata_treq_t *r);
  /* returns > 0 if anything moved */
  int (*progress)(strata_transport_t *t);
  /* forget a posted request (after a failure); its memory may be reused afterwards */
  void (*cancel)(strata_transport_t *t, strata_treq_t *r, strata_result_t why); /* why: the call's failure */
  /* STRATA_SUCCESS, or STRATA_ERR_PEER_FAILED when the peer is known dead */
  strata_result_t (*peer_alive)(strata_transport_t *t, int peer);
  void (*destroy)(strata_transport_t *t);
  /* STRATA_TP_DRAIN transports: hand peers what this rank owes them before a finished call
   * returns (bounded); NULL: progress until idle is enough */
  void (*flush)(strata_transport_t *t);
  /* optional: communicator comm_id failed; messages of its calls that arrive from now on
   * are taken and dropped, so that their senders' requests end instead of lingering
   * (UCX: a rendezvous send nobody receives cannot be withdrawn) */
  void (*retire)(strata_transport_t *t, uint32_t comm_id);
} strata_transport_ops_t;

struct strata_transport {
  const strata_transport_ops_t *ops;
  const char *name;
};

/* Out-of-band exchange a transport may use while it is created (the bootstrap provides it):
 * allgather of a fixed-size record from every world rank, and a barrier. */
typedef struct strata_oob {
  int rank, nranks;
  strata_result_t (*allgather)(struct strata_oob *o, void *buf, size_t bytes_per_rank);
  strata_result_t (*barrier)(struct strata_oob *o);
  void (*destroy)(struct strata_oob *o);
} strata_oob_t;

/* What a transport is told about the job when it is created. */
typedef struct strata_tp_init {
  int world_rank, world_size;
  const uint32_t *host_of;   /* host index of each world rank */
  uint32_t my_host;
  uint64_t key;              /* per-job random key */
  strata_oob_t *oob;
  const uint8_t *reached;    /* per world rank: 1 when an earlier transport carries it */
  int inter_host_only;       /* an earlier transport carries every message inside this host */
} strata_tp_init_t;

/* The registry (transports/registry.c): every transport built in, in order of preference. */
typedef struct strata_transport_entry {
  const char *name;
  strata_result_t (*create)(const strata_tp_init_t *init, strata_transport_t **out);
} strata_transport_entry_t;
const strata_transport_entry_t *strata_transport_list(int *n);
#define STRATA_MAX_TRANSPORTS 8

strata_result_t strata_shm_create(const strata_tp_init_t *init, strata_transport_t **out);
strata_result_t strata_ucx_create(const strata_tp_init_t *init, strata_transport_t **out);

/* Engine tag: [communicator id:16][call sequence:16][step tag within the plan:32].
 * Transports with fewer bits (UCX packs the source rank too) keep STRATA_TAG_*_BITS of
 * each and refuse a tag that does not fit rather than cut it:
 * - communicator ids are allocated below STRATA_COMM_ID_LIMIT and agreed by every member
 *   (runtime/core/comm_ids.c): two live communicators that share a rank never share an id;
 * - sequence numbers may wrap: the engine keeps every rank's unfinished calls of one
 *   communicator within STRATA_SEQ_WINDOW of each other, and messages between two ranks
 *   are matched in the order they were sent, so a wrapped number never matches early;
 * - step tags are bounded by the plan builders (STRATA_TAG_STEP_BITS). */
#define STRATA_TAG_COMM_BITS 12
#define STRATA_TAG_SEQ_BITS 6
#define STRATA_TAG_STEP_BITS 26
#define STRATA_TAG_SRC_BITS 20 /* UCX: world ranks up to 2^20 */
#define STRATA_COMM_ID_LIMIT (1u << STRATA_TAG_COMM_BITS)
#define STRATA_PROBE_COMM_ID (STRATA_COMM_ID_LIMIT - 1u) /* the link probe at init */
#define STRATA_FT_COMM_ID (STRATA_COMM_ID_LIMIT - 2u)    /* failure notices, agreements (runtime/ft) */
#define STRATA_SEQ_WINDOW (1u << (STRATA_TAG_SEQ_BITS - 1))
static inline uint64_t strata_make_tag(uint32_t comm_id, uint32_t seq, uint32_t step_tag) {
  return ((uint64_t)(comm_id & 0xffffu) << 48) | ((uint64_t)(seq & 0xffffu) << 32) | step_tag;
}
static inline uint32_t strata_tag_comm(uint64_t t) { return (uint32_t)(t >> 48); }
static inline uint32_t strata_tag_seq(uint64_t t) { return (uint32_t)(t >> 32) & 0xffffu; }
static inline uint32_t strata_tag_step(uint64_t t) { return (uint32_t)t; }

#endif
