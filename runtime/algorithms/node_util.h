/* Builders for node plans: steps over per-rank shared staging slots (see engine.c for
 * the flag protocol). A chunk is one slot's worth of work; each gets a sequence number
 * when the plan runs. */
#ifndef STRATA_NODE_UTIL_H
#define STRATA_NODE_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "algo.h"

static inline strata_step_t nstep(int kind, uint32_t chunk) {
  strata_step_t s;
  memset(&s, 0, sizeof s);
  s.kind = (uint8_t)kind;
  s.chunk = chunk;
  s.peer = -1;
  s.dep[0] = s.dep[1] = s.dep[2] = -1;
  return s;
}
/* slot(me)[dst_off + k*dstride] = src[+k*sstride], k < nrep, bytes each; publish put */
static inline int nput(strata_plan_t *p, uint32_t chunk, strata_bref_t src, uint64_t dst_off,
                       uint64_t bytes, int nrep, uint64_t sstride, uint64_t dstride, int dep) {
  strata_step_t s = nstep(SK_NPUT, chunk);
  s.src = src;
  s.dst = strata_bref(SB_NODE, dst_off);
  s.n = bytes;
  s.nrep = (uint16_t)nrep;
  s.sstride = sstride;
  s.dstride = dstride;
  s.dep[0] = dep;
  return strata_plan_add(p, &s);
}
/* dst = op over ranks of slot(q)[slot_off] (own term from own_src if given), count elems */
static inline int nreduce(strata_plan_t *p, uint32_t chunk, strata_bref_t dst, strata_bref_t own_src,
                          uint64_t slot_off, uint64_t count, unsigned flags, int dep) {
  strata_step_t s = nstep(SK_NREDUCE, chunk);
  s.dst = dst;
  s.src = own_src;
  s.src2 = strata_bref(SB_NODE, slot_off);
  s.n = count;
  s.flags = (uint8_t)flags;
  s.dep[0] = dep;
  return strata_plan_add(p, &s);
}
/* dst = slot(peer)[slot_off], bytes; waits for the peer's put (or red with SF_RED) */
static inline int nget(strata_plan_t *p, uint32_t chunk, int peer, strata_bref_t dst,
                       uint64_t slot_off, uint64_t bytes, unsigned flags, int dep) {
  strata_step_t s = nstep(SK_NGET, chunk);
  s.peer = peer;
  s.dst = dst;
  s.src = strata_bref(SB_NODE, slot_off);
  s.n = bytes;
  s.flags = (uint8_t)flags;
  s.dep[0] = dep;
  return strata_plan_add(p, &s);
}
/* publish "done reading" for the chunk; a fence: it waits for every earlier step */
static inline int ndone(strata_plan_t *p, uint32_t chunk) {
  strata_step_t s = nstep(SK_NDONE, chunk);
  s.flags = SF_FENCE;
  return strata_plan_add(p, &s);
}

/* One chunk of a node plan: chunk c covers units [off, off + len) of the call. */
typedef void (*node_chunk_fn)(strata_plan_t *p, const strata_coll_args_t *a, uint32_t c, size_t off, size_t len);

/* The chunks of a node plan over `total` units (elements or bytes, `unit` bytes each), `per`
 * a chunk (the last one may be shorter). Up to 2 chunks are written out; more become a loop
 * (plan.h): one full chunk's steps run nch - 1 times, each run `per` units further on, then
 * the last chunk. So a plan's size does not grow with the message. */
static inline void node_chunks(strata_plan_t *p, const strata_coll_args_t *a, size_t total, size_t per, size_t unit,
                               node_chunk_fn body) {
  if (per < 1) per = 1;
  const size_t nch = total ? (total + per - 1) / per : 1;
  p->node_chunks = nch;
  if (nch <= 2) {
    for (size_t c = 0; c < nch; c++) {
      size_t off = c * per;
      body(p, a, (uint32_t)c, off, total - off < per ? total - off : per);
    }
    return;
  }
  int begin = p->nsteps;
  body(p, a, 0, 0, per);
  strata_plan_loop(p, begin, nch - 1, per * unit, 1, a->node_nbuf);
  body(p, a, (uint32_t)(nch - 1), (nch - 1) * per, total - (nch - 1) * per);
}

/* Bytes per chunk for a node plan moving `bytes`: small calls use one slot (one
 * synchronisation); from pipe_min on, the call is cut into about `pipe` chunks (at least
 * 4 KiB each) so one rank's copy-in overlaps the others' reductions. */
static inline size_t node_chunk_bytes(const strata_coll_args_t *a, size_t bytes) {
  const size_t pipe_min = a->node_pipe_min, pipe = a->node_pipe > 0 ? (size_t)a->node_pipe : 1;
  size_t c = a->node_chunk;
  if (bytes <= pipe_min) return bytes < c ? (bytes ? bytes : 1) : c;
  size_t want = bytes / pipe;
  if (want < 4096) want = 4096;
  want = (want + 63) & ~(size_t)63;
  return want < c ? want : c;
}

#endif
