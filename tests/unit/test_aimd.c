/* Tests for workers/worker/aimd: the rule (decrease on a latency well above the floor or on
 * 429/503, once per round trip; additive growth while healthy and in use; the floor's
 * windows) and the gate's bound on calls in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../workers/worker/aimd.h"

/* n answered calls of latency ms, one every step ms from *now, with in_flight in flight. */
static void
feed(struct aimd_rule *r, unsigned n, double ms, unsigned in_flight, long step, long *now)
{
	for (unsigned i = 0; i < n; i++) {
		aimd_rule_sample(r, AIMD_ANSWERED, ms, in_flight, *now);
		*now += step;
	}
}

static void
test_starts_at_max_and_stays_while_healthy(void **state)
{
	struct aimd_rule r;
	long now = 1000;

	(void)state;
	aimd_rule_init(&r, 1, 64, now);
	assert_int_equal(aimd_rule_limit(&r), 64);
	feed(&r, 1000, 10, 64, 1, &now);
	assert_int_equal(aimd_rule_limit(&r), 64);
	assert_true(aimd_rule_floor(&r) == 10);
	assert_int_equal(r.decreases, 0);
}

static void
test_slow_tm_halves_once_per_round_trip(void **state)
{
	struct aimd_rule r;
	long now = 1000;

	(void)state;
	aimd_rule_init(&r, 1, 64, now);
	feed(&r, 200, 10, 64, 1, &now);
	/* latency 50x the floor: the smoothed latency crosses 3x within a few samples, then one
	 * cut per smoothed latency, not one per sample */
	feed(&r, 64, 500, 64, 1, &now);
	assert_int_equal(aimd_rule_limit(&r), 32);
	assert_int_equal(r.decreases, 1);
	/* a few seconds of 500 ms calls bring it down to the minimum */
	feed(&r, 100, 500, 64, 50, &now);
	assert_int_equal(aimd_rule_limit(&r), 1);
}

static void
test_jitter_near_a_small_floor_is_not_overload(void **state)
{
	struct aimd_rule r;
	long now = 1000;

	(void)state;
	aimd_rule_init(&r, 1, 16, now);
	feed(&r, 50, 1, 16, 1, &now);
	/* 40x the 1 ms floor, but within the 50 ms margin */
	feed(&r, 200, 40, 16, 1, &now);
	assert_int_equal(aimd_rule_limit(&r), 16);
}

static void
test_overload_answer_decreases(void **state)
{
	struct aimd_rule r;
	long now = 1000;

	(void)state;
	aimd_rule_init(&r, 2, 40, now);
	feed(&r, 10, 10, 40, 1, &now);
	aimd_rule_sample(&r, AIMD_OVERLOAD, 10, 40, now);
	assert_int_equal(aimd_rule_limit(&r), 20);
	/* within the same round trip: no second cut */
	aimd_rule_sample(&r, AIMD_OVERLOAD, 10, 40, now);
	assert_int_equal(aimd_rule_limit(&r), 20);
	for (int i = 0; i < 20; i++) {
		now += 100;
		aimd_rule_sample(&r, AIMD_OVERLOAD, 10, 40, now);
	}
	assert_int_equal(aimd_rule_limit(&r), 2); /* never under min */
	/* not sent: no sample at all */
	aimd_rule_sample(&r, AIMD_NONE, 0, 40, now + 1000);
	assert_int_equal(aimd_rule_limit(&r), 2);
}

static void
test_grows_back_additively_while_in_use(void **state)
{
	struct aimd_rule r;
	long now = 1000;
	unsigned n = 0;

	(void)state;
	aimd_rule_init(&r, 1, 32, now);
	for (int i = 0; i < 10; i++) {
		now += 100;
		aimd_rule_sample(&r, AIMD_OVERLOAD, 10, 32, now);
	}
	assert_int_equal(aimd_rule_limit(&r), 1);
	/* idle (nothing in flight beside the call, limit grown past 2): no growth beyond */
	feed(&r, 500, 10, 0, 1, &now);
	assert_in_range(aimd_rule_limit(&r), 1, 3);
	/* in use: one more per limit's worth of answers; 1 -> 32 takes sum(1..31) ~ 500 */
	while (aimd_rule_limit(&r) < 32 && n < 2000) {
		aimd_rule_sample(&r, AIMD_ANSWERED, 10, aimd_rule_limit(&r), now++);
		n++;
	}
	assert_int_equal(aimd_rule_limit(&r), 32);
	assert_in_range(n, 400, 600);
	feed(&r, 100, 10, 32, 1, &now);
	assert_int_equal(aimd_rule_limit(&r), 32); /* never over max */
}

static void
test_floor_follows_a_lasting_change(void **state)
{
	struct aimd_rule r;
	long now = 1000;

	(void)state;
	aimd_rule_init(&r, 1, 8, now);
	feed(&r, 10, 10, 8, 1, &now);
	assert_true(aimd_rule_floor(&r) == 10);
	/* TM at 200 ms for two whole windows: the floor becomes 200 and the limit regrows */
	feed(&r, 210, 200, 8, AIMD_FLOOR_WINDOW_MS / 100, &now);
	assert_true(aimd_rule_floor(&r) == 200);
	feed(&r, 500, 200, 8, 1, &now);
	assert_int_equal(aimd_rule_limit(&r), 8);
}

static void
test_gate_holds_in_flight_to_the_limit(void **state)
{
	struct aimd a;
	unsigned limit, in_flight, before;
	atomic_bool stop;

	(void)state;
	atomic_init(&stop, false);
	aimd_init(&a, 1, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_true(aimd_enter(&a, &stop, &before));
		assert_int_equal(before, i);
	}
	aimd_snapshot(&a, &limit, &in_flight);
	assert_int_equal(limit, 3);
	assert_int_equal(in_flight, 3);
	/* full: a fourth waits, and a stop ends the wait */
	atomic_store(&stop, true);
	assert_false(aimd_enter(&a, &stop, NULL));
	/* an overload answer halves the limit: 1.5 -> 1; the two others still out */
	aimd_leave(&a, AIMD_OVERLOAD, 10, 2);
	aimd_snapshot(&a, &limit, &in_flight);
	assert_int_equal(limit, 1);
	assert_int_equal(in_flight, 2);
	assert_false(aimd_enter(&a, &stop, NULL));
	aimd_leave(&a, AIMD_NONE, 0, 1);
	aimd_leave(&a, AIMD_NONE, 0, 0);
	assert_true(aimd_enter(&a, &stop, NULL)); /* a free place is taken even when stopping */
	aimd_destroy(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_starts_at_max_and_stays_while_healthy),
	    cmocka_unit_test(test_slow_tm_halves_once_per_round_trip),
	    cmocka_unit_test(test_jitter_near_a_small_floor_is_not_overload),
	    cmocka_unit_test(test_overload_answer_decreases),
	    cmocka_unit_test(test_grows_back_additively_while_in_use),
	    cmocka_unit_test(test_floor_follows_a_lasting_change),
	    cmocka_unit_test(test_gate_holds_in_flight_to_the_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
