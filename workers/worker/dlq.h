/* dlq: byte-for-byte copies of commands on TMPROV_TOPIC_DLQ with the original headers and
 * tmprov's own (common/dlqdef.h: tmprov.reason, tmprov.origin.*, tmprov.error, ...), each waited
 * for until its delivery report. Owns its producer and the thread serving its reports. */
#ifndef TMPROV_WORKER_DLQ_H
#define TMPROV_WORKER_DLQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "metrics.h"
#include "stop.h"

struct dlq_copy {
	const char *payload; /* the message as read, any bytes */
	size_t len;
	const char *key; /* NULL: no key */
	size_t keylen;
	const char *origin_topic;
	int32_t origin_partition;
	int64_t origin_offset;
	const char *reason; /* dlq_reason_name (common/dlqdef.h) */
	const char *error;  /* NULL or "": no error header */
	/* The original message's headers, borrowed (NULL: none): the copy keeps them, except any
	 * named with tmprov's prefix. */
	const rd_kafka_headers_t *headers;
	/* The W3C traceparent the worker ran the message in (NULL: none): tmprov.traceparent, and
	 * traceparent too when the original headers have none. */
	const char *traceparent;
};

struct dlq;

/* A producer (common/kafka.h: idempotent, acks=all) for TMPROV_TOPIC_DLQ and the thread that
 * serves its delivery reports. Its own producer, so that waiting for a copy's report never
 * depends on another thread polling a shared handle. NULL with err on failure. */
struct dlq *dlq_new(const struct cfg *c, struct metrics *m, char *err, size_t errlen);
/* How long dlq_free waits for copies still queued. */
#define DLQ_FREE_FLUSH_MS 10000
/* Waits (DLQ_FREE_FLUSH_MS at most) for copies still queued, then frees. A copy never delivered
 * leaves its message's offset uncommitted: the message comes again. */
void dlq_free(struct dlq *d);
/* The same waiting flush_ms at most (0: not at all). */
void dlq_free_within(struct dlq *d, int flush_ms);

/* Produces one copy and waits for its delivery report, producing it again after a failed
 * delivery. A copy over the producer's message.max.bytes or the broker's limit goes as its
 * first 64 KiB, or empty when that is still too large (a key over 1 KiB then cut too), with
 * header tmprov.truncated (tmprov.key_truncated) giving the size cut. Returns 0 once delivered, -1
 * with err saying why when *stop was set first (the copy may still be delivered later) or the
 * producer failed for good (dlq_failed). */
int dlq_send(struct dlq *d, const struct dlq_copy *copy, const atomic_bool *stop, char *err,
	     size_t errlen);

/* True once the producer hit a fatal error: librdkafka delivers nothing more through it, so
 * the worker shuts down (and a restart makes a new one). */
bool dlq_failed(struct dlq *d);
/* The producer handle, borrowed (tests inject its fatal errors). */
rd_kafka_t *dlq_producer(struct dlq *d);

/* The headers of a copy (also for tests). NULL when out of memory. */
rd_kafka_headers_t *dlq_headers(const struct dlq_copy *copy);

#endif
