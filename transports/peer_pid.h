/* Is a process of this host gone? Transports that know a peer's pid (shm from its segment,
 * UCX from the address exchange) use it to find a dead local peer fast. */
#ifndef STRATA_PEER_PID_H
#define STRATA_PEER_PID_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

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

#endif
