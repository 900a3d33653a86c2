#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/config.h"
#include "../core/log.h"
#include "../engine/engine.h"
#include "bootstrap.h"

typedef struct hello {
  uint32_t magic;
  int32_t rank, nranks;
  uint32_t ipv4;
  uint16_t port, pad;
  uint64_t nonce;
} hello_t;

typedef struct reply {
  uint32_t magic;
  uint32_t next_ipv4;
  uint16_t next_port, pad;
  uint64_t key;
} reply_t;

typedef struct tcp_oob {
  strata_oob_t oob;
  int next_fd, prev_fd;
} tcp_oob_t;

static uint64_t deadline_ns(void) {
  return strata_now_ns() + (uint64_t)strata_config()->timeout_ms * 1000000ull;
}
static int ms_left(uint64_t dl) {
  uint64_t now = strata_now_ns();
  if (now >= dl) return 0;
  uint64_t ms = (dl - now) / 1000000ull + 1;
  return ms > 1000000000ull ? 1000000000 : (int)ms;
}

/* Full-duplex transfer with a deadline: send slen bytes on sfd while receiving rlen on rfd. */
static strata_result_t xfer(int sfd, const void *sbuf, size_t slen, int rfd, void *rbuf, size_t rlen,
                            uint64_t dl) {
  size_t so = 0, ro = 0;
  while (so < slen || ro < rlen) {
    struct pollfd p[2];
    int n = 0, si = -1, ri = -1;
    if (so < slen) { p[n].fd = sfd; p[n].events = POLLOUT; si = n++; }
    if (ro < rlen) { p[n].fd = rfd; p[n].events = POLLIN; ri = n++; }
    int left = ms_left(dl);
    if (!left) return STRATA_ERR_TIMEOUT;
    int k = poll(p, (nfds_t)n, left);
    if (k < 0) {
      if (errno == EINTR) continue;
      return STRATA_ERR_SYSTEM;
    }
    if (k == 0) return STRATA_ERR_TIMEOUT;
    if (si >= 0 && (p[si].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = send(sfd, (const char *)sbuf + so, slen - so, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EINTR) return STRATA_ERR_PEER_FAILED;
      if (w > 0) so += (size_t)w;
    }
    if (ri >= 0 && (p[ri].revents & (POLLIN | POLLERR | POLLHUP))) {
      ssize_t r = recv(rfd, (char *)rbuf + ro, rlen - ro, 0);
      if (r == 0) return STRATA_ERR_PEER_FAILED;
      if (r < 0 && errno != EAGAIN && errno != EINTR) return STRATA_ERR_PEER_FAILED;
      if (r > 0) ro += (size_t)r;
    }
  }
  return STRATA_SUCCESS;
}

static strata_result_t send_all(int fd, const void *b, size_t n, uint64_t dl) { return xfer(fd, b, n, fd, NULL, 0, dl); }
static strata_result_t recv_all(int fd, void *b, size_t n, uint64_t dl) { return xfer(fd, NULL, 0, fd, b, n, dl); }

static int listen_on(uint32_t ipv4, uint16_t port, uint16_t *bound) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = port, .sin_addr.s_addr = ipv4};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 1024)) {
    close(fd);
    return -1;
  }
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  *bound = a.sin_port;
  return fd;
}

static int accept_dl(int lfd, uint64_t dl) {
  for (;;) {
    struct pollfd p = {lfd, POLLIN, 0};
    int left = ms_left(dl);
    if (!left) return -1;
    int k = poll(&p, 1, left);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    if (errno != EINTR && errno != ECONNABORTED) return -1;
  }
}

/* Connect, retrying while the other side is not up yet. */
static int connect_dl(uint32_t ipv4, uint16_t port, uint64_t dl) {
  useconds_t backoff = 1000;
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = port, .sin_addr.s_addr = ipv4};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    close(fd);
    if (!ms_left(dl)) return -1;
    usleep(backoff);
    if (backoff < 100000) backoff *= 2;
  }
}

uint32_t strata_bootstrap_resolve(const char *host) {
  struct in_addr ia;
  if (inet_pton(AF_INET, host, &ia) == 1) return ia.s_addr;
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
  if (getaddrinfo(host, NULL, &hints, &res) || !res) return 0;
  uint32_t v = ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr;
  freeaddrinfo(res);
  return v;
}

