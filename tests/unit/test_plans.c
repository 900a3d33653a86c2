/* Every algorithm's plan, run through the real engine on an in-process loopback transport
 * for P = 1..64 ranks, compared element by element with a reference. Algorithm bugs show
 * here without MPI. Usage: test_plans [quick] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/algorithms/algo.h"
#include "../../runtime/engine/engine.h"
#include "../../transports/loopback/loopback.h"
#include "../common/refdata.h"

static long runs, failures;
static long runs_by[STRATA_NUM_COLLS][STRATA_NUM_ALGOS];

/* hierarchical plans: a synthetic topology and the choices the cost model would pass */
static strata_hier_t g_hier;
static strata_hier_choice_t g_hc;
static int g_unit[STRATA_HIER_LEVELS][64];

/* topology t for P ranks: 0 blocked (2 ranks a node, 2 nodes a site), 1 interleaved and
 * uneven nodes, sites alternating, 2 uneven sites (one node alone, the rest together) */
static void make_topo(int P, int t) {
  int node[64], site[64];
  int nn = P > 2 ? (P + 2) / 3 : 2;
  for (int r = 0; r < P; r++) {
    if (t == 0) { node[r] = r / 2; site[r] = r / 4; }
    else if (t == 1) { node[r] = r % nn; site[r] = node[r] % 2; }
    else { node[r] = r / 3; site[r] = node[r] ? 1 : 0; }
  }
  g_hier.nranks = P;
  for (int l = 0; l < STRATA_HIER_LEVELS; l++) {
    int *src = l ? site : node, map[64], n = 0;
    for (int i = 0; i < 64; i++) map[i] = -1;
    for (int r = 0; r < P; r++) {
      if (map[src[r]] < 0) map[src[r]] = n++;
      g_unit[l][r] = map[src[r]];
    }
    g_hier.unit[l] = g_unit[l];
    g_hier.nunits[l] = n;
  }
}

static void make_choice(int v) {
  static const int tops[4] = {STRATA_ALGO_DIRECT, STRATA_ALGO_RING, STRATA_ALGO_RECURSIVE_DOUBLING,
                              STRATA_ALGO_RABENSEIFNER};
  g_hc.kmax[0] = v & 1;
  g_hc.kmax[1] = (v >> 1) & 1;
  g_hc.top_algo = tops[v % 4];
  g_hc.outer = 1 + (v % 3);
}

typedef struct {
  int P;
  lb_hub_t *hub;
  strata_context_t *ctx;
  struct strata_comm *comm;
  strata_node_seg_t seg;
  uint32_t *host_of; /* every rank on host 0 */
} world_t;

static void world_init(world_t *w, int P, size_t node_chunk, int nbuf) {
  memset(w, 0, sizeof *w);
  w->P = P;
  w->hub = strata_lb_hub_create(P);
  w->ctx = calloc((size_t)P, sizeof *w->ctx);
  w->comm = calloc((size_t)P, sizeof *w->comm);
  w->host_of = calloc((size_t)P, sizeof *w->host_of);
  if (strata_nseg_init_private(&w->seg, P, nbuf, node_chunk) != STRATA_SUCCESS) abort();
  for (int r = 0; r < P; r++) {
    strata_context_t *x = &w->ctx[r];
    x->world_rank = r;
    x->world_size = P;
    x->tp[0] = strata_lb_transport(w->hub, r);
    x->ntp = 1;
    x->peer_tp = calloc((size_t)P, 1); /* every peer through the loopback */
    x->host_of = w->host_of;
    x->my_host = 0;
    struct strata_comm *c = &w->comm[r];
    c->ctx = x;
    c->rank = r;
    c->nranks = P;
    c->id = 1;
    c->all_local = 1;
    c->node = w->seg;
    c->blocking_req.blocking = 1;
    c->blocking_req.comm = c;
  }
}

static void world_free(world_t *w) {
  for (int r = 0; r < w->P; r++) {
    strata_request_free_pool(&w->comm[r]);
    free(w->ctx[r].peer_tp);
  }
  strata_nseg_destroy(&w->seg);
  strata_lb_hub_destroy(w->hub);
  free(w->ctx);
  free(w->comm);
  free(w->host_of);
}

