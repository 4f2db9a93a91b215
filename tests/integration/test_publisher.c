/* Tests for the worker's outbox publisher (workers/worker/publisher.c) against a fresh database
 * (TMPROV_DATABASE_URL) and a private tmprov-devkafka: events go out keyed by subject, in seq
 * order within each partition, as the stored JSON, and are marked published; a drain covers
 * everything committed before it; the 500 ms tick publishes without a kick; the advisory lock
 * keeps a second publisher out, which notifies the holder instead; the backlog gauge; one
 * subject's events in order, each once, through produce errors that fail deliveries (row K6 of
 * issue 11, with the mock's fault API). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfgkeys.h"
#include "config.h"
#include "db.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "../support/kafka_util.h"
#include "../support/testdb.h"

#include "../../workers/worker/publisher.h"
#include "../../workers/worker/sql.h"

#define TOPIC "pt.events"

struct fixture {
	struct testdb db;
	PGconn *conn;
	struct ku_devkafka dk;
	struct cfg *cfg;
	struct metrics *m;
	rd_kafka_t *producer;
	int next_id;
};

static struct fixture F;
/* The publisher a test runs, stopped by the test's teardown even when an assertion failed. */
static struct publisher *P;

static int
test_teardown(void **state)
{
	(void)state;
	publisher_stop(P);
	P = NULL;
	return 0;
}

/* The publisher's configuration on the fixture's database and broker; props: NULL or
 * TMPROV_KAFKA_PROPS. NULL with err on failure. */
static struct cfg *
cfg_for(const char *props, char *err, size_t errlen)
{
	struct cfg *c = cfg_new();

	if (!c || cfg_add_keys(c, DB_CONFIG_KEYS, DB_CONFIG_NKEYS) ||
	    cfg_add_keys(c, KAFKA_CONFIG_KEYS, KAFKA_CONFIG_NKEYS) ||
	    cfg_load(c, NULL, err, errlen) ||
	    cfg_set(c, &KEY_TMPROV_DATABASE_URL, F.db.conninfo, err, errlen) ||
	    cfg_set(c, &KEY_TMPROV_KAFKA_BROKERS, F.dk.bootstrap, err, errlen) ||
	    cfg_set(c, &KEY_TMPROV_TOPIC_EVENTS, TOPIC, err, errlen) ||
	    (props && cfg_set(c, &KEY_TMPROV_KAFKA_PROPS, props, err, errlen))) {
		cfg_free(c);
		return NULL;
	}
	return c;
}

