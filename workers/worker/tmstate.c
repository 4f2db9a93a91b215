/* tmstate: this worker's TM side as tmprov status --tm shows it — breaker, next probe, last
 * failures, concurrency limit, calls in flight, rate — written by a thread of its own into its
 * tm_worker_state row on every change and every few seconds, and dropped at shutdown. */
#include "tmstate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "log.h"
#include "sql.h"

/* How often the thread looks for a change. */
#define TMSTATE_TICK_MS 250
/* How long shutdown waits for a connection to drop the row. */
#define TMSTATE_DROP_WAIT_MS 2000

struct tmstate {
	pthread_t thread;
	struct tmhealth *health;
	struct tmgate *gate;
	struct dbpool *pool;
	atomic_bool stop;
	char worker[160];
	char group[256];
};

/* What the row says, to tell a change. */
struct tmstate_seen {
	unsigned long version;
	unsigned limit, in_flight;
	double rate;
};

static char *
tmstate_failures_json(const struct tmhealth_view *v)
{
	json_t *a = json_array();
	char *text;

	for (unsigned i = 0; a != NULL && i < v->nfailures; i++)
		json_array_append_new(a,
				      json_pack("{s:f, s:s}", "at", v->failures[i].at_ms / 1000.0,
						"reason", v->failures[i].reason));
	text = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return text;
}

/* Writes the row; 0 or -1. */
static int
tmstate_put(struct tmstate *s, const struct tmhealth_view *v, const struct tmstate_seen *g)
{
	char next[32], limit[16], in_flight[16], rate[32], err[256];
	char *failures = tmstate_failures_json(v);
	const char *params[8] = {s->worker,
				 s->group,
				 tmhealth_state_name(v->state),
				 v->next_probe_ms ? next : NULL,
				 failures,
				 limit,
				 in_flight,
				 rate};
	struct db *db;
	PGresult *res = NULL;
	int rc = -1;

	if (failures == NULL)
		return -1;
	snprintf(next, sizeof(next), "%lld", v->next_probe_ms);
	snprintf(limit, sizeof(limit), "%u", g->limit);
	snprintf(in_flight, sizeof(in_flight), "%u", g->in_flight);
	snprintf(rate, sizeof(rate), "%.3f", g->rate);
	db = dbpool_get(s->pool, &s->stop);
	if (db == NULL)
		goto out;
	res = db_exec(db, SQL_STATE_PUT, 8, params, err, sizeof(err));
	dbpool_report(s->pool, db, res != NULL);
	dbpool_put(s->pool, db);
	if (res == NULL)
		log_debug("tm_worker_state: %s", err);
	rc = res != NULL ? 0 : -1;
out:
	PQclear(res);
	free(failures);
	return rc;
}

static void *
tmstate_main(void *arg)
{
	struct tmstate *s = arg;
	struct tmstate_seen seen = {0}, now;
	struct tmhealth_view v;
	long written = 0;
	bool ever = false;

	while (tmretry_sleep(TMSTATE_TICK_MS, &s->stop)) {
		tmhealth_view(s->health, &v);
		tmgate_snapshot(s->gate, &now.limit, &now.in_flight, &now.rate);
		now.version = v.version;
		if (ever && memcmp(&now, &seen, sizeof(now)) == 0 &&
		    clock_now_ms() - written < TMSTATE_REFRESH_MS)
			continue;
		if (tmstate_put(s, &v, &now) == 0) {
			seen = now;
			ever = true;
			written = clock_now_ms();
		}
	}
	return NULL;
}

struct tmstate *
tmstate_start(const char *group, struct tmhealth *h, struct tmgate *gate, struct dbpool *pool,
	      char *err, size_t errlen)
{
	struct tmstate *s = calloc(1, sizeof(*s));
	char host[64] = "";

	if (s == NULL) {
		snprintf(err, errlen, "tmstate: out of memory");
		return NULL;
	}
	atomic_init(&s->stop, false);
	s->health = h;
	s->gate = gate;
	s->pool = pool;
	gethostname(host, sizeof(host) - 1);
	snprintf(s->worker, sizeof(s->worker), "%s:%ld", host, (long)getpid());
	snprintf(s->group, sizeof(s->group), "%s", group);
	if (pthread_create(&s->thread, NULL, tmstate_main, s) != 0) {
		snprintf(err, errlen, "tmstate: cannot start its thread");
		free(s);
		return NULL;
	}
	return s;
}

void
tmstate_free(struct tmstate *s)
{
	const char *params[1];
	struct stop_grace grace = {.grace_ms = TMSTATE_DROP_WAIT_MS, .seen_ms = -1};
	struct db *db;
	PGresult *res;
	char err[256];

	if (s == NULL)
		return;
	grace.stop = &s->stop;
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	/* A worker that stops in order says so; one that dies leaves its row to go stale. The
	 * wait for a connection is bounded: shutdown must end in bounded time. */
	params[0] = s->worker;
	db = dbpool_get_grace(s->pool, &grace);
	res = db != NULL ? db_exec(db, SQL_STATE_DROP, 1, params, err, sizeof(err)) : NULL;
	if (db != NULL && res == NULL)
		log_debug("tm_worker_state: %s", err);
	PQclear(res);
	dbpool_put(s->pool, db);
	free(s);
}