uint32_t strata_bootstrap_local_ipv4(void) {
  const char *e = getenv("STRATA_ROOT_ADDR");
  if (e && *e) {
    uint32_t v = strata_bootstrap_resolve(e);
    if (v) return v;
    SLOG_WARN("STRATA_ROOT_ADDR=%s does not resolve; picking an interface", e);
  }
  const char *ifn = getenv("STRATA_SOCKET_IFNAME");
  struct ifaddrs *ifs = NULL;
  uint32_t best = htonl(INADDR_LOOPBACK);
  if (getifaddrs(&ifs) == 0) {
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
      uint32_t v = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
      if (ifn && *ifn) {
        if (!strcmp(i->ifa_name, ifn)) { best = v; break; }
        continue;
      }
      if ((ntohl(v) >> 24) == 127) continue;
      best = v;
      break;
    }
    freeifaddrs(ifs);
  }
  return best;
}

/* ---- the root: introduces every rank to its ring successor, then exits ---- */

typedef struct root_arg {
  int lfd;
  uint64_t nonce;
} root_arg_t;

static void *root_main(void *p) {
  root_arg_t *ra = p;
  uint64_t dl = deadline_ns();
  int nranks = -1, got = 0;
  int *fds = NULL;
  hello_t *h = NULL;
  uint64_t key;
  if (getrandom(&key, sizeof key, 0) != (ssize_t)sizeof key) key = strata_now_ns() ^ (uint64_t)getpid();
  while (nranks < 0 || got < nranks) {
    int fd = accept_dl(ra->lfd, dl);
    if (fd < 0) {
      SLOG_WARN("bootstrap root: only %d of %d ranks connected before the timeout", got, nranks);
      goto out;
    }
    hello_t x;
    if (recv_all(fd, &x, sizeof x, dl) != STRATA_SUCCESS || x.magic != STRATA_UID_MAGIC ||
        x.nonce != ra->nonce) {
      close(fd); /* not one of ours (stale or foreign connection) */
      continue;
    }
    if (nranks < 0) {
      nranks = x.nranks;
      fds = malloc((size_t)nranks * sizeof *fds);
      h = calloc((size_t)nranks, sizeof *h);
      if (!fds || !h) goto out;
      for (int i = 0; i < nranks; i++) fds[i] = -1;
    }
    if (x.nranks != nranks || x.rank < 0 || x.rank >= nranks || fds[x.rank] >= 0) {
      SLOG_WARN("bootstrap root: rank %d of %d does not fit a job of %d ranks", x.rank, x.nranks, nranks);
      close(fd);
      continue;
    }
    fds[x.rank] = fd;
    h[x.rank] = x;
    got++;
  }
  for (int r = 0; r < nranks; r++) {
    const hello_t *nx = &h[(r + 1) % nranks];
    reply_t rep = {STRATA_UID_MAGIC, nx->ipv4, nx->port, 0, key};
    send_all(fds[r], &rep, sizeof rep, dl);
  }
out:
  if (fds)
    for (int i = 0; i < nranks; i++)
      if (fds[i] >= 0) close(fds[i]);
  free(fds);
  free(h);
  close(ra->lfd);
  free(ra);
  return NULL;
}

strata_result_t strata_bootstrap_root_start(uint32_t ipv4_bind, uint16_t port, strata_uid_t *uid) {
  uint16_t bound = 0;
  int lfd = listen_on(ipv4_bind, port, &bound);
  if (lfd < 0) {
    SLOG_WARN("bootstrap: cannot listen on port %u: %s", ntohs(port), strerror(errno));
    return STRATA_ERR_SYSTEM;
  }
  root_arg_t *ra = malloc(sizeof *ra);
  if (!ra) { close(lfd); return STRATA_ERR_SYSTEM; }
  ra->lfd = lfd;
  if (getrandom(&ra->nonce, sizeof ra->nonce, 0) != (ssize_t)sizeof ra->nonce) ra->nonce = strata_now_ns();
  if (port) ra->nonce = 0x53545241524f4f54ull ^ port; /* a fixed port (STRATA_ROOT): known to all */
  memset(uid, 0, sizeof *uid);
  uid->magic = STRATA_UID_MAGIC;
  uid->ipv4 = ipv4_bind ? ipv4_bind : strata_bootstrap_local_ipv4();
  uid->port = bound;
  uid->nonce = ra->nonce;
  pthread_t th;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  int e = pthread_create(&th, &at, root_main, ra);
  pthread_attr_destroy(&at);
  if (e) {
    close(lfd);
    free(ra);
    return STRATA_ERR_SYSTEM;
  }
  return STRATA_SUCCESS;
}

/* ---- ring allgather between ranks ---- */

