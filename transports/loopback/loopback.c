#include "loopback.h"

#include <stdlib.h>
#include <string.h>

#include "../../runtime/core/log.h"

typedef struct lb_msg {
  struct lb_msg *next;
  int src;
  uint64_t tag;
  size_t len;
  const void *ref;      /* rendezvous: the sender's buffer, read when matched */
  strata_treq_t *sreq;  /* rendezvous: the send, completed when matched */
  char data[];
} lb_msg_t;

struct lb_hub {
  int n;
  int rendezvous; /* a send completes only once a receive has matched it */
  lb_msg_t **unexp;       /* per destination */
  strata_treq_t **posted; /* per destination; r->peer = source */
  struct lb_tp *tps;
};

typedef struct lb_tp {
  strata_transport_t base;
  lb_hub_t *hub;
  int me;
} lb_tp_t;

static strata_result_t deliver(strata_treq_t *r, const void *data, size_t len) {
  if (len != r->len) {
    SLOG_WARN("loopback: message of %zu bytes for a receive of %zu (tag %llx)", len, r->len,
              (unsigned long long)r->tag);
    r->state = -(int)STRATA_ERR_INTERNAL;
    return STRATA_ERR_INTERNAL;
  }
  if (len) memcpy(r->buf, data, len);
  r->state = 1;
  return STRATA_SUCCESS;
}

static strata_result_t lb_isend(strata_transport_t *t, int peer, uint64_t tag, const void *buf,
                                size_t len, strata_treq_t *r) {
  lb_tp_t *x = (lb_tp_t *)t;
  lb_hub_t *h = x->hub;
  for (strata_treq_t **pp = &h->posted[peer]; *pp; pp = &(*pp)->next) {
    strata_treq_t *rr = *pp;
    if (rr->peer == x->me && rr->tag == tag) {
      *pp = rr->next;
      strata_result_t rc = deliver(rr, buf, len);
      r->state = rc == STRATA_SUCCESS ? 1 : -(int)rc;
      return STRATA_SUCCESS;
    }
  }
  lb_msg_t *m = malloc(sizeof *m + (h->rendezvous ? 0 : len));
  if (!m) return STRATA_ERR_SYSTEM;
  m->src = x->me;
  m->tag = tag;
  m->len = len;
  m->ref = NULL;
  m->sreq = NULL;
  if (h->rendezvous) { /* the sender's buffer stays in use until the receiver matches */
    m->ref = buf;
    m->sreq = r;
    r->state = 0;
  } else if (len) {
    memcpy(m->data, buf, len);
  }
  /* append: messages between a pair stay in order */
  m->next = NULL;
  lb_msg_t **pp = &h->unexp[peer];
  while (*pp) pp = &(*pp)->next;
  *pp = m;
  if (!h->rendezvous) r->state = 1; /* buffered */
  return STRATA_SUCCESS;
}

static strata_result_t lb_irecv(strata_transport_t *t, int peer, uint64_t tag, void *buf,
                                size_t len, strata_treq_t *r) {
  lb_tp_t *x = (lb_tp_t *)t;
  lb_hub_t *h = x->hub;
  r->peer = peer;
  r->tag = tag;
  r->buf = buf;
  r->len = len;
  for (lb_msg_t **pp = &h->unexp[x->me]; *pp; pp = &(*pp)->next) {
    lb_msg_t *m = *pp;
    if (m->src == peer && m->tag == tag) {
      *pp = m->next;
      strata_result_t rc = deliver(r, m->ref ? m->ref : m->data, m->len);
      if (m->sreq) m->sreq->state = rc == STRATA_SUCCESS ? 1 : -(int)rc;
      free(m);
      return STRATA_SUCCESS;
    }
  }
  r->next = NULL;
  strata_treq_t **pp = &h->posted[x->me];
  while (*pp) pp = &(*pp)->next;
  *pp = r;
  return STRATA_SUCCESS;
}

static int lb_progress(strata_transport_t *t) {
  (void)t;
  return 0;
}

static void lb_cancel(strata_transport_t *t, strata_treq_t *r, strata_result_t why) {
  (void)why;
  lb_tp_t *x = (lb_tp_t *)t;
  for (strata_treq_t **pp = &x->hub->posted[x->me]; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      return;
    }
  for (int d = 0; d < x->hub->n; d++) /* a rendezvous send not matched yet */
    for (lb_msg_t **pp = &x->hub->unexp[d]; *pp; pp = &(*pp)->next)
      if ((*pp)->sreq == r) {
        lb_msg_t *m = *pp;
        *pp = m->next;
        free(m);
        return;
      }
}

static strata_result_t lb_alive(strata_transport_t *t, int peer) {
  (void)t;
  (void)peer;
  return STRATA_SUCCESS;
}

static void lb_destroy(strata_transport_t *t) { (void)t; }

static int lb_reaches(strata_transport_t *t, int peer) {
  return peer >= 0 && peer < ((lb_tp_t *)t)->hub->n;
}

static const strata_transport_ops_t lb_ops = {"loopback", 0, lb_reaches, lb_isend, lb_irecv, lb_progress,
                                              lb_cancel, lb_alive, lb_destroy, NULL, NULL};

lb_hub_t *strata_lb_hub_create(int n) {
  lb_hub_t *h = calloc(1, sizeof *h);
  h->n = n;
  h->unexp = calloc((size_t)n, sizeof *h->unexp);
  h->posted = calloc((size_t)n, sizeof *h->posted);
  h->tps = calloc((size_t)n, sizeof *h->tps);
  for (int i = 0; i < n; i++) {
    h->tps[i].base.ops = &lb_ops;
    h->tps[i].base.name = "loopback";
    h->tps[i].hub = h;
    h->tps[i].me = i;
  }
  return h;
}

void strata_lb_hub_rendezvous(lb_hub_t *h, int on) { h->rendezvous = on; }

int strata_lb_hub_pending(const lb_hub_t *h) {
  int k = 0;
  for (int i = 0; i < h->n; i++) {
    for (lb_msg_t *m = h->unexp[i]; m; m = m->next) k++;
    for (strata_treq_t *r = h->posted[i]; r; r = r->next) k++;
  }
  return k;
}

void strata_lb_hub_destroy(lb_hub_t *h) {
  for (int i = 0; i < h->n; i++) {
    lb_msg_t *m = h->unexp[i];
    while (m) {
      lb_msg_t *n = m->next;
      free(m);
      m = n;
    }
  }
  free(h->unexp);
  free(h->posted);
  free(h->tps);
  free(h);
}

strata_transport_t *strata_lb_transport(lb_hub_t *h, int rank) { return &h->tps[rank].base; }
