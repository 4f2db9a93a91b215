/* Tests for workers/worker/sql: every statement prepares against the schema of migrations/, and
 * the worker's statements do what exec relies on — a result is written once (a second write,
 * or one for another body, changes nothing and says so), intents are resolved with it, the
 * domain change of each variant, the lookup's answers, the intent batch's refusals, and which
 * results keep their body for `tmprov replay`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../workers/worker/sql.h"
#include "../support/testdb.h"

#define SHA_A	   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B	   "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define VERIFIER_1 "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"
#define VERIFIER_2 "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNob3RoZXJoYXNo"

struct fx {
	struct testdb t;
	PGconn *conn; /* assertions */
	struct db *db;
};

static struct fx F;

static int
setup(void **state)
{
	char err[1024];

	(void)state;
	if (testdb_create(&F.t, "sql", err, sizeof(err)) != 0 ||
	    testdb_migrate(&F.t, err, sizeof(err)) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	F.conn = testdb_connect(&F.t);
	F.db = db_new(F.t.conninfo, SQL_STATEMENTS, SQL_COUNT);
	if (F.conn == NULL || F.db == NULL)
		return -1;
	/* Prepares every statement: a typo in any of them fails here. */
	if (db_connect(F.db, err, sizeof(err)) != 0) {
		fprintf(stderr, "db_connect: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	db_free(F.db);
	PQfinish(F.conn);
	testdb_drop(&F.t);
	return 0;
}

static long
value_long(const char *sql)
{
	char *v = testdb_value(F.conn, sql);
	long n = v ? strtol(v, NULL, 10) : -1;

	free(v);
	return n;
}

static void
assert_value(const char *sql, const char *want)
{
	char *v = testdb_value(F.conn, sql);

	if (want == NULL) {
		if (v != NULL)
			fail_msg("%s: got '%s', want NULL", sql, v);
	} else if (v == NULL || strcmp(v, want) != 0) {
		fail_msg("%s: got '%s', want '%s'", sql, v ? v : "NULL", want);
	}
	free(v);
}

struct finish {
	int stmt;
	const char *id, *subject, *type, *sha, *status, *calls, *event_type;
	const char *retryable, *body;
	const char *extra[8];
	int nextra;
};

/* Runs a SQL_FINISH* statement; returns its count (1 written, 0 not), or -1 with *sqlstate. */
static int
finish(const struct finish *f, char sqlstate[6])
{
	char event_id[64], payload[512], err[1024];
	const char *p[SQL_FINISH_NPARAMS + 8];
	PGresult *res;
	int n;

	snprintf(event_id, sizeof(event_id), "evt-%s", f->id);
	snprintf(payload, sizeof(payload), "{\"id\":\"%s\",\"type\":\"%s\"}", event_id,
		 f->event_type);
	p[SQLF_ID] = f->id;
	p[SQLF_SUBJECT] = f->subject;
	p[SQLF_TYPE] = f->type;
	p[SQLF_SHA256_HEX] = f->sha ? f->sha : SHA_A;
	p[SQLF_STATUS] = f->status ? f->status : "succeeded";
	p[SQLF_ATTEMPTS] = "1";
	p[SQLF_LAST_ERROR] = NULL;
	p[SQLF_RETRYABLE] = f->retryable;
	p[SQLF_TOPIC] = "tm.commands";
	p[SQLF_PARTITION] = "2";
	p[SQLF_OFFSET] = "41";
	p[SQLF_CALLS] = f->calls ? f->calls : "[]";
	p[SQLF_EVENT_ID] = event_id;
	p[SQLF_EVENT_TYPE] = f->event_type;
	p[SQLF_PAYLOAD] = payload;
	p[SQLF_BODY] = f->body;
	for (int i = 0; i < f->nextra; i++)
		p[SQL_FINISH_NPARAMS + i] = f->extra[i];
	res = db_exec(F.db, f->stmt, SQL_FINISH_NPARAMS + f->nextra, p, err, sizeof(err));
	if (res == NULL) {
		snprintf(sqlstate, 6, "%s", db_sqlstate(F.db));
		return -1;
	}
	n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

static void
must_finish(const struct finish *f, int want)
{
	char state[6] = "";
	int n = finish(f, state);

	if (n != want)
		fail_msg("finish %s: got %d (sqlstate %s), want %d", f->id, n, state, want);
}

static void
create_account(const char *id, const char *subject, const char *uid)
{
	const struct finish f = {
	    .stmt = SQL_FINISH_ACCOUNT_CREATE,
	    .id = id,
	    .subject = subject,
	    .type = "account.create",
	    .event_type = "account.created",
	    .extra = {uid, "Acme", "ops@acme.example", "2", "25"},
	    .nextra = 5,
	};

	must_finish(&f, 1);
}

static void
upsert_user(const char *id, const char *subject, const char *user, const char *email,
	    const char *verifier)
{
	const struct finish f = {
	    .stmt = SQL_FINISH_USER_UPSERT,
	    .id = id,
	    .subject = subject,
	    .type = "user.upsert",
	    .event_type = "user.upserted",
	    .extra = {user, email, "Ada", "Lovelace", verifier},
	    .nextra = 5,
	};

	must_finish(&f, 1);
}

static void
test_finish_once(void **state)
{
	static const char calls[] =
	    "[{\"endpoint\":\"create_account\",\"url\":\"http://tm/"
	    "x?service_company_uid=REDACTED\","
	    "\"outcome\":\"ambiguous\",\"http_status\":null,\"tm_status\":null,\"reason\":"
	    "\"timeout\","
	    "\"duration_ms\":400,\"started_at\":\"2026-11-28T10:00:01.000005Z\"},"
	    "{\"endpoint\":\"create_account\",\"url\":\"http://tm/x?service_company_uid=REDACTED\","
	    "\"outcome\":\"ok\",\"http_status\":200,\"tm_status\":\"SUCCEED\",\"reason\":null,"
	    "\"duration_ms\":20,\"started_at\":\"2026-11-28T10:00:02Z\"}]";
	struct finish f = {
	    .stmt = SQL_FINISH_ACCOUNT_CREATE,
	    .id = "once-1",
	    .subject = "cust-once",
	    .type = "account.create",
	    .calls = calls,
	    .event_type = "account.created",
	    .extra = {"UID-ONCE", "Acme", "ops@acme.example", "2", "25"},
	    .nextra = 5,
	};

	(void)state;
	must_finish(&f, 1);
	assert_value("SELECT status || ' ' || attempts || ' ' || kafka_partition || '@' || "
		     "kafka_offset FROM commands WHERE id = 'once-1'",
		     "succeeded 1 2@41");
	assert_value("SELECT company_uid || ' ' || rooms || ' ' || status FROM accounts WHERE "
		     "subject = 'cust-once'",
		     "UID-ONCE 2 active");
	assert_value("SELECT count(*) FROM tm_calls WHERE command_id = 'once-1'", "2");
	/* No HTTP answer is NULL, not 0. */
	assert_value("SELECT count(*) FROM tm_calls WHERE command_id = 'once-1' AND http_status IS "
		     "NULL AND outcome = 'ambiguous'",
		     "1");
	assert_value(
	    "SELECT event_id || ' ' || type || ' ' || subject || ' ' || (payload->>'type') "
	    "FROM outbox WHERE command_id = 'once-1'",
	    "evt-once-1 account.created cust-once account.created");
	/* Again (a retry after a lost COMMIT answer, or a second worker): nothing more. */
	must_finish(&f, 0);
	f.stmt = SQL_FINISH;
	f.event_type = "command.failed";
	f.status = "failed";
	f.nextra = 0;
	must_finish(&f, 0);
	assert_value("SELECT count(*) FROM outbox WHERE command_id = 'once-1'", "1");
	assert_value("SELECT count(*) FROM tm_calls WHERE command_id = 'once-1'", "2");
	assert_value("SELECT status FROM commands WHERE id = 'once-1'", "succeeded");
}

static void
test_finish_other_body(void **state)
{
	struct finish f = {
	    .stmt = SQL_FINISH,
	    .id = "body-1",
	    .subject = "cust-body",
	    .type = "account.query",
	    .event_type = "command.failed",
	    .status = "failed",
	};
	char params[256];
	const char *p[1] = {params};
	char err[512];
	PGresult *res;

	(void)state;
	/* An intent recorded for body A... */
	snprintf(params, sizeof(params),
		 "[{\"id\":\"body-1\",\"subject\":\"cust-body\",\"type\":\"account.create\","
		 "\"sha\":\"%s\",\"topic\":\"t\",\"part\":0,\"off\":1,\"prev\":0,"
		 "\"endpoint\":\"create_account\",\"attempt\":1}]",
		 SHA_A);
	res = db_exec(F.db, SQL_INTENT_COMMANDS, 1, p, err, sizeof(err));
	assert_non_null(res);
	PQclear(res);
	/* ...so a result for body B under the same id is not written. */
	f.sha = SHA_B;
	must_finish(&f, 0);
	assert_value("SELECT status FROM commands WHERE id = 'body-1'", "in_progress");
	assert_value("SELECT count(*) FROM outbox WHERE command_id = 'body-1'", "0");
	/* Body A's result is, and it resolves the open intent. */
	res = db_exec(F.db, SQL_INTENT_INSERT, 1, p, err, sizeof(err));
	assert_non_null(res);
	assert_int_equal(PQntuples(res), 1);
	PQclear(res);
	f.sha = SHA_A;
	must_finish(&f, 1);
	assert_value("SELECT count(*) FROM tm_intents WHERE command_id = 'body-1' AND resolved_at "
		     "IS NULL",
		     "0");
}

static void
test_finish_rejected_without_type(void **state)
{
	const struct finish f = {
	    .stmt = SQL_FINISH,
	    .id = "rej-1",
	    .subject = "cust-rej",
	    .type = NULL,
	    .status = "rejected",
	    .event_type = "command.rejected",
	};

	(void)state;
	must_finish(&f, 1);
	assert_value("SELECT status || ' ' || (type IS NULL) FROM commands WHERE id = 'rej-1'",
		     "rejected true");
}

/* The body is kept only for what `tmprov replay` may re-send: an unknown outcome, or a
 * retryable failure; never for user.upsert (it may carry a plain password). */
static void
test_finish_keeps_replayable_body(void **state)
{
	static const char body[] = "{\"id\":\"keep-1\",\"type\":\"account.create\"}";
	struct finish f = {
	    .stmt = SQL_FINISH,
	    .subject = "cust-keep",
	    .type = "account.create",
	    .event_type = "command.failed",
	    .body = body,
	};

	(void)state;
	f.id = "keep-1", f.status = "unknown_outcome", f.retryable = "true";
	must_finish(&f, 1);
	f.id = "keep-2", f.status = "failed", f.retryable = "true";
	must_finish(&f, 1);
	f.id = "keep-3", f.status = "failed", f.retryable = "false";
	must_finish(&f, 1);
	f.id = "keep-4", f.status = "rejected", f.retryable = NULL;
	must_finish(&f, 1);
	f.id = "keep-5", f.status = "failed", f.retryable = "true", f.type = "user.upsert";
	must_finish(&f, 1);
	f.stmt = SQL_FINISH_ACCOUNT_CREATE, f.id = "keep-6", f.status = "succeeded";
	f.type = "account.create", f.event_type = "account.created", f.retryable = NULL;
	f.extra[0] = "UID-KEEP", f.extra[1] = "Acme", f.extra[2] = "ops@acme.example";
	f.extra[3] = "2", f.extra[4] = "25", f.nextra = 5;
	must_finish(&f, 1);
	assert_value("SELECT string_agg(id, ',' ORDER BY id) FROM commands WHERE body IS NOT NULL "
		     "AND id LIKE 'keep-%'",
		     "keep-1,keep-2");
	assert_value("SELECT body FROM commands WHERE id = 'keep-1'", body);
}

static void
test_intent_batch(void **state)
{
	char rows[1024], err[512];
	const char *p[1] = {rows};
	PGresult *res;

	(void)state;
	create_account("ib-done", "cust-ib", "UID-IB");
	/* ib-1 new; ib-done already has its result; ib-2 gets attempt 1 then 2 (resolving 1). */
	snprintf(rows, sizeof(rows),
		 "[{\"id\":\"ib-1\",\"subject\":\"s\",\"type\":\"account.create\",\"sha\":\"%s\","
		 "\"topic\":\"t\",\"part\":0,\"off\":5,\"prev\":0,\"endpoint\":\"create_account\","
		 "\"attempt\":1},"
		 "{\"id\":\"ib-done\",\"subject\":\"cust-ib\",\"type\":\"account.create\","
		 "\"sha\":\"%s\",\"topic\":\"t\",\"part\":0,\"off\":6,\"prev\":0,"
		 "\"endpoint\":\"create_account\",\"attempt\":1},"
		 "{\"id\":\"ib-2\",\"subject\":\"s\",\"type\":\"meeting.schedule\",\"sha\":\"%s\","
		 "\"topic\":\"t\",\"part\":0,\"off\":7,\"prev\":0,\"endpoint\":\"remote_schedule\","
		 "\"attempt\":1}]",
		 SHA_A, SHA_A, SHA_A);
	assert_int_equal(db_begin(F.db, err, sizeof(err)), 0);
	res = db_exec(F.db, SQL_INTENT_COMMANDS, 1, p, err, sizeof(err));
	assert_non_null(res);
	PQclear(res);
	res = db_exec(F.db, SQL_INTENT_INSERT, 1, p, err, sizeof(err));
	assert_non_null(res);
	assert_int_equal(db_commit(F.db, err, sizeof(err)), 0);
	assert_int_equal(PQntuples(res), 2);
	for (int i = 0; i < PQntuples(res); i++)
		assert_string_not_equal(PQgetvalue(res, i, 0), "ib-done");
	PQclear(res);
	assert_value("SELECT status FROM commands WHERE id = 'ib-done'", "succeeded");
	assert_value("SELECT count(*) FROM tm_intents WHERE command_id = 'ib-done'", "0");

	/* A second call for ib-2 while attempt 1 is open and not named as prev: refused. */
	snprintf(rows, sizeof(rows),
		 "[{\"id\":\"ib-2\",\"subject\":\"s\",\"type\":\"meeting.schedule\",\"sha\":\"%s\","
		 "\"topic\":\"t\",\"part\":0,\"off\":7,\"prev\":0,\"endpoint\":\"remote_schedule\","
		 "\"attempt\":2}]",
		 SHA_A);
	res = db_exec(F.db, SQL_INTENT_COMMANDS, 1, p, err, sizeof(err));
	PQclear(res);
	res = db_exec(F.db, SQL_INTENT_INSERT, 1, p, err, sizeof(err));
	assert_non_null(res);
	assert_int_equal(PQntuples(res), 0);
	PQclear(res);
	/* Naming attempt 1 as prev resolves it and opens attempt 2. */
	snprintf(rows, sizeof(rows),
		 "[{\"id\":\"ib-2\",\"subject\":\"s\",\"type\":\"meeting.schedule\",\"sha\":\"%s\","
		 "\"topic\":\"t\",\"part\":0,\"off\":7,\"prev\":1,\"endpoint\":\"remote_schedule\","
		 "\"attempt\":2}]",
		 SHA_A);
	res = db_exec(F.db, SQL_INTENT_COMMANDS, 1, p, err, sizeof(err));
	PQclear(res);
	res = db_exec(F.db, SQL_INTENT_INSERT, 1, p, err, sizeof(err));
	assert_non_null(res);
	assert_int_equal(PQntuples(res), 1);
	PQclear(res);
	assert_value("SELECT string_agg(attempt || ':' || (resolved_at IS NULL), ',' ORDER BY "
		     "attempt) FROM tm_intents WHERE command_id = 'ib-2'",
		     "1:false,2:true");
	/* SQL_INTENT_RESOLVE closes one attempt. */
	{
		const char *rp[2] = {"ib-2", "2"};

		res = db_exec(F.db, SQL_INTENT_RESOLVE, 2, rp, err, sizeof(err));
		assert_non_null(res);
		PQclear(res);
	}
	assert_value("SELECT count(*) FROM tm_intents WHERE command_id = 'ib-2' AND resolved_at IS "
		     "NULL",
		     "0");
}

/* SQL_LOOKUP with the given parameters; the caller clears the result. */
static PGresult *
lookup(const char *id, const char *subject, const char *user, const char *email,
       const char *meeting)
{
	const char *p[5] = {id, subject, user, email, meeting};
	char err[512];
	PGresult *res = db_exec(F.db, SQL_LOOKUP, 5, p, err, sizeof(err));

	if (res == NULL)
		fail_msg("lookup: %s", err);
	assert_int_equal(PQntuples(res), 1);
	assert_int_equal(PQnfields(res), SQLL_COUNT);
	return res;
}

static void
test_lookup(void **state)
{
	const struct finish sched = {
	    .stmt = SQL_FINISH_MEETING_SCHEDULE,
	    .id = "lk-m",
	    .subject = "cust-lk",
	    .type = "meeting.schedule",
	    .event_type = "meeting.scheduled",
	    .extra = {"M-LK", "u-1", "Kick-off", "2026-12-01T10:00:00Z",
		      "http://127.0.0.1:8090/join/M-LK", "true"},
	    .nextra = 6,
	};
	PGresult *res;

	(void)state;
	/* Nothing known. */
	res = lookup("lk-none", "cust-nobody", NULL, NULL, NULL);
	assert_true(PQgetisnull(res, 0, SQLL_CMD_STATUS));
	assert_true(PQgetisnull(res, 0, SQLL_ACC_COMPANY_UID));
	assert_true(PQgetisnull(res, 0, SQLL_INTENT_MAX));
	assert_string_equal(PQgetvalue(res, 0, SQLL_EMAIL_TAKEN), "f");
	PQclear(res);

	create_account("lk-a", "cust-lk", "UID-LK");
	upsert_user("lk-u", "cust-lk", "u-1", "Ada@Example.org", VERIFIER_1);
	must_finish(&sched, 1);
	assert_value("SELECT possible_duplicate::text FROM meetings WHERE meeting_id = 'M-LK'",
		     "true");

	res = lookup("lk-a", "cust-lk", "u-1", "ada@example.ORG", "M-LK");
	assert_string_equal(PQgetvalue(res, 0, SQLL_CMD_STATUS), "succeeded");
	assert_string_equal(PQgetvalue(res, 0, SQLL_CMD_SHA256_HEX), SHA_A);
	assert_string_equal(PQgetvalue(res, 0, SQLL_ACC_COMPANY_UID), "UID-LK");
	assert_string_equal(PQgetvalue(res, 0, SQLL_ACC_COMPANY_NAME), "Acme");
	assert_string_equal(PQgetvalue(res, 0, SQLL_ACC_ROOMS), "2");
	assert_string_equal(PQgetvalue(res, 0, SQLL_ACC_STATUS), "active");
	assert_string_equal(PQgetvalue(res, 0, SQLL_USER_STATUS), "active");
	/* The user's own email is not "taken". */
	assert_string_equal(PQgetvalue(res, 0, SQLL_EMAIL_TAKEN), "f");
	assert_string_equal(PQgetvalue(res, 0, SQLL_MEETING_SUBJECT), "cust-lk");
	assert_string_equal(PQgetvalue(res, 0, SQLL_MEETING_CANCELED), "f");
	PQclear(res);

	/* Another user (or the same user id under another subject) with that email, any case. */
	res = lookup("lk-x", "cust-lk", "u-2", "ADA@example.org", NULL);
	assert_string_equal(PQgetvalue(res, 0, SQLL_EMAIL_TAKEN), "t");
	assert_true(PQgetisnull(res, 0, SQLL_USER_STATUS));
	PQclear(res);
	res = lookup("lk-x", "cust-other", "u-1", "ada@example.org", "M-LK");
	assert_string_equal(PQgetvalue(res, 0, SQLL_EMAIL_TAKEN), "t");
	assert_string_equal(PQgetvalue(res, 0, SQLL_MEETING_SUBJECT), "cust-lk");
	PQclear(res);
}

static void
test_user_upsert_keeps_verifier(void **state)
{
	const struct finish del = {
	    .stmt = SQL_FINISH_USER_DELETE,
	    .id = "uk-del",
	    .subject = "cust-uk",
	    .type = "user.delete",
	    .event_type = "user.deleted",
	    .extra = {"u-1"},
	    .nextra = 1,
	};
	char state_[6] = "";

	(void)state;
	create_account("uk-a", "cust-uk", "UID-UK");
	upsert_user("uk-1", "cust-uk", "u-1", "grace@example.org", VERIFIER_1);
	/* No password on update: the stored verifier stays. */
	upsert_user("uk-2", "cust-uk", "u-1", "grace.h@example.org", NULL);
	assert_value("SELECT email || ' ' || (password_verifier = '" VERIFIER_1 "') FROM users "
		     "WHERE subject = 'cust-uk' AND user_id = 'u-1'",
		     "grace.h@example.org true");
	PQclear(PQexec(F.conn, "INSERT INTO sessions (token_hash, subject, user_id, expires_at) "
			       "VALUES (decode(repeat('ab', 32), 'hex'), 'cust-uk', 'u-1', "
			       "now() + interval '1 hour')"));
	must_finish(&del, 1);
	assert_value("SELECT status FROM users WHERE subject = 'cust-uk' AND user_id = 'u-1'",
		     "deleted");
	assert_value("SELECT count(*) FROM sessions WHERE subject = 'cust-uk'", "0");
	/* A deleted user comes back with an upsert, with a new verifier. */
	upsert_user("uk-3", "cust-uk", "u-1", "grace.h@example.org", VERIFIER_2);
	assert_value("SELECT status || ' ' || (deleted_at IS NULL) || ' ' || (password_verifier = "
		     "'" VERIFIER_2 "') "
		     "FROM users WHERE subject = 'cust-uk' AND user_id = 'u-1'",
		     "active true true");
	/* A new user without verifier cannot be stored: exec checks first, the schema agrees. */
	{
		const struct finish nov = {
		    .stmt = SQL_FINISH_USER_UPSERT,
		    .id = "uk-4",
		    .subject = "cust-uk",
		    .type = "user.upsert",
		    .event_type = "user.upserted",
		    .extra = {"u-new", "new@example.org", "N", "N", NULL},
		    .nextra = 5,
		};

		assert_int_equal(finish(&nov, state_), -1);
		assert_string_equal(state_, "23502");
		assert_value("SELECT count(*) FROM commands WHERE id = 'uk-4'", "0");
	}
	/* The email of a live user: the unique index refuses, and nothing is written. */
	{
		const struct finish dup = {
		    .stmt = SQL_FINISH_USER_UPSERT,
		    .id = "uk-5",
		    .subject = "cust-uk",
		    .type = "user.upsert",
		    .event_type = "user.upserted",
		    .extra = {"u-2", "GRACE.H@example.org", "G", "H", VERIFIER_1},
		    .nextra = 5,
		};

		assert_int_equal(finish(&dup, state_), -1);
		assert_string_equal(state_, "23505");
		assert_value("SELECT count(*) FROM outbox WHERE command_id = 'uk-5'", "0");
	}
}

static void
test_account_update_delete_cancel(void **state)
{
	const struct finish upd = {
	    .stmt = SQL_FINISH_ACCOUNT_UPDATE,
	    .id = "ad-upd",
	    .subject = "cust-ad",
	    .type = "account.update",
	    .event_type = "account.updated",
	    .extra = {"Acme Two", "two@acme.example", "7", "70"},
	    .nextra = 4,
	};
	const struct finish sched = {
	    .stmt = SQL_FINISH_MEETING_SCHEDULE,
	    .id = "ad-m",
	    .subject = "cust-ad",
	    .type = "meeting.schedule",
	    .event_type = "meeting.scheduled",
	    .extra = {"M-AD", "u-1", "Board", "2026-12-01T10:00:00+01:00",
		      "http://127.0.0.1:8090/join/M-AD", "false"},
	    .nextra = 6,
	};
	const struct finish cancel = {
	    .stmt = SQL_FINISH_MEETING_CANCEL,
	    .id = "ad-c",
	    .subject = "cust-ad",
	    .type = "meeting.cancel",
	    .event_type = "meeting.canceled",
	    .extra = {"M-AD"},
	    .nextra = 1,
	};
	const struct finish del = {
	    .stmt = SQL_FINISH_ACCOUNT_DELETE,
	    .id = "ad-del",
	    .subject = "cust-ad",
	    .type = "account.delete",
	    .event_type = "account.deleted",
	};

	(void)state;
	create_account("ad-a", "cust-ad", "UID-AD");
	must_finish(&upd, 1);
	assert_value("SELECT company_name || ' ' || email || ' ' || rooms || ' ' || participants "
		     "FROM accounts WHERE subject = 'cust-ad'",
		     "Acme Two two@acme.example 7 70");
	upsert_user("ad-u1", "cust-ad", "u-1", "u1@ad.example", VERIFIER_1);
	upsert_user("ad-u2", "cust-ad", "u-2", "u2@ad.example", VERIFIER_2);
	must_finish(&sched, 1);
	assert_value("SELECT start_time = '2026-12-01T09:00:00Z' FROM meetings WHERE meeting_id = "
		     "'M-AD'",
		     "t");
	must_finish(&cancel, 1);
	assert_value("SELECT canceled_at IS NOT NULL FROM meetings WHERE meeting_id = 'M-AD'", "t");
	PQclear(PQexec(F.conn, "INSERT INTO sessions (token_hash, subject, user_id, expires_at) "
			       "VALUES (decode(repeat('cd', 32), 'hex'), 'cust-ad', 'u-2', "
			       "now() + interval '1 hour')"));
	must_finish(&del, 1);
	assert_value("SELECT status || ' ' || (deleted_at IS NOT NULL) FROM accounts WHERE subject "
		     "= 'cust-ad'",
		     "deleted true");
	assert_int_equal(value_long("SELECT count(*) FROM users WHERE subject = 'cust-ad' AND "
				    "status = 'active'"),
			 0);
	assert_int_equal(value_long("SELECT count(*) FROM sessions WHERE subject = 'cust-ad'"), 0);
	/* Their emails are free again. */
	{
		PGresult *res = lookup("ad-x", "cust-other", "u-9", "u1@ad.example", NULL);

		assert_string_equal(PQgetvalue(res, 0, SQLL_EMAIL_TAKEN), "f");
		PQclear(res);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_finish_once),
	    cmocka_unit_test(test_finish_other_body),
	    cmocka_unit_test(test_finish_rejected_without_type),
	    cmocka_unit_test(test_finish_keeps_replayable_body),
	    cmocka_unit_test(test_intent_batch),
	    cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_user_upsert_keeps_verifier),
	    cmocka_unit_test(test_account_update_delete_cancel),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
