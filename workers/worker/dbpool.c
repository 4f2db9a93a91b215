/* dbpool: TMPROV_DB_POOL PostgreSQL connections shared by the commands (a command borrows
 * one for one statement or transaction, never across a TM call), and the process's view of
 * whether the database is reachable. */
#include "dbpool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfgkeys.h"
#include "fwait.h"
#include "log.h"

struct dbpool {
	pthread_mutex_t lock;
	struct fcond freed;
	struct db **idle; /* a stack of connections not lent */
	size_t nidle;
	struct db **all;
	size_t size;
	bool available;
	struct metrics *metrics;
};

struct dbpool *
dbpool_new(const struct cfg *c, unsigned size, const struct db_stmt *stmts, size_t nstmts,
	   struct metrics *m, char *err, size_t errlen)
{
	struct dbpool *p = calloc(1, sizeof(*p));
	struct db_options o;

	if (p == NULL || size == 0)
		goto nomem;
	pthread_mutex_init(&p->lock, NULL);
	fcond_init(&p->freed);
	p->available = true;
	p->metrics = m;
	p->all = calloc(size, sizeof(*p->all));
	p->idle = calloc(size, sizeof(*p->idle));
	if (p->all == NULL || p->idle == NULL)
		goto nomem;
	db_options_from_cfg(&o, c, "tmprov-worker");
	/* One attempt per call: db_connect would otherwise retry for up to
	 * TMPROV_DB_CONNECT_BUDGET inside a statement, deaf to a stop request. */
	o.connect_attempts = 1;
	for (p->size = 0; p->size < size; p->size++) {
		struct db *db = db_new(cfg_str(c, &KEY_TMPROV_DATABASE_URL), stmts, nstmts);

		if (db == NULL || db_set_options(db, &o) != 0) {
			db_free(db);
			goto nomem;
		}
		p->all[p->size] = db;
		p->idle[p->nidle++] = db;
	}
	if (m != NULL)
		metrics_set(m, "tmprov_db_available", "", 1);
	return p;
nomem:
	snprintf(err, errlen, "dbpool: out of memory");
	dbpool_free(p);
	return NULL;
}

struct db *
dbpool_session_new(const struct cfg *c, const char *app, const struct db_stmt *stmts, size_t nstmts)
{
	struct db *db = db_new(cfg_str(c, &KEY_TMPROV_DATABASE_URL), stmts, nstmts);
	struct db_options o;

	db_options_from_cfg(&o, c, app);
	o.connect_attempts = 1;
	if (db != NULL && db_set_options(db, &o) != 0) {
		db_free(db);
		db = NULL;
	}
	return db;
}

void
dbpool_free(struct dbpool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; p->all != NULL && i < p->size; i++)
		db_free(p->all[i]);
	free(p->all);
	free(p->idle);
	fcond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

struct db *
dbpool_get(struct dbpool *p, const atomic_bool *stop)
{
	struct stop_grace g = {.stop = stop, .grace_ms = 0, .seen_ms = -1};

	return dbpool_get_grace(p, &g);
}

struct db *
dbpool_get_grace(struct dbpool *p, struct stop_grace *g)
{
	struct db *db = NULL;

	pthread_mutex_lock(&p->lock);
	while (p->nidle == 0 && !stop_grace_over(g)) {
		/* Timed, so that a stop request is seen without a broadcast for it. */
		fcond_wait(&p->freed, &p->lock, 100);
	}
	if (p->nidle > 0)
		db = p->idle[--p->nidle];
	pthread_mutex_unlock(&p->lock);
	return db;
}

void
dbpool_put(struct dbpool *p, struct db *db)
{
	if (db == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->idle[p->nidle++] = db;
	fcond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

void
dbpool_set_available(struct dbpool *p, bool up)
{
	bool was;

	pthread_mutex_lock(&p->lock);
	was = p->available;
	p->available = up;
	pthread_mutex_unlock(&p->lock);
	if (was == up)
		return;
	if (up)
		log_info("database reachable again");
	else
		log_warn("database unreachable: pausing until it answers");
	if (p->metrics != NULL)
		metrics_set(p->metrics, "tmprov_db_available", "", up ? 1 : 0);
}

void
dbpool_report(struct dbpool *p, const struct db *db, bool ok)
{
	if (ok)
		dbpool_set_available(p, true);
	else if (db_connection_lost(db))
		dbpool_set_available(p, false);
}

bool
dbpool_available(struct dbpool *p)
{
	bool v;

	pthread_mutex_lock(&p->lock);
	v = p->available;
	pthread_mutex_unlock(&p->lock);
	return v;
}

void
dbpool_scrub_error(char *err)
{
	static const char *const marks[] = {" DETAIL:", " HINT:"};
	char *p;

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if ((p = strstr(err, marks[i])) != NULL)
			*p = '\0';
}
