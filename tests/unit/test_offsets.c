/* Tests for the worker's offset tracker (workers/worker/offsets.c): the committable offset with
 * in-order, out-of-order and gapped completions, the ring growing, epochs across revoke and
 * re-assign, stale and foreign messages (tests/integration/test_offsets_commit.c commits to a
 * real broker). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/offtrack.h"

#define TOPIC OFFTRACK_TOPIC

static void
test_nothing_seen(void **state)
{
	struct offsets *o = offtrack_new();

	(void)state;
	assert_int_equal(offsets_committable(o, 0), -1);
	assert_false(offsets_assigned(o, 0));
	assert_int_equal(offsets_assign(o, 0), 0);
	assert_true(offsets_assigned(o, 0));
	assert_int_equal(offsets_committable(o, 0), -1);
	assert_int_equal(offsets_inflight(o, 0), 0);
	assert_int_equal(offsets_assign(o, -1), -1);
	offsets_free(o);
	offsets_free(NULL);
}

static void
test_in_order(void **state)
{
	struct offsets *o = offtrack_new();
	struct job *j[5];

	(void)state;
	assert_int_equal(offsets_assign(o, 2), 0);
	for (int i = 0; i < 5; i++)
		j[i] = offtrack_track(o, 2, 100 + i);
	assert_int_equal(offsets_inflight(o, 2), 5);
	assert_int_equal(offsets_committable(o, 2), 100);
	for (int i = 0; i < 5; i++) {
		offsets_done(o, j[i]);
		assert_int_equal(offsets_committable(o, 2), 101 + i);
	}
	assert_int_equal(offsets_inflight(o, 2), 0);
	/* Nothing in flight: the next offset to read. */
	assert_int_equal(offsets_committable(o, 2), 105);
	offsets_free(o);
}

static void
test_out_of_order(void **state)
{
	struct offsets *o = offtrack_new();
	struct job *j5, *j6, *j7, *j8, *j9;

	(void)state;
	assert_int_equal(offsets_assign(o, 0), 0);
	j5 = offtrack_track(o, 0, 5);
	j6 = offtrack_track(o, 0, 6);
	j7 = offtrack_track(o, 0, 7);
	j8 = offtrack_track(o, 0, 8);
	j9 = offtrack_track(o, 0, 9);
	offsets_done(o, j7);
	offsets_done(o, j8);
	/* 5 and 6 still run: a restart must read 5 again. */
	assert_int_equal(offsets_committable(o, 0), 5);
	assert_int_equal(offsets_inflight(o, 0), 3);
	offsets_done(o, j5);
	assert_int_equal(offsets_committable(o, 0), 6);
	offsets_done(o, j6);
	assert_int_equal(offsets_committable(o, 0), 9);
	offsets_done(o, j8); /* twice: no effect */
	assert_int_equal(offsets_inflight(o, 0), 1);
	offsets_done(o, j9);
	assert_int_equal(offsets_committable(o, 0), 10);
	offsets_free(o);
}

static void
test_gaps_in_offsets(void **state)
{
	struct offsets *o = offtrack_new();
	struct job *a, *b, *c;

	(void)state;
	/* Compacted topics and transaction markers leave holes between offsets. */
	assert_int_equal(offsets_assign(o, 1), 0);
	a = offtrack_track(o, 1, 0);
	b = offtrack_track(o, 1, 2);
	c = offtrack_track(o, 1, 5);
	offsets_done(o, c);
	assert_int_equal(offsets_committable(o, 1), 0);
	offsets_done(o, a);
	assert_int_equal(offsets_committable(o, 1), 2);
	offsets_done(o, b);
	assert_int_equal(offsets_committable(o, 1), 6);
	offsets_free(o);
}

static void
test_partitions_are_independent(void **state)
{
	struct offsets *o = offtrack_new();
	struct job *a, *b;

	(void)state;
	assert_int_equal(offsets_assign(o, 3), 0);
	assert_int_equal(offsets_assign(o, 0), 0);
	a = offtrack_track(o, 3, 40);
	b = offtrack_track(o, 0, 7);
	offtrack_track(o, 3, 41);
	offsets_done(o, b);
	assert_int_equal(offsets_committable(o, 0), 8);
	assert_int_equal(offsets_committable(o, 3), 40);
	offsets_done(o, a);
	assert_int_equal(offsets_committable(o, 3), 41);
	assert_int_equal(offsets_committable(o, 1), -1); /* never assigned */
	offsets_free(o);
}

