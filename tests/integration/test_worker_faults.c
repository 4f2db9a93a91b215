/* Integration tests of tmprov-worker against a misbehaving TM (tmsim faults): a business
 * FAILED, a burst of 5xx, Retry-After, a timeout on create_account (parked as an unknown
 * outcome, never repeated), a timeout on update_account (repeated), a dropped connection on
 * remote_schedule (repeated, marked possible_duplicate), the retry budget running out, and a
 * TM outage that pauses the worker instead of failing the backlog. */
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

#include "../support/cmdjson.h"
#include "../support/wcase.h"
#include "../support/wenv.h"

/* tmsim holds a "timeout" answer this long; the worker's TMPROV_TM_TIMEOUT is 1 s. */
#define HOLD_MS "3000"

static struct wenv *E;
/* Few attempts, and TM down only after 20 failures in a row. */
static const char *const SETTINGS[] = {"TMPROV_RETRY_BUDGET=5", "TMPROV_TM_PAUSE_AFTER=20", NULL};

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static long
audit_rows(const char *id, const char *outcome)
{
	if (outcome == NULL)
		return wenv_sql_long(E, "SELECT count(*) FROM tm_calls WHERE command_id = $1", id,
				     NULL);
	return wenv_sql_long(E,
			     "SELECT count(*) FROM tm_calls WHERE command_id = $1 AND outcome = $2",
			     id, outcome, NULL);
}

/* Each test leaves tmsim without faults, whatever it set. */
static int
faults_clear(void **state)
{
	(void)state;
	return sim_faults(E->sim, "reset=1");
}

/* ---- TM says FAILED ---- */

static void
test_tm_failed(void **state)
{
	const char *s = "f-failed";
	const json_t *ev, *d;

	(void)state;
	wenv_sim_faults(E, "fail_company=Refused%20Co");
	ev = wcase_run1(E, "failed-1", "account.create", s,
			wcase_account_data("Refused Co", "r@failed.example", 1, 1),
			"command.failed");
	d = wcase_data(ev);
	assert_string_equal(wcase_str(d, "command_type"), "account.create");
	assert_true(json_is_false(json_object_get(d, "retryable")));
	assert_string_equal(wcase_str(d, "tm_status"), "FAILED");
	assert_true(strlen(wcase_str(d, "reason")) > 0);
	assert_int_equal(wcase_int(d, "attempts"), 1);
	assert_false(json_is_true(json_object_get(d, "outcome_unknown")));
	/* A business failure is not retried. */
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Refused Co"), 1);
	assert_int_equal(audit_rows("failed-1", "failed"), 1);
	assert_int_equal(audit_rows("failed-1", NULL), 1);
	wcase_expect_status(E, "failed-1", "failed");
	assert_int_equal(
	    wenv_sql_long(E, "SELECT count(*) FROM accounts WHERE subject = $1", s, NULL), 0);
}

/* ---- a burst of 5xx ---- */

static void
test_5xx_burst(void **state)
{
	const char *s = "f-burst";
	const json_t *ev;

	(void)state;
	/* 503 says TM did not act, so even create_account may be repeated. */
	wenv_sim_faults(E, "only=create_account&error_next=3&error_status=503");
	ev = wcase_run1(E, "burst-1", "account.create", s,
			wcase_account_data("Burst Co", "b@burst.example", 1, 2), "account.created");
	assert_true(strlen(wcase_str(wcase_data(ev), "company_uid")) > 0);
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Burst Co"), 4);
	/* One audit row per attempt: three transient, one ok; and the command counts four. */
	assert_int_equal(audit_rows("burst-1", "transient"), 3);
	assert_int_equal(audit_rows("burst-1", "ok"), 1);
	assert_int_equal(
	    wenv_sql_long(E, "SELECT attempts FROM commands WHERE id = 'burst-1'", NULL), 4);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM tm_calls WHERE command_id = "
				       "'burst-1' AND http_status = 503",
				       NULL),
			 3);
	wcase_expect_status(E, "burst-1", "succeeded");
}