static int
group_setup(void **state)
{
	static const char *const args[] = {"--partitions", "3", "--topic", TOPIC, NULL};
	char err[512];

	(void)state;
	log_init("test_publisher", LOG_WARN);
	if (testdb_create(&F.db, "publisher", err, sizeof(err)) ||
	    testdb_migrate(&F.db, err, sizeof(err))) {
		fprintf(stderr, "# database: %s\n", err);
		return -1;
	}
	F.conn = testdb_connect(&F.db);
	if (!F.conn)
		return -1;
	if (ku_devkafka_start(&F.dk, args, err, sizeof(err))) {
		fprintf(stderr, "# cannot start tmprov-devkafka: %s\n", err);
		return -1;
	}
	unsetenv("TMPROV_KAFKA_PROPS");
	F.cfg = cfg_for(NULL, err, sizeof(err));
	if (!F.cfg) {
		fprintf(stderr, "# config: %s\n", err);
		return -1;
	}
	F.m = metrics_new();
	if (!F.m || metrics_declare(F.m, "tmprov_outbox_backlog", "gauge", "backlog", NULL, 0))
		return -1;
	F.producer = kafka_producer_new(F.cfg, err, sizeof(err));
	if (!F.producer) {
		fprintf(stderr, "# producer: %s\n", err);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	char err[256];

	(void)state;
	if (F.producer) {
		kafka_flush(F.producer, 5000, err, sizeof(err));
		rd_kafka_destroy(F.producer);
	}
	metrics_free(F.m);
	cfg_free(F.cfg);
	ku_devkafka_stop(&F.dk);
	if (F.conn)
		PQfinish(F.conn);
	testdb_drop(&F.db);
	return 0;
}

static void
sql(PGconn *c, const char *q, int n, const char *const *params)
{
	PGresult *r = PQexecParams(c, q, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(c));
	PQclear(r);
}

static long
count(const char *q)
{
	char *v = testdb_value(F.conn, q);
	long n = v ? strtol(v, NULL, 10) : -1;

	free(v);
	return n;
}

/* An outbox row (and its command) for subject (NULL: a rejection without one); returns the
 * event id in id. */
static void
add_event(const char *subject, char *id, size_t idlen)
{
	char cmd[64], payload[256];
	const char *p[4];

	snprintf(cmd, sizeof(cmd), "pc-%d-%d", (int)getpid(), F.next_id++);
	snprintf(id, idlen, "evt-%s", cmd);
	snprintf(
	    payload, sizeof(payload),
	    "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"tmprov\",\"commandid\":\"%s\"}",
	    id, cmd);
	p[0] = cmd;
	p[1] = subject;
	sql(F.conn,
	    "INSERT INTO commands (id, subject, type, body_sha256, status) VALUES ($1, $2, "
	    "CASE WHEN $2::text IS NULL THEN NULL ELSE 'account.query' END, "
	    "sha256(convert_to($1::text, 'UTF8')), "
	    "CASE WHEN $2::text IS NULL THEN 'rejected' ELSE 'succeeded' END)",
	    2, p);
	p[0] = id;
	p[1] = cmd;
	p[2] = subject;
	p[3] = payload;
	sql(F.conn,
	    "INSERT INTO outbox (event_id, command_id, type, subject, payload) VALUES ($1, $2, "
	    "'account.queried', $3, $4::jsonb)",
	    4, p);
}

static struct publisher *
start(void)
{
	char err[512];
	struct publisher *p = publisher_start(F.cfg, F.m, F.producer, err, sizeof(err));

	if (!p)
		fail_msg("publisher_start: %s", err);
	P = p;
	return p;
}

static long
unpublished(void)
{
	return count("SELECT count(*) FROM outbox WHERE published_at IS NULL");
}

static void
test_publishes_in_order(void **state)
{
	enum { N = 60, SUBJECTS = 6 };
	char ids[N][96], subject[32];
	struct ku_mark mark;
	struct publisher *p;
	json_t *got = NULL;
	char err[256];
	int n;

	(void)state;
	assert_int_equal(ku_mark(F.dk.bootstrap, TOPIC, &mark, err, sizeof(err)), 0);
	for (int i = 0; i < N; i++) {
		snprintf(subject, sizeof(subject), "sub-%d", i % SUBJECTS);
		add_event(subject, ids[i], sizeof(ids[i]));
	}
	p = start();
	assert_int_equal(publisher_drain(p, 15000), 0);
	assert_int_equal(unpublished(), 0);
	n = ku_consume(F.dk.bootstrap, TOPIC, &mark, N, 15000, &got);
	assert_int_equal(n, N);
	/* Per subject, the order of the ids on the topic is the order of seq (= i). */
	for (int s = 0; s < SUBJECTS; s++) {
		int want = s;
		size_t k;
		json_t *m;

		snprintf(subject, sizeof(subject), "sub-%d", s);
		json_array_foreach(got, k, m)
		{
			const char *key = json_string_value(json_object_get(m, "key"));
			json_t *ev = json_object_get(m, "json");

			if (!key || strcmp(key, subject) != 0)
				continue;
			assert_non_null(ev);
			assert_string_equal(json_string_value(json_object_get(ev, "id")),
					    ids[want]);
			assert_string_equal(json_string_value(json_object_get(ev, "source")),
					    "tmprov");
			assert_string_equal(json_string_value(json_object_get(
						json_object_get(m, "headers"), "content-type")),
					    "application/cloudevents+json");
			want += SUBJECTS;
		}
		assert_int_equal(want, s + N);
	}
	json_decref(got);
}

static void
test_kick_tick_and_drain(void **state)
{
	char id[96];
	struct publisher *p = start();
	struct ku_mark mark;
	char err[256];
	json_t *got = NULL;
	int waited = 0;

	(void)state;
	assert_int_equal(ku_mark(F.dk.bootstrap, TOPIC, &mark, err, sizeof(err)), 0);
	/* No kick: the tick finds it within about 500 ms. */
	add_event("tick", id, sizeof(id));
	while (unpublished() > 0 && waited < 3000) {
		usleep(50000);
		waited += 50;
	}
	assert_int_equal(unpublished(), 0);
	/* A kick publishes at once. */
	add_event("kick", id, sizeof(id));
	publisher_kick(p);
	waited = 0;
	while (unpublished() > 0 && waited < 3000) {
		usleep(10000);
		waited += 10;
	}
	assert_int_equal(unpublished(), 0);
	assert_in_range(waited, 0, 400);
	/* A rejection without a subject goes out without a key. */
	add_event(NULL, id, sizeof(id));
	assert_int_equal(publisher_drain(p, 10000), 0);
	assert_int_equal(unpublished(), 0);
	assert_int_equal(ku_consume(F.dk.bootstrap, TOPIC, &mark, 3, 10000, &got), 3);
	assert_true(json_is_null(json_object_get(json_array_get(got, 2), "key")));
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_array_get(got, 2), "json"), "id")),
			    id);
	json_decref(got);
	/* Nothing left: a drain returns at once. */
	assert_int_equal(publisher_drain(p, 2000), 0);
	publisher_stop(NULL);
}

