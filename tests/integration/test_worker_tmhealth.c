/* Integration tests of how tmprov-worker tells one account's trouble from TM being down (fault
 * matrix rows V1, V5, V6; issue 11 defects 1 and 10): a garbled answer for one account fails
 * that command alone, a load balancer's 4xx is transient, Retry-After holds every call, TM
 * refusing connections pauses, is probed and resumes, and SIGTERM ends a paused worker. */
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "clock.h"
#include "../support/wcase.h"
#include "../support/wenv.h"

/* A low pause threshold, so that one account's failures would reach it at once. */
#define PAUSE_AFTER "3"
#define BUDGET	    4
/* The probe's company_uid (workers/worker/tmprobe.c): an account that exists nowhere. */
#define PROBE_UID "tmprov-health-probe"

static struct wenv *E;
static const char *const SETTINGS[] = {"TMPROV_RETRY_BUDGET=4",
				       "TMPROV_TM_PAUSE_AFTER=" PAUSE_AFTER, NULL};

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Sends n account.create commands of subjects TAG-00, TAG-01 ... (ids TAG-c-00 ..., into
 * ids and idp), one account each. */
static void
send_creates(const char *tag, int n, char (*ids)[32], const char **idp)
{
	char s[32], name[64], email[64];

	for (int i = 0; i < n; i++) {
		snprintf(s, sizeof(s), "%s-%02d", tag, i);
		snprintf(ids[i], sizeof(ids[i]), "%s-c-%02d", tag, i);
		snprintf(name, sizeof(name), "Company %s %02d", tag, i);
		snprintf(email, sizeof(email), "ops@%s%02d.example", tag, i);
		idp[i] = ids[i];
		wenv_send(E, ids[i], "account.create", s, wcase_account_data(name, email, 1, 1));
	}
	wenv_flush(E);
}

/* Checks that each of ids[0..n) (of send_creates(tag)) ended account.created. */
static void
expect_created(const char *tag, int n, char (*ids)[32])
{
	char s[32];

	for (int i = 0; i < n; i++) {
		snprintf(s, sizeof(s), "%s-%02d", tag, i);
		wenv_outcome(E, ids[i], s, "account.created");
	}
}

/* Waits until the worker's metric name (labels as worker_metric) is want; false at the
 * deadline. */
static bool
metric_becomes(struct worker *w, const char *name, const char *const *labels, double want,
	       long timeout_ms)
{
	long until = clock_now_ms() + timeout_ms;

	while (worker_metric(w, name, labels) != want) {
		if (clock_now_ms() >= until)
			return false;
		sleep_ms(100);
	}
	return true;
}

static bool
tm_available_becomes(struct worker *w, double want, long timeout_ms)
{
	return metric_becomes(w, "tmprov_tm_available", NULL, want, timeout_ms);
}

/* Where tmsim listens, so that a test that stopped it can bring it back there. */
static char sim_listen[64], sim_partner_id[128];

static int
sim_back(void)
{
	struct sim_opts so = {.listen = sim_listen, .partner = sim_partner_id};

	return E->sim != NULL ? 0 : sim_start_opts(&E->sim, &so);
}

static int
faults_clear(void **state)
{
	(void)state;
	if (sim_back() != 0)
		return -1;
	return sim_faults(E->sim, "reset=1");
}

/* ---- V6: one account's answers garbled for ever ---- */

#define N_OTHERS 12

static void
test_one_account_garbled(void **state)
{
	static char ids[N_OTHERS][32];
	const char *idp[N_OTHERS];
	char q[128], *uid;
	const json_t *ev, *d;
	long paused_before = worker_log_count(E->w, "pausing fetch");

	(void)state;
	uid = wcase_account_new(E, "g-bad");
	snprintf(q, sizeof(q), "malformed_for=%s", uid);
	wenv_sim_faults(E, q);
	/* The garbled command first, alone for a while: more failures in a row than
	 * TMPROV_TM_PAUSE_AFTER before anything else is there to answer. */
	wenv_send(E, "garbled-q", "account.query", "g-bad", json_object());
	wenv_flush(E);
	sleep_ms(1500);
	send_creates("g-ok", N_OTHERS, ids, idp);
	/* Every other subject goes on ... */
	wenv_assert(E, wenv_wait_outcomes(E, idp, N_OTHERS, WENV_TIMEOUT_MS) == N_OTHERS,
		    "the other subjects were held up by one account's garbled answers");
	expect_created("g-ok", N_OTHERS, ids);
	/* ... and the garbled one spends its own budget and fails, retryable, naming why. */
	ev = wenv_outcome(E, "garbled-q", "g-bad", "command.failed");
	d = wcase_data(ev);
	assert_true(json_is_true(json_object_get(d, "retryable")));
	assert_int_equal(wcase_int(d, "attempts"), BUDGET);
	wenv_assert(E, strstr(wcase_str(d, "reason"), "protocol error") != NULL,
		    "reason does not name the protocol error: %s", wcase_str(d, "reason"));
	assert_int_equal(wenv_sim_calls(E, "query_account", "company_uid", uid), BUDGET);
	/* Nothing paused. */
	assert_int_equal(worker_log_count(E->w, "pausing fetch"), paused_before);
	assert_true(worker_metric(E->w, "tmprov_tm_available", NULL) == 1);
	free(uid);
}

