/* Integration test of "a stopped job records the TM answers it has in hand": creates on the wire
 * to a slow tmsim when a SIGTERM's drain timeout stops every job, one database connection for
 * all of them; none of them is parked as an unknown outcome after the restart. */
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

/* Every create is on the wire (2.5 s each) when the drain timeout (1 s) stops the jobs; their
 * answers come back to a stopped job, all at once, with one database connection to write them.
 * Each answer is recorded: after a restart every create is account.created, none parked, and
 * TM was asked once per company. */
static void
test_stopped_jobs_record_answers(void **state)
{
	char ids[ANS_CREATES][32], subject[32], name[64], email[64];
	const char *idp[ANS_CREATES];
	long on_wire;
	int st;

	(void)state;
	wenv_sim_faults(E, "latency_ms=2500");
	for (int i = 0; i < ANS_CREATES; i++) {
		snprintf(ids[i], sizeof(ids[i]), "ans-c%02d", i);
		snprintf(subject, sizeof(subject), "ans-s%02d", i);
		snprintf(name, sizeof(name), "ans company %02d", i);
		snprintf(email, sizeof(email), "ops@ans%02d.example", i);
		idp[i] = ids[i];
		wenv_send(E, ids[i], "account.create", subject,
			  json_pack("{s:s, s:s, s:i, s:i}", "company_name", name, "email", email,
				    "rooms", 1, "participants", 5));
	}
	wenv_flush(E);
	on_wire = creates_wait(ANS_CREATES, 20000);
	wenv_assert(E, on_wire == ANS_CREATES, "only %ld of %d creates reached tmsim", on_wire,
		    ANS_CREATES);
	assert_int_equal(worker_signal(E->w, SIGTERM), 0);
	st = worker_wait(E->w, WENV_STOP_MS, NULL);
	assert_int_equal(st, 0);
	wenv_sim_faults(E, "latency_ms=0");
	wenv_worker_restart(E, E->w);
	assert_int_equal(wenv_wait_outcomes(E, idp, ANS_CREATES, 45000), ANS_CREATES);
	fprintf(stderr, "# %zu of %d creates parked after the stop\n",
		wenv_outcomes_of_type(E, "ans-", "command.failed"), ANS_CREATES);
	assert_int_equal(wenv_outcomes_of_type(E, "ans-", "command.failed"), 0);
	assert_int_equal(wenv_outcomes_of_type(E, "ans-", "account.created"), ANS_CREATES);
	assert_int_equal(creates_seen(), ANS_CREATES);
}

int
main(void)
{
	static const char *const extra[] = {"TMPROV_DB_POOL=1", "TMPROV_TM_TIMEOUT=30s",
					    "TMPROV_DRAIN_TIMEOUT=1s", NULL};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stopped_jobs_record_answers),
	};

	return wcase_run(&E, "wans", extra, tests, sizeof(tests) / sizeof(tests[0]));
}
