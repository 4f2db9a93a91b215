/* publisher: the outbox → tm.events copier (see publisher.h). The publisher holding the session
 * advisory lock streams: it produces unpublished rows in seq order as soon as they are
 * committed, one row per subject at a time, and marks each row published once its delivery is
 * reported, so a crash in between re-publishes (same event id) rather than loses an event. A
 * subject's next row waits for the delivery of the one before: a failed delivery (a message
 * timeout in a broker outage) is sent again first, so one subject's events never overtake each
 * other, which several in flight could (librdkafka keeps order only while nothing fails). The
 * others only ask the holder, with NOTIFY, to look at rows they committed. One thread waits in
 * poll() on an eventfd (kicks, delivery reports) and the database socket (notifications). */
#include "publisher.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "cfgkeys.h"
#include "db.h"
#include "deadline.h"
#include "kafka.h"
#include "log.h"
#include "sql.h"
#include "clock.h"

#define BATCH	500
#define TICK_MS 500
/* Messages produced and not yet reported at most (a broker outage stops reading there). */
#define MAX_INFLIGHT	 5000
#define BACKLOG_EVERY_MS 1000
/* How often a publisher without the lock retries it while it has reason to (a drain). */
#define RETRY_MS 20
/* After a failed delivery nothing new is produced for this long: a broker that refuses (an
 * authorisation error, say) does so at once, and would otherwise be asked again in a loop. */
#define FAILED_BACKOFF_MS 250

/* A produced row waiting for its delivery report (filled from rd_kafka_poll in this thread). */
struct flight {
	int64_t seq;
	char *subject; /* NULL: an event without a subject (no order to keep) */
	struct kafka_delivery d;
};

/* A growable list of seqs, rendered as a PostgreSQL array literal. */
struct seqs {
	int64_t *v;
	size_t n, cap;
};

struct publisher {
	pthread_t tid;
	int efd; /* eventfd: kicks, stop, and librdkafka's "delivery reports queued" */
	atomic_bool stopping;

	pthread_mutex_t lock; /* drain bookkeeping */
	pthread_cond_t drained_cv;
	uint64_t drain_asked, drain_done;

	struct db *db;
	rd_kafka_t *producer;
	rd_kafka_queue_t *reports; /* the producer's main queue */
	struct metrics *m;
	char *topic;

	/* Owned by the thread. */
	bool holder;		 /* holds the advisory lock on the session below */
	int listen_pid;		 /* backend pid of the session that LISTENs (0: none) */
	int lock_pid;		 /* backend pid of the session holding the lock */
	struct flight **flights; /* in flight, in production order */
	size_t nflights;
	json_t *busy;	       /* object: the subjects of the flights (their one row each) */
	long hold_until_ms;    /* after a failed delivery: produce nothing before this */
	struct seqs delivered; /* reported delivered, not yet marked */
	uint64_t target_gen;   /* the drain request target was read for */
	int64_t target;	       /* drain: every row up to this seq must be published */
	long last_backlog_ms;
};

static int
seqs_add(struct seqs *s, int64_t v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		int64_t *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return -1;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
	return 0;
}

/* "{1,2,3}" into out (emptied first). */
static int
seqs_literal(const int64_t *v, size_t n, struct buf *out)
{
	int rc = buf_appends(out, "{");

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = buf_printf(out, "%s%" PRId64, i ? "," : "", v[i]);
	return rc ? rc : buf_appends(out, "}");
}

