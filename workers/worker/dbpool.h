/* dbpool: TMPROV_DB_POOL PostgreSQL connections shared by the commands (a command borrows
 * one for one statement or transaction, never across a TM call), and the process's view of
 * whether the database is reachable. */
#ifndef TMPROV_WORKER_DBPOOL_H
#define TMPROV_WORKER_DBPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "db.h"
#include "metrics.h"
#include "stop.h"

struct dbpool;

/* size connections to TMPROV_DATABASE_URL (options from DB_CONFIG_KEYS, but one connection
 * attempt per call: callers retry with their own backoff, so that a stop request is seen),
 * each running the statement table stmts. Connects lazily. NULL with err on failure. */
struct dbpool *dbpool_new(const struct cfg *c, unsigned size, const struct db_stmt *stmts,
			  size_t nstmts, struct metrics *m, char *err, size_t errlen);
void dbpool_free(struct dbpool *p);
/* A session of its own beside the pool (app: its application_name), with the pool's options:
 * one connection attempt per statement. NULL when out of memory. */
struct db *dbpool_session_new(const struct cfg *c, const char *app, const struct db_stmt *stmts,
			      size_t nstmts);

/* Borrows a connection, waiting while all are lent; NULL when *stop was set first (stop may
 * be NULL). */
struct db *dbpool_get(struct dbpool *p, const atomic_bool *stop);
/* The same, NULL only once g's stop is in force (stop.h): past its grace. */
struct db *dbpool_get_grace(struct dbpool *p, struct stop_grace *g);
void dbpool_put(struct dbpool *p, struct db *db);

/* After a statement: a failure on a lost connection marks the database down, a success up. */
void dbpool_report(struct dbpool *p, const struct db *db, bool ok);
/* Whether the database answered the last statement (true until a failure). */
bool dbpool_available(struct dbpool *p);
/* Marks the database up or down directly (the intent writer's probe). */
void dbpool_set_available(struct dbpool *p, bool up);

/* Cuts a libpq error message before its DETAIL (and HINT): PostgreSQL quotes row values there
 * ("Failing row contains (...)", "Key (...)=(...)"), such as a password verifier, which must
 * not reach logs. */
void dbpool_scrub_error(char *err);

#endif
