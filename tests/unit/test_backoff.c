/* Tests for common/backoff: the full-jitter bounds, the cap, and that delays really vary. */
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ceiling_doubles_then_caps),
	    cmocka_unit_test(test_full_jitter_range_and_spread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