static void
test_one_publisher_at_a_time(void **state)
{
	static const char *const key[] = {PUBLISHER_LOCK_KEY};
	PGconn *other = testdb_connect(&F.db);
	struct publisher *p;
	PGnotify *n = NULL;
	char id[96];

	(void)state;
	assert_non_null(other);
	/* Another worker's publisher holds the lock and listens. */
	sql(other, "SELECT pg_advisory_lock($1::bigint)", 1, key);
	sql(other, "LISTEN " SQL_OUTBOX_CHANNEL, 0, NULL);
	p = start();
	add_event("locked", id, sizeof(id));
	publisher_kick(p);
	assert_int_equal(publisher_drain(p, 1000), -1);
	assert_int_equal(unpublished(), 1);
	/* Our kick became a notification for the holder. */
	for (int i = 0; i < 100 && !n; i++) {
		assert_int_equal(PQconsumeInput(other), 1);
		n = PQnotifies(other);
		if (!n)
			usleep(20000);
	}
	assert_non_null(n);
	assert_string_equal(n->relname, SQL_OUTBOX_CHANNEL);
	PQfreemem(n);
	/* The holder goes away: ours takes over by itself (a drain retries the lock). */
	sql(other, "SELECT pg_advisory_unlock($1::bigint)", 1, key);
	assert_int_equal(publisher_drain(p, 10000), 0);
	assert_int_equal(unpublished(), 0);
	PQfinish(other);
}

static void
test_backlog_gauge(void **state)
{
	struct publisher *p = start();
	struct buf out;
	char id[96];

	(void)state;
	add_event("gauge", id, sizeof(id));
	assert_int_equal(publisher_drain(p, 10000), 0);
	/* The gauge is refreshed at most every second, after a pass. */
	sleep(1);
	publisher_kick(p);
	usleep(300000);
	buf_init(&out, 1 << 16);
	assert_int_equal(metrics_render(F.m, &out), 0);
	assert_non_null(strstr(out.data, "tmprov_outbox_backlog 0\n"));
	buf_free(&out);
}

/* Row K6 of issue 11 at the publisher: the broker answers produce requests with errors, each
 * answer held 800 ms, while two subjects' events keep coming; with a message timeout of 1 s
 * some deliveries fail and their rows are published again. Each event must reach the topic,
 * per subject in seq order: a row whose delivery failed must not be overtaken by the
 * subject's later rows. A delivery that timed out though the broker had it leaves a second
 * copy right after the first (the row is its subject's only one in flight); any other repeat
 * fails the test. */
