/* db: one PostgreSQL connection running a program's table of prepared statements; connects with
 * backoff, prepares everything on every (re)connect, and reconnects after a lost connection but
 * never re-runs a statement by itself. */
#ifndef TMPROV_DB_H
#define TMPROV_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "backoff.h"
#include "config.h"

/* A program's statements: an enum of ids indexing a static table of these. name is the
 * server-side prepared statement name; sql uses $1, $2 … for parameters. */
struct db_stmt {
	const char *name;
	const char *sql;
};

struct db_options {
	const char *application_name; /* shown in pg_stat_activity; NULL: "tmprov" */
	long connect_timeout_ms;   /* per attempt; libpq rounds up to seconds; 0: libpq default */
	long statement_timeout_ms; /* 0: no limit */
	unsigned connect_attempts; /* db_connect gives up after this many; 0: no count limit */
	long connect_budget_ms;	   /* ... or once this much time has passed; 0: no time limit */
	struct backoff backoff;	   /* delay between attempts */
};

/* TMPROV_DATABASE_URL, TMPROV_DB_CONNECT_TIMEOUT, TMPROV_DB_STATEMENT_TIMEOUT,
 * TMPROV_DB_CONNECT_ATTEMPTS, TMPROV_DB_CONNECT_BUDGET. */
extern const struct cfg_key *const DB_CONFIG_KEYS[];
extern const size_t DB_CONFIG_NKEYS;

/* Defaults of the options (as DB_CONFIG_KEYS' defaults), application_name set to app. */
void db_options_default(struct db_options *o, const char *app);
/* The options from a configuration holding DB_CONFIG_KEYS. */
void db_options_from_cfg(struct db_options *o, const struct cfg *c, const char *app);

/* A struct db is one session: use it from one thread at a time (one per worker thread).
 * stmts is kept by reference (a static table); conninfo is copied. Does not connect. Options
 * are db_options_default(…, NULL) until db_set_options. Returns NULL only when out of memory. */
struct db *db_new(const char *conninfo, const struct db_stmt *stmts, size_t n);
/* Takes effect at the next connect; application_name is copied. */
int db_set_options(struct db *db, const struct db_options *o);
void db_free(struct db *db);

/* Connects (closing any previous connection), retrying with capped exponential backoff and full
 * jitter within the attempt and time limits, then sets statement_timeout and the planner
 * settings (db_planner_pgoptions) and prepares every statement. A statement that fails to
 * prepare is a permanent error: no retry. 0 or -1. */
int db_connect(struct db *db, char *err, size_t errlen);

/* The planner settings every session of db_connect has (enable_seqscan off, see db.c), as a
 * libpq "options" value ("-c name=value ..."), for other clients that must run our statements
 * as we do (make bench's pgbench references). 0, or -1 when out is too small. */
int db_planner_pgoptions(char *out, size_t outlen);

/* Runs prepared statement stmt (an index into the table) with text parameters (NULL entries are
 * SQL NULL). Returns a result with status PGRES_TUPLES_OK or PGRES_COMMAND_OK, which the caller
 * PQclear()s, or NULL with err and db_sqlstate() set. Outside a transaction a lost connection is
 * re-established first; inside one it is not (the transaction is gone): every call then fails
 * until db_rollback(). */
PGresult *db_exec(struct db *db, int stmt, int nparams, const char *const *params, char *err,
		  size_t errlen);

/* One statement of db_exec_atomic. */
struct db_call {
	int stmt;
	int nparams;
	const char *const *params;
};

/* Runs the n statements in order as one transaction in one round trip (libpq's pipeline mode:
 * the server commits at the pipeline's sync), outside a transaction only. Returns 0 with every
 * results[i] set (caller PQclear()s each), or -1 with err and db_sqlstate() set and every
 * results[i] NULL: nothing was committed, unless the connection was lost after the statements
 * were sent (SQLSTATE 08007, outcome unknown, as with db_commit). */
int db_exec_atomic(struct db *db, const struct db_call *calls, size_t n, PGresult **results,
		   char *err, size_t errlen);

/* Utility SQL without parameters (migrations, SET, DDL); may hold several statements. Never
 * for values from outside. 0 or -1. */
int db_exec_simple(struct db *db, const char *sql, char *err, size_t errlen);

/* BEGIN / COMMIT / ROLLBACK; db_commit and db_rollback always leave the transaction ended.
 * db_commit fails (-1) when the server rolled back instead because a statement had failed
 * (SQLSTATE 25P02), and when the connection was lost during COMMIT: then the outcome is unknown
 * (SQLSTATE 08007, transaction_resolution_unknown). db_rollback succeeds on a lost connection (the
 * server has discarded the transaction) and outside a transaction, so a clean-up path may always
 * call it. */
int db_begin(struct db *db, char *err, size_t errlen);
int db_commit(struct db *db, char *err, size_t errlen);
int db_rollback(struct db *db, char *err, size_t errlen);

/* True once the connection was found broken (SQLSTATE class 08 or CONNECTION_BAD), until the
 * next successful connect. */
bool db_connection_lost(const struct db *db);
/* SQLSTATE of the last failure, five characters: the server's; "08006" for a connection lost
 * without one, "08001" for a connect that failed; "" for a failure that has none (a bad call)
 * and after a success. */
const char *db_sqlstate(const struct db *db);
/* The open connection, for PQescape* and the like; NULL when not connected. */
PGconn *db_conn(struct db *db);

/* conninfo (URI or key=value) as "host=… port=… dbname=… user=…" without any password, for
 * logs and error messages; "(unparseable)" if libpq cannot read it. */
void db_conninfo_redact(const char *conninfo, char *out, size_t outlen);

/* base's settings (URI or key=value) with dbname replaced, as a key='value' connection string
 * (for a database created beside base's). 0, or -1 with err (unparseable, or longer than
 * outlen). */
int db_conninfo_dbname(const char *base, const char *dbname, char *out, size_t outlen, char *err,
		       size_t errlen);

#endif