/* ---- defect 10: a load balancer's 4xx is not TM's verdict ---- */

static void
test_lb_4xx_transient(void **state)
{
	static const char *const statuses[] = {"401", "403", "404"};
	char q[160], id[32], *uid;
	const json_t *ev;

	(void)state;
	uid = wcase_account_new(E, "lb-1");
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		snprintf(q, sizeof(q), "only=update_account&error_next=2&error_status=%s",
			 statuses[i]);
		wenv_sim_faults(E, q);
		snprintf(id, sizeof(id), "lb-up-%s", statuses[i]);
		ev = wcase_run1(E, id, "account.update", "lb-1",
				json_pack("{s:i}", "rooms", 3 + (int)i), "account.updated");
		assert_int_equal(wcase_int(wcase_data(ev), "rooms"), 3 + (int)i);
		assert_int_equal(wenv_sql_long(E,
					       "SELECT count(*) FROM tm_calls WHERE command_id = "
					       "$1 AND outcome = 'transient'",
					       id, NULL),
				 2);
	}
	/* A create behind such an answer was not carried out: repeating it is safe. */
	wenv_sim_faults(E, "only=create_account&error_next=1&error_status=403");
	ev =
	    wcase_run1(E, "lb-create", "account.create", "lb-2",
		       wcase_account_data("Behind LB", "ops@lb2.example", 1, 1), "account.created");
	assert_int_equal(wenv_sim_effective(E, "create_account", "company_name", "Behind LB"), 1);
	free(uid);
}

/* ---- V5: Retry-After holds every call ---- */

#define N_HELD 5

static void
test_retry_after_holds_all(void **state)
{
	static char ids[N_HELD][32];
	static char *uids[N_HELD + 1];
	const char *idp[N_HELD];
	char s[32];
	long during, calls, until = clock_now_ms() + 10000;

	(void)state;
	for (int i = 0; i <= N_HELD; i++) {
		snprintf(s, sizeof(s), "ra-%02d", i);
		uids[i] = wcase_account_new(E, s);
	}
	/* The next call answers 503 with Retry-After: 3; the others are sent once it has. */
	wenv_sim_faults(E, "error_next=1&error_status=503&retry_after=3");
	calls = wenv_sim_calls(E, "query_account", NULL, NULL);
	wenv_send(E, "ra-first", "account.query", "ra-00", json_object());
	wenv_flush(E);
	while (wenv_sim_calls(E, "query_account", NULL, NULL) == calls && clock_now_ms() < until)
		sleep_ms(20);
	for (int i = 0; i < N_HELD; i++) {
		snprintf(s, sizeof(s), "ra-%02d", i + 1);
		snprintf(ids[i], sizeof(ids[i]), "ra-held-%02d", i);
		idp[i] = ids[i];
		wenv_send(E, ids[i], "account.query", s, json_object());
	}
	wenv_flush(E);
	assert_int_equal(wenv_wait_outcomes(E, idp, N_HELD, WENV_TIMEOUT_MS), N_HELD);
	wenv_outcome(E, "ra-first", "ra-00", "account.queried");
	/* No attempt of any command started while TM's Retry-After lasted (100 ms of slack
	 * at each end for a call that was already on its way). */
	during = wenv_sql_long(
	    E,
	    "SELECT count(*) FROM tm_calls c, (SELECT started_at + duration_ms * interval '1 ms' "
	    "AS e FROM tm_calls WHERE command_id = 'ra-first' AND http_status = 503) h "
	    "WHERE c.started_at > h.e + interval '100 ms' AND c.started_at < h.e + interval "
	    "'2900 ms'",
	    NULL);
	wenv_assert(E, during == 0, "%ld TM call(s) during TM's Retry-After", during);
	for (int i = 0; i <= N_HELD; i++)
		free(uids[i]);
}

/* ---- V1: TM refuses connections for 20 s ---- */

#define N_REFUSED  6
#define REFUSED_MS 20000

