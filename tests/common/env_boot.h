/* Tests that bootstrap through STRATA_ROOT / STRATA_RANK / STRATA_WORLD_SIZE. */
#ifndef STRATA_ENV_BOOT_H
#define STRATA_ENV_BOOT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* A port nobody listens on now (the kernel's pick), for the env bootstrap's root: a fixed or
 * derived one collides with another job's, or with an ephemeral port in use. */
static inline int env_boot_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), port = 20000 + (int)(getpid() % 20000);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t l = sizeof a;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &l) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

#endif