static void
wake(struct publisher *p)
{
	uint64_t one = 1;

	/* A full counter (impossible in practice) still leaves the fd readable. */
	if (write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("publisher: wake: %s", strerror(errno));
}

static int
pg_socket(struct publisher *p)
{
	PGconn *c = db_conn(p->db);

	return c && PQstatus(c) == CONNECTION_OK ? PQsocket(c) : -1;
}

static int
backend_pid(struct publisher *p)
{
	PGconn *c = db_conn(p->db);

	return c && PQstatus(c) == CONNECTION_OK ? PQbackendPID(c) : 0;
}

/* Reads and discards what the database sent: a notification's only job is to wake the lock
 * holder, which then reads the outbox anyway. */
static void
take_notifications(struct publisher *p)
{
	PGconn *c = db_conn(p->db);
	PGnotify *n;

	if (!c || PQstatus(c) != CONNECTION_OK)
		return;
	/* A failure marks the connection bad: the next statement reconnects. */
	if (!PQconsumeInput(c))
		return;
	while ((n = PQnotifies(c)) != NULL)
		PQfreemem(n);
}

/* LISTEN on the current session (again after a reconnect) and try for the lock there. */
static void
session_setup(struct publisher *p)
{
	static const char *const key[] = {PUBLISHER_LOCK_KEY};
	char err[256];
	PGresult *res;
	int pid;

	if (backend_pid(p) == 0 || backend_pid(p) != p->listen_pid) {
		if (db_exec_simple(p->db, "LISTEN " SQL_OUTBOX_CHANNEL, err, sizeof(err)) != 0) {
			log_warn("publisher: %s", err);
			p->holder = false;
			return;
		}
		p->listen_pid = backend_pid(p);
	}
	pid = backend_pid(p);
	if (p->holder && pid == p->lock_pid)
		return;
	p->holder = false;
	res = db_exec(p->db, SQL_PUB_LOCK, 1, key, err, sizeof(err));
	if (!res) {
		log_warn("publisher: %s", err);
		return;
	}
	p->holder = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (p->holder) {
		p->lock_pid = pid;
		log_info("publisher: publishing the outbox (advisory lock taken)");
	}
}

static void
flight_free(struct flight *f)
{
	if (f)
		free(f->subject);
	free(f);
}

/* Serves the producer's reports, then moves reported flights out: delivered ones to be marked,
 * failed ones dropped (their rows stay unpublished and, being their subject's first, are the
 * next of it produced). Either way the subject may go on. */
static void
collect_reports(struct publisher *p)
{
	size_t k = 0;

	while (rd_kafka_poll(p->producer, 0) > 0)
		;
	for (size_t i = 0; i < p->nflights; i++) {
		struct flight *f = p->flights[i];

		if (!f->d.done) {
			p->flights[k++] = f;
			continue;
		}
		if (f->subject)
			json_object_del(p->busy, f->subject);
		if (f->d.err) {
			log_warn("publisher: delivery of outbox seq %" PRId64
				 " failed: %s (sent again before its subject's later events)",
				 f->seq, rd_kafka_err2str(f->d.err));
			p->hold_until_ms = clock_now_ms() + FAILED_BACKOFF_MS;
		} else if (seqs_add(&p->delivered, f->seq) != 0) {
			log_error("publisher: out of memory: seq %" PRId64 " published again later",
				  f->seq);
		}
		flight_free(f);
	}
	p->nflights = k;
}

/* Marks the delivered rows published. On failure they are kept for the next try. */
static void
mark_delivered(struct publisher *p)
{
	struct buf lit;
	const char *params[1];
	char err[256];
	PGresult *res;

	if (!p->delivered.n)
		return;
	buf_init(&lit, p->delivered.n * 24 + 16);
	if (seqs_literal(p->delivered.v, p->delivered.n, &lit) == 0) {
		params[0] = lit.data;
		res = db_exec(p->db, SQL_PUB_MARK, 1, params, err, sizeof(err));
		if (res) {
			log_debug("publisher: %zu event(s) published", p->delivered.n);
			p->delivered.n = 0;
			PQclear(res);
		} else {
			log_warn("publisher: marking events published: %s", err);
		}
	}
	buf_free(&lit);
}

/* Produces one selected row unless its subject has a row in flight (an earlier one: rows come
 * in seq order); 0, or -1 when it could not be queued (nothing more is produced in this round,
 * so a later event of a subject never overtakes an earlier one). */
static int
produce_row(struct publisher *p, PGresult *res, int i)
{
	const char *subject = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
	struct flight *f;
	rd_kafka_headers_t *h;
	char err[256];

	if (subject && json_object_get(p->busy, subject))
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f || (subject && !(f->subject = strdup(subject))) ||
	    (subject && json_object_set_new_nocheck(p->busy, subject, json_true()) != 0)) {
		flight_free(f);
		return -1;
	}
	f->seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	h = rd_kafka_headers_new(1);
	/* CloudEvents Kafka binding, structured mode. */
	rd_kafka_header_add(h, "content-type", -1, "application/cloudevents+json", -1);
	if (kafka_produce(p->producer, p->topic, subject, subject ? strlen(subject) : 0,
			  PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2), h, &f->d, err,
			  sizeof(err)) != 0) {
		log_warn("publisher: %s", err);
		if (subject)
			json_object_del(p->busy, subject);
		flight_free(f);
		return -1;
	}
	p->flights[p->nflights++] = f;
	return 0;
}

/* The rows to leave out of a selection: those in flight and those delivered but not yet marked
 * (a PostgreSQL array literal into seqs), and the subjects in flight (a JSON array, malloc'd
 * into *subjects). 0, or -1 when out of memory. */