static size_t send_elems(strata_coll_t c, size_t count, int P) {
  switch (c) {
  case STRATA_COLL_REDUCE_SCATTER:
  case STRATA_COLL_ALLTOALL: return count * (size_t)P;
  case STRATA_COLL_BARRIER: return 0;
  default: return count;
  }
}
static size_t recv_elems(strata_coll_t c, size_t count, int P) {
  switch (c) {
  case STRATA_COLL_ALLGATHER:
  case STRATA_COLL_ALLTOALL: return count * (size_t)P;
  case STRATA_COLL_BARRIER: return 0;
  default: return count;
  }
}


static int run_case(world_t *w, strata_coll_t coll, strata_algo_t algo, int dt, int op, size_t count,
                    int inplace, int root, size_t chunk) {
  const int P = w->P;
  const size_t es = strata_dtype_size((strata_dtype_t)dt);
  const strata_algo_entry_t *ent = strata_algo_find(coll, algo);
  if (!ent) return 0;
  if (inplace && coll == STRATA_COLL_ALLTOALL) return 0;
  if (inplace && coll == STRATA_COLL_BARRIER) return 0;
  {
    strata_coll_args_t probe = {.coll = coll, .nranks = P, .esize = es, .node_chunk = w->seg.chunk,
                                .node_pipe_min = 32768, .node_pipe = 4, .node_slice_min = 65536, .hier = &g_hier};
    if (!strata_algo_fits(&probe, algo)) return 0;
  }
  runs++;
  runs_by[coll][algo]++;
  strata_plan_t *plans = calloc((size_t)P, sizeof *plans);
  char **sb = calloc((size_t)P, sizeof *sb), **rb = calloc((size_t)P, sizeof *rb);
  size_t sn = send_elems(coll, count, P), rn = recv_elems(coll, count, P);
  int ok = 1;
  for (int r = 0; r < P; r++) {
    strata_coll_args_t a = {.coll = coll, .rank = r, .nranks = P, .count = count, .dtype = (strata_dtype_t)dt,
                            .op = (strata_op_t)op, .root = root, .inplace = inplace, .esize = es,
                            .chunk_bytes = chunk, .node_chunk = w->seg.chunk, .node_nbuf = w->seg.nbuf,
                            .node_pipe_min = 32768, .node_pipe = 4, .node_slice_min = 65536,
                            .hier = &g_hier, .hc = g_hc};
    if (coll == STRATA_COLL_BROADCAST || coll == STRATA_COLL_REDUCE) a.inplace = inplace && r == root;
    if (strata_plan_build(&plans[r], &a, algo)) {
      printf("FAIL build %s/%s P=%d rank %d\n", strata_coll_name(coll), strata_algo_name(algo), P, r);
      ok = 0;
      goto out;
    }
    /* +1 byte: unaligned buffers; sentinels around each */
    size_t rbytes = rn * es + 2, sbytes = sn * es + 2;
    rb[r] = malloc(rbytes + 64);
    memset(rb[r], 0xA5, rbytes + 64);
    if (inplace && coll != STRATA_COLL_BROADCAST && coll != STRATA_COLL_REDUCE) {
      sb[r] = NULL;
    } else {
      sb[r] = malloc(sbytes + 64);
      memset(sb[r], 0x5A, sbytes + 64);
    }
  }
  struct strata_request **req = calloc((size_t)P, sizeof *req);
  for (int r = 0; r < P; r++) {
    char *recv = rb[r] + 1, *send = sb[r] ? sb[r] + 1 : NULL;
    /* fill inputs */
    switch (coll) {
    case STRATA_COLL_ALLREDUCE:
    case STRATA_COLL_REDUCE:
    case STRATA_COLL_REDUCE_SCATTER:
      if ((coll == STRATA_COLL_REDUCE && inplace && r == root) || (coll != STRATA_COLL_REDUCE && inplace))
        send = recv - (coll == STRATA_COLL_REDUCE_SCATTER ? 0 : 0);
      if (coll == STRATA_COLL_REDUCE_SCATTER && inplace) {
        /* recvbuf = sendbuf + r*count: use the big buffer as sendbuf */
        free(rb[r]);
        rb[r] = malloc(sn * es + 64 + 2);
        memset(rb[r], 0xA5, sn * es + 66);
        send = rb[r] + 1;
        recv = send + (size_t)r * count * es;
      }
      ref_fill(dt, op, r, send, sn, 0);
      break;
    case STRATA_COLL_ALLGATHER:
      if (inplace) {
        send = recv + (size_t)r * count * es;
      }
      ref_fill(dt, STRATA_SUM, r, send, count, 0);
      break;
    case STRATA_COLL_BROADCAST:
      if (inplace && r == root) send = recv;
      if (r == root) ref_fill(dt, STRATA_SUM, r, send, count, 0);
      break;
    case STRATA_COLL_ALLTOALL: ref_fill(dt, STRATA_SUM, r, send, sn, 0); break;
    default: break;
    }
    req[r] = strata_request_get(&w->comm[r]);
    if (strata_engine_start(&w->comm[r], req[r], &plans[r], send, recv, dt, op) != STRATA_SUCCESS) abort();
  }
  /* drive all ranks round-robin; no progress for many rounds = deadlock */
  for (long round = 0;; round++) {
    int all = 1;
    for (int r = 0; r < P; r++) {
      strata_engine_progress(&w->comm[r]);
      if (!req[r]->done) all = 0;
    }
    if (all) break;
    if (round > 2000000) {
      printf("FAIL deadlock %s/%s P=%d count=%zu dt=%d op=%d inplace=%d root=%d\n", strata_coll_name(coll),
             strata_algo_name(algo), P, count, dt, op, inplace, root);
      for (int r = 0; r < P; r++)
        if (!req[r]->done) { printf("  rank %d stuck at step %d\n", r, req[r]->lo); }
      ok = 0;
      for (int r = 0; r < P; r++) strata_engine_fail_all(&w->comm[r], STRATA_ERR_TIMEOUT);
      break;
    }
  }
  if (ok) {
    char *exp = malloc(rn * es + 1);
    for (int r = 0; r < P && ok; r++) {
      if (req[r]->status != STRATA_SUCCESS) {
        printf("FAIL status %d rank %d %s/%s P=%d\n", req[r]->status, r, strata_coll_name(coll),
               strata_algo_name(algo), P);
        ok = 0;
        break;
      }
      if (coll == STRATA_COLL_REDUCE && r != root) continue;
      if (coll == STRATA_COLL_BARRIER) continue;
      char *recv = rb[r] + 1;
      if (coll == STRATA_COLL_REDUCE_SCATTER && inplace) recv = rb[r] + 1 + (size_t)r * count * es;
      ref_expected(coll, dt, op, P, r, root, count, exp);
      if (memcmp(recv, exp, rn * es) != 0) {
        size_t bad = 0;
        while (bad < rn * es && recv[bad] == exp[bad]) bad++;
        printf("FAIL %s/%s P=%d rank %d count=%zu dtype=%s op=%s inplace=%d root=%d: byte %zu got %02x want %02x\n",
               strata_coll_name(coll), strata_algo_name(algo), P, r, count, strata_dtype_name((strata_dtype_t)dt),
               strata_op_name((strata_op_t)op), inplace, root, bad, (unsigned char)recv[bad],
               (unsigned char)exp[bad]);
        ok = 0;
      }
      /* guard bytes around the receive buffer untouched */
      if (!(coll == STRATA_COLL_REDUCE_SCATTER && inplace) && ((unsigned char)rb[r][0] != 0xA5 ||
                                                               (unsigned char)rb[r][1 + rn * es] != 0xA5)) {
        printf("FAIL %s/%s P=%d rank %d wrote outside recvbuf\n", strata_coll_name(coll), strata_algo_name(algo), P, r);
        ok = 0;
      }
      /* the send buffer is not modified (out of place) */
      if (sb[r] && !(inplace) && coll != STRATA_COLL_BARRIER) {
        char *chk = malloc(sn * es + 1);
        int fop = (coll == STRATA_COLL_ALLREDUCE || coll == STRATA_COLL_REDUCE || coll == STRATA_COLL_REDUCE_SCATTER) ? op : STRATA_SUM;
        if (coll == STRATA_COLL_BROADCAST && r != root) { free(chk); continue; }
        ref_fill(dt, fop, r, chk, sn, 0);
        if (memcmp(chk, sb[r] + 1, sn * es)) {
          printf("FAIL %s/%s P=%d rank %d modified sendbuf\n", strata_coll_name(coll), strata_algo_name(algo), P, r);
          ok = 0;
        }
        free(chk);
      }
    }
    free(exp);
    if (ok && strata_lb_hub_pending(w->hub)) {
      printf("FAIL %s/%s P=%d: %d messages left unmatched\n", strata_coll_name(coll), strata_algo_name(algo), P,
             strata_lb_hub_pending(w->hub));
      ok = 0;
    }
  }
  for (int r = 0; r < P; r++) {
    strata_request_put(req[r]);
    strata_plan_free(&plans[r]);
    free(sb[r]);
    free(rb[r]);
  }
  free(req);
out:
  free(plans);
  free(sb);
  free(rb);
  if (!ok) failures++;
  return ok;
}

