/* maint: two connections: the main thread's (start-up check, purge) and the admin thread's
 * (readiness), so that /readyz never waits behind a purge, which may take many batches or
 * block on a lock up to the statement timeout. */
#include "maint.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "cbsql.h"

/* Rows per purge statement; a purge repeats it until a batch comes back short. */
#define MAINT_BATCH	  5000
#define MAINT_MAX_BATCHES 100

struct maint {
	struct db *db;	  /* the main thread's: start-up check, purge */
	struct db *probe; /* the admin thread's: readiness, one quick statement at a time */
	pthread_mutex_t probe_lock; /* libmicrohttpd may serve two probes at once */
	struct db_options opt;
	char *app;
};

struct maint *
maint_new(const char *conninfo, const struct db_options *o)
{
	struct maint *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	pthread_mutex_init(&m->probe_lock, NULL);
	m->db = db_new(conninfo, CBSQL_STATEMENTS, SQL_NSTMTS);
	m->probe = db_new(conninfo, CBSQL_STATEMENTS, SQL_NSTMTS);
	m->app = strdup(o->application_name ? o->application_name : "tmprov-callback");
	if (m->db == NULL || m->probe == NULL || m->app == NULL || db_set_options(m->db, o) != 0) {
		maint_free(m);
		return NULL;
	}
	m->opt = *o;
	m->opt.application_name = m->app;
	/* The probe never waits for a database that is down: one attempt per use. */
	m->opt.connect_attempts = 1;
	if (db_set_options(m->probe, &m->opt) != 0) {
		maint_free(m);
		return NULL;
	}
	return m;
}

void
maint_free(struct maint *m)
{
	if (m == NULL)
		return;
	db_free(m->db);
	db_free(m->probe);
	free(m->app);
	pthread_mutex_destroy(&m->probe_lock);
	free(m);
}

int
maint_start(struct maint *m, const char *timezone, char *err, size_t errlen)
{
	const char *params[1] = {timezone};
	PGresult *res;
	int rc = MAINT_OK;

	if (db_connect(m->db, err, errlen) != 0) {
		rc = MAINT_DB;
		goto out;
	}
	res = db_exec(m->db, SQL_TIMEZONE_CHECK, 1, params, err, errlen);
	if (res == NULL) {
		rc = db_connection_lost(m->db) ? MAINT_DB : MAINT_TIMEZONE;
		goto out;
	}
	PQclear(res);
	/* The probe's statements are prepared now: a fresh connection prepares them all, and that
	 * waits behind an exclusive lock on any of their tables. */
	if (db_connect(m->probe, err, errlen) != 0) {
		rc = MAINT_DB;
		goto out;
	}
	/* From now on a lost connection is retried once per use, never with a long backoff. */
	db_set_options(m->db, &m->opt);
out:
	return rc;
}

int
maint_ready(void *arg, char *why, size_t whylen)
{
	struct maint *m = arg;
	char err[256];
	PGresult *res;

	pthread_mutex_lock(&m->probe_lock);
	res = cbsql_run(m->probe, SQL_PING, 0, NULL, err, sizeof(err));
	pthread_mutex_unlock(&m->probe_lock);
	if (res == NULL) {
		snprintf(why, whylen, "database unreachable");
		return 0;
	}
	PQclear(res);
	return 1;
}

/* Runs a purge statement until a batch comes back short. */
static long
maint_purge_one(struct maint *m, enum sql_stmt stmt, int nparams, const char *const *params,
		char *err, size_t errlen)
{
	long total = 0;

	for (int i = 0; i < MAINT_MAX_BATCHES; i++) {
		PGresult *res = cbsql_run(m->db, stmt, nparams, params, err, errlen);
		long n;

		if (res == NULL)
			return -1;
		n = strtol(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		total += n;
		if (n < MAINT_BATCH)
			break;
	}
	return total;
}

long
maint_purge(struct maint *m, long failure_window_ms, char *err, size_t errlen)
{
	char window[32], batch[32];
	const char *sp[1] = {batch}, *fp[2] = {window, batch};
	long a, b = -1;

	snprintf(window, sizeof(window), "%ld", failure_window_ms);
	snprintf(batch, sizeof(batch), "%d", MAINT_BATCH);
	a = maint_purge_one(m, SQL_PURGE_SESSIONS, 1, sp, err, errlen);
	if (a >= 0)
		b = maint_purge_one(m, SQL_PURGE_FAILURES, 2, fp, err, errlen);
	if (a < 0 || b < 0)
		return -1;
	if (a + b > 0)
		log_info("purged %ld expired sessions and %ld old login failures", a, b);
	return a + b;
}
