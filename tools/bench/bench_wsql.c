/* bench_wsql: the pgbench scripts of tmprov-worker's statements, one per kind of command, each
 * the statements the worker runs for one command of that kind, in its order, with values of the
 * same shape. The statements are the worker's own table (workers/worker/sql.c, from its archive).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../workers/worker/sql.h"
#include "bench_sql.h"

/* A command's values as SQL over pgbench variables: n numbers a client's commands, each client
 * works on its own pre-loaded subjects (client_id + clients * k) as a worker works on the
 * subjects of its partitions, so no two clients wait on one row. */
#define W_ID	  "('c' || :client_id::text || '-' || :n::text)"
#define W_SUBJ	  "('bench-' || :subj::text)"
#define W_NEWSUBJ "('new-' || :client_id::text || '-' || :n::text)"
#define W_SHA	  "(md5(" W_ID ") || md5('body' || " W_ID "))"
#define W_USER	  "('u' || :subj::text)"
#define W_EMAIL	  "('u' || :subj::text || '@bench.example')"
#define W_MEETING "('m' || :subj::text || '-' || :mk::text)"
#define W_NEWMEET "('mt-' || :client_id::text || '-' || :n::text)"
#define W_EVENT	  "('evt-' || md5('outcome:' || " W_ID "))"

/* The intent rows intent.c sends for one command: a JSON array of one object. */
#define W_INTENT(subj, type, endpoint)                                                             \
	"json_build_array(json_build_object('id', " W_ID ", 'subject', " subj ", 'type', '" type   \
	"', 'sha', " W_SHA ", 'topic', 'tm.commands', 'part', :part::int, 'off', :n::bigint,"      \
	" 'prev', 0, 'endpoint', '" endpoint "', 'attempt', 1))::text"

struct wsql_kind {
	const char *type, *event_type, *endpoint; /* endpoint NULL: no TM call, no intent */
	const char *subj;			  /* the subject's expression */
	enum sql_stmt finish;
	const char *lookup[5];	     /* $3 user_id, $4 email, $5 meeting_id (after id, subject) */
	const char *own[8];	     /* the FINISH variant's parameters after the common ones */
	const char *calls, *payload; /* names of the -D variables */
};

static const struct wsql_kind WSQL_KINDS[BENCH_NKINDS] = {
    [BENCH_CREATE] = {"account.create",
		      "account.created",
		      "create_account",
		      W_NEWSUBJ,
		      SQL_FINISH_ACCOUNT_CREATE,
		      {W_ID, W_NEWSUBJ, "NULL", "NULL", "NULL"},
		      {"('uid-' || :client_id::text || '-' || :n::text)", "'Company new'",
		       "'ops@bench.example'", "2", "25"},
		      "calls_create",
		      "payload_create"},
    [BENCH_UPDATE] = {"account.update",
		      "account.updated",
		      "update_account",
		      W_SUBJ,
		      SQL_FINISH_ACCOUNT_UPDATE,
		      {W_ID, W_SUBJ, "NULL", "NULL", "NULL"},
		      {"('Company ' || :n::text)", "('ops' || :subj::text || '@bench.example')",
		       "3", "25"},
		      "calls_update",
		      "payload_update"},
    [BENCH_UPSERT] = {"user.upsert",
		      "user.upserted",
		      NULL,
		      W_SUBJ,
		      SQL_FINISH_USER_UPSERT,
		      {W_ID, W_SUBJ, W_USER, W_EMAIL, "NULL"},
		      {W_USER, W_EMAIL, "'First'", "('Last ' || :n::text)", "NULL"},
		      "calls_none",
		      "payload_upsert"},
    [BENCH_SCHEDULE] = {"meeting.schedule",
			"meeting.scheduled",
			"remote_schedule",
			W_SUBJ,
			SQL_FINISH_MEETING_SCHEDULE,
			{W_ID, W_SUBJ, W_USER, "NULL", "NULL"},
			{W_NEWMEET, W_USER, "'Meeting'", "'2031-01-01T10:00:00Z'",
			 "('http://127.0.0.1:8090/join/' || " W_NEWMEET ")", "false"},
			"calls_schedule",
			"payload_schedule"},
    [BENCH_CANCEL] = {"meeting.cancel",
		      "meeting.canceled",
		      NULL,
		      W_SUBJ,
		      SQL_FINISH_MEETING_CANCEL,
		      {W_ID, W_SUBJ, "NULL", "NULL", W_MEETING},
		      {W_MEETING},
		      "calls_none",
		      "payload_cancel"},
};

/* The tm_calls rows and outcome events the worker writes, of their usual size: the database
 * parses and stores them per command (they travel as parameters, like the worker's). */
