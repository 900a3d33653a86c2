/* Tests that bootstrap through STRATA_ROOT / STRATA_RANK / STRATA_WORLD_SIZE. */
#ifndef STRATA_ENV_BOOT_H
#define STRATA_ENV_BOOT_H

#include <stdio.h>
#include <stdlib.h>

/* Point this process at a root on 127.0.0.1:port as rank of size ranks. */
static inline void env_boot_set(int port, int rank, int size) {
  char v[64];
  snprintf(v, sizeof v, "127.0.0.1:%d", port);
  setenv("STRATA_ROOT", v, 1);
  snprintf(v, sizeof v, "%d", rank);
  setenv("STRATA_RANK", v, 1);
  snprintf(v, sizeof v, "%d", size);
  setenv("STRATA_WORLD_SIZE", v, 1);
}

#endif
