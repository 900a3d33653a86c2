/* ucx: point-to-point messages between hosts over UCP's tagged API (UCX 1.13).
 * Worker addresses are exchanged once through the bootstrap; an endpoint to a peer is
 * created the first time a plan sends to it or an ack goes back to it, so a rank holds
 * endpoints only for the peers its algorithms use (about 2 log P for recursive algorithms,
 * 2 for rings).
 * The 64-bit UCP tag is [source world rank:20][comm:12][seq:6][step:26] (transport.h says
 * why those bits are enough); receives match the full tag, and a tag that does not fit is
 * refused, never cut. Endpoints use peer error handling: a dead peer fails its requests.
 *
 * A finished call owes its peers nothing. A UCX rendezvous receiver sends the sender its
 * acknowledgement (ATS) from its own progress, and when the sender's queue is full that
 * message waits in the receiver's pending queue, which a worker flush does not cover: a
 * receiver that had its data and went on (into an MPI barrier, into compute) left the
 * sender's call waiting for good (reproduced with UCX_MM_FIFO_SIZE=16). So every message at
 * or above the rendezvous threshold is acknowledged by Strata itself: the receive finishes
 * only once a small active message (the ack) to the sender has left, which the receiver
 * sees and drives itself; the send finishes when the ack comes (the receiver has all the
 * data then, whichever rendezvous scheme UCX chose: with "put" the sender's own UCX
 * request ends before its last message reaches the receiver). A send UCX still holds after
 * its ack stays UCX's slot until UCX lets it go. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <ucp/api/ucp.h>

#include "../../runtime/core/log.h"
#include "../peer_pid.h"
#include "../transport.h"

typedef struct ep_entry {
  int peer; /* -1 empty */
  ucp_ep_h ep;
} ep_entry_t;

/* Strata's acknowledgement of one message: its UCX tag and the receiver, and the
 * receiver's verdict (1, or -STRATA_ERR_INVALID_USAGE for a message of the wrong length). */
typedef struct ack_hdr {
  uint64_t ut;
  int32_t from, status;
} ack_hdr_t;

/* What a UCX callback is handed: never the engine's request itself, which may be reused
 * once cancelled, but a slot the transport owns; cancel detaches the slot (r = NULL) and
 * the callback, whenever UCX runs it, only returns the slot to the free list. */
typedef struct uslot {
  strata_treq_t *r;
  void *ureq;                /* the UCX request while it is outstanding */
  int is_recv;
  int in_post, fired_in_post; /* the callback may run inside the post itself */
  int awaiting;              /* a send on the awaited list: its ack may finish it */
  int acking;                /* a receive that has its data and sends its ack */
  int ucx_done;              /* an awaited send UCX has finished: only its ack is missing */
  int result;                /* an acking receive: its r->state once the ack has left */
  int peer;
  uint64_t ut;               /* the UCX tag */
  ack_hdr_t ack;             /* an ack's header: stays put until sent */
  struct ucx_tp *u;
  struct uslot *next_free;
  struct uslot *prev, *next; /* the awaited list, or the queue of acks to send */
} uslot_t;

/* A receive taking a message of a failed communicator nobody will receive (it is acked,
 * so its sender's request ends), freed once done. */
typedef struct sink {
  struct sink *next;
  strata_treq_t tr;
  char data[];
} sink_t;
#define UCX_RETIRED_MAX 64
#define UCX_DRAIN_NS 1000000ull /* how often progress looks for messages of failed communicators */

typedef struct ucx_tp {
  strata_transport_t base;
  uint32_t retired[UCX_RETIRED_MAX]; /* failed communicators' ids (the newest) */
  int nretired;
  sink_t *sinks;
  uint64_t drained_at;
  uslot_t *free_slots;
  int broken;        /* a cancelled request UCX would not give back: the transport is failed */
  uint64_t cancel_deadline;
  ucp_context_h ctx;
  ucp_worker_h worker;
  int me, P;
  char *addrs;       /* P worker addresses, addr_len each */
  size_t addr_len;
  ep_entry_t *eps;   /* open-addressing map peer -> endpoint */
  int eps_cap, eps_n;
  int *dead;         /* peers whose endpoint reported an error (small set) */
  const uint32_t *host_of;
  uint32_t my_host;
  int errmode;       /* -1: by locality, 0: none, 1: peer */
  int ndead, capdead;
  int closed[8];     /* peers whose endpoint a cancel force-closed lately, and when */
  uint64_t closed_ns[8];
  int *pid;          /* per world rank on this host: its pid (0 elsewhere) */
  size_t ack_min;          /* messages of this many bytes or more are acknowledged */
  const char *rndv_from;   /* the rendezvous threshold as set (for the log) */
  uslot_t *awaited;        /* sends whose ack may come */
  uslot_t *ack_head, *ack_tail; /* receives whose ack is still to be posted */
  volatile int flush_done; /* set by the worker flush's callback */
  int flush_pending;       /* a flush UCX still holds (timed out): its callback may still come */
} ucx_tp_t;

