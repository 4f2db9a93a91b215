/* Integration tests of `tmprov reconcile` and `tmprov resolve` against a real local stack
 * (wenv): a drift made in tmsim behind tmprov's back (/_sim/edit) is reported, stored, repaired
 * by --execute through Kafka (once, however often asked) and then reported in step; --subject
 * limits the run; an account TM no longer has is reported missing and never "repaired"; a
 * parked create is resolved by adopting the account found in TM or by sending the create again,
 * and everything that is not a parked create is refused without a change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/clirun.h"
#include "../support/cmdjson.h"
#include "../support/http.h"
#include "../support/wenv.h"
#include "clock.h"

#define CLI_MS	   60000
#define REPAIR_MS  30000
#define EXIT_DRIFT 3 /* tmprov reconcile: drift or missing accounts left */

static struct wenv *E;

static const char *const *
settings(void)
{
	return (const char *const *)E->settings;
}

/* Lines of text holding every one of the NULL-terminated needles. */
static int
lines_with(const char *text, ...)
{
	int n = 0;

	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *copy = strndup(line, len);
		bool all = true;
		va_list ap;

		va_start(ap, text);
		for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
			all = all && strstr(copy, needle) != NULL;
		va_end(ap);
		n += all;
		free(copy);
		line = end ? end + 1 : NULL;
	}
	return n;
}

static void
expect_line(const struct clirun *r, const char *what, const char *a, const char *b, const char *c,
	    const char *d)
{
	if (lines_with(r->out, a, b, c, d, NULL) != 1) {
		clirun_dump(r, what);
		fail_msg("%s: not one line with \"%s\" \"%s\" \"%s\" \"%s\"", what, a, b,
			 c ? c : "", d ? d : "");
	}
}

static json_t *
acct_data(const char *name, const char *email)
{
	return json_pack("{s:s, s:s, s:i, s:i}", "company_name", name, "email", email, "rooms", 2,
			 "participants", 25);
}

static void
create(const char *id, const char *subject, const char *name, const char *email)
{
	wenv_send(E, id, "account.create", subject, acct_data(name, email));
	wenv_flush(E);
	wenv_outcome(E, id, subject, "account.created");
}

static char *
uid_of(const char *subject)
{
	char *uid =
	    wenv_sql(E, "SELECT company_uid FROM accounts WHERE subject = $1", subject, NULL);

	assert_non_null(uid);
	return uid;
}

/* GET /_sim/edit?company_uid=UID&query: a change in TM's console. */
static void
sim_edit(const char *uid, const char *query)
{
	char url[1024];
	long status = 0;
	char *body = NULL;

	snprintf(url, sizeof(url), "%s/_sim/edit?company_uid=%s&%s", sim_url(E->sim), uid, query);
	assert_int_equal(http_get(url, &status, &body, NULL), HTTP_OK);
	if (status != 200)
		fail_msg("/_sim/edit: %ld %s", status, body ? body : "");
	free(body);
}

/* tmsim's values of account uid (new reference), or NULL when it has none. */
static json_t *
sim_account(const char *uid)
{
	json_t *doc, *a, *found = NULL;
	size_t i;

	assert_int_equal(sim_accounts(E->sim, &doc), 0);
	json_array_foreach(json_object_get(doc, "accounts"), i,
			   a) if (strcmp(json_string_value(json_object_get(a, "company_uid")),
					 uid) == 0) found = json_incref(a);
	json_decref(doc);
	return found;
}

static long
sim_rooms(const char *uid)
{
	json_t *a = sim_account(uid);
	long v = a ? (long)json_integer_value(json_object_get(a, "number_of_meeting_room")) : -1;

	json_decref(a);
	return v;
}

static long
commands_on_topic(struct ku_mark *m)
{
	char err[256];
	long n = 0;

	assert_int_equal(ku_mark(E->dk.bootstrap, E->tcmd, m, err, sizeof(err)), 0);
	for (int i = 0; i < m->npartitions; i++)
		n += (long)m->end[i];
	return n;
}

/* ---- reconcile ---- */

