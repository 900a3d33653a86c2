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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/config.h"
#include "../core/log.h"
#include "../core/clock.h"
#include "bootstrap.h"

typedef struct reply {
  uint32_t magic;
  uint32_t next_ipv4;
  uint16_t next_port, pad;
  uint64_t key;
  int32_t rank, nranks; /* what a joiner becomes */
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
  /* nonblocking: an accept after a poll never blocks past a deadline */
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
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
    if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
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

typedef struct root_arg {
  int lfd;
  uint64_t nonce;
} root_arg_t;

/* ---- the root: introduces every rank to its ring successor, then exits ----
 * It serves every connection at once (one poll loop), gives each a short deadline to say
 * hello (STRATA_BOOT_CONN_MS), and checks every field before a hello counts: magic, job
 * nonce, nranks in [1, STRATA_BOOT_MAX_RANKS], rank in range, not a duplicate, an address
 * to reach it. An idle connection, random bytes or a forged hello is dropped with a WARN
 * and the job goes on. Hellos are grouped by the nranks they claim (a few groups at most),
 * so a stranger claiming another job size cannot take the job's place; the first group
 * that fills is the job. Authentication (the security issue) belongs in hello_verify(). */

#define STRATA_BOOT_MAX_RANKS (1 << 24)
#define ROOT_MAX_GROUPS 4
#define ROOT_MAX_PENDING 1024 /* connections that have not said hello yet */

typedef struct root_conn {
  int fd;
  int group, rank;     /* registered: group >= 0 */
  size_t got;
  uint64_t deadline;
  hello_t h;
  char peer[48];
} root_conn_t;

typedef struct root_group {
  int nranks, count, nnew;
  uint8_t *have;       /* bitmap of registered ranks */
} root_group_t;

/* The place for authentication: today only the job nonce is checked. */
static int hello_verify(const hello_t *h, uint64_t nonce) { return h->nonce == nonce; }

static void conn_name(int fd, char *out, size_t n) {
  struct sockaddr_in a;
  socklen_t l = sizeof a;
  char ip[32] = "?";
  if (getpeername(fd, (struct sockaddr *)&a, &l) == 0) inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  snprintf(out, n, "%s:%u", ip, l == sizeof a ? ntohs(a.sin_port) : 0);
}

static uint64_t conn_deadline_ns(void) {
  const char *e = getenv("STRATA_BOOT_CONN_MS");
  long ms = e && *e ? atol(e) : 3000;
  if (ms < 10) ms = 10;
  return strata_now_ns() + (uint64_t)ms * 1000000ull;
}

/* Why h cannot join (NULL: it can) given the groups so far. */
static const char *hello_check(const hello_t *h, uint64_t nonce) {
  if (h->magic != STRATA_UID_MAGIC) return "not a Strata hello";
  if (!hello_verify(h, nonce)) return "wrong job nonce";
  if (h->flags & ~HELLO_JOIN) return "unknown flags";
  if (h->flags & HELLO_JOIN) {
    if (h->nranks != 0 || h->rank < 0 || h->rank >= STRATA_BOOT_MAX_RANKS) return "a joiner's index out of range";
    return h->port == 0 ? "no port to reach it" : NULL;
  }
  if (h->nnew < 0 || h->nnew >= h->nranks) return "new ranks out of range";
  if (h->nranks < 1 || h->nranks > STRATA_BOOT_MAX_RANKS) return "nranks out of range";
  if (h->rank < 0 || h->rank >= h->nranks) return "rank out of range";
  if (h->port == 0) return "no port to reach it";
  return NULL;
}

static void *root_main(void *p) {
  root_arg_t *ra = p;
  uint64_t dl = deadline_ns();
  uint64_t key;
  if (getrandom(&key, sizeof key, 0) != (ssize_t)sizeof key) key = strata_now_ns() ^ (uint64_t)getpid();
  root_group_t groups[ROOT_MAX_GROUPS];
  int ngroups = 0, done_group = -1, cap = 64, n = 0, npending = 0;
  memset(groups, 0, sizeof groups);
  root_conn_t *c = malloc((size_t)cap * sizeof *c);
  struct pollfd *pf = malloc((size_t)(cap + 1) * sizeof *pf);
  if (!c || !pf) goto out;
  while (done_group < 0) {
    int left = ms_left(dl);
    if (!left) {
      for (int g = 0; g < ngroups; g++)
        SLOG_WARN("bootstrap root: only %d of %d ranks connected before the timeout", groups[g].count,
                  groups[g].nranks);
      if (!ngroups) SLOG_WARN("bootstrap root: no rank connected before the timeout");
      goto out;
    }
    /* the nearest per-connection deadline bounds the wait */
    uint64_t now = strata_now_ns(), next = dl;
    for (int i = 0; i < n; i++)
      if (c[i].group == -1 && c[i].deadline < next) next = c[i].deadline;
    int wait_ms = next > now ? (int)((next - now) / 1000000ull) + 1 : 0;
    if (wait_ms > left) wait_ms = left;
    pf[0].fd = ra->lfd;
    pf[0].events = POLLIN;
    for (int i = 0; i < n; i++) { pf[i + 1].fd = c[i].fd; pf[i + 1].events = POLLIN; pf[i + 1].revents = 0; }
    pf[0].revents = 0;
    int k = poll(pf, (nfds_t)n + 1, wait_ms);
    if (k < 0 && errno != EINTR) goto out;
    if (k < 0) continue; /* EINTR: the revents are not meaningful */
    now = strata_now_ns();
    /* existing connections first (their indices are stable until the sweep below) */
    for (int i = 0; i < n; i++) {
      root_conn_t *x = &c[i];
      const char *why = NULL;
      if (x->fd < 0) continue;
      if (pf[i + 1].revents & (POLLIN | POLLERR | POLLHUP)) {
        if (x->group >= 0 || x->group == -2) {
          /* a registered rank has nothing more to say: data or EOF means it is gone */
          why = "a registered rank's connection closed or sent more";
        } else {
          ssize_t r = recv(x->fd, (char *)&x->h + x->got, sizeof x->h - x->got, 0);
          if (r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR))) why = "closed before a full hello";
          else if (r > 0) x->got += (size_t)r;
          if (!why && x->got == sizeof x->h) {
            why = hello_check(&x->h, ra->nonce);
            if (!why && (x->h.flags & HELLO_JOIN)) { /* placed once a grow's members say how */
              x->group = -2;
              x->rank = -1;
              npending--;
              continue;
            }
            int g = -1;
            for (int j = 0; !why && j < ngroups; j++)
              if (groups[j].nranks == x->h.nranks) g = j;
            if (!why && g < 0) {
              if (ngroups == ROOT_MAX_GROUPS) why = "too many different job sizes claimed";
              else {
                groups[ngroups].nranks = x->h.nranks;
                groups[ngroups].nnew = x->h.nnew;
                groups[ngroups].have = calloc(((size_t)x->h.nranks + 7) / 8, 1);
                if (!groups[ngroups].have) why = "out of memory";
                else g = ngroups++;
              }
            }
            if (!why && groups[g].nnew != x->h.nnew) why = "a different number of new ranks than the others";
            if (!why && x->h.rank >= groups[g].nranks - groups[g].nnew) why = "a member rank among the new ones";
            if (!why && (groups[g].have[x->h.rank / 8] >> (x->h.rank % 8)) & 1) why = "duplicate rank";
            if (!why) {
              groups[g].have[x->h.rank / 8] |= (uint8_t)(1u << (x->h.rank % 8));
              groups[g].count++;
              x->group = g;
              x->rank = x->h.rank;
              npending--;
              if (groups[g].count == groups[g].nranks) done_group = g; /* checked again after the pass */
            }
          }
        }
      } else if (x->group == -1 && now >= x->deadline) {
        why = "no hello within STRATA_BOOT_CONN_MS";
      }
      if (why) {
        if (x->got == sizeof x->h && x->h.magic == STRATA_UID_MAGIC)
          SLOG_WARN("bootstrap root: connection from %s dropped: %s (it claimed rank %d of %d)", x->peer, why,
                    x->h.rank, x->h.nranks);
        else
          SLOG_WARN("bootstrap root: connection from %s dropped: %s", x->peer, why);
        if (x->group >= 0) {
          root_group_t *gg = &groups[x->group];
          gg->have[x->rank / 8] &= (uint8_t)~(1u << (x->rank % 8));
          gg->count--;
        } else if (x->group == -1) {
          npending--;
        }
        close(x->fd);
        x->fd = -1;
      }
    }
    /* sweep closed connections */
    int m = 0;
    for (int i = 0; i < n; i++)
      if (c[i].fd >= 0) c[m++] = c[i];
    n = m;
    /* joiners: the first group that expects new ranks takes them, index after its members */
    for (int i = 0; i < n; i++) {
      root_conn_t *x = &c[i];
      int g = -1;
      for (int j = 0; j < ngroups && g < 0; j++)
        if (groups[j].nnew > 0) g = j;
      if (x->group != -2 || g < 0) continue;
      const char *why = NULL;
      int r = groups[g].nranks - groups[g].nnew + x->h.rank;
      if (x->h.rank >= groups[g].nnew) why = "its index is beyond the new ranks the members expect";
      else if ((groups[g].have[r / 8] >> (r % 8)) & 1) why = "another joiner took that index";
      if (why) {
        SLOG_WARN("bootstrap root: joiner from %s (index %d) dropped: %s", x->peer, x->h.rank, why);
        close(x->fd);
        x->fd = -1;
        continue;
      }
      groups[g].have[r / 8] |= (uint8_t)(1u << (r % 8));
      groups[g].count++;
      x->group = g;
      x->rank = r;
      if (groups[g].count == groups[g].nranks) done_group = g;
    }
    m = 0;
    for (int i = 0; i < n; i++)
      if (c[i].fd >= 0) c[m++] = c[i];
    n = m;
    /* a rank of the filled group may have dropped later in the same pass */
    if (done_group >= 0 && groups[done_group].count != groups[done_group].nranks) done_group = -1;
    if (done_group >= 0) break;
    if (pf[0].revents & POLLIN) {
      int fd = accept4(ra->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        char name[48];
        conn_name(fd, name, sizeof name);
        if (npending >= ROOT_MAX_PENDING) {
          SLOG_WARN("bootstrap root: connection from %s refused: %d connections have not said hello", name,
                    npending);
          close(fd);
        } else {
          if (n == cap) {
            int nc = cap * 2;
            root_conn_t *c2 = realloc(c, (size_t)nc * sizeof *c2);
            struct pollfd *p2 = c2 ? realloc(pf, (size_t)(nc + 1) * sizeof *p2) : NULL;
            if (c2) c = c2;
            if (!p2) { close(fd); continue; }
            pf = p2;
            cap = nc;
          }
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          root_conn_t *x = &c[n++];
          memset(x, 0, sizeof *x);
          x->fd = fd;
          x->group = -1;
          x->deadline = conn_deadline_ns();
          snprintf(x->peer, sizeof x->peer, "%s", name);
          npending++;
        }
      }
    }
  }
  {
    /* introduce each rank of the job to its successor */
    root_group_t *g = &groups[done_group];
    hello_t *by_rank = calloc((size_t)g->nranks, sizeof *by_rank);
    int *fd_of = malloc((size_t)g->nranks * sizeof *fd_of);
    if (by_rank && fd_of) {
      for (int r = 0; r < g->nranks; r++) fd_of[r] = -1;
      for (int i = 0; i < n; i++)
        if (c[i].group == done_group) { by_rank[c[i].rank] = c[i].h; fd_of[c[i].rank] = c[i].fd; }
      for (int r = 0; r < g->nranks; r++) {
        const hello_t *nx = &by_rank[(r + 1) % g->nranks];
        reply_t rep = {STRATA_UID_MAGIC, nx->ipv4, nx->port, 0, key, r, g->nranks};
        if (fd_of[r] >= 0) send_all(fd_of[r], &rep, sizeof rep, dl);
      }
    }
    free(by_rank);
    free(fd_of);
  }