static int ucx_tag(int src, uint64_t t, uint64_t *out) {
  uint64_t comm = strata_tag_comm(t), seq = strata_tag_seq(t) & ((1u << STRATA_TAG_SEQ_BITS) - 1),
           step = strata_tag_step(t);
  if (comm >= STRATA_COMM_ID_LIMIT || step >= (1ull << STRATA_TAG_STEP_BITS) ||
      (unsigned)src >= (1u << STRATA_TAG_SRC_BITS)) {
    SLOG_WARN("ucx: tag (comm %llu, step %llu, source %d) does not fit the UCX tag layout",
              (unsigned long long)comm, (unsigned long long)step, src);
    return -1;
  }
  *out = ((uint64_t)src << (64 - STRATA_TAG_SRC_BITS)) |
         (comm << (STRATA_TAG_SEQ_BITS + STRATA_TAG_STEP_BITS)) | (seq << STRATA_TAG_STEP_BITS) | step;
  return 0;
}

#define UCX_CANCEL_WAIT_NS 1000000000ull /* how long a cancel or a close waits for UCX */

static uint64_t ucx_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define STRATA_UCX_AM_ACK 7u /* the active-message id of Strata's acknowledgement */

static void await_add(ucx_tp_t *u, uslot_t *sl) {
  sl->awaiting = 1;
  sl->prev = NULL;
  sl->next = u->awaited;
  if (u->awaited) u->awaited->prev = sl;
  u->awaited = sl;
}

static void await_drop(ucx_tp_t *u, uslot_t *sl) {
  if (!sl->awaiting) return;
  sl->awaiting = 0;
  if (sl->prev) sl->prev->next = sl->next;
  else u->awaited = sl->next;
  if (sl->next) sl->next->prev = sl->prev;
  sl->prev = sl->next = NULL;
}

static void mark_dead(ucx_tp_t *u, int peer) {
  for (int i = 0; i < u->ndead; i++)
    if (u->dead[i] == peer) return;
  if (u->ndead == u->capdead) {
    int nc = u->capdead ? u->capdead * 2 : 8;
    int *d = realloc(u->dead, (size_t)nc * sizeof *d);
    if (!d) return;
    u->dead = d;
    u->capdead = nc;
  }
  u->dead[u->ndead++] = peer;
}

typedef struct err_arg {
  ucx_tp_t *u;
  int peer;
} err_arg_t;

static void ep_error(void *arg, ucp_ep_h ep, ucs_status_t status) {
  err_arg_t *a = arg;
  (void)ep;
  SLOG_WARN("ucx: connection to world rank %d failed: %s", a->peer, ucs_status_string(status));
  mark_dead(a->u, a->peer);
}

static ep_entry_t *ep_slot(ucx_tp_t *u, int peer) {
  unsigned h = (unsigned)peer * 2654435761u;
  for (int i = 0;; i++) {
    ep_entry_t *e = &u->eps[(h + (unsigned)i) & (unsigned)(u->eps_cap - 1)];
    if (e->peer == peer || e->peer == -1) return e;
  }
}

static ucp_ep_h get_ep(ucx_tp_t *u, int peer) {
  ep_entry_t *e = ep_slot(u, peer);
  if (e->peer == peer) return e->ep;
  if ((u->eps_n + 1) * 2 > u->eps_cap) { /* grow */
    int oc = u->eps_cap, nc = oc * 2;
    ep_entry_t *old = u->eps, *n = malloc((size_t)nc * sizeof *n);
    if (!n) return NULL;
    for (int i = 0; i < nc; i++) n[i].peer = -1;
    u->eps = n;
    u->eps_cap = nc;
    for (int i = 0; i < oc; i++)
      if (old[i].peer >= 0) *ep_slot(u, old[i].peer) = old[i];
    free(old);
    e = ep_slot(u, peer);
  }
  err_arg_t *ea = malloc(sizeof *ea);
  if (!ea) return NULL;
  ea->u = u;
  ea->peer = peer;
  ucp_ep_params_t p;
  memset(&p, 0, sizeof p);
  p.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                 UCP_EP_PARAM_FIELD_ERR_HANDLER;
  p.address = (const ucp_address_t *)(u->addrs + (size_t)peer * u->addr_len);
  /* Peer error handling makes UCX drop transports that cannot report a dead peer, the
   * shared-memory ones among them: on this host use none (a dead local peer still ends in
   * STRATA_ERR_TIMEOUT), between hosts report failures (STRATA_UCX_ERRMODE=none|peer). */
  int remote = u->host_of[peer] != u->my_host;
  if (u->errmode >= 0) remote = u->errmode;
  p.err_mode = remote ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
  p.err_handler.cb = ep_error;
  p.err_handler.arg = ea;
  ucp_ep_h ep;
  ucs_status_t st = ucp_ep_create(u->worker, &p, &ep);
  if (st != UCS_OK) {
    SLOG_WARN("ucx: cannot connect to world rank %d: %s", peer, ucs_status_string(st));
    if (st == UCS_ERR_UNREACHABLE || st == UCS_ERR_CONNECTION_RESET) mark_dead(u, peer); /* nobody listens there */
    free(ea);
    return NULL;
  }
  e->peer = peer;
  e->ep = ep;
  u->eps_n++;
  SLOG_TRACE("ucx: endpoint to world rank %d (%d open)", peer, u->eps_n);
  return ep;
}

