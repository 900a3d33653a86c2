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

strata_result_t strata_nseg_create(strata_node_seg_t *s, const char *name, int nranks, int nbuf,
                                   size_t chunk) {
  memset(s, 0, sizeof *s);
  layout(s, nranks, nbuf, chunk);
  snprintf(s->name, sizeof s->name, "%s", name);
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) {
    SLOG_WARN("shm_open(%s) failed: %s", name, strerror(errno));
    return STRATA_ERR_SYSTEM;
  }
  if (ftruncate(fd, (off_t)s->size) != 0) {
    SLOG_WARN("ftruncate(%s, %zu) failed: %s (is /dev/shm large enough?)", name, s->size,
              strerror(errno));
    close(fd);
    shm_unlink(name);
    return STRATA_ERR_SYSTEM;
  }
  s->base = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (s->base == MAP_FAILED) {
    s->base = NULL;
    shm_unlink(name);
    SLOG_WARN("mmap of %zu bytes failed: %s", s->size, strerror(errno));
    return STRATA_ERR_SYSTEM;
  }
  s->shared = 1;
  *(uint64_t *)s->base = NSEG_MAGIC;
  return STRATA_SUCCESS;
}

strata_result_t strata_nseg_attach(strata_node_seg_t *s, const char *name, int nranks, int nbuf,
                                   size_t chunk) {
  memset(s, 0, sizeof *s);
  layout(s, nranks, nbuf, chunk);
  snprintf(s->name, sizeof s->name, "%s", name);
  int fd = shm_open(name, O_RDWR, 0600);
  if (fd < 0) {
    SLOG_WARN("shm_open(%s) to attach failed: %s", name, strerror(errno));
    return STRATA_ERR_SYSTEM;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || (size_t)st.st_size != s->size) {
    SLOG_WARN("shared segment %s has the wrong size (peers disagree on STRATA_SHM_*?)", name);
    close(fd);
    return STRATA_ERR_INVALID_USAGE;
  }
  s->base = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (s->base == MAP_FAILED) {
    s->base = NULL;
    return STRATA_ERR_SYSTEM;
  }
  s->shared = 1;
  if (*(uint64_t *)s->base != NSEG_MAGIC) {
    SLOG_WARN("shared segment %s is not a Strata segment", name);
    strata_nseg_destroy(s);
    return STRATA_ERR_INVALID_USAGE;
  }
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
