#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"

void strata_plan_init(strata_plan_t *p, strata_coll_t coll, strata_algo_t algo) {
  memset(p, 0, sizeof *p);
  p->coll = coll;
  p->algo = algo;
}

void strata_plan_free(strata_plan_t *p) {
  free(p->steps);
  p->steps = NULL;
  p->nsteps = p->cap = 0;
}

strata_bref_t strata_bref(uint32_t buf, uint64_t off) {
  strata_bref_t b = {buf, 0, off};
  return b;
}

int strata_plan_add(strata_plan_t *p, const strata_step_t *s) {
  if (p->failed) return -1;
  if (p->nsteps == p->cap) {
    int ncap = p->cap ? p->cap * 2 : 16;
    strata_step_t *n = realloc(p->steps, (size_t)ncap * sizeof *n);
    if (!n) {
      p->failed = 1;
      return -1;
    }
    p->steps = n;
    p->cap = ncap;
  }
  for (int i = 0; i < STRATA_MAX_DEPS; i++)
    if (s->dep[i] >= p->nsteps) { /* a bug in an algorithm: deps must point backwards */
      SLOG_WARN("plan %s/%s: step %d depends on later step %d", strata_coll_name(p->coll),
                strata_algo_name(p->algo), p->nsteps, s->dep[i]);
      p->failed = 1;
      return -1;
    }
  p->steps[p->nsteps] = *s;
  p->steps[p->nsteps].tri = (s->kind == SK_SEND || s->kind == SK_RECV) ? p->ntr++ : -1;
  return p->nsteps++;
}

static strata_step_t step0(int kind, int d0, int d1, int d2) {
  strata_step_t s;
  memset(&s, 0, sizeof s);
  s.kind = (uint8_t)kind;
  s.peer = -1;
  s.dep[0] = d0;
  s.dep[1] = d1;
  s.dep[2] = d2;
  return s;
}

int plan_send(strata_plan_t *p, int peer, uint32_t tag, strata_bref_t src, uint64_t bytes,
              int d0, int d1, int d2) {
  strata_step_t s = step0(SK_SEND, d0, d1, d2);
  s.peer = peer;
  s.tag = tag;
  s.src = src;
  s.n = bytes;
  return strata_plan_add(p, &s);
}
int plan_recv(strata_plan_t *p, int peer, uint32_t tag, strata_bref_t dst, uint64_t bytes,
              int d0, int d1, int d2) {
  strata_step_t s = step0(SK_RECV, d0, d1, d2);
  s.peer = peer;
  s.tag = tag;
  s.dst = dst;
  s.n = bytes;
  return strata_plan_add(p, &s);
}
int plan_reduce(strata_plan_t *p, strata_bref_t dst, strata_bref_t a, strata_bref_t b,
                uint64_t count, int d0, int d1, int d2) {
  strata_step_t s = step0(SK_REDUCE, d0, d1, d2);
  s.dst = dst;
  s.src = a;
  s.src2 = b;
  s.n = count;
  return strata_plan_add(p, &s);
}
int plan_copy(strata_plan_t *p, strata_bref_t dst, strata_bref_t src, uint64_t bytes, int d0,
              int d1, int d2) {
  strata_step_t s = step0(SK_COPY, d0, d1, d2);
  s.dst = dst;
  s.src = src;
  s.n = bytes;
  return strata_plan_add(p, &s);
}
int plan_avg(strata_plan_t *p, strata_bref_t dst, uint64_t count, int d0, int d1, int d2) {
  strata_step_t s = step0(SK_AVG, d0, d1, d2);
  s.dst = dst;
  s.src = dst;
  s.n = count;
  return strata_plan_add(p, &s);
}

/* A zero-byte copy that completes once all of deps have: chains joins of 3. */
int strata_plan_join(strata_plan_t *p, const int *deps, int n) {
  int cur = -1, i = 0;
  if (n == 0) return -1;
  if (n == 1) return deps[0];
  while (i < n) {
    int d[3] = {cur, -1, -1};
    int k = cur < 0 ? 0 : 1;
    for (; k < 3 && i < n; k++) d[k] = deps[i++];
    cur = plan_copy(p, strata_bref(SB_NONE, 0), strata_bref(SB_NONE, 0), 0, d[0], d[1], d[2]);
  }
  return cur;
}

