/* Probing the fabric at init: node leaders (the lowest world rank of each host) measure
 * latency and bandwidth to a few other leaders, all pairs of a round at once, then every
 * rank clusters the nodes: links much slower than the fastest ones cross a site boundary.
 * Rounds: leader i measures i+d for d = 1, 2, 4, ... and N-d (each pair both ways), so 64
 * nodes cost 12 rounds. Each round: 3 x 2 MiB (each acknowledged; the first warms the
 * connection), then 4 ping-pongs of 8 bytes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "comm.h"
#include "config.h"
#include "fabric.h"
#include "log.h"

#define PROBE_COMM STRATA_PROBE_COMM_ID
#define NPING 4            /* the level latency is their median: what a round really costs */
#define NBIG 3             /* the first warms the connection (TCP slow start); the best counts */
#define NMSG (NPING + NBIG)
#define BIG (2u << 20)
/* bulk first (it also opens the connection), then the pings on a warm connection */
#define IS_BIG(i) ((i) < NBIG)
#define MAX_ROUNDS 40

/* one measured link: peer (world rank of a leader), the half-round it ran in, latency,
 * bandwidth as measured (raw) and at the pair's best (bw) */
typedef struct { int32_t peer, round; float lat, bw, raw; } edge_t;
typedef struct { int32_t n; edge_t e[MAX_ROUNDS]; } edges_t;


static strata_transport_t *tp_for(strata_context_t *x, int w) { return ctx_tp(x, w); }

enum { REQ = 0, RESP = 1 };
static uint64_t ptag(int round, int i, int dir) {
  return strata_make_tag(PROBE_COMM, (uint32_t)round, (uint32_t)(i * 2 + dir));
}

