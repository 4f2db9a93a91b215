/* intent: the intent writer — one thread that group-commits the tm_intents rows (and the
 * commands rows they need) queued by the pool threads before a create_account or
 * remote_schedule attempt, so that 64 threads cost one commit, not 64. */
#include "intent.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "cfgkeys.h"
#include "deadline.h"
#include "fwait.h"
#include "log.h"
#include "sql.h"
#include "validate.h"

/* A batch is bounded so that one transaction stays short; a command id appears at most once in
 * a batch (one ON CONFLICT statement may not touch a row twice). */
enum { INTENT_BATCH_MAX = 512, INTENT_PROBE_MS = 1000 };

enum req_state { REQ_QUEUED, REQ_TAKEN, REQ_DONE };

struct intent_req {
	const struct intent *in;
	enum req_state state;
	int rc;
	char err[256];
	struct intent_req *next;
};

struct intent_writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work; /* a request was queued, or stopping */
	struct fcond done;   /* a batch finished */
	struct intent_req *head;
	bool stopping;
	struct db *db;
	struct dbpool *pool;
};

/* Moves up to INTENT_BATCH_MAX queued requests, one per command id, into batch. Called locked. */
static size_t
intent_take(struct intent_writer *w, struct intent_req **batch)
{
	size_t n = 0;
	bool dup;

	for (struct intent_req **pp = &w->head; *pp != NULL && n < INTENT_BATCH_MAX;) {
		struct intent_req *r = *pp;

		dup = false;
		for (size_t i = 0; i < n && !dup; i++)
			dup = strcmp(batch[i]->in->command_id, r->in->command_id) == 0;
		if (dup) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->state = REQ_TAKEN;
		batch[n++] = r;
	}
	return n;
}

static json_t *
intent_rows(struct intent_req **batch, size_t n)
{
	json_t *rows = json_array();

	for (size_t i = 0; rows != NULL && i < n; i++) {
		const struct intent *in = batch[i]->in;

		if (json_array_append_new(
			rows,
			json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:i, s:s, s:i, s:s?}", "id",
				  in->command_id, "subject", in->subject, "type", in->type, "sha",
				  in->sha256_hex, "topic", in->topic, "part", (int)in->partition,
				  "off", (json_int_t)in->offset, "prev", (int)in->prev, "endpoint",
				  tm_endpoint_name(in->endpoint), "attempt", (int)in->attempt,
				  "attempt_id", in->attempt_id)) != 0) {
			json_decref(rows);
			return NULL;
		}
	}
	return rows;
}

/* One transaction for the whole batch; sets every request's rc. */
static void
intent_commit(struct intent_writer *w, struct intent_req **batch, size_t n)
{
	char err[256] = "", *text = NULL;
	const char *params[1];
	const struct db_call calls[2] = {{SQL_INTENT_COMMANDS, 1, params},
					 {SQL_INTENT_INSERT, 1, params}};
	json_t *rows = intent_rows(batch, n);
	PGresult *results[2], *res = NULL;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		batch[i]->rc = 1;
	if (rows == NULL || (text = json_dumps(rows, JSON_COMPACT)) == NULL) {
		snprintf(err, sizeof(err), "intent: out of memory");
		goto out;
	}
	params[0] = text;
	/* One round trip: both statements, committed together at the pipeline's sync. */
	if (db_exec_atomic(w->db, calls, 2, results, err, sizeof(err)) != 0)
		goto out;
	res = results[1];
	PQclear(results[0]);
	/* Written: the ids returned. The rest stay 1 (do not call). */
	for (int row = 0; row < PQntuples(res); row++)
		for (size_t i = 0; i < n; i++)
			if (strcmp(PQgetvalue(res, row, 0), batch[i]->in->command_id) == 0)
				batch[i]->rc = 0;
	rc = 0;
out:
	if (rc != 0) {
		dbpool_scrub_error(err);
		log_warn("intent batch of %zu: %s", n, err);
		for (size_t i = 0; i < n; i++) {
			batch[i]->rc = -1;
			snprintf(batch[i]->err, sizeof(batch[i]->err), "%s", err);
		}
	}
	dbpool_report(w->pool, w->db, rc == 0);
	PQclear(res);
	free(text);
	json_decref(rows);
}

/* While the database is marked down and nothing else tests it, a cheap query tells when it is
 * back, so that the loop can resume. */
static void
intent_probe(struct intent_writer *w)
{
	char err[256];
	bool ok = db_exec_simple(w->db, "SELECT 1", err, sizeof(err)) == 0;

	if (ok)
		dbpool_set_available(w->pool, true);
}