static const char *const WSQL_DEFINES[][2] = {
    {"calls_none", "[]"},
    {"calls_create",
     "[{\"endpoint\":\"create_account\",\"url\":\"http://127.0.0.1:40000/as/wapi/service/"
     "create_account?service_company_uid=REDACTED&company_name=Company%2012&email=ops12%"
     "40bench.example&number_of_meeting_room=2&number_of_participant=25\",\"outcome\":\"ok\","
     "\"http_status\":200,\"tm_status\":\"SUCCEED\",\"reason\":null,\"duration_ms\":2,"
     "\"started_at\":\"2025-01-01T00:00:00.000Z\"}]"},
    {"calls_update",
     "[{\"endpoint\":\"update_account\",\"url\":\"http://127.0.0.1:40000/as/wapi/service/"
     "update_account?service_company_uid=REDACTED&company_uid=4f1c2a9e-5b7d-4c11-9e0a-"
     "3d2b1f6c8a77&company_name=Company%2012%20v3&email=ops12%40bench.example&number_of_"
     "meeting_room=3&number_of_participant=25\",\"outcome\":\"ok\",\"http_status\":200,"
     "\"tm_status\":\"SUCCEED\",\"reason\":null,\"duration_ms\":2,\"started_at\":"
     "\"2025-01-01T00:00:00.000Z\"}]"},
    {"calls_schedule",
     "[{\"endpoint\":\"remote_schedule\",\"url\":\"http://127.0.0.1:40000/as/wapi/service/"
     "remote_schedule?service_company_uid=REDACTED&company_uid=4f1c2a9e-5b7d-4c11-9e0a-"
     "3d2b1f6c8a77&user_id=u12\",\"outcome\":\"ok\",\"http_status\":200,\"tm_status\":"
     "\"SUCCEED\",\"reason\":null,\"duration_ms\":2,\"started_at\":\"2025-01-01T00:00:00.000Z\""
     "}]"},
};

/* The CloudEvent of an outcome: its envelope around data. */
static char *
wsql_payload(const char *type, const char *data)
{
	struct buf b;

	buf_init(&b, 8192);
	if (buf_printf(&b,
		       "{\"specversion\":\"1.0\",\"id\":\"evt-0123456789abcdef0123456789abcdef\","
		       "\"source\":\"tmprov\",\"type\":\"%s\",\"subject\":\"bench-1234\","
		       "\"time\":\"2025-01-01T00:00:00.123456Z\",\"datacontenttype\":"
		       "\"application/json\",\"commandid\":\"bench-r1-123456\",\"data\":%s}",
		       type, data) != BUF_OK) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b, NULL);
}