static void
test_tm_refuses_connections(void **state)
{
	static char ids[N_REFUSED][32];
	const char *idp[N_REFUSED];
	static const char *const why[] = {"reason=\"TM unavailable", NULL};
	static const char *const refused[] = {"result=\"not_sent\"", NULL};
	long down_at;
	double probes;
	json_t *calls, *first;
	const char *probed;

	(void)state;
	snprintf(sim_listen, sizeof(sim_listen), "127.0.0.1:%d", sim_port(E->sim));
	snprintf(sim_partner_id, sizeof(sim_partner_id), "%s", sim_partner(E->sim));
	assert_int_equal(sim_stop_status(E->sim), 0);
	E->sim = NULL;
	down_at = clock_now_ms();
	send_creates("v1", N_REFUSED, ids, idp);
	wenv_assert(E, tm_available_becomes(E->w, 0, 15000), "TM refusing was not seen as down");
	/* Paused, and the gauge says why. */
	wenv_assert(E, metric_becomes(E->w, "tmprov_fetch_paused", why, 1, 5000),
		    "the worker did not pause, or did not say why");
	sleep_ms(REFUSED_MS - (clock_now_ms() - down_at));
	assert_int_equal(wenv_wait_outcomes(E, idp, N_REFUSED, 0), 0);
	/* Meanwhile the worker kept probing (once a second), refused each time. */
	probes = worker_metric(E->w, "tmprov_tm_probes_total", refused);
	wenv_assert(E, probes >= 3 && probes <= REFUSED_MS / 1000 + 1,
		    "%.0f probes while TM refused connections", probes);
	/* TM is back, on the same address, knowing nothing yet. */
	if (sim_back() != 0)
		fail_msg("tmsim did not start again on %s", sim_listen);
	assert_int_equal(wenv_wait_outcomes(E, idp, N_REFUSED, WENV_TIMEOUT_MS), N_REFUSED);
	expect_created("v1", N_REFUSED, ids);
	assert_int_equal(wenv_outcomes_of_type(E, "v1-c-", "command.failed"), 0);
	assert_true(wenv_sql_long(E,
				  "SELECT count(*) FROM tm_calls WHERE command_id LIKE 'v1-c-%' "
				  "AND outcome = 'not_sent'",
				  NULL) > 0);
	/* The worker found TM back by probing it, not by sending the backlog at it. */
	calls = wenv_sim_list(E, NULL);
	first = json_array_get(calls, 0);
	/* The probe queries an active account of ours (the other cases made some), or
	 * PROBE_UID when there is none. */
	probed = wcase_str(json_object_get(first, "params"), "company_uid");
	wenv_assert(E,
		    strcmp(wcase_str(first, "endpoint"), "query_account") == 0 &&
			(strcmp(probed, PROBE_UID) == 0 ||
			 wenv_sql_long(E,
				       "SELECT count(*) FROM accounts WHERE company_uid = $1"
				       " AND status = 'active'",
				       probed, NULL) == 1),
		    "the first call after TM came back was not the probe");
	json_decref(calls);
	wenv_assert(E, tm_available_becomes(E->w, 1, 5000), "TM not seen up again");
	/* ... and fetching resumed (the loop sees it within a poll). */
	wenv_assert(E, metric_becomes(E->w, "tmprov_fetch_paused", why, 0, 5000),
		    "fetching did not resume");
}

/* ---- SIGTERM while paused ---- */

#define DRAIN_MS 3000
/* The drain timeout plus a few seconds: the stop grace of jobs told to stop (5 s) at most. */
#define EXIT_BOUND_MS (DRAIN_MS + 6000)

static void
test_sigterm_while_paused(void **state)
{
	static const char *const drain[] = {"TMPROV_DRAIN_TIMEOUT=3s", NULL};
	char ids[6][32], err[512];
	const char *idp[6];
	struct worker *w = NULL;
	long elapsed = 0;
	int status;

	(void)state;
	assert_int_equal(worker_stop(E->w, WENV_STOP_MS, NULL), 0);
	if (wenv_worker_start(E, "paused", drain, &w, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	wenv_sim_faults(E, "error_rate=1&error_status=503");
	send_creates("pz", 6, ids, idp);
	if (!tm_available_becomes(w, 0, 15000)) {
		worker_log_tail(w, 40);
		fail_msg("the worker did not see TM down");
	}
	sleep_ms(1000);
	assert_int_equal(worker_signal(w, SIGTERM), 0);
	status = worker_wait(w, EXIT_BOUND_MS, &elapsed);
	if (status != 0)
		worker_log_tail(w, 40);
	fprintf(stderr, "# paused worker: SIGTERM -> exit %d after %ld ms\n", status, elapsed);
	assert_int_equal(status, 0);
	worker_free(w);
	wenv_sim_faults(E, "reset=1");
	wenv_worker_restart(E, E->w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_one_account_garbled, faults_clear),
	    cmocka_unit_test_teardown(test_lb_4xx_transient, faults_clear),
	    cmocka_unit_test_teardown(test_retry_after_holds_all, faults_clear),
	    cmocka_unit_test_teardown(test_tm_refuses_connections, faults_clear),
	    cmocka_unit_test_teardown(test_sigterm_while_paused, faults_clear),
	};

	return wcase_run(&E, "wtmhealth", SETTINGS, tests, sizeof(tests) / sizeof(tests[0]));
}
