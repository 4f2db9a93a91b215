/* Tests for the worker's dispatcher (workers/worker/dispatch.c) and pool: per-subject order,
 * jobs without an order key, in-flight counts, cancel and stop, the low-water callback, many
 * subjects (table growth), and a pool of threads hammering it while a checker verifies that no
 * subject ever runs two jobs at once or out of order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "fwait.h"
#include "../../workers/worker/dispatch.h"
#include "../../workers/worker/job.h"
#include "../../workers/worker/pool.h"

/* A job as the consumer would make it, without a Kafka message. */
static struct job *
mkjob(const char *subject, int32_t partition, int64_t offset)
{
	struct job *j = calloc(1, sizeof(*j));

	assert_non_null(j);
	j->order_key = strdup(subject);
	j->topic = strdup("t");
	j->partition = partition;
	j->offset = offset;
	assert_non_null(j->order_key);
	assert_non_null(j->topic);
	return j;
}

static struct dispatch *
dnew(void)
{
	struct dispatch *d = dispatch_new();

	assert_non_null(d);
	return d;
}

static void
submit(struct dispatch *d, struct job *j)
{
	assert_int_equal(dispatch_submit(d, j), 0);
}

/* Reaps and frees everything completed; returns how many, checking their order of offsets
 * when want is not NULL. */
static size_t
reap_all(struct dispatch *d, const int64_t *want, enum job_result result)
{
	struct job *j = dispatch_reap(d), *next;
	size_t n = 0;

	for (; j; j = next) {
		next = j->qnext;
		if (want)
			assert_int_equal(j->offset, want[n]);
		assert_int_equal(j->result, result);
		n++;
		job_free(j);
	}
	return n;
}

static void
test_same_subject_in_order(void **state)
{
	struct dispatch *d = dnew();
	struct job *a1 = mkjob("A", 0, 1), *a2 = mkjob("A", 0, 2), *a3 = mkjob("A", 0, 3);
	struct job *b1 = mkjob("B", 0, 4);
	static const int64_t done_order[] = {1, 2};

	(void)state;
	submit(d, a1);
	submit(d, a2);
	submit(d, b1);
	submit(d, a3);
	assert_int_equal(dispatch_inflight(d), 4);
	/* Only the head of each subject may run. */
	assert_ptr_equal(dispatch_try_take(d), a1);
	assert_ptr_equal(dispatch_try_take(d), b1);
	assert_null(dispatch_try_take(d));
	assert_int_equal(dispatch_running(d), 2);
	dispatch_done(d, a1, JOB_DONE);
	assert_int_equal(dispatch_inflight(d), 3);
	assert_ptr_equal(dispatch_try_take(d), a2);
	assert_null(dispatch_try_take(d));
	dispatch_done(d, a2, JOB_DONE);
	assert_int_equal(reap_all(d, done_order, JOB_DONE), 2);
	assert_ptr_equal(dispatch_try_take(d), a3);
	dispatch_done(d, a3, JOB_ABANDONED);
	dispatch_done(d, b1, JOB_DONE);
	assert_int_equal(dispatch_inflight(d), 0);
	assert_int_equal(dispatch_running(d), 0);
	{
		struct job *r = dispatch_reap(d);

		assert_ptr_equal(r, a3);
		assert_int_equal(r->result, JOB_ABANDONED);
		assert_ptr_equal(r->qnext, b1);
		assert_null(b1->qnext);
		job_free(a3);
		job_free(b1);
	}
	assert_null(dispatch_reap(d));
	dispatch_free(d);
}

static void
test_subject_reused_after_empty(void **state)
{
	struct dispatch *d = dnew();
	struct job *a1 = mkjob("A", 0, 1), *a2 = mkjob("A", 0, 2);

	(void)state;
	submit(d, a1);
	assert_ptr_equal(dispatch_try_take(d), a1);
	dispatch_done(d, a1, JOB_DONE);
	/* The subject's queue was freed with its last job: a new one starts runnable. */
	submit(d, a2);
	assert_ptr_equal(dispatch_try_take(d), a2);
	dispatch_done(d, a2, JOB_DONE);
	assert_int_equal(reap_all(d, NULL, JOB_DONE), 2);
	dispatch_free(d);
}

