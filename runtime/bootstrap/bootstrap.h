/* Bootstraps: how the ranks of a new job find each other. Each yields a strata_oob_t
 * (allgather + barrier) used while the context and its transports are set up.
 *  - TCP (unique id or STRATA_ROOT): the root only introduces each rank to its ring
 *    successor; allgathers then run around the ring, not through the root.
 *  - MPI: over a duplicate of the caller's communicator. */
#ifndef STRATA_BOOTSTRAP_H
#define STRATA_BOOTSTRAP_H

#include "../../transports/transport.h"
#include "strata.h"

typedef struct strata_uid {
  uint32_t magic;
  uint32_t ipv4;     /* network order */
  uint16_t port;     /* network order */
  uint16_t pad;
  uint64_t nonce;
} strata_uid_t;

#define STRATA_UID_MAGIC 0x53545241u

/* What a rank says to the root (the wire format; tests forge it to play strangers). */
typedef struct hello {
  uint32_t magic;
  int32_t rank, nranks;  /* a joiner (HELLO_JOIN): rank = its index, nranks = 0 (it does not know) */
  uint32_t ipv4;     /* where its ring predecessor can reach it, network order */
  uint16_t port, flags;
  uint64_t nonce;    /* the job's, from the unique id */
  int32_t nnew, pad; /* a member of a grow: how many joiners take the ranks after the members */
} hello_t;
#define HELLO_JOIN 1u

/* Start a root (a listener thread that introduces ranks) on addr:port (port 0: any);
 * fills the id with the address ranks should connect to. */
strata_result_t strata_bootstrap_root_start(uint32_t ipv4_bind, uint16_t port, strata_uid_t *uid);
/* Join as rank of nranks through the root named by uid. */
strata_result_t strata_bootstrap_tcp_join(const strata_uid_t *uid, int rank, int nranks,
                                          strata_oob_t **out, uint64_t *job_key);
/* The same for a grow (nnew joiners expected after the members), or, with join_index >= 0,
 * as a new process whose rank and size the root tells it (rank = size - nnew + index). */
strata_result_t strata_bootstrap_tcp_join_ex(const strata_uid_t *uid, int rank, int nranks, int nnew, int join_index,
                                             strata_oob_t **out, uint64_t *job_key);
/* The address to advertise: STRATA_ROOT_ADDR, else the first non-loopback IPv4, else 127.0.0.1. */
uint32_t strata_bootstrap_local_ipv4(void);
/* Resolve "host" (name or dotted quad) to IPv4, network order; 0 on failure. */
uint32_t strata_bootstrap_resolve(const char *host);

#endif
