/* shm: point-to-point messages between ranks of one host through POSIX shared memory.
 * One segment per host holds, for every ordered pair of local ranks, a single-producer
 * single-consumer FIFO of cells. Small messages are copied through one cell (eager).
 * Large ones are read by the receiver straight out of the sender's memory with
 * process_vm_readv (CMA, single copy) after a ready-to-send cell; where CMA is not
 * permitted they stream through the FIFO in fragments. Receivers match by (source, tag);
 * messages that arrive before their receive is posted wait in an unexpected queue. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../../runtime/core/config.h"
#include "../../runtime/core/log.h"
#include "../transport.h"

#define LINE 64
#define SEG_MAGIC 0x5354524154414650ull

enum { C_EAGER = 1, C_RTS, C_FIN, C_FRAG_FIRST, C_FRAG };

typedef struct cell_hdr {
  _Atomic uint64_t seq;
  uint64_t tag;
  uint64_t total;
  uint64_t raddr;
  uint64_t cookie;
  uint32_t type;
  uint32_t len;
  int32_t pid;
} cell_hdr_t;

typedef struct umsg {
  struct umsg *next;
  uint64_t tag;
  int type;
  size_t total, got;
  uint64_t raddr, cookie;
  int pid;
  strata_treq_t *waiter;
  char *data;
} umsg_t;

typedef struct shm_peer {
  int world;
  int active;
  /* outgoing: me -> peer */
  uint64_t head, tail_cache;
  strata_treq_t *sendq, *sendq_tail; /* not yet fully written, in order */
  strata_treq_t *fin_wait;           /* RTS written, waiting for FIN */
  uint64_t *fins;
  int nfins, capfins;
  /* incoming: peer -> me */
  uint64_t rtail;
  strata_treq_t *posted, *posted_tail;
  umsg_t *unexp, *unexp_tail;
  strata_treq_t *stream_req; /* FRAG stream into a posted receive */
  umsg_t *stream_msg;        /* or into an unexpected message */
} shm_peer_t;

typedef struct shm_tp {
  strata_transport_t base;
  int L, me;             /* local ranks, my local index */
  int *local_world;      /* local index -> world rank (sorted) */
  shm_peer_t *peer;
  char *seg;
  size_t seg_size;
  int ncell;
  size_t cell_size, payload;
  int cma;
  int *active_list, nactive;
  char name[96];
} shm_tp_t;

