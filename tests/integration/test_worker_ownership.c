/* Integration tests of DESIGN.md §3 "a worker that lost a partition makes no further TM call
 * for it": a job told to stop (here by a SIGTERM past the drain timeout, as a revoke past it
 * does) while it waits for the call slot makes no call; a worker stopped (SIGSTOP) past the session
 * timeout while one create is on the wire and another waits for the call slot; the group gives its
 * partitions to a second worker; woken (SIGCONT), it makes no TM call (tmsim's call log names the
 * calling process), and the answer it had in hand is recorded (tm_calls) although the new owner
 * parked that create. */
#include <setjmp.h>
#include <signal.h>
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

static struct wenv *E;

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Waits until tmsim has logged the create_account of company name (its call is on the wire). */
static void
create_wait(const char *name, int timeout_ms)
{
	long deadline = clock_now_ms() + timeout_ms;

	while (wenv_sim_calls(E, "create_account", "company_name", name) < 1 &&
	       clock_now_ms() < deadline)
		sleep_ms(20);
	wenv_assert(E, wenv_sim_calls(E, "create_account", "company_name", name) >= 1,
		    "tmsim saw no create_account of %s", name);
}

/* The highest sequence number in tmsim's call log (0: none). */
static long
sim_last_seq(void)
{
	json_t *calls = wenv_sim_list(E, NULL);
	long seq = 0;

	if (json_array_size(calls) > 0)
		seq = wcase_int(json_array_get(calls, json_array_size(calls) - 1), "seq");
	json_decref(calls);
	return seq;
}

/* tmsim's calls after seq made by process pid (its User-Agent names it). */
static long
sim_calls_by(pid_t pid, long after)
{
	json_t *calls = wenv_sim_list(E, NULL), *c;
	char tag[32];
	long n = 0;
	size_t i;

	snprintf(tag, sizeof(tag), "(pid %ld)", (long)pid);
	json_array_foreach(calls, i, c)
	{
		if (wcase_int(c, "seq") <= after || strstr(wcase_str(c, "agent"), tag) == NULL)
			continue;
		fprintf(stderr, "# call %ld after the stop: %s by %s\n", wcase_int(c, "seq"),
			wcase_str(c, "endpoint"), wcase_str(c, "agent"));
		n++;
	}
	json_decref(calls);
	return n;
}

/* own-a's audit rows that hold TM's answer (the company_uid it handed out). */
static long
kept_answers(void)
{
	return wenv_sql_long(E,
			     "SELECT count(*) FROM tm_calls WHERE command_id = 'own-a' AND "
			     "outcome = 'ok' AND reason LIKE '%company_uid%'",
			     NULL);
}

static void
send_create(const char *id, const char *subject, const char *name)
{
	wenv_send(E, id, "account.create", subject,
		  json_pack("{s:s, s:s, s:i, s:i}", "company_name", name, "email",
			    "ops@own.example", "rooms", 1, "participants", 5));
}

/* The stop a revoke or a shutdown sets past TMPROV_DRAIN_TIMEOUT (2 s here) reaches a job that
 * waits for the call slot: it calls nothing, and the next run creates the account once. */
static void
test_stopped_job_waiting_for_slot_calls_nothing(void **state)
{
	const char *ids[] = {"own-c", "own-d"};
	pid_t w1 = worker_pid(E->w);
	long before, late;
	int st;

	(void)state;
	wenv_sim_faults(E, "latency_ms=3000");
	send_create(ids[0], "own-sc", "own company c");
	wenv_flush(E);
	create_wait("own company c", 20000);
	send_create(ids[1], "own-sd", "own company d");
	wenv_flush(E);
	sleep_ms(500);
	before = sim_last_seq();
	assert_int_equal(worker_signal(E->w, SIGTERM), 0);
	st = worker_wait(E->w, WENV_STOP_MS, NULL);
	assert_int_equal(st, 0);
	late = sim_calls_by(w1, before);
	wenv_assert(E, late == 0, "a job told to stop made %ld TM call(s)", late);
	wenv_sim_faults(E, "latency_ms=0");
	wenv_worker_restart(E, E->w);
	assert_int_equal(wenv_wait_outcomes(E, ids, 2, 45000), 2);
	wenv_outcome(E, ids[0], "own-sc", "account.created");
	wenv_outcome(E, ids[1], "own-sd", "account.created");
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "own company d"), 1);
}

