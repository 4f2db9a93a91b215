/* maint: tmprov-callback's own database connection, outside the request threads: the start-up
 * check (reachable, time zone known), the admin port's readiness probe and the periodic purge of
 * expired sessions and old login failures. */
#ifndef CALLBACK_MAINT_H
#define CALLBACK_MAINT_H

#include <stddef.h>

#include "db.h"

struct maint;

/* conninfo and o are copied. NULL when out of memory. */
struct maint *maint_new(const char *conninfo, const struct db_options *o);
void maint_free(struct maint *m);

enum { MAINT_OK = 0, MAINT_DB = -1, MAINT_TIMEZONE = -2 };

/* Connects with o's attempts and budget (waiting for a database that is still starting) and
 * checks that PostgreSQL knows timezone. MAINT_OK, MAINT_DB (unreachable) or MAINT_TIMEZONE,
 * with err set. Afterwards the connection makes one attempt per use. */
int maint_start(struct maint *m, const char *timezone, char *err, size_t errlen);

/* admin_ready_fn: ready when the database answers, on a connection of its own (never behind
 * a purge). */
int maint_ready(void *arg, char *why, size_t whylen);

/* Deletes expired sessions and login failures older than failure_window_ms, in batches. Returns
 * the rows deleted or -1 (err set). */
long maint_purge(struct maint *m, long failure_window_ms, char *err, size_t errlen);

#endif
