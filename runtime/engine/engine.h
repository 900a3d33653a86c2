/* The engine: runs plans nonblockingly over transports. A blocking collective is post +
 * wait; waits spin briefly, then yield, and end in a timeout or a peer failure. */
#ifndef STRATA_ENGINE_H
#define STRATA_ENGINE_H

#include "../core/comm.h"

/* Start plan on comm with the given buffers. req: where to run it (a pooled or the
 * comm's blocking request). The plan must outlive the request. */
strata_result_t strata_engine_start(struct strata_comm *comm, struct strata_request *req,
                                    const strata_plan_t *plan, const void *sendbuf, void *recvbuf,
                                    int dtype, int op);
/* One pass over the transports and every active request of comm. */
void strata_engine_progress(struct strata_comm *comm);
/* Drive req to completion; STRATA_ERR_TIMEOUT / STRATA_ERR_PEER_FAILED bound it. */
strata_result_t strata_engine_wait(struct strata_request *req);
/* *done = 1 once req has finished (its status is then final). */
strata_result_t strata_engine_test(struct strata_request *req, int *done);
/* Fail every active request of comm with err, cancelling what the transports hold. */
void strata_engine_fail_all(struct strata_comm *comm, strata_result_t err);
/* Pooled requests. */
struct strata_request *strata_request_get(struct strata_comm *comm);
void strata_request_put(struct strata_request *req);
void strata_request_free_pool(struct strata_comm *comm);


#endif