static void
test_reconcile_drift_repair(void **state)
{
	const char *check[] = {"tmprov", "reconcile", NULL};
	const char *one[] = {"tmprov", "reconcile", "--subject", "rc-b", NULL};
	const char *exec[] = {"tmprov", "reconcile", "--execute", NULL};
	char *uid_a, *uid_b, *repair, *again;
	struct ku_mark mark;
	struct clirun r;
	long before, queries;

	(void)state;
	create("rc-a1", "rc-a", "Reconcile A", "a@rc.example");
	create("rc-b1", "rc-b", "Reconcile B", "b@rc.example");
	uid_a = uid_of("rc-a");
	uid_b = uid_of("rc-b");
	sim_edit(uid_b, "number_of_meeting_room=9&email=console%40rc.example");

	/* Report only: nothing sent to TM (no update) or Kafka. */
	before = commands_on_topic(&mark);
	queries = wenv_sim_calls(E, "query_account", NULL, NULL);
	clirun(&r, check, settings(), CLI_MS);
	clirun_expect_status(&r, EXIT_DRIFT, "reconcile");
	expect_line(&r, "reconcile", "in step", "rc-a", NULL, NULL);
	expect_line(&r, "reconcile", "drifted", "rc-b", "rooms", "9");
	expect_line(&r, "reconcile", "drifted", "rc-b", "email", "console@rc.example");
	assert_int_equal(lines_with(r.out, "rc-b", "company_name", NULL), 0);
	clirun_expect_in(&r, r.out,
			 "2 accounts checked: 1 in step, 1 drifted, 0 missing in TM, 0 not "
			 "checked",
			 "reconcile");
	clirun_expect_in(&r, r.out, "nothing sent", "reconcile");
	clirun_free(&r);
	assert_int_equal(commands_on_topic(&mark), before);
	assert_int_equal(wenv_sim_calls(E, "query_account", NULL, NULL), queries + 2);
	assert_int_equal(wenv_sim_calls(E, "update_account", "company_uid", uid_b), 0);
	/* Each account's last check, and the drift found. */
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM account_checks WHERE checked_at > "
				       "now() - interval '1 minute'",
				       NULL),
			 2);
	{
		char *d = wenv_sql(E,
				   "SELECT drift::text FROM account_checks WHERE subject = 'rc-b'"
				   " AND result = 'drifted'",
				   NULL);

		assert_non_null(d);
		assert_non_null(strstr(d, "\"field\": \"rooms\""));
		assert_non_null(strstr(d, "\"tm\": 9"));
		free(d);
	}

	/* --subject: that account alone. */
	clirun(&r, one, settings(), CLI_MS);
	clirun_expect_status(&r, EXIT_DRIFT, "reconcile --subject");
	assert_int_equal(lines_with(r.out, "rc-a", NULL), 0);
	clirun_expect_in(&r, r.out, "1 account checked: 0 in step, 1 drifted",
			 "reconcile --subject");
	clirun_free(&r);

	/* --execute with the worker stopped, twice: the same repair id both times. */
	assert_int_equal(worker_stop(E->w, WENV_STOP_MS, NULL), 0);
	clirun(&r, exec, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "reconcile --execute");
	expect_line(&r, "reconcile --execute", "repair", "rc-b", "account.update", "rooms=2");
	clirun_expect_in(&r, r.out, "sent 1 command", "reconcile --execute");
	repair = strndup(strstr(r.out, "reconcile-"), 42);
	clirun_free(&r);
	clirun(&r, exec, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "reconcile --execute again");
	again = strndup(strstr(r.out, "reconcile-"), 42);
	clirun_free(&r);
	assert_string_equal(repair, again);
	wenv_worker_restart(E, E->w);
	{
		const json_t *ev = wenv_outcome(E, repair, "rc-b", "account.updated");
		const json_t *data = json_object_get(ev, "data");

		assert_int_equal(json_integer_value(json_object_get(data, "rooms")), 2);
		assert_string_equal(json_string_value(json_object_get(data, "email")),
				    "b@rc.example");
	}
	/* TM is back to our record, by one update_account, audited like any command. */
	assert_int_equal(sim_rooms(uid_b), 2);
	{
		json_t *a = sim_account(uid_b);

		assert_string_equal(json_string_value(json_object_get(a, "email")), "b@rc.example");
		json_decref(a);
	}
	assert_int_equal(wenv_sim_effective(E, "update_account", "company_uid", uid_b), 1);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM tm_calls WHERE command_id = $1 AND "
				       "endpoint = 'update_account'",
				       repair, NULL),
			 1);
	assert_int_equal(wenv_sim_calls(E, "update_account", "company_uid", uid_a), 0);

	/* A second run: everything in step. */
	clirun(&r, check, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "reconcile after the repair");
	expect_line(&r, "reconcile after the repair", "in step", "rc-b", NULL, NULL);
	clirun_expect_in(&r, r.out, "2 accounts checked: 2 in step, 0 drifted, 0 missing in TM",
			 "reconcile after the repair");
	clirun_free(&r);
	free(repair);
	free(again);
	free(uid_a);
	free(uid_b);
}

