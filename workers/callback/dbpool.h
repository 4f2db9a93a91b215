/* dbpool: one PostgreSQL connection per request thread, opened on the thread's first request
 * and kept until the thread ends; after a failed connect the thread answers "unavailable" at once
 * for a short while instead of making every request wait on a dead server. */
#ifndef CALLBACK_DBPOOL_H
#define CALLBACK_DBPOOL_H

#include <stddef.h>

#include "db.h"

struct dbpool;

/* conninfo is copied; o is copied, with one connect attempt per try (a request never waits out
 * a reconnect backoff) and retry_ms the pause after a failed connect. NULL when out of memory. */
struct dbpool *dbpool_new(const char *conninfo, const struct db_options *o, long retry_ms);
/* Call after every thread that used the pool has ended. */
void dbpool_free(struct dbpool *p);

/* The calling thread's connection, connected, with SQL_STATEMENTS prepared; NULL with err set
 * when the database cannot be reached now. */
struct db *dbpool_get(struct dbpool *p, char *err, size_t errlen);

#endif
