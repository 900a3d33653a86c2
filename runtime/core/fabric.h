/* The fabric in strata: rank -> node (host) -> site (a provider's cluster) -> global.
 * Sites come from STRATA_SITE, a topology file (STRATA_TOPO_FILE, format in
 * docs/TOPOLOGY.md), or probing between node leaders at init; each level carries an
 * (alpha, bandwidth) pair, declared, measured or default, that the cost model uses. */
#ifndef STRATA_FABRIC_H
#define STRATA_FABRIC_H

#include <stdint.h>

#include "../../transports/transport.h"

enum { STRATA_LVL_NODE = 0, STRATA_LVL_SITE, STRATA_LVL_GLOBAL, STRATA_NUM_LVLS };

typedef struct strata_level_figs {
  double alpha;     /* s per message */
  double bw;        /* bytes/s: node: per rank pair; site: per host NIC; global: per site uplink */
  char source[16];  /* "default", "file", "probe", "env" */
} strata_level_figs_t;

#define STRATA_SITE_NAME 32

typedef struct strata_fabric {
  int nsites;
  uint32_t *site_of;                 /* dense site index of each world rank */
  char (*site_name)[STRATA_SITE_NAME];
  char site_source[32];              /* where the sites came from */
  strata_level_figs_t lvl[STRATA_NUM_LVLS];
  double probe_ms;                   /* init time spent probing, 0 when none */
} strata_fabric_t;

struct strata_context;

/* Defaults for the level figures (site 30 us, 10 Gbit/s; global 1 ms, 1 Gbit/s). */
void strata_fabric_defaults(strata_level_figs_t lvl[STRATA_NUM_LVLS]);

/* After the transports exist: decide sites and level figures for every world rank. Every
 * rank calls it; the answer is the same everywhere. labels[w]: rank w's STRATA_SITE or
 * topology-file label ("" when none). x->fabric.lvl holds the defaults, overlaid with the
 * topology file's figures when there is one; probing and STRATA_LEVEL_* refine them. */
strata_result_t strata_fabric_setup(struct strata_context *x, strata_oob_t *oob,
                                    char (*labels)[STRATA_SITE_NAME]);
void strata_fabric_free(strata_fabric_t *f);

/* Topology files. Parse: the site label of `host` (empty when not listed) and any level
 * figures the file declares (left untouched when absent). Returns 0, -1 when the file cannot
 * be read or is malformed (with a log line naming the line). */
int strata_topo_file_read(const char *path, const char *host, char *site_out, strata_level_figs_t lvl[STRATA_NUM_LVLS]);
/* Write the detected topology (sites with their hosts, level figures) so that a later run
 * reads it instead of probing. hostnames[w] per world rank. */
int strata_topo_file_write(const char *path, const strata_fabric_t *f, int world_size,
                           char (*hostnames)[64], const uint32_t *host_of);

/* Probing (probe.c): node leaders measure latency and bandwidth to a few others at once;
 * nodes joined by links alike cluster into sites. Fills site labels "probe<k>" for every
 * world rank and the site/global level figures. */
strata_result_t strata_fabric_probe(struct strata_context *x, strata_oob_t *oob,
                                    char (*labels)[STRATA_SITE_NAME], strata_level_figs_t lvl[STRATA_NUM_LVLS]);

#endif