/* Each case in buffered mode (sends complete at once), in rendezvous mode (a send completes
 * only when matched: deadlocks that buffering hides show), or both. */
enum { MODE_BUFFERED = 1, MODE_RENDEZVOUS = 2, MODE_BOTH = 3, MODE_ALTERNATE = 4 };
static int g_mode = MODE_BOTH;
static long g_case;

static void run_modes(world_t *w, strata_coll_t coll, strata_algo_t algo, int dt, int op, size_t count,
                      int inplace, int root, size_t chunk) {
  int modes = g_mode == MODE_ALTERNATE ? ((g_case++ & 1) ? MODE_RENDEZVOUS : MODE_BUFFERED) : g_mode;
  for (int m = MODE_BUFFERED; m <= MODE_RENDEZVOUS; m <<= 1) {
    if (!(modes & m)) continue;
    strata_lb_hub_rendezvous(w->hub, m == MODE_RENDEZVOUS);
    if (!run_case(w, coll, algo, dt, op, count, inplace, root, chunk) && m == MODE_RENDEZVOUS)
      printf("  (in rendezvous mode)\n");
  }
  strata_lb_hub_rendezvous(w->hub, 0);
}

/* The rendezvous mode itself: two ranks that each send, then receive only after their send
 * completed, finish when sends are buffered and must deadlock when they are not. */