/* ---- Retry-After ---- */

static void
test_retry_after(void **state)
{
	const char *s = "f-retry-after";
	char *uid, *gap;

	(void)state;
	uid = wcase_account_new(E, s);
	wenv_sim_faults(E, "only=update_account&error_next=1&error_status=429&retry_after=2");
	wcase_run1(E, "ra-1", "account.update", s, json_pack("{s:i}", "rooms", 3),
		   "account.updated");
	assert_int_equal(wenv_sim_calls(E, "update_account", "company_uid", uid), 2);
	assert_int_equal(audit_rows("ra-1", NULL), 2);
	/* The second attempt waited for TM's Retry-After (2 s), far above the 50 ms backoff. */
	gap = wenv_sql(E,
		       "SELECT (max(started_at) - min(started_at)) >= interval '1900 ms' FROM "
		       "tm_calls WHERE command_id = 'ra-1'",
		       NULL);
	assert_string_equal(gap, "t");
	free(gap);
	free(uid);
}

/* ---- timeout on create_account: parked ---- */

static void
test_timeout_create_parked(void **state)
{
	const char *s = "f-tcreate";
	char *body;
	struct kdelivery d;
	const json_t *ev, *dd;
	const struct kmsg *m;

	(void)state;
	wenv_sim_faults(E, "only=create_account&timeout_next=1&timeout_ms=" HOLD_MS);
	body = cmdjson_text("tcreate-1", "account.create", s,
			    wcase_account_data("Maybe Co", "m@tcreate.example", 1, 3));
	wenv_send_raw(E, s, body, strlen(body), &d);
	wenv_flush(E);
	ev = wenv_outcome(E, "tcreate-1", s, "command.failed");
	dd = wcase_data(ev);
	assert_string_equal(wcase_str(dd, "command_type"), "account.create");
	assert_true(json_is_true(json_object_get(dd, "outcome_unknown")));
	assert_true(json_is_true(json_object_get(dd, "retryable")));
	/* An operator finds the original on the DLQ, byte for byte. */
	m = wenv_dlq_wait(E, &d, 10000);
	wenv_assert(E, m != NULL, "no DLQ copy of the parked create");
	assert_string_equal(wcase_str(m->headers, "tmprov.reason"), "outcome_unknown");
	assert_int_equal(m->len, strlen(body));
	assert_memory_equal(m->value, body, m->len);
	wcase_expect_status(E, "tcreate-1", "unknown_outcome");
	assert_int_equal(
	    wenv_sql_long(E, "SELECT count(*) FROM accounts WHERE subject = $1", s, NULL), 0);
	assert_int_equal(audit_rows("tcreate-1", "ambiguous"), 1);
	/* TM did create it (the answer was only held), but it is never asked twice. */
	sleep_ms(1500);
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Maybe Co"), 1);
	free(body);
}

/* ---- timeout on update_account: repeated ---- */

static void
test_timeout_update_retried(void **state)
{
	const char *s = "f-tupdate";
	char *uid;
	const json_t *ev;

	(void)state;
	uid = wcase_account_new(E, s);
	wenv_sim_faults(E, "only=update_account&timeout_next=1&timeout_ms=" HOLD_MS);
	ev = wcase_run1(E, "tupdate-1", "account.update", s, json_pack("{s:i}", "participants", 77),
			"account.updated");
	assert_int_equal(wcase_int(wcase_data(ev), "participants"), 77);
	assert_int_equal(wenv_sim_calls(E, "update_account", "company_uid", uid), 2);
	assert_int_equal(audit_rows("tupdate-1", "ambiguous"), 1);
	assert_int_equal(audit_rows("tupdate-1", "ok"), 1);
	assert_int_equal(
	    wenv_sql_long(E, "SELECT participants FROM accounts WHERE subject = $1", s, NULL), 77);
	free(uid);
}

/* ---- dropped connection on remote_schedule: repeated, possible duplicate ---- */

