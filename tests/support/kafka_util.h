/* kafka_util: Kafka helpers for tests: start and stop a private tmprov-devkafka, produce a
 * message and wait for it, mark a topic's end, and read what a topic holds as JSON. */
#ifndef TMPROV_KAFKA_UTIL_H
#define TMPROV_KAFKA_UTIL_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define KU_MAX_PARTITIONS 256

/* A private tmprov-devkafka, started from $TMPROV_TEST_BIN, logging and writing its bootstrap
 * file under $TMPROV_TEST_TMP. */
struct ku_devkafka {
	pid_t pid;
	char bootstrap[512];
	char file[1024];    /* its bootstrap file */
	char control[1024]; /* its control socket (ku_devkafka_fault) */
	char log[1100];	    /* its stdout and stderr */
};

/* args: extra command-line flags, NULL-terminated (NULL for none). Waits up to 20 s for the
 * bootstrap file. Returns 0, or -1 with err (e.g. TMPROV_TEST_BIN unset, early exit). */
int ku_devkafka_start(struct ku_devkafka *dk, const char *const *args, char *err, size_t errlen);

/* Sends SIGTERM and waits up to 10 s (then SIGKILL). Returns the exit status (0-255), 128 + the
 * signal when it was killed by one, or -1 when it was not running. */
int ku_devkafka_stop(struct ku_devkafka *dk);

/* Whether dk has ended on its own: -1 while it runs, else its exit status (0-255, or 128 + the
 * signal that ended it); it is then reaped (ku_devkafka_stop has nothing left to do). */
int ku_devkafka_exited(struct ku_devkafka *dk);

/* Sends one fault command to dk's control socket (tools/devkafka/mockfault.h: e.g. "errors Produce
 * NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT", "broker-down 1") and reads the answer. Returns 0
 * once the mock took it, or -1 with err (its answer, or why there was none). */
int ku_devkafka_fault(const struct ku_devkafka *dk, const char *cmd, char *err, size_t errlen);

/* Produces one message (key may be NULL; headers: NULL or a NULL-terminated list of name,
 * value pairs) with an idempotent producer and waits up to 10 s for its delivery.
 * Returns 0 or -1 with err. */
int ku_produce(const char *brokers, const char *topic, const char *key, const char *value,
	       const char *const *headers, char *err, size_t errlen);

/* The end offset of each partition of a topic at one moment, to read only what comes after. */
struct ku_mark {
	int npartitions;
	int64_t end[KU_MAX_PARTITIONS];
};

/* Fills m with topic's current end offsets. Returns 0 or -1 with err. */
int ku_mark(const char *brokers, const char *topic, struct ku_mark *m, char *err, size_t errlen);

/* The offset group has committed for topic's partition (RD_KAFKA_OFFSET_INVALID, -1001, when
 * none), read with OffsetFetch by a client that does not join the group; -2000 with err when
 * the broker could not be asked. */
int64_t ku_committed(const char *brokers, const char *group, const char *topic, int32_t partition,
		     char *err, size_t errlen);

/* Number of partitions of topic per the broker's metadata, or -1 with err. */
int ku_partitions(const char *brokers, const char *topic, char *err, size_t errlen);

/* Reads topic without a consumer group (nothing is committed) from since (NULL: from the
 * beginning), until it holds at least expect messages and has reached the end of every
 * partition, or timeout_ms passed. *out becomes a new JSON array (caller json_decref()s) of
 * {"partition", "offset", "key", "value", "json", "headers"}, in the order read (which keeps
 * each partition's order): key and value are strings or null (absent or not UTF-8), json is
 * the value parsed as JSON or null, headers maps each name to its last value.
 * Returns the number of messages read (possibly fewer or more than expect), or -1. */
int ku_consume(const char *brokers, const char *topic, const struct ku_mark *since, int expect,
	       int timeout_ms, json_t **out);

/* ku_consume() from the beginning of the topic. */
int ku_consume_all(const char *brokers, const char *topic, int expect, int timeout_ms,
		   json_t **out);

#endif
