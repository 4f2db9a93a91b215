/* job: one consumed tm.commands message on its way through the worker: a copy of the Kafka
 * message (the librdkafka message is destroyed once dispatched), its validation result, and the
 * bookkeeping fields the dispatcher and the offset tracker keep in it. */
#ifndef TMPROV_WORKER_JOB_H
#define TMPROV_WORKER_JOB_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

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

	/* Validation result (common/validate.h). */
	enum validate_status vstatus;
	struct command *cmd; /* may be non-NULL even when vstatus != VALIDATE_OK */
	struct validate_errors errs;
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

#endif
