/* publisher: copies outcome events from the outbox table to TMPROV_TOPIC_EVENTS in seq order
 * (key = subject) and marks each published once its delivery is reported. One thread with its
 * own database session; one publisher at a time across all workers (a session advisory lock),
 * so each subject's events keep their order; the others wake it with NOTIFY. */
#ifndef TMPROV_WORKER_PUBLISHER_H
#define TMPROV_WORKER_PUBLISHER_H

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "metrics.h"

/* What every worker's publisher agrees on: the pg_try_advisory_lock key ("tmprov.o" as a
 * big-endian int64) that makes one of them the publisher, and the channel that wakes it,
 * SQL_OUTBOX_CHANNEL (sql.h: the NOTIFY statement names it). */
#define PUBLISHER_LOCK_KEY "8389485317659700847"

struct publisher;

/* Connects (DB_CONFIG_KEYS of c) and starts the thread, which publishes when kicked, notified
 * and every 500 ms. producer: an idempotent producer (kafka_producer_new), borrowed; the
 * publisher must be its only user (it serves the producer's delivery reports). m: borrowed
 * (tmprov_outbox_backlog). NULL with err on failure. */
struct publisher *publisher_start(const struct cfg *c, struct metrics *m, rd_kafka_t *producer,
				  char *err, size_t errlen);
/* New outbox rows were committed: publish soon. Thread-safe, cheap. */
void publisher_kick(struct publisher *p);
/* Waits up to timeout_ms until every row committed before the call is published (by this
 * worker's publisher or another's). 0, or -1 when time ran out. */
int publisher_drain(struct publisher *p, int timeout_ms);
/* Stops the thread (messages not yet reported are purged from the producer and their rows stay
 * unpublished for the next publisher; the lock is released) and frees. NULL is a no-op. */
void publisher_stop(struct publisher *p);

#endif