static void
test_empty_key_is_unordered(void **state)
{
	struct dispatch *d = dnew();
	struct job *x1 = mkjob("", 0, 1), *x2 = mkjob("", 0, 2), *x3 = mkjob("", 1, 3);

	(void)state;
	submit(d, x1);
	submit(d, x2);
	submit(d, x3);
	/* Rejections without a subject wait for nothing: all run at once. */
	assert_ptr_equal(dispatch_try_take(d), x1);
	assert_ptr_equal(dispatch_try_take(d), x2);
	assert_ptr_equal(dispatch_try_take(d), x3);
	dispatch_done(d, x2, JOB_DONE);
	dispatch_done(d, x3, JOB_DONE);
	dispatch_done(d, x1, JOB_DONE);
	{
		static const int64_t want[] = {2, 3, 1};

		assert_int_equal(reap_all(d, want, JOB_DONE), 3);
	}
	dispatch_free(d);
}

static bool
match_partition(const struct job *j, void *arg)
{
	return j->partition == *(int32_t *)arg;
}

static void
test_cancel_keeps_order_of_the_rest(void **state)
{
	struct dispatch *d = dnew();
	/* S: s1 (p0, will run), s2 (p1), s3 (p0), s4 (p1); T: t1 (p1), U: u1 ("" p1). */
	struct job *s1 = mkjob("S", 0, 10), *s2 = mkjob("S", 1, 20), *s3 = mkjob("S", 0, 11);
	struct job *s4 = mkjob("S", 1, 21), *t1 = mkjob("T", 1, 22), *u1 = mkjob("", 1, 23);
	int32_t p1 = 1;

	(void)state;
	submit(d, s1);
	submit(d, s2);
	submit(d, s3);
	submit(d, s4);
	submit(d, t1);
	submit(d, u1);
	assert_ptr_equal(dispatch_try_take(d), s1);
	/* Revoking p1: its jobs that have not started go, s3 stays behind s1. */
	assert_int_equal(dispatch_cancel(d, match_partition, &p1), 4);
	assert_int_equal(dispatch_inflight(d), 2);
	assert_null(dispatch_try_take(d));
	{
		struct job *r = dispatch_reap(d), *next;
		size_t n = 0;

		for (; r; r = next, n++) {
			next = r->qnext;
			assert_int_equal(r->partition, 1);
			assert_int_equal(r->result, JOB_CANCELLED);
			job_free(r);
		}
		assert_int_equal(n, 4);
	}
	dispatch_done(d, s1, JOB_DONE);
	assert_ptr_equal(dispatch_try_take(d), s3);
	dispatch_done(d, s3, JOB_DONE);
	assert_int_equal(dispatch_inflight(d), 0);
	assert_int_equal(reap_all(d, NULL, JOB_DONE), 2);
	dispatch_free(d);
}

static void
test_cancel_all_and_stop(void **state)
{
	struct dispatch *d = dnew();
	struct job *a1 = mkjob("A", 0, 1), *a2 = mkjob("A", 0, 2), *b1 = mkjob("B", 1, 3);
	struct job *x1 = mkjob("", 1, 4);
	int32_t p1 = 1;

	(void)state;
	submit(d, a1);
	submit(d, a2);
	submit(d, b1);
	submit(d, x1);
	assert_ptr_equal(dispatch_try_take(d), a1);
	assert_ptr_equal(dispatch_try_take(d), b1);
	assert_ptr_equal(dispatch_try_take(d), x1);
	/* Running jobs are not cancelled, they are told to stop. */
	assert_int_equal(dispatch_stop(d, match_partition, &p1), 2);
	assert_int_equal(atomic_load(&b1->stop), 1);
	assert_int_equal(atomic_load(&x1->stop), 1);
	assert_int_equal(atomic_load(&a1->stop), 0);
	assert_int_equal(dispatch_cancel(d, NULL, NULL), 1); /* a2 */
	assert_int_equal(dispatch_stop(d, NULL, NULL), 3);
	assert_int_equal(atomic_load(&a1->stop), 1);
	dispatch_done(d, a1, JOB_ABANDONED);
	dispatch_done(d, b1, JOB_ABANDONED);
	dispatch_done(d, x1, JOB_ABANDONED);
	assert_int_equal(dispatch_wait_idle(d, 0), 1);
	{
		struct job *r = dispatch_reap(d), *next;
		size_t cancelled = 0, abandoned = 0;

		for (; r; r = next) {
			next = r->qnext;
			cancelled += r->result == JOB_CANCELLED;
			abandoned += r->result == JOB_ABANDONED;
			job_free(r);
		}
		assert_int_equal(cancelled, 1);
		assert_int_equal(abandoned, 3);
	}
	dispatch_free(d);
}