/* A failed request because the other side is gone is a peer failure, not a transport bug. */
static int fail_state(ucs_status_t st) {
  switch (st) {
  case UCS_ERR_ENDPOINT_TIMEOUT:
  case UCS_ERR_CONNECTION_RESET:
  case UCS_ERR_UNREACHABLE:
  case UCS_ERR_REJECTED:
  case UCS_ERR_NOT_CONNECTED:
    return -(int)STRATA_ERR_PEER_FAILED;
  default:
    return -(int)STRATA_ERR_TRANSPORT;
  }
}

static void slot_put(uslot_t *sl) {
  await_drop(sl->u, sl);
  if (sl->in_post) { /* post_end returns it */
    sl->fired_in_post = 1;
    return;
  }
  sl->r = NULL;
  sl->ureq = NULL;
  sl->acking = 0;
  sl->next_free = sl->u->free_slots;
  sl->u->free_slots = sl;
}

static void send_cb(void *request, ucs_status_t status, void *user) {
  uslot_t *sl = user;
  ucp_request_free(request);
  sl->ureq = NULL;
  if (status == UCS_OK && sl->awaiting) { /* UCX is done with the buffer; the ack ends the send */
    sl->ucx_done = 1;
    return;
  }
  if (sl->r) {
    sl->r->state = status == UCS_OK ? 1 : fail_state(status);
    sl->r->tp_data = NULL;
    if (status != UCS_OK && status != UCS_ERR_CANCELED) SLOG_WARN("ucx: send failed: %s", ucs_status_string(status));
  }
  slot_put(sl);
}

/* The data is here; the receive ends once its ack has left (post_acks sends it). */
static void ack_queue(uslot_t *sl) {
  ucx_tp_t *u = sl->u;
  sl->acking = 1;
  sl->next = NULL;
  if (u->ack_tail) u->ack_tail->next = sl;
  else u->ack_head = sl;
  u->ack_tail = sl;
}

/* A received message: done, or acknowledged first. A message of the wrong length is
 * acknowledged too, carrying the error, so its sender fails as the receiver does instead of
 * waiting for an ack. */
static void recv_got(uslot_t *sl, ucs_status_t status, size_t length) {
  strata_treq_t *r = sl->r;
  if (r) {
    int result = status == UCS_OK ? 1 : fail_state(status);
    int delivered = status == UCS_OK || status == UCS_ERR_MESSAGE_TRUNCATED;
    if (delivered && (length != r->len || status != UCS_OK)) {
      SLOG_WARN("ucx: message of %zu bytes for a receive of %zu (mismatched calls?)", length, r->len);
      result = -(int)STRATA_ERR_INVALID_USAGE;
    }
    if (delivered && (length >= sl->u->ack_min || r->len >= sl->u->ack_min)) {
      sl->result = result;
      ack_queue(sl);
      return;
    }
    r->state = result;
    r->tp_data = NULL;
  }
  slot_put(sl);
}

static void recv_cb(void *request, ucs_status_t status, const ucp_tag_recv_info_t *info, void *user) {
  uslot_t *sl = user;
  ucp_request_free(request);
  sl->ureq = NULL;
  recv_got(sl, status, info->length);
}

/* Ready r for a post and fill the request parameters shared by sends and receives. */
static uslot_t *post_begin(ucx_tp_t *u, strata_treq_t *r, ucp_request_param_t *p, int peer, size_t len) {
  uslot_t *sl = u->free_slots;
  if (sl) u->free_slots = sl->next_free;
  else if (!(sl = calloc(1, sizeof *sl))) return NULL;
  sl->u = u;
  sl->r = r;
  sl->ureq = NULL;
  sl->in_post = 1;
  sl->fired_in_post = 0;
  sl->awaiting = sl->acking = sl->ucx_done = 0;
  sl->peer = peer;
  r->state = 0;
  r->peer = peer;
  r->len = len;
  r->tp_data = NULL;
  memset(p, 0, sizeof *p);
  p->op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p->user_data = sl;
  return sl;
}

/* What a post returned: done at once (a send), failed, or a request whose callback will
 * finish r (maybe already did, inside the post). */
static strata_result_t post_end(uslot_t *sl, ucs_status_ptr_t s, const char *what, int peer) {
  strata_treq_t *r = sl->r;
  sl->in_post = 0;
  if (UCS_PTR_IS_ERR(s)) {
    SLOG_WARN("ucx: %s world rank %d failed: %s", what, peer, ucs_status_string(UCS_PTR_STATUS(s)));
    r->tp_data = NULL;
    slot_put(sl);
    return (strata_result_t)-fail_state(UCS_PTR_STATUS(s));
  }
  if (sl->fired_in_post) { /* finished (and its UCX request freed) inside the post */
    slot_put(sl);
    return STRATA_SUCCESS;
  }
  r->tp_data = sl;
  if (s != NULL) {
    if (!sl->ucx_done && !sl->acking) sl->ureq = s; /* else its callback already ran inside the post */
    return STRATA_SUCCESS;
  }
  /* a send done at once */
  if (sl->awaiting) {
    sl->ucx_done = 1; /* its ack ends it */
  } else {
    r->state = 1;
    r->tp_data = NULL;
    slot_put(sl);
  }
  return STRATA_SUCCESS;
}

