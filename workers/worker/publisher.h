/* publisher: copies outcome events from the outbox table to TMPROV_TOPIC_EVENTS in seq order
 * (key = subject), waits for their delivery and marks them published. One thread with its own
 * database session; one publisher at a time across all workers (an advisory lock), so each
 * subject's events keep their order. */
#ifndef TMPROV_WORKER_PUBLISHER_H
#define TMPROV_WORKER_PUBLISHER_H

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "metrics.h"

struct publisher;

/* Connects (DB_CONFIG_KEYS of c) and starts the thread, which publishes when kicked and every
 * 500 ms. producer: an idempotent producer (kafka_producer_new), borrowed; whoever else uses it
 * must poll it themselves, as the publisher does. m: borrowed (tmprov_outbox_backlog).
 * NULL with err on failure. */
struct publisher *publisher_start(const struct cfg *c, struct metrics *m, rd_kafka_t *producer,
				  char *err, size_t errlen);
/* New outbox rows were committed: publish soon. Thread-safe, cheap. */
void publisher_kick(struct publisher *p);
/* Publishes every row committed before the call (by this publisher, or sees that they are
 * published), waiting up to timeout_ms. 0, or -1 when time ran out. */
int publisher_drain(struct publisher *p, int timeout_ms);
/* Stops the thread (undelivered messages of a pass in progress are purged from the producer and
 * their rows stay unpublished for the next publisher) and frees. NULL is a no-op. */
void publisher_stop(struct publisher *p);

#endif
