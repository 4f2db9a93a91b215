/* job: one consumed tm.commands message on its way through the worker: a copy of the Kafka
 * message (the librdkafka message is destroyed once dispatched), its validation result, and the
 * bookkeeping fields the dispatcher and the offset tracker keep in it. */
#ifndef TMPROV_WORKER_JOB_H
#define TMPROV_WORKER_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "trace.h"
#include "validate.h"

struct job {
	/* The Kafka message, copied. payload and key carry an extra NUL after their len bytes
	 * (not part of the message) so that text code may read them as C strings. */
	char *payload;
	size_t len;
	char *key; /* NULL when the message had none */
	size_t keylen;
	char *topic;
	int32_t partition;
	int64_t offset;
	int64_t timestamp_ms; /* the message's timestamp, -1 when it has none */
	rd_kafka_headers_t
	    *headers; /* the message's, copied (NULL: none); its DLQ copy keeps them */

	/* The command as structured-mode text (CloudEvents JSON): what is validated, hashed for
	 * idempotency and stored for replay. The value itself (payload), or for a binary-mode
	 * message (ce_* headers, data as the value) the event made of its headers and value
	 * (common/cekafka.h). */
	const char *body;
	size_t bodylen;
	bool binary;

	/* Its trace (W3C): from its traceparent header, else its traceparent attribute (the
	 * CloudEvents distributed-tracing extension), else a new one. */
	struct trace trace;

	/* Validation result (common/validate.h). */
	enum validate_status vstatus;
	struct command *cmd; /* may be non-NULL even when vstatus != VALIDATE_OK */
	/* Its errors when vstatus != VALIDATE_OK (owned; NULL when out of memory): not 3 KiB in
	 * every job, valid or not. */
	struct validate_errors *errs;
	/* The subject, or "" when the message has none: commands with the same non-empty key
	 * take effect in topic order; a job with "" is ordered with nothing (it can only be a
	 * rejection). */
	char *order_key;

	/* Set by the loop: exec_run() is asked to give up when it becomes true (shutdown past
	 * its deadline, or the job's partition revoked past the drain timeout). Written by the
	 * loop's thread, read by the job's (stop.h). */
	atomic_bool stop;

	/* Owned by the loop (dispatch.c, offsets.c); execution code leaves them alone. */
	uint64_t epoch;		   /* offsets: the assignment of the partition it came from */
	struct job *next;	   /* dispatch: next job of the same subject */
	struct job *qprev, *qnext; /* dispatch: runnable or completed list */
	struct dispatch_subject *subject;
	int state;  /* dispatch: enum in dispatch.c */
	int result; /* dispatch: what the runner returned */
};

/* A job from m: copies payload, key and topic, and runs command_parse(). NULL when out of
 * memory. The caller sets partition bookkeeping (offsets_track) before dispatching it. */
struct job *job_new(const rd_kafka_message_t *m);
void job_free(struct job *j);

/* Sets the calling thread's log context (common/log.h) to j: command id, subject, type,
 * partition, offset, trace id. j must outlive it (log_ctx_clear). */
void job_log_ctx(const struct job *j);
/* The traceparent of what the worker produces for j (its outcome event, its DLQ copy): j's
 * trace id and flags, a new span id. */
void job_traceparent(const struct job *j, char out[TRACEPARENT_LEN + 1]);

#endif
