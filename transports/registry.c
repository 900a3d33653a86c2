/* The transports built in, in order of preference: a peer's messages go through the first
 * one (of those STRATA_TRANSPORTS allows) that reaches it. Adding a transport is writing its
 * ops table and adding its line here. */
#include "transport.h"

static const strata_transport_entry_t entries[] = {
    {"shm", strata_shm_create}, /* this host: shared-memory inboxes and CMA */
#ifdef STRATA_HAVE_UCX
    {"ucx", strata_ucx_create}, /* anywhere */
#endif
};

const strata_transport_entry_t *strata_transport_list(int *n) {
  *n = (int)(sizeof entries / sizeof entries[0]);
  return entries;
}
