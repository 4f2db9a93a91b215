/* Tests for the worker's offset tracker against a real broker ($TMPROV_KAFKA_BROKERS, topic
 * tm.commands): what it commits, read back with rd_kafka_committed; only the partitions asked
 * for; asynchronous commits; failed ones sent again; revoked partitions left alone. */
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

static rd_kafka_t *
consumer_for(const char *group)
{
	const char *brokers = getenv("TMPROV_KAFKA_BROKERS");
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;

	if (!brokers || !*brokers)
		fail_msg("TMPROV_KAFKA_BROKERS is not set (tests/run-tests sets it)");
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)))
		fail_msg("conf: %s", err);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk)
		fail_msg("consumer: %s", err);
	return rk;
}

/* The group's committed offsets of partitions 0 and 1, read from the broker. */
static void
committed(rd_kafka_t *rk, int64_t out[2])
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
	rd_kafka_resp_err_t rc;

	rd_kafka_topic_partition_list_add(l, TOPIC, 0);
	rd_kafka_topic_partition_list_add(l, TOPIC, 1);
	rc = rd_kafka_committed(rk, l, 10000);
	if (rc)
		fail_msg("committed: %s", rd_kafka_err2str(rc));
	out[0] = l->elems[0].offset;
	out[1] = l->elems[1].offset;
	rd_kafka_topic_partition_list_destroy(l);
}

static void
test_commit_to_broker(void **state)
{
	char group[64], err[256];
	struct offsets *o = offtrack_new();
	rd_kafka_t *rk;
	struct job *a0, *a1, *a2, *b0, *b1;
	int64_t got[2];

	(void)state;
	snprintf(group, sizeof(group), "t_offsets_%d_%ld", (int)getpid(), (long)time(NULL));
	rk = consumer_for(group);
	assert_int_equal(offsets_assign(o, 0), 0);
	assert_int_equal(offsets_assign(o, 1), 0);
	/* Nothing seen: nothing to commit. */
	assert_int_equal(offsets_commit(o, rk, NULL, false, err, sizeof(err)), 0);
	a0 = offtrack_track(o, 0, 0);
	a1 = offtrack_track(o, 0, 1);
	a2 = offtrack_track(o, 0, 2);
	b0 = offtrack_track(o, 1, 0);
	offsets_done(o, a0);
	offsets_done(o, a2);
	offsets_done(o, b0);
	/* p0: 1 still runs, so 1; p1: everything done, so 1. */
	assert_int_equal(offsets_commit(o, rk, NULL, false, err, sizeof(err)), 2);
	committed(rk, got);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 1);
	assert_int_equal(offsets_committed(o, 0), 1);
	/* Unchanged: not committed again. */
	assert_int_equal(offsets_commit(o, rk, NULL, false, err, sizeof(err)), 0);

	/* Only the partitions asked for (as on a revoke). */
	offsets_done(o, a1);
	b1 = offtrack_track(o, 1, 1);
	{
		rd_kafka_topic_partition_list_t *only = rd_kafka_topic_partition_list_new(1);

		rd_kafka_topic_partition_list_add(only, TOPIC, 1);
		/* p1's committable offset is still 1: nothing for it. */
		assert_int_equal(offsets_commit(o, rk, only, false, err, sizeof(err)), 0);
		rd_kafka_topic_partition_list_destroy(only);
	}
	committed(rk, got);
	assert_int_equal(got[0], 1);

	/* Asynchronously: returns at once, lands shortly. */
	assert_int_equal(offsets_commit(o, rk, NULL, true, err, sizeof(err)), 1);
	for (int i = 0; i < 100; i++) {
		committed(rk, got);
		if (got[0] == 3)
			break;
		usleep(50000);
	}
	assert_int_equal(got[0], 3);

	/* A failed async commit (as reported to offset_commit_cb) is sent again. */
	{
		rd_kafka_topic_partition_list_t *f = rd_kafka_topic_partition_list_new(1);

		rd_kafka_topic_partition_list_add(f, TOPIC, 0)->offset = 3;
		f->elems[0].err = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
		offsets_commit_failed(o, f);
		assert_int_equal(offsets_committed(o, 0), -1);
		/* A stale failure (older offset) leaves a newer commit alone. */
		assert_int_equal(offsets_commit(o, rk, NULL, false, err, sizeof(err)), 1);
		f->elems[0].offset = 2;
		offsets_commit_failed(o, f);
		assert_int_equal(offsets_committed(o, 0), 3);
		rd_kafka_topic_partition_list_destroy(f);
	}

	/* Issue 11 (13): a commit whose request succeeded can still carry an error for one
	 * partition; that partition is committed again, the others are not. */
	{
		rd_kafka_topic_partition_list_t *f = rd_kafka_topic_partition_list_new(2);

		offsets_done(o, b1);
		assert_int_equal(offsets_committable(o, 1), 2);
		assert_int_equal(offsets_commit(o, rk, NULL, false, err, sizeof(err)), 1);
		assert_int_equal(offsets_committed(o, 1), 2);
		rd_kafka_topic_partition_list_add(f, TOPIC, 0)->offset = 3;
		rd_kafka_topic_partition_list_add(f, TOPIC, 1)->offset = 2;
		f->elems[1].err = RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE;
		assert_int_equal(offsets_commit_result(o, RD_KAFKA_RESP_ERR_NO_ERROR, f), 1);
		assert_int_equal(offsets_committed(o, 0), 3);
		assert_int_equal(offsets_committed(o, 1), -1);
		assert_int_equal(offsets_commit(o, rk, NULL, false, err, sizeof(err)), 1);
		assert_int_equal(offsets_committed(o, 1), 2);
		/* A request that failed as a whole: every partition of it. */
		f->elems[1].err = RD_KAFKA_RESP_ERR_NO_ERROR;
		assert_int_equal(offsets_commit_result(o, RD_KAFKA_RESP_ERR__TRANSPORT, f), 2);
		assert_int_equal(offsets_committed(o, 0), -1);
		assert_int_equal(offsets_committed(o, 1), -1);
		/* Nothing to commit is no failure. */
		assert_int_equal(offsets_commit_result(o, RD_KAFKA_RESP_ERR__NO_OFFSET, f), 0);
		assert_int_equal(offsets_commit(o, rk, NULL, false, err, sizeof(err)), 2);
		rd_kafka_topic_partition_list_destroy(f);
	}

	/* A revoked partition is not committed any more. */
	offsets_revoke(o, 0);
	assert_int_equal(offsets_commit(o, rk, NULL, false, err, sizeof(err)), 0);
	rd_kafka_destroy(rk);
	offsets_free(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_commit_to_broker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
