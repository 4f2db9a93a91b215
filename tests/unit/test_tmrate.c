/* Tests for common/tmrate without a database: the burst, batch, wait and window arithmetic, a
 * limit that is off, and how a take ends without a connection or when stopped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tmrate.h"

static void
test_default_burst_is_a_tenth_of_a_second(void **state)
{
	(void)state;
	assert_int_equal(tmrate_default_burst(100), 10);
	assert_int_equal(tmrate_default_burst(500), 50);
	assert_int_equal(tmrate_default_burst(20), 2);
	assert_int_equal(tmrate_default_burst(3), 1);
	assert_int_equal(tmrate_default_burst(0.5), 1);
}

static void
test_batch_is_a_twentieth_within_the_burst(void **state)
{
	(void)state;
	assert_int_equal(tmrate_batch(100, 10), 5);
	assert_int_equal(tmrate_batch(500, 50), 25);
	assert_int_equal(tmrate_batch(20, 2), 1);
	assert_int_equal(tmrate_batch(1, 1), 1);
	/* never more than the bucket can hold, never none */
	assert_int_equal(tmrate_batch(1000, 3), 3);
	assert_int_equal(tmrate_batch(1000, 0), 1);
}

static void
test_wait_until_the_batch_is_there(void **state)
{
	(void)state;
	assert_int_equal(tmrate_wait_ms(0, 1, 100), 10);
	assert_int_equal(tmrate_wait_ms(0.5, 5, 100), 45);
	assert_int_equal(tmrate_wait_ms(0, 1, 2), 500);
	/* already there: the shortest wait, never 0 (a busy loop) */
	assert_int_equal(tmrate_wait_ms(7, 5, 100), 1);
	/* a tiny rate is bounded */
	assert_int_equal(tmrate_wait_ms(0, 1, 0.0001), 60000);
}

static void
test_window_bound(void **state)
{
	(void)state;
	/* rate + burst + processes x batch: 100 + 10 + 2 x 5 */
	assert_int_equal(tmrate_window_bound(100, 0, 2), 120);
	assert_int_equal(tmrate_window_bound(500, 0, 4), 500 + 50 + 4 * 25);
	assert_int_equal(tmrate_window_bound(100, 20, 1), 100 + 20 + 5);
}

static void
test_no_limit_needs_no_database(void **state)
{
	struct tmrate *r = tmrate_new("g", 0, 0);
	long waited = 0;

	(void)state;
	assert_non_null(r);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(tmrate_take(r, NULL, NULL, &waited), TMRATE_OK);
	assert_int_equal(waited, 0);
	/* a reload turns it on: now a take needs the bucket */
	tmrate_set_rate(r, 10);
	assert_true(tmrate_rate(r) == 10);
	assert_int_equal(tmrate_take(r, NULL, NULL, NULL), TMRATE_DB_ERROR);
	assert_non_null(strstr(tmrate_error(r), "no database connection"));
	tmrate_free(r);
	tmrate_free(NULL);
}

static PGconn *
borrow_stopped(void *arg, const atomic_bool *stop)
{
	(void)stop;
	(*(int *)arg)++;
	return NULL;
}

static void
give_never(void *arg, PGconn *conn, bool ok)
{
	(void)arg;
	(void)conn;
	(void)ok;
	fail_msg("nothing was borrowed");
}

static void
test_stopped_while_borrowing(void **state)
{
	struct tmrate *r = tmrate_new("g", 10, 0);
	int borrowed = 0;
	const struct tmrate_conn via = {borrow_stopped, give_never, &borrowed};
	atomic_bool stop;

	(void)state;
	atomic_init(&stop, true);
	assert_int_equal(tmrate_take_via(r, &via, &stop, NULL), TMRATE_STOPPED);
	assert_int_equal(borrowed, 1);
	tmrate_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_burst_is_a_tenth_of_a_second),
	    cmocka_unit_test(test_batch_is_a_twentieth_within_the_burst),
	    cmocka_unit_test(test_wait_until_the_batch_is_there),
	    cmocka_unit_test(test_window_bound),
	    cmocka_unit_test(test_no_limit_needs_no_database),
	    cmocka_unit_test(test_stopped_while_borrowing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