static int
wsql_defines(struct bench_sqlset *s)
{
	static const char *const data[][2] = {
	    {"payload_create", "{\"company_uid\":\"4f1c2a9e-5b7d-4c11-9e0a-3d2b1f6c8a77\","
			       "\"company_name\":\"Company 12\",\"email\":\"ops12@bench.example\","
			       "\"rooms\":2,\"participants\":25}"},
	    {"payload_update", "{\"company_uid\":\"4f1c2a9e-5b7d-4c11-9e0a-3d2b1f6c8a77\","
			       "\"company_name\":\"Company 12 v3\",\"email\":\"ops12@bench."
			       "example\",\"rooms\":3,\"participants\":25}"},
	    {"payload_upsert", "{\"user_id\":\"u12\"}"},
	    {"payload_schedule", "{\"meeting_id\":\"1234567\",\"user_id\":\"u12\",\"topic\":"
				 "\"Meeting 3\",\"start_time\":\"2031-01-04T10:00:00Z\","
				 "\"join_url\":\"http://127.0.0.1:8090/join/1234567\"}"},
	    {"payload_cancel", "{\"meeting_id\":\"m12-0\"}"},
	};
	static const char *const types[] = {"account.created", "account.updated", "user.upserted",
					    "meeting.scheduled", "meeting.canceled"};

	for (size_t i = 0; i < sizeof(WSQL_DEFINES) / sizeof(WSQL_DEFINES[0]); i++)
		if (bench_sqlset_define(s, WSQL_DEFINES[i][0], WSQL_DEFINES[i][1]) != 0)
			return -1;
	for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		char *p = wsql_payload(types[i], data[i][1]);
		int rc = p ? bench_sqlset_define(s, data[i][0], p) : -1;

		free(p);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* The two intent statements in one pipeline, committed together at its sync, as the intent
 * writer sends them (db_exec_atomic) for one command (the worker batches the intents of
 * concurrent commands into one; pgbench cannot). */
static int
wsql_intents(struct buf *b, const char *rows, char *err, size_t errlen)
{
	const char *args[1] = {rows};

	if (buf_appends(b, "\\startpipeline\n") != BUF_OK)
		goto nomem;
	if (bench_sql_render(b, &SQL_STATEMENTS[SQL_INTENT_COMMANDS], args, 1, err, errlen) != 0 ||
	    bench_sql_render(b, &SQL_STATEMENTS[SQL_INTENT_INSERT], args, 1, err, errlen) != 0)
		return -1;
	if (buf_appends(b, "\\endpipeline\n") != BUF_OK)
		goto nomem;
	return 0;
nomem:
	snprintf(err, errlen, "script too large");
	return -1;
}

static int
wsql_finish(struct buf *b, const struct wsql_kind *k, char *err, size_t errlen)
{
	char calls[64], payload[64], type[64], event_type[64];
	const char *args[SQL_FINISH_NPARAMS + 8] = {NULL};
	size_t n = SQL_FINISH_NPARAMS;

	snprintf(calls, sizeof(calls), ":%s", k->calls);
	snprintf(payload, sizeof(payload), ":%s", k->payload);
	snprintf(type, sizeof(type), "'%s'", k->type);
	snprintf(event_type, sizeof(event_type), "'%s'", k->event_type);
	args[SQLF_ID] = W_ID;
	args[SQLF_SUBJECT] = k->subj;
	args[SQLF_TYPE] = type;
	args[SQLF_SHA256_HEX] = W_SHA;
	args[SQLF_STATUS] = "'succeeded'";
	args[SQLF_ATTEMPTS] = k->endpoint ? "1" : "0";
	args[SQLF_LAST_ERROR] = "NULL";
	args[SQLF_RETRYABLE] = "NULL";
	args[SQLF_TOPIC] = "'tm.commands'";
	args[SQLF_PARTITION] = ":part";
	args[SQLF_OFFSET] = ":n";
	args[SQLF_CALLS] = calls;
	args[SQLF_EVENT_ID] = W_EVENT;
	args[SQLF_EVENT_TYPE] = event_type;
	args[SQLF_PAYLOAD] = payload;
	args[SQLF_BODY] = "NULL"; /* kept only for failed-retryable and unknown outcomes */
	for (size_t i = 0; i < 8 && k->own[i] != NULL; i++)
		args[n++] = k->own[i];
	return bench_sql_render(b, &SQL_STATEMENTS[k->finish], args, n, err, errlen);
}

/* One command of kind k: lookup, intents when it calls TM non-idempotently, result. The worker
 * looks up the commands ready at one moment in one statement (SQL_LOOKUP_BATCH, whose rows are
 * SQL_LOOKUP's), as it groups their intents; the reference stays one command's statements, so
 * that the ratio shows what sharing them gains. */
static char *
wsql_script(const struct wsql_kind *k, char *err, size_t errlen)
{
	char rows[1024];
	struct buf b;

	buf_init(&b, BENCH_SCRIPT_MAX);
	if (buf_printf(&b,
		       "-- %s, as tmprov-worker runs it (generated from "
		       "workers/worker/sql.c)\n"
		       "\\set n :n + 1\n"
		       "\\set subj :client_id + :clients * random(0, :subjects / :clients - 1)\n"
		       "\\set part :client_id %% 12\n"
		       "\\set mk random(0, :meetings - 1)\n",
		       k->type) != BUF_OK)
		goto nomem;
	if (bench_sql_render(&b, &SQL_STATEMENTS[SQL_LOOKUP], k->lookup, 5, err, errlen) != 0)
		goto fail;
	/* create_account and remote_schedule are not idempotent: an intent first. */
	if (k->endpoint != NULL && strcmp(k->endpoint, "update_account") != 0) {
		snprintf(rows, sizeof(rows), W_INTENT("%s", "%s", "%s"), k->subj, k->type,
			 k->endpoint);
		if (wsql_intents(&b, rows, err, errlen) != 0)
			goto fail;
	}
	if (wsql_finish(&b, k, err, errlen) != 0)
		goto fail;
	return buf_take(&b, NULL);
nomem:
	snprintf(err, errlen, "script too large");
fail:
	buf_free(&b);
	return NULL;
}

int
bench_sql_worker(struct bench_sqlset *s, const struct bench_load *l, char *err, size_t errlen)
{
	long counts[BENCH_NKINDS];

	bench_load_counts(l, counts);
	/* A new user's upsert costs the database what an update does; its hash is not SQL. */
	counts[BENCH_UPSERT] += counts[BENCH_UPSERT_PASSWORD];
	if (wsql_defines(s) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int kind = 0; kind < BENCH_NKINDS; kind++) {
		const struct wsql_kind *k = &WSQL_KINDS[kind];
		char *text;

		if (kind == BENCH_UPSERT_PASSWORD || counts[kind] == 0)
			continue;
		text = wsql_script(k, err, errlen);
		if (text == NULL)
			return -1;
		if (bench_sqlset_script(s, k->type, counts[kind], text) != 0) {
			snprintf(err, errlen, "too many scripts");
			return -1;
		}
	}
	return 0;
}
