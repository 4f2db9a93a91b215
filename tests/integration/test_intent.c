/* Tests for workers/worker/intent and dbpool against a real PostgreSQL: many threads' intents
 * are group-committed (fewer transactions than intents), refusals come back as 1, a database
 * that is down gives -1 and marks the pool unavailable until the writer's probe finds it again,
 * a stop request withdraws a queued intent, the pool lends each connection to one thread, and
 * an intent whose commit landed but whose acknowledgement was lost is found again as its own. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfgkeys.h"

#include "../../workers/worker/dbpool.h"
#include "../../workers/worker/intent.h"
#include "../../workers/worker/sql.h"
#include "../support/pgproxy.h"
#include "../support/testdb.h"

#define SHA_A	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NTHREADS 32

struct fx {
	struct testdb t;
	PGconn *conn;
	struct cfg *cfg;
	struct dbpool *pool;
	struct intent_writer *w;
};

static struct fx F;

static struct cfg *
cfg_for(const char *conninfo)
{
	struct cfg *c = cfg_new();
	char err[512];

	assert_non_null(c);
	assert_int_equal(cfg_add_keys(c, DB_CONFIG_KEYS, DB_CONFIG_NKEYS), 0);
	if (cfg_load(c, NULL, err, sizeof(err)) != 0 ||
	    cfg_set(c, &KEY_TMPROV_DATABASE_URL, conninfo, err, sizeof(err)) != 0 ||
	    cfg_set(c, &KEY_TMPROV_DB_CONNECT_TIMEOUT, "1s", err, sizeof(err)) != 0)
		fail_msg("cfg: %s", err);
	return c;
}

static int
setup(void **state)
{
	char err[1024];

	(void)state;
	if (testdb_create(&F.t, "intent", err, sizeof(err)) != 0 ||
	    testdb_migrate(&F.t, err, sizeof(err)) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	F.conn = testdb_connect(&F.t);
	F.cfg = cfg_for(F.t.conninfo);
	F.pool = dbpool_new(F.cfg, 4, SQL_STATEMENTS, SQL_COUNT, NULL, err, sizeof(err));
	if (F.pool == NULL || (F.w = intent_writer_new(F.cfg, F.pool, err, sizeof(err))) == NULL) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	intent_writer_free(F.w);
	dbpool_free(F.pool);
	cfg_free(F.cfg);
	PQfinish(F.conn);
	testdb_drop(&F.t);
	return 0;
}

static long
value_long(const char *sql)
{
	char *v = testdb_value(F.conn, sql);
	long n = v ? strtol(v, NULL, 10) : -1;

	free(v);
	return n;
}

struct job_arg {
	char id[32];
	pthread_barrier_t *start;
	int rc;
	char err[256];
};

static void
intent_for(struct intent *in, const char *id, unsigned attempt, unsigned prev)
{
	*in = (struct intent){
	    .command_id = id,
	    .subject = "cust-intent",
	    .type = "account.create",
	    .sha256_hex = SHA_A,
	    .topic = "tm.commands",
	    .partition = 1,
	    .offset = 9,
	    .endpoint = TM_CREATE_ACCOUNT,
	    .attempt = attempt,
	    .prev = prev,
	};
}

static void *
record_thread(void *arg)
{
	struct job_arg *a = arg;
	struct intent in;

	intent_for(&in, a->id, 1, 0);
	pthread_barrier_wait(a->start);
	a->rc = intent_record(F.w, &in, NULL, a->err, sizeof(a->err));
	return NULL;
}

static void
test_group_commit(void **state)
{
	pthread_t t[NTHREADS];
	struct job_arg a[NTHREADS];
	pthread_barrier_t start;
	long batches;

	(void)state;
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		snprintf(a[i].id, sizeof(a[i].id), "gc-%02d", i);
		a[i].start = &start;
		assert_int_equal(pthread_create(&t[i], NULL, record_thread, &a[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		if (a[i].rc != 0)
			fail_msg("%s: rc %d: %s", a[i].id, a[i].rc, a[i].err);
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(value_long("SELECT count(*) FROM tm_intents WHERE command_id LIKE 'gc-%' "
				    "AND resolved_at IS NULL AND attempt = 1"),
			 NTHREADS);
	assert_int_equal(value_long("SELECT count(*) FROM commands WHERE id LIKE 'gc-%' AND status "
				    "= 'in_progress' AND kafka_offset = 9"),
			 NTHREADS);
	/* now() is the transaction's start: one value per transaction. While one batch
	 * commits, the others queue and go together in the next. */
	batches = value_long("SELECT count(DISTINCT created_at) FROM tm_intents WHERE command_id "
			     "LIKE 'gc-%'");
	fprintf(stderr, "# %d intents in %ld transactions\n", NTHREADS, batches);
	assert_true(batches >= 1 && batches <= NTHREADS / 4);
}