static strata_result_t ucx_isend(strata_transport_t *t, int peer, uint64_t tag, const void *buf, size_t len,
                                 strata_treq_t *r) {
  ucx_tp_t *u = (ucx_tp_t *)t;
  uint64_t ut;
  if (u->broken) return STRATA_ERR_TRANSPORT;
  if (ucx_tag(u->me, tag, &ut)) return STRATA_ERR_UNSUPPORTED;
  ucp_ep_h ep = get_ep(u, peer);
  if (!ep) return STRATA_ERR_TRANSPORT;
  ucp_request_param_t p;
  uslot_t *sl = post_begin(u, r, &p, peer, len);
  if (!sl) return STRATA_ERR_SYSTEM;
  p.cb.send = send_cb;
  sl->is_recv = 0;
  sl->ut = ut;
  if (len >= u->ack_min) await_add(u, sl);
  return post_end(sl, ucp_tag_send_nbx(ep, buf, len, ut, &p), "send to", peer);
}

static strata_result_t ucx_irecv(strata_transport_t *t, int peer, uint64_t tag, void *buf, size_t len,
                                 strata_treq_t *r) {
  ucx_tp_t *u = (ucx_tp_t *)t;
  uint64_t ut;
  if (u->broken) return STRATA_ERR_TRANSPORT;
  if (ucx_tag(peer, tag, &ut)) return STRATA_ERR_UNSUPPORTED;
  ucp_request_param_t p;
  uslot_t *sl = post_begin(u, r, &p, peer, len);
  if (!sl) return STRATA_ERR_SYSTEM;
  p.cb.recv = recv_cb;
  sl->is_recv = 1;
  sl->ut = ut;
  /* every receive ends in recv_cb, which is told the length (maybe inside the post) */
  p.op_attr_mask |= UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
  return post_end(sl, ucp_tag_recv_nbx(u->worker, buf, len, ut, ~(ucp_tag_t)0, &p), "receive from", peer);
}

/* A receive whose ack has left is done. An ack that cannot be sent (the sender is gone)
 * still leaves the data received: the receive succeeds. */
static void ack_done(uslot_t *sl) {
  strata_treq_t *r = sl->r;
  if (r) {
    r->state = sl->result;
    r->tp_data = NULL;
  }
  slot_put(sl);
}

static void ack_send_cb(void *request, ucs_status_t status, void *user) {
  uslot_t *sl = user;
  if (status != UCS_OK)
    SLOG_TRACE("ucx: acknowledgement to world rank %d: %s", sl->peer, ucs_status_string(status));
  ucp_request_free(request);
  sl->ureq = NULL;
  ack_done(sl);
}

static int post_acks(ucx_tp_t *u) {
  int n = 0;
  while (u->ack_head) {
    uslot_t *sl = u->ack_head;
    u->ack_head = sl->next;
    if (!u->ack_head) u->ack_tail = NULL;
    sl->next = NULL;
    n++;
    ucp_ep_h ep = get_ep(u, sl->peer);
    if (!ep) {
      ack_done(sl);
      continue;
    }
    sl->ack.ut = sl->ut;
    sl->ack.from = u->me;
    sl->ack.status = sl->result < 0 ? sl->result : 1;
    ucp_request_param_t p;
    memset(&p, 0, sizeof p);
    p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
    p.flags = UCP_AM_SEND_FLAG_EAGER;
    p.cb.send = ack_send_cb;
    p.user_data = sl;
    ucs_status_ptr_t s = ucp_am_send_nbx(ep, STRATA_UCX_AM_ACK, &sl->ack, sizeof sl->ack, NULL, 0, &p);
    if (s == NULL || UCS_PTR_IS_ERR(s)) ack_done(sl);
    else sl->ureq = s; /* ack_send_cb ends it */
  }
  return n;
}

/* An ack: the receiver has the whole message, so the send is done, whatever UCX still
 * holds. Sends to one peer with one tag are matched in order, so the oldest one is meant. */
static ucs_status_t ack_recv(void *arg, const void *header, size_t header_length, void *data, size_t length,
                             const ucp_am_recv_param_t *param) {
  (void)data;
  (void)length;
  (void)param;
  ucx_tp_t *u = arg;
  ack_hdr_t h;
  if (header_length != sizeof h) return UCS_OK;
  memcpy(&h, header, sizeof h);
  uslot_t *found = NULL;
  for (uslot_t *sl = u->awaited; sl; sl = sl->next)
    if (sl->peer == h.from && sl->ut == h.ut) found = sl; /* newest first: keep the last */
  if (!found) return UCS_OK; /* a send cancelled meanwhile */
  await_drop(u, found);
  if (found->r) {
    /* 1, or the receiver's verdict on a message of the wrong length */
    found->r->state = h.status < 0 ? h.status : 1;
    found->r->tp_data = NULL;
    found->r = NULL;
  }
  if (found->ucx_done) slot_put(found); /* else the slot stays UCX's until send_cb */
  return UCS_OK;
}

static void ucx_retire(strata_transport_t *t, uint32_t comm_id) {
  ucx_tp_t *u = (ucx_tp_t *)t;
  for (int i = 0; i < u->nretired; i++)
    if (u->retired[i] == comm_id) return;
  if (u->nretired == UCX_RETIRED_MAX) { /* keep the newest */
    memmove(u->retired, u->retired + 1, (UCX_RETIRED_MAX - 1) * sizeof *u->retired);
    u->nretired--;
  }
  u->retired[u->nretired++] = comm_id;
}

