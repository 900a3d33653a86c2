/* Which device provider is active: chosen once per process. */
#include <pthread.h>

#include "../core/config.h"
#include "../core/log.h"
#include "device.h"

static const strata_dev_ops_t *active;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void pick(void) {
  const strata_config_t *c = strata_config();
  if (c->device == -1) return;
  if (c->device == 2) {
    active = strata_dev_emulated_ops();
    SLOG_INFO("device: emulated (STRATA_DEVICE=emulated): host memory stands in for GPU memory");
    return;
  }
#ifdef STRATA_HAVE_CUDA
  active = strata_dev_cuda_ops();
  if (!active && c->device == 1) SLOG_WARN("STRATA_DEVICE=cuda, but no GPU is visible: device buffers are refused");
#else
  if (c->device == 1) SLOG_WARN("STRATA_DEVICE=cuda, but this Strata was built without CUDA");
#endif
}

const strata_dev_ops_t *strata_dev(void) {
  pthread_once(&once, pick);
  return active;
}

int strata_dev_is_device_ptr(const void *p) {
  const strata_dev_ops_t *d = strata_dev();
  return d && p && d->is_device_ptr(p, NULL) == 1;
}

#ifndef STRATA_HAVE_CUDA
const strata_dev_ops_t *strata_dev_cuda_ops(void) { return NULL; }
#endif
