#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "node_seg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runtime/core/log.h"
#include "shm_file.h"

#define NSEG_MAGIC 0x5354524154414e53ull /* "STRATANS" */

static void layout(strata_node_seg_t *s, int nranks, int nbuf, size_t chunk) {
  s->nranks = nranks;
  s->nbuf = nbuf;
  s->chunk = chunk;
  s->slot_stride = (NSEG_DATA_OFF + chunk + NSEG_LINE - 1) & ~(size_t)(NSEG_LINE - 1);
  s->rank_stride = NSEG_LINE + (size_t)nbuf * s->slot_stride;
  /* keep ranks' areas apart by a page so one rank's writes stay in its own pages */
  s->rank_stride = (s->rank_stride + 4095) & ~(size_t)4095;
  s->size = NSEG_HDR + (size_t)nranks * s->rank_stride;
}

size_t strata_nseg_size(int nranks, int nbuf, size_t chunk) {
  strata_node_seg_t s;
  layout(&s, nranks, nbuf, chunk);
  return s.size;
}

strata_result_t strata_nseg_init_private(strata_node_seg_t *s, int nranks, int nbuf, size_t chunk) {
  memset(s, 0, sizeof *s);
  layout(s, nranks, nbuf, chunk);
  s->base = aligned_alloc(4096, s->size);
  if (!s->base) return STRATA_ERR_SYSTEM;
  memset(s->base, 0, s->size);
  return STRATA_SUCCESS;
}

/* Header: magic, then the geometry the creator settled on (attachers take it from here). */
typedef struct nseg_hdr {
  uint64_t magic;
  uint64_t nranks, nbuf, chunk;
} nseg_hdr_t;

strata_result_t strata_nseg_create(strata_node_seg_t *s, const char *name, int nranks, int nbuf,
                                   size_t chunk) {
  /* pages reserved up front (posix_fallocate): a short /dev/shm is an error here, never a
   * SIGBUS later. Short of space, try smaller slots, down to 16 KiB. */
  int err = 0;
  for (size_t ch = chunk;; ch /= 2) {
    memset(s, 0, sizeof *s);
    layout(s, nranks, nbuf, ch);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->base = strata_shm_file_create(name, s->size, &err);
    if (s->base) {
      if (ch != chunk)
        SLOG_WARN("node segment: /dev/shm is short of space: staging slots of %zu KiB instead of %zu KiB",
                  ch >> 10, chunk >> 10);
      break;
    }
    if ((err != ENOSPC && err != ENOMEM && err != EFBIG) || ch / 2 < 16384) {
      SLOG_WARN("node segment %s (%zu bytes): %s (is /dev/shm large enough?)", name, s->size, strerror(err));
      return STRATA_ERR_SYSTEM;
    }
  }
  s->shared = 1;
  nseg_hdr_t *h = (nseg_hdr_t *)s->base;
  h->nranks = (uint64_t)nranks;
  h->nbuf = (uint64_t)nbuf;
  h->chunk = s->chunk;
  __atomic_store_n(&h->magic, NSEG_MAGIC, __ATOMIC_RELEASE);
  return STRATA_SUCCESS;
}

strata_result_t strata_nseg_attach(strata_node_seg_t *s, const char *name, int nranks, int nbuf,
                                   size_t chunk) {
  (void)chunk; /* the creator's choice wins (it may have shrunk it) */
  memset(s, 0, sizeof *s);
  nseg_hdr_t h;
  if (strata_shm_file_read(name, &h, sizeof h) != 0 || h.magic != NSEG_MAGIC) {
    SLOG_WARN("shared segment %s is missing or not a Strata segment", name);
    return STRATA_ERR_SYSTEM;
  }
  if (h.nranks != (uint64_t)nranks || h.nbuf != (uint64_t)nbuf || h.chunk < 4096 || h.chunk > (1u << 30)) {
    SLOG_WARN("shared segment %s: %llu ranks x %llu slots, not %d x %d (peers disagree on STRATA_SHM_*?)", name,
              (unsigned long long)h.nranks, (unsigned long long)h.nbuf, nranks, nbuf);
    return STRATA_ERR_INVALID_USAGE;
  }
  layout(s, nranks, nbuf, (size_t)h.chunk);
  snprintf(s->name, sizeof s->name, "%s", name);
  int err = 0;
  s->base = strata_shm_file_attach(name, s->size, &err);
  if (!s->base) {
    SLOG_WARN("shm_open(%s) to attach failed: %s", name, strerror(err));
    return STRATA_ERR_SYSTEM;
  }
  s->shared = 1;
  return STRATA_SUCCESS;
}

void strata_nseg_unlink(strata_node_seg_t *s) {
  if (s->shared && s->name[0]) shm_unlink(s->name);
}

void strata_nseg_destroy(strata_node_seg_t *s) {
  if (!s->base) return;
  if (s->shared) munmap(s->base, s->size);
  else free(s->base);
  s->base = NULL;
}
