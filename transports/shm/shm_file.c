#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shm_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* MAP_POPULATE: the page tables are filled now, at init, not by a fault on the first
 * message through each page (a 4 KiB eager message through a fresh inbox cell took 4-7 us
 * instead of 1.2 until all 32 cells had been used once). */
#define SHM_MAP_FLAGS (MAP_SHARED | MAP_POPULATE)

void *strata_shm_file_create(const char *name, size_t size, int *err) {
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) {
    *err = errno;
    return NULL;
  }
  /* posix_fallocate returns the error number (it does not set errno) */
  int rc = posix_fallocate(fd, 0, (off_t)size);
  if (rc != 0) {
    close(fd);
    shm_unlink(name);
    *err = rc;
    return NULL;
  }
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, SHM_MAP_FLAGS, fd, 0);
  *err = errno;
  close(fd);
  if (p == MAP_FAILED) {
    shm_unlink(name);
    return NULL;
  }
  return p;
}

void *strata_shm_file_attach(const char *name, size_t size, int *err) {
  int fd = shm_open(name, O_RDWR, 0600);
  if (fd < 0) {
    *err = errno;
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || (size_t)st.st_size != size) {
    close(fd);
    *err = EINVAL;
    return NULL;
  }
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, SHM_MAP_FLAGS, fd, 0);
  *err = errno;
  close(fd);
  return p == MAP_FAILED ? NULL : p;
}

int strata_shm_file_read(const char *name, void *buf, size_t len) {
  int fd = shm_open(name, O_RDONLY, 0600);
  if (fd < 0) return -1;
  ssize_t n = pread(fd, buf, len, 0);
  close(fd);
  return n == (ssize_t)len ? 0 : -1;
}
