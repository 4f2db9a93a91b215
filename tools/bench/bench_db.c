/* bench_db: a fresh database per benchmark round, created through the server TMPROV_DATABASE_URL
 * names, migrated with common/migrate, dropped at the end. */
#include "bench_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgkeys.h"
#include "db.h"
#include "migrate.h"

static void
bench_db_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Runs "VERB name" ("DROP DATABASE IF EXISTS", "CREATE DATABASE") through the server
 * TMPROV_DATABASE_URL names. */
static int
bench_db_admin(const struct bench_db *d, const char *verb, char *err, size_t errlen)
{
	PGconn *conn = PQconnectdb(cfg_str(d->cfg, &KEY_TMPROV_DATABASE_URL));
	char sql[256];
	int rc = -1;

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "database: %s", PQerrorMessage(conn));
		goto out;
	}
	PQsetNoticeProcessor(conn, bench_db_quiet, NULL); /* "does not exist, skipping" */
	/* The name is ours (letters, digits, '_'): no quoting needed. A round killed by its
	 * timeout may leave sessions behind: FORCE ends them. */
	snprintf(sql, sizeof(sql), "%s %s%s", verb, d->name,
		 strncmp(verb, "DROP", 4) == 0 ? " WITH (FORCE)" : "");
	rc = bench_db_exec(conn, sql, err, errlen);
out:
	PQfinish(conn);
	return rc;
}

int
bench_db_create(struct bench_db *d, const struct cfg *c, const char *tag, char *err, size_t errlen)
{
	struct migrate_opts mo = {.dir = cfg_str(c, &KEY_TMPROV_MIGRATIONS_DIR),
				  .mode = MIGRATE_APPLY};

	memset(d, 0, sizeof(*d));
	d->cfg = c;
	snprintf(d->name, sizeof(d->name), "tmprov_bench_%s_%ld", tag, (long)getpid());
	if (db_conninfo_dbname(cfg_str(c, &KEY_TMPROV_DATABASE_URL), d->name, d->conninfo,
			       sizeof(d->conninfo), err, errlen) != 0 ||
	    bench_db_admin(d, "DROP DATABASE IF EXISTS", err, errlen) != 0 ||
	    bench_db_admin(d, "CREATE DATABASE", err, errlen) != 0)
		return -1;
	d->created = true;
	mo.conninfo = d->conninfo;
	return migrate_run(&mo, NULL, err, errlen);
}

void
bench_db_drop(struct bench_db *d)
{
	char err[256];

	if (d == NULL || !d->created)
		return;
	if (getenv("TMPROV_BENCH_KEEP") != NULL) {
		fprintf(stderr, "tmprov-bench: database %s kept\n", d->name);
		return;
	}
	if (bench_db_admin(d, "DROP DATABASE IF EXISTS", err, sizeof(err)) != 0)
		fprintf(stderr, "tmprov-bench: %s\n", err);
	d->created = false;
}

PGconn *
bench_db_connect(const struct bench_db *d, char *err, size_t errlen)
{
	PGconn *conn = PQconnectdb(d->conninfo);

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "database %s: %s", d->name, PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

static int
bench_db_result(PGresult *res, const char *sql, char *err, size_t errlen)
{
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%.60s...: %s", sql, PQresultErrorMessage(res));
		rc = -1;
	}
	PQclear(res);
	return rc;
}

int
bench_db_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	return bench_db_result(PQexec(conn, sql), sql, err, errlen);
}

int
bench_db_execp(PGconn *conn, const char *sql, int n, const char *const *params, char *err,
	       size_t errlen)
{
	return bench_db_result(PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0), sql, err,
			       errlen);
}