static void
test_reconcile_missing(void **state)
{
	const char *exec[] = {"tmprov", "reconcile", "--subject", "rc-m", "--execute", NULL};
	struct ku_mark mark;
	struct clirun r;
	long before;
	char *uid;

	(void)state;
	create("rc-m1", "rc-m", "Reconcile M", "m@rc.example");
	uid = uid_of("rc-m");
	sim_edit(uid, "delete=1");
	before = commands_on_topic(&mark);
	clirun(&r, exec, settings(), CLI_MS);
	clirun_expect_status(&r, EXIT_DRIFT, "reconcile of a missing account");
	expect_line(&r, "reconcile of a missing account", "missing", "rc-m", uid, NULL);
	clirun_expect_in(&r, r.out, "1 account checked: 0 in step, 0 drifted, 1 missing in TM",
			 "reconcile of a missing account");
	/* An update cannot bring back an account TM does not have: nothing sent. */
	clirun_expect_in(&r, r.out, "nothing sent", "reconcile of a missing account");
	clirun_free(&r);
	assert_int_equal(commands_on_topic(&mark), before);
	assert_int_equal(
	    wenv_sql_long(E,
			  "SELECT count(*) FROM account_checks WHERE subject = 'rc-m' AND "
			  "result = 'missing'",
			  NULL),
	    1);
	free(uid);
}

/* The most calls of list (tmsim's call log entries) that fall in any window_ms window. */
static long
max_in_window(const json_t *list, long window_ms)
{
	size_t n = json_array_size(list);
	long best = 0;

	for (size_t i = 0; i < n; i++) {
		long start =
		    (long)json_integer_value(json_object_get(json_array_get(list, i), "at_ms"));
		long in = 0;

		for (size_t j = 0; j < n; j++) {
			long at = (long)json_integer_value(
			    json_object_get(json_array_get(list, j), "at_ms"));

			in += at >= start && at < start + window_ms;
		}
		best = in > best ? in : best;
	}
	return best;
}

/* Reconcile takes one token of the group's TM bucket per query: with TMPROV_TM_RATE=5 and a
 * burst of 1, tmsim never sees more than tmrate_window_bound(5, 1, 1) = 7 of its queries in
 * any one-second window, however many accounts there are. */
static void
test_reconcile_rate(void **state)
{
	const char *argv[] = {"tmprov", "reconcile", NULL};
	const char *env[WORKER_ENV_MAX + 3];
	char id[32], subject[32];
	json_t *calls, *mine;
	size_t n = 0, i;
	long before;
	struct clirun r;
	json_t *c;

	(void)state;
	for (int k = 0; k < 12; k++) {
		snprintf(id, sizeof(id), "rr-%02d.c", k);
		snprintf(subject, sizeof(subject), "rr-%02d", k);
		wenv_send(E, id, "account.create", subject, acct_data("Rate", "rate@rc.example"));
	}
	wenv_flush(E);
	for (int k = 0; k < 12; k++) {
		snprintf(id, sizeof(id), "rr-%02d.c", k);
		snprintf(subject, sizeof(subject), "rr-%02d", k);
		wenv_outcome(E, id, subject, "account.created");
	}
	/* The stack's settings turn the rate off (TMPROV_TM_RATE=0): this run sets its own. */
	for (const char *const *s = settings(); *s != NULL; s++)
		if (strncmp(*s, "TMPROV_TM_RATE", strlen("TMPROV_TM_RATE")) != 0)
			env[n++] = *s;
	env[n++] = "TMPROV_TM_RATE=5";
	env[n++] = "TMPROV_TM_RATE_BURST=1";
	env[n] = NULL;
	before = wenv_sim_calls(E, "query_account", NULL, NULL);
	clirun(&r, argv, env, CLI_MS);
	clirun_expect_status(&r, EXIT_DRIFT, "reconcile at 5 calls/s"); /* rc-m is still missing */
	expect_line(&r, "reconcile at 5 calls/s", "in step", "rr-11", NULL, NULL);
	clirun_free(&r);
	calls = wenv_sim_list(E, "query_account");
	mine = json_array();
	json_array_foreach(calls, i, c) if ((long)i >= before) json_array_append(mine, c);
	assert_true(json_array_size(mine) >= 12);
	if (max_in_window(mine, 1000) > 7)
		fail_msg("%ld reconcile queries within one second, more than 7",
			 max_in_window(mine, 1000));
	json_decref(mine);
	json_decref(calls);
}

