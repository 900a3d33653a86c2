/* strata_tune: measure this host's machine figures now (runtime/tuner/machine.c), write the
 * per-host cache that init reads, and print what was found, with the staging-copy
 * measurement behind the streaming-store threshold. Usage: strata_tune */
#include <stdint.h>
#include <stdio.h>

#include "../runtime/tuner/machine.h"

int main(void) {
  strata_machine_t m = {0};
  if (strata_machine_calibrate(&m) != 0) {
    fprintf(stderr, "strata_tune: calibration needs two cores; the defaults (hwloc) stay\n");
    strata_machine_derive(&m, 0);
  } else {
    printf("staging ring, streaming time / plain time by piece size:\n");
    for (int i = 0; i < 8; i++) printf("  %4d KiB: %.2f%s\n", 4 << i, m.copy_gain[i], m.copy_gain[i] < 0.95 ? "  (streaming wins)" : "");
  }
  strata_machine_t d;
  strata_machine_derive(&d, 0); /* what init will use: the cache just written, env on top */
  m = d;
  char line[400];
  strata_machine_describe(&m, line, sizeof line);
  printf("%s\n", line);
  return 0;
}
