/* test_db: the libpq module against a real PostgreSQL (TMPROV_DATABASE_URL), each test on a
 * database of its own; and the schema of migrations/ as the worker and callback rely on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "db.h"
#include "../support/testdb.h"

enum {
	S_ECHO,
	S_INSERT,
	S_GET,
	S_COUNT,
	S_DIV,
	S_PID,
	S_NPREPARED,
	S_BOOM,
	S_PLAN,
	S_NSTMTS,
};

static const struct db_stmt STMTS[S_NSTMTS] = {
    [S_ECHO] = {"echo", "SELECT $1::text, $1::text IS NULL"},
    [S_INSERT] = {"insert", "INSERT INTO t (id, name) VALUES ($1::integer, $2) RETURNING id"},
    [S_GET] = {"get", "SELECT name FROM t WHERE id = $1::integer"},
    [S_COUNT] = {"count", "SELECT count(*) FROM t"},
    [S_DIV] = {"div", "SELECT 100 / $1::integer"},
    [S_PID] = {"pid", "SELECT pg_backend_pid()"},
    [S_NPREPARED] = {"nprepared", "SELECT count(*) FROM pg_prepared_statements"},
    [S_BOOM] = {"boom", "INSERT INTO boom VALUES (1)"},
    [S_PLAN] = {"plan", "EXPLAIN (COSTS OFF) EXECUTE get(1)"},
};

/* A row in boom ends its own backend when the transaction commits (a deferred trigger): the
 * connection is lost during COMMIT itself. */
static const char BOOM_SQL[] =
    "CREATE TABLE boom (x integer);"
    "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); RETURN NULL;"
    " END $$;"
    "CREATE CONSTRAINT TRIGGER boom AFTER INSERT ON boom DEFERRABLE INITIALLY DEFERRED"
    " FOR EACH ROW EXECUTE FUNCTION boom()";

struct fx {
	struct testdb t;
	PGconn *admin; /* a second connection: sets up tables, kills the module's backend */
	struct db *db;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct db_options o;
	char err[1024];