static int check_rendezvous_mode(void) {
  int fails = 0;
  for (int rndv = 0; rndv < 2; rndv++) {
    world_t w;
    world_init(&w, 2, 256, 2);
    strata_lb_hub_rendezvous(w.hub, rndv);
    strata_plan_t pl[2];
    char sb[2][8] = {{0}}, rb[2][8] = {{0}};
    struct strata_request *rq[2];
    for (int r = 0; r < 2; r++) {
      strata_plan_init(&pl[r], STRATA_COLL_ALLGATHER, STRATA_ALGO_RING);
      int snd = plan_send(&pl[r], 1 - r, 1, strata_bref(SB_SEND, 0), 8, -1, -1, -1);
      plan_recv(&pl[r], 1 - r, 1, strata_bref(SB_RECV, 0), 8, snd, -1, -1);
      rq[r] = strata_request_get(&w.comm[r]);
      strata_engine_start(&w.comm[r], rq[r], &pl[r], sb[r], rb[r], STRATA_INT8, STRATA_SUM);
    }
    for (int round = 0; round < 1000; round++)
      for (int r = 0; r < 2; r++) strata_engine_progress(&w.comm[r]);
    int finished = rq[0]->done && rq[1]->done;
    if (finished != !rndv) {
      printf("FAIL loopback %s mode: a send-then-receive exchange %s\n", rndv ? "rendezvous" : "buffered",
             finished ? "finished" : "did not finish");
      fails++;
    }
    for (int r = 0; r < 2; r++) {
      strata_engine_fail_all(&w.comm[r], STRATA_ERR_TIMEOUT);
      strata_request_put(rq[r]);
      strata_plan_free(&pl[r]);
    }
    world_free(&w);
  }
  if (!fails) printf("loopback: buffered mode finishes a send-then-receive exchange, rendezvous mode deadlocks it\n");
  return fails;
}

