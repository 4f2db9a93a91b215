/* Tests for workers/worker/group: every request run exactly once whatever the number of callers,
 * the callers queued while a group runs taken together by the next leader (never more than
 * GROUP_MAX), a caller still queued withdrawn by its stop and never run, one taken into a group
 * waiting for it however its stop changes. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../workers/worker/group.h"

struct item {
	atomic_int runs; /* times run */
	atomic_bool stop;
	int rc;
};

struct world {
	struct group *g;
	atomic_int groups;    /* groups run */
	atomic_int largest;   /* largest group */
	atomic_int in_run;    /* leaders running now: at most 1 */
	atomic_int overlap;   /* times two ran at once */
	long run_ms;	      /* how long a group takes */
	atomic_bool hold;     /* while set, a running group waits */
	atomic_int running_n; /* the size of the group running now */
};

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
run(void *ctx, struct group_req **batch, size_t n)
{
	struct world *w = ctx;

	if (atomic_fetch_add(&w->in_run, 1) != 0)
		atomic_fetch_add(&w->overlap, 1);
	atomic_store(&w->running_n, (int)n);
	assert_true(n >= 1 && n <= GROUP_MAX);
	for (size_t i = 0; i < n; i++)
		atomic_fetch_add(&((struct item *)group_req_arg(batch[i]))->runs, 1);
	while (atomic_load(&w->hold))
		sleep_ms(1);
	if (w->run_ms > 0)
		sleep_ms(w->run_ms);
	if ((int)n > atomic_load(&w->largest))
		atomic_store(&w->largest, (int)n);
	atomic_fetch_add(&w->groups, 1);
	atomic_store(&w->running_n, 0);
	atomic_fetch_sub(&w->in_run, 1);
}

struct caller {
	struct world *w;
	struct item *items;
	int n;
};

static void *
caller_run(void *arg)
{
	struct caller *c = arg;

	for (int i = 0; i < c->n; i++) {
		struct stop_grace sg = {.stop = &c->items[i].stop, .grace_ms = 0, .seen_ms = -1};

		c->items[i].rc = group_join(c->w->g, &c->items[i], &sg);
	}
	return NULL;
}

enum { NTHREADS = 300, PER = 5 };

/* More callers than GROUP_MAX, slow groups: each request once, no two groups at once, groups
 * of several. */
static void
test_each_once(void **state)
{
	static struct item items[NTHREADS][PER];
	static struct caller c[NTHREADS];
	static pthread_t th[NTHREADS];
	struct world w = {.run_ms = 2};

	(void)state;
	memset(items, 0, sizeof(items));
	w.g = group_new(run, &w, &(struct group_metrics){.m = NULL});
	assert_non_null(w.g);
	for (int i = 0; i < NTHREADS; i++) {
		c[i] = (struct caller){&w, items[i], PER};
		assert_int_equal(pthread_create(&th[i], NULL, caller_run, &c[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < NTHREADS; i++)
		for (int k = 0; k < PER; k++) {
			assert_int_equal(atomic_load(&items[i][k].runs), 1);
			assert_int_equal(items[i][k].rc, 0);
		}
	assert_int_equal(atomic_load(&w.overlap), 0);
	assert_true(atomic_load(&w.groups) < NTHREADS * PER);
	assert_true(atomic_load(&w.largest) > 1);
	group_free(w.g);
}

/* Waits (up to 10 s) until the group running now has n requests. */
static void
wait_for(struct world *w, int n)
{
	for (int i = 0; i < 10000 && atomic_load(&w->running_n) != n; i++)
		sleep_ms(1);
	assert_int_equal(atomic_load(&w->running_n), n);
}

/* A caller queued behind a running group gives up on its stop and is never run; the one in the
 * running group waits for it, stop or not. */
static void
test_stop(void **state)
{
	struct world w = {.run_ms = 0};
	struct item a = {0}, b = {0}, d = {0};
	struct caller ca = {&w, &a, 1}, cb = {&w, &b, 1}, cd = {&w, &d, 1};
	pthread_t ta, tb, td;

	(void)state;
	w.g = group_new(run, &w, &(struct group_metrics){.m = NULL});
	assert_non_null(w.g);
	atomic_store(&w.hold, true);
	assert_int_equal(pthread_create(&ta, NULL, caller_run, &ca), 0);
	wait_for(&w, 1); /* a leads a group of itself, held */
	assert_int_equal(pthread_create(&tb, NULL, caller_run, &cb), 0);
	assert_int_equal(pthread_create(&td, NULL, caller_run, &cd), 0);
	atomic_store(&a.stop, true); /* taken: no effect */
	atomic_store(&b.stop, true); /* queued: withdrawn */
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_int_equal(b.rc, -1);
	atomic_store(&w.hold, false);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(td, NULL), 0);
	assert_int_equal(a.rc, 0);
	assert_int_equal(atomic_load(&a.runs), 1);
	assert_int_equal(atomic_load(&b.runs), 0);
	assert_int_equal(d.rc, 0); /* led after b withdrew */
	assert_int_equal(atomic_load(&d.runs), 1);
	group_free(w.g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_once),
	    cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