static void
test_free_with_jobs_left(void **state)
{
	struct dispatch *d = dnew();

	(void)state;
	/* Queued, runnable, running and completed jobs, with and without a key: all freed (the
	 * sanitizer build checks that nothing leaks). */
	submit(d, mkjob("A", 0, 1));
	submit(d, mkjob("A", 0, 2));
	submit(d, mkjob("", 0, 3));
	submit(d, mkjob("", 0, 4));
	submit(d, mkjob("B", 0, 5));
	{
		struct job *j = dispatch_try_take(d);

		assert_non_null(j);
		dispatch_done(d, j, JOB_DONE);
	}
	assert_non_null(dispatch_try_take(d));
	dispatch_close(d);
	assert_null(dispatch_try_take(d));
	assert_null(dispatch_take(d));
	dispatch_free(d);
	dispatch_free(NULL);
}

static int low_calls;

static void
on_low(void *arg)
{
	(void)arg;
	low_calls++;
}

static void
test_low_water_callback(void **state)
{
	struct dispatch *d = dnew();
	struct job *j[4];

	(void)state;
	low_calls = 0;
	dispatch_on_low(d, 2, on_low, NULL);
	for (int i = 0; i < 4; i++)
		submit(d, j[i] = mkjob("", 0, i));
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(dispatch_try_take(d), j[i]);
	dispatch_done(d, j[0], JOB_DONE); /* 3 left */
	assert_int_equal(low_calls, 0);
	dispatch_done(d, j[1], JOB_DONE); /* 2 left: the mark */
	assert_int_equal(low_calls, 1);
	dispatch_done(d, j[2], JOB_DONE);
	assert_int_equal(low_calls, 1);
	dispatch_done(d, j[3], JOB_DONE);
	assert_int_equal(reap_all(d, NULL, JOB_DONE), 4);
	dispatch_free(d);
}

static void
test_waits_time_out(void **state)
{
	struct dispatch *d = dnew();
	long ms;

	(void)state;
	assert_int_equal(dispatch_wait_idle(d, 0), 1);
	submit(d, mkjob("A", 0, 1));
	ms = clock_now_ms();
	assert_int_equal(dispatch_wait_completed(d, 150), 0);
	assert_int_equal(dispatch_wait_idle(d, 50), 0);
	ms = clock_now_ms() - ms;
	assert_in_range(ms, 190, 2000);
	dispatch_free(d);
}

static void
test_many_subjects(void **state)
{
	enum { NSUBJ = 20000, PER = 3 };
	struct dispatch *d = dnew();
	char key[32];
	long *next_seq = calloc(NSUBJ, sizeof(*next_seq));
	size_t taken = 0, subjects, buckets;

	(void)state;
	assert_non_null(next_seq);
	/* Interleaved as on a topic: seq r of every subject, then r + 1. */
	for (int r = 0; r < PER; r++) {
		for (int s = 0; s < NSUBJ; s++) {
			snprintf(key, sizeof(key), "subject-%d", s);
			submit(d, mkjob(key, 0, (int64_t)r * NSUBJ + s));
		}
	}
	assert_int_equal(dispatch_inflight(d), NSUBJ * PER);
	/* The table grew past its initial size. */
	dispatch_table_size(d, &subjects, &buckets);
	assert_true(buckets >= NSUBJ);
	/* Rounds: every subject's head is runnable; each round completes one per subject. */
	for (int r = 0; r < PER; r++) {
		struct job *j;
		size_t n = 0;

		while ((j = dispatch_try_take(d)) != NULL) {
			int s = (int)(j->offset % NSUBJ);

			assert_int_equal(j->offset / NSUBJ, next_seq[s]);
			next_seq[s]++;
			dispatch_done(d, j, JOB_DONE);
			n++;
			/* done made the subject's next job runnable at the end of the queue */
			if (n == NSUBJ)
				break;
		}
		assert_int_equal(n, NSUBJ);
		taken += n;
		assert_int_equal(reap_all(d, NULL, JOB_DONE), NSUBJ);
	}
	assert_int_equal(taken, NSUBJ * PER);
	assert_int_equal(dispatch_inflight(d), 0);
	dispatch_table_size(d, &subjects, &buckets);
	assert_int_equal(subjects, 0);
	free(next_seq);
	dispatch_free(d);
}

