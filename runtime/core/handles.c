#include "handles.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "comm.h"

typedef struct slot {
  struct strata_request *req; /* NULL: free */
  uint32_t gen;
  uint32_t next_free;         /* index + 1 of the next free slot, 0 = none */
  int busy;                   /* a thread is inside strata_wait/strata_test with it */
} slot_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t *slots;
static uint32_t nslots, cap, free_head; /* free_head: index + 1 */

static strata_request_t encode(uint32_t i, uint32_t gen) {
  return (strata_request_t)(uintptr_t)(((uint64_t)gen << 32) | ((uint64_t)i + 1));
}

static slot_t *decode(strata_request_t h, uint32_t *idx) {
  uint64_t v = (uint64_t)(uintptr_t)h;
  uint32_t i = (uint32_t)(v & 0xffffffffu), gen = (uint32_t)(v >> 32);
  if (i == 0 || i > nslots) return NULL;
  slot_t *s = &slots[i - 1];
  if (!s->req || s->gen != gen) return NULL;
  *idx = i - 1;
  return s;
}

strata_request_t strata_handle_make(struct strata_request *req) {
  pthread_mutex_lock(&lock);
  uint32_t i;
  if (free_head) {
    i = free_head - 1;
    free_head = slots[i].next_free;
  } else {
    if (nslots == cap) {
      uint32_t nc = cap ? cap * 2 : 64;
      slot_t *n = realloc(slots, (size_t)nc * sizeof *n);
      if (!n) { pthread_mutex_unlock(&lock); return NULL; }
      slots = n;
      cap = nc;
    }
    i = nslots++;
    slots[i].gen = 0;
  }
  slot_t *s = &slots[i];
  s->gen = s->gen + 1 ? s->gen + 1 : 1; /* never 0: a handle is never NULL */
  s->req = req;
  s->next_free = 0;
  s->busy = 0;
  strata_request_t h = encode(i, s->gen);
  req->handle = h;
  pthread_mutex_unlock(&lock);
  return h;
}

struct strata_request *strata_handle_get(strata_request_t h) {
  pthread_mutex_lock(&lock);
  uint32_t i;
  slot_t *s = decode(h, &i);
  struct strata_request *r = s && !s->busy ? s->req : NULL;
  if (r) s->busy = 1; /* a second thread waiting on the same handle is refused */
  pthread_mutex_unlock(&lock);
  return r;
}

void strata_handle_put_back(strata_request_t h) {
  pthread_mutex_lock(&lock);
  uint32_t i;
  slot_t *s = decode(h, &i);
  if (s) s->busy = 0;
  pthread_mutex_unlock(&lock);
}

static void retire_locked(uint32_t i) {
  slots[i].busy = 0;
  slots[i].req->handle = NULL;
  slots[i].req = NULL;
  slots[i].next_free = free_head;
  free_head = i + 1;
}

void strata_handle_retire(strata_request_t h) {
  pthread_mutex_lock(&lock);
  uint32_t i;
  if (decode(h, &i)) retire_locked(i);
  pthread_mutex_unlock(&lock);
}

int strata_handle_retire_comm(const struct strata_comm *comm) {
  int n = 0;
  pthread_mutex_lock(&lock);
  for (uint32_t i = 0; i < nslots; i++)
    if (slots[i].req && slots[i].req->comm == comm) {
      retire_locked(i);
      n++;
    }
  pthread_mutex_unlock(&lock);
  return n;
}
