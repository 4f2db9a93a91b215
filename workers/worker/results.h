/* results: the result statements (SQL_FINISH*) of commands finished at one moment, committed
 * together in one transaction by whichever of their pool threads gets there first (group.h). */
#ifndef TMPROV_WORKER_RESULTS_H
#define TMPROV_WORKER_RESULTS_H

#include <stddef.h>

#include <libpq-fe.h>

#include "config.h"
#include "dbpool.h"
#include "metrics.h"
#include "stop.h"

enum results_rc {
	RESULTS_DONE,	 /* committed: *res is the statement's result */
	RESULTS_ALONE,	 /* not committed (its group failed): run the statement alone */
	RESULTS_STOPPED, /* the stop came into force while it was queued: nothing sent */
};

struct results;

/* Its own connection (TMPROV_DATABASE_URL). pool: whether the database is reachable (while it
 * is not, statements are left to the pool's waits). m (may be NULL): the tmprov_result_*
 * metrics, declared here. NULL with err on failure. */
struct results *results_new(const struct cfg *c, struct dbpool *pool, struct metrics *m, char *err,
			    size_t errlen);
/* After every results_commit has returned. NULL is a no-op. */
void results_free(struct results *rs);

/* Runs stmt (one statement that writes a command's result: atomic by itself) in one transaction
 * with the others queued now, never waiting for more. A group whose transaction fails commits
 * none of them (unless the connection was lost after sending: then some may be, as with any
 * statement; the caller's statements find their result written and do nothing) and each gets
 * RESULTS_ALONE. *res is the caller's to PQclear. */
enum results_rc results_commit(struct results *rs, int stmt, int nparams, const char *const *params,
			       struct stop_grace *stop, PGresult **res);

#endif
