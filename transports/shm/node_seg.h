/* Node staging segment: per-rank slots in memory shared by every rank of a communicator
 * on one host, used by node plans (shared-memory-native collectives).
 * Layout: a 4 KiB header, then per rank a "done" cache line and nbuf slots;
 * a slot is [put flag u64][red flag u64][data ...], padded to cache lines. */
#ifndef STRATA_NODE_SEG_H
#define STRATA_NODE_SEG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "strata.h"

#define NSEG_HDR 4096
#define NSEG_LINE 64
#define NSEG_DATA_OFF 16

typedef struct strata_node_seg {
  char *base;
  size_t size;
  int nranks, nbuf;
  size_t chunk, slot_stride, rank_stride;
  int shared;        /* mmap'ed from /dev/shm (else heap, for in-process tests) */
  char name[96];
} strata_node_seg_t;

size_t strata_nseg_size(int nranks, int nbuf, size_t chunk);
/* In-process segment (tests, single-rank communicators). */
strata_result_t strata_nseg_init_private(strata_node_seg_t *s, int nranks, int nbuf, size_t chunk);
/* Creator: shm_open + size + map; others: attach by name. */
strata_result_t strata_nseg_create(strata_node_seg_t *s, const char *name, int nranks, int nbuf,
                                   size_t chunk);
strata_result_t strata_nseg_attach(strata_node_seg_t *s, const char *name, int nranks, int nbuf,
                                   size_t chunk);
void strata_nseg_unlink(strata_node_seg_t *s);
void strata_nseg_destroy(strata_node_seg_t *s);

static inline _Atomic uint64_t *nseg_done(const strata_node_seg_t *s, int q) {
  return (_Atomic uint64_t *)(s->base + NSEG_HDR + (size_t)q * s->rank_stride);
}
static inline char *nseg_slot(const strata_node_seg_t *s, int q, int b) {
  return s->base + NSEG_HDR + (size_t)q * s->rank_stride + NSEG_LINE + (size_t)b * s->slot_stride;
}
/* Header lines 1 and 2 (i = 0, 1): the placement probe's ping and pong, used only while no
 * node plan runs (runtime/core/tune_plans.c). */
static inline _Atomic uint64_t *nseg_probe(const strata_node_seg_t *s, int i) {
  return (_Atomic uint64_t *)(s->base + (size_t)(1 + i) * NSEG_LINE);
}
static inline _Atomic uint64_t *nseg_put(char *slot) { return (_Atomic uint64_t *)slot; }
static inline _Atomic uint64_t *nseg_red(char *slot) { return (_Atomic uint64_t *)(slot + 8); }
static inline char *nseg_data(char *slot) { return slot + NSEG_DATA_OFF; }

#endif
