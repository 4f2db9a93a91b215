/* throttle: counts recent failures per email in auth_failures. A refused (throttled) attempt is
 * not recorded, so an email never holds more than max_failures rows inside one window. */
#include "throttle.h"

#include <stdio.h>
#include <stdlib.h>

#include "cbsql.h"

int
throttle_tripped(struct db *db, const struct throttle_opts *t, const char *email, char *err,
		 size_t errlen)
{
	char window[32];
	const char *params[2] = {email, window};
	PGresult *res;
	long n;

	if (t->max_failures <= 0)
		return 0;
	snprintf(window, sizeof(window), "%ld", t->window_ms);
	res = cbsql_run(db, SQL_FAILURES_COUNT, 2, params, err, errlen);
	if (res == NULL)
		return -1;
	n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n >= t->max_failures;
}

static int
throttle_exec(struct db *db, enum sql_stmt stmt, const char *email, char *err, size_t errlen)
{
	const char *params[1] = {email};
	PGresult *res = cbsql_run(db, stmt, 1, params, err, errlen);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int
throttle_fail(struct db *db, const struct throttle_opts *t, const char *email, char *err,
	      size_t errlen)
{
	if (t->max_failures <= 0)
		return 0;
	return throttle_exec(db, SQL_FAILURE_ADD, email, err, errlen);
}

int
throttle_clear(struct db *db, const struct throttle_opts *t, const char *email, char *err,
	       size_t errlen)
{
	if (t->max_failures <= 0)
		return 0;
	return throttle_exec(db, SQL_FAILURES_CLEAR, email, err, errlen);
}
