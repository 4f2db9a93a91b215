/* cbsql: every statement tmprov-callback runs, as an enum of ids and one table of SQL text that
 * common/db.h prepares on each connect; and the one place that decides when a statement may be
 * run a second time after the connection dropped under it. */
#ifndef TMPROV_CALLBACK_CBSQL_H
#define TMPROV_CALLBACK_CBSQL_H

#include <stddef.h>

#include <libpq-fe.h>

#include "db.h"

enum sql_stmt {
	SQL_PING,
	SQL_TIMEZONE_CHECK,
	SQL_USER_BY_EMAIL,
	SQL_ATTEMPT_RESERVE,
	SQL_FAILURES_CLEAR,
	SQL_SESSION_ADD,
	SQL_SESSION_MEETINGS,
	SQL_SESSION_SLIDE,
	SQL_PURGE_SESSIONS,
	SQL_PURGE_FAILURES,
	SQL_NSTMTS
};

extern const struct db_stmt CBSQL_STATEMENTS[SQL_NSTMTS];

/* The meeting list alone ($1 subject, $2 user_id, $3 time zone, $4 ms into the past, $5 most
 * rows), as SQL_SESSION_MEETINGS runs it for the session's user. Not prepared by the callback:
 * it is make bench's reference for the meeting list (tools/bench/bench_cbsql.c). */
extern const struct db_stmt CBSQL_MEETING_LIST;

/* db_exec of stmt; when the connection turns out to be lost while running a statement that is
 * safe to repeat (see the table), reconnects once and runs it again, so the first request after a
 * database restart is answered instead of failed. Returns the result (caller PQclear()s) or NULL
 * with err set. */
PGresult *cbsql_run(struct db *db, enum sql_stmt stmt, int nparams, const char *const *params,
		    char *err, size_t errlen);

#endif
