/* lookup: the lookups of commands ready at one moment, run as one statement (SQL_LOOKUP_BATCH)
 * by whichever of their pool threads gets there first (leader/follower); and the cmd_state of a
 * lookup's row. */
#ifndef TMPROV_WORKER_LOOKUP_H
#define TMPROV_WORKER_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "cmd.h"
#include "config.h"
#include "dbpool.h"
#include "metrics.h"
#include "stop.h"

/* SQL_LOOKUP's parameters, in order: command id, subject, and the user_id, email and meeting_id
 * the command's type looks up (NULL: none). */
enum lookup_param {
	LOOKUP_ID,
	LOOKUP_SUBJECT,
	LOOKUP_USER_ID,
	LOOKUP_EMAIL,
	LOOKUP_MEETING_ID,
	LOOKUP_NPARAMS
};

enum lookup_result {
	LOOKUP_DONE,	/* the state is filled in */
	LOOKUP_ALONE,	/* not looked up: run SQL_LOOKUP alone, with the caller's retries */
	LOOKUP_STOPPED, /* *stop was set before the lookup was taken into a batch */
};

struct lookup_batcher;

/* A batcher with its own connection (TMPROV_DATABASE_URL). pool: whether the database is
 * reachable (while it is not, lookups are left to the pool's own waits). m (may be NULL): the
 * tmprov_lookup_* metrics, declared here. NULL with err on failure. */
struct lookup_batcher *lookup_batcher_new(const struct cfg *c, struct dbpool *pool,
					  struct metrics *m, char *err, size_t errlen);
/* After every lookup_batched has returned. NULL is a no-op. */
void lookup_batcher_free(struct lookup_batcher *b);

/* Looks params up together with the other lookups pending now: it never waits for more to
 * come. A batch whose statement fails (or a row that does not come back once) is not retried:
 * its commands get LOOKUP_ALONE. A lookup taken into a batch waits for that batch's answer,
 * which takes one statement's time; one still queued gives up when *stop is set. st is filled
 * in only for LOOKUP_DONE. */
enum lookup_result lookup_batched(struct lookup_batcher *b,
				  const char *const params[LOOKUP_NPARAMS], struct cmd_state *st,
				  const atomic_bool *stop);

/* Fills st (whose strings must be cleared or never set: cmd_state_clear) from row row of
 * SQL_LOOKUP's (or SQL_LOOKUP_BATCH's) result, for a command of subject subject. 0, or -1 out
 * of memory (st then holds no string). */
int lookup_state(const PGresult *res, int row, const char *subject, struct cmd_state *st);

/* One command of a batch, as the two steps below see it. */
struct lookup_item {
	const char *const *params; /* LOOKUP_NPARAMS */
	struct cmd_state *st;
	unsigned rows; /* rows of the answer that were its (its answer is used when exactly 1) */
	bool sent;     /* part of the statement's $1 */
};

/* The SQL_LOOKUP_BATCH $1 of items[0..n), each with k = its index (malloc'd text). An item whose
 * values cannot be written as JSON is left out (sent false). NULL when out of memory or
 * when none could be written. */
char *lookup_batch_json(struct lookup_item *items, size_t n);
/* Hands each row of SQL_LOOKUP_BATCH's answer res to the sent item its k names (rows counted,
 * state filled in from the first, and cleared again when more came). Rows with a k that names
 * no sent item are ignored. Returns how many items got exactly one row. */
size_t lookup_batch_spread(const PGresult *res, struct lookup_item *items, size_t n);

#endif
