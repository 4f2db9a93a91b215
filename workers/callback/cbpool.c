/* cbpool: thread-local connections for libmicrohttpd's pool threads. The pthread key's
 * destructor closes a thread's connection when the thread exits (MHD_stop_daemon joins them). */
#include "cbpool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "cbsql.h"
#include "clock.h"

struct cbpool {
	char *conninfo;
	struct db_options opt;
	char *app;
	long retry_ms;
	pthread_key_t key;
};

/* What each thread keeps. */
struct cbpool_slot {
	struct db *db;
	long retry_at_ms; /* after a failed connect: no new attempt before this (monotonic) */
};

static void
cbpool_slot_free(void *arg)
{
	struct cbpool_slot *s = arg;

	if (s == NULL)
		return;
	db_free(s->db);
	free(s);
}

struct cbpool *
cbpool_new(const char *conninfo, const struct db_options *o, long retry_ms)
{
	struct cbpool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->conninfo = strdup(conninfo);
	p->app = strdup(o->application_name ? o->application_name : "tmprov-callback");
	if (p->conninfo == NULL || p->app == NULL ||
	    pthread_key_create(&p->key, cbpool_slot_free)) {
		free(p->conninfo);
		free(p->app);
		free(p);
		return NULL;
	}
	p->opt = *o;
	p->opt.application_name = p->app;
	p->opt.connect_attempts = 1;
	p->retry_ms = retry_ms;
	return p;
}

void
cbpool_free(struct cbpool *p)
{
	if (p == NULL)
		return;
	/* A thread that never exited (the caller's own) still holds its slot. */
	cbpool_slot_free(pthread_getspecific(p->key));
	pthread_setspecific(p->key, NULL);
	pthread_key_delete(p->key);
	free(p->conninfo);
	free(p->app);
	free(p);
}

static struct cbpool_slot *
cbpool_slot(struct cbpool *p)
{
	struct cbpool_slot *s = pthread_getspecific(p->key);

	if (s != NULL)
		return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->db = db_new(p->conninfo, CBSQL_STATEMENTS, SQL_NSTMTS);
	if (s->db == NULL || db_set_options(s->db, &p->opt) != 0 ||
	    pthread_setspecific(p->key, s) != 0) {
		cbpool_slot_free(s);
		return NULL;
	}
	return s;
}

struct db *
cbpool_get(struct cbpool *p, char *err, size_t errlen)
{
	struct cbpool_slot *s = cbpool_slot(p);

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!db_connection_lost(s->db))
		return s->db;
	if (s->retry_at_ms != 0 && clock_now_ms() < s->retry_at_ms) {
		snprintf(err, errlen, "database unreachable (retrying shortly)");
		return NULL;
	}
	if (db_connect(s->db, err, errlen) != 0) {
		s->retry_at_ms = clock_now_ms() + p->retry_ms;
		log_warn("database: %s", err);
		return NULL;
	}
	if (s->retry_at_ms != 0)
		log_info("database: connection restored");
	s->retry_at_ms = 0;
	return s->db;
}
