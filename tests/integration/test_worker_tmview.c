/* Integration tests of the worker's view of TM: the adaptive concurrency limit follows tmsim's
 * latency (calls in flight drop within seconds when it goes from 10 to 500 ms, and grow back
 * after), and `tmprov status --tm` shows the circuit breaker of a worker whose TM refuses
 * connections as open with its next probe, then closed, and a silent worker's row as stale. */
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

#include "../support/clirun.h"
#include "../support/wcase.h"
#include "../support/wenv.h"
#include "clock.h"

#define MAX_CONC 32
#define N_LOAD	 3000
#define SLOW_CAP 4 /* calls in flight the slow phase must come down to */
#define CLI_MS	 30000

static struct wenv *E;

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static double
metric(const char *name)
{
	double v = worker_metric(E->w, name, NULL);

	wenv_assert(E, v >= 0, "no /metrics");
	return v;
}

/* tmsim's calls that arrived in the last ms milliseconds. */
static long
calls_in_last(long ms)
{
	json_t *calls = wenv_sim_list(E, NULL), *c;
	long since = clock_now_ms() - ms, n = 0;
	size_t i;

	/* tmsim stamps arrivals with its CLOCK_MONOTONIC, the same clock as ours. */
	json_array_foreach(calls, i, c) n += wcase_int(c, "at_ms") >= since;
	json_decref(calls);
	return n;
}

static void
test_latency_shrinks_and_regrows_in_flight(void **state)
{
	static char ids[N_LOAD][48];
	const char *idp[N_LOAD];
	long t0, dropped_ms = -1, slow_calls, regrown_ms = -1;
	double limit = -1, in_flight = -1, peak_back = 0;

	(void)state;
	/* The limit starts at the configured maximum. */
	assert_true(metric("tmprov_tm_concurrency_limit") == MAX_CONC);
	wenv_sim_faults(E, "latency_ms=10");
	wcase_send_creates(E, "lat", N_LOAD, ids, idp);
	wenv_outbox_wait(E, "lat-%", 200, 30000);
	/* TM slows down 50-fold: within seconds the limit, and the calls in flight, come down. */
	wenv_sim_faults(E, "latency_ms=500");
	t0 = clock_now_ms();
	while (clock_now_ms() - t0 < 15000) {
		limit = metric("tmprov_tm_concurrency_limit");
		in_flight = metric("tmprov_tm_calls_in_flight");
		if (limit <= SLOW_CAP && in_flight <= SLOW_CAP) {
			dropped_ms = clock_now_ms() - t0;
			break;
		}
		sleep_ms(100);
	}
	wenv_assert(E, dropped_ms >= 0, "after 15 s of 500 ms answers: limit %.0f, %.0f in flight",
		    limit, in_flight);
	/* And they stay down while TM is slow: tmsim sees at most SLOW_CAP calls per half second
	 * (a generous margin over a full second), where the fixed limit sent it 32. */
	sleep_ms(2000);
	slow_calls = calls_in_last(1000);
	wenv_assert(E, slow_calls <= 2 * SLOW_CAP + 2, "%ld calls in the last slow second",
		    slow_calls);
	/* TM is fast again: the limit grows back. */
	wenv_sim_faults(E, "latency_ms=10");
	t0 = clock_now_ms();
	while (clock_now_ms() - t0 < 30000) {
		limit = metric("tmprov_tm_concurrency_limit");
		in_flight = metric("tmprov_tm_calls_in_flight");
		peak_back = in_flight > peak_back ? in_flight : peak_back;
		if (regrown_ms < 0 && limit >= MAX_CONC * 3 / 4)
			regrown_ms = clock_now_ms() - t0;
		if (regrown_ms >= 0 && peak_back > SLOW_CAP)
			break;
		sleep_ms(50);
	}
	fprintf(stderr,
		"# latency 10 -> 500 ms: limit %d -> <= %d in %ld ms (%ld calls in a slow "
		"second); back to 10 ms: limit >= %d in %ld ms, %.0f in flight seen\n",
		MAX_CONC, SLOW_CAP, dropped_ms, slow_calls, MAX_CONC * 3 / 4, regrown_ms,
		peak_back);
	wenv_assert(E, regrown_ms >= 0, "the limit did not grow back: %.0f", limit);
	wenv_assert(E, peak_back > SLOW_CAP, "calls in flight did not grow back: at most %.0f",
		    peak_back);
	assert_int_equal(wenv_wait_outcomes(E, idp, N_LOAD, 120000), N_LOAD);
	assert_int_equal(wenv_outcomes_of_type(E, "lat-c-", "account.created"), N_LOAD);
}