/* The pool test: a runner checks each subject's invariants while jobs run. */
#define PT_SUBJECTS 200
#define PT_JOBS	    20000
#define PT_THREADS  16

struct checker {
	atomic_int running[PT_SUBJECTS]; /* jobs of the subject running now */
	atomic_long last[PT_SUBJECTS];	 /* last sequence number run */
	atomic_int now, peak;		 /* jobs running in all */
	atomic_int violations;
	atomic_int threads_made, threads_freed;
};

static struct checker chk;

static void *
runner_new(void *arg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	atomic_fetch_add(&chk.threads_made, 1);
	return arg;
}

static void
runner_free(void *t)
{
	(void)t;
	atomic_fetch_add(&chk.threads_freed, 1);
}

/* Offsets encode subject and sequence: offset = seq * PT_SUBJECTS + subject. */
static enum job_result
runner_run(void *t, struct job *j)
{
	int s = (int)(j->offset % PT_SUBJECTS);
	long seq = (long)(j->offset / PT_SUBJECTS);
	int now;

	(void)t;
	if (atomic_fetch_add(&chk.running[s], 1) != 0)
		atomic_fetch_add(&chk.violations, 1);
	if (atomic_load(&chk.last[s]) != seq - 1)
		atomic_fetch_add(&chk.violations, 1);
	now = atomic_fetch_add(&chk.now, 1) + 1;
	for (int p = atomic_load(&chk.peak); now > p;)
		if (atomic_compare_exchange_weak(&chk.peak, &p, now))
			break;
	if (j->offset % 7 == 0)
		usleep(200); /* some jobs take a while, so others overlap them */
	atomic_store(&chk.last[s], seq);
	atomic_fetch_sub(&chk.now, 1);
	atomic_fetch_sub(&chk.running[s], 1);
	return JOB_DONE;
}

static void
test_pool_threads_keep_subject_order(void **state)
{
	static const struct pool_ops ops = {runner_new, runner_free, runner_run};
	struct dispatch *d = dnew();
	struct pool *p;
	char key[32], err[256];
	size_t reaped = 0;

	(void)state;
	memset(&chk, 0, sizeof(chk));
	for (int s = 0; s < PT_SUBJECTS; s++)
		atomic_store(&chk.last[s], -1);
	p = pool_start(d, PT_THREADS, &ops, &chk, err, sizeof(err));
	assert_non_null(p);
	/* The consumer's part: submit while the pool runs, reap as it goes. */
	for (long i = 0; i < PT_JOBS; i++) {
		snprintf(key, sizeof(key), "s%ld", i % PT_SUBJECTS);
		submit(d, mkjob(key, (int32_t)(i % 4), i));
		if (i % 64 == 0)
			reaped += reap_all(d, NULL, JOB_DONE);
	}
	while (reaped < PT_JOBS) {
		if (!dispatch_wait_completed(d, 5000))
			fail_msg("no job completed within 5 s (%zu of %d reaped)", reaped, PT_JOBS);
		reaped += reap_all(d, NULL, JOB_DONE);
	}
	assert_int_equal(dispatch_inflight(d), 0);
	pool_stop(p);
	/* A runner state per job, each freed. */
	assert_int_equal(atomic_load(&chk.threads_made), PT_JOBS);
	assert_int_equal(atomic_load(&chk.threads_freed), PT_JOBS);
	assert_int_equal(atomic_load(&chk.violations), 0);
	for (int s = 0; s < PT_SUBJECTS; s++)
		assert_int_equal(atomic_load(&chk.last[s]), PT_JOBS / PT_SUBJECTS - 1);
	/* Different subjects did run at the same time; a job blocking its thread (usleep) holds
	 * its carrier, so never more than the carriers. */
	assert_in_range(atomic_load(&chk.peak), 2, PT_THREADS);
	dispatch_free(d);
}

