/* cbpool: one PostgreSQL connection per request thread, opened on the thread's first request
 * and kept until the thread ends; after a failed connect the thread answers "unavailable" at once
 * for a short while instead of making every request wait on a dead server. */
#ifndef TMPROV_CALLBACK_CBPOOL_H
#define TMPROV_CALLBACK_CBPOOL_H

#include <stddef.h>

#include "db.h"

struct cbpool;

/* conninfo is copied; o is copied, with one connect attempt per try (a request never waits out
 * a reconnect backoff) and retry_ms the pause after a failed connect. NULL when out of memory. */
struct cbpool *cbpool_new(const char *conninfo, const struct db_options *o, long retry_ms);
/* Call after every thread that used the pool has ended. */
void cbpool_free(struct cbpool *p);

/* The calling thread's connection, connected, with CBSQL_STATEMENTS prepared; NULL with err set
 * when the database cannot be reached now. */
struct db *cbpool_get(struct cbpool *p, char *err, size_t errlen);

#endif