/* K3: SIGSTOP past the session timeout (6 s here), then SIGCONT. */
static void
test_stopped_worker_calls_nothing_after_waking(void **state)
{
	const char *ids[] = {"own-a", "own-b"};
	struct worker *w2 = NULL;
	pid_t w1 = worker_pid(E->w);
	long before, late, deadline;
	const json_t *ev;
	char err[512];

	(void)state;
	/* One call slot: own-a's create is on the wire for 2 s while own-b's waits for the
	 * slot. The client's timeout (60 s) outlasts the stop, so own-a's answer is read when
	 * the worker wakes: a curl timeout counts the stopped time too. */
	wenv_sim_faults(E, "latency_ms=2000");
	send_create(ids[0], "own-sa", "own company a");
	wenv_flush(E);
	create_wait("own company a", 20000);
	send_create(ids[1], "own-sb", "own company b");
	wenv_flush(E);
	sleep_ms(500);
	assert_int_equal(worker_signal(E->w, SIGSTOP), 0);
	before = sim_last_seq();
	/* The group drops the stopped worker (session timeout) and gives everything to w2. */
	assert_int_equal(wenv_worker_start(E, "second", NULL, &w2, err, sizeof(err)), 0);
	wenv_sim_faults(E, "latency_ms=0");
	/* Results in the database: their events wait for the outbox publisher, whose lock the
	 * stopped worker may hold. */
	deadline = clock_now_ms() + 45000;
	while (wenv_sql_long(
		   E,
		   "SELECT count(*) FROM commands WHERE id IN ('own-a', 'own-b') AND status NOT IN "
		   "('received', 'in_progress')",
		   NULL) < 2 &&
	       clock_now_ms() < deadline)
		sleep_ms(100);
	wenv_assert(E, clock_now_ms() < deadline, "the second worker did not take over");
	assert_int_equal(worker_signal(E->w, SIGCONT), 0);
	assert_int_equal(wenv_wait_outcomes(E, ids, 2, 45000), 2);
	ev = wenv_outcome(E, ids[0], "own-sa", "command.failed");
	assert_true(json_is_true(json_object_get(wcase_data(ev), "outcome_unknown")));
	/* The woken worker's create had its answer: it is kept, with the company_uid TM gave. */
	deadline = clock_now_ms() + 15000;
	while (kept_answers() < 1 && clock_now_ms() < deadline)
		sleep_ms(100);
	/* Time for anything the woken worker still had to call. */
	sleep_ms(3000);
	late = sim_calls_by(w1, before);
	fprintf(stderr, "# woken worker: %ld TM call(s) after its stop\n", late);
	wenv_assert(E, late == 0, "the worker dropped from the group made %ld TM call(s)", late);
	wenv_assert(E, kept_answers() == 1,
		    "the answer of own-a's create (in the woken worker's hand) was not recorded");
	/* own-b: created once, or parked without any call: never an account nothing records. */
	ev = wenv_outcome(E, ids[1], "own-sb", NULL);
	if (strcmp(wcase_str(ev, "type"), "account.created") == 0)
		assert_int_equal(
		    wenv_sim_calls(E, "create_account", "company_name", "own company b"), 1);
	else
		assert_int_equal(
		    wenv_sim_calls(E, "create_account", "company_name", "own company b"), 0);
	assert_int_equal(worker_stop(w2, WENV_STOP_MS, NULL), 0);
	worker_free(w2);
}

int
main(void)
{
	static const char *const extra[] = {"TMPROV_WORKER_CONCURRENCY=1", "TMPROV_TM_TIMEOUT=60s",
					    "TMPROV_DRAIN_TIMEOUT=2s", NULL};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stopped_job_waiting_for_slot_calls_nothing),
	    cmocka_unit_test(test_stopped_worker_calls_nothing_after_waking),
	};

	return wcase_run(&E, "wown", extra, tests, sizeof(tests) / sizeof(tests[0]));
}
