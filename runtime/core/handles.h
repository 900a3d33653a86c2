/* Request handles. A strata_request_t the caller holds is not a pointer into the library
 * but a number: (generation << 32) | (slot + 1) in a process-wide table. Releasing a
 * request (strata_wait, or strata_test reporting done) or destroying its communicator
 * bumps the slot's generation, so a handle used again afterwards is recognised and
 * answered with STRATA_ERR_INVALID_USAGE, never by touching memory that now serves
 * another call. Thread-safe (one mutex; the table is touched once per nonblocking call). */
#ifndef STRATA_HANDLES_H
#define STRATA_HANDLES_H

#include "strata.h"

struct strata_request;
struct strata_comm;

/* A handle for req, or NULL when the table cannot grow (out of memory). */
strata_request_t strata_handle_make(struct strata_request *req);
/* Claim the live request behind h; NULL for a released or never issued handle, or one
 * another thread has claimed. End the claim with strata_handle_put_back or retire. */
struct strata_request *strata_handle_get(strata_request_t h);
void strata_handle_put_back(strata_request_t h);
/* Retire h (its request is being released). */
void strata_handle_retire(strata_request_t h);
/* Retire every handle whose request belongs to comm; returns how many there were. */
int strata_handle_retire_comm(const struct strata_comm *comm);

#endif