/* Take every waiting message of a failed communicator into a sink: its sender's request
 * ends (acked as usual) instead of waiting until that sender force-closes its endpoint,
 * which the receiver would take for this sender's death. */
static int drain(ucx_tp_t *u) {
  int n = 0;
  for (sink_t **pp = &u->sinks; *pp;) {
    sink_t *k = *pp;
    if (k->tr.state != 0) { *pp = k->next; free(k); continue; }
    pp = &k->next;
  }
  const int shift = STRATA_TAG_SEQ_BITS + STRATA_TAG_STEP_BITS;
  for (int i = 0; i < u->nretired; i++)
    for (int k = 0; k < 64; k++) {
      ucp_tag_recv_info_t info;
      ucp_tag_message_h m = ucp_tag_probe_nb(u->worker, (ucp_tag_t)u->retired[i] << shift,
                                             (ucp_tag_t)(STRATA_COMM_ID_LIMIT - 1) << shift, 1, &info);
      if (!m) break;
      sink_t *sk = malloc(sizeof *sk + info.length + 1);
      if (!sk) return n;
      int src = (int)(info.sender_tag >> (64 - STRATA_TAG_SRC_BITS));
      ucp_request_param_t p;
      uslot_t *sl = post_begin(u, &sk->tr, &p, src, info.length);
      if (!sl) { free(sk); return n; }
      p.cb.recv = recv_cb;
      sl->is_recv = 1;
      sl->ut = info.sender_tag;
      p.op_attr_mask |= UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
      if (post_end(sl, ucp_tag_msg_recv_nbx(u->worker, sk->data, info.length, m, &p), "drain from", src) !=
          STRATA_SUCCESS)
        sk->tr.state = -1;
      sk->next = u->sinks;
      u->sinks = sk;
      n++;
    }
  return n;
}

static int ucx_progress(strata_transport_t *t) {
  ucx_tp_t *u = (ucx_tp_t *)t;
  /* a broken transport no longer runs UCX: nothing may touch buffers handed back */
  if (u->broken) return 0;
  int n = (int)ucp_worker_progress(u->worker);
  if (u->ack_head) n += post_acks(u);
  if (u->nretired || u->sinks) {
    uint64_t now = ucx_now_ns();
    if (now - u->drained_at > UCX_DRAIN_NS) {
      u->drained_at = now;
      drain(u);
    }
  }
  return n;
}

static void flush_cb(void *request, ucs_status_t status, void *user) {
  (void)request;
  (void)status;
  ucx_tp_t *u = user;
  u->flush_done = 1;
  u->flush_pending = 0;
}

/* Before a finished call returns, send what this rank still owes its peers: a receiver's
 * rendezvous acknowledgement can sit in UCX's pending queue after the receive completed, and
 * a caller that now waits elsewhere (an MPI barrier, compute) would leave the sender's call
 * hanging. A worker flush completes once every endpoint's outstanding operations, those
 * control messages included, have gone out; bounded by STRATA_UCX_FLUSH_NS. */
#define STRATA_UCX_FLUSH_NS 1000000000ull
static void ucx_flush(strata_transport_t *t) {
  ucx_tp_t *u = (ucx_tp_t *)t;
  if (u->broken || u->flush_pending) return; /* UCX's own endpoints (a peer's connection) count too */
  ucp_request_param_t p;
  memset(&p, 0, sizeof p);
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p.cb.send = flush_cb;
  p.user_data = u;
  u->flush_done = 0;
  ucs_status_ptr_t s = ucp_worker_flush_nbx(u->worker, &p);
  if (s == NULL || UCS_PTR_IS_ERR(s)) return; /* done at once (or an endpoint error, seen elsewhere) */
  u->flush_pending = 1;
  uint64_t end = ucx_now_ns() + STRATA_UCX_FLUSH_NS;
  while (!u->flush_done && ucx_now_ns() < end) ucp_worker_progress(u->worker);
  ucp_request_free(s); /* released by UCX when it completes, if it has not */
}


static void ep_force_close(ucx_tp_t *u, int peer);

/* After cancel returns, UCX holds no reference to r and will not touch its buffer.
 * A receive is cancelled in UCX and its callback awaited. UCX cannot cancel a send: one
 * that does not complete within UCX_CANCEL_WAIT_NS (its receiver gave up on it) is ended by
 * force-closing the endpoint to that peer, which completes every send on it; the next send
 * to the peer opens a new endpoint. A request UCX still will not give back fails the whole
 * transport, which then never progresses UCX again. */
