/* Shared-memory files under /dev/shm that are backed by real pages before anyone touches
 * them: ftruncate alone makes a sparse file, and a tmpfs that runs out of pages later
 * answers a store with SIGBUS. Creation reserves every page with posix_fallocate, so a
 * small /dev/shm (containers default to 64 MiB) is an error at creation, never a signal. */
#ifndef STRATA_SHM_FILE_H
#define STRATA_SHM_FILE_H

#include <stddef.h>

/* Create name (O_EXCL, 0600) with size bytes reserved and map it. Returns the mapping or
 * NULL; on failure the file is gone and *err holds errno (ENOSPC: /dev/shm too small). */
void *strata_shm_file_create(const char *name, size_t size, int *err);
/* Attach to name, which must have exactly size bytes. NULL on failure (*err = errno, or
 * EINVAL for a size mismatch). */
void *strata_shm_file_attach(const char *name, size_t size, int *err);

/* Read the first len bytes of name (a header). 0 on success. */
int strata_shm_file_read(const char *name, void *buf, size_t len);

#endif
