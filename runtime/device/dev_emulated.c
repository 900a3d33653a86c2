/* The emulated device (STRATA_DEVICE=emulated): host memory posing as device memory so every
 * device path of the runtime (pointer detection, IPC handle exchange and mapping, the direct
 * intra-node kernels, the staged pipeline) runs in CI on machines without a GPU.
 *  - "device" allocations are shared-memory files mapped here, so an IPC handle (creator pid,
 *    allocation number, size) lets another process map the same bytes, as CUDA IPC does;
 *  - streams and events are synchronous: work is done when it is enqueued;
 *  - the kernels are the CPU kernels. */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../core/log.h"
#include "device.h"
#include "strata.h"
#include "strata_kernels.h"

#define EMU_MAGIC 0x554d4553u /* "SEMU" */

typedef struct {
  void *base;
  size_t size;
  uint32_t id;
  int own;
} emu_map_t;

typedef struct {
  uint32_t magic, pid, id, pad;
  uint64_t size;
} emu_handle_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static emu_map_t *maps;
static int nmaps, capmaps;
static uint32_t next_id;
static char dummy_obj[4]; /* streams and events: any non-NULL pointer */

static void shm_name(char *b, size_t n, uint32_t pid, uint32_t id) { snprintf(b, n, "/strata-emu-%u-%u", pid, id); }

static int add_map(void *base, size_t size, uint32_t id, int own) {
  if (nmaps == capmaps) {
    int nc = capmaps ? capmaps * 2 : 16;
    emu_map_t *m = realloc(maps, (size_t)nc * sizeof *m);
    if (!m) return -1;
    maps = m;
    capmaps = nc;
  }
  maps[nmaps++] = (emu_map_t){base, size, id, own};
  return 0;
}
static int find_map(const void *p) { /* own allocations only: what a "device pointer" is here */
  for (int i = 0; i < nmaps; i++)
    if (maps[i].own && (const char *)p >= (char *)maps[i].base && (const char *)p < (char *)maps[i].base + maps[i].size)
      return i;
  return -1;
}