out:
  for (int i = 0; c && i < n; i++)
    if (c[i].fd >= 0) close(c[i].fd);
  for (int g = 0; g < ngroups; g++) free(groups[g].have);
  free(c);
  free(pf);
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

/* What a rank says to its ring successor: the job key (known only to the job's ranks) and
 * its rank. A connection that does not say it within STRATA_BOOT_CONN_MS is dropped. */
typedef struct ring_hello {
  uint32_t magic;
  int32_t rank;
  uint64_t key;
} ring_hello_t;

static int accept_predecessor(int lfd, int want, uint64_t key, uint64_t dl) {
  for (;;) {
    int fd = accept_dl(lfd, dl);
    if (fd < 0) return -1;
    ring_hello_t h;
    uint64_t cdl = conn_deadline_ns();
    if (cdl > dl) cdl = dl;
    strata_result_t rc = recv_all(fd, &h, sizeof h, cdl);
    if (rc == STRATA_SUCCESS && h.magic == STRATA_UID_MAGIC && h.key == key && h.rank == want) return fd;
    char name[48];
    conn_name(fd, name, sizeof name);
    SLOG_WARN("bootstrap: connection from %s to the ring port dropped: %s", name,
              rc != STRATA_SUCCESS ? "no hello in time" : "not the ring predecessor of this job");
    close(fd);
  }
}