static void *
intent_thread(void *arg)
{
	struct intent_writer *w = arg;
	struct intent_req *batch[INTENT_BATCH_MAX];
	struct timespec until;
	size_t n;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->head == NULL && !w->stopping) {
			deadline_after(&until, INTENT_PROBE_MS);
			if (pthread_cond_timedwait(&w->work, &w->lock, &until) != 0 &&
			    w->head == NULL && !dbpool_available(w->pool)) {
				pthread_mutex_unlock(&w->lock);
				intent_probe(w);
				pthread_mutex_lock(&w->lock);
			}
		}
		if (w->stopping)
			break;
		n = intent_take(w, batch);
		pthread_mutex_unlock(&w->lock);
		intent_commit(w, batch, n);
		pthread_mutex_lock(&w->lock);
		for (size_t i = 0; i < n; i++)
			batch[i]->state = REQ_DONE;
		fcond_broadcast(&w->done);
	}
	/* Whoever is still queued gets a failure rather than a wait without end. */
	for (struct intent_req *r = w->head; r != NULL; r = r->next) {
		r->state = REQ_DONE;
		r->rc = -1;
		snprintf(r->err, sizeof(r->err), "intent writer stopped");
	}
	w->head = NULL;
	fcond_broadcast(&w->done);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

void
intent_attempt_id_new(char out[INTENT_ATTEMPT_ID_LEN])
{
	unsigned char raw[(INTENT_ATTEMPT_ID_LEN - 1) / 2];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(out, INTENT_ATTEMPT_ID_LEN, raw, sizeof(raw));
}

struct intent_writer *
intent_writer_new(const struct cfg *c, struct dbpool *pool, char *err, size_t errlen)
{
	struct intent_writer *w = calloc(1, sizeof(*w));
	struct db_options o;

	if (w == NULL) {
		snprintf(err, errlen, "intent: out of memory");
		return NULL;
	}
	w->pool = pool;
	w->db = db_new(cfg_str(c, &KEY_TMPROV_DATABASE_URL), SQL_STATEMENTS, SQL_COUNT);
	db_options_from_cfg(&o, c, "tmprov-worker intents");
	o.connect_attempts = 1; /* the callers retry, with their stop flag in view */
	if (w->db == NULL || db_set_options(w->db, &o) != 0) {
		snprintf(err, errlen, "intent: out of memory");
		db_free(w->db);
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->work, NULL);
	fcond_init(&w->done);
	if (pthread_create(&w->thread, NULL, intent_thread, w) != 0) {
		snprintf(err, errlen, "intent: cannot start the writer thread");
		fcond_destroy(&w->done);
		pthread_cond_destroy(&w->work);
		pthread_mutex_destroy(&w->lock);
		db_free(w->db);
		free(w);
		return NULL;
	}
	return w;
}

void
intent_writer_free(struct intent_writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	fcond_destroy(&w->done);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->lock);
	db_free(w->db);
	free(w);
}

int
intent_record(struct intent_writer *w, const struct intent *in, const atomic_bool *stop, char *err,
	      size_t errlen)
{
	struct intent_req r = {.in = in, .state = REQ_QUEUED};

	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		pthread_mutex_unlock(&w->lock);
		snprintf(err, errlen, "intent writer stopped");
		return -1;
	}
	/* Appended at the tail: requests are committed in the order they came. */
	{
		struct intent_req **pp = &w->head;

		while (*pp != NULL)
			pp = &(*pp)->next;
		*pp = &r;
	}
	pthread_cond_signal(&w->work);
	while (r.state != REQ_DONE) {
		if (r.state == REQ_QUEUED && stop_requested(stop)) {
			/* Not taken yet: withdraw it. Once taken, its batch is in flight and the
			 * answer must be awaited (r lives on this stack). */
			for (struct intent_req **pp = &w->head; *pp != NULL; pp = &(*pp)->next)
				if (*pp == &r) {
					*pp = r.next;
					break;
				}
			r.rc = -1;
			snprintf(r.err, sizeof(r.err), "stopped before the intent was written");
			break;
		}
		fcond_wait(&w->done, &w->lock, 100);
	}
	pthread_mutex_unlock(&w->lock);
	if (r.rc < 0)
		snprintf(err, errlen, "%s", r.err);
	return r.rc;
}

int
intent_resolve(struct dbpool *pool, const char *command_id, unsigned attempt, char *err,
	       size_t errlen)
{
	char num[16];
	const char *params[2] = {command_id, num};
	struct db *db = dbpool_get(pool, NULL);
	PGresult *res;

	snprintf(num, sizeof(num), "%u", attempt);
	res = db_exec(db, SQL_INTENT_RESOLVE, 2, params, err, errlen);
	if (res == NULL)
		dbpool_scrub_error(err);
	dbpool_report(pool, db, res != NULL);
	dbpool_put(pool, db);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}