/* A plan's size must not grow with the message: for every algorithm, the plan for 2^34 bytes
 * (2^32 float elements) and for 2^38 bytes have the same number of steps. */
static int check_plan_sizes(void) {
  int fails = 0, checked = 0, maxsteps = 0;
  static const int Ps[] = {2, 3, 8};
  for (int pi = 0; pi < 3; pi++) {
    int P = Ps[pi];
    make_topo(P, 0);
    make_choice(1);
    for (int coll = 0; coll < STRATA_NUM_COLLS; coll++) {
      if (coll == STRATA_COLL_BARRIER) continue;
      strata_algo_t algos[16];
      int na = strata_algo_list((strata_coll_t)coll, algos, 16);
      for (int ai = 0; ai < na; ai++)
        for (int r = 0; r < P; r += P - 1) {
          int steps[2];
          for (int k = 0; k < 2; k++) {
            size_t bytes = (size_t)1 << (k ? 38 : 34);
            size_t per = coll == STRATA_COLL_ALLGATHER || coll == STRATA_COLL_REDUCE_SCATTER ||
                                 coll == STRATA_COLL_ALLTOALL ? bytes / 4 / (size_t)P : bytes / 4;
            strata_coll_args_t a = {.coll = (strata_coll_t)coll, .rank = r, .nranks = P, .count = per,
                                    .dtype = STRATA_FLOAT32, .op = STRATA_SUM, .esize = 4,
                                    .chunk_bytes = 256 << 10, .node_chunk = 128 << 10, .node_nbuf = 4,
                                    .node_pipe_min = 32768, .node_pipe = 4, .node_slice_min = 65536,
                                    .hier = &g_hier, .hc = g_hc};
            strata_plan_t pl;
            if (!strata_algo_fits(&a, algos[ai]) || strata_plan_build(&pl, &a, algos[ai])) {
              steps[k] = -1;
              continue;
            }
            steps[k] = pl.nsteps;
            strata_plan_free(&pl);
          }
          if (steps[0] < 0) continue;
          checked++;
          if (steps[0] > maxsteps) maxsteps = steps[0];
          if (steps[0] != steps[1]) {
            printf("FAIL plan size %s/%s P=%d rank %d: %d steps for 16 GiB, %d for 256 GiB\n",
                   strata_coll_name((strata_coll_t)coll), strata_algo_name(algos[ai]), P, r, steps[0], steps[1]);
            fails++;
          }
        }
    }
  }
  printf("plan sizes: %d plans of 16 GiB and 256 GiB calls, the same steps at both sizes (at most %d)\n", checked,
         maxsteps);
  return fails;
}

/* Counts above 2^31 elements and buffers above 4 GiB through the engine: int8 MAX over a
 * pattern that depends on all of an element's index, every element checked. */
#define big_val ref_big_val