static int
exclusions(struct publisher *p, struct buf *seqs, char **subjects)
{
	json_t *arr = json_array();
	const char *subject;
	json_t *v;
	int rc = -1;

	*subjects = NULL;
	if (!arr || buf_appends(seqs, "{") != 0)
		goto out;
	for (size_t i = 0; i < p->nflights; i++)
		if (buf_printf(seqs, "%s%" PRId64, i ? "," : "", p->flights[i]->seq) != 0)
			goto out;
	for (size_t i = 0; i < p->delivered.n; i++)
		if (buf_printf(seqs, "%s%" PRId64, i || p->nflights ? "," : "",
			       p->delivered.v[i]) != 0)
			goto out;
	json_object_foreach(p->busy, subject, v)
	{
		if (json_array_append_new(arr, json_string_nocheck(subject)) != 0)
			goto out;
	}
	*subjects = json_dumps(arr, JSON_COMPACT);
	rc = *subjects && buf_appends(seqs, "}") == 0 ? 0 : -1;
out:
	json_decref(arr);
	return rc;
}

/* Up to room unpublished rows, in seq order, of subjects with nothing in flight (and events
 * without a subject), none in flight or delivered. NULL when the database could not say. */
static PGresult *
select_rows(struct publisher *p, size_t room)
{
	char limit[16], err[256], *subjects = NULL;
	const char *params[3];
	PGresult *res = NULL;
	struct buf lit;

	buf_init(&lit, (p->nflights + p->delivered.n) * 24 + 16);
	if (exclusions(p, &lit, &subjects) != 0) {
		log_warn("publisher: out of memory");
		goto out;
	}
	snprintf(limit, sizeof(limit), "%zu", room < BATCH ? room : (size_t)BATCH);
	params[0] = limit;
	params[1] = lit.data;
	params[2] = subjects;
	res = db_exec(p->db, SQL_PUB_SELECT, 3, params, err, sizeof(err));
	if (!res)
		log_warn("publisher: %s", err);
out:
	free(subjects);
	buf_free(&lit);
	return res;
}

/* Reads unpublished rows (select_rows) and produces them, until fewer than a batch come back
 * or the in-flight bound is reached. Each full batch produces at least its first row, whose
 * subject the next selection leaves out, so the loop ends. */
static void
produce_new(struct publisher *p)
{
	int n;

	if (clock_now_ms() < p->hold_until_ms)
		return;
	for (;;) {
		size_t room = MAX_INFLIGHT - p->nflights;
		PGresult *res;

		if (room == 0)
			return;
		res = select_rows(p, room);
		if (!res)
			return;
		n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			if (p->nflights == MAX_INFLIGHT || produce_row(p, res, i) != 0) {
				n = 0;
				break;
			}
		}
		PQclear(res);
		if (n < BATCH)
			return;
	}
}

static void
update_backlog(struct publisher *p)
{
	char err[256];
	PGresult *res;

	if (clock_now_ms() - p->last_backlog_ms < BACKLOG_EVERY_MS)
		return;
	p->last_backlog_ms = clock_now_ms();
	res = db_exec(p->db, SQL_PUB_BACKLOG, 0, NULL, err, sizeof(err));
	if (!res)
		return;
	metrics_set(p->m, "tmprov_outbox_backlog", "", strtod(PQgetvalue(res, 0, 0), NULL));
	PQclear(res);
}

/* A drain is done once no row up to the highest seq committed when it was asked is
 * unpublished, whoever published them. Returns whether a drain is still waiting. */
static bool
check_drain(struct publisher *p)
{
	char err[256], target[24];
	const char *params[] = {target};
	uint64_t asked;
	PGresult *res;
	bool pending;

	pthread_mutex_lock(&p->lock);
	asked = p->drain_asked;
	pthread_mutex_unlock(&p->lock);
	if (asked == p->drain_done)
		return false;
	if (asked != p->target_gen) {
		res = db_exec(p->db, SQL_PUB_MAXSEQ, 0, NULL, err, sizeof(err));
		if (!res)
			return true;
		p->target = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		p->target_gen = asked;
		PQclear(res);
	}
	snprintf(target, sizeof(target), "%" PRId64, p->target);
	res = db_exec(p->db, SQL_PUB_PENDING, 1, params, err, sizeof(err));
	if (!res)
		return true;
	pending = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (pending)
		return true;
	pthread_mutex_lock(&p->lock);
	p->drain_done = p->target_gen;
	pthread_cond_broadcast(&p->drained_cv);
	pthread_mutex_unlock(&p->lock);
	return p->drain_done != asked;
}

/* One round after a wake-up. kicked: this worker committed rows. Returns the poll timeout. */
static int
round_once(struct publisher *p, bool kicked)
{
	char err[256];
	PGresult *res;
	bool draining;

	collect_reports(p);
	session_setup(p);
	mark_delivered(p);
	if (p->holder) {
		produce_new(p);
	} else if (kicked) {
		/* The holder publishes our rows too: tell it they are there. */
		res = db_exec(p->db, SQL_PUB_NOTIFY, 0, NULL, err, sizeof(err));
		if (res)
			PQclear(res);
	}
	draining = check_drain(p);
	update_backlog(p);
	if (draining)
		return RETRY_MS;
	if (clock_now_ms() < p->hold_until_ms)
		return (int)(p->hold_until_ms - clock_now_ms()) + 1;
	/* Reports wake the thread through the eventfd; the timeout is only a safety net. */
	return p->nflights ? 100 : TICK_MS;
}

