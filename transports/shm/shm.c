/* shm: point-to-point messages between ranks of one host through POSIX shared memory.
 *
 * One segment per host holds, for every local rank, an inbox: a ring of cells that every
 * other local rank may write (multi-producer, single consumer) and a table of completion
 * words for the large messages that rank sends. Memory is O(L) in the local rank count:
 * per rank ncell * cell_size + nfin * 8 bytes plus three cache lines (about 260 KiB with
 * the defaults: 32 cells of 8 KiB, 256 completion words), whatever L is.
 *
 * Small messages travel in one cell (eager). Large ones are read by the receiver straight
 * out of the sender's memory with process_vm_readv (CMA, single copy) after a
 * ready-to-send cell; where CMA is not permitted they stream through the inbox in
 * fragments. Receivers match by (source, tag) in arrival order; messages that arrive
 * before their receive is posted wait in an unexpected queue.
 *
 * Completion of a large message is one atomic word in the sender's completion table, not
 * a message back: the receiver owes the sender nothing once its receive is done, so a rank
 * that leaves Strata after its collective (into an MPI barrier, say) never strands a
 * sender waiting on it. The word holds a generation and a state; the receiver moves it
 * OPEN -> READING -> DONE (or REJECTED), the sender's cancel moves it OPEN -> CANCELLED or
 * READING -> ABANDONED. Every move is a compare-and-swap on the full word, so a stale
 * ready-to-send (an older generation) can never be read, and a read the sender gave up on
 * fails the receive instead of handing it a buffer that may have been reused. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../../runtime/core/config.h"
#include "../../runtime/core/log.h"
#include "../peer_pid.h"
#include "../transport.h"
#include "shm_file.h"

#define LINE 64
#define SEG_MAGIC 0x5354524154415032ull /* "STRATAP2" */

enum { C_EAGER = 1, C_RTS, C_FRAG_FIRST, C_FRAG, C_ABORT };

/* completion word = generation << 4 | state. A withdrawn message says why its sender gave
 * up: the _PEER states when a dead peer failed the sender's call, so the failure reaches
 * the receiver as STRATA_ERR_PEER_FAILED, not as a transport error of its own. */
enum { F_FREE = 0, F_OPEN = 1, F_READING = 2, F_DONE = 3, F_CANCELLED = 4, F_ABANDONED = 5,
       F_REJ_SIZE = 6, F_REJ_READ = 7, F_CANCELLED_PEER = 8, F_ABANDONED_PEER = 9 };
#define FIN_WORD(gen, st) (((uint64_t)(gen) << 4) | (uint64_t)(st))
#define FIN_STATE(w) ((int)((w) & 15u))

/* The error a receiver reports for a sender that gave up for the reason why. */
static int gave_up(int why) {
  return why == (int)STRATA_ERR_PEER_FAILED ? -(int)STRATA_ERR_PEER_FAILED : -(int)STRATA_ERR_TRANSPORT;
}

typedef struct cell_hdr {
  _Atomic uint64_t seq; /* ticket + 1 once the cell is written */
  uint64_t tag;
  uint64_t total;
  uint64_t raddr;
  uint64_t gen;         /* RTS: completion word generation */
  uint32_t type;
  uint32_t len;
  int32_t src;          /* local index of the writer */
  int32_t pid;
  uint32_t fin;         /* RTS: completion word index */
} cell_hdr_t;

/* Segment: header line, then per local rank a block:
 *   line 0: pid (int32), the address of the CMA probe variable (u64 at +8), the pid's
 *           domain (u64 at +16: strata_pid_domain)
 *   line 1: inbox head (producers' tickets), line 2: inbox tail (consumer)
 *   nfin completion words, padded to a line, then ncell cells. */
typedef struct seg_hdr {
  uint64_t magic;
  uint32_t L, ncell, nfin, pad_;
  uint64_t cell_size, block_size;
} seg_hdr_t;

typedef struct umsg {
  struct umsg *next;
  uint64_t tag;
  int type;
  size_t total, got;
  uint64_t raddr, gen;
  uint32_t fin;
  int pid;
  int aborted;                      /* a cut stream: the error its receive gets */
  strata_treq_t *waiter;
  char *data;
} umsg_t;

typedef struct shm_peer {
  /* outgoing: me -> peer */
  strata_treq_t *sendq, *sendq_tail; /* not yet fully written, in order */
  int owe_abort;                     /* a half-written fragment stream was cancelled: why */
  int pending;                       /* on the pending-output list */
  /* incoming: peer -> me */
  strata_treq_t *posted, *posted_tail;
  umsg_t *unexp, *unexp_tail;
  strata_treq_t *stream_req; /* FRAG stream into a posted receive */
  umsg_t *stream_msg;        /* or into an unexpected message */
  size_t stream_skip;        /* or bytes still to discard (its receive was cancelled) */
} shm_peer_t;