static void
test_drop_schedule(void **state)
{
	const char *s = "f-drop";
	char *uid, *v;
	const json_t *ev, *d;

	(void)state;
	uid = wcase_account_new(E, s);
	wcase_user_new(E, s, "dh", "drop password");
	wenv_sim_faults(E, "only=remote_schedule&drop_next=1");
	ev = wcase_run1(E, "drop-1", "meeting.schedule", s,
			json_pack("{s:s, s:s, s:s}", "user_id", "dh", "topic", "Dropped",
				  "start_time", "2032-02-03T04:05:06Z"),
			"meeting.scheduled");
	d = wcase_data(ev);
	assert_true(json_is_true(json_object_get(d, "possible_duplicate")));
	assert_int_equal(wenv_sim_calls(E, "remote_schedule", "company_uid", uid), 2);
	assert_int_equal(audit_rows("drop-1", "ambiguous"), 1);
	assert_int_equal(audit_rows("drop-1", "ok"), 1);
	v = wenv_sql(E, "SELECT possible_duplicate::text FROM meetings WHERE meeting_id = $1",
		     wcase_str(d, "meeting_id"), NULL);
	assert_non_null(v);
	assert_string_equal(v, "true");
	free(v);
	free(uid);
}

/* Sends meeting.schedule id for user of subject s (body in *body, delivery in *d) and returns
 * the data of its command.failed, checked to be a meeting.schedule's with outcome_unknown. */
static const json_t *
schedule_failed_unknown(const char *id, const char *s, const char *user, const char *topic,
			char **body, struct kdelivery *d)
{
	const json_t *dd;

	*body = cmdjson_text(id, "meeting.schedule", s,
			     json_pack("{s:s, s:s, s:s}", "user_id", user, "topic", topic,
				       "start_time", "2032-02-03T04:05:06Z"));
	wenv_send_raw(E, s, *body, strlen(*body), d);
	wenv_flush(E);
	dd = wcase_data(wenv_outcome(E, id, s, "command.failed"));
	assert_string_equal(wcase_str(dd, "command_type"), "meeting.schedule");
	assert_true(json_is_true(json_object_get(dd, "outcome_unknown")));
	return dd;
}

/* ---- every attempt of remote_schedule dropped: out of attempts, and TM may have acted ---- */

static void
test_drop_schedule_exhausted(void **state)
{
	const char *s = "f-drop-all";
	char *uid, *body;
	struct kdelivery d;
	const json_t *dd;
	const struct kmsg *m;
	const char *reason;

	(void)state;
	uid = wcase_account_new(E, s);
	wcase_user_new(E, s, "da", "drop all password");
	/* As many drops as attempts (TMPROV_RETRY_BUDGET=5): each may have made a meeting. */
	wenv_sim_faults(E, "only=remote_schedule&drop_next=5");
	dd = schedule_failed_unknown("drop-all-1", s, "da", "All dropped", &body, &d);
	assert_true(json_is_true(json_object_get(dd, "retryable")));
	assert_int_equal(wcase_int(dd, "attempts"), 5);
	reason = wcase_str(dd, "reason");
	wenv_assert(E,
		    strncmp(reason, "TM may have acted", 17) == 0 && strstr(reason, "5 attempts"),
		    "reason: %s", reason);
	assert_int_equal(wenv_sim_calls(E, "remote_schedule", "company_uid", uid), 5);
	assert_int_equal(audit_rows("drop-all-1", "ambiguous"), 5);
	m = wenv_dlq_wait(E, &d, 10000);
	wenv_assert(E, m != NULL, "no DLQ copy of the schedule that ran out of attempts");
	assert_string_equal(wcase_str(m->headers, "tmprov.reason"), "retry_budget_exhausted");
	wcase_expect_status(E, "drop-all-1", "failed");
	assert_int_equal(
	    wenv_sql_long(E, "SELECT count(*) FROM meetings WHERE subject = $1", s, NULL), 0);
	free(body);
	free(uid);
}

