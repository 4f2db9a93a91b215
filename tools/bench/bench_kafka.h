/* bench_kafka: a round's own broker (tmprov-devkafka with the topics' partitions of its choosing,
 * so that no round sees another's messages), the producer that loads commands onto it and the
 * reader that takes the outcome events back. */
#ifndef TMPROV_BENCH_KAFKA_H
#define TMPROV_BENCH_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "bench_proc.h"

struct bench_kafka {
	struct bench_proc broker;
	char brokers[256];
	rd_kafka_t *producer;
	rd_kafka_t *reader;
	long failed; /* deliveries refused */
	char first_error[256];
};

/* Starts tmprov-devkafka (beside tmprov) with every topic in partitions partitions, logging into
 * dir, and a producer to it (idempotent: each partition keeps the order sent). 0 or -1 with
 * err. */
int bench_kafka_start(struct bench_kafka *k, const char *dir, int partitions, char *err,
		      size_t errlen);
/* Fetches topic's metadata into the producer: without it the first messages wait in the
 * producer for the topic's first metadata refresh (up to a second), which a latency figure
 * would count. 0, or -1 with err. */
int bench_kafka_warm(struct bench_kafka *k, const char *topic, char *err, size_t errlen);
/* Stops all of it. */
void bench_kafka_stop(struct bench_kafka *k);
/* Queues one message with timestamp ts_ms (0: now), waiting while the queue is full. 0 or -1
 * with err. */
int bench_kafka_produce(struct bench_kafka *k, const char *topic, const char *key, size_t keylen,
			const char *val, size_t len, int64_t ts_ms, char *err, size_t errlen);
/* Waits up to timeout_ms for every queued message; 0, or -1 with err (a delivery failed). */
int bench_kafka_flush(struct bench_kafka *k, int timeout_ms, char *err, size_t errlen);
/* Serves delivery reports without waiting. */
void bench_kafka_poll(struct bench_kafka *k);
/* Starts reading topic, every partition from the beginning, outside any group. 0 or -1. */
int bench_kafka_read_start(struct bench_kafka *k, const char *topic, char *err, size_t errlen);
/* The next message read (the caller destroys it), or NULL after timeout_ms. */
rd_kafka_message_t *bench_kafka_read(struct bench_kafka *k, int timeout_ms);
/* Wall-clock milliseconds since the epoch, as Kafka timestamps count. */
int64_t bench_wall_ms(void);

#endif