/* `tmprov status --tm` until its output holds needle (timeout_ms); the last output. */
static char *
status_tm_until(const char *needle, long timeout_ms)
{
	const char *argv[] = {"tmprov", "status", "--tm", NULL};
	long t0 = clock_now_ms();
	struct clirun r;
	char *out;

	for (;;) {
		clirun(&r, argv, (const char *const *)E->settings, CLI_MS);
		out = strdup(r.out ? r.out : "");
		clirun_free(&r);
		if (strstr(out, needle) != NULL || clock_now_ms() - t0 > timeout_ms)
			return out;
		free(out);
		sleep_ms(200);
	}
}

static char sim_listen[64], sim_partner_id[128];

static void
test_status_shows_breaker_open_then_closed(void **state)
{
	struct sim_opts so = {.listen = sim_listen, .partner = sim_partner_id};
	static const char *const open[] = {"state=\"open\"", NULL};
	char s[32], id[32], *out;

	(void)state;
	wenv_sim_faults(E, "latency_ms=0");
	out = status_tm_until("breaker     closed", 10000);
	wenv_assert(E, strstr(out, "breaker     closed") && strstr(out, " in flight, limit "),
		    "status --tm of a healthy worker:\n%s", out);
	free(out);
	/* TM refuses connections. */
	snprintf(sim_listen, sizeof(sim_listen), "127.0.0.1:%d", sim_port(E->sim));
	snprintf(sim_partner_id, sizeof(sim_partner_id), "%s", sim_partner(E->sim));
	assert_int_equal(sim_stop_status(E->sim), 0);
	E->sim = NULL;
	for (int i = 0; i < 6; i++) {
		snprintf(s, sizeof(s), "brk-%d", i);
		snprintf(id, sizeof(id), "brk-c-%d", i);
		wenv_send(E, id, "account.create", s,
			  wcase_account_data(s, "ops@brk.example", 1, 2));
	}
	wenv_flush(E);
	out = status_tm_until("next probe", 20000);
	wenv_assert(E,
		    strstr(out, "breaker     open  next probe ") != NULL ||
			strstr(out, "breaker     half-open  next probe ") != NULL,
		    "status --tm of a worker whose TM refuses:\n%s", out);
	wenv_assert(E, strstr(out, "    failed    ") && strstr(out, "not_sent"),
		    "no failures shown:\n%s", out);
	fprintf(stderr, "# status --tm while TM refuses:\n%s", out);
	free(out);
	assert_true(worker_metric(E->w, "tmprov_tm_breaker_state", open) >= 0);
	/* TM is back: the probe closes the breaker. */
	assert_int_equal(sim_start_opts(&E->sim, &so), 0);
	out = status_tm_until("breaker     closed", 20000);
	wenv_assert(E, strstr(out, "breaker     closed") && !strstr(out, "next probe"),
		    "status --tm after TM came back:\n%s", out);
	free(out);
	for (int i = 0; i < 6; i++) {
		snprintf(s, sizeof(s), "brk-%d", i);
		snprintf(id, sizeof(id), "brk-c-%d", i);
		wenv_outcome(E, id, s, "account.created");
	}
}

static void
test_status_marks_a_silent_worker_stale(void **state)
{
	char *out;

	(void)state;
	free(wenv_sql(E,
		      "INSERT INTO tm_worker_state (worker, grp, breaker, concurrency_limit,"
		      " in_flight, rate_per_s, updated_at) VALUES ('gone:1', 'g', 'open', 1, 0,"
		      " 20, now() - interval '1 minute') RETURNING worker",
		      NULL));
	out = status_tm_until("gone:1", 5000);
	wenv_assert(E, strstr(out, "worker        gone:1 (group g)  STALE") != NULL,
		    "the silent worker is not shown stale:\n%s", out);
	/* The running worker is not. */
	wenv_assert(E, clirun_lines(out, "worker        ") == 2 && clirun_lines(out, "STALE") == 1,
		    "%s", out);
	free(out);
}

int
main(void)
{
	static const char *const extra[] = {"TMPROV_WORKER_CONCURRENCY=32", "TMPROV_TM_TIMEOUT=5s",
					    NULL};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_latency_shrinks_and_regrows_in_flight),
	    cmocka_unit_test(test_status_shows_breaker_open_then_closed),
	    cmocka_unit_test(test_status_marks_a_silent_worker_stale),
	};

	return wcase_run(&E, "wtmview", extra, tests, sizeof(tests) / sizeof(tests[0]));
}
