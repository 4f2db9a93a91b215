/* aimd: the adaptive limit of TM calls in flight (additive increase, multiplicative decrease, as
 * TCP and Netflix's concurrency-limits): the rule, pure, and the gate that holds calls to it. */
#ifndef TMPROV_WORKER_AIMD_H
#define TMPROV_WORKER_AIMD_H

#include <pthread.h>
#include <stdbool.h>

#include "fwait.h"
#include "stop.h"

/* The rule's constants. TM is overloaded when the smoothed latency is AIMD_SLOW_FACTOR times
 * its recent floor (and at least AIMD_SLOW_MARGIN_MS above it, so that jitter on a 1 ms floor
 * is not mistaken for it), or when it answers 429 or 503: the limit is then multiplied by
 * AIMD_DECREASE, at most once per smoothed latency (one "round trip", so that the calls
 * already in flight when it started do not cut it again). While healthy, each answered call
 * adds 1/limit (one more call per round trip of a full window), only while at least half the
 * limit is in use: an idle worker does not grow a limit it has not tried. */
#define AIMD_SLOW_FACTOR    3.0
#define AIMD_SLOW_MARGIN_MS 50.0
#define AIMD_DECREASE	    0.5
/* Smoothing of the latency (EWMA weight of a new sample). */
#define AIMD_EWMA_WEIGHT 0.2
/* The floor is the least latency of the last two windows of this length: it follows TM
 * getting faster at once and slower only after a window or two of it. */
#define AIMD_FLOOR_WINDOW_MS 30000L

enum aimd_signal {
	AIMD_ANSWERED, /* TM answered (any answer of TM's: its latency counts) */
	AIMD_OVERLOAD, /* 429, 503, or no answer within the timeout: decrease */
	AIMD_NONE,     /* not a sample (not sent: the breaker's business, not the limit's) */
};

struct aimd_rule {
	unsigned min, max;
	double limit;
	double ewma_ms;	   /* smoothed latency; 0: no sample yet */
	double floor_cur;  /* least latency of the current window; 0: none */
	double floor_prev; /* ... of the window before */
	long window_start_ms;
	long no_decrease_until_ms;
	unsigned long decreases, increases;
};

void aimd_rule_init(struct aimd_rule *r, unsigned min, unsigned max, long now_ms);
/* One finished call: its signal and latency, with the calls in flight when it started. */
void aimd_rule_sample(struct aimd_rule *r, enum aimd_signal s, double latency_ms,
		      unsigned in_flight, long now_ms);
/* The limit as a whole number of calls, within [min, max]. */
unsigned aimd_rule_limit(const struct aimd_rule *r);
/* The latency floor the rule compares with (0: none yet). */
double aimd_rule_floor(const struct aimd_rule *r);

/* The gate: calls in flight held to the rule's limit, thread-safe. */
struct aimd {
	pthread_mutex_t lock;
	struct fcond freed; /* threads and fibers (fwait.h) wait on it */
	struct aimd_rule rule;
	unsigned in_flight;
};

void aimd_init(struct aimd *a, unsigned min, unsigned max);
void aimd_destroy(struct aimd *a);
/* Waits for a place within the limit, seeing *stop (may be NULL) every 100 ms; false when
 * stopped while waiting (a free place is taken even when stopping). *in_flight_before (may
 * be NULL) gets the calls in flight before this one. */
bool aimd_enter(struct aimd *a, const atomic_bool *stop, unsigned *in_flight_before);
/* Gives the place back and feeds the rule (s AIMD_NONE: no sample). */
void aimd_leave(struct aimd *a, enum aimd_signal s, double latency_ms, unsigned in_flight_before);
void aimd_snapshot(struct aimd *a, unsigned *limit, unsigned *in_flight);

#endif