/* one round: I am the client of `cli` and the server of `srv` (both may be the same peer) */
static strata_result_t probe_round(strata_context_t *x, int round, int cli, int srv, double deadline,
                                   uint8_t *big_out, uint8_t *big_in, edge_t *out) {
  /* cli or srv -1: that role sits this sub-round out */
  strata_transport_t *tc = cli >= 0 ? tp_for(x, cli) : NULL, *ts = srv >= 0 ? tp_for(x, srv) : NULL;
  strata_treq_t sreq[NMSG], sresp[NMSG], creq[NMSG], cresp[NMSG];
  memset(sreq, 0, sizeof sreq);
  memset(sresp, 0, sizeof sresp);
  memset(creq, 0, sizeof creq);
  memset(cresp, 0, sizeof cresp);
  uint64_t pin[NMSG], pout[NMSG], cin[NMSG], cout_[NMSG];
  memset(pout, 0, sizeof pout);
  memset(cout_, 0, sizeof cout_);
  strata_result_t rc = STRATA_SUCCESS;
  /* server side: every receive posted up front */
  for (int i = 0; ts && i < NMSG && !rc; i++)
    rc = ts->ops->irecv(ts, srv, ptag(round, i, REQ), IS_BIG(i) ? big_in : (void *)&pin[i],
                        IS_BIG(i) ? BIG : 8, &sreq[i]);
  int cs = tc ? 0 : NMSG, ss = ts ? 0 : NMSG, c_posted = 0;
  double t0 = 0, best = 1e9, tbig = 1e9, rtt[NPING];
  int nrtt = 0;
  while (!rc && (cs < NMSG || ss < NMSG)) {
    int moved = tc ? tc->ops->progress(tc) : 0;
    if (ts && ts != tc) moved += ts->ops->progress(ts);
    if (!moved && x->oversubscribed) sched_yield(); /* the peer needs this core to answer */
    if (strata_now_s() > deadline) { rc = STRATA_ERR_TIMEOUT; break; }
    /* client */
    if (cs < NMSG) {
      if (!c_posted) {
        rc = tc->ops->irecv(tc, cli, ptag(round, cs, RESP), &cin[cs], 8, &cresp[cs]);
        t0 = strata_now_s();
        if (!rc) rc = tc->ops->isend(tc, cli, ptag(round, cs, REQ), IS_BIG(cs) ? big_out : (void *)&cout_[cs],
                                     IS_BIG(cs) ? BIG : 8, &creq[cs]);
        c_posted = 1;
      } else if (cresp[cs].state < 0 || creq[cs].state < 0) {
        rc = STRATA_ERR_PEER_FAILED;
      } else if (cresp[cs].state == 1 && creq[cs].state == 1) {
        double dt = strata_now_s() - t0;
        if (!IS_BIG(cs)) {
          best = dt < best ? dt : best;
          if (nrtt < NPING) rtt[nrtt++] = dt;
        }
        else tbig = dt < tbig ? dt : tbig;
        cs++;
        c_posted = 0;
      }
    }
    /* server: answer each request once it has arrived */
    if (ss < NMSG) {
      if (sreq[ss].state < 0) rc = STRATA_ERR_PEER_FAILED;
      else if (sreq[ss].state == 1) {
        rc = ts->ops->isend(ts, srv, ptag(round, ss, RESP), &pout[ss], 8, &sresp[ss]);
        ss++;
      }
    }
  }
  /* the answers must be out before their memory goes */
  for (int i = 0; ts && i < ss && !rc; i++)
    while (sresp[i].state == 0) {
      if (!ts->ops->progress(ts) && x->oversubscribed) sched_yield();
      if (strata_now_s() > deadline) { rc = STRATA_ERR_TIMEOUT; break; }
    }
  if (rc) {
    for (int i = 0; i < NMSG; i++) {
      if (ts && sreq[i].state == 0) ts->ops->cancel(ts, &sreq[i], STRATA_ERR_TIMEOUT);
      if (tc && cresp[i].state == 0 && cs >= i) tc->ops->cancel(tc, &cresp[i], STRATA_ERR_TIMEOUT);
      /* sends too: a transport may still refer to them (UCX: one awaiting its ack) */
      if (tc && creq[i].state == 0 && cs >= i) tc->ops->cancel(tc, &creq[i], STRATA_ERR_TIMEOUT);
      if (ts && sresp[i].state == 0 && ss > i) ts->ops->cancel(ts, &sresp[i], STRATA_ERR_TIMEOUT);
    }
    return rc;
  }
  if (!tc) return STRATA_SUCCESS;
  out->peer = cli;
  out->round = round;
  for (int i = 1; i < nrtt; i++) /* median round trip (insertion sort of NPING values) */
    for (int j = i; j > 0 && rtt[j] < rtt[j - 1]; j--) { double tmp = rtt[j]; rtt[j] = rtt[j - 1]; rtt[j - 1] = tmp; }
  out->lat = (float)((nrtt ? rtt[nrtt / 2] : best) / 2);
  double t = tbig - (best < tbig / 2 ? best : tbig / 2); /* a ping slowed by a busy core must not inflate it */
  out->bw = (float)(BIG / (t > 1e-7 ? t : 1e-7));
  return STRATA_SUCCESS;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct { uint64_t key; edge_t *e; } pair_ref_t;
static int cmp_pair(const void *a, const void *b) {
  uint64_t x = ((const pair_ref_t *)a)->key, y = ((const pair_ref_t *)b)->key;
  return x < y ? -1 : x > y;
}

static int uf_find(int *p, int i) {
  while (p[i] != i) i = p[i] = p[p[i]];
  return i;
}

strata_result_t strata_fabric_probe(strata_context_t *x, strata_oob_t *oob, char (*labels)[STRATA_SITE_NAME],
                                    strata_level_figs_t lvl[STRATA_NUM_LVLS]) {
  const int P = x->world_size, me = x->world_rank;
  const double t_start = strata_now_s();
  int N = 0, li = -1;
  int *leader = calloc((size_t)P, sizeof *leader), *lidx = calloc((size_t)P, sizeof *lidx);
  edges_t *all = calloc((size_t)P, sizeof *all);
  uint8_t *bo = calloc(1, BIG), *bi = calloc(1, BIG);
  strata_result_t rc = STRATA_SUCCESS;
  if (!leader || !lidx || !all || !bo || !bi) { rc = STRATA_ERR_SYSTEM; goto out; }
  for (int w = 0; w < P; w++)
    if (x->host_of[w] == (uint32_t)w) { lidx[w] = N; leader[N++] = w; }
  if (x->host_of[me] == (uint32_t)me) li = lidx[me];
  int rounds[MAX_ROUNDS], nr = 0;
  /* shifts d = 1, 2, 4, ... and N-d: every measured pair in both directions (noise only
   * makes a link look slower; its best direction counts) */
  for (int d = 1; d < N && nr < MAX_ROUNDS; d *= 2) {
    rounds[nr++] = d;
    int back = N - d, dup = 0;
    for (int i = 0; i < nr; i++) dup |= rounds[i] == back;
    if (!dup && nr < MAX_ROUNDS) rounds[nr++] = back;
  }
  double budget = strata_config()->timeout_ms / 1000.0;
  if (li >= 0) {
    edges_t *mine = &all[me];
    /* two sub-rounds per shift: half the leaders measure at a time (client i is active in
     * sub-round (i / d) % 2, and its server knows it), so fewer flows share the cores */
    for (int i = 0; i < nr && !rc; i++)
      for (int sr = 0; sr < 2 && !rc; sr++) {
        int d = rounds[i], j = (li - d + N) % N;
        int cli = ((li / d) & 1) == sr ? leader[(li + d) % N] : -1;
        int srv = ((j / d) & 1) == sr ? leader[j] : -1;
        if (cli < 0 && srv < 0) continue;
        rc = probe_round(x, 2 * i + sr, cli, srv, t_start + budget, bo, bi, &mine->e[mine->n]);
        if (!rc && cli >= 0) {
          mine->e[mine->n].round = 2 * i + sr;
          mine->e[mine->n].raw = mine->e[mine->n].bw;
          mine->n++;
        }
      }
  }
  /* everyone learns every measurement (even after a local failure: the others wait here) */
  strata_result_t rc2 = oob->allgather(oob, all, sizeof *all);
  if (rc) goto out;
  if (rc2) { rc = rc2; goto out; }
  /* a pair measured more than once (both directions, several rounds) counts at its best:
   * noise (a peer waiting for a core) only ever makes a link look slower. Edges sorted by
   * their unordered pair, each group takes its maximum: O(E log E). */
  int ne = 0;
  for (int w = 0; w < P; w++) ne += all[w].n;
  pair_ref_t *pr = malloc((size_t)(ne ? ne : 1) * sizeof *pr);
  if (!pr) { rc = STRATA_ERR_SYSTEM; goto out; }
  {
    int k = 0;
    for (int w = 0; w < P; w++)
      for (int i = 0; i < all[w].n; i++) {
        uint32_t a = (uint32_t)w, b = (uint32_t)all[w].e[i].peer;
        pr[k].key = a < b ? (uint64_t)a << 32 | b : (uint64_t)b << 32 | a;
        pr[k++].e = &all[w].e[i];
      }
    qsort(pr, (size_t)ne, sizeof *pr, cmp_pair);
    for (int i = 0; i < ne;) {
      int j = i;
      float best = 0;
      for (; j < ne && pr[j].key == pr[i].key; j++)
        if (pr[j].e->bw > best) best = pr[j].e->bw;
      for (int q = i; q < j; q++) pr[q].e->bw = best;
      i = j;
    }
  }
  free(pr);
  /* time per MiB per link (bandwidth: latency is too easily inflated by queues and by peers
   * waiting for a core); the largest jump in sorted times splits fast from slow */
  double *cost = malloc((size_t)(ne ? ne : 1) * sizeof *cost);
  int *parent = malloc((size_t)N * sizeof *parent);
  if (!cost || !parent) { free(cost); free(parent); rc = STRATA_ERR_SYSTEM; goto out; }
  int k = 0;
  if (me == 0 && strata_log_level_v >= STRATA_LOG_INFO)
    for (int w = 0; w < P; w++)
      for (int i = 0; i < all[w].n; i++)
        SLOG_INFO("probe round %d: %s -> %s: %.1f us, %.3f Gbit/s", all[w].e[i].round, x->hostnames[w],
                  x->hostnames[all[w].e[i].peer], all[w].e[i].lat * 1e6, all[w].e[i].bw * 8e-9);
  for (int w = 0; w < P; w++)
    for (int i = 0; i < all[w].n; i++) cost[k++] = (double)(1 << 20) / all[w].e[i].bw;
  qsort(cost, (size_t)ne, sizeof *cost, cmp_double);
  /* two classes by Otsu's split of the log times (robust to the spread inside each class);
   * they are different sites only if the classes' typical times differ by 3x or more */
  double thresh = ne ? cost[ne - 1] : 0, jump = 1, bestv = -1, tot = 0;
  for (int i = 0; i < ne; i++) tot += log(cost[i]);
  double pre = 0;
  for (int i = 0; i + 1 < ne; i++) {
    pre += log(cost[i]);
    double n1 = i + 1, n2 = ne - n1, m1 = pre / n1, m2 = (tot - pre) / n2;
    double v = n1 * n2 * (m2 - m1) * (m2 - m1);
    if (v > bestv) { bestv = v; thresh = cost[i]; jump = exp(m2 - m1); }
  }
  if (jump < 3.0 && ne) thresh = cost[ne - 1]; /* links alike: one site */
  for (int i = 0; i < N; i++) parent[i] = i;
  double *fl = malloc((size_t)(ne ? ne : 1) * sizeof *fl), *fb = malloc((size_t)(ne ? ne : 1) * sizeof *fb);
  double *sl = malloc((size_t)(ne ? ne : 1) * sizeof *sl);
  int nf = 0, ns = 0;
  if (!fl || !fb || !sl) { free(cost); free(parent); free(fl); free(fb); free(sl); rc = STRATA_ERR_SYSTEM; goto out; }
  for (int w = 0; w < P; w++)
    for (int i = 0; i < all[w].n; i++) {
      const edge_t *e = &all[w].e[i];
      double c = (double)(1 << 20) / e->bw;
      if (c <= thresh) {
        int a = uf_find(parent, lidx[w]), b = uf_find(parent, lidx[e->peer]);
        if (a != b) parent[a < b ? b : a] = a < b ? a : b;
        fl[nf] = e->lat;
        fb[nf++] = e->bw;
      } else {
        sl[ns++] = e->lat;
      }
    }
  /* sites in order of their first leader */
  int *site_of_leader = malloc((size_t)N * sizeof *site_of_leader), nsites = 0;
  if (!site_of_leader) { rc = STRATA_ERR_SYSTEM; }
  for (int i = 0; !rc && i < N; i++) {
    int root = uf_find(parent, i);
    site_of_leader[i] = root == i ? nsites++ : site_of_leader[root];
  }
  for (int w = 0; !rc && w < P; w++)
    snprintf(labels[w], STRATA_SITE_NAME, "probe%d", site_of_leader[lidx[x->host_of[w]]]);
  /* level figures: medians of the fast links; across sites, the slow links' latency and the
   * most a site pushed out across its cut in one round (flows share the uplink) */
  if (!rc && nf) {
    qsort(fl, (size_t)nf, sizeof *fl, cmp_double);
    qsort(fb, (size_t)nf, sizeof *fb, cmp_double);
    lvl[STRATA_LVL_SITE].alpha = fl[nf / 2];
    lvl[STRATA_LVL_SITE].bw = fb[nf / 2];
    snprintf(lvl[STRATA_LVL_SITE].source, sizeof lvl[0].source, "probe");
  }
  if (!rc && ns && nsites > 1) {
    qsort(sl, (size_t)ns, sizeof *sl, cmp_double);
    lvl[STRATA_LVL_GLOBAL].alpha = sl[ns / 2];
    /* per half-round and site, the raw bandwidth of its flows leaving the site: one pass */
    double best = 0, *sum = calloc((size_t)(2 * nr) * (size_t)nsites, sizeof *sum);
    for (int w = 0; sum && w < P; w++)
      for (int i = 0; i < all[w].n; i++) {
        const edge_t *e = &all[w].e[i];
        int s = site_of_leader[lidx[w]];
        if (site_of_leader[lidx[e->peer]] == s || e->round < 0 || e->round >= 2 * nr) continue;
        double *v = &sum[(size_t)e->round * (size_t)nsites + (size_t)s];
        *v += e->raw;
        if (*v > best) best = *v;
      }
    free(sum);
    if (best > 0) lvl[STRATA_LVL_GLOBAL].bw = best;
    snprintf(lvl[STRATA_LVL_GLOBAL].source, sizeof lvl[0].source, "probe");
  }
  x->fabric.probe_ms = (strata_now_s() - t_start) * 1e3;
  if (me == 0)
    SLOG_INFO("probing: %d nodes, %d rounds, %d links measured, %d site(s) (slow links %.1fx slower) in %.0f ms",
              N, nr, ne, nsites, jump, x->fabric.probe_ms);
  free(site_of_leader);
  free(cost); free(parent); free(fl); free(fb); free(sl);
out:
  free(leader); free(lidx); free(all); free(bo); free(bi);
  return rc;
}