static strata_result_t ucx_alive(strata_transport_t *t, int peer);
static int recently_closed(const ucx_tp_t *u, int peer, uint64_t now) {
  for (int i = 0; i < 8; i++)
    if (u->closed[i] == peer + 1 && now - u->closed_ns[i] < 2 * UCX_CANCEL_WAIT_NS) return 1;
  return 0;
}
static void ucx_cancel(strata_transport_t *t, strata_treq_t *r, strata_result_t why) {
  (void)why; /* a receiver of a withdrawn UCX send learns of the failure by its own means */
  ucx_tp_t *u = (ucx_tp_t *)t;
  uslot_t *sl = r->tp_data;
  if (r->state != 0 || !sl) return;
  if (sl->acking) { /* the data is here: the receive is done, its ack may still go out */
    sl->r = NULL;
    r->state = 1;
    r->tp_data = NULL;
    return;
  }
  if (sl->ucx_done) { /* UCX let the buffer go; only the ack was missing */
    sl->r = NULL;
    r->state = -(int)STRATA_ERR_TRANSPORT;
    r->tp_data = NULL;
    slot_put(sl);
    return;
  }
  if (sl->is_recv) ucp_request_cancel(u->worker, sl->ureq);
  /* the cancels of one failure share one deadline: a failed call with many requests out
   * waits UCX_CANCEL_WAIT_NS once, not once per request */
  uint64_t now = ucx_now_ns();
  if (now >= u->cancel_deadline) u->cancel_deadline = now + UCX_CANCEL_WAIT_NS;
  /* a send to a peer known dead will not be taken, nor one to a peer whose endpoint was
   * just force-closed (it did not drain the last one): close it at once, do not wait again */
  int dead = !sl->is_recv && (ucx_alive(t, r->peer) == STRATA_ERR_PEER_FAILED || recently_closed(u, r->peer, now));
  while (!dead && r->state == 0 && !sl->acking && !sl->ucx_done && !u->broken && ucx_now_ns() < u->cancel_deadline)
    ucx_progress(t); /* the peer's own drain may take it meanwhile */
  if (r->state == 0 && (sl->acking || sl->ucx_done)) { /* reached one of the states above meanwhile */
    ucx_cancel(t, r, why);
    return;
  }
  if (r->state == 0 && !sl->is_recv && !u->broken) {
    SLOG_INFO("ucx: a cancelled %zu-byte send to world rank %d is not taken: closing that endpoint", r->len, r->peer);
    if (!recently_closed(u, r->peer, ucx_now_ns())) {
      int k = 0; /* the oldest entry */
      for (int i = 1; i < 8; i++) if (u->closed_ns[i] < u->closed_ns[k]) k = i;
      u->closed[k] = r->peer + 1;
      u->closed_ns[k] = ucx_now_ns();
    }
    ep_force_close(u, r->peer);
    uint64_t t0 = ucx_now_ns();
    while (r->state == 0 && ucx_now_ns() - t0 < UCX_CANCEL_WAIT_NS / 10) ucp_worker_progress(u->worker);
  }
  if (r->state == 0 && !sl->is_recv && ucx_alive(t, r->peer) == STRATA_ERR_PEER_FAILED) {
    /* a send to a dead process: no receive will ever read its buffer; its endpoint is closed.
     * The slot stays UCX's and the transport goes on for the living */
    SLOG_INFO("ucx: a cancelled %zu-byte send to dead world rank %d stays with UCX", r->len, r->peer);
    sl->r = NULL;
  } else if (r->state == 0) {
    /* it may still read (a send) or write (a receive) its buffer, which the caller now owns
     * again: a send could deliver that buffer's later contents as this call's data. Only a
     * transport that never runs UCX again is safe (the survivors go on without this rank;
     * endpoints with peer error handling, STRATA_UCX_ERRMODE=peer, give every request back) */
    SLOG_WARN("ucx: a cancelled %zu-byte request to world rank %d is still held by UCX: the UCX transport "
              "is failed", r->len, r->peer);
    u->broken = 1;
    sl->r = NULL; /* the slot stays UCX's */
  }
  r->tp_data = NULL;
}

static strata_result_t ucx_alive(strata_transport_t *t, int peer) {
  ucx_tp_t *u = (ucx_tp_t *)t;
  if (u->broken) return STRATA_ERR_TRANSPORT;
  for (int i = 0; i < u->ndead; i++)
    if (u->dead[i] == peer) return STRATA_ERR_PEER_FAILED;
  if (u->pid && strata_pid_dead(u->pid[peer])) { /* this host: no UCX peer errors here */
    mark_dead(u, peer);
    return STRATA_ERR_PEER_FAILED;
  }
  return STRATA_SUCCESS;
}

static void close_ep(ucx_tp_t *u, ucp_ep_h ep, uint64_t wait_ns) {
  ucp_request_param_t p;
  memset(&p, 0, sizeof p);
  p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  p.flags = UCP_EP_CLOSE_FLAG_FORCE;
  ucs_status_ptr_t s = ucp_ep_close_nbx(ep, &p);
  if (s && !UCS_PTR_IS_ERR(s)) {
    uint64_t t0 = ucx_now_ns();
    while (ucp_request_check_status(s) == UCS_INPROGRESS && ucx_now_ns() - t0 < wait_ns)
      ucp_worker_progress(u->worker);
    ucp_request_free(s);
  }
}

static void ep_force_close(ucx_tp_t *u, int peer) {
  ep_entry_t *e = ep_slot(u, peer);
  if (e->peer != peer) return;
  ucp_ep_h ep = e->ep;
  /* take it out of the map (open addressing: re-insert the entries after it) */
  e->peer = -1;
  u->eps_n--;
  unsigned cap = (unsigned)u->eps_cap, i = (unsigned)(e - u->eps);
  for (unsigned k = (i + 1) & (cap - 1); u->eps[k].peer != -1; k = (k + 1) & (cap - 1)) {
    ep_entry_t moved = u->eps[k];
    u->eps[k].peer = -1;
    *ep_slot(u, moved.peer) = moved;
  }
  close_ep(u, ep, UCX_CANCEL_WAIT_NS / 10);
}

