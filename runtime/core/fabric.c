/* Sites and level figures for the world: see fabric.h and docs/TOPOLOGY.md. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fabric.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm.h"
#include "log.h"

void strata_fabric_free(strata_fabric_t *f) {
  free(f->site_of);
  free(f->site_name);
  f->site_of = NULL;
  f->site_name = NULL;
}

static const char *lvl_names[STRATA_NUM_LVLS] = {"node", "site", "global"};

static void figs_set(strata_level_figs_t *l, double alpha_us, double gbit, const char *src) {
  if (alpha_us >= 0) l->alpha = alpha_us * 1e-6;
  if (gbit > 0) l->bw = gbit * 1e9 / 8;
  snprintf(l->source, sizeof l->source, "%s", src);
}

/* "ALPHA_US,GBIT" from an environment variable */
static void figs_env(strata_level_figs_t *l, const char *var) {
  const char *v = getenv(var);
  if (!v || !*v) return;
  double a, g;
  if (sscanf(v, "%lf,%lf", &a, &g) == 2 && a >= 0 && g > 0) figs_set(l, a, g, "env");
  else SLOG_WARN("%s='%s' is not ALPHA_US,GBIT_PER_S; ignored", var, v);
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
  return s;
}

int strata_topo_file_read(const char *path, const char *host, char *site_out, strata_level_figs_t lvl[STRATA_NUM_LVLS]) {
  FILE *f = fopen(path, "r");
  site_out[0] = 0;
  if (!f) {
    SLOG_WARN("STRATA_TOPO_FILE %s cannot be read", path);
    return -1;
  }
  char line[4096];
  int ln = 0, header = 0, rc = 0;
  while (fgets(line, sizeof line, f)) {
    ln++;
    char *h = strchr(line, '#');
    if (h) *h = 0;
    char *s = trim(line);
    if (!*s) continue;
    char *save = NULL, *kw = strtok_r(s, " \t", &save);
    if (!header) {
      char *ver = strtok_r(NULL, " \t", &save);
      if (strcmp(kw, "strata-topology") || !ver || atoi(ver) != 1) {
        SLOG_WARN("%s:%d: expected 'strata-topology 1' first", path, ln);
        rc = -1;
        break;
      }
      header = 1;
      continue;
    }
    if (!strcmp(kw, "site")) {
      char *label = strtok_r(NULL, " \t", &save);
      if (!label) { SLOG_WARN("%s:%d: 'site' needs a label and host patterns", path, ln); rc = -1; break; }
      for (char *pat; (pat = strtok_r(NULL, " \t", &save));)
        if (!site_out[0] && fnmatch(pat, host, 0) == 0) snprintf(site_out, STRATA_SITE_NAME, "%s", label);
    } else if (!strcmp(kw, "level")) {
      char *name = strtok_r(NULL, " \t", &save);
      int li = -1;
      for (int i = 0; name && i < STRATA_NUM_LVLS; i++)
        if (!strcmp(name, lvl_names[i])) li = i;
      if (li < 0) { SLOG_WARN("%s:%d: level must be node, site or global", path, ln); rc = -1; break; }
      double a = -1, g = -1;
      for (char *k; (k = strtok_r(NULL, " \t", &save));) {
        char *v = strtok_r(NULL, " \t", &save);
        if (!v) { SLOG_WARN("%s:%d: '%s' needs a value", path, ln, k); rc = -1; break; }
        if (!strcmp(k, "alpha_us")) a = atof(v);
        else if (!strcmp(k, "bw_gbit")) g = atof(v);
        else { SLOG_WARN("%s:%d: unknown level field '%s' (alpha_us, bw_gbit)", path, ln, k); rc = -1; break; }
      }
      if (rc) break;
      figs_set(&lvl[li], a, g, "file");
    } else {
      SLOG_WARN("%s:%d: unknown keyword '%s' (site, level)", path, ln, kw);
      rc = -1;
      break;
    }
  }
  if (!header && !rc) { SLOG_WARN("%s: empty topology file", path); rc = -1; }
  fclose(f);
  return rc;
}

int strata_topo_file_write(const char *path, const strata_fabric_t *f, int world_size, char (*hostnames)[64],
                           const uint32_t *host_of) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
  FILE *o = fopen(tmp, "w");
  if (!o) { SLOG_WARN("STRATA_TOPO_SAVE %s cannot be written", path); return -1; }
  fprintf(o, "strata-topology 1\n# written by Strata (sites from %s)\n", f->site_source);
  for (int l = 0; l < STRATA_NUM_LVLS; l++)
    fprintf(o, "level %-6s alpha_us %.2f bw_gbit %.3f  # %s\n", lvl_names[l], f->lvl[l].alpha * 1e6,
            f->lvl[l].bw * 8 / 1e9, f->lvl[l].source);
  for (int s = 0; s < f->nsites; s++) {
    fprintf(o, "site %s", f->site_name[s]);
    for (int w = 0; w < world_size; w++)
      if (f->site_of[w] == (uint32_t)s && host_of[w] == (uint32_t)w) fprintf(o, " %s", hostnames[w]);
    fprintf(o, "\n");
  }
  int bad = fclose(o) != 0;
  if (bad || rename(tmp, path)) { unlink(tmp); SLOG_WARN("STRATA_TOPO_SAVE %s: write failed", path); return -1; }
  return 0;
}