static size_t seg_hdr_size(int L) { return LINE + (size_t)L * LINE + (size_t)L * L * LINE; }
static _Atomic int32_t *seg_pid(shm_tp_t *t, int j) { return (_Atomic int32_t *)(t->seg + LINE + (size_t)j * LINE); }
static _Atomic uint64_t *fifo_tail(shm_tp_t *t, int s, int d) {
  return (_Atomic uint64_t *)(t->seg + LINE + (size_t)t->L * LINE + ((size_t)s * t->L + d) * LINE);
}
static char *fifo_cell(shm_tp_t *t, int s, int d, uint64_t idx) {
  size_t pair = (size_t)s * t->L + d;
  return t->seg + seg_hdr_size(t->L) + (pair * (size_t)t->ncell + (idx % (uint64_t)t->ncell)) * t->cell_size;
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

static void activate(shm_tp_t *t, int j) {
  if (!t->peer[j].active) {
    t->peer[j].active = 1;
    t->active_list[t->nactive++] = j;
  }
}

static void complete(strata_treq_t *r, int state) { r->state = state; }

/* ---- writing cells ---- */

/* Room for one more cell to peer j? */
static int has_room(shm_tp_t *t, int j) {
  shm_peer_t *p = &t->peer[j];
  if (p->head - p->tail_cache < (uint64_t)t->ncell) return 1;
  p->tail_cache = atomic_load_explicit(fifo_tail(t, t->me, j), memory_order_acquire);
  return p->head - p->tail_cache < (uint64_t)t->ncell;
}

static char *cell_begin(shm_tp_t *t, int j) { return fifo_cell(t, t->me, j, t->peer[j].head); }
static void cell_publish(shm_tp_t *t, int j, char *cell) {
  shm_peer_t *p = &t->peer[j];
  atomic_store_explicit(&((cell_hdr_t *)cell)->seq, p->head + 1, memory_order_release);
  p->head++;
}

/* Push as much of peer j's pending output as fits. */
static int push_sends(shm_tp_t *t, int j) {
  shm_peer_t *p = &t->peer[j];
  int moved = 0;
  while (p->nfins && has_room(t, j)) {
    char *c = cell_begin(t, j);
    cell_hdr_t *h = (cell_hdr_t *)c;
    h->type = C_FIN;
    h->cookie = p->fins[--p->nfins];
    h->len = 0;
    cell_publish(t, j, c);
    moved++;
  }
  while (p->sendq && has_room(t, j)) {
    strata_treq_t *r = p->sendq;
    char *c = cell_begin(t, j);
    cell_hdr_t *h = (cell_hdr_t *)c;
    h->tag = r->tag;
    h->total = r->len;
    if (r->len <= t->payload && r->off == 0) {
      h->type = C_EAGER;
      h->len = (uint32_t)r->len;
      if (r->len) memcpy(c + LINE, r->buf, r->len);
      cell_publish(t, j, c);
      p->sendq = r->next;
      complete(r, 1);
    } else if (t->cma && r->off == 0) {
      h->type = C_RTS;
      h->len = 0;
      h->raddr = (uint64_t)(uintptr_t)r->buf;
      h->cookie = (uint64_t)(uintptr_t)r;
      h->pid = (int32_t)getpid();
      cell_publish(t, j, c);
      p->sendq = r->next;
      r->next = p->fin_wait;
      p->fin_wait = r;
    } else {
      size_t n = r->len - r->off < t->payload ? r->len - r->off : t->payload;
      h->type = r->off == 0 ? C_FRAG_FIRST : C_FRAG;
      h->len = (uint32_t)n;
      memcpy(c + LINE, (char *)r->buf + r->off, n);
      cell_publish(t, j, c);
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

/* ---- receiving ---- */

static int cma_read(shm_tp_t *t, int pid, uint64_t raddr, void *dst, size_t len) {
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
  (void)t;
  return 0;
}

static void queue_fin(shm_tp_t *t, int j, uint64_t cookie) {
  shm_peer_t *p = &t->peer[j];
  if (p->nfins == p->capfins) {
    int nc = p->capfins ? p->capfins * 2 : 16;
    uint64_t *f = realloc(p->fins, (size_t)nc * sizeof *f);
    if (!f) return; /* the sender will time out; nothing else to do */
    p->fins = f;
    p->capfins = nc;
  }
  p->fins[p->nfins++] = cookie;
  push_sends(t, j);
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

static int size_ok(strata_treq_t *r, size_t total) {
  if (total == r->len) return 1;
  SLOG_WARN("shm: message of %zu bytes for a receive of %zu bytes (tag %llx): mismatched calls?",
            total, r->len, (unsigned long long)r->tag);
  complete(r, -(int)STRATA_ERR_INVALID_USAGE);
  return 0;
}

static void unexp_append(shm_peer_t *p, umsg_t *m) {
  m->next = NULL;
  if (p->unexp_tail) p->unexp_tail->next = m;
  else p->unexp = m;
  p->unexp_tail = m;
}

static int poll_peer(shm_tp_t *t, int j) {
  shm_peer_t *p = &t->peer[j];
  int moved = 0;
  for (;;) {
    char *c = fifo_cell(t, j, t->me, p->rtail);
    cell_hdr_t *h = (cell_hdr_t *)c;
    if (atomic_load_explicit(&h->seq, memory_order_acquire) != p->rtail + 1) break;
    char *pl = c + LINE;
    switch (h->type) {
    case C_EAGER: {
      strata_treq_t *r = take_posted(p, h->tag);
      if (r) {
        if (size_ok(r, h->total)) {
          if (h->len) memcpy(r->buf, pl, h->len);
          complete(r, 1);
        }
      } else {
        umsg_t *m = malloc(sizeof *m);
        char *d = h->len ? malloc(h->len) : NULL;
        if (!m || (h->len && !d)) { free(m); free(d); return moved; } /* retry later */
        memset(m, 0, sizeof *m);
        m->tag = h->tag; m->type = C_EAGER; m->total = m->got = h->len; m->data = d;
        if (h->len) memcpy(d, pl, h->len);
        unexp_append(p, m);
      }
      break;
    }
    case C_RTS: {
      strata_treq_t *r = take_posted(p, h->tag);
      if (r) {
        if (size_ok(r, h->total)) {
          int rc = cma_read(t, h->pid, h->raddr, r->buf, h->total);
          complete(r, rc ? -(int)STRATA_ERR_TRANSPORT : 1);
        }
        queue_fin(t, j, h->cookie);
      } else {
        umsg_t *m = malloc(sizeof *m);
        if (!m) return moved;
        memset(m, 0, sizeof *m);
        m->tag = h->tag; m->type = C_RTS; m->total = h->total; m->raddr = h->raddr;
        m->cookie = h->cookie; m->pid = h->pid;
        unexp_append(p, m);
      }
      break;
    }
    case C_FIN: {
      strata_treq_t *prev = NULL;
      for (strata_treq_t *r = p->fin_wait; r; prev = r, r = r->next)
        if ((uint64_t)(uintptr_t)r == h->cookie) {
          if (prev) prev->next = r->next;
          else p->fin_wait = r->next;
          complete(r, 1);
          break;
        }
      break;
    }
    case C_FRAG_FIRST: {
      strata_treq_t *r = take_posted(p, h->tag);
      if (r && size_ok(r, h->total)) {
        memcpy(r->buf, pl, h->len);
        r->off = h->len;
        p->stream_req = r;
        if (r->off == r->len) { complete(r, 1); p->stream_req = NULL; }
      } else if (!r) {
        umsg_t *m = malloc(sizeof *m);
        char *d = malloc(h->total);
        if (!m || !d) { free(m); free(d); return moved; }
        memset(m, 0, sizeof *m);
        m->tag = h->tag; m->type = C_FRAG; m->total = h->total; m->data = d;
        memcpy(d, pl, h->len);
        m->got = h->len;
        p->stream_msg = m;
        unexp_append(p, m);
      }
      break;
    }
    case C_FRAG: {
      if (p->stream_req) {
        strata_treq_t *r = p->stream_req;
        memcpy((char *)r->buf + r->off, pl, h->len);
        r->off += h->len;
        if (r->off == r->len) { complete(r, 1); p->stream_req = NULL; }
      } else if (p->stream_msg) {
        umsg_t *m = p->stream_msg;
        memcpy(m->data + m->got, pl, h->len);
        m->got += h->len;
        if (m->got == m->total) {
          p->stream_msg = NULL;
          if (m->waiter) { /* a receive attached while it streamed */
            strata_treq_t *r = m->waiter;
            memcpy(r->buf, m->data, m->total);
            complete(r, 1);
            /* unlink and free */
            umsg_t **pp = &p->unexp, *prev = NULL;
            while (*pp && *pp != m) { prev = *pp; pp = &(*pp)->next; }
            if (*pp) *pp = m->next;
            if (p->unexp_tail == m) p->unexp_tail = prev;
            free(m->data);
            free(m);
          }
        }
      }
      break;
    }
    default: break;
    }
    p->rtail++;
    atomic_store_explicit(fifo_tail(t, j, t->me), p->rtail, memory_order_release);
    moved++;
  }
  return moved;
}

/* ---- ops ---- */

static strata_result_t shm_isend(strata_transport_t *tp, int peer, uint64_t tag, const void *buf,
                                 size_t len, strata_treq_t *r) {
  shm_tp_t *t = (shm_tp_t *)tp;
  int j = local_index(t, peer);
  if (j < 0) return STRATA_ERR_INTERNAL;
  r->peer = j;
  r->tag = tag;
  r->buf = (void *)buf;
  r->len = len;
  r->off = 0;
  r->next = NULL;
  r->state = 0;
  activate(t, j);
  shm_peer_t *p = &t->peer[j];
  if (p->sendq_tail) p->sendq_tail->next = r;
  else p->sendq = r;
  p->sendq_tail = r;
  push_sends(t, j);
  return STRATA_SUCCESS;
}

static strata_result_t shm_irecv(strata_transport_t *tp, int peer, uint64_t tag, void *buf,
                                 size_t len, strata_treq_t *r) {
  shm_tp_t *t = (shm_tp_t *)tp;
  int j = local_index(t, peer);
  if (j < 0) return STRATA_ERR_INTERNAL;
  shm_peer_t *p = &t->peer[j];
  r->peer = j;
  r->tag = tag;
  r->buf = buf;
  r->len = len;
  r->off = 0;
  r->next = NULL;
  r->state = 0;
  activate(t, j);
  poll_peer(t, j);
  umsg_t *prev = NULL;
  for (umsg_t *m = p->unexp; m; prev = m, m = m->next) {
    if (m->tag != tag || m->waiter) continue;
    if (!size_ok(r, m->total)) return STRATA_SUCCESS;
    if (m->type == C_FRAG && m->got < m->total) { /* still streaming in */
      m->waiter = r;
      return STRATA_SUCCESS;
    }
    if (m->type == C_RTS) {
      int rc = cma_read(t, m->pid, m->raddr, buf, m->total);
      queue_fin(t, j, m->cookie);
      complete(r, rc ? -(int)STRATA_ERR_TRANSPORT : 1);
    } else {
      if (m->total) memcpy(buf, m->data, m->total);
      complete(r, 1);
    }
    if (prev) prev->next = m->next;
    else p->unexp = m->next;
    if (p->unexp_tail == m) p->unexp_tail = prev;
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
  int moved = 0;
  for (int k = 0; k < t->nactive; k++) {
    int j = t->active_list[k];
    shm_peer_t *p = &t->peer[j];
    if (p->sendq || p->nfins) moved += push_sends(t, j);
    moved += poll_peer(t, j);
  }
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

static void shm_cancel(strata_transport_t *tp, strata_treq_t *r) {
  shm_tp_t *t = (shm_tp_t *)tp;
  if (r->peer < 0 || r->peer >= t->L) return;
  shm_peer_t *p = &t->peer[r->peer];
  if (unlink_req(&p->posted, &p->posted_tail, r)) return;
  if (p->stream_req == r) { p->stream_req = NULL; return; }
  if (unlink_req(&p->fin_wait, NULL, r)) return;
  /* a partly written fragment stream cannot be taken back: the peer's receive is
   * abandoned as well once the communicator fails */
  unlink_req(&p->sendq, &p->sendq_tail, r);
  for (umsg_t *m = p->unexp; m; m = m->next)
    if (m->waiter == r) m->waiter = NULL;
}

static strata_result_t shm_alive(strata_transport_t *tp, int peer) {
  shm_tp_t *t = (shm_tp_t *)tp;
  int j = local_index(t, peer);
  if (j < 0) return STRATA_SUCCESS;
  int pid = atomic_load(seg_pid(t, j));
  if (pid <= 0) return STRATA_SUCCESS;
  if (kill(pid, 0) != 0 && errno == ESRCH) return STRATA_ERR_PEER_FAILED;
  /* a killed process stays a zombie until its parent reaps it: it is dead all the same */
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (f) {
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *rp = strrchr(buf, ')');
    if (rp && (rp[2] == 'Z' || rp[2] == 'X')) return STRATA_ERR_PEER_FAILED;
  }
  return STRATA_SUCCESS;
}

static void shm_destroy(strata_transport_t *tp) {
  shm_tp_t *t = (shm_tp_t *)tp;
  for (int j = 0; j < t->L; j++) {
    shm_peer_t *p = &t->peer[j];
    umsg_t *m = p->unexp;
    while (m) {
      umsg_t *n = m->next;
      free(m->data);
      free(m);
      m = n;
    }
    free(p->fins);
  }
  if (t->seg) munmap(t->seg, t->seg_size);
  free(t->peer);
  free(t->local_world);
  free(t->active_list);
  free(t);
}

static const strata_transport_ops_t shm_ops = {"shm", shm_isend, shm_irecv, shm_progress,
                                               shm_cancel, shm_alive, shm_destroy};

static volatile uint64_t cma_probe_value = 0x5354524154414d41ull;

strata_result_t strata_shm_create(const strata_tp_init_t *in, strata_transport_t **out) {
  const strata_config_t *cfg = strata_config();
  shm_tp_t *t = calloc(1, sizeof *t);
  if (!t) return STRATA_ERR_SYSTEM;
  t->base.ops = &shm_ops;
  t->base.name = "shm";
  int L = 0, leader = -1;
  for (int w = 0; w < in->world_size; w++)
    if (in->host_of[w] == in->my_host) L++;
  t->local_world = malloc((size_t)L * sizeof(int));
  t->peer = calloc((size_t)L, sizeof *t->peer);
  t->active_list = malloc((size_t)L * sizeof(int));
  if (!t->local_world || !t->peer || !t->active_list) { shm_destroy(&t->base); return STRATA_ERR_SYSTEM; }
  for (int w = 0, k = 0; w < in->world_size; w++)
    if (in->host_of[w] == in->my_host) {
      if (w == in->world_rank) t->me = k;
      if (leader < 0) leader = w;
      t->peer[k].world = w;
      t->local_world[k++] = w;
    }
  t->L = L;
  t->ncell = 16;
  t->payload = cfg->eager_max;
  t->cell_size = (LINE + t->payload + LINE - 1) & ~(size_t)(LINE - 1);
  t->seg_size = seg_hdr_size(L) + (size_t)L * L * t->ncell * t->cell_size;
  snprintf(t->name, sizeof t->name, "/strata-%016llx-p2p-%d", (unsigned long long)in->key, leader);
  strata_result_t rc = STRATA_SUCCESS;
  int fd = -1;
  if (t->me == 0) {
    shm_unlink(t->name);
    fd = shm_open(t->name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)t->seg_size) != 0) {
      SLOG_WARN("shm: cannot create %s (%zu bytes): %s", t->name, t->seg_size, strerror(errno));
      rc = STRATA_ERR_SYSTEM;
    }
  }
  /* everyone learns whether the leaders made their segments */
  int *ok = calloc((size_t)in->world_size, sizeof(int));
  if (!ok) return STRATA_ERR_SYSTEM;
  ok[in->world_rank] = rc == STRATA_SUCCESS;
  strata_result_t orc = in->oob->allgather(in->oob, ok, sizeof(int));
  if (orc == STRATA_SUCCESS)
    for (int w = 0; w < in->world_size; w++)
      if (!ok[w]) orc = STRATA_ERR_SYSTEM;
  if (orc != STRATA_SUCCESS) {
    if (fd >= 0) { close(fd); shm_unlink(t->name); }
    free(ok);
    shm_destroy(&t->base);
    return orc;
  }
  if (t->me != 0) fd = shm_open(t->name, O_RDWR, 0600);
  if (fd >= 0) {
    t->seg = mmap(NULL, t->seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (t->seg == MAP_FAILED) t->seg = NULL;
  }
  if (t->seg) {
    *(volatile uint64_t *)((char *)seg_pid(t, t->me) + 8) = (uint64_t)(uintptr_t)&cma_probe_value;
    atomic_store(seg_pid(t, t->me), (int32_t)getpid());
  }
  /* everyone mapped (and wrote its pid): the name can go, nothing is left behind on a crash */
  ok[in->world_rank] = t->seg != NULL;
  orc = in->oob->allgather(in->oob, ok, sizeof(int));
  for (int w = 0; orc == STRATA_SUCCESS && w < in->world_size; w++)
    if (!ok[w]) orc = STRATA_ERR_SYSTEM;
  if (t->me == 0) shm_unlink(t->name);
  if (orc != STRATA_SUCCESS) {
    free(ok);
    shm_destroy(&t->base);
    return orc;
  }
  /* can we read our neighbours' memory (CMA)? ptrace rules or containers may forbid it */
  int cma = cfg->cma;
  if (cma && L > 1) {
    int nb = (t->me + 1) % L;
    uint64_t v = 0;
    /* the neighbour published where its probe variable lives (addresses differ: ASLR) */
    uint64_t addr = *(volatile uint64_t *)((char *)seg_pid(t, nb) + 8);
    struct iovec l = {&v, sizeof v}, r = {(void *)(uintptr_t)addr, sizeof v};
    int pid = atomic_load(seg_pid(t, nb));
    ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
    cma = n == (ssize_t)sizeof v && v == cma_probe_value;
  }
  ok[in->world_rank] = cma;
  orc = in->oob->allgather(in->oob, ok, sizeof(int));
  t->cma = orc == STRATA_SUCCESS;
  for (int w = 0; w < in->world_size; w++)
    if (in->host_of[w] == in->my_host && !ok[w]) t->cma = 0;
  free(ok);
  if (orc != STRATA_SUCCESS) { shm_destroy(&t->base); return orc; }
  SLOG_INFO("shm: %d local ranks, FIFO %d x %zu B cells, large messages by %s", L, t->ncell,
            t->cell_size, t->cma ? "CMA (process_vm_readv)" : "fragments");
  *out = &t->base;
  return STRATA_SUCCESS;
}
