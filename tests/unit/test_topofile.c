/* Topology files (docs/TOPOLOGY.md): a host's site by pattern, level figures, errors named,
 * and what Strata writes reads back the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../runtime/core/fabric.h"

static char path[64];

static void put(const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_sites_and_levels(void **st) {
  (void)st;
  put("# a comment\nstrata-topology 1\n"
      "level site   alpha_us 50 bw_gbit 100   # inline comment\n"
      "level global alpha_us 9000\n"
      "site aws-use1 ip-10-0-* trn-[0-9]*\n"
      "site oci-fra fra-gpu-* ip-10-0-9\n");
  strata_level_figs_t l[STRATA_NUM_LVLS];
  strata_fabric_defaults(l);
  char site[STRATA_SITE_NAME];
  assert_int_equal(strata_topo_file_read(path, "trn-17", site, l), 0);
  assert_string_equal(site, "aws-use1");
  assert_int_equal(strata_topo_file_read(path, "ip-10-0-9", site, l), 0);
  assert_string_equal(site, "aws-use1"); /* the first matching site wins */
  assert_int_equal(strata_topo_file_read(path, "fra-gpu-3", site, l), 0);
  assert_string_equal(site, "oci-fra");
  assert_int_equal(strata_topo_file_read(path, "elsewhere", site, l), 0);
  assert_string_equal(site, "");
  assert_true(l[STRATA_LVL_SITE].alpha > 49e-6 && l[STRATA_LVL_SITE].alpha < 51e-6);
  assert_true(l[STRATA_LVL_SITE].bw > 12.4e9 && l[STRATA_LVL_SITE].bw < 12.6e9);
  assert_true(l[STRATA_LVL_GLOBAL].alpha > 8.9e-3 && l[STRATA_LVL_GLOBAL].alpha < 9.1e-3);
  assert_true(l[STRATA_LVL_GLOBAL].bw > 1.24e8 && l[STRATA_LVL_GLOBAL].bw < 1.26e8); /* default kept */
  assert_string_equal(l[STRATA_LVL_SITE].source, "file");
  assert_string_equal(l[STRATA_LVL_NODE].source, "default");
}

static void test_errors(void **st) {
  (void)st;
  strata_level_figs_t l[STRATA_NUM_LVLS];
  strata_fabric_defaults(l);
  char site[STRATA_SITE_NAME];
  put("site a h*\n"); /* no header */
  assert_int_equal(strata_topo_file_read(path, "h1", site, l), -1);
  put("strata-topology 2\n"); /* unknown version */
  assert_int_equal(strata_topo_file_read(path, "h1", site, l), -1);
  put("strata-topology 1\nlevel rack alpha_us 3\n");
  assert_int_equal(strata_topo_file_read(path, "h1", site, l), -1);
  put("strata-topology 1\nlevel site speed 3\n");
  assert_int_equal(strata_topo_file_read(path, "h1", site, l), -1);
  put("strata-topology 1\nlevel site alpha_us\n");
  assert_int_equal(strata_topo_file_read(path, "h1", site, l), -1);
  put("strata-topology 1\nsites a h*\n");
  assert_int_equal(strata_topo_file_read(path, "h1", site, l), -1);
  put("");
  assert_int_equal(strata_topo_file_read(path, "h1", site, l), -1);
  assert_int_equal(strata_topo_file_read("/nonexistent/strata.topo", "h1", site, l), -1);
}

static void test_write_read_back(void **st) {
  (void)st;
  /* 6 world ranks on 3 hosts (lowest rank of each: 0, 2, 4), hosts 0 and 2 in site A */
  uint32_t host_of[6] = {0, 0, 2, 2, 4, 4}, site_of[6] = {0, 0, 0, 0, 1, 1};
  char names[6][64] = {"hA", "hA", "hB", "hB", "hC", "hC"};
  char sn[6][STRATA_SITE_NAME] = {"siteA", "siteB"};
  strata_fabric_t f;
  memset(&f, 0, sizeof f);
  f.nsites = 2;
  f.site_of = site_of;
  f.site_name = sn;
  snprintf(f.site_source, sizeof f.site_source, "probing");
  strata_fabric_defaults(f.lvl);
  f.lvl[STRATA_LVL_GLOBAL].alpha = 10e-3;
  f.lvl[STRATA_LVL_GLOBAL].bw = 0.93e9 / 8;
  assert_int_equal(strata_topo_file_write(path, &f, 6, names, host_of), 0);
  strata_level_figs_t l[STRATA_NUM_LVLS];
  strata_fabric_defaults(l);
  char site[STRATA_SITE_NAME];
  const char *hosts[3] = {"hA", "hB", "hC"}, *want[3] = {"siteA", "siteA", "siteB"};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(strata_topo_file_read(path, hosts[i], site, l), 0);
    assert_string_equal(site, want[i]);
  }
  assert_true(l[STRATA_LVL_GLOBAL].alpha > 9.99e-3 && l[STRATA_LVL_GLOBAL].alpha < 10.01e-3);
  assert_true(l[STRATA_LVL_GLOBAL].bw > 0.929e9 / 8 && l[STRATA_LVL_GLOBAL].bw < 0.931e9 / 8);
}

int main(void) {
  snprintf(path, sizeof path, "/tmp/strata-topofile-%d.topo", (int)getpid());
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sites_and_levels),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_write_read_back),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  unlink(path);
  return rc;
}
