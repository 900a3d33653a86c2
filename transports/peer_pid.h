/* Is a process of this host gone? Transports that know a peer's pid (shm from its segment,
 * UCX from the address exchange) use it to find a dead local peer fast. */
#ifndef STRATA_PEER_PID_H
#define STRATA_PEER_PID_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* 1 when process pid no longer runs: gone, or a zombie its parent has not reaped yet. */
static inline int strata_pid_dead(int pid) {
  if (pid <= 0) return 0;
  if (kill(pid, 0) != 0 && errno == ESRCH) return 1;
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *rp = strrchr(buf, ')');
  return rp && rp[1] && (rp[2] == 'Z' || rp[2] == 'X');
}

/* Where pids mean the same: this kernel (its boot id) and this pid namespace. A peer's pid is
 * used only when its domain equals this process's: processes of one host name in containers
 * with their own pid namespaces would otherwise look dead (or like someone else). Never 0. */
static inline uint64_t strata_pid_domain(void) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  struct stat s;
  if (stat("/proc/self/ns/pid", &s) == 0) {
    uint64_t v[2] = {(uint64_t)s.st_ino, (uint64_t)s.st_dev};
    const unsigned char *b = (const unsigned char *)v;
    for (size_t i = 0; i < sizeof v; i++) h = (h ^ b[i]) * 1099511628211ull;
  }
  char id[64] = "";
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (f) {
    if (!fgets(id, sizeof id, f)) id[0] = 0;
    fclose(f);
  }
  for (const char *c = id; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
  return h ? h : 1;
}

#endif