static int is_device_ptr(const void *p, int *dev) {
  pthread_mutex_lock(&lock);
  int i = p ? find_map(p) : -1;
  pthread_mutex_unlock(&lock);
  if (i >= 0 && dev) *dev = 0;
  return i >= 0;
}
static int get_device(int *dev) { *dev = 0; return 0; }
static int mem_alloc(void **p, size_t n) {
  pthread_mutex_lock(&lock);
  uint32_t id = next_id++;
  pthread_mutex_unlock(&lock);
  char name[64];
  shm_name(name, sizeof name, (uint32_t)getpid(), id);
  size_t sz = n ? n : 1;
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) return 1;
  if (ftruncate(fd, (off_t)sz) != 0) {
    close(fd);
    shm_unlink(name);
    return 1;
  }
  void *b = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (b == MAP_FAILED) {
    shm_unlink(name);
    return 1;
  }
  pthread_mutex_lock(&lock);
  int rc = add_map(b, sz, id, 1);
  pthread_mutex_unlock(&lock);
  if (rc) {
    munmap(b, sz);
    shm_unlink(name);
    return 1;
  }
  *p = b;
  return 0;
}
static int unmap(void *p, int own) {
  pthread_mutex_lock(&lock);
  int i = -1;
  for (int k = 0; k < nmaps; k++)
    if (maps[k].base == p && maps[k].own == own) i = k;
  emu_map_t m = i >= 0 ? maps[i] : (emu_map_t){0};
  if (i >= 0) maps[i] = maps[--nmaps];
  pthread_mutex_unlock(&lock);
  if (i < 0) return 1;
  munmap(m.base, m.size);
  if (own) {
    char name[64];
    shm_name(name, sizeof name, (uint32_t)getpid(), m.id);
    shm_unlink(name);
  }
  return 0;
}
static int mem_free(void *p) { return p ? unmap(p, 1) : 0; }
static int host_alloc(void **p, size_t n) { return posix_memalign(p, 64, n ? n : 1) ? 1 : 0; }
static int host_free(void *p) { free(p); return 0; }
static int copy_async(void *d, const void *s, size_t n, void *st) {
  (void)st;
  if (n) memmove(d, s, n);
  return 0;
}
static int copy2d_async(void *d, size_t dp, const void *s, size_t sp, size_t w, size_t h, void *st) {
  (void)st;
  for (size_t r = 0; r < h; r++) memmove((char *)d + r * dp, (const char *)s + r * sp, w);
  return 0;
}
static int stream_create(void **s) { *s = dummy_obj; return 0; }
static int noop1(void *x) { (void)x; return 0; }
static int event_create(void **e, int ipc) { (void)ipc; *e = dummy_obj + 1; return 0; }
static int noop2(void *a, void *b) { (void)a; (void)b; return 0; }
static int event_ipc_get(void *e, void *h) { (void)e; memset(h, 0, STRATA_DEV_HANDLE_BYTES); return 0; }
static int event_ipc_open(const void *h, void **e) { (void)h; *e = dummy_obj + 2; return 0; }
static int mem_ipc_get(const void *p, void *h, size_t *off) {
  pthread_mutex_lock(&lock);
  int i = find_map(p);
  emu_map_t m = i >= 0 ? maps[i] : (emu_map_t){0};
  pthread_mutex_unlock(&lock);
  if (i < 0) return 1;
  emu_handle_t x = {EMU_MAGIC, (uint32_t)getpid(), m.id, 0, m.size};
  memset(h, 0, STRATA_DEV_HANDLE_BYTES);
  memcpy(h, &x, sizeof x);
  *off = (size_t)((const char *)p - (char *)m.base);
  return 0;
}
static int mem_ipc_open(const void *h, void **base) {
  emu_handle_t x;
  memcpy(&x, h, sizeof x);
  if (x.magic != EMU_MAGIC) return 1;
  char name[64];
  shm_name(name, sizeof name, x.pid, x.id);
  int fd = shm_open(name, O_RDWR, 0);
  if (fd < 0) return 1;
  void *b = mmap(NULL, x.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (b == MAP_FAILED) return 1;
  pthread_mutex_lock(&lock);
  int rc = add_map(b, x.size, x.id, 0);
  pthread_mutex_unlock(&lock);
  if (rc) {
    munmap(b, x.size);
    return 1;
  }
  *base = b;
  return 0;
}
static int mem_ipc_close(void *base) { return unmap(base, 0); }
static int reduce(const strata_dev_task_t *t, int nt, int dtype, int op, int avg_div, void *st) {
  (void)st;
  for (int i = 0; i < nt; i++) {
    if (!t[i].count || t[i].ndst < 1) continue;
    strata_kernel_reduce_multi(t[i].dst[0], t[i].src, t[i].nsrc, t[i].count, dtype, op, avg_div);
    size_t bytes = t[i].count * strata_dtype_size((strata_dtype_t)dtype);
    for (int d = 1; d < t[i].ndst; d++)
      if (t[i].dst[d] != t[i].dst[0]) memcpy(t[i].dst[d], t[i].dst[0], bytes);
  }
  return 0;
}
static int copy(const strata_dev_task_t *t, int nt, void *st) {
  (void)st;
  for (int i = 0; i < nt; i++)
    for (int d = 0; d < t[i].ndst; d++)
      if (t[i].count && t[i].dst[d] != t[i].src[0]) memmove(t[i].dst[d], t[i].src[0], t[i].count);
  return 0;
}
static int wait_flag(volatile uint32_t *flag, uint32_t v, uint64_t tmo, volatile uint32_t *to, void *st) {
  (void)st;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  while ((int32_t)(__atomic_load_n(flag, __ATOMIC_ACQUIRE) - v) < 0) {
    clock_gettime(CLOCK_MONOTONIC, &b);
    if ((uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull + (uint64_t)(b.tv_nsec - a.tv_nsec) > tmo) {
      *to = 1;
      break;
    }
    sched_yield();
  }
  return 0;
}
static int host_dev_ptr(void *h, void **d) { *d = h; return 0; }
static const char *error_string(int rc) { return rc ? "emulated device: operation failed" : "no error"; }

static const strata_dev_ops_t emu_ops = {
    "emulated", is_device_ptr, get_device, mem_alloc, mem_free, host_alloc, host_free, copy_async, copy2d_async,
    stream_create, noop1, noop1, event_create, noop1, noop2, noop1, noop2, event_ipc_get, event_ipc_open,
    mem_ipc_get, mem_ipc_open, mem_ipc_close, reduce, copy, wait_flag, host_dev_ptr, error_string};

const strata_dev_ops_t *strata_dev_emulated_ops(void) { return &emu_ops; }