static void
test_ring_grows_and_wraps(void **state)
{
	enum { N = 10000 };
	struct offsets *o = offtrack_new();
	struct job *jobs = calloc(N, sizeof(*jobs));

	(void)state;
	assert_non_null(jobs);
	assert_int_equal(offsets_assign(o, 0), 0);
	/* Wrap the ring first: advance its head by completing a few, then keep adding. */
	for (int i = 0; i < N; i++) {
		jobs[i].topic = TOPIC;
		jobs[i].partition = 0;
		jobs[i].offset = 1000 + i;
		assert_int_equal(offsets_track(o, &jobs[i]), 0);
		if (i < 50)
			offsets_done(o, &jobs[i]);
	}
	assert_int_equal(offsets_committable(o, 0), 1050);
	/* Complete the rest in reverse: the front holds until the very last. */
	for (int i = N - 1; i > 50; i--) {
		offsets_done(o, &jobs[i]);
		assert_int_equal(offsets_committable(o, 0), 1050);
	}
	assert_int_equal(offsets_inflight(o, 0), 1);
	offsets_done(o, &jobs[50]);
	assert_int_equal(offsets_committable(o, 0), 1000 + N);
	assert_int_equal(offsets_inflight(o, 0), 0);
	free(jobs);
	offsets_free(o);
}

static void
test_refuses_stale_and_foreign(void **state)
{
	struct offsets *o = offtrack_new();

	(void)state;
	/* Not assigned. */
	assert_int_equal(offsets_track(o, offtrack_job(TOPIC, 0, 1)), -1);
	assert_int_equal(offsets_assign(o, 0), 0);
	/* Another topic. */
	assert_int_equal(offsets_track(o, offtrack_job("other", 0, 1)), -1);
	offtrack_track(o, 0, 10);
	/* At or below what was seen: a stale copy, not tracked twice. */
	assert_int_equal(offsets_track(o, offtrack_job(TOPIC, 0, 10)), -1);
	assert_int_equal(offsets_track(o, offtrack_job(TOPIC, 0, 3)), -1);
	assert_int_equal(offsets_inflight(o, 0), 1);
	/* A job that was never tracked changes nothing when "done". */
	offsets_done(o, offtrack_job(TOPIC, 0, 10));
	assert_int_equal(offsets_committable(o, 0), 10);
	offsets_free(o);
}

static void
test_revoke_and_reassign(void **state)
{
	struct offsets *o = offtrack_new();
	struct job *old5, *old6, *new5;

	(void)state;
	assert_int_equal(offsets_assign(o, 0), 0);
	old5 = offtrack_track(o, 0, 5);
	old6 = offtrack_track(o, 0, 6);
	offsets_done(o, old6);
	assert_int_equal(offsets_committable(o, 0), 5);
	offsets_revoke(o, 0);
	assert_false(offsets_assigned(o, 0));
	assert_int_equal(offsets_committable(o, 0), -1);
	assert_int_equal(offsets_inflight(o, 0), 0);
	/* Done after the revoke: ignored. */
	offsets_done(o, old5);
	/* Assigned again (the group gave it back): redelivery from the committed offset. */
	assert_int_equal(offsets_assign(o, 0), 0);
	assert_int_equal(offsets_committable(o, 0), -1);
	new5 = offtrack_track(o, 0, 5);
	assert_int_not_equal(new5->epoch, old5->epoch);
	offtrack_track(o, 0, 6);
	/* The old run of offset 5 finishing late must not release the new one. */
	offsets_done(o, old5);
	assert_int_equal(offsets_committable(o, 0), 5);
	assert_int_equal(offsets_inflight(o, 0), 2);
	offsets_done(o, new5);
	assert_int_equal(offsets_committable(o, 0), 6);
	offsets_revoke(o, 7); /* not assigned: no effect */
	offsets_free(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nothing_seen),
	    cmocka_unit_test(test_in_order),
	    cmocka_unit_test(test_out_of_order),
	    cmocka_unit_test(test_gaps_in_offsets),
	    cmocka_unit_test(test_partitions_are_independent),
	    cmocka_unit_test(test_ring_grows_and_wraps),
	    cmocka_unit_test(test_refuses_stale_and_foreign),
	    cmocka_unit_test(test_revoke_and_reassign),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