/* TM down: reconcile stops after a few accounts in a row without an answer instead of trying
 * every account three times, reports them not checked and exits 1; no check is stored for
 * an account it did not get to. */
static void
test_reconcile_tm_down(void **state)
{
	const char *argv[] = {"tmprov", "reconcile", NULL};
	long accounts =
	    wenv_sql_long(E, "SELECT count(*) FROM accounts WHERE status = 'active'", NULL);
	long before, calls;
	struct clirun r;

	(void)state;
	assert_true(accounts >= 15);
	wenv_sim_faults(E, "only=query_account&error_next=100000&error_status=503");
	before = wenv_sim_calls(E, "query_account", NULL, NULL);
	clirun(&r, argv, settings(), CLI_MS);
	clirun_expect_status(&r, 1, "reconcile with TM down");
	clirun_expect_in(&r, r.err, "TM gave no answer", "reconcile with TM down");
	clirun_expect_in(&r, r.out, " 0 in step, 0 drifted, 0 missing in TM",
			 "reconcile with TM down");
	clirun_free(&r);
	calls = wenv_sim_calls(E, "query_account", NULL, NULL) - before;
	if (calls > 5 * 3)
		fail_msg("%ld queries to a TM that is down (%ld accounts)", calls, accounts);
	assert_int_equal(
	    wenv_sql_long(E, "SELECT count(*) FROM account_checks WHERE result = 'error'", NULL),
	    5);
}

/* ---- resolve ---- */

/* Sends a create that tmsim carries out but answers too late (the worker's TM timeout is 1 s):
 * parked with an unknown outcome, the account in TM. */
static void
park_create(const char *id, const char *subject, const char *name, const char *faults)
{
	const json_t *ev;

	wenv_sim_faults(E, faults);
	wenv_send(E, id, "account.create", subject, acct_data(name, "ops@resolve.example"));
	wenv_flush(E);
	ev = wenv_outcome(E, id, subject, "command.failed");
	assert_true(json_is_true(json_object_get(json_object_get(ev, "data"), "outcome_unknown")));
	wenv_sim_faults(E, "reset=1");
}

static long
outbox_rows(void)
{
	return wenv_sql_long(E, "SELECT count(*) FROM outbox", NULL);
}

