/* The context every communicator of one init shares: the world's hosts and sites, the
 * transports, this host's machine figures, the agreed plan inputs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agree.h"
#include "internal.h"
#include "log.h"
#include "topo.h"

/* ---- context ---- */

typedef struct host_rec {
  char name[64];
  char boot[40];                /* kernel boot id: ranks of emulated hosts share CPUs */
  char site[STRATA_SITE_NAME];  /* STRATA_SITE or this host's site in STRATA_TOPO_FILE */
} host_rec_t;

static void read_boot_id(char *out, size_t n) {
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  out[0] = 0;
  if (f) {
    if (!fgets(out, (int)n, f)) out[0] = 0;
    fclose(f);
  }
  out[strcspn(out, "\n")] = 0;
}

void strata_ctx_release(strata_context_t *x) {
  if (--x->refs > 0) return;
  for (int i = x->ntp - 1; i >= 0; i--) x->tp[i]->ops->destroy(x->tp[i]);
  free(x->peer_tp);
  free(x->ptimes);
  free(x->host_of);
  free(x->hostnames);
  strata_fabric_free(&x->fabric);
  free(x);
}

/* The registry's transports (those `allowed`), in order, while some rank still has a peer
 * no earlier transport reaches; each peer gets the first that reaches it. Every rank takes
 * part in the same creations (they exchange addresses over oob). */
static strata_result_t transports_setup(strata_context_t *x, strata_oob_t *oob, unsigned allowed) {
  const int P = x->world_size, me = x->world_rank;
  int n;
  const strata_transport_entry_t *e = strata_transport_list(&n);
  uint8_t *reached = calloc((size_t)P, 1), *need = calloc((size_t)P, 1);
  x->peer_tp = calloc((size_t)P, 1);
  if (!reached || !need || !x->peer_tp) { free(reached); free(need); return STRATA_ERR_SYSTEM; }
  strata_result_t rc = STRATA_SUCCESS;
  int missing = P;
  for (int i = 0; i < n && x->ntp < STRATA_MAX_TRANSPORTS; i++) {
    if (!((allowed >> i) & 1u)) continue;
    memset(need, 0, (size_t)P);
    need[me] = missing > 0;
    if ((rc = oob->allgather(oob, need, 1)) != STRATA_SUCCESS) break;
    int any = 0, local_left = 0;
    for (int w = 0; w < P; w++) {
      any |= need[w];
      local_left |= !reached[w] && x->host_of[w] == x->my_host;
    }
    if (!any) break; /* every rank reaches every peer already */
    strata_tp_init_t in = {me, P, x->host_of, x->my_host, x->key, oob, reached, !local_left};
    strata_transport_t *t = NULL;
    rc = e[i].create(&in, &t);
    if (rc != STRATA_SUCCESS) {
      SLOG_WARN("transport %s unavailable (%s)", e[i].name, strata_result_string(rc));
      break;
    }
    x->tp[x->ntp] = t;
    for (int w = 0; w < P; w++)
      if (!reached[w] && t->ops->reaches(t, w)) {
        reached[w] = 1;
        x->peer_tp[w] = (uint8_t)x->ntp;
        missing--;
      }
    x->ntp++;
  }
  if (rc == STRATA_SUCCESS && missing > 0) {
    int w = 0;
    while (reached[w]) w++;
    SLOG_WARN("rank %d (%s): no transport allowed by STRATA_TRANSPORTS reaches world rank %d (host %s)%s", me,
              x->hostname, w, x->hostnames[w], missing > 1 ? " and others" : "");
    rc = STRATA_ERR_UNSUPPORTED;
  }
  free(reached);
  free(need);
  return rc;
}

