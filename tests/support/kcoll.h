/* kcoll: a collector that reads one topic from the beginning in a background thread (no
 * consumer group offsets, nothing committed) and keeps every message, indexed by a key the
 * caller derives from it, so tests can wait for "these N things have arrived". */
#ifndef TMPROV_TEST_KCOLL_H
#define TMPROV_TEST_KCOLL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* One message as read. Immutable once collected; lives until kcoll_stop. */
struct kmsg {
	int32_t partition;
	int64_t offset;
	char *key; /* NUL-terminated copy, NULL when the message had no key */
	size_t keylen;
	char *value; /* NUL-terminated copy of the bytes, NULL when empty */
	size_t len;
	json_t *json;	 /* the value parsed as JSON, NULL when it is not */
	json_t *headers; /* object: header name -> last value (string, or null when not UTF-8) */
	json_t *header_list; /* every header in order: array of [name, value or null] */
};

/* Writes the index key of m into buf (NUL-terminated); returns 0, or -1 when m has none. */
typedef int (*kcoll_key_fn)(const struct kmsg *m, char *buf, size_t len);

/* Index keys used by the worker tests. */
int kcoll_key_commandid(const struct kmsg *m, char *buf,
			size_t len); /* CE "commandid"; "held:ID" for command.held */
int kcoll_key_origin(const struct kmsg *m, char *buf, size_t len); /* "PARTITION:OFFSET" of
								      the origin_ headers */

struct kcoll;

/* Starts reading topic (every partition the broker reports) from the beginning. key may be
 * NULL (no index). 0, or -1 with err. */
int kcoll_start(struct kcoll **out, const char *brokers, const char *topic, kcoll_key_fn key,
		char *err, size_t errlen);
/* Stops the thread and frees every message. NULL: no-op. */
void kcoll_stop(struct kcoll *c);

/* Messages collected so far. */
size_t kcoll_count(struct kcoll *c);
/* Message i (< kcoll_count) in arrival order. */
const struct kmsg *kcoll_at(struct kcoll *c, size_t i);
/* Messages with index key k: returns how many, and stores up to max of them in out. */
size_t kcoll_find(struct kcoll *c, const char *k, const struct kmsg **out, size_t max);
/* Distinct index keys seen. */
size_t kcoll_nkeys(struct kcoll *c);
/* Waits until each of keys[0..n) has at least one message, or timeout_ms. Returns how many
 * of them have one. */
size_t kcoll_wait_keys(struct kcoll *c, const char *const *keys, size_t n, int timeout_ms);
/* Waits until at least n messages were collected, or timeout_ms. Returns the count. */
size_t kcoll_wait_count(struct kcoll *c, size_t n, int timeout_ms);

#endif