typedef struct shm_tp {
  strata_transport_t base;
  int L, me;             /* local ranks, my local index */
  int *local_world;      /* local index -> world rank (sorted) */
  shm_peer_t *peer;
  char *seg;
  size_t seg_size, block_size, cell_size, payload;
  uint32_t ncell, nfin;
  uint64_t rtail;        /* my inbox: next ticket to read */
  int cma;
  uint64_t pid_domain;   /* strata_pid_domain() of this process: peers with another are not judged by pid */
  int *pend, npend;      /* peers with output waiting */
  strata_treq_t *fin_wait; /* ready-to-send written, waiting for the receiver */
  uint32_t *fin_free;    /* free completion words (stack) */
  uint32_t nfin_free;
  uint64_t *fin_gen;     /* generation last used per word */
  char name[96];
  const uint32_t *host_of; /* world rank -> host (the context's) */
  uint32_t my_host;
  int world_size;
} shm_tp_t;

static char *block(shm_tp_t *t, int j) { return t->seg + LINE + (size_t)j * t->block_size; }
static _Atomic int32_t *seg_pid(shm_tp_t *t, int j) { return (_Atomic int32_t *)block(t, j); }
static uint64_t *seg_pid_domain(shm_tp_t *t, int j) { return (uint64_t *)(block(t, j) + 16); }
static volatile uint64_t *seg_probe(shm_tp_t *t, int j) { return (volatile uint64_t *)(block(t, j) + 8); }
static _Atomic uint64_t *inbox_head(shm_tp_t *t, int j) { return (_Atomic uint64_t *)(block(t, j) + LINE); }
static _Atomic uint64_t *inbox_tail(shm_tp_t *t, int j) { return (_Atomic uint64_t *)(block(t, j) + 2 * LINE); }
static _Atomic uint64_t *fin_word(shm_tp_t *t, int j, uint32_t k) {
  return (_Atomic uint64_t *)(block(t, j) + 3 * LINE) + k;
}
static size_t fin_bytes(uint32_t nfin) { return ((size_t)nfin * 8 + LINE - 1) & ~(size_t)(LINE - 1); }
static char *inbox_cell(shm_tp_t *t, int j, uint64_t ticket) {
  return block(t, j) + 3 * LINE + fin_bytes(t->nfin) + (size_t)(ticket % t->ncell) * t->cell_size;
}

static void geometry(shm_tp_t *t, int L, uint32_t ncell, size_t payload, uint32_t nfin) {
  t->L = L;
  t->ncell = ncell;
  t->nfin = nfin;
  t->payload = payload;
  t->cell_size = (LINE + payload + LINE - 1) & ~(size_t)(LINE - 1);
  t->block_size = 3 * LINE + fin_bytes(nfin) + (size_t)ncell * t->cell_size;
  t->block_size = (t->block_size + 4095) & ~(size_t)4095; /* ranks' inboxes on their own pages */
  t->seg_size = LINE + (size_t)L * t->block_size;
}

