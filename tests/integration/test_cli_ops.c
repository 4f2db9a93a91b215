/* Integration tests of `tmprov status` and `tmprov replay` against a real local stack (wenv):
 * the status of a command TM made the worker retry (every call, its result and duration, the
 * outcome), of a customer, and of an unknown id; the replay of a parked create from the DLQ
 * (dry run first, then for real: a new id carrying replayof, done once) and of a command whose
 * retry budget ran out, from the database. */
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
#include "../support/wenv.h"

#define CLI_MS 60000

static struct wenv *E;

static const char *const *
settings(void)
{
	return (const char *const *)E->settings;
}

static json_t *
acct_data(const char *name, const char *email)
{
	return json_pack("{s:s, s:s, s:i, s:i}", "company_name", name, "email", email, "rooms", 2,
			 "participants", 25);
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

/* ---- status ---- */

static void
test_status_retried(void **state)
{
	const char *cmd[] = {"tmprov", "status", "st-1", NULL};
	const char *cust[] = {"tmprov", "status", "--subject", "st-a", NULL};
	const char *none[] = {"tmprov", "status", "st-none", NULL};
	struct clirun r;

	(void)state;
	wenv_sim_faults(E, "only=create_account&error_next=2&error_status=503");
	wenv_send(E, "st-1", "account.create", "st-a", acct_data("Status A", "a@st.example"));
	wenv_flush(E);
	wenv_outcome(E, "st-1", "st-a", "account.created");
	clirun(&r, cmd, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "status ID");
	clirun_expect_in(&r, r.out, "command       st-1\n", "status ID");
	clirun_expect_in(&r, r.out, "type          account.create\n", "status ID");
	clirun_expect_in(&r, r.out, "status        succeeded\n", "status ID");
	clirun_expect_in(&r, r.out, "attempts      3\n", "status ID");
	clirun_expect_in(&r, r.out, "read from     c.", "status ID");
	clirun_expect_in(&r, r.out, "TM calls      3\n", "status ID");
	assert_int_equal(clirun_lines(r.out, "create_account  transient http 503"), 2);
	assert_int_equal(clirun_lines(r.out, "create_account  ok        http 200  tm SUCCEED"), 1);
	assert_int_equal(clirun_lines(r.out, " ms"), 3);
	clirun_expect_in(&r, r.out, "outcome       account.created evt-", "status ID");
	clirun_expect_in(&r, r.out, "company_name=\"Status A\"", "status ID");
	clirun_free(&r);

	clirun(&r, cust, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "status --subject");
	clirun_expect_in(&r, r.out, "customer      st-a\n", "status --subject");
	clirun_expect_in(&r, r.out, "company       Status A\n", "status --subject");
	clirun_expect_in(&r, r.out, "users         0\n", "status --subject");
	clirun_expect_in(&r, r.out, "commands      1 succeeded\n", "status --subject");
	clirun_expect_in(&r, r.out, "account.create   succeeded       st-1", "status --subject");
	clirun_free(&r);

	clirun(&r, none, settings(), CLI_MS);
	clirun_expect_status(&r, 1, "status of an unknown id");
	clirun_expect_in(&r, r.err, "no command st-none", "status of an unknown id");
	clirun_free(&r);
}

/* ---- replay from the DLQ: a parked create ---- */

static void
test_replay_dlq(void **state)
{
	const char *dry[] = {"tmprov", "replay", "--from",    "dlq",
			     "--id",   "rd-1",	 "--dry-run", NULL};
	const char *run[] = {"tmprov", "replay", "--from", "dlq", "--id", "rd-1", "--wait", NULL};
	struct ku_mark mark;
	struct kdelivery d;
	long before;
	struct clirun r;
	const json_t *ev;
	json_t *msgs;
	char *body;
	int n;

	(void)state;
	/* tmsim holds the answer 3 s, the worker's TM timeout is 1 s: parked. */
	wenv_sim_faults(E, "only=create_account&timeout_next=1&timeout_ms=3000");
	body =
	    cmdjson_text("rd-1", "account.create", "rd-a", acct_data("Replay D", "d@rd.example"));
	wenv_send_raw(E, "rd-a", body, strlen(body), &d);
	wenv_flush(E);
	ev = wenv_outcome(E, "rd-1", "rd-a", "command.failed");
	assert_true(json_is_true(json_object_get(json_object_get(ev, "data"), "outcome_unknown")));
	wenv_assert(E, wenv_dlq_wait(E, &d, 10000) != NULL, "no DLQ copy of the parked create");

	before = commands_on_topic(&mark);
	clirun(&r, dry, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "replay --dry-run");
	clirun_expect_in(&r, r.out,
			 "would replay rd-1 -> rd-1.r1  account.create rd-a  (dlq outcome_unknown",
			 "replay --dry-run");
	clirun_expect_in(&r, r.out, "1 to replay, 0 skipped; dry run: nothing sent",
			 "replay --dry-run");
	clirun_free(&r);
	assert_int_equal(commands_on_topic(&mark), before);

	clirun(&r, run, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "replay --from dlq");
	clirun_expect_in(&r, r.out, "replay  rd-1 -> rd-1.r1", "replay --from dlq");
	clirun_expect_in(&r, r.out, "outcomes of 1 command: 1 succeeded", "replay --from dlq");
	clirun_free(&r);
	wenv_outcome(E, "rd-1.r1", "rd-a", "account.created");
	/* The message sent: the original with a new id and replayof. */
	n = ku_consume(E->dk.bootstrap, E->tcmd, &mark, 1, 10000, &msgs);
	assert_int_equal(n, 1);
	{
		const json_t *cmd = json_object_get(json_array_get(msgs, 0), "json");

		assert_string_equal(json_string_value(json_object_get(cmd, "id")), "rd-1.r1");
		assert_string_equal(json_string_value(json_object_get(cmd, "replayof")), "rd-1");
		assert_string_equal(json_string_value(json_object_get(json_object_get(cmd, "data"),
								      "company_name")),
				    "Replay D");
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(msgs, 0), "key")), "rd-a");
	}
	json_decref(msgs);
	assert_int_equal(
	    wenv_sql_long(E, "SELECT count(*) FROM accounts WHERE subject = 'rd-a'", NULL), 1);
	/* The ambiguous call and the replay's. */
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Replay D"), 2);

	/* Once only: asked again, it points at the replay. */
	before = commands_on_topic(&mark);
	clirun(&r, run, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "replay again");
	clirun_expect_in(&r, r.out, "skip    rd-1: replayed already as rd-1.r1 (succeeded)",
			 "replay again");
	clirun_free(&r);
	assert_int_equal(commands_on_topic(&mark), before);
	{
		const char *st[] = {"tmprov", "status", "rd-1.r1", NULL};

		clirun(&r, st, settings(), CLI_MS);
		clirun_expect_in(&r, r.out, "replay of     rd-1 (replay number 1)",
				 "status of a replay");
		clirun_free(&r);
	}
	free(body);
}