static int probe_wanted(void) {
  const char *v = getenv("STRATA_TOPO_PROBE");
  return !(v && (!strcmp(v, "0") || !strcmp(v, "off")));
}

void strata_fabric_defaults(strata_level_figs_t lvl[STRATA_NUM_LVLS]) {
  figs_set(&lvl[STRATA_LVL_NODE], 0.5, 48, "default");
  figs_set(&lvl[STRATA_LVL_SITE], 30, 10, "default");
  figs_set(&lvl[STRATA_LVL_GLOBAL], 1000, 1, "default");
}

strata_result_t strata_fabric_setup(strata_context_t *x, strata_oob_t *oob, char (*labels)[STRATA_SITE_NAME]) {
  strata_fabric_t *f = &x->fabric;
  const int P = x->world_size;
  int labelled = 0, nhosts = 0;
  for (int w = 0; w < P; w++) {
    labelled += labels[w][0] != 0;
    nhosts += x->host_of[w] == (uint32_t)w;
  }
  if (labelled) {
    const char *v = getenv("STRATA_SITE");
    snprintf(f->site_source, sizeof f->site_source, "%s", v && *v ? "STRATA_SITE" : "STRATA_TOPO_FILE");
    /* A host lies in one site: its first labelled rank decides, others follow (with a
     * warning if they named another site); a host without any label is "unlisted".
     * host_of[w] is the lowest world rank on w's host, so its label slot holds the host's. */
    int clash = 0;
    char(*host_label)[STRATA_SITE_NAME] = calloc((size_t)P, sizeof *host_label);
    if (!host_label) return STRATA_ERR_SYSTEM;
    for (int w = 0; w < P; w++)
      if (labels[w][0] && !host_label[x->host_of[w]][0]) memcpy(host_label[x->host_of[w]], labels[w], STRATA_SITE_NAME);
    for (int w = 0; w < P; w++) {
      const char *hl = host_label[x->host_of[w]][0] ? host_label[x->host_of[w]] : "unlisted";
      if (labels[w][0] && strcmp(labels[w], hl)) clash++;
      snprintf(labels[w], STRATA_SITE_NAME, "%s", hl);
    }
    free(host_label);
    if (labelled < P && x->world_rank == 0)
      SLOG_WARN("%d of %d ranks have no site label; they join their host's site or 'unlisted'", P - labelled, P);
    if (clash && x->world_rank == 0)
      SLOG_WARN("%d rank(s) named another site than their host's first labelled rank; a host lies in one "
                "site, so they follow it", clash);
  } else if (nhosts > 1 && probe_wanted()) { /* init found a transport to every host */
    strata_result_t rc = strata_fabric_probe(x, oob, labels, f->lvl);
    if (rc != STRATA_SUCCESS) return rc;
    snprintf(f->site_source, sizeof f->site_source, "probing");
  } else {
    for (int w = 0; w < P; w++) snprintf(labels[w], STRATA_SITE_NAME, "site0");
    snprintf(f->site_source, sizeof f->site_source, nhosts > 1 ? "one site (probing off)" : "one host");
  }
  figs_env(&f->lvl[STRATA_LVL_SITE], "STRATA_LEVEL_SITE");
  figs_env(&f->lvl[STRATA_LVL_GLOBAL], "STRATA_LEVEL_GLOBAL");
  f->site_of = malloc((size_t)P * sizeof *f->site_of);
  f->site_name = calloc((size_t)P, sizeof *f->site_name);
  if (!f->site_of || !f->site_name) return STRATA_ERR_SYSTEM;
  f->nsites = 0;
  for (int w = 0; w < P; w++) { /* one lookup per host (sites are few); its ranks follow */
    if (x->host_of[w] != (uint32_t)w) { f->site_of[w] = f->site_of[x->host_of[w]]; continue; }
    int s = -1;
    for (int i = 0; i < f->nsites; i++)
      if (!strcmp(f->site_name[i], labels[w])) { s = i; break; }
    if (s < 0) {
      s = f->nsites++;
      memcpy(f->site_name[s], labels[w], STRATA_SITE_NAME);
      f->site_name[s][STRATA_SITE_NAME - 1] = 0;
    }
    f->site_of[w] = (uint32_t)s;
  }
  return STRATA_SUCCESS;
}