static void
test_resolve_company_uid(void **state)
{
	const char *again[] = {"tmprov", "resolve", "rs-1", "--company-uid", "x", NULL};
	const char *other[] = {"tmprov", "resolve", "rs-1", "--not-created", NULL};
	const char *replay[] = {"tmprov", "replay", "--id", "rs-1", NULL};
	const char *check[] = {"tmprov", "reconcile", "--subject", "rs-a", NULL};
	char *uid = NULL;
	struct clirun r;
	long rows;

	(void)state;
	park_create("rs-1", "rs-a", "Resolve U",
		    "only=create_account&timeout_next=1&timeout_ms=3000");
	assert_int_equal(wenv_sim_effective(E, "create_account", "company_name", "Resolve U"), 1);
	{
		json_t *doc, *a;
		size_t i;

		assert_int_equal(sim_accounts(E->sim, &doc), 0);
		json_array_foreach(
		    json_object_get(doc, "accounts"), i,
		    a) if (strcmp(json_string_value(json_object_get(a, "company_name")),
				  "Resolve U") == 0) uid =
		    strdup(json_string_value(json_object_get(a, "company_uid")));
		json_decref(doc);
	}
	assert_non_null(uid);
	/* A UID TM does not know (a typo) is refused: TM is asked first. */
	rows = outbox_rows();
	{
		const char *typo[] = {"tmprov",	       "resolve",     "rs-1",
				      "--company-uid", "no-such-uid", NULL};

		clirun(&r, typo, settings(), CLI_MS);
		clirun_expect_status(&r, 1, "resolve with a UID TM does not know");
		clirun_expect_in(&r, r.err, "TM has no such account",
				 "resolve with a UID TM does not know");
		clirun_free(&r);
	}
	assert_int_equal(outbox_rows(), rows);
	assert_int_equal(
	    wenv_sql_long(E, "SELECT count(*) FROM accounts WHERE subject = 'rs-a'", NULL), 0);
	{
		const char *run[] = {"tmprov", "resolve", "rs-1", "--company-uid", uid, NULL};

		clirun(&r, run, settings(), CLI_MS);
		clirun_expect_status(&r, 0, "resolve --company-uid");
		clirun_expect_in(&r, r.out, "rs-1.r1", "resolve --company-uid");
		clirun_free(&r);
	}
	{
		const json_t *ev = wenv_outcome(E, "rs-1.r1", "rs-a", "account.created");
		const json_t *data = json_object_get(ev, "data");

		assert_string_equal(json_string_value(json_object_get(data, "company_uid")), uid);
		assert_true(json_is_true(json_object_get(data, "resolved_by_hand")));
		assert_string_equal(json_string_value(json_object_get(data, "resolves")), "rs-1");
	}
	{
		char *got = uid_of("rs-a");

		assert_string_equal(got, uid);
		free(got);
	}
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM commands WHERE id = 'rs-1' AND "
				       "resolution = 'company_uid' AND resolved_as = 'rs-1.r1'",
				       NULL),
			 1);
	/* No TM call: the account was there. */
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Resolve U"), 1);

	/* Refused once resolved, whichever way; nothing changes. */
	rows = outbox_rows();
	clirun(&r, again, settings(), CLI_MS);
	clirun_expect_status(&r, 1, "resolve again");
	clirun_expect_in(&r, r.err, "already resolved", "resolve again");
	clirun_free(&r);
	clirun(&r, other, settings(), CLI_MS);
	clirun_expect_status(&r, 1, "resolve --not-created after --company-uid");
	clirun_expect_in(&r, r.err, "already resolved",
			 "resolve --not-created after --company-uid");
	clirun_free(&r);
	assert_int_equal(outbox_rows(), rows);
	/* A replay of the parked create is skipped: its resolution took the next number. */
	clirun(&r, replay, settings(), CLI_MS);
	clirun_expect_in(&r, r.out, "skip    rs-1: replayed already as rs-1.r1 (succeeded)",
			 "replay after resolve");
	clirun_free(&r);
	/* TM holds what we now hold. */
	clirun(&r, check, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "reconcile of the adopted account");
	expect_line(&r, "reconcile of the adopted account", "in step", "rs-a", NULL, NULL);
	clirun_free(&r);
	free(uid);
}

static void
test_resolve_not_created(void **state)
{
	const char *run[] = {"tmprov", "resolve", "rn-1", "--not-created", "--wait", NULL};
	struct ku_mark mark;
	struct clirun r;
	json_t *msgs;
	long rows;

	(void)state;
	/* A 502 in place of the call: TM did nothing, but a create must not be repeated blindly. */
	park_create("rn-1", "rn-a", "Resolve N",
		    "only=create_account&error_next=1&error_status=502");
	assert_int_equal(wenv_sim_effective(E, "create_account", "company_name", "Resolve N"), 0);
	commands_on_topic(&mark);
	clirun(&r, run, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "resolve --not-created");
	clirun_expect_in(&r, r.out, "rn-1 -> rn-1.r1", "resolve --not-created");
	clirun_expect_in(&r, r.out, "outcomes of 1 command: 1 succeeded", "resolve --not-created");
	clirun_free(&r);
	wenv_outcome(E, "rn-1.r1", "rn-a", "account.created");
	assert_int_equal(ku_consume(E->dk.bootstrap, E->tcmd, &mark, 1, 10000, &msgs), 1);
	{
		const json_t *cmd = json_object_get(json_array_get(msgs, 0), "json");

		assert_string_equal(json_string_value(json_object_get(cmd, "id")), "rn-1.r1");
		assert_string_equal(json_string_value(json_object_get(cmd, "replayof")), "rn-1");
	}
	json_decref(msgs);
	assert_int_equal(wenv_sim_effective(E, "create_account", "company_name", "Resolve N"), 1);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM commands WHERE id = 'rn-1' AND "
				       "resolution = 'not_created' AND resolved_as = 'rn-1.r1'",
				       NULL),
			 1);
	rows = outbox_rows();
	clirun(&r, run, settings(), CLI_MS);
	clirun_expect_status(&r, 1, "resolve --not-created again");
	clirun_expect_in(&r, r.err, "already resolved", "resolve --not-created again");
	clirun_free(&r);
	assert_int_equal(outbox_rows(), rows);
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Resolve N"), 2);
}

