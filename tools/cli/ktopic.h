/* ktopic: reads topics for the operator commands without a consumer group — every partition
 * assigned, from the beginning or from the end it had when added — and says when everything
 * that was there at that moment has been read. Joins no group and commits nothing, so it can
 * never disturb the workers. */
#ifndef TMPROV_KTOPIC_H
#define TMPROV_KTOPIC_H

#include <stdbool.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

#define KTOPIC_MAX_PARTITIONS 4096

enum ktopic_from { KTOPIC_BEGINNING, KTOPIC_END };

struct ktopic;

/* A reader on TMPROV_KAFKA_BROKERS (and TMPROV_KAFKA_PROPS). NULL with err on failure. */
struct ktopic *ktopic_new(const struct cfg *c, char *err, size_t errlen);
void ktopic_free(struct ktopic *k);

/* Adds every partition of topic, to be read from its beginning or from its end as of now, and
 * records that end. Call before ktopic_start. 0, or -1 with err (unknown topic, broker down). */
int ktopic_add(struct ktopic *k, const char *topic, enum ktopic_from from, char *err,
	       size_t errlen);
/* Starts fetching what was added. 0 or -1 with err. */
int ktopic_start(struct ktopic *k, char *err, size_t errlen);

/* The next message within timeout_ms, or NULL. Consumer errors are logged and skipped. The
 * caller destroys the message with rd_kafka_message_destroy. */
rd_kafka_message_t *ktopic_poll(struct ktopic *k, int timeout_ms);
/* True once every partition was read up to the end recorded by ktopic_add. */
bool ktopic_caught_up(const struct ktopic *k);

#endif