/* ---- replay from the DLQ: a parked create that came in CloudEvents binary mode ---- */

static void
test_replay_dlq_binary(void **state)
{
	static const char data[] = "{\"company_name\":\"Replay Bin\",\"email\":\"b@rbin.example\","
				   "\"rooms\":2,\"participants\":10}";
	static const char *const h[][2] = {
	    {"ce_specversion", "1.0"}, {"ce_id", "rbin-1"},
	    {"ce_source", "billing"},  {"ce_type", "account.create"},
	    {"ce_subject", "rbin-a"},  {"content-type", "application/json"},
	};
	const char *run[] = {"tmprov", "replay", "--from", "dlq", "--id", "rbin-1", "--wait", NULL};
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
	struct kdelivery d;
	struct clirun r;
	const json_t *ev;

	(void)state;
	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
		rd_kafka_header_add(hdrs, h[i][0], -1, h[i][1], -1);
	wenv_sim_faults(E, "only=create_account&timeout_next=1&timeout_ms=3000");
	wenv_send_headers(E, "rbin-a", data, sizeof(data) - 1, hdrs, &d);
	wenv_flush(E);
	ev = wenv_outcome(E, "rbin-1", "rbin-a", "command.failed");
	assert_true(json_is_true(json_object_get(json_object_get(ev, "data"), "outcome_unknown")));
	wenv_assert(E, wenv_dlq_wait(E, &d, 10000) != NULL, "no DLQ copy of the parked create");

	/* The copy's value is only the data: replay reads the command from its ce_ headers. */
	clirun(&r, run, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "replay --from dlq of a binary command");
	clirun_expect_in(&r, r.out, "replay  rbin-1 -> rbin-1.r1",
			 "replay --from dlq of a binary command");
	clirun_expect_in(&r, r.out, "outcomes of 1 command: 1 succeeded",
			 "replay --from dlq of a binary command");
	clirun_free(&r);
	ev = wenv_outcome(E, "rbin-1.r1", "rbin-a", "account.created");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(ev, "data"), "company_name")),
	    "Replay Bin");
}

