/* Integration tests of "a stopped job records the TM answers it has in hand": creates on the wire
 * to a slow tmsim when every job is stopped (a SIGTERM's drain timeout; a stalled loop's fence),
 * one database connection for all of them; none is parked as an unknown outcome afterwards. */
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

#define ANS_CREATES 24

static struct wenv *E;

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* tmsim's create_account calls so far (logged as they arrive). */
static long
creates_seen(void)
{
	json_t *calls = wenv_sim_list(E, "create_account");
	long n = (long)json_array_size(calls);

	json_decref(calls);
	return n;
}

/* Waits until tmsim has seen n create_account calls (they are on the wire). */
static long
creates_wait(long n, int timeout_ms)
{
	long deadline = clock_now_ms() + timeout_ms, have;

	for (;;) {
		have = creates_seen();
		if (have >= n || clock_now_ms() >= deadline)
			return have;
		sleep_ms(20);
	}
}

/* Sends ANS_CREATES creates PREFIX-c<i> for subjects PREFIX-s<i> and waits until all are on the
 * wire to tmsim (latency set by the caller); returns tmsim's create count before them. */
static long
creates_send(const char *prefix, char (*ids)[32], const char **idp)
{
	char subject[32], name[64], email[64];
	long before = creates_seen(), on_wire;

	for (int i = 0; i < ANS_CREATES; i++) {
		snprintf(ids[i], 32, "%s-c%02d", prefix, i);
		snprintf(subject, sizeof(subject), "%s-s%02d", prefix, i);
		snprintf(name, sizeof(name), "%s company %02d", prefix, i);
		snprintf(email, sizeof(email), "ops@%s%02d.example", prefix, i);
		idp[i] = ids[i];
		wenv_send(E, ids[i], "account.create", subject,
			  json_pack("{s:s, s:s, s:i, s:i}", "company_name", name, "email", email,
				    "rooms", 1, "participants", 5));
	}
	wenv_flush(E);
	on_wire = creates_wait(before + ANS_CREATES, 20000) - before;
	wenv_assert(E, on_wire == ANS_CREATES, "only %ld of %d creates reached tmsim", on_wire,
		    ANS_CREATES);
	return before;
}

/* Every create of prefix has its outcome: account.created, none parked, TM asked once each. */
static void
creates_check(const char *prefix, const char **idp, long before)
{
	char like[32];

	snprintf(like, sizeof(like), "%s-", prefix);
	assert_int_equal(wenv_wait_outcomes(E, idp, ANS_CREATES, 45000), ANS_CREATES);
	fprintf(stderr, "# %s: %zu of %d creates parked after the stop\n", prefix,
		wenv_outcomes_of_type(E, like, "command.failed"), ANS_CREATES);
	assert_int_equal(wenv_outcomes_of_type(E, like, "command.failed"), 0);
	assert_int_equal(wenv_outcomes_of_type(E, like, "account.created"), ANS_CREATES);
	assert_int_equal(creates_seen() - before, ANS_CREATES);
}

/* Every create is on the wire (2.5 s each) when the drain timeout (1 s) stops the jobs; their
 * answers come back to a stopped job, all at once, with one database connection to write them.
 * Each answer is recorded: after a restart every create is account.created, none parked, and
 * TM was asked once per company. */
static void
test_stopped_jobs_record_answers(void **state)
{
	char ids[ANS_CREATES][32];
	const char *idp[ANS_CREATES];
	long before;

	(void)state;
	wenv_sim_faults(E, "latency_ms=2500");
	before = creates_send("ans", ids, idp);
	assert_int_equal(worker_signal(E->w, SIGTERM), 0);
	assert_int_equal(worker_wait(E->w, WENV_STOP_MS, NULL), 0);
	wenv_sim_faults(E, "latency_ms=0");
	wenv_worker_restart(E, E->w);
	creates_check("ans", idp, before);
}

/* A loop stalled past its lease (half the session timeout, 3 s): here the process is stopped
 * 4.5 s while every create is on the wire (6.5 s each). Woken, the loop fences (stops every
 * job); the answers come back to the stopped jobs, which write them through one connection
 * before the fence's end reads the partitions again. No create is parked. */
static void
test_fenced_jobs_record_answers(void **state)
{
	char ids[ANS_CREATES][32];
	const char *idp[ANS_CREATES];
	long before;

	(void)state;
	wenv_sim_faults(E, "latency_ms=6500");
	before = creates_send("ansf", ids, idp);
	assert_int_equal(worker_signal(E->w, SIGSTOP), 0);
	sleep_ms(4500);
	assert_int_equal(worker_signal(E->w, SIGCONT), 0);
	wenv_sim_faults(E, "latency_ms=0");
	creates_check("ansf", idp, before);
}

int
main(void)
{
	static const char *const extra[] = {"TMPROV_DB_POOL=1", "TMPROV_TM_TIMEOUT=30s",
					    "TMPROV_DRAIN_TIMEOUT=1s", NULL};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stopped_jobs_record_answers),
	    cmocka_unit_test(test_fenced_jobs_record_answers),
	};

	return wcase_run(&E, "wans", extra, tests, sizeof(tests) / sizeof(tests[0]));
}
