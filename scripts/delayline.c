/* strata_delayline: a userspace one-way delay between two TAP devices in two network
 * namespaces, for scripts/emucluster.sh (this kernel has no netem).
 *
 *   strata_delayline NS_A TAP_A NS_B TAP_B DELAY_US [MAX_SECONDS]
 *
 * Frames read from one TAP are written to the other DELAY_US microseconds later, in both
 * directions. The TAPs are opened with IFF_VNET_HDR and TSO/checksum offloads so the kernel
 * hands over 64 KiB GSO frames (far fewer packets per second on a small machine); the
 * virtio-net header travels with each frame unchanged. Each direction's queue is bounded
 * (bytes and frames): a full queue drops, as a router would. The process exits after
 * MAX_SECONDS (default 7200) or when a TAP goes away (its namespace was deleted). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX (65536 + 64)
#define QUEUE_BYTES (48u << 20) /* per direction: > 10 Gbit/s x 30 ms */
#define QUEUE_FRAMES 16384

typedef struct frame { uint64_t due_ns; uint32_t len, off; } frame_t;

typedef struct dir {
  int in, out;
  uint8_t *buf;  /* ring of frame bytes */
  size_t head, tail; /* next write position; start of the oldest frame */
  frame_t q[QUEUE_FRAMES];
  unsigned qh, qt, qn;
  unsigned long long fwd, dropped;
} dir_t;

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int open_tap(const char *ns, const char *dev) {
  char path[256];
  snprintf(path, sizeof path, "/var/run/netns/%s", ns);
  int nfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nfd < 0 || setns(nfd, CLONE_NEWNET) != 0) {
    fprintf(stderr, "delayline: cannot enter namespace %s: %s\n", ns, strerror(errno));
    return -1;
  }
  close(nfd);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) { perror("delayline: /dev/net/tun"); return -1; }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    fprintf(stderr, "delayline: TUNSETIFF %s in %s: %s\n", dev, ns, strerror(errno));
    close(fd);
    return -1;
  }
  int hdr = 12; /* struct virtio_net_hdr_mrg_rxbuf */
  if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) != 0) perror("delayline: TUNSETVNETHDRSZ");
  if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) != 0)
    perror("delayline: TUNSETOFFLOAD");
  return fd;
}

/* where a frame of up to FRAME_MAX bytes fits in the ring, or -1 when it is full */
static long slot_for(const dir_t *d) {
  if (d->qn >= QUEUE_FRAMES) return -1;
  if (d->qn == 0) return 0;
  if (d->head >= d->tail) { /* data in [tail, head) */
    if (QUEUE_BYTES - d->head >= FRAME_MAX) return (long)d->head;
    return d->tail >= FRAME_MAX ? 0 : -1;
  }
  return d->tail - d->head >= FRAME_MAX ? (long)d->head : -1; /* data wraps */
}

/* read every frame waiting on d->in into the queue */
static int pull(dir_t *d, uint64_t delay_ns) {
  static uint8_t scratch[FRAME_MAX];
  for (;;) {
    long at = slot_for(d);
    ssize_t n = read(d->in, at < 0 ? scratch : d->buf + at, FRAME_MAX);
    if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    if (n == 0) return -1;
    if (at < 0) { d->dropped++; continue; }
    frame_t *f = &d->q[d->qt];
    f->due_ns = now_ns() + delay_ns;
    f->len = (uint32_t)n;
    f->off = (uint32_t)at;
    if (d->qn == 0) d->tail = (size_t)at;
    d->qt = (d->qt + 1) % QUEUE_FRAMES;
    d->qn++;
    d->head = (size_t)at + (size_t)n;
  }
}

/* write every frame that is due; returns ns until the next one (or -1 when empty) */
static int64_t push(dir_t *d) {
  uint64_t t = now_ns();
  while (d->qn) {
    frame_t *f = &d->q[d->qh];
    if (f->due_ns > t) return (int64_t)(f->due_ns - t);
    ssize_t w = write(d->out, d->buf + f->off, f->len);
    if (w < 0 && errno == EAGAIN) return 50000; /* the other side is full: retry shortly */
    if (w < 0) d->dropped++;
    else d->fwd++;
    d->qh = (d->qh + 1) % QUEUE_FRAMES;
    d->qn--;
    d->tail = d->qn ? d->q[d->qh].off : 0;
    if (!d->qn) d->head = 0;
  }
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s NS_A TAP_A NS_B TAP_B DELAY_US [MAX_SECONDS]\n", argv[0]);
    return 2;
  }
  uint64_t delay_ns = strtoull(argv[5], NULL, 10) * 1000ull;
  double max_s = argc > 6 ? atof(argv[6]) : 7200;
  int a = open_tap(argv[1], argv[2]);
  int b = a < 0 ? -1 : open_tap(argv[3], argv[4]);
  if (a < 0 || b < 0) return 1;
  signal(SIGTERM, on_sig);
  signal(SIGINT, on_sig);
  static dir_t ab, ba;
  ab.in = a; ab.out = b; ba.in = b; ba.out = a;
  ab.buf = malloc(QUEUE_BYTES);
  ba.buf = malloc(QUEUE_BYTES);
  if (!ab.buf || !ba.buf) { fprintf(stderr, "delayline: out of memory\n"); return 1; }
  uint64_t end = now_ns() + (uint64_t)(max_s * 1e9);
  while (!stop && now_ns() < end) {
    int64_t w1 = push(&ab), w2 = push(&ba);
    int64_t w = w1 < 0 ? w2 : (w2 < 0 ? w1 : (w1 < w2 ? w1 : w2));
    if (w < 0 || w > 100000000) w = 100000000;
    struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    struct timespec ts = {(time_t)(w / 1000000000), (long)(w % 1000000000)};
    int r = ppoll(p, 2, &ts, NULL);
    if (r < 0 && errno != EINTR) break;
    if ((p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) || (p[1].revents & (POLLERR | POLLHUP | POLLNVAL))) break;
    if ((p[0].revents & POLLIN) && pull(&ab, delay_ns)) break;
    if ((p[1].revents & POLLIN) && pull(&ba, delay_ns)) break;
  }
  fprintf(stderr, "delayline %s/%s <-> %s/%s: forwarded %llu + %llu frames, dropped %llu + %llu\n", argv[1],
          argv[2], argv[3], argv[4], ab.fwd, ba.fwd, ab.dropped, ba.dropped);
  return 0;
}