static void
test_resolve_refusals(void **state)
{
	static const struct {
		const char *id, *mode, *says;
	} cases[] = {
	    {"rf-none", "--not-created", "no command rf-none"},
	    {"rf-ok", "--not-created", "not a parked create: its status is succeeded"},
	    {"rf-ok", "--company-uid", "not a parked create: its status is succeeded"},
	    {"rf-fail", "--not-created", "not a parked create: its status is failed"},
	    {"rf-upd", "--not-created", "not a parked create"},
	};
	struct clirun r;
	long rows, commands;

	(void)state;
	create("rf-ok", "rf-a", "Refuse OK", "ok@rf.example");
	wenv_sim_faults(E, "fail_company=Refuse%20F");
	wenv_send(E, "rf-fail", "account.create", "rf-f", acct_data("Refuse F", "f@rf.example"));
	wenv_flush(E);
	wenv_outcome(E, "rf-fail", "rf-f", "command.failed");
	wenv_sim_faults(E, "reset=1");
	wenv_send(E, "rf-upd", "account.update", "rf-a", json_pack("{s:i}", "rooms", 3));
	wenv_flush(E);
	wenv_outcome(E, "rf-upd", "rf-a", "account.updated");
	rows = outbox_rows();
	commands = wenv_sql_long(E, "SELECT count(*) FROM commands", NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = {"tmprov", "resolve", cases[i].id, cases[i].mode, NULL, NULL};

		if (strcmp(cases[i].mode, "--company-uid") == 0)
			argv[4] = "some-uid";
		clirun(&r, argv, settings(), CLI_MS);
		clirun_expect_status(&r, 1, cases[i].id);
		clirun_expect_in(&r, r.err, cases[i].says, cases[i].id);
		clirun_free(&r);
	}
	{
		const char *none[] = {"tmprov", "resolve", "rf-ok", NULL};
		const char *both[] = {"tmprov",	       "resolve", "rf-ok", "--not-created",
				      "--company-uid", "u",	  NULL};

		clirun(&r, none, settings(), CLI_MS);
		clirun_expect_status(&r, 2, "resolve without a mode");
		clirun_free(&r);
		clirun(&r, both, settings(), CLI_MS);
		clirun_expect_status(&r, 2, "resolve with both modes");
		clirun_free(&r);
	}
	assert_int_equal(outbox_rows(), rows);
	assert_int_equal(wenv_sql_long(E, "SELECT count(*) FROM commands", NULL), commands);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM commands WHERE resolution IS NOT NULL "
				       "AND id LIKE 'rf-%'",
				       NULL),
			 0);
}

static int teardown_failed;

static int
group_setup(void **state)
{
	static const char *const extra[] = {"TMPROV_RETRY_BUDGET=3", "TMPROV_TM_PAUSE_AFTER=20",
					    NULL};
	char err[1024];

	(void)state;
	if (wenv_setup(&E, "clireconcile", extra, err, sizeof(err)) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	teardown_failed = wenv_teardown(E) != 0;
	return teardown_failed ? -1 : 0;
}

static int
faults_clear(void **state)
{
	(void)state;
	wenv_sim_faults(E, "reset=1");
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_reconcile_drift_repair, faults_clear),
	    cmocka_unit_test_teardown(test_resolve_company_uid, faults_clear),
	    cmocka_unit_test_teardown(test_resolve_not_created, faults_clear),
	    cmocka_unit_test_teardown(test_resolve_refusals, faults_clear),
	    cmocka_unit_test_teardown(test_reconcile_missing, faults_clear),
	    cmocka_unit_test_teardown(test_reconcile_rate, faults_clear),
	    cmocka_unit_test_teardown(test_reconcile_tm_down, faults_clear),
	};
	int rc;

	if (getenv("TMPROV_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TMPROV_TEST_FILTER"));
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	return rc || teardown_failed ? 1 : 0;
}
