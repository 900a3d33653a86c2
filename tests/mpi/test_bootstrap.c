/* Strangers on the bootstrap root's port: while a job of P ranks bootstraps through
 * STRATA_ROOT, this process keeps opening connections to the root that are idle, send
 * random bytes, or send forged hellos (rank out of range, nranks absurd, wrong nonce, another
 * job size). The job must come up anyway, within a few seconds (not STRATA_TIMEOUT_MS),
 * and compute correctly. Forks its ranks itself, before any thread exists.
 * Usage: test_bootstrap [nranks] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../runtime/bootstrap/bootstrap.h"
#include "../common/env_boot.h"
#include "strata.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int child(int port, int P, int r) {
  env_boot_set(port, r, P);
  if (r != 0) usleep(300000); /* the strangers get there first */
  double t0 = now();
  strata_comm_t comm;
  strata_result_t rc = strata_comm_init_env(&comm);
  if (rc != STRATA_SUCCESS) {
    fprintf(stderr, "rank %d: init failed: %s\n", r, strata_result_string(rc));
    return 10;
  }
  double ti = now() - t0;
  float x = (float)r, y = 0;
  rc = strata_allreduce(&x, &y, 1, STRATA_FLOAT32, STRATA_SUM, comm);
  strata_comm_destroy(comm);
  if (rc != STRATA_SUCCESS || y != (float)(P * (P - 1) / 2)) return 11;
  if (ti > 8.0) {
    fprintf(stderr, "rank %d: init took %.1f s with strangers connected\n", r, ti);
    return 12;
  }
  if (r == 0) printf("init with strangers on the root port: %.2f s\n", ti);
  return 0;
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
  return fd;
}

int main(int argc, char **argv) {
  int P = argc > 1 ? atoi(argv[1]) : 4;
  setenv("STRATA_TIMEOUT_MS", "30000", 1); /* a stranger used to hold init this long */
  setenv("STRATA_BOOT_CONN_MS", "1000", 1);
  int port = env_boot_free_port();
  pid_t pids[64];
  alarm(120);
  for (int r = 0; r < P; r++) {
    pids[r] = fork();
    if (pids[r] == 0) _exit(child(port, P, r));
  }
  /* strangers: keep a few idle ones open the whole time */
  int idle[8], ni = 0, sent = 0;
  uint64_t nonce = 0x53545241524f4f54ull ^ htons((uint16_t)port);
  srand(7);
  double t0 = now();
  while (now() - t0 < 1.5) {
    int fd = connect_to(port);
    if (fd < 0) { usleep(20000); continue; }
    int kind = sent++ % 6;
    hello_t h = {0x53545241u, 0, P, htonl(INADDR_LOOPBACK), 1, 0, nonce, 0, 0};
    if (kind == 0) { if (ni < 8) { idle[ni++] = fd; fd = -1; } }           /* idle */
    else if (kind == 1) { char junk[300]; for (int i = 0; i < 300; i++) junk[i] = (char)rand(); send(fd, junk, sizeof junk, MSG_NOSIGNAL); }
    else if (kind == 2) { h.rank = P + 5; send(fd, &h, sizeof h, MSG_NOSIGNAL); } /* rank out of range */
    else if (kind == 3) { h.nranks = 1 << 30; send(fd, &h, sizeof h, MSG_NOSIGNAL); } /* absurd size */
    else if (kind == 4) { h.nonce ^= 1; send(fd, &h, sizeof h, MSG_NOSIGNAL); } /* another job */
    else { h.nranks = P + 1; h.rank = P; send(fd, &h, sizeof h, MSG_NOSIGNAL); } /* another job size */
    if (fd >= 0) { usleep(5000); close(fd); }
    usleep(20000);
  }
  int failures = 0;
  for (int r = 0; r < P; r++) {
    int st = 0;
    waitpid(pids[r], &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      printf("rank %d exited with status %d\n", r, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
      failures++;
    }
  }
  for (int i = 0; i < ni; i++) close(idle[i]);
  printf("%d strangers connected; %d ranks passed, %d failed\n", sent, P - failures, failures);
  return failures ? 1 : 0;
}
