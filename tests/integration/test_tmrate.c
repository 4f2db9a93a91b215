/* test_tmrate: common/tmrate's bucket in a real PostgreSQL: a group's first takes find a full
 * bucket, then the rate holds across handles (processes) sharing the group, groups are
 * separate, and a wait for tokens ends when stopped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "tmrate.h"
#include "../support/testdb.h"

struct fx {
	struct testdb t;
	PGconn *conn;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	if (testdb_open(&fx->t, "tmrate", &fx->conn) != 0)
		fail_msg("no test database");
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	testdb_close(&fx->t, fx->conn);
	free(fx);
	return 0;
}

static void
test_full_bucket_then_the_rate(void **state)
{
	struct fx *fx = *state;
	struct tmrate *r = tmrate_new("g-full", 10, 5);
	long waited = 0, t0;

	assert_non_null(r);
	/* a new group's bucket is full: burst takes without waiting */
	for (int i = 0; i < 5; i++)
		assert_int_equal(tmrate_take(r, fx->conn, NULL, &waited), TMRATE_OK);
	assert_true(waited < 100);
	/* then one token per 100 ms: 5 more take about half a second */
	t0 = clock_now_ms();
	waited = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(tmrate_take(r, fx->conn, NULL, &waited), TMRATE_OK);
	assert_true(clock_now_ms() - t0 >= 400);
	assert_true(waited >= 400);
	tmrate_free(r);
}

/* One process of the group: takes tokens as fast as it gets them for run_ms, recording when. */
struct taker {
	struct testdb *t;
	const char *group;
	double rate;
	long start_ms, run_ms;
	long at[4096];
	unsigned n;
};

static void *
taker_main(void *arg)
{
	struct taker *k = arg;
	PGconn *conn = testdb_connect(k->t);
	struct tmrate *r = tmrate_new(k->group, k->rate, 0);

	while (conn != NULL && r != NULL && clock_now_ms() - k->start_ms < k->run_ms &&
	       k->n < 4096) {
		if (tmrate_take(r, conn, NULL, NULL) != TMRATE_OK)
			break;
		k->at[k->n++] = clock_now_ms();
	}
	tmrate_free(r);
	PQfinish(conn);
	return NULL;
}

/* The most takes of the takers in any window of one second. */
static unsigned
max_per_second(struct taker *k, unsigned nk)
{
	unsigned best = 0;

	for (unsigned a = 0; a < nk; a++) {
		for (unsigned i = 0; i < k[a].n; i++) {
			unsigned in = 0;

			for (unsigned b = 0; b < nk; b++)
				for (unsigned j = 0; j < k[b].n; j++)
					in += k[b].at[j] >= k[a].at[i] &&
					      k[b].at[j] < k[a].at[i] + 1000;
			best = in > best ? in : best;
		}
	}
	return best;
}

static void
test_rate_holds_across_processes(void **state)
{
	struct fx *fx = *state;
	enum { NK = 3 };
	static struct taker k[NK];
	pthread_t th[NK];
	unsigned total = 0, bound = tmrate_window_bound(50, 0, NK), peak;

	for (unsigned i = 0; i < NK; i++) {
		k[i] = (struct taker){.t = &fx->t,
				      .group = "g-shared",
				      .rate = 50,
				      .start_ms = clock_now_ms(),
				      .run_ms = 3000};
		assert_int_equal(pthread_create(&th[i], NULL, taker_main, &k[i]), 0);
	}
	for (unsigned i = 0; i < NK; i++) {
		pthread_join(th[i], NULL);
		total += k[i].n;
	}
	peak = max_per_second(k, NK);
	print_message("3 processes at 50/s for 3 s: %u takes, at most %u in a second (bound %u)\n",
		      total, peak, bound);
	assert_true(peak <= bound);
	/* 3 s at 50/s plus the first full bucket: the rate is reached, not undershot */
	assert_in_range(total, 140, 50 * 3 + bound - 50);
}

static void
test_groups_are_separate(void **state)
{
	struct fx *fx = *state;
	struct tmrate *a = tmrate_new("g-a", 1, 3), *b = tmrate_new("g-b", 1, 3);
	long waited = 0;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(tmrate_take(a, fx->conn, NULL, &waited), TMRATE_OK);
		assert_int_equal(tmrate_take(b, fx->conn, NULL, &waited), TMRATE_OK);
	}
	assert_true(waited < 200);
	tmrate_free(a);
	tmrate_free(b);
}

static void *
stop_later(void *arg)
{
	struct timespec ts = {0, 200 * 1000000L};

	nanosleep(&ts, NULL);
	atomic_store((atomic_bool *)arg, true);
	return NULL;
}

static void
test_stop_ends_a_wait(void **state)
{
	struct fx *fx = *state;
	struct tmrate *r = tmrate_new("g-stop", 0.1, 1);
	atomic_bool stop;
	pthread_t th;
	long t0;

	atomic_init(&stop, false);
	assert_int_equal(tmrate_take(r, fx->conn, &stop, NULL), TMRATE_OK);
	/* the next token is 10 s away; the stop comes after 200 ms */
	assert_int_equal(pthread_create(&th, NULL, stop_later, &stop), 0);
	t0 = clock_now_ms();
	assert_int_equal(tmrate_take(r, fx->conn, &stop, NULL), TMRATE_STOPPED);
	assert_true(clock_now_ms() - t0 < 2000);
	pthread_join(th, NULL);
	tmrate_free(r);
}

static void
test_database_error_is_reported(void **state)
{
	struct fx *fx = *state;
	struct tmrate *r = tmrate_new("g-err", 10, 1);
	PGresult *res = PQexec(fx->conn, "ALTER TABLE tm_rate_bucket RENAME TO tm_rate_gone");

	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_int_equal(tmrate_take(r, fx->conn, NULL, NULL), TMRATE_DB_ERROR);
	assert_non_null(strstr(tmrate_error(r), "tm_rate_bucket"));
	res = PQexec(fx->conn, "ALTER TABLE tm_rate_gone RENAME TO tm_rate_bucket");
	PQclear(res);
	tmrate_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_bucket_then_the_rate),
	    cmocka_unit_test(test_rate_holds_across_processes),
	    cmocka_unit_test(test_groups_are_separate),
	    cmocka_unit_test(test_stop_ends_a_wait),
	    cmocka_unit_test(test_database_error_is_reported),
	};

	return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
