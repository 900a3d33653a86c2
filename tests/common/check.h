/* CHECK for the multi-process tests: counts checks and failures, prints the first 20
 * failures with the rank. The including file defines `me`, `errors` and `checks`. */
#ifndef STRATA_TEST_CHECK_H
#define STRATA_TEST_CHECK_H

#include <stdio.h>

#define CHECK(cond, ...)                                                        \
  do {                                                                          \
    checks++;                                                                   \
    if (!(cond)) {                                                              \
      errors++;                                                                 \
      if (errors < 20) {                                                        \
        printf("[rank %d] FAIL %s:%d: ", me, __FILE__, __LINE__);               \
        printf(__VA_ARGS__);                                                    \
        printf("\n");                                                           \
        fflush(stdout);                                                         \
      }                                                                         \
    }                                                                           \
  } while (0)

#endif
