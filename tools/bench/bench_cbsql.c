/* bench_cbsql: the pgbench script of tmprov-callback's meeting-list statement, the reference for
 * the callback scenarios. The statement is the callback's own (workers/callback/cbsql.c, from its
 * archive). */
#include <stdio.h>
#include <stdlib.h>

#include "../../workers/callback/cbsql.h"
#include "bench_sql.h"

/* tmprov-callback's defaults: TMPROV_MEETING_TIMEZONE, _LIST_PAST (24 h), _LIST_MAX. */
static const char *const CBSQL_DEFINES[][2] = {
    {"tz", "UTC"},
    {"past_ms", "86400000"},
    {"list_max", "500"},
};

int
bench_sql_callback(struct bench_sqlset *s, long users, char *err, size_t errlen)
{
	/* $1 subject, $2 user_id, $3 time zone, $4 past ms, $5 list max: meetings_answer(). */
	static const char *const args[] = {"('bench-' || :u::text)", "('u' || :u::text)", ":tz",
					   ":past_ms", ":list_max"};
	char nusers[24];
	struct buf b;

	buf_init(&b, BENCH_SCRIPT_MAX);
	if (buf_appends(&b, "-- the meeting list, as tmprov-callback runs it (generated from "
			    "workers/callback/cbsql.c)\n"
			    "\\set u random(0, :users - 1)\n") != BUF_OK) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (bench_sql_render(&b, &CBSQL_MEETING_LIST, args, 5, err, errlen) != 0)
		goto fail;
	if (bench_sqlset_script(s, "meetings", 1, buf_take(&b, NULL)) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(nusers, sizeof(nusers), "%ld", users);
	for (size_t i = 0; i < sizeof(CBSQL_DEFINES) / sizeof(CBSQL_DEFINES[0]); i++)
		if (bench_sqlset_define(s, CBSQL_DEFINES[i][0], CBSQL_DEFINES[i][1]) != 0)
			goto nomem;
	if (bench_sqlset_define(s, "users", nusers) != 0)
		goto nomem;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
fail:
	buf_free(&b);
	return -1;
}
