/* throttle: reserves login attempts per email in auth_failures with tmprov_auth_reserve
 * (migrations/004_auth_reserve.sql). A refused (throttled) attempt is not recorded, so an email
 * never holds more than max_failures rows inside one window. */
#include "throttle.h"

#include <stdio.h>
#include <string.h>

#include "cbsql.h"

enum throttle_verdict
throttle_reserve(struct db *db, const struct throttle_opts *t, const char *email, char *err,
		 size_t errlen)
{
	char window[32], max[32];
	const char *params[3] = {email, window, max};
	enum throttle_verdict v;
	PGresult *res;

	if (t->max_failures <= 0)
		return THROTTLE_GO;
	snprintf(window, sizeof(window), "%ld", t->window_ms);
	snprintf(max, sizeof(max), "%ld", t->max_failures);
	res = cbsql_run(db, SQL_ATTEMPT_RESERVE, 3, params, err, errlen);
	if (res == NULL)
		return THROTTLE_ERROR;
	v = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? THROTTLE_GO : THROTTLE_TRIPPED;
	PQclear(res);
	return v;
}

int
throttle_clear(struct db *db, const struct throttle_opts *t, const char *email, char *err,
	       size_t errlen)
{
	const char *params[1] = {email};
	PGresult *res;

	if (t->max_failures <= 0)
		return 0;
	if ((res = cbsql_run(db, SQL_FAILURES_CLEAR, 1, params, err, errlen)) == NULL)
		return -1;
	PQclear(res);
	return 0;
}