static int run_large(void) {
  const size_t n = ((size_t)1 << 31) + 7; /* elements, int8 */
  const int P = 2;
  struct { strata_coll_t coll; strata_algo_t algo; int inplace; } cases[] = {
      {STRATA_COLL_ALLREDUCE, STRATA_ALGO_SHM, 0},      /* a node plan: a chunk loop */
      {STRATA_COLL_ALLREDUCE, STRATA_ALGO_RING, 1},     /* point to point, pieces capped */
      {STRATA_COLL_ALLGATHER, STRATA_ALGO_RING, 0},     /* 4 GiB + 14 B receive buffers */
      {STRATA_COLL_BROADCAST, STRATA_ALGO_SHM, 0},
  };
  int fails = 0;
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    strata_coll_t coll = cases[ci].coll;
    world_t w;
    world_init(&w, P, 128 << 10, 4);
    size_t rn = coll == STRATA_COLL_ALLGATHER ? n * P : n;
    char *sb[2] = {NULL, NULL}, *rb[2];
    strata_plan_t pl[2];
    struct strata_request *rq[2];
    int ok = 1;
    for (int r = 0; r < P; r++) {
      rb[r] = malloc(rn);
      if (!cases[ci].inplace) sb[r] = malloc(n);
      char *in = cases[ci].inplace ? rb[r] : sb[r];
      if (!rb[r] || !in) { printf("FAIL large: out of memory\n"); return fails + 1; }
      if (coll != STRATA_COLL_BROADCAST || r == 0)
        for (size_t i = 0; i < n; i++) in[i] = big_val(r, i);
      strata_coll_args_t a = {.coll = coll, .rank = r, .nranks = P, .count = n, .dtype = STRATA_INT8,
                              .op = STRATA_MAX, .inplace = cases[ci].inplace, .esize = 1,
                              .chunk_bytes = 256 << 10, .node_chunk = 128 << 10, .node_nbuf = 4,
                              .node_pipe_min = 32768, .node_pipe = 4, .node_slice_min = 65536};
      if (strata_plan_build(&pl[r], &a, cases[ci].algo)) { printf("FAIL large: build\n"); return fails + 1; }
      rq[r] = strata_request_get(&w.comm[r]);
      strata_engine_start(&w.comm[r], rq[r], &pl[r], in, rb[r], STRATA_INT8, STRATA_MAX);
    }
    for (long round = 0; !(rq[0]->done && rq[1]->done); round++) {
      for (int r = 0; r < P; r++) strata_engine_progress(&w.comm[r]);
      if (round > 100000000) { printf("FAIL large: no end\n"); ok = 0; break; }
    }
    size_t bad = SIZE_MAX;
    for (int r = 0; r < P && ok; r++) {
      if (rq[r]->status != STRATA_SUCCESS) { ok = 0; break; }
      for (size_t i = 0; i < rn && bad == SIZE_MAX; i++) {
        int8_t want;
        if (coll == STRATA_COLL_ALLREDUCE) {
          int8_t x = big_val(0, i), y = big_val(1, i);
          want = x > y ? x : y;
        } else if (coll == STRATA_COLL_ALLGATHER) {
          want = big_val((int)(i / n), i % n);
        } else {
          want = big_val(0, i);
        }
        if ((int8_t)rb[r][i] != want) bad = i;
      }
      if (bad != SIZE_MAX) ok = 0;
    }
    printf("%s large %s/%s%s: %zu int8 elements (%zu-byte receive buffers), %d + %d steps, %llu loop runs%s",
           ok ? "ok" : "FAIL", strata_coll_name(coll), strata_algo_name(cases[ci].algo),
           cases[ci].inplace ? " in place" : "", n, rn, pl[0].nsteps, pl[1].nsteps,
           (unsigned long long)pl[0].loop_reps, bad != SIZE_MAX ? ": first wrong element " : "\n");
    if (bad != SIZE_MAX) printf("%zu\n", bad);
    fflush(stdout);
    fails += !ok;
    for (int r = 0; r < P; r++) {
      strata_request_put(rq[r]);
      strata_plan_free(&pl[r]);
      free(sb[r]);
      free(rb[r]);
    }
    world_free(&w);
  }
  return fails;
}

/* Usage: test_plans [quick|all]: default 16 rank counts up to 64; quick stops at 17;
 * all runs every P from 1 to 64 (a sparser dtype x op sample above 17). */