static void
test_order_through_produce_errors(void **state)
{
	enum { N = 24, SUBJECTS = 2 };
	char ids[N][96], subject[32], err[512];
	struct ku_mark mark;
	struct publisher *p;
	rd_kafka_t *producer;
	json_t *got = NULL, *m;
	struct cfg *c;
	size_t k;

	(void)state;
	/* One request in flight: see SETTINGS in test_worker_outbound.c (the mock checks no
	 * idempotent sequence numbers, so a later ack could cover a batch it never took). */
	c = cfg_for("message.timeout.ms=1000,max.in.flight.requests.per.connection=1", err,
		    sizeof(err));
	if (!c)
		fail_msg("config: %s", err);
	producer = kafka_producer_new(c, err, sizeof(err));
	if (!producer)
		fail_msg("producer: %s", err);
	P = p = publisher_start(c, F.m, producer, err, sizeof(err));
	if (!p)
		fail_msg("publisher_start: %s", err);
	assert_int_equal(ku_mark(F.dk.bootstrap, TOPIC, &mark, err, sizeof(err)), 0);
	if (ku_devkafka_fault(&F.dk,
			      "broker-errors 1 Produce REQUEST_TIMED_OUT:800 "
			      "NOT_LEADER_FOR_PARTITION:800 REQUEST_TIMED_OUT:800 "
			      "REQUEST_TIMED_OUT:800 NOT_LEADER_FOR_PARTITION:800",
			      err, sizeof(err)) != 0)
		fail_msg("fault: %s", err);
	for (int i = 0; i < N; i++) {
		snprintf(subject, sizeof(subject), "k6-%d", i % SUBJECTS);
		add_event(subject, ids[i], sizeof(ids[i]));
		publisher_kick(p);
		usleep(200 * 1000);
	}
	assert_int_equal(publisher_drain(p, 30000), 0);
	publisher_stop(p);
	P = NULL;
	assert_true(ku_consume(F.dk.bootstrap, TOPIC, &mark, N, 15000, &got) >= N);
	for (int s = 0; s < SUBJECTS; s++) {
		const char *last = NULL;
		int want = s;

		snprintf(subject, sizeof(subject), "k6-%d", s);
		json_array_foreach(got, k, m)
		{
			const char *key = json_string_value(json_object_get(m, "key")), *id;

			if (!key || strcmp(key, subject) != 0)
				continue;
			id = json_string_value(json_object_get(json_object_get(m, "json"), "id"));
			if (id && last && strcmp(id, last) == 0)
				continue;
			last = id;
			if (want >= N || !id || strcmp(id, ids[want]) != 0)
				fail_msg("subject %s: event %s where %s was due (seq order)",
					 subject, id ? id : "?",
					 want < N ? ids[want] : "nothing more");
			want += SUBJECTS;
		}
		assert_int_equal(want, s + N);
	}
	json_decref(got);
	kafka_flush(producer, 5000, err, sizeof(err));
	rd_kafka_destroy(producer);
	cfg_free(c);
}

static void
test_start_fails_without_database(void **state)
{
	struct cfg *c = cfg_new();
	char err[512] = "";

	(void)state;
	assert_non_null(c);
	assert_int_equal(cfg_add_keys(c, DB_CONFIG_KEYS, DB_CONFIG_NKEYS), 0);
	assert_int_equal(cfg_add_keys(c, KAFKA_CONFIG_KEYS, KAFKA_CONFIG_NKEYS), 0);
	assert_int_equal(cfg_load(c, NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg_set(c, &KEY_TMPROV_DATABASE_URL,
				 "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", err,
				 sizeof(err)),
			 0);
	assert_int_equal(cfg_set(c, &KEY_TMPROV_DB_CONNECT_ATTEMPTS, "1", err, sizeof(err)), 0);
	assert_null(publisher_start(c, F.m, F.producer, err, sizeof(err)));
	assert_true(strlen(err) > 0);
	cfg_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_publishes_in_order, test_teardown),
	    cmocka_unit_test_teardown(test_kick_tick_and_drain, test_teardown),
	    cmocka_unit_test_teardown(test_one_publisher_at_a_time, test_teardown),
	    cmocka_unit_test_teardown(test_backlog_gauge, test_teardown),
	    cmocka_unit_test_teardown(test_order_through_produce_errors, test_teardown),
	    cmocka_unit_test_teardown(test_start_fails_without_database, test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
