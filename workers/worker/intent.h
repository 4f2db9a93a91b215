/* intent: the intent writer — one thread that group-commits the tm_intents rows (and the
 * commands rows they need) queued by the pool threads before a create_account or
 * remote_schedule attempt, so that 64 threads cost one commit, not 64. */
#ifndef TMPROV_WORKER_INTENT_H
#define TMPROV_WORKER_INTENT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dbpool.h"
#include "stop.h"
#include "tm_client.h"

/* One attempt about to be made. Strings are borrowed until intent_record returns. */
struct intent {
	const char *command_id;
	const char *subject;
	const char *type;
	const char *sha256_hex; /* of the message body */
	const char *topic;
	int32_t partition;
	int64_t offset;
	enum tm_endpoint endpoint;
	unsigned attempt; /* this attempt's number, from 1 */
	unsigned prev;	  /* the previous attempt, whose intent this one replaces (0: none) */
	const char
	    *attempt_id; /* intent_attempt_id_new() of this attempt: the same on every re-record */
};

enum { INTENT_ATTEMPT_ID_LEN = 33 }; /* 128 random bits in hex, and the NUL */

/* A new random id for one attempt's intent. Recording an intent again with the same id (after a
 * failure that may have hidden its commit) finds it written; one with another id is another
 * attempt. */
void intent_attempt_id_new(char out[INTENT_ATTEMPT_ID_LEN]);

struct intent_writer;

/* Starts the writer with its own connection (TMPROV_DATABASE_URL). pool: told when the
 * database is lost or back (the writer also probes it while it is marked down). */
struct intent_writer *intent_writer_new(const struct cfg *c, struct dbpool *pool, char *err,
					size_t errlen);
/* Fails what is still queued, stops the thread. */
void intent_writer_free(struct intent_writer *w);

/* Queues the intent for the next group commit and waits for that commit. Returns 0 when the
 * intent is durable (the call may be made; also when the same intent, attempt id and all, was
 * written by an earlier call whose answer was lost), 1 when it was not written because the
 * command has its result already, belongs to another body, or has another call open (do not
 * call TM), -1 on a database failure or when *stop was set while it was still queued (err says
 * which: the intent may be written then, and is recorded again with the same attempt id). */
int intent_record(struct intent_writer *w, const struct intent *in, const atomic_bool *stop,
		  char *err, size_t errlen);

/* Resolves a command's open intent whose attempt is known not to have reached TM, on a
 * connection of the pool (for a job given up between attempts). 0 or -1. */
int intent_resolve(struct dbpool *pool, const char *command_id, unsigned attempt, char *err,
		   size_t errlen);

#endif