/* ---- retry budget ---- */

static void
test_retry_budget_exhausted(void **state)
{
	const char *s = "f-budget";
	char *uid, *body;
	struct kdelivery d;
	const json_t *ev, *dd;
	const struct kmsg *m;

	(void)state;
	uid = wcase_account_new(E, s);
	/* More 503s than the budget (TMPROV_RETRY_BUDGET=5 here); TM stays "up" because one
	 * command's failures stay under TMPROV_TM_PAUSE_AFTER. */
	wenv_sim_faults(E, "only=update_account&error_next=7&error_status=503");
	body = cmdjson_text("budget-1", "account.update", s, json_pack("{s:i}", "rooms", 9));
	wenv_send_raw(E, s, body, strlen(body), &d);
	wenv_flush(E);
	ev = wenv_outcome(E, "budget-1", s, "command.failed");
	dd = wcase_data(ev);
	assert_string_equal(wcase_str(dd, "command_type"), "account.update");
	assert_true(json_is_true(json_object_get(dd, "retryable")));
	assert_int_equal(wcase_int(dd, "attempts"), 5);
	/* A repeated update does no harm: nothing about it is unknown. */
	assert_null(json_object_get(dd, "outcome_unknown"));
	assert_int_equal(wenv_sim_calls(E, "update_account", "company_uid", uid), 5);
	assert_int_equal(audit_rows("budget-1", "transient"), 5);
	m = wenv_dlq_wait(E, &d, 10000);
	wenv_assert(E, m != NULL, "no DLQ copy of the command that ran out of retries");
	assert_string_equal(wcase_str(m->headers, "tmprov.reason"), "retry_budget_exhausted");
	assert_int_equal(m->len, strlen(body));
	assert_memory_equal(m->value, body, m->len);
	wcase_expect_status(E, "budget-1", "failed");
	/* Our record was not changed. */
	assert_int_equal(wenv_sql_long(E, "SELECT rooms FROM accounts WHERE subject = $1", s, NULL),
			 2);
	free(body);
	free(uid);
}

/* ---- a TM outage ---- */

#define N_OUTAGE 40

static void
test_tm_outage(void **state)
{
	static char ids[N_OUTAGE][32];
	const char *idp[N_OUTAGE];
	char s[32], name[64], email[64];
	long calls_before, calls_during;

	(void)state;
	/* Longer than the whole retry budget (5 attempts at 50..500 ms) would last. */
	wenv_sim_faults(E, "error_rate=1&error_status=503");
	calls_before = wenv_sim_calls(E, NULL, NULL, NULL);
	for (int i = 0; i < N_OUTAGE; i++) {
		snprintf(s, sizeof(s), "out-%02d", i);
		snprintf(ids[i], sizeof(ids[i]), "outage-%02d", i);
		snprintf(name, sizeof(name), "Outage %02d", i);
		snprintf(email, sizeof(email), "ops@out%02d.example", i);
		idp[i] = ids[i];
		wenv_send(E, ids[i], "account.create", s, wcase_account_data(name, email, 1, 1));
	}
	wenv_flush(E);
	sleep_ms(5000);
	calls_during = wenv_sim_calls(E, NULL, NULL, NULL) - calls_before;
	/* Nothing could succeed, and nothing was given up on. */
	assert_int_equal(wenv_wait_outcomes(E, idp, N_OUTAGE, 0), 0);
	assert_true(calls_during > 0);
	/* The worker knows TM is down (it pauses its partitions on that) and says so. */
	assert_true(worker_metric(E->w, "tmprov_tm_available", NULL) == 0);
	wenv_sim_faults(E, "error_rate=0");
	assert_int_equal(wenv_wait_outcomes(E, idp, N_OUTAGE, WENV_TIMEOUT_MS), N_OUTAGE);
	for (int i = 0; i < N_OUTAGE; i++) {
		snprintf(s, sizeof(s), "out-%02d", i);
		snprintf(name, sizeof(name), "Outage %02d", i);
		wenv_outcome(E, ids[i], s, "account.created");
		/* Created once: only 503s (not acted on) came before the success. */
		assert_int_equal(wenv_sim_effective(E, "create_account", "company_name", name), 1);
	}
	assert_int_equal(wenv_outcomes_of_type(E, "outage-", "command.failed"), 0);
	assert_true(worker_metric(E->w, "tmprov_tm_available", NULL) == 1);
	fprintf(stderr, "# outage: %ld TM calls in 5 s for %d commands\n", calls_during, N_OUTAGE);
}