	assert_non_null(fx);
	if (testdb_create(&fx->t, "db", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	fx->admin = testdb_connect(&fx->t);
	assert_non_null(fx->admin);
	PQclear(PQexec(fx->admin, "CREATE TABLE t (id integer PRIMARY KEY, name text)"));
	PQclear(PQexec(fx->admin, BOOM_SQL));
	fx->db = db_new(fx->t.conninfo, STMTS, S_NSTMTS);
	assert_non_null(fx->db);
	db_options_default(&o, "test_db");
	o.backoff = (struct backoff){10, 50};
	assert_int_equal(db_set_options(fx->db, &o), 0);
	if (db_connect(fx->db, err, sizeof(err)) != 0)
		fail_msg("db_connect: %s", err);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	db_free(fx->db);
	PQfinish(fx->admin);
	testdb_drop(&fx->t);
	free(fx);
	return 0;
}

/* Runs a statement expected to succeed and returns the first value (malloc'd, NULL for NULL). */
static char *
exec_value(struct db *db, int stmt, int n, const char *const *params)
{
	char err[1024], *v = NULL;
	PGresult *res = db_exec(db, stmt, n, params, err, sizeof(err));

	if (res == NULL)
		fail_msg("statement %d: %s (sqlstate %s)", stmt, err, db_sqlstate(db));
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static long
count_rows(struct db *db)
{
	char *v = exec_value(db, S_COUNT, 0, NULL);
	long n = strtol(v, NULL, 10);

	free(v);
	return n;
}

static void
insert_ok(struct db *db, const char *id, const char *name)
{
	const char *p[2] = {id, name};
	char *v = exec_value(db, S_INSERT, 2, p);

	assert_string_equal(v, id);
	free(v);
}

/* Values that would break out of a quoted literal, or run a second statement, if they were
 * pasted into the SQL: each must come back byte for byte and the table must survive. */
static void
test_params_round_trip(void **state)
{
	struct fx *fx = *state;
	static const char *const names[] = {
	    "O'Brien",
	    "x'); DROP TABLE t; --",
	    "\\'; DELETE FROM t WHERE ''='",
	    "$1 $$ \"quoted\" \\x00",
	    "Ünïcödé ✓",
	    "",
	};
	char id[16], *v;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(id, sizeof(id), "%zu", i + 1);
		insert_ok(fx->db, id, names[i]);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *p[1] = {id};

		snprintf(id, sizeof(id), "%zu", i + 1);
		v = exec_value(fx->db, S_GET, 1, p);
		assert_non_null(v);
		assert_string_equal(v, names[i]);
		free(v);
	}
	assert_int_equal(count_rows(fx->db), 6);
	v = testdb_value(fx->admin, "SELECT to_regclass('t') IS NOT NULL");
	assert_string_equal(v, "t");
	free(v);
}

static void
test_params_null(void **state)
{
	struct fx *fx = *state;
	const char *p[1] = {NULL};
	char err[256];
	PGresult *res = db_exec(fx->db, S_ECHO, 1, p, err, sizeof(err));

	assert_non_null(res);
	assert_true(PQgetisnull(res, 0, 0));
	assert_string_equal(PQgetvalue(res, 0, 1), "t");
	PQclear(res);
	insert_ok(fx->db, "7", NULL);
	p[0] = "7";
	assert_null(exec_value(fx->db, S_GET, 1, p));
}

static void
test_bad_calls(void **state)
{
	struct fx *fx = *state;
	const char *p[3] = {"1", "a", "b"};
	char err[256] = "";

	assert_null(db_exec(fx->db, S_NSTMTS, 0, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "no statement"));
	assert_string_equal(db_sqlstate(fx->db), "");
	assert_null(db_exec(fx->db, -1, 0, NULL, err, sizeof(err)));
	/* The server's own parameter count catches a miscounted call before it runs. */
	assert_null(db_exec(fx->db, S_INSERT, 1, p, err, sizeof(err)));
	assert_non_null(strstr(err, "takes 2 parameters, given 1"));
	assert_null(db_exec(fx->db, S_INSERT, 3, p, err, sizeof(err)));
	assert_null(db_exec(fx->db, S_INSERT, 2, NULL, err, sizeof(err)));
	assert_false(db_connection_lost(fx->db));
	assert_int_equal(count_rows(fx->db), 0);
}

static void
test_statement_error(void **state)
{
	struct fx *fx = *state;
	const char *zero[1] = {"0"}, *dup[2] = {"1", "again"}, *word[1] = {"ten"};
	char err[256] = "", *v;

	assert_null(db_exec(fx->db, S_DIV, 1, zero, err, sizeof(err)));
	assert_string_equal(db_sqlstate(fx->db), "22012");
	assert_non_null(strstr(err, "div: "));
	assert_non_null(strstr(err, "division by zero"));
	assert_null(strchr(err, '\n'));
	assert_null(db_exec(fx->db, S_DIV, 1, word, err, sizeof(err)));
	assert_string_equal(db_sqlstate(fx->db), "22P02");
	insert_ok(fx->db, "1", "first");
	assert_null(db_exec(fx->db, S_INSERT, 2, dup, err, sizeof(err)));
	assert_string_equal(db_sqlstate(fx->db), "23505");
	/* An error is not a lost connection: the next statement runs on the same session. */
	assert_false(db_connection_lost(fx->db));
	v = exec_value(fx->db, S_DIV, 1, (const char *const[]){"4"});
	assert_string_equal(v, "25");
	free(v);
	assert_string_equal(db_sqlstate(fx->db), "");
	assert_int_equal(db_exec_simple(fx->db, "SELEC 1", err, sizeof(err)), -1);
	assert_string_equal(db_sqlstate(fx->db), "42601");
}

/* A statement that does not prepare is found at connect, naming the statement. */
static void
test_prepare_error(void **state)
{
	struct fx *fx = *state;
	static const struct db_stmt bad[] = {
	    {"fine", "SELECT 1"},
	    {"broken", "SELECT * FROM no_such_table WHERE x = $1"},
	};
	struct db *db = db_new(fx->t.conninfo, bad, 2);
	char err[512] = "";

	assert_non_null(db);
	assert_int_equal(db_connect(db, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "broken"));
	assert_string_equal(db_sqlstate(db), "42P01");
	assert_null(db_conn(db));
	db_free(db);
}

static void
test_transactions(void **state)
{
	struct fx *fx = *state;
	const char *dup[2] = {"1", "twice"};
	char err[256];

	assert_int_equal(db_begin(fx->db, err, sizeof(err)), 0);
	assert_int_equal(db_begin(fx->db, err, sizeof(err)), -1);
	insert_ok(fx->db, "1", "rolled back");
	assert_int_equal(db_rollback(fx->db, err, sizeof(err)), 0);
	assert_int_equal(count_rows(fx->db), 0);

	assert_int_equal(db_begin(fx->db, err, sizeof(err)), 0);
	insert_ok(fx->db, "1", "kept");
	insert_ok(fx->db, "2", "kept too");
	assert_int_equal(db_commit(fx->db, err, sizeof(err)), 0);
	assert_int_equal(count_rows(fx->db), 2);

	/* A statement failed inside: COMMIT must not report success. */
	assert_int_equal(db_begin(fx->db, err, sizeof(err)), 0);
	insert_ok(fx->db, "3", "lost with the transaction");
	assert_null(db_exec(fx->db, S_INSERT, 2, dup, err, sizeof(err)));
	assert_int_equal(db_commit(fx->db, err, sizeof(err)), -1);
	assert_string_equal(db_sqlstate(fx->db), "25P02");
	assert_non_null(strstr(err, "rolled back"));
	assert_int_equal(count_rows(fx->db), 2);

	assert_int_equal(db_commit(fx->db, err, sizeof(err)), -1);
	assert_int_equal(db_rollback(fx->db, err, sizeof(err)), 0);
}

/* Ends the module's backend from the admin connection and waits until it is gone. */
/* The first line of "get"'s plan on conn, after running it often enough on the small, analyzed
 * table t for PostgreSQL to cache a generic plan, and then filling t (no ANALYZE since: on a new
 * database autovacuum's next one is a minute or more away). */
static char *
plan_after_growth(struct fx *fx, PGconn *conn, struct db *db)
{
	PGresult *res;
	char *line;

	res = PQexec(fx->admin, "TRUNCATE t; INSERT INTO t VALUES (1, 'one'); ANALYZE t");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	for (int i = 0; i < 10; i++) {
		res = db ? db_exec(db, S_GET, 1, (const char *const[]){"1"}, NULL, 0)
			 : PQexecParams(conn, "EXECUTE get(1)", 0, NULL, NULL, NULL, NULL, 0);
		assert_non_null(res);
		PQclear(res);
	}
	res =
	    PQexec(fx->admin, "INSERT INTO t SELECT g, 'n' || g FROM generate_series(2, 20000) g");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	if (db)
		return exec_value(db, S_PLAN, 0, NULL);
	res = PQexec(conn, "EXPLAIN (COSTS OFF) EXECUTE get(1)");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	line = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return line;
}

/* Sessions plan key lookups as index scans even when the plan was cached while the table was
 * empty; a plain session (the control) keeps scanning the whole table. */
static void
test_planner_settings(void **state)
{
	struct fx *fx = *state;
	PGconn *plain = testdb_connect(&fx->t);
	char opts[64], small[8], *plan;
	PGresult *res;

	assert_int_equal(db_planner_pgoptions(opts, sizeof(opts)), 0);
	assert_string_equal(opts, "-c enable_seqscan=off");
	assert_int_equal(db_planner_pgoptions(small, sizeof(small)), -1);

	plan = plan_after_growth(fx, NULL, fx->db);
	assert_non_null(strstr(plan, "Index"));
	free(plan);

	assert_non_null(plain);
	res = PQexec(plain, "PREPARE get AS SELECT name FROM t WHERE id = $1::integer");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	plan = plan_after_growth(fx, plain, NULL);
	assert_non_null(strstr(plan, "Seq Scan"));
	free(plan);
	PQfinish(plain);
}

static void
kill_backend(struct fx *fx)
{
	char *pid = exec_value(fx->db, S_PID, 0, NULL);
	const char *p[1] = {pid};
	PGresult *res = PQexecParams(fx->admin, "SELECT pg_terminate_backend($1::integer, 5000)", 1,
				     NULL, p, NULL, NULL, 0);

	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	free(pid);
}

static void
test_reconnect(void **state)
{
	struct fx *fx = *state;
	char *before = exec_value(fx->db, S_PID, 0, NULL), *after, *n, err[512];

	kill_backend(fx);
	assert_null(db_exec(fx->db, S_PID, 0, NULL, err, sizeof(err)));
	assert_true(db_connection_lost(fx->db));
	assert_true(strncmp(db_sqlstate(fx->db), "08", 2) == 0 ||
		    strcmp(db_sqlstate(fx->db), "57P01") == 0);
	/* The next call reconnects and re-prepares the whole table on the new session. */
	after = exec_value(fx->db, S_PID, 0, NULL);
	assert_false(db_connection_lost(fx->db));
	assert_string_not_equal(before, after);
	n = exec_value(fx->db, S_NPREPARED, 0, NULL);
	assert_int_equal(strtol(n, NULL, 10), S_NSTMTS);
	insert_ok(fx->db, "1", "after reconnect");
	assert_int_equal(count_rows(fx->db), 1);
	free(before);
	free(after);
	free(n);
}

static const char *const ONE[] = {"1", "one"}, *const TWO[] = {"2", "two"};
static const char *const ZERO[] = {"0"};

/* Both statements in one round trip and one transaction: both committed. */
static void
test_atomic_commits(void **state)
{
	struct fx *fx = *state;
	const struct db_call calls[] = {{S_INSERT, 2, ONE}, {S_INSERT, 2, TWO}};
	PGresult *res[2];
	char err[512];

	assert_int_equal(db_exec_atomic(fx->db, calls, 2, res, err, sizeof(err)), 0);
	assert_string_equal(PQgetvalue(res[0], 0, 0), "1");
	assert_string_equal(PQgetvalue(res[1], 0, 0), "2");
	PQclear(res[0]);
	PQclear(res[1]);
	assert_int_equal(count_rows(fx->db), 2);
}

/* A failing statement takes the ones before it back with it; the session goes on. */
static void
test_atomic_rolls_back(void **state)
{
	struct fx *fx = *state;
	const struct db_call div0[] = {{S_INSERT, 2, ONE}, {S_DIV, 1, ZERO}, {S_INSERT, 2, TWO}};
	const struct db_call dup[] = {{S_INSERT, 2, ONE}, {S_INSERT, 2, ONE}};
	PGresult *res[3] = {NULL, NULL, NULL};
	char err[512];

	assert_int_equal(db_exec_atomic(fx->db, div0, 3, res, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "division by zero"));
	assert_string_equal(db_sqlstate(fx->db), "22012");
	assert_null(res[0]);
	assert_null(res[1]);
	assert_null(res[2]);
	assert_int_equal(db_exec_atomic(fx->db, dup, 2, res, err, sizeof(err)), -1);
	assert_string_equal(db_sqlstate(fx->db), "23505");
	assert_int_equal(count_rows(fx->db), 0);
	insert_ok(fx->db, "7", "after");
	assert_int_equal(count_rows(fx->db), 1);
}

/* Calls that cannot be made fail before anything is sent. */
static void
test_atomic_bad_calls(void **state)
{
	struct fx *fx = *state;
	const struct db_call bad_stmt[] = {{S_INSERT, 2, ONE}, {S_NSTMTS, 0, NULL}};
	const struct db_call bad_count[] = {{S_INSERT, 1, ONE}};
	PGresult *res[2];
	char err[512];

	assert_int_equal(db_exec_atomic(fx->db, bad_stmt, 2, res, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no statement"));
	assert_int_equal(db_exec_atomic(fx->db, bad_count, 1, res, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "takes 2 parameters"));
	assert_int_equal(db_begin(fx->db, err, sizeof(err)), 0);
	assert_int_equal(db_exec_atomic(fx->db, bad_count, 1, res, err, sizeof(err)), -1);
	assert_string_equal(db_sqlstate(fx->db), "25001");
	assert_int_equal(db_rollback(fx->db, err, sizeof(err)), 0);
	assert_int_equal(count_rows(fx->db), 0);
}

/* A connection lost under the statements is reported as such (class 08); the next call
 * reconnects. */
static void
test_atomic_connection_lost(void **state)
{
	struct fx *fx = *state;
	const struct db_call calls[] = {{S_INSERT, 2, ONE}, {S_INSERT, 2, TWO}};
	PGresult *res[2];
	char err[512];

	kill_backend(fx);
	assert_int_equal(db_exec_atomic(fx->db, calls, 2, res, err, sizeof(err)), -1);
	assert_true(db_connection_lost(fx->db));
	assert_true(strncmp(db_sqlstate(fx->db), "08", 2) == 0);
	assert_non_null(strstr(err, "outcome unknown"));
	assert_int_equal(db_exec_atomic(fx->db, calls, 2, res, err, sizeof(err)), 0);
	PQclear(res[0]);
	PQclear(res[1]);
	assert_int_equal(count_rows(fx->db), 2);
}

/* Inside a transaction a lost connection is never papered over: the statements before it are
 * gone, so nothing may run (on a new session, outside any transaction) until the rollback. */
static void
test_reconnect_in_transaction(void **state)
{
	struct fx *fx = *state;
	char err[512];

	assert_int_equal(db_begin(fx->db, err, sizeof(err)), 0);
	insert_ok(fx->db, "1", "in the lost transaction");
	kill_backend(fx);
	assert_null(
	    db_exec(fx->db, S_INSERT, 2, (const char *const[]){"2", "x"}, err, sizeof(err)));
	assert_true(db_connection_lost(fx->db));
	assert_null(
	    db_exec(fx->db, S_INSERT, 2, (const char *const[]){"3", "y"}, err, sizeof(err)));
	assert_non_null(strstr(err, "inside a transaction"));
	assert_true(db_connection_lost(fx->db));
	assert_int_equal(db_commit(fx->db, err, sizeof(err)), -1);
	assert_int_equal(db_rollback(fx->db, err, sizeof(err)), 0);
	assert_int_equal(count_rows(fx->db), 0);
	assert_false(db_connection_lost(fx->db));
}

static void
test_connection_lost_in_commit(void **state)
{
	struct fx *fx = *state;
	char err[512];
	PGresult *res;

	assert_int_equal(db_begin(fx->db, err, sizeof(err)), 0);
	insert_ok(fx->db, "1", "never committed");
	res = db_exec(fx->db, S_BOOM, 0, NULL, err, sizeof(err));
	assert_non_null(res);
	PQclear(res);
	assert_int_equal(db_commit(fx->db, err, sizeof(err)), -1);
	assert_string_equal(db_sqlstate(fx->db), "08007");
	assert_non_null(strstr(err, "outcome unknown"));
	assert_true(db_connection_lost(fx->db));
	/* Here the server never reached its commit: the row is not there. */
	assert_int_equal(count_rows(fx->db), 0);
}

static void
test_connect_gives_up(void **state)
{
	struct db_options o;
	struct db *db;
	char err[1024] = "";
	long ms;

	(void)state;
	/* Port 1 on loopback: refused at once, so only the backoff takes time. */
	db = db_new("postgresql://someone:s3cret-pw@127.0.0.1:1/nowhere", NULL, 0);
	assert_non_null(db);
	db_options_default(&o, "test_db");
	o.connect_attempts = 3;
	o.backoff = (struct backoff){20, 40};
	assert_int_equal(db_set_options(db, &o), 0);
	assert_int_equal(db_connect(db, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "after 3 attempts"));
	assert_null(strstr(err, "s3cret-pw"));
	assert_non_null(strstr(err, "user=someone"));
	assert_string_equal(db_sqlstate(db), "08001");
	assert_true(db_connection_lost(db));

	/* A time budget stops it too, whatever the attempt count. */
	o.connect_attempts = 0;
	o.connect_budget_ms = 300;
	o.backoff = (struct backoff){50, 100};
	assert_int_equal(db_set_options(db, &o), 0);
	ms = clock_now_ms();
	assert_int_equal(db_connect(db, err, sizeof(err)), -1);
	ms = clock_now_ms() - ms;
	assert_true(ms <= 1000);
	assert_null(db_exec(db, 0, 0, NULL, err, sizeof(err)));
	db_free(db);
	db_free(NULL);
}

static void
test_conninfo_redact(void **state)
{
	char out[256];

	(void)state;
	db_conninfo_redact("postgresql://app:hunter2@db.example:6432/tmprov?sslmode=require", out,
			   sizeof(out));
	assert_string_equal(out, "host=db.example port=6432 dbname=tmprov user=app");
	db_conninfo_redact("host=h user=u password='p w' dbname=d", out, sizeof(out));
	assert_string_equal(out, "host=h dbname=d user=u");
	db_conninfo_redact("postgresql://x:y@[", out, sizeof(out));
	assert_string_equal(out, "(unparseable)");
	db_conninfo_redact("host=averylonghostname.example", out, 12);
	assert_int_equal(strlen(out), 11);
}

/* Another database beside the one a URL names: every other setting kept, quotes escaped. */
static void
test_conninfo_dbname(void **state)
{
	char out[256], err[256];

	(void)state;
	assert_int_equal(db_conninfo_dbname("postgresql://app:s3cr'et@db.example:6432/tmprov",
					    "t_x", out, sizeof(out), err, sizeof(err)),
			 0);
	assert_non_null(strstr(out, "dbname='t_x'"));
	assert_non_null(strstr(out, "password='s3cr\\'et'"));
	assert_non_null(strstr(out, "port='6432'"));
	assert_null(strstr(out, "tmprov"));
	assert_int_equal(
	    db_conninfo_dbname("postgresql://x:y@[", "d", out, sizeof(out), err, sizeof(err)), -1);
	assert_int_equal(db_conninfo_dbname("host=h", "d", out, 10, err, sizeof(err)), -1);
	assert_string_equal(err, "connection string too long");
}

/* ---- the schema of migrations/ ---- */

static int
schema_setup(void **state)
{
	struct testdb *t = calloc(1, sizeof(*t));
	char err[1024];

	assert_non_null(t);
	if (testdb_create(t, "schema", err, sizeof(err)) != 0 ||
	    testdb_migrate(t, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	*state = t;
	return 0;
}

static int
schema_teardown(void **state)
{
	testdb_drop(*state);
	free(*state);
	return 0;
}

static const char *
run_sqlstate(PGconn *conn, const char *sql)
{
	static char state[6];
	PGresult *res = PQexec(conn, sql);
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	snprintf(state, sizeof(state), "%s", s ? s : "");
	if (s == NULL && PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		snprintf(state, sizeof(state), "?");
	PQclear(res);
	return state;
}

/* The project targets Debian 12's PostgreSQL 15: that is where the migrations must apply. */
static void
test_schema_on_postgresql_15(void **state)
{
	PGconn *conn = testdb_connect(*state);
	char *v = testdb_value(conn, "SELECT current_setting('server_version_num')::int / 10000");

	assert_string_equal(v, "15");
	free(v);
	v = testdb_value(conn, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM "
			       "pg_tables WHERE schemaname = 'public'");
	assert_string_equal(v, "account_checks,accounts,auth_failures,commands,delete_guard_takes,"
			       "meetings,outbox,schema_migrations,sessions,tm_calls,tm_intents,"
			       "tm_rate_bucket,tm_worker_state,users");
	free(v);
	PQfinish(conn);
}

/* The users table holds a verifier and nothing else that could carry a password. */
static void
test_schema_users_no_password(void **state)
{
	PGconn *conn = testdb_connect(*state);
	char *v =
	    testdb_value(conn, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) "
			       "FROM information_schema.columns WHERE table_name = 'users'");

	assert_string_equal(v, "subject,user_id,email,first_name,last_name,password_verifier,"
			       "status,created_at,updated_at,deleted_at");
	free(v);
	v = testdb_value(conn, "SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY "
			       "table_name) FROM "
			       "information_schema.columns WHERE table_schema = 'public' AND "
			       "column_name ~* '(pass|pwd|secret|credential|token)' ");
	assert_string_equal(v, "sessions.token_hash,users.password_verifier");
	free(v);
	assert_string_equal(run_sqlstate(conn, "INSERT INTO accounts (subject, company_uid, "
					       "company_name, email, rooms, participants) VALUES "
					       "('s1', 'uid-1', 'Acme', 'ops@acme.example', 1, 5)"),
			    "");
	/* A plain password, or a fast hash of one, is refused by the column itself. */
	assert_string_equal(run_sqlstate(conn, "INSERT INTO users (subject, user_id, email, "
					       "password_verifier) VALUES ('s1', 'u1', "
					       "'a@acme.example', 'hunter2')"),
			    "23514");
	assert_string_equal(
	    run_sqlstate(conn,
			 "INSERT INTO users (subject, user_id, email, password_verifier) "
			 "VALUES ('s1', 'u1', 'a@acme.example', "
			 "'5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8')"),
	    "23514");
	assert_string_equal(
	    run_sqlstate(conn, "INSERT INTO users (subject, user_id, email, password_verifier) "
			       "VALUES ('s1', 'u1', 'Ann@Acme.example', "
			       "'$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g')"),
	    "");
	/* Email is unique across the partner whatever its case, among live users. */
	assert_string_equal(
	    run_sqlstate(conn, "INSERT INTO users (subject, user_id, email, password_verifier) "
			       "VALUES ('s1', 'u2', 'ann@ACME.example', "
			       "'$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g')"),
	    "23505");
	assert_string_equal(run_sqlstate(conn, "UPDATE users SET status = 'deleted', deleted_at = "
					       "now() WHERE user_id = 'u1'"),
			    "");
	assert_string_equal(
	    run_sqlstate(conn, "INSERT INTO users (subject, user_id, email, password_verifier) "
			       "VALUES ('s1', 'u2', 'ann@ACME.example', "
			       "'$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g')"),
	    "");
	/* A session keeps only a 32-byte hash: a raw token does not fit. */
	assert_string_equal(run_sqlstate(conn,
					 "INSERT INTO sessions (token_hash, subject, user_id, "
					 "expires_at) VALUES ('raw-token-text'::bytea, 's1', "
					 "'u2', now() + interval '20 minutes')"),
			    "23514");
	PQfinish(conn);
}

/* The outbox is append-only, one outcome per command (and at most one command.held). */
static void
test_schema_outbox(void **state)
{
	PGconn *conn = testdb_connect(*state);

	assert_string_equal(run_sqlstate(conn, "INSERT INTO commands (id, subject, type, "
					       "body_sha256) VALUES ('c1', 's', 'account.create', "
					       "sha256('{}'))"),
			    "");
	assert_string_equal(run_sqlstate(conn, "INSERT INTO outbox (event_id, command_id, type, "
					       "subject, payload) VALUES ('e1', 'c1', "
					       "'account.created', 's', '{}')"),
			    "");
	assert_string_equal(run_sqlstate(conn, "INSERT INTO outbox (event_id, command_id, type, "
					       "subject, payload) VALUES ('e2', 'c1', "
					       "'command.failed', 's', '{}')"),
			    "23505");
	/* Beside it, at most one interim command.held (migrations/006). */
	assert_string_equal(run_sqlstate(conn, "INSERT INTO outbox (event_id, command_id, type, "
					       "subject, payload) VALUES ('e3', 'c1', "
					       "'command.held', 's', '{}')"),
			    "");
	assert_string_equal(run_sqlstate(conn, "INSERT INTO outbox (event_id, command_id, type, "
					       "subject, payload) VALUES ('e4', 'c1', "
					       "'command.held', 's', '{}')"),
			    "23505");
	assert_string_equal(run_sqlstate(conn, "DELETE FROM outbox"), "23001");
	assert_string_equal(run_sqlstate(conn, "UPDATE outbox SET payload = '{\"x\":1}'"), "23001");
	assert_string_equal(run_sqlstate(conn, "UPDATE outbox SET published_at = now()"), "");
	assert_string_equal(run_sqlstate(conn, "UPDATE outbox SET published_at = now()"), "23001");
	/* Unknown statuses are refused; a rejected command may lack subject and type. */
	assert_string_equal(run_sqlstate(conn, "UPDATE commands SET status = 'done'"), "23514");
	assert_string_equal(run_sqlstate(conn, "INSERT INTO commands (id, body_sha256) VALUES "
					       "('c2', sha256('x'))"),
			    "23514");
	assert_string_equal(run_sqlstate(conn, "INSERT INTO commands (id, body_sha256, status) "
					       "VALUES ('c2', sha256('x'), 'rejected')"),
			    "");
	/* Two unresolved intents for one command would mean two calls in flight. */
	assert_string_equal(run_sqlstate(conn, "INSERT INTO tm_intents (command_id, endpoint, "
					       "attempt) VALUES ('c1', 'create_account', 1)"),
			    "");
	assert_string_equal(run_sqlstate(conn, "INSERT INTO tm_intents (command_id, endpoint, "
					       "attempt) VALUES ('c1', 'create_account', 2)"),
			    "23505");
	PQfinish(conn);
}

int
main(void)
{
	const struct CMUnitTest db_tests[] = {
	    cmocka_unit_test_setup_teardown(test_params_round_trip, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_planner_settings, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_atomic_commits, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_atomic_rolls_back, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_atomic_bad_calls, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_atomic_connection_lost, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_params_null, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_calls, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_statement_error, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_prepare_error, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_transactions, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect_in_transaction, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_connection_lost_in_commit, fx_setup, fx_teardown),
	    cmocka_unit_test(test_connect_gives_up),
	    cmocka_unit_test(test_conninfo_redact),
	    cmocka_unit_test(test_conninfo_dbname),
	    cmocka_unit_test_setup_teardown(test_schema_on_postgresql_15, schema_setup,
					    schema_teardown),
	    cmocka_unit_test_setup_teardown(test_schema_users_no_password, schema_setup,
					    schema_teardown),
	    cmocka_unit_test_setup_teardown(test_schema_outbox, schema_setup, schema_teardown),
	};

	return cmocka_run_group_tests_name("db", db_tests, NULL, NULL);
}