static void *
failing_new(void *arg, char *err, size_t errlen)
{
	(void)arg;
	if (atomic_fetch_add(&chk.threads_made, 1) == 2) {
		snprintf(err, errlen, "no TM client");
		return NULL;
	}
	return &chk;
}

/* A job whose runner state cannot be made (the third) waits and is run once it can: none is
 * lost, and every state made is freed. */
static void
test_pool_state_failure_retried(void **state)
{
	static const struct pool_ops ops = {failing_new, runner_free, runner_run};
	struct dispatch *d = dnew();
	char key[32], err[256] = "";
	struct pool *p;
	size_t reaped = 0;

	(void)state;
	memset(&chk, 0, sizeof(chk));
	for (int s = 0; s < PT_SUBJECTS; s++)
		atomic_store(&chk.last[s], -1);
	p = pool_start(d, 2, &ops, NULL, err, sizeof(err));
	assert_non_null(p);
	for (long i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "s%ld", i % PT_SUBJECTS);
		submit(d, mkjob(key, 0, i));
	}
	while (reaped < 8) {
		if (!dispatch_wait_completed(d, 5000))
			fail_msg("no job completed within 5 s (%zu of 8 reaped)", reaped);
		reaped += reap_all(d, NULL, JOB_DONE);
	}
	pool_stop(p);
	assert_int_equal(atomic_load(&chk.threads_made), 9); /* 8 and the failed one */
	assert_int_equal(atomic_load(&chk.threads_freed), 8);
	assert_int_equal(atomic_load(&chk.violations), 0);
	pool_stop(NULL);
	dispatch_free(d);
}

/* Jobs that wait (fwait_sleep_ms: a fiber parks) do not hold their carrier: with 2 carriers,
 * every one of PT_PARKED jobs is waiting at once. */
#define PT_PARKED 200

static atomic_int parked_now, parked_peak;

static enum job_result
parking_run(void *t, struct job *j)
{
	int now = atomic_fetch_add(&parked_now, 1) + 1;

	(void)t;
	(void)j;
	for (int p = atomic_load(&parked_peak); now > p;)
		if (atomic_compare_exchange_weak(&parked_peak, &p, now))
			break;
	fwait_sleep_ms(300);
	atomic_fetch_sub(&parked_now, 1);
	return JOB_DONE;
}

static void
test_pool_parked_jobs_free_carriers(void **state)
{
	static const struct pool_ops ops = {runner_new, runner_free, parking_run};
	struct dispatch *d = dnew();
	char key[32], err[256];
	struct pool *p;
	size_t reaped = 0;

	(void)state;
	memset(&chk, 0, sizeof(chk));
	atomic_store(&parked_now, 0);
	atomic_store(&parked_peak, 0);
	p = pool_start(d, 2, &ops, &chk, err, sizeof(err));
	assert_non_null(p);
	for (long i = 0; i < PT_PARKED; i++) {
		snprintf(key, sizeof(key), "p%ld", i);
		submit(d, mkjob(key, 0, i));
	}
	while (reaped < PT_PARKED) {
		if (!dispatch_wait_completed(d, 5000))
			fail_msg("no job completed within 5 s (%zu of %d)", reaped, PT_PARKED);
		reaped += reap_all(d, NULL, JOB_DONE);
	}
	pool_stop(p);
	assert_int_equal(atomic_load(&parked_peak), PT_PARKED);
	dispatch_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_subject_in_order),
	    cmocka_unit_test(test_subject_reused_after_empty),
	    cmocka_unit_test(test_empty_key_is_unordered),
	    cmocka_unit_test(test_cancel_keeps_order_of_the_rest),
	    cmocka_unit_test(test_cancel_all_and_stop),
	    cmocka_unit_test(test_free_with_jobs_left),
	    cmocka_unit_test(test_low_water_callback),
	    cmocka_unit_test(test_waits_time_out),
	    cmocka_unit_test(test_many_subjects),
	    cmocka_unit_test(test_pool_threads_keep_subject_order),
	    cmocka_unit_test(test_pool_state_failure_retried),
	    cmocka_unit_test(test_pool_parked_jobs_free_carriers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
