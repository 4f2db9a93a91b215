/* Integration tests of TMPROV_TM_RATE: two workers of one group share the group's bucket, so
 * tmsim's call log never shows more calls in a second than the rate plus the documented burst
 * (common/tmrate.h), and every command still completes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/wcase.h"
#include "../support/wenv.h"
#include "clock.h"
#include "tmrate.h"
#include "../../workers/worker/tmgate.h"

#define RATE	 100
#define WORKERS	 2
#define SUBJECTS 1000 /* ten seconds at the rate, both workers assigned */
#define RATE_ENV "TMPROV_TM_RATE=100"
#define ASSIGNED "consumer: assigned"

static struct wenv *E;

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* The most calls of tmsim's log that arrived within any one second; *span_ms gets the time
 * from the first call to the last. */
static long
max_calls_per_second(long *span_ms)
{
	json_t *calls = wenv_sim_list(E, NULL), *c;
	size_t n = json_array_size(calls), i, lo = 0;
	long *at = calloc(n ? n : 1, sizeof(*at)), best = 0;

	assert_non_null(at);
	json_array_foreach(calls, i, c) at[i] = wcase_int(c, "at_ms");
	qsort(at, n, sizeof(*at), cmp_long);
	/* A window starting at each call's arrival: the calls within [at[lo], at[lo] + 1000). */
	for (i = 0; i < n; i++) {
		while (at[i] - at[lo] >= 1000)
			lo++;
		if ((long)(i - lo + 1) > best)
			best = (long)(i - lo + 1);
	}
	*span_ms = n > 0 ? at[n - 1] - at[0] : 0;
	free(at);
	json_decref(calls);
	return best;
}

static void
test_group_rate_holds_with_two_workers(void **state)
{
	static char ids[SUBJECTS][48];
	const char *idp[SUBJECTS];
	struct worker *w2 = NULL;
	char err[512];
	long peak, span, before, bound = tmrate_call_bound(RATE, 0, WORKERS, TMGATE_TOKEN_FRESH_MS);
	double d1, d2;

	(void)state;
	before = worker_log_count(E->w, ASSIGNED);
	assert_int_equal(wenv_worker_start(E, "second", NULL, &w2, err, sizeof(err)), 0);
	/* The rebalance the second worker's join starts ends before the load: the mock holds a
	 * rebalance for the session timeout less a second, a stall that is the broker's, not the
	 * rate's (it cost a run a fifth of its calls per second). */
	for (long until = clock_now_ms() + 30000;
	     (worker_log_count(E->w, ASSIGNED) == before || worker_log_count(w2, ASSIGNED) == 0) &&
	     clock_now_ms() < until;) {
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	wenv_assert(E,
		    worker_log_count(E->w, ASSIGNED) > before && worker_log_count(w2, ASSIGNED) > 0,
		    "the group did not settle after the second worker joined");
	assert_int_equal(sim_reset(E->sim), 0);
	wcase_send_creates(E, "rate", SUBJECTS, ids, idp);
	/* Every command completes: ten seconds at the rate, with a generous margin. */
	assert_int_equal(wenv_wait_outcomes(E, idp, SUBJECTS, 90000), SUBJECTS);
	assert_int_equal(wenv_outcomes_of_type(E, "rate-c-", "account.created"), SUBJECTS);
	d1 = worker_metric(E->w, "tmprov_commands_total", NULL);
	d2 = worker_metric(w2, "tmprov_commands_total", NULL);
	peak = max_calls_per_second(&span);

	fprintf(stderr, "# worker side: at most %ld calls started in a second\n",
		wenv_sql_long(E,
			      "SELECT max((SELECT count(*) FROM tm_calls b WHERE b.started_at >= "
			      "a.started_at AND b.started_at < a.started_at + interval '1 second'))"
			      " FROM tm_calls a",
			      NULL));
	fprintf(stderr,
		"# %d creates, 2 workers (%.0f and %.0f commands) at TMPROV_TM_RATE=%d: at most "
		"%ld calls in a second (bound %ld), %.1f calls/s over %ld ms\n",
		SUBJECTS, d1, d2, RATE, peak, bound, span > 0 ? SUBJECTS * 1000.0 / span : 0, span);
	wenv_assert(E, peak <= bound, "%ld calls in one second, more than %ld", peak, bound);
	/* The limit is a rate, not a stall: the group used most of it. */
	wenv_assert(E, span > 0 && SUBJECTS * 1000.0 / span >= 0.8 * RATE, "only %.1f calls/s",
		    SUBJECTS * 1000.0 / span);
	/* Both workers took part (the waits they report are the rate's). */
	wenv_assert(E, d1 > 0 && d2 > 0, "not both workers worked: %.0f and %.0f", d1, d2);
	wenv_assert(E, worker_metric(E->w, "tmprov_tm_rate_waits_total", NULL) > 0,
		    "the first worker never waited for a token");
	assert_int_equal(worker_stop(w2, WENV_STOP_MS, NULL), 0);
	worker_free(w2);
}

int
main(void)
{
	static const char *const extra[] = {RATE_ENV, NULL};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group_rate_holds_with_two_workers),
	};

	return wcase_run(&E, "wrate", extra, tests, sizeof(tests) / sizeof(tests[0]));
}
