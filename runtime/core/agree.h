/* Every rank must choose the same plan for the same call, so every input of a plan choice
 * must be the same on every rank: the STRATA_* variables that steer algorithms, chunking,
 * transports and the cost model, the fabric's level figures (topology file, STRATA_LEVEL_*,
 * probing) and the oversubscription factor. At init every rank hashes them; the digests are
 * compared through the bootstrap, and on a mismatch every rank returns
 * STRATA_ERR_INVALID_USAGE naming the first rank and the first variable that differ (never a
 * hang in mismatched plans later). A split compares the digests again over the parent. */
#ifndef STRATA_AGREE_H
#define STRATA_AGREE_H

#include <stdint.h>

#include "comm.h"

/* World creation: digest, compare, agree on the oversubscription factor (the largest). */
strata_result_t strata_agree_world(strata_context_t *x, strata_oob_t *oob);

#endif