static int local_index(shm_tp_t *t, int world) {
  int lo = 0, hi = t->L - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (t->local_world[mid] == world) return mid;
    if (t->local_world[mid] < world) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

static void complete(strata_treq_t *r, int state) { r->state = state; }

static void mark_pending(shm_tp_t *t, int j) {
  if (!t->peer[j].pending) {
    t->peer[j].pending = 1;
    t->pend[t->npend++] = j;
  }
}

/* ---- writing cells into peer j's inbox ---- */

/* Claim the next free cell of j's inbox, or NULL when it is full. Never waits. */
static char *cell_claim(shm_tp_t *t, int j, uint64_t *ticket) {
  _Atomic uint64_t *head = inbox_head(t, j);
  uint64_t h = atomic_load_explicit(head, memory_order_relaxed);
  for (;;) {
    uint64_t tail = atomic_load_explicit(inbox_tail(t, j), memory_order_acquire);
    if (h - tail >= t->ncell) return NULL;
    if (atomic_compare_exchange_weak_explicit(head, &h, h + 1, memory_order_acq_rel, memory_order_relaxed))
      break;
  }
  *ticket = h;
  char *c = inbox_cell(t, j, h);
  ((cell_hdr_t *)c)->src = t->me;
  return c;
}

static void cell_publish(char *cell, uint64_t ticket) {
  atomic_store_explicit(&((cell_hdr_t *)cell)->seq, ticket + 1, memory_order_release);
}

static void fin_release(shm_tp_t *t, uint32_t k) { t->fin_free[t->nfin_free++] = k; }

/* Push as much of peer j's pending output as fits. */
static int push_sends(shm_tp_t *t, int j) {
  shm_peer_t *p = &t->peer[j];
  int moved = 0;
  uint64_t tk;
  if (p->owe_abort) {
    char *c = cell_claim(t, j, &tk);
    if (!c) return 0;
    cell_hdr_t *h = (cell_hdr_t *)c;
    h->type = C_ABORT;
    h->len = 0;
    h->total = (uint64_t)p->owe_abort; /* why the stream was cut */
    cell_publish(c, tk);
    p->owe_abort = 0;
    moved++;
  }
  while (p->sendq) {
    strata_treq_t *r = p->sendq;
    int rts = r->len > t->payload && t->cma && r->off == 0;
    if (rts && !t->nfin_free) break; /* every completion word is out: wait for one */
    char *c = cell_claim(t, j, &tk);
    if (!c) break;
    cell_hdr_t *h = (cell_hdr_t *)c;
    h->tag = r->tag;
    h->total = r->len;
    if (r->len <= t->payload && r->off == 0) {
      h->type = C_EAGER;
      h->len = (uint32_t)r->len;
      if (r->len) memcpy(c + LINE, r->buf, r->len);
      cell_publish(c, tk);
      p->sendq = r->next;
      complete(r, 1);
    } else if (rts) {
      uint32_t k = t->fin_free[--t->nfin_free];
      uint64_t gen = ++t->fin_gen[k];
      atomic_store_explicit(fin_word(t, t->me, k), FIN_WORD(gen, F_OPEN), memory_order_release);
      h->type = C_RTS;
      h->len = 0;
      h->raddr = (uint64_t)(uintptr_t)r->buf;
      h->fin = k;
      h->gen = gen;
      h->pid = (int32_t)getpid();
      cell_publish(c, tk);
      r->aux = k;
      p->sendq = r->next;
      r->next = t->fin_wait;
      t->fin_wait = r;
    } else {
      size_t n = r->len - r->off < t->payload ? r->len - r->off : t->payload;
      h->type = r->off == 0 ? C_FRAG_FIRST : C_FRAG;
      h->len = (uint32_t)n;
      memcpy(c + LINE, (char *)r->buf + r->off, n);
      cell_publish(c, tk);
      r->off += n;
      if (r->off == r->len) {
        p->sendq = r->next;
        complete(r, 1);
      }
    }
    moved++;
  }
  if (!p->sendq) p->sendq_tail = NULL;
  return moved;
}

/* Large sends whose receiver has finished (or refused) the read. */
static int check_fins(shm_tp_t *t) {
  int moved = 0;
  strata_treq_t **pp = &t->fin_wait;
  while (*pp) {
    strata_treq_t *r = *pp;
    uint32_t k = (uint32_t)r->aux;
    uint64_t w = atomic_load_explicit(fin_word(t, t->me, k), memory_order_acquire);
    int st = FIN_STATE(w);
    if (st == F_OPEN || st == F_READING) { pp = &r->next; continue; }
    *pp = r->next;
    r->next = NULL;
    fin_release(t, k);
    if (st == F_DONE) complete(r, 1);
    else if (st == F_REJ_SIZE) complete(r, -(int)STRATA_ERR_INVALID_USAGE);
    else complete(r, -(int)STRATA_ERR_TRANSPORT);
    moved++;
  }
  return moved;
}

/* ---- receiving ---- */

static int cma_read(int pid, uint64_t raddr, void *dst, size_t len) {
  size_t done = 0;
  while (done < len) {
    struct iovec l = {(char *)dst + done, len - done};
    struct iovec r = {(void *)(uintptr_t)(raddr + done), len - done};
    ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (n <= 0) {
      SLOG_WARN("shm: process_vm_readv from pid %d failed: %s", pid, strerror(errno));
      return -1;
    }
    done += (size_t)n;
  }
  return 0;
}

/* Read a large message announced by local rank j into dst (len bytes expected); returns
 * the request state: 1, or a negative error. The sender learns the outcome from its word. */
static int rts_read(shm_tp_t *t, int j, const umsg_t *m, void *dst, size_t len, uint64_t tag) {
  _Atomic uint64_t *w = fin_word(t, j, m->fin);
  uint64_t open = FIN_WORD(m->gen, F_OPEN);
  if (m->total != len) {
    SLOG_WARN("shm: message of %zu bytes from local rank %d for a receive of %zu bytes (tag %llx): "
              "mismatched calls?", m->total, j, len, (unsigned long long)tag);
    atomic_compare_exchange_strong(w, &open, FIN_WORD(m->gen, F_REJ_SIZE));
    return -(int)STRATA_ERR_INVALID_USAGE;
  }
  if (!atomic_compare_exchange_strong(w, &open, FIN_WORD(m->gen, F_READING))) {
    SLOG_WARN("shm: local rank %d withdrew a %zu-byte message (tag %llx): its call failed", j, len,
              (unsigned long long)tag);
    return gave_up(FIN_STATE(open) == F_CANCELLED_PEER ? (int)STRATA_ERR_PEER_FAILED : 0);
  }
  int rc = cma_read(m->pid, m->raddr, dst, len);
  uint64_t reading = FIN_WORD(m->gen, F_READING);
  if (!atomic_compare_exchange_strong(w, &reading, FIN_WORD(m->gen, rc ? F_REJ_READ : F_DONE))) {
    SLOG_WARN("shm: local rank %d abandoned a %zu-byte message while it was read (tag %llx)", j, len,
              (unsigned long long)tag);
    return gave_up(FIN_STATE(reading) == F_ABANDONED_PEER ? (int)STRATA_ERR_PEER_FAILED : 0);
  }
  return rc ? -(int)STRATA_ERR_TRANSPORT : 1;
}

static strata_treq_t *take_posted(shm_peer_t *p, uint64_t tag) {
  strata_treq_t *prev = NULL;
  for (strata_treq_t *r = p->posted; r; prev = r, r = r->next) {
    if (r->tag != tag) continue;
    if (prev) prev->next = r->next;
    else p->posted = r->next;
    if (p->posted_tail == r) p->posted_tail = prev;
    r->next = NULL;
    return r;
  }
  return NULL;
}

static int size_ok(strata_treq_t *r, size_t total, int j) {
  if (total == r->len) return 1;
  SLOG_WARN("shm: message of %zu bytes from local rank %d for a receive of %zu bytes (tag %llx): "
            "mismatched calls?", total, j, r->len, (unsigned long long)r->tag);
  complete(r, -(int)STRATA_ERR_INVALID_USAGE);
  return 0;
}

static void unexp_append(shm_peer_t *p, umsg_t *m) {
  m->next = NULL;
  if (p->unexp_tail) p->unexp_tail->next = m;
  else p->unexp = m;
  p->unexp_tail = m;
}

static void unexp_remove(shm_peer_t *p, umsg_t *m) {
  umsg_t *prev = NULL;
  for (umsg_t *x = p->unexp; x; prev = x, x = x->next)
    if (x == m) {
      if (prev) prev->next = m->next;
      else p->unexp = m->next;
      if (p->unexp_tail == m) p->unexp_tail = prev;
      return;
    }
}

/* An unfinished fragment stream from j ends early (an abort cell, or a new stream). */
static void stream_abort(shm_peer_t *p, int j, int why) {
  if (p->stream_req) {
    SLOG_WARN("shm: local rank %d abandoned a fragment stream (its call failed)", j);
    complete(p->stream_req, gave_up(why));
    p->stream_req = NULL;
  }
  if (p->stream_msg) {
    umsg_t *m = p->stream_msg;
    p->stream_msg = NULL;
    if (m->waiter) {
      complete(m->waiter, gave_up(why));
      unexp_remove(p, m);
      free(m->data);
      free(m);
    } else {
      m->aborted = gave_up(why); /* a later receive of it fails so */
    }
  }
  p->stream_skip = 0;
}

/* Handle one cell from local rank j. Returns 0 when it must be retried (out of memory). */
static int handle_cell(shm_tp_t *t, const cell_hdr_t *h, const char *pl) {
  int j = h->src;
  if (j < 0 || j >= t->L || j == t->me) {
    SLOG_WARN("shm: cell from an unknown local rank %d dropped", j);
    return 1;
  }
  shm_peer_t *p = &t->peer[j];
  if (h->len > t->payload || (h->type == C_EAGER && h->len != h->total)) {
    SLOG_WARN("shm: malformed cell (type %u, %u bytes of %llu) from local rank %d dropped", h->type, h->len,
              (unsigned long long)h->total, j);
    if (h->type == C_FRAG_FIRST || h->type == C_FRAG) stream_abort(p, j, 0);
    return 1;
  }
  switch (h->type) {
  case C_EAGER: {
    strata_treq_t *r = take_posted(p, h->tag);
    if (r) {
      if (size_ok(r, h->total, j)) {
        if (h->len) memcpy(r->buf, pl, h->len);
        complete(r, 1);
      }
      return 1;
    }
    umsg_t *m = calloc(1, sizeof *m);
    char *d = h->len ? malloc(h->len) : NULL;
    if (!m || (h->len && !d)) { free(m); free(d); return 0; }
    m->tag = h->tag; m->type = C_EAGER; m->total = m->got = h->len; m->data = d;
    if (h->len) memcpy(d, pl, h->len);
    unexp_append(p, m);
    return 1;
  }
  case C_RTS: {
    umsg_t tmp = {0};
    tmp.total = h->total; tmp.raddr = h->raddr; tmp.gen = h->gen; tmp.fin = h->fin; tmp.pid = h->pid;
    if (h->fin >= t->nfin) return 1;
    strata_treq_t *r = take_posted(p, h->tag);
    if (r) {
      complete(r, rts_read(t, j, &tmp, r->buf, r->len, h->tag));
      return 1;
    }
    umsg_t *m = malloc(sizeof *m);
    if (!m) return 0;
    *m = tmp;
    m->tag = h->tag;
    m->type = C_RTS;
    unexp_append(p, m);
    return 1;
  }
  case C_FRAG_FIRST: {
    if (p->stream_req || p->stream_msg || p->stream_skip) stream_abort(p, j, 0);
    if (h->len > h->total) return 1;
    strata_treq_t *r = take_posted(p, h->tag);
    if (r) {
      if (size_ok(r, h->total, j)) {
        memcpy(r->buf, pl, h->len);
        r->off = h->len;
        p->stream_req = r;
        if (r->off == r->len) { complete(r, 1); p->stream_req = NULL; }
      } else {
        p->stream_skip = h->total - h->len; /* the rest of it goes nowhere */
      }
      return 1;
    }
    umsg_t *m = calloc(1, sizeof *m);
    char *d = malloc(h->total ? h->total : 1);
    if (!m || !d) { /* no memory for it: drop it whole (its receive will fail by timeout), do not stall the inbox */
      SLOG_WARN("shm: no memory for a %llu-byte unexpected message from local rank %d: dropped",
                (unsigned long long)h->total, j);
      free(m);
      free(d);
      p->stream_skip = h->total - h->len;
      return 1;
    }
    m->tag = h->tag; m->type = C_FRAG; m->total = h->total; m->data = d;
    memcpy(d, pl, h->len);
    m->got = h->len;
    if (m->got < m->total) p->stream_msg = m;
    unexp_append(p, m);
    return 1;
  }
  case C_FRAG: {
    if (p->stream_req) {
      strata_treq_t *r = p->stream_req;
      if (h->len > r->len - r->off) { stream_abort(p, j, 0); return 1; }
      memcpy((char *)r->buf + r->off, pl, h->len);
      r->off += h->len;
      if (r->off == r->len) { complete(r, 1); p->stream_req = NULL; }
    } else if (p->stream_msg) {
      umsg_t *m = p->stream_msg;
      if (h->len > m->total - m->got) { stream_abort(p, j, 0); return 1; }
      memcpy(m->data + m->got, pl, h->len);
      m->got += h->len;
      if (m->got == m->total) {
        p->stream_msg = NULL;
        if (m->waiter) { /* a receive attached while it streamed */
          memcpy(m->waiter->buf, m->data, m->total);
          complete(m->waiter, 1);
          unexp_remove(p, m);
          free(m->data);
          free(m);
        }
      }
    } else if (p->stream_skip) {
      p->stream_skip = h->len < p->stream_skip ? p->stream_skip - h->len : 0;
    }
    return 1;
  }
  case C_ABORT:
    stream_abort(p, j, (int)h->total);
    return 1;
  default:
    SLOG_WARN("shm: cell of unknown type %u from local rank %d dropped", h->type, j);
    return 1;
  }
}

static int poll_inbox(shm_tp_t *t) {
  int moved = 0;
  for (;;) {
    char *c = inbox_cell(t, t->me, t->rtail);
    cell_hdr_t *h = (cell_hdr_t *)c;
    if (atomic_load_explicit(&h->seq, memory_order_acquire) != t->rtail + 1) break;
    if (!handle_cell(t, h, c + LINE)) break; /* out of memory: retry later */
    t->rtail++;
    atomic_store_explicit(inbox_tail(t, t->me), t->rtail, memory_order_release);
    moved++;
  }
  return moved;
}

/* ---- ops ---- */

static strata_result_t shm_isend(strata_transport_t *tp, int peer, uint64_t tag, const void *buf,
                                 size_t len, strata_treq_t *r) {
  shm_tp_t *t = (shm_tp_t *)tp;
  int j = local_index(t, peer);
  if (j < 0 || j == t->me) return STRATA_ERR_INTERNAL;
  r->peer = j;
  r->tag = tag;
  r->buf = (void *)buf;
  r->len = len;
  r->off = 0;
  r->next = NULL;
  r->state = 0;
  shm_peer_t *p = &t->peer[j];
  if (p->sendq_tail) p->sendq_tail->next = r;
  else p->sendq = r;
  p->sendq_tail = r;
  push_sends(t, j);
  if (p->sendq || p->owe_abort) mark_pending(t, j);
  return STRATA_SUCCESS;
}

static strata_result_t shm_irecv(strata_transport_t *tp, int peer, uint64_t tag, void *buf,
                                 size_t len, strata_treq_t *r) {
  shm_tp_t *t = (shm_tp_t *)tp;
  int j = local_index(t, peer);
  if (j < 0 || j == t->me) return STRATA_ERR_INTERNAL;
  shm_peer_t *p = &t->peer[j];
  r->peer = j;
  r->tag = tag;
  r->buf = buf;
  r->len = len;
  r->off = 0;
  r->next = NULL;
  r->state = 0;
  poll_inbox(t);
  for (umsg_t *m = p->unexp; m; m = m->next) {
    if (m->tag != tag || m->waiter) continue;
    if (m->type == C_RTS) {
      complete(r, rts_read(t, j, m, buf, len, tag));
    } else if (!size_ok(r, m->total, j)) {
      /* failed; the message is dropped, and the rest of it if it is still streaming in */
      if (p->stream_msg == m) {
        p->stream_msg = NULL;
        p->stream_skip = m->total - m->got;
      }
    } else if (m->aborted) {
      complete(r, m->aborted);
    } else if (m->got < m->total) { /* still streaming in */
      m->waiter = r;
      return STRATA_SUCCESS;
    } else {
      if (m->total) memcpy(buf, m->data, m->total);
      complete(r, 1);
    }
    unexp_remove(p, m);
    free(m->data);
    free(m);
    return STRATA_SUCCESS;
  }
  if (p->posted_tail) p->posted_tail->next = r;
  else p->posted = r;
  p->posted_tail = r;
  return STRATA_SUCCESS;
}

static int shm_progress(strata_transport_t *tp) {
  shm_tp_t *t = (shm_tp_t *)tp;
  int moved = poll_inbox(t);
  for (int k = 0; k < t->npend;) {
    int j = t->pend[k];
    shm_peer_t *p = &t->peer[j];
    moved += push_sends(t, j);
    if (!p->sendq && !p->owe_abort) {
      p->pending = 0;
      t->pend[k] = t->pend[--t->npend];
    } else {
      k++;
    }
  }
  if (t->fin_wait) moved += check_fins(t);
  return moved;
}

static int unlink_req(strata_treq_t **head, strata_treq_t **tail, strata_treq_t *r) {
  strata_treq_t *prev = NULL;
  for (strata_treq_t *x = *head; x; prev = x, x = x->next)
    if (x == r) {
      if (prev) prev->next = x->next;
      else *head = x->next;
      if (tail && *tail == x) *tail = prev;
      return 1;
    }
  return 0;
}

/* After cancel returns, nothing of the transport refers to r or reads or writes its buffer:
 * a receive is forgotten (a fragment stream still coming is discarded), a large send is
 * withdrawn (the receiver's read fails instead of seeing a reused buffer), a half-written
 * fragment stream is cut off with an abort cell that fails the receiver's receive. */
static void shm_cancel(strata_transport_t *tp, strata_treq_t *r, strata_result_t why) {
  const int peer = why == STRATA_ERR_PEER_FAILED;
  shm_tp_t *t = (shm_tp_t *)tp;
  if (r->peer < 0 || r->peer >= t->L || r->state != 0) return;
  shm_peer_t *p = &t->peer[r->peer];
  if (unlink_req(&p->posted, &p->posted_tail, r)) return;
  if (p->stream_req == r) {
    p->stream_req = NULL;
    p->stream_skip = r->len - r->off;
    return;
  }
  for (umsg_t *m = p->unexp; m; m = m->next)
    if (m->waiter == r) { m->waiter = NULL; return; }
  if (unlink_req(&t->fin_wait, NULL, r)) {
    uint32_t k = (uint32_t)r->aux;
    _Atomic uint64_t *w = fin_word(t, t->me, k);
    uint64_t gen = t->fin_gen[k], x = FIN_WORD(gen, F_OPEN);
    if (!atomic_compare_exchange_strong(w, &x, FIN_WORD(gen, peer ? F_CANCELLED_PEER : F_CANCELLED))) {
      x = FIN_WORD(gen, F_READING);
      atomic_compare_exchange_strong(w, &x, FIN_WORD(gen, peer ? F_ABANDONED_PEER : F_ABANDONED));
    }
    fin_release(t, k);
    return;
  }
  if (p->sendq == r && r->off > 0) {
    p->owe_abort = peer ? (int)STRATA_ERR_PEER_FAILED : (int)STRATA_ERR_TRANSPORT;
    mark_pending(t, r->peer);
  }
  unlink_req(&p->sendq, &p->sendq_tail, r);
}

static strata_result_t shm_alive(strata_transport_t *tp, int peer) {
  shm_tp_t *t = (shm_tp_t *)tp;
  int j = local_index(t, peer);
  if (j < 0) return STRATA_SUCCESS;
  int pid = atomic_load(seg_pid(t, j)); /* (its pid is written after its domain) */
  if (*seg_pid_domain(t, j) != t->pid_domain) return STRATA_SUCCESS; /* another pid namespace: not ours to judge */
  return strata_pid_dead(pid) ? STRATA_ERR_PEER_FAILED : STRATA_SUCCESS;
}

static void shm_destroy(strata_transport_t *tp) {
  shm_tp_t *t = (shm_tp_t *)tp;
  for (int j = 0; t->peer && j < t->L; j++) {
    umsg_t *m = t->peer[j].unexp;
    while (m) {
      umsg_t *n = m->next;
      free(m->data);
      free(m);
      m = n;
    }
  }
  if (t->seg) munmap(t->seg, t->seg_size);
  free(t->peer);
  free(t->local_world);
  free(t->pend);
  free(t->fin_free);
  free(t->fin_gen);
  free(t);
}

static int shm_reaches(strata_transport_t *tp, int peer) {
  shm_tp_t *t = (shm_tp_t *)tp;
  return peer >= 0 && peer < t->world_size && t->host_of[peer] == t->my_host;
}

static const strata_transport_ops_t shm_ops = {"shm", STRATA_TP_SHARED_MEMORY, shm_reaches, shm_isend, shm_irecv,
                                               shm_progress, shm_cancel, shm_alive, shm_destroy, NULL, NULL};

static volatile uint64_t cma_probe_value = 0x5354524154414d41ull;

/* The leader creates the segment, shrinking the inboxes when /dev/shm is short of space:
 * 32 cells of the eager size, then 8, then 4 cells of 1 KiB. Geometry goes in the header;
 * the others take it from there, so every rank of the host agrees. */
static int create_segment(shm_tp_t *t, int L, size_t eager) {
  const strata_config_t *cfg = strata_config();
  struct { uint32_t ncell; size_t payload; } tries[] = {
      {(uint32_t)cfg->shm_cells, eager}, {8, eager}, {4, eager < 1024 - LINE ? eager : 1024 - LINE}};
  int err = 0;
  for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
    geometry(t, L, tries[i].ncell, tries[i].payload, 256);
    shm_unlink(t->name);
    t->seg = strata_shm_file_create(t->name, t->seg_size, &err);
    if (t->seg) {
      seg_hdr_t *sh = (seg_hdr_t *)t->seg;
      sh->L = (uint32_t)L; sh->ncell = t->ncell; sh->nfin = t->nfin;
      sh->cell_size = t->cell_size; sh->block_size = t->block_size;
      atomic_thread_fence(memory_order_release);
      sh->magic = SEG_MAGIC;
      if (i) SLOG_WARN("shm: /dev/shm is short of space: inboxes of %u x %zu B cells (%zu B for %d ranks)",
                       t->ncell, t->cell_size, t->seg_size, L);
      return 0;
    }
    if (err != ENOSPC && err != ENOMEM && err != EFBIG) break;
  }
  SLOG_WARN("shm: cannot create %s (%zu B): %s; enlarge /dev/shm or set STRATA_TRANSPORTS=ucx",
            t->name, t->seg_size, strerror(err));
  return -1;
}