strata_result_t strata_bootstrap_tcp_join(const strata_uid_t *uid, int rank, int nranks,
                                          strata_oob_t **out, uint64_t *job_key) {
  return strata_bootstrap_tcp_join_ex(uid, rank, nranks, 0, -1, out, job_key);
}

strata_result_t strata_bootstrap_tcp_join_ex(const strata_uid_t *uid, int rank, int nranks, int nnew, int join_index,
                                             strata_oob_t **out, uint64_t *job_key) {
  uint64_t dl = deadline_ns();
  const int joining = join_index >= 0;
  if (joining) { rank = join_index; nranks = 0; }
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
  hello_t h = {STRATA_UID_MAGIC, rank, nranks, myip, myport, joining ? HELLO_JOIN : 0, uid->nonce, nnew, 0};
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
  if (joining) { /* the root says where this process goes */
    if (rep.nranks < 1 || rep.rank < 0 || rep.rank >= rep.nranks) {
      SLOG_WARN("bootstrap: joiner %d got an introduction without a rank", join_index);
      close(lfd);
      free(t);
      return STRATA_ERR_TRANSPORT;
    }
    rank = t->oob.rank = rep.rank;
    nranks = t->oob.nranks = rep.nranks;
  }
  *job_key = rep.key;
  if (nranks > 1) {
    /* ring: connect to the successor, accept the predecessor */
    t->next_fd = connect_dl(rep.next_ipv4, rep.next_port, dl);
    ring_hello_t me = {STRATA_UID_MAGIC, rank, rep.key};
    if (t->next_fd >= 0) rc = send_all(t->next_fd, &me, sizeof me, dl);
    else rc = STRATA_ERR_TIMEOUT;
    if (rc == STRATA_SUCCESS) {
      t->prev_fd = accept_predecessor(lfd, (rank + nranks - 1) % nranks, rep.key, dl);
      if (t->prev_fd < 0) rc = STRATA_ERR_TIMEOUT;
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