/* At stop: what is in flight is purged (reported failed at once, so its rows stay unpublished
 * for the next publisher) unless already reported; delivered rows are marked. */
static void
finish(struct publisher *p)
{
	collect_reports(p);
	if (p->nflights)
		rd_kafka_purge(p->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	while (p->nflights) {
		rd_kafka_poll(p->producer, 10);
		collect_reports(p);
	}
	mark_delivered(p);
}

static void *
publisher_main(void *arg)
{
	struct publisher *p = arg;
	int timeout = 0;
	uint64_t v;

	for (;;) {
		struct pollfd fds[2] = {{.fd = p->efd, .events = POLLIN},
					{.fd = pg_socket(p), .events = POLLIN}};
		bool kicked = false;

		if (poll(fds, 2, timeout) < 0 && errno != EINTR)
			log_warn("publisher: poll: %s", strerror(errno));
		if (atomic_load(&p->stopping))
			break;
		/* A kick or a delivery report; a notification (another worker's rows, or our own
		 * NOTIFY coming back) only wakes the thread and is not echoed. */
		kicked = read(p->efd, &v, sizeof(v)) == sizeof(v);
		take_notifications(p);
		timeout = round_once(p, kicked);
	}
	finish(p);
	return NULL;
}

/* Fetches the events topic's metadata now: otherwise the first event waits for it (about a
 * second) and every event committed meanwhile waits behind it. Failure only costs that wait. */
static void
warm_up(struct publisher *p)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->producer, p->topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t rc;

	if (!rkt)
		return;
	rc = rd_kafka_metadata(p->producer, 0, rkt, &md, 5000);
	if (rc)
		log_warn("publisher: metadata of %s: %s", p->topic, rd_kafka_err2str(rc));
	else
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
}

static void
publisher_free(struct publisher *p)
{
	if (p->reports) {
		rd_kafka_queue_io_event_enable(p->reports, -1, NULL, 0);
		rd_kafka_queue_destroy(p->reports);
	}
	for (size_t i = 0; i < p->nflights; i++)
		flight_free(p->flights[i]);
	free(p->flights);
	json_decref(p->busy);
	free(p->delivered.v);
	if (p->efd >= 0)
		close(p->efd);
	db_free(p->db);
	free(p->topic);
	pthread_cond_destroy(&p->drained_cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

struct publisher *
publisher_start(const struct cfg *c, struct metrics *m, rd_kafka_t *producer, char *err,
		size_t errlen)
{
	static const uint64_t one = 1;
	struct publisher *p = calloc(1, sizeof(*p));
	struct db_options o;
	int rc;

	if (!p) {
		snprintf(err, errlen, "publisher: out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->drained_cv, NULL);
	atomic_init(&p->stopping, false);
	p->producer = producer;
	p->m = m;
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->topic = strdup(cfg_str(c, &KEY_TMPROV_TOPIC_EVENTS));
	p->db = db_new(cfg_str(c, &KEY_TMPROV_DATABASE_URL), SQL_STATEMENTS, SQL_COUNT);
	p->flights = calloc(MAX_INFLIGHT, sizeof(*p->flights));
	p->busy = json_object();
	if (p->efd < 0 || !p->topic || !p->db || !p->flights || !p->busy) {
		snprintf(err, errlen, "publisher: out of memory or file descriptors");
		goto fail;
	}
	db_options_from_cfg(&o, c, "tmprov-worker-publisher");
	if (db_set_options(p->db, &o) != 0) {
		snprintf(err, errlen, "publisher: out of memory");
		goto fail;
	}
	if (db_connect(p->db, err, errlen) != 0)
		goto fail;
	warm_up(p);
	/* Delivery reports wake the thread: librdkafka writes to the eventfd when the producer's
	 * queue turns non-empty. */
	p->reports = rd_kafka_queue_get_main(producer);
	rd_kafka_queue_io_event_enable(p->reports, p->efd, &one, sizeof(one));
	rc = pthread_create(&p->tid, NULL, publisher_main, p);
	if (rc != 0) {
		snprintf(err, errlen, "publisher: cannot start thread: %s", strerror(rc));
		goto fail;
	}
	pthread_setname_np(p->tid, "publisher");
	return p;
fail:
	publisher_free(p);
	return NULL;
}

void
publisher_kick(struct publisher *p)
{
	wake(p);
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
	pthread_mutex_unlock(&p->lock);
	wake(p);
	pthread_mutex_lock(&p->lock);
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
	atomic_store(&p->stopping, true);
	wake(p);
	pthread_join(p->tid, NULL);
	publisher_free(p);
}
