/* testdb: a fresh PostgreSQL database per test, on the server TMPROV_DATABASE_URL names, with
 * the project's migrations applied on request; dropped at the end. */
#ifndef TMPROV_TESTDB_H
#define TMPROV_TESTDB_H

#include <stddef.h>

#include <libpq-fe.h>

struct testdb {
	char name[64];	     /* t_<tag>_<pid>_<n> */
	char conninfo[2048]; /* key=value connection string to it */
};

/* Creates t_<tag>_<pid>_<n>. Fails (-1, err) when TMPROV_DATABASE_URL is unset: tests that
 * need PostgreSQL must fail, not skip, without it. */
int testdb_create(struct testdb *t, const char *tag, char *err, size_t errlen);
/* Applies $TMPROV_TEST_SRC/migrations with migrate_run. */
int testdb_migrate(const struct testdb *t, char *err, size_t errlen);
/* testdb_create, testdb_migrate and a connection (testdb_connect) at once, as most test groups
 * set up: 0, or -1 with the reason on stderr. */
int testdb_open(struct testdb *t, const char *tag, PGconn **conn);
/* Closes conn (NULL: none) and drops the database. */
void testdb_close(struct testdb *t, PGconn *conn);

/* A plain libpq connection for assertions; NULL on failure (message on stderr). */
PGconn *testdb_connect(const struct testdb *t);
/* Drops the database, ending its sessions first. */
void testdb_drop(struct testdb *t);

/* Runs sql (no parameters) on conn and returns the first column of the first row as a
 * malloc'd string, NULL for SQL NULL or no row; fails the test on error. */
char *testdb_value(PGconn *conn, const char *sql);

#endif
