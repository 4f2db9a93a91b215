/* bench_db: the fresh, migrated database each benchmark round runs on (beside the one
 * TMPROV_DATABASE_URL names, on the same server), and the few plain statements the scenarios
 * seed it with. */
#ifndef TMPROV_BENCH_DB_H
#define TMPROV_BENCH_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "config.h"

#define BENCH_CONNINFO_MAX 4096

struct bench_db {
	const struct cfg *cfg;
	char name[64];			   /* tmprov_bench_<tag>_<pid> */
	char conninfo[BENCH_CONNINFO_MAX]; /* key=value settings of the fresh database */
	bool created;
};

/* Creates the database tmprov_bench_TAG_PID (dropping a leftover of that name) and applies the
 * migrations of TMPROV_MIGRATIONS_DIR. tag: lower-case letters and digits. 0 or -1 with err. */
int bench_db_create(struct bench_db *d, const struct cfg *c, const char *tag, char *err,
		    size_t errlen);
/* Drops the database if bench_db_create made it; reports a failure on stderr. */
void bench_db_drop(struct bench_db *d);
/* A connection to it; NULL with err set. */
PGconn *bench_db_connect(const struct bench_db *d, char *err, size_t errlen);
/* Runs sql (no parameters, may hold several statements). 0 or -1 with err set. */
int bench_db_exec(PGconn *conn, const char *sql, char *err, size_t errlen);
/* Runs sql with text parameters (NULL: SQL NULL). 0 or -1 with err set. */
int bench_db_execp(PGconn *conn, const char *sql, int n, const char *const *params, char *err,
		   size_t errlen);

#endif