int strata_plan_loop(strata_plan_t *p, int begin, uint64_t reps, uint64_t shift, uint32_t chunks, int depth) {
  if (p->failed) return -1;
  if (p->loop_reps || begin < 0 || begin >= p->nsteps || reps == 0) {
    SLOG_WARN("plan %s/%s: bad loop (begin %d of %d steps, %llu runs)", strata_coll_name(p->coll),
              strata_algo_name(p->algo), begin, p->nsteps, (unsigned long long)reps);
    p->failed = 1;
    return -1;
  }
  for (int i = begin; i < p->nsteps; i++) {
    const strata_step_t *s = &p->steps[i];
    const strata_bref_t *b[3] = {&s->dst, &s->src, &s->src2};
    int shared = 0; /* runs in flight at once must not share scratch */
    for (int k = 0; k < 3; k++) shared |= b[k]->buf == SB_SCRATCH;
    if (s->kind == SK_SEND || s->kind == SK_RECV || shared) {
      SLOG_WARN("plan %s/%s: a loop body holds a %s%s", strata_coll_name(p->coll), strata_algo_name(p->algo),
                strata_step_kind_name(s->kind), shared ? " on scratch" : "");
      p->failed = 1;
      return -1;
    }
  }
  p->loop_begin = begin;
  p->loop_end = p->nsteps;
  p->loop_reps = reps;
  p->loop_shift = shift;
  p->loop_chunks = chunks;
  p->loop_depth = depth < 1 ? 1 : depth > STRATA_LOOP_MAX_DEPTH ? STRATA_LOOP_MAX_DEPTH : depth;
  if ((uint64_t)p->loop_depth > reps) p->loop_depth = (int)reps;
  return 0;
}

int plan_fence(strata_plan_t *p) {
  strata_step_t s = step0(SK_COPY, -1, -1, -1);
  s.flags = SF_FENCE;
  return strata_plan_add(p, &s);
}

const char *strata_step_kind_name(int kind) {
  static const char *n[SK_NUM_KINDS] = {"send", "recv", "reduce", "copy", "avg",
                                         "nput", "nreduce", "nget", "ndone"};
  return kind >= 0 && kind < SK_NUM_KINDS ? n[kind] : "?";
}

void strata_plan_dump(const strata_plan_t *p, int rank) {
  static const char *bn[SB_NUM] = {"-", "send", "recv", "scratch", "node"};
  fprintf(stderr, "plan %s/%s rank %d: %d steps, scratch %zu, node chunks %llu\n",
          strata_coll_name(p->coll), strata_algo_name(p->algo), rank, p->nsteps,
          p->scratch_bytes, (unsigned long long)p->node_chunks);
  if (p->loop_reps)
    fprintf(stderr, "  steps %d..%d: a loop body run %llu times (+%llu bytes, +%u chunks a run, %d in flight)\n",
            p->loop_begin, p->loop_end - 1, (unsigned long long)p->loop_reps,
            (unsigned long long)p->loop_shift, p->loop_chunks, p->loop_depth);
  for (int i = 0; i < p->nsteps; i++) {
    const strata_step_t *s = &p->steps[i];
    fprintf(stderr, "  %3d %-7s peer %2d tag %4u ch %u n %6llu dst %s+%llu src %s+%llu src2 %s+%llu deps %d %d %d\n",
            i, strata_step_kind_name(s->kind), s->peer, s->tag, s->chunk,
            (unsigned long long)s->n, bn[s->dst.buf], (unsigned long long)s->dst.off,
            bn[s->src.buf], (unsigned long long)s->src.off, bn[s->src2.buf],
            (unsigned long long)s->src2.off, s->dep[0], s->dep[1], s->dep[2]);
  }
}
