/* dlq: byte-for-byte copies of commands on TMPROV_TOPIC_DLQ with headers reason, origin_topic,
 * origin_partition, origin_offset and error, each waited for until its delivery report. Owns
 * its producer and the thread that serves that producer's delivery reports. */
#ifndef TMPROV_WORKER_DLQ_H
#define TMPROV_WORKER_DLQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "metrics.h"
#include "stop.h"

/* The reasons the worker gives a copy besides validation's (validate_status_name). */
enum dlq_reason {
	DLQ_REASON_KEY_MISMATCH,	   /* the Kafka key differs from subject */
	DLQ_REASON_ID_CONFLICT,		   /* the command id was used by another message */
	DLQ_REASON_OUTCOME_UNKNOWN,	   /* a parked call whose effect at TM is unknown */
	DLQ_REASON_RETRY_BUDGET_EXHAUSTED, /* TM kept failing until the budget ran out */
	DLQ_REASON_COUNT
};

const char *dlq_reason_text(enum dlq_reason r);
/* The i-th reason a copy may carry, validation's first, then the above; NULL past the last
 * (tmprov_dlq_total has a series for each from the start). */
const char *dlq_reason_name(size_t i);

struct dlq_copy {
	const char *payload; /* the message as read, any bytes */
	size_t len;
	const char *key; /* NULL: no key */
	size_t keylen;
	const char *origin_topic;
	int32_t origin_partition;
	int64_t origin_offset;
	const char *reason; /* validate_status_name, or id_conflict, outcome_unknown, ... */
	const char *error;  /* NULL or "": no error header */
};

struct dlq;

/* A producer (common/kafka.h: idempotent, acks=all) for TMPROV_TOPIC_DLQ and the thread that
 * serves its delivery reports. Its own producer, so that waiting for a copy's report never
 * depends on another thread polling a shared handle. NULL with err on failure. */
struct dlq *dlq_new(const struct cfg *c, struct metrics *m, char *err, size_t errlen);
/* Waits (bounded) for copies still queued, then frees. */
void dlq_free(struct dlq *d);

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
