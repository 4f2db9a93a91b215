/* publisher: the outbox → tm.events copier (see publisher.h). A pass: BEGIN; take the advisory
 * lock or give up; read up to BATCH unpublished rows in seq order; produce them all; wait for
 * every delivery report; mark the delivered ones published; COMMIT. Delivery comes before the
 * mark, so a crash in between re-publishes (same event id) instead of losing an event. */
#include "publisher.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "kafka.h"
#include "log.h"

#define BATCH	500
#define TICK_MS 500
/* A pass that found the lock taken (another worker publishing) is retried this soon when there
 * is reason to: a kick or a drain. */
#define BUSY_RETRY_MS	 20
#define BACKLOG_EVERY_MS 1000
/* pg_try_advisory_xact_lock key: "tmprov.o" as a big-endian int64. */
#define LOCK_KEY "8389485317659700847"

enum { PS_LOCK, PS_SELECT, PS_MARK, PS_BACKLOG };

static const struct db_stmt stmts[] = {
    [PS_LOCK] = {"pub_lock", "SELECT pg_try_advisory_xact_lock($1::bigint)"},
    [PS_SELECT] = {"pub_select", "SELECT seq, subject, payload::text FROM outbox "
				 "WHERE published_at IS NULL ORDER BY seq LIMIT $1::int"},
    [PS_MARK] = {"pub_mark", "UPDATE outbox SET published_at = now() "
			     "WHERE seq = ANY($1::bigint[]) AND published_at IS NULL"},
    [PS_BACKLOG] = {"pub_backlog", "SELECT count(*) FROM outbox WHERE published_at IS NULL"},
};

enum pass_result { PASS_EMPTY, PASS_PUBLISHED, PASS_BUSY, PASS_ERROR };

struct publisher {
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t wake_cv, drained_cv;
	bool kicked, stopping;
	uint64_t drain_asked, drain_done; /* drain requests, and the last one fulfilled */
	atomic_bool aborting;		  /* stop: purge what a pass still waits for */