static strata_result_t tcp_allgather(strata_oob_t *o, void *buf, size_t sz) {
  tcp_oob_t *t = (tcp_oob_t *)o;
  const int P = o->nranks, r = o->rank;
  uint64_t dl = deadline_ns();
  for (int s = 0; s < P - 1; s++) {
    int sb = ((r - s) % P + P) % P, rb = ((r - s - 1) % P + P) % P;
    strata_result_t rc = xfer(t->next_fd, (char *)buf + (size_t)sb * sz, sz, t->prev_fd,
                              (char *)buf + (size_t)rb * sz, sz, dl);
    if (rc != STRATA_SUCCESS) {
      SLOG_WARN("bootstrap allgather step %d failed: %s", s, strata_result_string(rc));
      return rc;
    }
  }
  return STRATA_SUCCESS;
}

static strata_result_t tcp_barrier(strata_oob_t *o) {
  char *b = calloc((size_t)o->nranks, 1);
  if (!b) return STRATA_ERR_SYSTEM;
  strata_result_t rc = tcp_allgather(o, b, 1);
  free(b);
  return rc;
}

static void tcp_destroy(strata_oob_t *o) {
  tcp_oob_t *t = (tcp_oob_t *)o;
  if (t->next_fd >= 0) close(t->next_fd);
  if (t->prev_fd >= 0 && t->prev_fd != t->next_fd) close(t->prev_fd);
  free(t);
}

strata_result_t strata_bootstrap_tcp_join(const strata_uid_t *uid, int rank, int nranks,
                                          strata_oob_t **out, uint64_t *job_key) {
  uint64_t dl = deadline_ns();
  tcp_oob_t *t = calloc(1, sizeof *t);
  if (!t) return STRATA_ERR_SYSTEM;
  t->oob.rank = rank;
  t->oob.nranks = nranks;
  t->oob.allgather = tcp_allgather;
  t->oob.barrier = tcp_barrier;
  t->oob.destroy = tcp_destroy;
  t->next_fd = t->prev_fd = -1;
  uint16_t myport = 0;
  uint32_t myip = strata_bootstrap_local_ipv4();
  int lfd = listen_on(htonl(INADDR_ANY), 0, &myport);
  if (lfd < 0) { free(t); return STRATA_ERR_SYSTEM; }
  int rfd = connect_dl(uid->ipv4, uid->port, dl);
  if (rfd < 0) {
    char ip[32];
    inet_ntop(AF_INET, &uid->ipv4, ip, sizeof ip);
    SLOG_WARN("bootstrap: rank %d cannot reach the root at %s:%u", rank, ip, ntohs(uid->port));
    close(lfd);
    free(t);
    return STRATA_ERR_TIMEOUT;
  }
  hello_t h = {STRATA_UID_MAGIC, rank, nranks, myip, myport, 0, uid->nonce};
  reply_t rep;
  strata_result_t rc = send_all(rfd, &h, sizeof h, dl);
  if (rc == STRATA_SUCCESS) rc = recv_all(rfd, &rep, sizeof rep, dl);
  close(rfd);
  if (rc != STRATA_SUCCESS || rep.magic != STRATA_UID_MAGIC) {
    SLOG_WARN("bootstrap: rank %d got no introduction from the root: %s", rank, strata_result_string(rc));
    close(lfd);
    free(t);
    return rc != STRATA_SUCCESS ? rc : STRATA_ERR_TRANSPORT;
  }
  *job_key = rep.key;
  if (nranks > 1) {
    /* ring: connect to the successor, accept the predecessor */
    t->next_fd = connect_dl(rep.next_ipv4, rep.next_port, dl);
    int32_t me = rank, who = -1;
    if (t->next_fd >= 0) rc = send_all(t->next_fd, &me, sizeof me, dl);
    else rc = STRATA_ERR_TIMEOUT;
    if (rc == STRATA_SUCCESS) {
      t->prev_fd = accept_dl(lfd, dl);
      if (t->prev_fd < 0 || recv_all(t->prev_fd, &who, sizeof who, dl) != STRATA_SUCCESS ||
          who != (rank + nranks - 1) % nranks)
        rc = STRATA_ERR_TRANSPORT;
    }
  }
  close(lfd);
  if (rc != STRATA_SUCCESS) {
    SLOG_WARN("bootstrap: rank %d could not join the ring: %s", rank, strata_result_string(rc));
    tcp_destroy(&t->oob);
    return rc;
  }
  *out = &t->oob;
  return STRATA_SUCCESS;
}
