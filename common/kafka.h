/* kafka: librdkafka handles built from the TMPROV_KAFKA_* settings (producer and consumer with
 * the settings our guarantees rely on), logging routed to common/log, produce/flush with
 * delivery results, fatal-error checks and header lookup. */
#ifndef TMPROV_KAFKA_H
#define TMPROV_KAFKA_H

#include <stdbool.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

/* TMPROV_TOPIC_COMMANDS, _EVENTS, _DLQ (the first KAFKA_TOPIC_NKEYS entries, so a program that
 * only needs topic names, like tmprov-devkafka, can add just those), then TMPROV_KAFKA_BROKERS,
 * TMPROV_KAFKA_GROUP and TMPROV_KAFKA_PROPS (secret: it may hold sasl.password). */
extern const struct cfg_key *const KAFKA_CONFIG_KEYS[];
extern const size_t KAFKA_CONFIG_NKEYS;
#define KAFKA_TOPIC_NKEYS 3

/* A delivery result. A producer made by kafka_producer_new() fills the one passed as opaque to
 * kafka_produce() when librdkafka reports on the message (from rd_kafka_poll() or
 * kafka_flush()): done becomes 1 and err the outcome (RD_KAFKA_RESP_ERR_NO_ERROR on success).
 * The caller zeroes it before producing and keeps it alive until done is set. */
struct kafka_delivery {
	int done;
	rd_kafka_resp_err_t err;
	int32_t partition;
	int64_t offset;
};

/* A new configuration with bootstrap.servers from TMPROV_KAFKA_BROKERS, then the entries of
 * TMPROV_KAFKA_PROPS ("k=v,k=v"; "\," and "\\" escape a comma and a backslash; spaces around
 * keys and values, and empty entries, are ignored), and the callbacks of
 * kafka_conf_route_logs(). Returns NULL with err naming TMPROV_KAFKA_PROPS and the offending
 * property (never its value). The caller owns the result until it passes it to rd_kafka_new(),
 * or frees it with rd_kafka_conf_destroy(). */
rd_kafka_conf_t *kafka_conf_new(const struct cfg *c, char *err, size_t errlen);

/* Routes librdkafka's log lines to common/log and logs errors reported by error_cb (fatal ones
 * at error level). librdkafka also keeps fatal errors itself: see kafka_fatal(). */
void kafka_conf_route_logs(rd_kafka_conf_t *conf);

/* The configuration checks of TMPROV_KAFKA_PROPS (a value) and TMPROV_KAFKA_PROPS_FILE (a path):
 * every property one librdkafka knows and tmprov does not fix; 0, or -1 with err naming the
 * entry or line and the property, never its value. */
int kafka_props_check(const char *value, char *err, size_t errlen);
int kafka_props_file_check(const char *path, char *err, size_t errlen);

/* An idempotent producer (enable.idempotence=true, acks=all, which TMPROV_KAFKA_PROPS cannot
 * turn off; linger.ms=5 unless set there) whose delivery reports fill struct kafka_delivery.
 * Caller frees with rd_kafka_destroy() after kafka_flush(). NULL with err on failure. */
rd_kafka_t *kafka_producer_new(const struct cfg *c, char *err, size_t errlen);

/* A consumer in group (TMPROV_KAFKA_GROUP when NULL) with enable.auto.commit=false and
 * enable.auto.offset.store=false (not overridable: the caller stores a message's offset,
 * m->offset + 1, with rd_kafka_offsets_store() only once its work is durable, and commits what
 * it stored with rd_kafka_commit(rk, NULL, ...): nothing else commits, not even close), and
 * auto.offset.reset=earliest and partition.assignment.strategy=range unless set in
 * TMPROV_KAFKA_PROPS. Its main queue is redirected to the consumer queue, so
 * rd_kafka_consumer_poll() serves every callback. The caller subscribes, and frees with
 * rd_kafka_consumer_close() then rd_kafka_destroy(). NULL with err on failure. */
rd_kafka_t *kafka_consumer_new(const struct cfg *c, const char *group, char *err, size_t errlen);

/* Queues one message (key and value are copied; key may be NULL). hdrs: NULL or headers whose
 * ownership is always taken, also on failure. opaque: for a producer from kafka_producer_new(),
 * NULL or a struct kafka_delivery to fill (a failed delivery with NULL opaque is logged). When
 * the local queue is full, serves delivery reports for up to 5 s before giving up.
 * Returns 0, or -1 with err (the message was not queued and opaque will not be filled). */
int kafka_produce(rd_kafka_t *p, const char *topic, const void *key, size_t keylen, const void *val,
		  size_t vallen, rd_kafka_headers_t *hdrs, void *opaque, char *err, size_t errlen);

/* kafka_produce() returning librdkafka's reason instead of -1 (RD_KAFKA_RESP_ERR_NO_ERROR once
 * queued), for a caller that acts on it: RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE says the message
 * is over the producer's message.max.bytes and will never be queued as it is. */
rd_kafka_resp_err_t kafka_produce_err(rd_kafka_t *p, const char *topic, const void *key,
				      size_t keylen, const void *val, size_t vallen,
				      rd_kafka_headers_t *hdrs, void *opaque, char *err,
				      size_t errlen);

/* Waits up to timeout_ms for every queued message to be delivered or to fail, serving delivery
 * reports. Returns 0 when the queue is empty (each message's own result is in its
 * kafka_delivery), -1 with err when messages remain or the producer hit a fatal error. */
int kafka_flush(rd_kafka_t *p, int timeout_ms, char *err, size_t errlen);

/* True once the handle has hit a fatal error (e.g. the idempotent producer lost its guarantee,
 * or the consumer was fenced): the handle can do nothing more and must be recreated. */
bool kafka_fatal(rd_kafka_t *rk);

/* The value of the last header called name, with its length in *len (len may be NULL); NULL
 * when absent or when the header has a null value. Points into m: valid while m lives.
 * librdkafka stores a NUL after every header value, so a text value is also a C string (the
 * unit test checks this); a binary value may hold NULs, so use *len for those. */
const char *kafka_header(const rd_kafka_message_t *m, const char *name, size_t *len);

#endif