/* ---- the other unknown-outcome policies ---- */

/* With TMPROV_UNKNOWN_CREATE=retry a create whose answer never came is made again (TM may then
 * hold an orphan account); with TMPROV_UNKNOWN_SCHEDULE=park a dropped schedule is parked as a
 * create is by default: command.failed outcome_unknown, a DLQ copy, no second call. A worker
 * with these settings stands in for the first one meanwhile. */
static void
test_unknown_policies_reversed(void **state)
{
	static const char *const reversed[] = {"TMPROV_UNKNOWN_CREATE=retry",
					       "TMPROV_UNKNOWN_SCHEDULE=park", NULL};
	const char *s = "f-policy";
	struct worker *w = NULL;
	struct kdelivery d;
	const json_t *ev;
	const struct kmsg *m;
	char err[512], *uid, *body;

	(void)state;
	assert_int_equal(worker_stop(E->w, WENV_STOP_MS, NULL), 0);
	if (wenv_worker_start(E, "policy", reversed, &w, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	wenv_sim_faults(E, "only=create_account&timeout_next=1&timeout_ms=" HOLD_MS);
	ev =
	    wcase_run1(E, "policy-1", "account.create", s,
		       wcase_account_data("Twice Co", "t@policy.example", 1, 3), "account.created");
	uid = strdup(wcase_str(wcase_data(ev), "company_uid"));
	assert_int_equal(audit_rows("policy-1", "ambiguous"), 1);
	assert_int_equal(audit_rows("policy-1", "ok"), 1);
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Twice Co"), 2);

	wcase_user_new(E, s, "ph", "policy password");
	wenv_sim_faults(E, "only=remote_schedule&drop_next=1");
	schedule_failed_unknown("policy-2", s, "ph", "Parked", &body, &d);
	m = wenv_dlq_wait(E, &d, 10000);
	wenv_assert(E, m != NULL, "no DLQ copy of the parked schedule");
	assert_string_equal(wcase_str(m->headers, "tmprov.reason"), "outcome_unknown");
	wcase_expect_status(E, "policy-2", "unknown_outcome");
	assert_int_equal(wenv_sim_calls(E, "remote_schedule", "company_uid", uid), 1);
	assert_int_equal(
	    wenv_sql_long(E, "SELECT count(*) FROM meetings WHERE subject = $1", s, NULL), 0);

	assert_int_equal(worker_stop(w, WENV_STOP_MS, NULL), 0);
	worker_free(w);
	wenv_worker_restart(E, E->w);
	free(uid);
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_tm_failed, faults_clear),
	    cmocka_unit_test_teardown(test_5xx_burst, faults_clear),
	    cmocka_unit_test_teardown(test_retry_after, faults_clear),
	    cmocka_unit_test_teardown(test_timeout_create_parked, faults_clear),
	    cmocka_unit_test_teardown(test_timeout_update_retried, faults_clear),
	    cmocka_unit_test_teardown(test_drop_schedule, faults_clear),
	    cmocka_unit_test_teardown(test_drop_schedule_exhausted, faults_clear),
	    cmocka_unit_test_teardown(test_retry_budget_exhausted, faults_clear),
	    cmocka_unit_test_teardown(test_tm_outage, faults_clear),
	    cmocka_unit_test_teardown(test_unknown_policies_reversed, faults_clear),
	};

	return wcase_run(&E, "wfault", SETTINGS, tests, sizeof(tests) / sizeof(tests[0]));
}