static void
test_refusals(void **state)
{
	struct intent in;
	char err[256];

	(void)state;
	intent_for(&in, "rf-1", 1, 0);
	assert_int_equal(intent_record(F.w, &in, NULL, err, sizeof(err)), 0);
	/* Attempt 2 while attempt 1 is open and not replaced: another call is in flight. */
	intent_for(&in, "rf-1", 2, 0);
	assert_int_equal(intent_record(F.w, &in, NULL, err, sizeof(err)), 1);
	/* Replacing attempt 1: written. */
	intent_for(&in, "rf-1", 2, 1);
	assert_int_equal(intent_record(F.w, &in, NULL, err, sizeof(err)), 0);
	/* A command with its result: never again. */
	PQclear(PQexec(F.conn, "UPDATE commands SET status = 'failed' WHERE id = 'rf-1'"));
	intent_for(&in, "rf-1", 3, 2);
	assert_int_equal(intent_record(F.w, &in, NULL, err, sizeof(err)), 1);
	/* Another body under the same id. */
	intent_for(&in, "rf-1", 3, 2);
	in.sha256_hex = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	assert_int_equal(intent_record(F.w, &in, NULL, err, sizeof(err)), 1);
	assert_int_equal(value_long("SELECT count(*) FROM tm_intents WHERE command_id = 'rf-1'"),
			 2);
	/* intent_resolve closes attempt 2 on a pool connection. */
	assert_int_equal(intent_resolve(F.pool, "rf-1", 2, err, sizeof(err)), 0);
	assert_int_equal(value_long("SELECT count(*) FROM tm_intents WHERE command_id = 'rf-1' AND "
				    "resolved_at IS NULL"),
			 0);
}

/* The pipeline commits, the connection drops before its answer is read (tests/support/pgproxy):
 * recording the same intent again (same attempt id) is this attempt's own, not another open call;
 * the same attempt number under another attempt id is a real earlier attempt. */
static void
test_ack_lost(void **state)
{
	char err[512], url[2300];
	struct pgproxy *px;
	struct cfg *c;
	struct dbpool *pool;
	struct intent_writer *w;
	struct intent in;

	(void)state;
	assert_int_equal(pgproxy_start(&px, PQhost(F.conn), PQport(F.conn), err, sizeof(err)), 0);
	assert_int_equal(pgproxy_conninfo(px, F.t.conninfo, url, sizeof(url)), 0);
	c = cfg_for(url);
	pool = dbpool_new(c, 2, SQL_STATEMENTS, SQL_COUNT, NULL, err, sizeof(err));
	assert_non_null(pool);
	w = intent_writer_new(c, pool, err, sizeof(err));
	assert_non_null(w);
	intent_for(&in, "ack-1", 1, 0);
	in.attempt_id = "0123456789abcdef0123456789abcdef";
	pgproxy_arm(px, "intent_insert");
	assert_int_equal(intent_record(w, &in, NULL, err, sizeof(err)), -1);
	assert_int_equal(pgproxy_fired(px), 1);
	/* It was committed all the same. */
	assert_int_equal(value_long("SELECT count(*) FROM tm_intents WHERE command_id = 'ack-1' "
				    "AND attempt = 1 AND resolved_at IS NULL"),
			 1);
	assert_int_equal(intent_record(w, &in, NULL, err, sizeof(err)), 0);
	in.attempt_id = "fedcba9876543210fedcba9876543210";
	assert_int_equal(intent_record(w, &in, NULL, err, sizeof(err)), 1);
	assert_int_equal(value_long("SELECT count(*) FROM tm_intents WHERE command_id = 'ack-1'"),
			 1);
	intent_writer_free(w);
	dbpool_free(pool);
	cfg_free(c);
	pgproxy_free(px);
}