static void ucx_destroy(strata_transport_t *t) {
  ucx_tp_t *u = (ucx_tp_t *)t;
  /* one deadline for all closes: a failed job's teardown stays bounded */
  uint64_t dl = ucx_now_ns() + UCX_CANCEL_WAIT_NS;
  if (u->eps)
    for (int i = 0; i < u->eps_cap; i++)
      if (u->eps[i].peer >= 0) {
        uint64_t now = ucx_now_ns();
        close_ep(u, u->eps[i].ep, now < dl ? dl - now : 0);
      }
  sink_t *sinks = u->sinks; /* out of drain()'s reach while they are cancelled */
  u->sinks = NULL;
  u->nretired = 0;
  for (sink_t *k = sinks; k; k = k->next)
    if (k->tr.state == 0) ucx_cancel(t, &k->tr, STRATA_ERR_INVALID_USAGE);
  if (u->worker) ucp_worker_destroy(u->worker);
  while (sinks) {
    sink_t *k = sinks->next;
    free(sinks);
    sinks = k;
  }
  if (u->ctx) ucp_cleanup(u->ctx);
  free(u->eps);
  free(u->addrs);
  free(u->dead);
  free(u->pid);
  while (u->free_slots) {
    uslot_t *n = u->free_slots->next_free;
    free(u->free_slots);
    u->free_slots = n;
  }
  free(u);
}

/* A UCX size ("8k", "1m", "65536", "inf"); SIZE_MAX for "inf", 0 (acknowledge every
 * message) for what cannot be read here, such as "auto". */
static size_t parse_thresh(const char *v) {
  if (!strcasecmp(v, "inf")) return SIZE_MAX;
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno || end == v) return 0;
  int sh = 0;
  switch (*end) {
  case 'k': case 'K': sh = 10; end++; break;
  case 'm': case 'M': sh = 20; end++; break;
  case 'g': case 'G': sh = 30; end++; break;
  default: break;
  }
  if (*end == 'b' || *end == 'B') end++;
  if (*end || n > (SIZE_MAX >> sh)) return 0;
  return (size_t)n << sh;
}

static int ucx_reaches(strata_transport_t *t, int peer) {
  return peer >= 0 && peer < ((ucx_tp_t *)t)->P;
}

static const strata_transport_ops_t ucx_ops = {"ucx", STRATA_TP_DRAIN, ucx_reaches, ucx_isend, ucx_irecv,
                                               ucx_progress, ucx_cancel, ucx_alive, ucx_destroy, ucx_flush,
                                               ucx_retire};