	struct db *db;
	rd_kafka_t *producer;
	struct metrics *m;
	char *topic;
	long last_backlog_ms;
};

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
deadline_after(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Waits until every delivery of the batch is reported. The reports fill d[] from whichever
 * thread polls the producer, so this thread polls too, in short slices, and reads the flags
 * atomically. A stop purges the messages: librdkafka then reports them failed at once. */
static void
await_deliveries(struct publisher *p, struct kafka_delivery *d, int n)
{
	bool purged = false;
	int i = 0;

	while (i < n) {
		if (__atomic_load_n(&d[i].done, __ATOMIC_ACQUIRE)) {
			i++;
			continue;
		}
		if (!purged && atomic_load(&p->aborting)) {
			rd_kafka_purge(p->producer,
				       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
			purged = true;
		}
		rd_kafka_poll(p->producer, 10);
	}
}

/* Produces rows [0, n) of res; returns how many were queued (stops at the first failure, so
 * that a later event of a subject never goes out before an earlier one). */
static int
produce_rows(struct publisher *p, PGresult *res, struct kafka_delivery *d, int n)
{
	char err[256];
	int i;

	for (i = 0; i < n; i++) {
		const char *subject = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
		const char *payload = PQgetvalue(res, i, 2);
		rd_kafka_headers_t *h = rd_kafka_headers_new(1);

		/* CloudEvents Kafka binding, structured mode. */
		rd_kafka_header_add(h, "content-type", -1, "application/cloudevents+json", -1);
		memset(&d[i], 0, sizeof(d[i]));
		if (kafka_produce(p->producer, p->topic, subject, subject ? strlen(subject) : 0,
				  payload, (size_t)PQgetlength(res, i, 2), h, &d[i], err,
				  sizeof(err)) != 0) {
			log_warn("publisher: %s", err);
			break;
		}
	}
	return i;
}

/* "{seq,seq,...}" of the delivered rows; returns how many. */
static int
delivered_seqs(PGresult *res, const struct kafka_delivery *d, int n, struct buf *out)
{
	int k = 0;

	buf_appends(out, "{");
	for (int i = 0; i < n; i++) {
		if (d[i].err) {
			log_warn("publisher: delivery of outbox seq %s failed: %s (retried)",
				 PQgetvalue(res, i, 0), rd_kafka_err2str(d[i].err));
			continue;
		}
		buf_printf(out, "%s%s", k ? "," : "", PQgetvalue(res, i, 0));
		k++;
	}
	buf_appends(out, "}");
	return k;
}

static enum pass_result
pass_body(struct publisher *p, int *published, char *err, size_t errlen)
{
	static const char *const lock_params[] = {LOCK_KEY};
	char limit[16];
	const char *sel_params[] = {limit};
	PGresult *res = NULL, *r2;
	struct kafka_delivery *d = NULL;
	struct buf seqs;
	enum pass_result rc = PASS_ERROR;
	int n, queued, k;

	buf_init(&seqs, (size_t)BATCH * 24 + 16);
	res = db_exec(p->db, PS_LOCK, 1, lock_params, err, errlen);
	if (!res)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		rc = PASS_BUSY;
		goto out;
	}
	PQclear(res);
	snprintf(limit, sizeof(limit), "%d", BATCH);
	res = db_exec(p->db, PS_SELECT, 1, sel_params, err, errlen);
	if (!res)
		goto out;
	n = PQntuples(res);
	if (n == 0) {
		rc = PASS_EMPTY;
		goto out;
	}
	d = calloc((size_t)n, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	queued = produce_rows(p, res, d, n);
	await_deliveries(p, d, queued);
	k = delivered_seqs(res, d, queued, &seqs);
	if (k == 0) {
		snprintf(err, errlen, "no event of the batch was delivered");
		goto out;
	}
	{
		const char *mark_params[] = {seqs.data};

		r2 = db_exec(p->db, PS_MARK, 1, mark_params, err, errlen);
		if (!r2)
			goto out;
		PQclear(r2);
	}
	*published = k;
	rc = PASS_PUBLISHED;
out:
	PQclear(res);
	free(d);
	buf_free(&seqs);
	return rc;
}

/* One pass in its own transaction. */
static enum pass_result
pass(struct publisher *p, int *published)
{
	char err[512];
	enum pass_result rc;

	*published = 0;
	if (db_begin(p->db, err, sizeof(err)) != 0) {
		log_warn("publisher: %s", err);
		return PASS_ERROR;
	}
	rc = pass_body(p, published, err, sizeof(err));
	if (rc == PASS_PUBLISHED) {
		if (db_commit(p->db, err, sizeof(err)) != 0) {
			/* Delivered but not marked: they go out again (same ids) next time. */
			log_warn("publisher: marking %d event(s) published: %s", *published, err);
			*published = 0;
			return PASS_ERROR;
		}
		return rc;
	}
	if (rc == PASS_ERROR)
		log_warn("publisher: %s", err);
	db_rollback(p->db, err, sizeof(err));
	return rc;
}

/* Passes until nothing is left (PASS_EMPTY), the lock is taken elsewhere or an error. */
static enum pass_result
publish_all(struct publisher *p)
{
	enum pass_result rc;
	int n;

	do {
		rc = pass(p, &n);
		if (n)
			log_debug("publisher: published %d event(s)", n);
	} while (rc == PASS_PUBLISHED && !atomic_load(&p->aborting));
	return rc;
}

static void
update_backlog(struct publisher *p)
{
	char err[256];
	PGresult *res;

	if (now_ms() - p->last_backlog_ms < BACKLOG_EVERY_MS)
		return;
	p->last_backlog_ms = now_ms();
	res = db_exec(p->db, PS_BACKLOG, 0, NULL, err, sizeof(err));
	if (!res)
		return;
	metrics_set(p->m, "tmprov_outbox_backlog", "", strtod(PQgetvalue(res, 0, 0), NULL));
	PQclear(res);
}

static void *
publisher_main(void *arg)
{
	struct publisher *p = arg;
	long wait_ms = TICK_MS;

	for (;;) {
		struct timespec ts;
		uint64_t asked;
		bool kicked, draining;
		enum pass_result rc;

		deadline_after(&ts, wait_ms);
		pthread_mutex_lock(&p->lock);
		while (!p->kicked && !p->stopping && p->drain_asked == p->drain_done) {
			if (pthread_cond_timedwait(&p->wake_cv, &p->lock, &ts) == ETIMEDOUT)
				break;
		}
		if (p->stopping) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		kicked = p->kicked;
		p->kicked = false;
		asked = p->drain_asked;
		draining = asked > p->drain_done;
		pthread_mutex_unlock(&p->lock);

		rc = publish_all(p);
		update_backlog(p);
		wait_ms = TICK_MS;
		if (rc == PASS_EMPTY) {
			pthread_mutex_lock(&p->lock);
			if (asked > p->drain_done) {
				p->drain_done = asked;
				pthread_cond_broadcast(&p->drained_cv);
			}
			pthread_mutex_unlock(&p->lock);
		} else if (rc == PASS_BUSY && (kicked || draining)) {
			/* Another worker publishes; ours may have come after its last read. */
			wait_ms = BUSY_RETRY_MS;
			pthread_mutex_lock(&p->lock);
			p->kicked = p->kicked || kicked;
			pthread_mutex_unlock(&p->lock);
		}
	}
	return NULL;
}

struct publisher *
publisher_start(const struct cfg *c, struct metrics *m, rd_kafka_t *producer, char *err,
		size_t errlen)
{
	struct publisher *p = calloc(1, sizeof(*p));
	struct db_options o;
	int rc;

	if (!p) {
		snprintf(err, errlen, "publisher: out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake_cv, NULL);
	pthread_cond_init(&p->drained_cv, NULL);
	atomic_init(&p->aborting, false);
	p->producer = producer;
	p->m = m;
	p->topic = strdup(cfg_str(c, "TMPROV_TOPIC_EVENTS"));
	p->db = db_new(cfg_str(c, "TMPROV_DATABASE_URL"), stmts, sizeof(stmts) / sizeof(stmts[0]));
	if (!p->topic || !p->db) {
		snprintf(err, errlen, "publisher: out of memory");
		goto fail;
	}
	db_options_from_cfg(&o, c, "tmprov-worker-publisher");
	if (db_set_options(p->db, &o) != 0) {
		snprintf(err, errlen, "publisher: out of memory");
		goto fail;
	}
	if (db_connect(p->db, err, errlen) != 0)
		goto fail;
	rc = pthread_create(&p->tid, NULL, publisher_main, p);
	if (rc != 0) {
		snprintf(err, errlen, "publisher: cannot start thread: %s", strerror(rc));
		goto fail;
	}
	pthread_setname_np(p->tid, "publisher");
	return p;
fail:
	db_free(p->db);
	free(p->topic);
	pthread_cond_destroy(&p->drained_cv);
	pthread_cond_destroy(&p->wake_cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return NULL;
}

void
publisher_kick(struct publisher *p)
{
	pthread_mutex_lock(&p->lock);
	if (!p->kicked) {
		p->kicked = true;
		pthread_cond_signal(&p->wake_cv);
	}
	pthread_mutex_unlock(&p->lock);
}

int
publisher_drain(struct publisher *p, int timeout_ms)
{
	struct timespec ts;
	uint64_t gen;
	int rc;

	deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&p->lock);
	gen = ++p->drain_asked;
	pthread_cond_signal(&p->wake_cv);
	while (p->drain_done < gen) {
		if (pthread_cond_timedwait(&p->drained_cv, &p->lock, &ts) == ETIMEDOUT)
			break;
	}
	rc = p->drain_done >= gen ? 0 : -1;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void
publisher_stop(struct publisher *p)
{
	if (!p)
		return;
	atomic_store(&p->aborting, true);
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_signal(&p->wake_cv);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->tid, NULL);
	db_free(p->db);
	free(p->topic);
	pthread_cond_destroy(&p->drained_cv);
	pthread_cond_destroy(&p->wake_cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