static void
test_database_down(void **state)
{
	char err[512], url[256];
	struct cfg *c;
	struct dbpool *pool;
	struct intent_writer *w;
	struct intent in;

	(void)state;
	/* Port 1: privileged, never a PostgreSQL server here, so connecting is refused. */
	snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:1/nothing");
	c = cfg_for(url);
	pool = dbpool_new(c, 2, SQL_STATEMENTS, SQL_COUNT, NULL, err, sizeof(err));
	assert_non_null(pool);
	w = intent_writer_new(c, pool, err, sizeof(err));
	assert_non_null(w);
	assert_true(dbpool_available(pool));
	intent_for(&in, "down-1", 1, 0);
	assert_int_equal(intent_record(w, &in, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "127.0.0.1"));
	assert_false(dbpool_available(pool));
	intent_writer_free(w);
	dbpool_free(pool);
	cfg_free(c);
}

static void
test_probe_finds_database_again(void **state)
{
	(void)state;
	/* The writer probes while the pool says down, and says up when the database answers. */
	dbpool_set_available(F.pool, false);
	for (int i = 0; i < 40 && !dbpool_available(F.pool); i++)
		usleep(100 * 1000);
	assert_true(dbpool_available(F.pool));
}

static void
test_stop_withdraws(void **state)
{
	atomic_bool stop = true;
	struct intent in;
	char err[256];
	int rc;

	(void)state;
	intent_for(&in, "stop-1", 1, 0);
	/* Already stopped: either withdrawn before the writer took it (-1), or taken in the
	 * same instant and then waited for (0); never left dangling. */
	rc = intent_record(F.w, &in, &stop, err, sizeof(err));
	assert_true(rc == -1 || rc == 0);
	if (rc == -1)
		assert_int_equal(
		    value_long("SELECT count(*) FROM tm_intents WHERE command_id = 'stop-1'"), 0);
}

struct lend_arg {
	struct dbpool *pool;
	int *inside;
	int max;
	pthread_mutex_t *lock;
};

static void *
lend_thread(void *arg)
{
	struct lend_arg *a = arg;

	for (int i = 0; i < 50; i++) {
		struct db *db = dbpool_get(a->pool, NULL);

		pthread_mutex_lock(a->lock);
		(*a->inside)++;
		if (*a->inside > a->max)
			a->max = *a->inside;
		pthread_mutex_unlock(a->lock);
		usleep(200);
		pthread_mutex_lock(a->lock);
		(*a->inside)--;
		pthread_mutex_unlock(a->lock);
		dbpool_put(a->pool, db);
	}
	return NULL;
}

static void
test_pool_lends_each_once(void **state)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct lend_arg a[8];
	pthread_t t[8];
	int inside = 0, max = 0;
	atomic_bool stop = false;
	struct db *held[4];

	(void)state;
	for (int i = 0; i < 8; i++) {
		a[i] = (struct lend_arg){F.pool, &inside, 0, &lock};
		assert_int_equal(pthread_create(&t[i], NULL, lend_thread, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		if (a[i].max > max)
			max = a[i].max;
	}
	/* Never more borrowers than the pool's 4 connections. */
	assert_true(max >= 1 && max <= 4);
	/* All four lent: a fifth borrower waits, and gives up once stopped. */
	for (int i = 0; i < 4; i++)
		assert_non_null(held[i] = dbpool_get(F.pool, NULL));
	atomic_store(&stop, true);
	assert_null(dbpool_get(F.pool, &stop));
	for (int i = 0; i < 4; i++) {
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(held[i], held[j]);
		dbpool_put(F.pool, held[i]);
	}
}

static void
test_scrub_error(void **state)
{
	char err[256];

	(void)state;
	snprintf(err, sizeof(err),
		 "finish_user_upsert: ERROR: null value in column \"password_verifier\" DETAIL: "
		 "Failing row contains (a, b, $argon2id$v=19$...)");
	dbpool_scrub_error(err);
	assert_string_equal(
	    err, "finish_user_upsert: ERROR: null value in column \"password_verifier\"");
	snprintf(err, sizeof(err), "x HINT: y");
	dbpool_scrub_error(err);
	assert_string_equal(err, "x");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group_commit),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_ack_lost),
	    cmocka_unit_test(test_database_down),
	    cmocka_unit_test(test_probe_finds_database_again),
	    cmocka_unit_test(test_stop_withdraws),
	    cmocka_unit_test(test_pool_lends_each_once),
	    cmocka_unit_test(test_scrub_error),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
