/* testdb: a fresh PostgreSQL database per test, on the server TMPROV_DATABASE_URL names, with
 * the project's migrations applied on request; dropped at the end. */
#include "testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "migrate.h"

static int testdb_seq;

static void
testdb_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int
testdb_admin(const char *verb, const char *name, char *err, size_t errlen)
{
	const char *base = getenv("TMPROV_DATABASE_URL");
	PGconn *conn = PQconnectdb(base);
	PGresult *res = NULL;
	char *ident = NULL, *sql = NULL;
	int rc = -1;

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "connect: %s", PQerrorMessage(conn));
		goto out;
	}
	/* "does not exist, skipping" is the normal case, not news. */
	PQsetNoticeProcessor(conn, testdb_quiet, NULL);
	ident = PQescapeIdentifier(conn, name, strlen(name));
	if (ident == NULL || asprintf(&sql, verb, ident) < 0) {
		sql = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "%s: %s", sql, PQresultErrorMessage(res));
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	PQfreemem(ident);
	free(sql);
	PQfinish(conn);
	return rc;
}

int
testdb_create(struct testdb *t, const char *tag, char *err, size_t errlen)
{
	const char *base = getenv("TMPROV_DATABASE_URL");

	memset(t, 0, sizeof(*t));
	if (base == NULL || *base == '\0') {
		snprintf(err, errlen, "TMPROV_DATABASE_URL is not set (run under tests/run-tests)");
		return -1;
	}
	snprintf(t->name, sizeof(t->name), "t_%.30s_%ld_%d", tag, (long)getpid(), ++testdb_seq);
	if (db_conninfo_dbname(base, t->name, t->conninfo, sizeof(t->conninfo), err, errlen) != 0)
		return -1;
	/* A leftover from an earlier run with the same pid would make the test start dirty. */
	if (testdb_admin("DROP DATABASE IF EXISTS %s WITH (FORCE)", t->name, err, errlen) != 0)
		return -1;
	return testdb_admin("CREATE DATABASE %s", t->name, err, errlen);
}

int
testdb_migrate(const struct testdb *t, char *err, size_t errlen)
{
	const char *src = getenv("TMPROV_TEST_SRC");
	char dir[1024];
	struct migrate_opts o = {.conninfo = t->conninfo, .dir = dir, .mode = MIGRATE_APPLY};

	if (src == NULL) {
		snprintf(err, errlen, "TMPROV_TEST_SRC is not set (run under tests/run-tests)");
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/migrations", src);
	return migrate_run(&o, NULL, err, errlen);
}

PGconn *
testdb_connect(const struct testdb *t)
{
	PGconn *conn = PQconnectdb(t->conninfo);

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "testdb: connect to %s: %s", t->name, PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

void
testdb_drop(struct testdb *t)
{
	char err[512];

	if (t->name[0] == '\0')
		return;
	if (testdb_admin("DROP DATABASE IF EXISTS %s WITH (FORCE)", t->name, err, sizeof(err)))
		fprintf(stderr, "testdb: %s\n", err);
	t->name[0] = '\0';
}

char *
testdb_value(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	char *v = NULL;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail_msg("testdb: %s: %s", sql, PQresultErrorMessage(res));
	}
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

int
testdb_open(struct testdb *t, const char *tag, PGconn **conn)
{
	char err[512];

	if (testdb_create(t, tag, err, sizeof(err)) != 0 ||
	    testdb_migrate(t, err, sizeof(err)) != 0) {
		fprintf(stderr, "# %s\n", err);
		return -1;
	}
	*conn = testdb_connect(t);
	return *conn ? 0 : -1;
}

void
testdb_close(struct testdb *t, PGconn *conn)
{
	if (conn != NULL)
		PQfinish(conn);
	testdb_drop(t);
}
