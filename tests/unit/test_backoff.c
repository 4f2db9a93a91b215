/* Tests for common/backoff: the full-jitter bounds, the cap, that delays really vary, and
 * Retry-After parsing (seconds, HTTP-date, past dates, junk, the upper bound). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "backoff.h"

static void
test_ceiling_doubles_then_caps(void **state)
{
	const struct backoff b = {100, 5000};
	static const long want[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};

	(void)state;
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(backoff_ceiling_ms(&b, i), want[i]);
	/* Huge attempt counts must not overflow. */
	assert_int_equal(backoff_ceiling_ms(&b, 4000000000u), 5000);
}

static void
test_full_jitter_range_and_spread(void **state)
{
	const struct backoff b = {100, 2000};
	long min = 1 << 30, max = -1, sum = 0;
	const int n = 20000;

	(void)state;
	for (int i = 0; i < n; i++) {
		long d = backoff_delay_ms(&b, 10);
		assert_in_range(d, 0, 2000);
		min = d < min ? d : min;
		max = d > max ? d : max;
		sum += d;
	}
	/* Uniform over [0, 2000]: extremes are reached and the mean sits near the middle. */
	assert_true(min < 50);
	assert_true(max > 1950);
	assert_in_range(sum / n, 900, 1100);
	assert_in_range(backoff_delay_ms(&b, 0), 0, 100);
}

static void
test_retry_after(void **state)
{
	const long now = 1795000000; /* Wed, 18 Nov 2026 11:06:40 GMT */
	const long max = 60000;

	(void)state;
	assert_int_equal(backoff_retry_after_ms("3", now, max), 3000);
	assert_int_equal(backoff_retry_after_ms(" 0 ", now, max), 0);
	assert_int_equal(backoff_retry_after_ms("86400", now, max), max);
	assert_int_equal(backoff_retry_after_ms("99999999999999999999999", now, max), -1);
	assert_int_equal(backoff_retry_after_ms(NULL, now, max), -1);
	assert_int_equal(backoff_retry_after_ms("", now, max), -1);
	assert_int_equal(backoff_retry_after_ms("soon", now, max), -1);
	assert_int_equal(backoff_retry_after_ms("5s", now, max), -1);
	assert_int_equal(backoff_retry_after_ms("-5", now, max), -1);
	/* 1795000000 + 30 s as an IMF-fixdate; a date in the past means now */
	assert_int_equal(backoff_retry_after_ms("Wed, 18 Nov 2026 11:07:10 GMT", now, max), 30000);
	assert_int_equal(backoff_retry_after_ms("Wed, 18 Nov 2026 10:00:00 GMT", now, max), 0);
	assert_int_equal(backoff_retry_after_ms("Wed, 18 Nov 2026 11:07:10", now, max), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ceiling_doubles_then_caps),
	    cmocka_unit_test(test_full_jitter_range_and_spread),
	    cmocka_unit_test(test_retry_after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