/* ---- replay from the database: the retry budget ran out ---- */

static void
test_replay_db(void **state)
{
	const char *run[] = {"tmprov", "replay", "--subject", "rb-a", "--wait", NULL};
	const char *ask[] = {"tmprov", "replay", "--id", "rb-0", NULL};
	struct clirun r;
	const json_t *ev;

	(void)state;
	wenv_send(E, "rb-0", "account.create", "rb-a", acct_data("Replay B", "b@rb.example"));
	wenv_flush(E);
	wenv_outcome(E, "rb-0", "rb-a", "account.created");
	/* More 503s than the budget (3 here). */
	wenv_sim_faults(E, "only=update_account&error_next=3&error_status=503");
	wenv_send(E, "rb-1", "account.update", "rb-a", json_pack("{s:i}", "rooms", 7));
	wenv_flush(E);
	ev = wenv_outcome(E, "rb-1", "rb-a", "command.failed");
	assert_true(json_is_true(json_object_get(json_object_get(ev, "data"), "retryable")));
	/* Kept for replay; a success is not. */
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM commands WHERE body IS NOT NULL AND "
				       "subject = 'rb-a'",
				       NULL),
			 1);

	clirun(&r, run, settings(), CLI_MS);
	clirun_expect_status(&r, 0, "replay --subject");
	clirun_expect_in(&r, r.out, "replay  rb-1 -> rb-1.r1  account.update rb-a  (failed ",
			 "replay db");
	clirun_expect_in(&r, r.out, "outcomes of 1 command: 1 succeeded", "replay db");
	clirun_free(&r);
	ev = wenv_outcome(E, "rb-1.r1", "rb-a", "account.updated");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "data"), "rooms")),
			 7);
	/* A command that succeeded is not replayed, and saying so is a failure (exit 1). */
	clirun(&r, ask, settings(), CLI_MS);
	clirun_expect_status(&r, 1, "replay of a success");
	clirun_expect_in(&r, r.err, "skip    rb-0: its status is succeeded", "replay of a success");
	clirun_free(&r);
}

static int teardown_failed;

static int
group_setup(void **state)
{
	static const char *const extra[] = {"TMPROV_RETRY_BUDGET=3", "TMPROV_TM_PAUSE_AFTER=20",
					    NULL};
	char err[1024];

	(void)state;
	if (wenv_setup(&E, "cliops", extra, err, sizeof(err)) != 0) {
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
	    cmocka_unit_test_teardown(test_status_retried, faults_clear),
	    cmocka_unit_test_teardown(test_replay_dlq, faults_clear),
	    cmocka_unit_test_teardown(test_replay_dlq_binary, faults_clear),
	    cmocka_unit_test_teardown(test_replay_db, faults_clear),
	};
	int rc;

	if (getenv("TMPROV_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TMPROV_TEST_FILTER"));
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	return rc || teardown_failed ? 1 : 0;
}
