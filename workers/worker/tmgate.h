/* tmgate: what a TM call of the worker passes before its intent: a place within the adaptive
 * limit of calls in flight (aimd.h), then a token of the group's rate (common/tmrate.h,
 * refilled with a connection borrowed from the pool only for the round trip); and its metrics. */
#ifndef TMPROV_WORKER_TMGATE_H
#define TMPROV_WORKER_TMGATE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "dbpool.h"
#include "metrics.h"
#include "stop.h"
#include "tm_client.h"

struct tmgate;

/* Limit within [1, TMPROV_WORKER_CONCURRENCY]; rate TMPROV_TM_RATE of TMPROV_KAFKA_GROUP's
 * bucket. pool and m (may be NULL) are borrowed. NULL with err when out of memory. */
struct tmgate *tmgate_new(const struct cfg *c, struct dbpool *pool, struct metrics *m, char *err,
			  size_t errlen);
void tmgate_free(struct tmgate *g);

/* A call's pass: filled by tmgate_slot, spent by tmgate_leave. */
struct tmgate_pass {
	unsigned in_flight_before;
	bool token;    /* the rate token is taken */
	long token_ms; /* when (clock_now_ms) */
};

/* A call leaves at most this long after its token was taken: an intent that took longer to
 * commit (a database stall, the start-up rush) spends a fresh token first, so that calls
 * delayed together do not reach TM together. */
#define TMGATE_TOKEN_FRESH_MS 50

/* Waits for a place within the limit; false when stopped while waiting. */
bool tmgate_slot(struct tmgate *g, const atomic_bool *stop, struct tmgate_pass *p);
/* With the place held: waits for a rate token (once per pass: a pass whose intent must be
 * recorded again keeps it). A database failure is waited out with backoff: a command never
 * fails for lack of a token. false when stopped while waiting. */
bool tmgate_token(struct tmgate *g, const atomic_bool *stop, struct tmgate_pass *p);
/* Right before the call, with the intent recorded: when the token is older than
 * TMGATE_TOKEN_FRESH_MS, waits for another (counted in tmprov_tm_rate_stale_total). false when
 * stopped while waiting. */
bool tmgate_fresh(struct tmgate *g, const atomic_bool *stop, struct tmgate_pass *p);
/* Gives the place back; res (NULL: no call was made, the token stays the pass's) feeds the
 * limit. */
void tmgate_leave(struct tmgate *g, struct tmgate_pass *p, const struct tm_result *res);

/* A new TMPROV_TM_RATE (SIGHUP): the next refill asks the bucket at it. */
void tmgate_set_rate(struct tmgate *g, double rate_per_s);
/* The current limit, calls in flight and rate, for tmprov status --tm. */
void tmgate_snapshot(struct tmgate *g, unsigned *limit, unsigned *in_flight, double *rate);

#endif
