/* tmstate: this worker's TM side as tmprov status --tm shows it — breaker, next probe, last
 * failures, concurrency limit, calls in flight, rate — written by a thread of its own into its
 * tm_worker_state row on every change and every few seconds, and dropped at shutdown. */
#ifndef TMPROV_WORKER_TMSTATE_H
#define TMPROV_WORKER_TMSTATE_H

#include <stddef.h>

#include "dbpool.h"
#include "tmgate.h"
#include "tmretry.h"

/* A row at least this often, so that a row older than a few of these is a worker gone
 * (tmprov status --tm marks it stale). */
#define TMSTATE_REFRESH_MS 3000

struct tmstate;

/* Starts the thread for worker (its name in the table: host and pid) of group. h, gate and
 * pool are borrowed and must outlive it. NULL with err on failure. */
struct tmstate *tmstate_start(const char *group, struct tmhealth *h, struct tmgate *gate,
			      struct dbpool *pool, char *err, size_t errlen);
/* Stops the thread, drops the worker's row (best effort), frees. NULL is a no-op. */
void tmstate_free(struct tmstate *s);

#endif