int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "hier") && argc >= 9) {
    /* one hierarchical allreduce: hier P COUNT CHUNK TOPO KMAX0 KMAX1 TOP_ALGO OUTER */
    int P = atoi(argv[2]);
    world_t w;
    world_init(&w, P, 256, 2);
    make_topo(P, atoi(argv[5]));
    g_hc.kmax[0] = atoi(argv[6]);
    g_hc.kmax[1] = atoi(argv[7]);
    g_hc.top_algo = strata_algo_from_name(argv[8]);
    g_hc.outer = argc > 9 ? atoi(argv[9]) : 1;
    strata_lb_hub_rendezvous(w.hub, getenv("PLANS_RENDEZVOUS") != NULL);
    int ok = run_case(&w, STRATA_COLL_ALLREDUCE, STRATA_ALGO_HIERARCHICAL, STRATA_FLOAT32, STRATA_SUM,
                      (size_t)atol(argv[3]), 0, 0, (size_t)atol(argv[4]));
    world_free(&w);
    printf("%s\n", ok ? "ok" : "FAILED");
    return !ok;
  }
  if (argc > 1 && !strcmp(argv[1], "large")) { /* > 2^31 elements, > 4 GiB buffers: ~14 GiB */
    int f = run_large();
    printf("%s\n", f ? "FAILED" : "ok");
    return f ? 1 : 0;
  }
  int quick = argc > 1 && !strcmp(argv[1], "quick");
  int every = argc > 1 && !strcmp(argv[1], "all");
  if (every) g_mode = MODE_ALTERNATE;
  failures += check_rendezvous_mode();
  failures += check_plan_sizes();
  static const int Ps[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 31, 32, 33, 64};
  static const size_t counts[] = {0, 1, 7, 33, 1023};
  const int nP = every ? 64 : (int)(sizeof Ps / sizeof Ps[0]);
  for (int pi = 0; pi < nP; pi++) {
    int P = every ? pi + 1 : Ps[pi];
    if (quick && P > 9 && P != 16 && P != 17) continue;
    world_t w;
    /* tiny chunks and staging slots: every pipeline and slot-reuse path runs */
    world_init(&w, P, 256, 2);
    for (int coll = 0; coll < STRATA_NUM_COLLS; coll++) {
      strata_algo_t algos[16];
      int na = strata_algo_list((strata_coll_t)coll, algos, 16);
      int rooted = coll == STRATA_COLL_BROADCAST || coll == STRATA_COLL_REDUCE;
      int reducing = coll == STRATA_COLL_ALLREDUCE || coll == STRATA_COLL_REDUCE || coll == STRATA_COLL_REDUCE_SCATTER;
      for (int ai = 0; ai < na; ai++)
        for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++)
          for (int dt = 0; dt < STRATA_NUM_DTYPES; dt++)
            for (int op = 0; op < (reducing ? STRATA_NUM_OPS : 1); op++)
              for (int inplace = 0; inplace < 2; inplace++) {
                size_t count = counts[ci];
                /* full dtype x op cross product up to 9 ranks; a rotating sample above */
                if (P > 9 && (dt + op + (int)ci + inplace) % (every && P > 17 ? 23 : 7) != 0) continue;
                if (coll == STRATA_COLL_BARRIER && (dt || ci || inplace)) continue;
                if (!reducing && dt % 3 != (int)ci % 3) continue; /* data movement: dtype barely matters */
                int roots[3] = {0, P - 1, P / 2}, nroots = rooted ? 3 : 1;
                for (int ri = 0; ri < nroots; ri++) {
                  if (ri && roots[ri] == roots[0]) continue;
                  size_t chunk = (ci + (size_t)dt) % 2 ? 64 : 1 << 20;
                  int hier = algos[ai] == STRATA_ALGO_HIERARCHICAL;
                  for (int t = 0; t < (hier ? 3 : 1); t++) {
                    make_topo(P, t);
                    make_choice(dt + op + (int)ci + inplace + t + ri);
                    run_modes(&w, (strata_coll_t)coll, algos[ai], dt, op, count, inplace, rooted ? roots[ri] : 0,
                             chunk);
                  }
                }
              }
    }
    world_free(&w);
    printf("P=%d done: %ld runs, %ld failures so far\n", P, runs, failures);
    fflush(stdout);
  }
  for (int c = 0; c < STRATA_NUM_COLLS; c++)
    for (int a = 0; a < STRATA_NUM_ALGOS; a++)
      if (runs_by[c][a]) printf("  %s/%s: %ld cases\n", strata_coll_name((strata_coll_t)c), strata_algo_name((strata_algo_t)a), runs_by[c][a]);
  printf("%ld passed, %ld failed\n", runs - failures, failures);
  return failures ? 1 : 0;
}
