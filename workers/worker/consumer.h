/* consumer: the tm.commands consumer of the worker: turns messages into jobs for the
 * dispatcher, tracks and commits their offsets, holds messages back at the in-flight limit and
 * pauses the assignment while a dependency is down or at shutdown, drains revoked partitions on
 * a rebalance, and reads consumer lag and broker state from librdkafka's statistics. Used from
 * one thread. */
#ifndef TMPROV_WORKER_CONSUMER_H
#define TMPROV_WORKER_CONSUMER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "dispatch.h"
#include "stop.h"
#include "metrics.h"
#include "offsets.h"

/* Whether fetching may go on (e.g. TM and PostgreSQL are up). why: a short static reason when
 * not. Called from the consumer's thread at every consumer_maintain(). */
typedef bool (*consumer_gate_fn)(void *arg, const char **why);

struct consumer_opts {
	size_t max_inflight;   /* take no message at this many jobs in flight ... */
	size_t resume_below;   /* ... until fewer than this are */
	long drain_timeout_ms; /* revoke: how long in-flight jobs of revoked partitions may take */
	/* NULL, or when the shutdown began (clock_now_ms(), 0 before): a shutdown has one drain
	 * budget, so a revoke drain under way or begun then ends by stop_at + drain_timeout. */
	const atomic_long *stop_at_ms;
	consumer_gate_fn gate; /* NULL: always open */
	void *gate_arg;
};

struct consumer;

/* A consumer in TMPROV_KAFKA_GROUP, subscribed to TMPROV_TOPIC_COMMANDS, feeding d. c (with
 * KAFKA_CONFIG_KEYS), d and m are borrowed and must outlive it. NULL with err on failure. */
struct consumer *consumer_new(const struct cfg *c, struct dispatch *d, struct metrics *m,
			      const struct consumer_opts *opts, char *err, size_t errlen);

/* The loop's lease on its partitions (stop.h), renewed by consumer_poll and consumer_maintain;
 * exec's jobs start TM calls only while it holds. Lives as long as cs. */
const struct lease *consumer_lease(struct consumer *cs);

/* Polls once for up to timeout_ms (serving rebalances and statistics too); a message becomes a
 * job in the dispatcher. At the in-flight limit it waits for events only, and returns early
 * when the in-flight count falls to resume_below - 1. Returns 1 for a message, 0 for none, -1 once
 * the consumer hit a fatal error (it must then be closed). */
int consumer_poll(struct consumer *cs, int timeout_ms);

/* The periodic part of the loop, cheap enough for every iteration: reaps completed jobs into the
 * offset tracker, holds or releases messages, pauses or resumes the assignment, commits offsets
 * (asynchronously, at most every 200 ms), updates the in-flight gauge. */
void consumer_maintain(struct consumer *cs);

/* Stop fetching for good (shutdown): pauses the assignment; messages still arriving are dropped
 * untracked, so their offsets are not committed. */
void consumer_stop_fetching(struct consumer *cs);

/* Whether the group has assigned partitions (perhaps none) to this consumer yet. Called from
 * the thread that polls. */
bool consumer_assigned_once(const struct consumer *cs);

/* Whether a broker answered lately (not after "all brokers down"). Thread-safe. */
bool consumer_broker_up(const struct consumer *cs);

/* After the shutdown's drain deadline, what committing the last offsets and leaving the group
 * may take. */
#define CONSUMER_CLOSE_GRACE_MS 5000
/* The least time consumer_close gives the group leave, even past until_ms. */
#define CONSUMER_CLOSE_MIN_MS 1000

/* Commits what is done, leaves the group (revoking: drains as on a rebalance) and frees, by
 * until_ms (clock_now_ms(); at least CONSUMER_CLOSE_MIN_MS from now): a leave unfinished by
 * then is abandoned, and the group drops this member at its session timeout. NULL: no-op. */
void consumer_close(struct consumer *cs, long until_ms);

#endif