strata_result_t strata_ucx_create(const strata_tp_init_t *in, strata_transport_t **out) {
  if (in->world_size > (1 << STRATA_TAG_SRC_BITS)) {
    SLOG_WARN("ucx: %d ranks: the UCX tag carries world ranks below 2^%d", in->world_size, STRATA_TAG_SRC_BITS);
    return STRATA_ERR_UNSUPPORTED;
  }
  ucx_tp_t *u = calloc(1, sizeof *u);
  if (!u) return STRATA_ERR_SYSTEM;
  u->base.ops = &ucx_ops;
  u->base.name = "ucx";
  u->me = in->world_rank;
  u->P = in->world_size;
  u->host_of = in->host_of;
  u->my_host = in->my_host;
  const char *em = getenv("STRATA_UCX_ERRMODE");
  u->errmode = em && !strcmp(em, "peer") ? 1 : em && !strcmp(em, "none") ? 0 : -1;
  u->eps_cap = 16;
  u->eps = malloc((size_t)u->eps_cap * sizeof *u->eps);
  for (int i = 0; u->eps && i < u->eps_cap; i++) u->eps[i].peer = -1;
  ucp_config_t *cfg = NULL;
  ucp_params_t params;
  memset(&params, 0, sizeof params);
  params.field_mask = UCP_PARAM_FIELD_FEATURES;
  params.features = UCP_FEATURE_TAG | UCP_FEATURE_AM;
  ucs_status_t st = ucp_config_read(NULL, NULL, &cfg);
  /* Rendezvous costs a round trip before the data moves: across a WAN (20 ms RTT) that
   * doubled a 1 MiB hierarchical allreduce (41 ms against 19 ms measured). When UCX only
   * carries traffic between hosts (Strata's shm does the rest), messages up to
   * STRATA_UCX_RNDV_THRESH (default 1m; plans chunk below it) go eagerly; plans post their
   * receives early, so eager data rarely waits unexpected. When UCX carries a host's own
   * traffic too (STRATA_TRANSPORTS=ucx) the default is 8k, UCX 1.13's own figure for shared
   * memory. The threshold is set, not left to UCX's "auto", because it is also where
   * Strata's acknowledgement starts (above). UCX_RNDV_THRESH wins if set; one Strata cannot
   * read ("auto") makes every message acknowledged. */
  const char *uth = getenv("UCX_RNDV_THRESH"), *sth = getenv("STRATA_UCX_RNDV_THRESH");
  const char *th = uth && *uth ? uth : sth && *sth ? sth : in->inter_host_only ? "1m" : "8k";
  u->ack_min = parse_thresh(th);
  if (st == UCS_OK && !(uth && *uth) && ucp_config_modify(cfg, "RNDV_THRESH", th) != UCS_OK) {
    SLOG_WARN("ucx: STRATA_UCX_RNDV_THRESH='%s' not accepted; UCX's default stays", th);
    u->ack_min = 0;
  }
  u->rndv_from = th;
  /* UCX 1.13's TCP progress handles a batch of socket events at a time, and when one event's
   * error handling (a peer that failed, connections reset together) destroys another
   * endpoint of the same batch it asserts on the stale event and aborts the process (seen on
   * the emulated cluster: a stopped rank woke to every survivor's connection reset). One
   * event per poll cannot hold a stale one; the socket is still drained per event. */
  /* (a transport's settings are read from the environment when its interface opens, so
   * this one goes there; a value the user set stays) */
  setenv("UCX_TCP_MAX_POLL", "1", 0);
  if (st == UCS_OK) {
    st = ucp_init(&params, cfg, &u->ctx);
    ucp_config_release(cfg);
  }
  ucp_worker_params_t wp;
  memset(&wp, 0, sizeof wp);
  wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wp.thread_mode = UCS_THREAD_MODE_SINGLE;
  if (st == UCS_OK) st = ucp_worker_create(u->ctx, &wp, &u->worker);
  if (st == UCS_OK) {
    ucp_am_handler_param_t hp;
    memset(&hp, 0, sizeof hp);
    hp.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG;
    hp.id = STRATA_UCX_AM_ACK;
    hp.cb = ack_recv;
    hp.arg = u;
    st = ucp_worker_set_am_recv_handler(u->worker, &hp);
  }
  ucp_address_t *addr = NULL;
  size_t len = 0;
  if (st == UCS_OK) st = ucp_worker_get_address(u->worker, &addr, &len);
  /* every rank takes part in the exchanges below, even after a local failure */
  uint64_t *lens = calloc((size_t)u->P, sizeof *lens);
  if (!lens || !u->eps) { free(lens); ucx_destroy(&u->base); return STRATA_ERR_SYSTEM; }
  /* address length, and the pid (a dead peer on this host is found by it) */
  lens[u->me] = (st == UCS_OK ? len : 0) | (uint64_t)(uint32_t)getpid() << 32;
  strata_result_t rc = in->oob->allgather(in->oob, lens, sizeof *lens);
  size_t maxlen = 0;
  int failed = rc != STRATA_SUCCESS;
  u->pid = calloc((size_t)u->P, sizeof *u->pid);
  if (!u->pid) failed = 1;
  for (int i = 0; i < u->P; i++) {
    size_t li = (size_t)(lens[i] & 0xffffffffu);
    if (!li) failed = 1;
    if (li > maxlen) maxlen = li;
    if (u->pid && u->host_of[i] == u->my_host) u->pid[i] = (int)(lens[i] >> 32);
  }
  /* a pid counts only where it means the same here: one kernel, one pid namespace (the same
   * array again, so that every rank takes part whatever failed here) */
  const uint64_t mydom = strata_pid_domain();
  memset(lens, 0, (size_t)u->P * sizeof *lens);
  lens[u->me] = mydom;
  if (in->oob->allgather(in->oob, lens, sizeof *lens) != STRATA_SUCCESS) failed = 1;
  for (int i = 0; !failed && u->pid && i < u->P; i++)
    if (u->pid[i] && lens[i] != mydom) {
      SLOG_INFO("ucx: world rank %d shares this host name in another pid namespace or kernel: its liveness "
                "comes from UCX, not its pid", i);
      u->pid[i] = 0;
    }
  free(lens);
  if (failed) {
    if (st != UCS_OK) SLOG_WARN("ucx: initialisation failed: %s", ucs_status_string(st));
    if (addr) ucp_worker_release_address(u->worker, addr);
    ucx_destroy(&u->base);
    return rc != STRATA_SUCCESS ? rc : STRATA_ERR_TRANSPORT;
  }
  u->addr_len = maxlen;
  u->addrs = calloc((size_t)u->P, maxlen);
  if (!u->addrs) { ucp_worker_release_address(u->worker, addr); ucx_destroy(&u->base); return STRATA_ERR_SYSTEM; }
  memcpy(u->addrs + (size_t)u->me * maxlen, addr, len);
  ucp_worker_release_address(u->worker, addr);
  rc = in->oob->allgather(in->oob, u->addrs, maxlen);
  if (rc != STRATA_SUCCESS) { ucx_destroy(&u->base); return rc; }
  /* a sender waits for an ack its receiver sends: both must draw the line in one place */
  uint64_t *mins = calloc((size_t)u->P, sizeof *mins);
  if (!mins) { ucx_destroy(&u->base); return STRATA_ERR_SYSTEM; }
  mins[u->me] = u->ack_min;
  rc = in->oob->allgather(in->oob, mins, sizeof *mins);
  for (int i = 0; rc == STRATA_SUCCESS && i < u->P; i++)
    if (mins[i] < u->ack_min) u->ack_min = (size_t)mins[i];
  free(mins);
  if (rc != STRATA_SUCCESS) { ucx_destroy(&u->base); return rc; }
  SLOG_INFO("ucx: worker ready, address %zu B; endpoints open on first use; rendezvous from %s, "
            "messages from %zu B acknowledged", maxlen, u->rndv_from, u->ack_min);
  *out = &u->base;
  return STRATA_SUCCESS;
}
