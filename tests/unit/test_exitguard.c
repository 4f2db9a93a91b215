/* Unit tests of workers/worker/exitguard: a guard left armed past its bound calls its exit
 * function once, with the status given, naming the step under way; a guard disarmed in time never
 * does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "../../workers/worker/exitguard.h"
#include "clock.h"

static atomic_int calls, last_status = -1;

static void
fake_exit(int status)
{
	atomic_fetch_add(&calls, 1);
	atomic_store(&last_status, status);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
test_expires_once(void **state)
{
	struct exitguard *g;
	long deadline;

	(void)state;
	atomic_store(&calls, 0);
	g = exitguard_arm(clock_now_ms() + 50, 3, fake_exit);
	assert_non_null(g);
	exitguard_step(g, "the consumer's close");
	deadline = clock_now_ms() + 5000;
	while (atomic_load(&calls) == 0 && clock_now_ms() < deadline)
		sleep_ms(10);
	assert_int_equal(atomic_load(&calls), 1);
	assert_int_equal(atomic_load(&last_status), 3); /* the status given */
	assert_true(exitguard_expired(g));
	exitguard_disarm(g);
	assert_int_equal(atomic_load(&calls), 1);
}

static void
test_disarmed_in_time(void **state)
{
	struct exitguard *g;

	(void)state;
	atomic_store(&calls, 0);
	g = exitguard_arm(clock_now_ms() + 300, 0, fake_exit);
	assert_non_null(g);
	sleep_ms(20);
	assert_false(exitguard_expired(g));
	exitguard_disarm(g);
	sleep_ms(400);
	assert_int_equal(atomic_load(&calls), 0);
}

static void
test_null_is_noop(void **state)
{
	(void)state;
	exitguard_step(NULL, "x");
	assert_false(exitguard_expired(NULL));
	exitguard_disarm(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_expires_once),
	    cmocka_unit_test(test_disarmed_in_time),
	    cmocka_unit_test(test_null_is_noop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
