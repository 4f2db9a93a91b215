/* evfmt: outcome events and DLQ copies as one readable line each, the way `tmprov events`, the
 * --wait summaries and `tmprov status` print them. */
#ifndef TMPROV_EVFMT_H
#define TMPROV_EVFMT_H

#include <stddef.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

/* What an outcome says, in words: for command.failed its reason with the TM status, attempts,
 * and whether it may be retried or its outcome is unknown; for command.rejected its errors;
 * otherwise the data's fields as key=value. Truncated to len. */
void evfmt_details(const json_t *ev, char *buf, size_t len);

/* "TIME TYPE SUBJECT commandid=ID details" for an outcome event. */
void evfmt_event(const json_t *ev, char *buf, size_t len);

/* "TIME dlq REASON origin=TOPIC[P]@OFFSET key=K id=ID type=T error=E" for a DLQ copy. */
void evfmt_dlq(const rd_kafka_message_t *m, char *buf, size_t len);

/* The message's timestamp as "2026-11-28T10:00:00.123Z", "-" when it has none. */
void evfmt_kafka_time(const rd_kafka_message_t *m, char *buf, size_t len);

#endif
