/* tmrate: the TM call rate of a whole consumer group (TMPROV_TM_RATE), as a token bucket in
 * PostgreSQL (tm_rate_bucket) that a process takes small batches from and spends locally. */
#ifndef TMPROV_TMRATE_H
#define TMPROV_TMRATE_H

#include <stdatomic.h>
#include <stdbool.h>

#include <libpq-fe.h>

#include "config.h"

/* Burst and batch. The bucket holds at most `burst` tokens (a group idle for a while may make
 * that many calls at once, on top of the rate); each refill round trip takes at most
 * tmrate_batch() tokens, which the process then spends without asking the database. Calls in
 * any one-second window of the whole group are therefore at most
 *   rate + burst + processes x batch
 * (tmrate_window_bound): the rate's own tokens, a full bucket, and what every process may still
 * hold from an earlier refill. */

/* Refill round trips per second of one process at full rate, at most: the batch is rate/20. */
#define TMRATE_REFILLS_PER_S 20

struct tmrate;

/* A handle on group's bucket; rate_per_s <= 0: no limit (every take is immediate, no database);
 * burst 0: tmrate_default_burst(rate). NULL when out of memory. */
struct tmrate *tmrate_new(const char *group, double rate_per_s, unsigned burst);
void tmrate_free(struct tmrate *r);

/* TMPROV_TM_RATE, TMPROV_TM_RATE_BURST (with TMPROV_KAFKA_GROUP, from KAFKA_CONFIG_KEYS, naming
 * the bucket). */
extern const struct cfg_key *const TMRATE_CONFIG_KEYS[];
extern const size_t TMRATE_CONFIG_NKEYS;
/* tmrate_new for the configuration's group, rate and burst. */
struct tmrate *tmrate_from_cfg(const struct cfg *c);

enum tmrate_result { TMRATE_OK, TMRATE_STOPPED, TMRATE_DB_ERROR };

/* Waits for one TM call token of the group's bucket; conn is used for refills (a round trip
 * only when the local batch is spent). *waited_ms (may be NULL) gets the time waited added. */
enum tmrate_result tmrate_take(struct tmrate *r, PGconn *conn, const atomic_bool *stop,
			       long *waited_ms);

/* The same with a connection borrowed only for each refill: borrow (NULL: stopped, the take
 * ends TMRATE_STOPPED) and give back through give. Threads of one process share the handle;
 * one of them refills at a time, the others wait for its batch. */
struct tmrate_conn {
	PGconn *(*borrow)(void *arg, const atomic_bool *stop);
	void (*give)(void *arg, PGconn *conn, bool ok);
	void *arg;
};
enum tmrate_result tmrate_take_via(struct tmrate *r, const struct tmrate_conn *via,
				   const atomic_bool *stop, long *waited_ms);

/* For a reload (SIGHUP); burst follows (tmrate_default_burst) unless it was given. */
void tmrate_set_rate(struct tmrate *r, double rate_per_s);
double tmrate_rate(const struct tmrate *r);
/* The last database error of a take that returned TMRATE_DB_ERROR. */
const char *tmrate_error(const struct tmrate *r);

/* The arithmetic, pure. */
unsigned tmrate_default_burst(double rate_per_s);	  /* a tenth of a second's calls, >= 1 */
unsigned tmrate_batch(double rate_per_s, unsigned burst); /* rate/20, within [1, burst] */
/* How long until want tokens are in a bucket holding tokens, at rate_per_s: ms, >= 1. */
long tmrate_wait_ms(double tokens, unsigned want, double rate_per_s);
/* The most calls processes using the group's bucket make in any one-second window. */
unsigned tmrate_window_bound(double rate_per_s, unsigned burst, unsigned processes);

#endif