strata_result_t strata_ctx_create(strata_oob_t *oob, uint64_t key, strata_context_t **out) {
  const strata_config_t *cfg = strata_config();
  const int P = oob->nranks, me = oob->rank;
  strata_context_t *x = calloc(1, sizeof *x);
  host_rec_t *h = calloc((size_t)P, sizeof *h);
  if (!x || !h) { free(x); free(h); return STRATA_ERR_SYSTEM; }
  x->refs = 1;
  x->world_rank = me;
  x->world_size = P;
  x->key = key;
  x->comm_id_used[0] = 1;               /* the world */
  x->comm_id_used[STRATA_PROBE_COMM_ID] = 1; /* the link probe */
  x->comm_id_used[STRATA_FT_COMM_ID] = 1;    /* failure notices and agreements */
  gethostname(x->hostname, sizeof x->hostname - 1);
  const char *hid = getenv("STRATA_HOSTID"); /* tests: pretend ranks sit on different hosts */
  snprintf(h[me].name, sizeof h[me].name, "%s", hid && *hid ? hid : x->hostname);
  read_boot_id(h[me].boot, sizeof h[me].boot);
  /* this rank's site label: STRATA_SITE, else its host's site in the topology file (whose
   * level figures are read here too, once) */
  const char *site = getenv("STRATA_SITE"), *tfile = getenv("STRATA_TOPO_FILE");
  strata_fabric_defaults(x->fabric.lvl);
  if (tfile && *tfile) {
    char file_site[STRATA_SITE_NAME];
    strata_topo_file_read(tfile, h[me].name, file_site, x->fabric.lvl);
    snprintf(h[me].site, sizeof h[me].site, "%s", file_site);
  }
  if (site && *site) snprintf(h[me].site, sizeof h[me].site, "%s", site);
  strata_result_t rc = oob->allgather(oob, h, sizeof *h);
  if (rc != STRATA_SUCCESS) { free(h); free(x); return rc; }
  x->host_of = malloc((size_t)P * sizeof *x->host_of);
  if (!x->host_of) { free(h); free(x); return STRATA_ERR_SYSTEM; }
  /* host index = lowest world rank with the same host name */
  uint32_t nhosts = 0;
  for (int w = 0; w < P; w++) {
    x->host_of[w] = (uint32_t)w;
    for (int v = 0; v < w; v++)
      if (!strcmp(h[v].name, h[w].name)) { x->host_of[w] = x->host_of[v]; break; }
    if (x->host_of[w] == (uint32_t)w) nhosts++;
  }
  x->my_host = x->host_of[me];
  x->nhosts = nhosts;
  for (int w = 0; w < P; w++) x->local_size += x->host_of[w] == x->my_host;
  for (int w = 0; w < P; w++) x->machine_ranks += h[me].boot[0] ? !strcmp(h[w].boot, h[me].boot) : x->host_of[w] == x->my_host;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  x->oversubscribed = ncpu > 0 && x->machine_ranks > ncpu;
  char(*labels)[STRATA_SITE_NAME] = calloc((size_t)P, sizeof *labels);
  x->hostnames = calloc((size_t)P, sizeof *x->hostnames);
  if (!labels || !x->hostnames) { free(labels); free(h); free(x->host_of); free(x->hostnames); free(x); return STRATA_ERR_SYSTEM; }
  for (int w = 0; w < P; w++) {
    memcpy(labels[w], h[w].site, STRATA_SITE_NAME);
    labels[w][STRATA_SITE_NAME - 1] = 0;
    memcpy(x->hostnames[w], h[w].name, 64);
    x->hostnames[w][63] = 0;
  }
  free(h);
  /* this host's machine figures: its leader (lowest world rank) derives them, measuring
   * if nothing is cached; every rank takes its leader's */
  {
    strata_machine_t *all = calloc((size_t)P, sizeof *all);
    if (!all) { free(labels); strata_ctx_release(x); return STRATA_ERR_SYSTEM; }
    /* the leader's peers sleep while it measures: a rank spinning in the allgather below
     * would be measured with it */
    uint8_t *measuring = calloc((size_t)P, 1);
    if (!measuring) { free(all); free(labels); strata_ctx_release(x); return STRATA_ERR_SYSTEM; }
    if (x->host_of[me] == (uint32_t)me) measuring[me] = (uint8_t)strata_machine_will_calibrate();
    rc = oob->allgather(oob, measuring, 1);
    if (rc == STRATA_SUCCESS && x->host_of[me] == (uint32_t)me) strata_machine_derive(&all[me], 1);
    else if (rc == STRATA_SUCCESS && measuring[x->host_of[me]]) strata_machine_await_calibration();
    free(measuring);
    if (rc == STRATA_SUCCESS) rc = oob->allgather(oob, all, sizeof *all);
    if (rc == STRATA_SUCCESS) x->machine = all[x->host_of[me]];
    free(all);
    if (rc != STRATA_SUCCESS) { free(labels); strata_ctx_release(x); return rc; }
    if (x->host_of[me] == (uint32_t)me && strata_log_level_v >= STRATA_LOG_INFO) {
      char d[320];
      strata_machine_describe(&x->machine, d, sizeof d);
      SLOG_INFO("host %s: %s", x->hostname, d);
    }
  }
  rc = transports_setup(x, oob, cfg->transports);
  if (rc != STRATA_SUCCESS) { free(labels); strata_ctx_release(x); return rc; }
  rc = strata_fabric_setup(x, oob, labels);
  free(labels);
  if (rc == STRATA_SUCCESS) rc = strata_agree_world(x, oob); /* every plan input equal everywhere */
  if (rc != STRATA_SUCCESS) { strata_ctx_release(x); return rc; }
  const char *save = getenv("STRATA_TOPO_SAVE");
  if (save && *save && me == 0) strata_topo_file_write(save, &x->fabric, P, x->hostnames, x->host_of);
  if (me == 0) {
    const strata_fabric_t *f = &x->fabric;
    SLOG_INFO("fabric: %u host(s), %d site(s) from %s; levels: node %.2f us %.1f Gbit/s (%s), site %.1f us %.2f "
              "Gbit/s (%s), global %.1f us %.2f Gbit/s (%s)", nhosts, f->nsites, f->site_source,
              f->lvl[0].alpha * 1e6, f->lvl[0].bw * 8e-9, f->lvl[0].source, f->lvl[1].alpha * 1e6,
              f->lvl[1].bw * 8e-9, f->lvl[1].source, f->lvl[2].alpha * 1e6, f->lvl[2].bw * 8e-9, f->lvl[2].source);
    for (int s2 = 0; s2 < f->nsites && strata_log_level_v >= STRATA_LOG_INFO; s2++) {
      char buf[512];
      size_t len = 0;
      buf[0] = 0;
      for (int w = 0; w < P && len + 70 < sizeof buf; w++)
        if (f->site_of[w] == (uint32_t)s2 && x->host_of[w] == (uint32_t)w)
          len += (size_t)snprintf(buf + len, sizeof buf - len, " %s", x->hostnames[w]);
      SLOG_INFO("  site %d '%s': hosts%s", s2, f->site_name[s2], buf);
    }
  }
  if (strata_log_level_v >= STRATA_LOG_INFO && x->host_of[me] == (uint32_t)me) { /* once per host */
    strata_host_topo_t tp;
    strata_host_topo(&tp);
    SLOG_INFO("host %s%s: %d package(s), %d NUMA node(s), %d cores, %d threads, L3 %zu KiB, NICs [near cores]: %s, GPUs: %s",
              x->hostname, tp.from_hwloc ? " (hwloc)" : "", tp.packages, tp.numa_nodes, tp.cores, tp.pus,
              tp.l3_bytes >> 10, tp.nics[0] ? tp.nics : "none", tp.gpus[0] ? tp.gpus : "none");
  }
  char tpn[128] = "";
  for (int i = 0, len = 0; i < x->ntp && len < (int)sizeof tpn - 40; i++)
    len += snprintf(tpn + len, sizeof tpn - (size_t)len, " %s", x->tp[i]->name);
  SLOG_INFO("world rank %d of %d on %s (site %s): %u hosts, %d ranks here, %d on this machine%s; transports:%s",
            me, P, x->hostname, x->fabric.site_name[x->fabric.site_of[me]], nhosts, x->local_size,
            x->machine_ranks, x->oversubscribed ? " (more ranks than cores)" : "", tpn);
  *out = x;
  return STRATA_SUCCESS;
}

