/* offsets: per assigned partition, the consumed offsets still in flight and the committable
 * offset (the lowest one not done, or the last seen + 1), committed with rd_kafka_commit and an
 * explicit list. Used by the consumer loop's thread only (rebalance and commit callbacks run
 * there too): not thread-safe. */
#ifndef TMPROV_WORKER_OFFSETS_H
#define TMPROV_WORKER_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "job.h"

struct offsets;

/* Tracks partitions of topic (the one topic the worker consumes). NULL when out of memory. */
struct offsets *offsets_new(const char *topic);
void offsets_free(struct offsets *o);

/* The partition was assigned: tracking starts afresh, under a new epoch, with nothing seen
 * and nothing committed. 0, or -1 when out of memory. */
int offsets_assign(struct offsets *o, int32_t partition);
/* The partition was revoked: its tracking ends. Jobs of it still running are ignored when
 * done (their epoch is gone), even if it is assigned again. */
void offsets_revoke(struct offsets *o, int32_t partition);
bool offsets_assigned(const struct offsets *o, int32_t partition);

/* A message of j's partition at j->offset was consumed: it is in flight until offsets_done().
 * Sets j->epoch. 0; -1 when the partition is not assigned, the topic is not ours or the offset
 * is not above every offset seen in this assignment (the message must then not be run: it is
 * stale or already tracked); -2 when out of memory. */
int offsets_track(struct offsets *o, struct job *j);
/* j's work is durable: its offset no longer holds the committable offset back. A job of an
 * earlier epoch, or one not tracked, is ignored. */
void offsets_done(struct offsets *o, const struct job *j);

/* The offset a commit would store for the partition now (the next message to read after a
 * restart), or -1 when nothing was seen since it was assigned or it is not assigned. */
int64_t offsets_committable(const struct offsets *o, int32_t partition);
/* Messages of the partition tracked and not done. */
size_t offsets_inflight(const struct offsets *o, int32_t partition);

/* Commits, for every assigned partition in only (NULL: all assigned partitions), the
 * committable offset when it differs from the last one committed. async: rd_kafka_commit
 * returns at once and a failure comes to the consumer's offset_commit_cb, which must call
 * offsets_commit_result(); otherwise waits for the broker (OFFSETS_COMMIT_WAIT_MS). Returns the
 * number of partitions committed (0 when nothing changed), or -1 with err. */
int offsets_commit(struct offsets *o, rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *only,
		   bool async, char *err, size_t errlen);
/* How long a synchronous offsets_commit waits for the broker's answer. */
#define OFFSETS_COMMIT_WAIT_MS 10000
/* offsets_commit, waiting up to wait_ms for the answer (0: async). No answer by then is a
 * failure ("Local: Timed out"): the offsets are committed again later, or redelivered. */
int offsets_commit_wait(struct offsets *o, rd_kafka_t *rk,
			const rd_kafka_topic_partition_list_t *only, int wait_ms, char *err,
			size_t errlen);
/* An async commit of these partitions failed (their .err set): they are committed again at the
 * next offsets_commit(). */
void offsets_commit_failed(struct offsets *o, const rd_kafka_topic_partition_list_t *parts);
/* What offset_commit_cb reports: err, the request's result, and parts, each partition's own
 * (.err), which may be set though err is not. Every partition of our topic that failed, by its
 * own error or (none carrying one) by the request's, is committed again at the next
 * offsets_commit(). Returns how many failed; RD_KAFKA_RESP_ERR__NO_OFFSET (nothing to
 * commit) is no failure. */
int offsets_commit_result(struct offsets *o, rd_kafka_resp_err_t err,
			  const rd_kafka_topic_partition_list_t *parts);
/* The offset last committed for the partition (-1: none since assigned). */
int64_t offsets_committed(const struct offsets *o, int32_t partition);

#endif