static int attach_segment(shm_tp_t *t, int L) {
  seg_hdr_t sh;
  if (strata_shm_file_read(t->name, &sh, sizeof sh) != 0 || sh.magic != SEG_MAGIC || sh.L != (uint32_t)L ||
      sh.ncell == 0 || sh.nfin == 0 || sh.cell_size <= LINE)
    return -1;
  geometry(t, L, sh.ncell, sh.cell_size - LINE, sh.nfin);
  if (t->cell_size != sh.cell_size || t->block_size != sh.block_size) return -1;
  int err = 0;
  t->seg = strata_shm_file_attach(t->name, t->seg_size, &err);
  return t->seg ? 0 : -1;
}

strata_result_t strata_shm_create(const strata_tp_init_t *in, strata_transport_t **out) {
  const strata_config_t *cfg = strata_config();
  shm_tp_t *t = calloc(1, sizeof *t);
  if (!t) return STRATA_ERR_SYSTEM;
  t->base.ops = &shm_ops;
  t->base.name = "shm";
  t->host_of = in->host_of;
  t->my_host = in->my_host;
  t->world_size = in->world_size;
  int L = 0, leader = -1;
  for (int w = 0; w < in->world_size; w++)
    if (in->host_of[w] == in->my_host) L++;
  t->L = L;
  t->local_world = malloc((size_t)L * sizeof(int));
  t->peer = calloc((size_t)L, sizeof *t->peer);
  t->pend = malloc((size_t)L * sizeof(int));
  int *ok = calloc((size_t)in->world_size, sizeof(int));
  if (!t->local_world || !t->peer || !t->pend || !ok) { free(ok); shm_destroy(&t->base); return STRATA_ERR_SYSTEM; }
  for (int w = 0, k = 0; w < in->world_size; w++)
    if (in->host_of[w] == in->my_host) {
      if (w == in->world_rank) t->me = k;
      if (leader < 0) leader = w;
      t->local_world[k++] = w;
    }
  snprintf(t->name, sizeof t->name, "/strata-%016llx-p2p-%d", (unsigned long long)in->key, leader);
  strata_result_t orc;
  /* everyone learns whether the leaders made their segments, then whether all mapped */
  ok[in->world_rank] = t->me == 0 ? create_segment(t, L, cfg->eager_max) == 0 : 1;
  orc = in->oob->allgather(in->oob, ok, sizeof(int));
  for (int w = 0; orc == STRATA_SUCCESS && w < in->world_size; w++)
    if (!ok[w]) orc = STRATA_ERR_SYSTEM;
  if (orc == STRATA_SUCCESS && t->me != 0 && attach_segment(t, L) != 0) {
    SLOG_WARN("shm: cannot attach to %s", t->name);
    t->seg = NULL;
  }
  if (orc == STRATA_SUCCESS) {
    if (t->seg) {
      *seg_probe(t, t->me) = (uint64_t)(uintptr_t)&cma_probe_value;
      *seg_pid_domain(t, t->me) = t->pid_domain = strata_pid_domain();
      atomic_store(seg_pid(t, t->me), (int32_t)getpid());
    }
    /* everyone mapped (and wrote its pid): the name can go, nothing is left behind on a crash */
    ok[in->world_rank] = t->seg != NULL;
    orc = in->oob->allgather(in->oob, ok, sizeof(int));
    for (int w = 0; orc == STRATA_SUCCESS && w < in->world_size; w++)
      if (!ok[w]) orc = STRATA_ERR_SYSTEM;
  }
  if (t->me == 0 && t->seg) shm_unlink(t->name);
  if (orc != STRATA_SUCCESS) {
    free(ok);
    shm_destroy(&t->base);
    return orc;
  }
  t->fin_free = malloc((size_t)t->nfin * sizeof *t->fin_free);
  t->fin_gen = calloc((size_t)t->nfin, sizeof *t->fin_gen);
  if (!t->fin_free || !t->fin_gen) { free(ok); shm_destroy(&t->base); return STRATA_ERR_SYSTEM; }
  for (uint32_t k = 0; k < t->nfin; k++) t->fin_free[t->nfin_free++] = t->nfin - 1 - k;
  /* can we read our neighbours' memory (CMA)? ptrace rules or containers may forbid it */
  int cma = cfg->cma;
  if (cma && L > 1) {
    int nb = (t->me + 1) % L;
    uint64_t v = 0;
    /* the neighbour published where its probe variable lives (addresses differ: ASLR) */
    uint64_t addr = *seg_probe(t, nb);
    struct iovec l = {&v, sizeof v}, r = {(void *)(uintptr_t)addr, sizeof v};
    int pid = atomic_load(seg_pid(t, nb));
    /* a pid of another pid namespace names someone else here (even this very process) */
    ssize_t n = *seg_pid_domain(t, nb) == t->pid_domain ? process_vm_readv(pid, &l, 1, &r, 1, 0) : -1;
    cma = n == (ssize_t)sizeof v && v == cma_probe_value;
  }
  ok[in->world_rank] = cma;
  orc = in->oob->allgather(in->oob, ok, sizeof(int));
  t->cma = orc == STRATA_SUCCESS;
  for (int w = 0; w < in->world_size; w++)
    if (in->host_of[w] == in->my_host && !ok[w]) t->cma = 0;
  free(ok);
  if (orc != STRATA_SUCCESS) { shm_destroy(&t->base); return orc; }
  SLOG_INFO("shm: %d local ranks, inbox %u x %zu B cells per rank (%zu B segment), large messages by %s",
            L, t->ncell, t->cell_size, t->seg_size, t->cma ? "CMA (process_vm_readv)" : "fragments");
  *out = &t->base;
  return STRATA_SUCCESS;
}
