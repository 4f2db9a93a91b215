/* Tests for workers/worker/cmd_types: the table of command types says what DESIGN.md §2 says of
 * each type (account, TM endpoint, lookup, event), the dispatch's account check and unknown
 * types, the name tables of the commands row status and the outcome event types, the place
 * a TM-calling command holds among the intents (cmd_call, cmd_result_clear), and the two halves
 * of TM-calling types (prepare, answer) without TM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../workers/worker/cmd.h"
#include "../../workers/worker/cmd_types.h"

/* DESIGN.md §2's commands table, as the worker must know it. endpoint NULL: local only. */
static const struct {
	enum cmd_type kind;
	bool needs_account;
	const char *endpoint;
	unsigned lookup;
	const char *event;
	bool may_create;
} ROWS[] = {
    {CMD_ACCOUNT_CREATE, false, "create_account", 0, "account.created", true},
    {CMD_ACCOUNT_UPDATE, true, "update_account", 0, "account.updated", false},
    {CMD_ACCOUNT_DELETE, true, "delete_account", 0, "account.deleted", false},
    {CMD_ACCOUNT_QUERY, true, "query_account", 0, "account.queried", false},
    {CMD_USER_UPSERT, true, NULL, CMD_LOOKUP_USER | CMD_LOOKUP_EMAIL, "user.upserted", false},
    {CMD_USER_DELETE, true, NULL, CMD_LOOKUP_USER, "user.deleted", false},
    {CMD_MEETING_SCHEDULE, true, "remote_schedule", CMD_LOOKUP_USER, "meeting.scheduled", true},
    {CMD_MEETING_CANCEL, true, NULL, CMD_LOOKUP_MEETING, "meeting.canceled", false},
};

static void
test_rows(void **state)
{
	(void)state;
	assert_int_equal(sizeof(ROWS) / sizeof(ROWS[0]), CMD_TYPE_COUNT - 1);
	for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
		const struct cmd_spec *s = cmd_types_get(ROWS[i].kind);
		const char *name = cmd_type_name(ROWS[i].kind);

		assert_non_null(s);
		/* A local type has its logic, a TM-calling one the two halves around the call. */
		assert_int_equal(s->run == NULL, s->calls_tm);
		assert_int_equal(s->prepare != NULL && s->answer != NULL, s->calls_tm);
		if (s->needs_account != ROWS[i].needs_account)
			fail_msg("%s: needs_account %d", name, s->needs_account);
		assert_int_equal(s->calls_tm, ROWS[i].endpoint != NULL);
		if (ROWS[i].endpoint != NULL)
			assert_string_equal(tm_endpoint_name(s->endpoint), ROWS[i].endpoint);
		if (s->lookup != ROWS[i].lookup)
			fail_msg("%s: lookup %u, want %u", name, s->lookup, ROWS[i].lookup);
		assert_string_equal(outcome_type_name(s->outcome), ROWS[i].event);
		assert_int_equal(cmd_types_may_create(ROWS[i].kind), ROWS[i].may_create);
		/* Only account.query's success changes no state. */
		assert_int_equal(s->finish == SQL_FINISH, ROWS[i].kind == CMD_ACCOUNT_QUERY);
	}
	assert_null(cmd_types_get(CMD_UNKNOWN));
	assert_null(cmd_types_get((enum cmd_type)CMD_TYPE_COUNT));
	assert_false(cmd_types_may_create(CMD_UNKNOWN));
}

/* A run that ends before any handler: no TM, no database. */
static void
run_without_handler(enum cmd_type kind, const struct cmd_state *st, const char *reason)
{
	struct command cmd = {.id = "c-1", .subject = "s-1", .kind = kind};
	struct cmd_env env = {.spec = cmd_types_get(kind), .cmd = &cmd};
	struct cmd_result r;

	cmd_result_init(&r);
	assert_int_equal(cmd_types_run(&env, st, &r), CMD_DONE);
	assert_int_equal(r.status, CMD_STATUS_FAILED);
	assert_int_equal(r.event, OUTCOME_COMMAND_FAILED);
	assert_int_equal(r.stmt, SQL_FINISH);
	assert_string_equal(r.last_error, reason);
	assert_int_equal(r.retryable, 0);
	cmd_result_clear(&r);
}

/* cmd_keep's copies stay where they are as more are made, each equal to its source; past
 * CMD_STORE_MAX bytes in all a copy is refused and the result marked unwritable; clear gives
 * them back (LeakSanitizer would see one left) and a cleared result keeps again. */
static void
test_keep(void **state)
{
	char big[CMD_STORE_MAX / 2];
	const char *a, *b, *n;
	struct cmd_result r;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cmd_result_init(&r);
	a = cmd_keep(&r, "acme");
	n = cmd_keep_long(&r, -42);
	b = cmd_keep(&r, big);
	assert_non_null(a);
	assert_non_null(n);
	assert_non_null(b);
	assert_string_equal(a, "acme");
	assert_string_equal(n, "-42");
	assert_string_equal(b, big);
	assert_null(cmd_keep(&r, NULL));
	assert_false(r.overflow);
	assert_null(cmd_keep(&r, big)); /* 2 x 2 KiB and the rest: over 4 KiB */
	assert_true(r.overflow);
	assert_string_equal(a, "acme"); /* earlier copies untouched */
	cmd_result_clear(&r);
	cmd_result_init(&r);
	assert_non_null(cmd_keep(&r, big));
	assert_false(r.overflow);
	cmd_result_clear(&r);
}

static void
test_run_account_check(void **state)
{
	const struct cmd_state none = {.acc_exists = false};
	const struct cmd_state deleted = {.acc_exists = true, .acc_active = false};

	(void)state;
	for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
		if (!ROWS[i].needs_account)
			continue;
		run_without_handler(ROWS[i].kind, &none, "no account for subject");
		run_without_handler(ROWS[i].kind, &deleted, "account deleted");
	}
	run_without_handler(CMD_UNKNOWN, &none, "unknown command type");
}

static void
test_status_names(void **state)
{
	static const char *const names[CMD_STATUS_COUNT] = {
	    "received", "in_progress", "succeeded", "failed", "rejected", "unknown_outcome"};
	enum cmd_status s;

	(void)state;
	for (int i = 0; i < CMD_STATUS_COUNT; i++) {
		assert_string_equal(cmd_status_name((enum cmd_status)i), names[i]);
		assert_true(cmd_status_parse(names[i], &s));
		assert_int_equal(s, i);
	}
	assert_false(cmd_status_parse("done", &s));
	assert_null(cmd_status_name(CMD_STATUS_COUNT));
	assert_false(cmd_status_final(CMD_STATUS_RECEIVED));
	assert_false(cmd_status_final(CMD_STATUS_IN_PROGRESS));
	assert_true(cmd_status_final(CMD_STATUS_SUCCEEDED));
	assert_true(cmd_status_final(CMD_STATUS_FAILED));
	assert_true(cmd_status_final(CMD_STATUS_REJECTED));
	assert_true(cmd_status_final(CMD_STATUS_UNKNOWN_OUTCOME));
}

static void
test_outcome_type_names(void **state)
{
	(void)state;
	assert_string_equal(outcome_type_name(OUTCOME_COMMAND_FAILED), "command.failed");
	assert_string_equal(outcome_type_name(OUTCOME_COMMAND_REJECTED), "command.rejected");
	for (int t = 0; t < OUTCOME_TYPE_COUNT; t++)
		assert_non_null(outcome_type_name((enum outcome_type)t));
	assert_null(outcome_type_name(OUTCOME_TYPE_COUNT));
}

static int
slots_free(struct fsem *slots)
{
	return (int)fsem_free(slots);
}

/* cmd_call takes the command's place among env.intent_slots before anything else, once per
 * result however often it is called, and cmd_result_clear gives it back; with no place free,
 * a stopped command gets none and stops. A create whose previous attempt was not recorded
 * parks (TMPROV_UNKNOWN_CREATE=park) without TM or database, so no server is needed. */
static void
test_call_holds_intent_place(void **state)
{
	struct command cmd = {.id = "c-1", .subject = "s-1", .kind = CMD_ACCOUNT_CREATE};
	struct tmretry retry = {.policy = {.create = TMRETRY_UNKNOWN_PARK}};
	const struct cmd_state st = {.intent_open = true, .intent_attempt = 1, .intent_max = 1};
	const struct tm_request req = {.endpoint = TM_CREATE_ACCOUNT, .company_name = "Acme"};
	atomic_bool stop = false;
	struct fsem slots;
	struct cmd_env env = {.spec = cmd_types_get(CMD_ACCOUNT_CREATE),
			      .retry = &retry,
			      .cmd = &cmd,
			      .intent_slots = &slots,
			      .stop = &stop};
	struct cmd_result r, other;
	struct tmretry_result tr = {.calls = NULL};

	(void)state;
	fsem_init(&slots, 1);
	cmd_result_init(&r);
	assert_int_equal(cmd_call(&env, &st, &req, &r, &tr), CMD_DONE);
	assert_int_equal(r.status, CMD_STATUS_UNKNOWN_OUTCOME);
	assert_ptr_equal(r.intent_slot, &slots);
	assert_int_equal(slots_free(&slots), 0);
	/* Called again for the same result: no second place (it would wait for ever). */
	assert_int_equal(cmd_call(&env, &st, &req, &r, &tr), CMD_DONE);
	assert_int_equal(slots_free(&slots), 0);
	/* Another command finds no place; stopped, it stops without one. */
	stop = true;
	cmd_result_init(&other);
	assert_int_equal(cmd_call(&env, &st, &req, &other, &tr), CMD_STOPPED);
	assert_null(other.intent_slot);
	cmd_result_clear(&other);
	assert_int_equal(slots_free(&slots), 0);
	cmd_result_clear(&r);
	assert_null(r.intent_slot);
	assert_int_equal(slots_free(&slots), 1);
	cmd_result_clear(&r); /* twice: given back once */
	assert_int_equal(slots_free(&slots), 1);
	fsem_destroy(&slots);
}

/* The halves of a TM-calling type need neither TM nor a database: prepare makes the call, or
 * the result when none is needed; answer makes the result from TM's answer. */
static void
test_create_halves(void **state)
{
	json_t *data = json_pack("{s:s, s:s, s:i, s:i}", "company_name", "Acme", "email",
				 "ops@acme.test", "rooms", 2, "participants", 10);
	struct command cmd = {
	    .id = "c-1", .subject = "s-1", .kind = CMD_ACCOUNT_CREATE, .data = data};
	struct cmd_env env = {.spec = cmd_types_get(CMD_ACCOUNT_CREATE), .cmd = &cmd};
	const struct cmd_state exists = {.acc_exists = true, .acc_active = true};
	const struct cmd_state none = {.acc_exists = false};
	struct cmd_tm c = {.req = {.endpoint = TM_CREATE_ACCOUNT}};
	struct tm_result last;
	struct cmd_result r;

	(void)state;
	tm_result_init(&last);
	c.tr.last = &last;
	cmd_result_init(&r);
	assert_int_equal(env.spec->prepare(&env, &exists, &r, &c), CMD_DONE);
	assert_string_equal(r.last_error, "account exists");
	cmd_result_clear(&r);
	cmd_result_init(&r);
	assert_int_equal(env.spec->prepare(&env, &none, &r, &c), CMD_GO_ON);
	assert_string_equal(c.req.company_name, "Acme");
	assert_string_equal(c.req.email, "ops@acme.test");
	assert_int_equal(c.req.rooms, 2);
	assert_int_equal(c.req.participants, 10);
	snprintf(last.company_uid, sizeof(last.company_uid), "U-7");
	r.possible_duplicate = true;
	assert_int_equal(env.spec->answer(&env, &none, &r, &c, CMD_GO_ON), CMD_DONE);
	assert_int_equal(r.status, CMD_STATUS_SUCCEEDED);
	assert_int_equal(r.stmt, SQL_FINISH_ACCOUNT_CREATE);
	assert_int_equal(r.nparams, 5);
	assert_string_equal(r.params[0], "U-7");
	assert_string_equal(r.params[3], "2");
	assert_string_equal(json_string_value(json_object_get(r.data, "company_uid")), "U-7");
	assert_true(json_is_true(json_object_get(r.data, "possible_duplicate")));
	cmd_result_clear(&r);
	json_decref(data);
}

/* account.delete's answer to TM's "no such account": the delete's success when a call of it may
 * have acted before (this run's earlier attempt, or an earlier run's open intent), its failure
 * otherwise. */
static void
delete_answer(unsigned made, bool may_have_acted, bool intent_open, enum cmd_status want)
{
	struct command cmd = {.id = "c-2", .subject = "s-1", .kind = CMD_ACCOUNT_DELETE};
	struct cmd_env env = {.spec = cmd_types_get(CMD_ACCOUNT_DELETE), .cmd = &cmd};
	struct cmd_state st = {.acc_exists = true, .acc_active = true, .intent_open = intent_open};
	struct cmd_tm c = {.req = {.endpoint = TM_DELETE_ACCOUNT}};
	struct tm_result last;
	struct cmd_result r;

	tm_result_init(&last);
	c.tr.last = &last;
	snprintf(st.company_uid, sizeof(st.company_uid), "U-7");
	assert_int_equal(env.spec->prepare(&env, &st, NULL, &c), CMD_GO_ON);
	assert_string_equal(c.req.company_uid, "U-7");
	c.tr.made = made;
	c.tr.action = TMRETRY_FAILED;
	c.tr.any_may_have_acted = may_have_acted;
	snprintf(last.tm_status, sizeof(last.tm_status), "FAILED");
	snprintf(last.reason, sizeof(last.reason), "company_uid does not exist");
	cmd_result_init(&r);
	cmd_fail(&r, &cmd, last.reason, false, last.tm_status);
	assert_int_equal(env.spec->answer(&env, &st, &r, &c, CMD_DONE), CMD_DONE);
	assert_int_equal(r.status, want);
	if (want == CMD_STATUS_SUCCEEDED) {
		assert_int_equal(r.stmt, SQL_FINISH_ACCOUNT_DELETE);
		assert_int_equal(r.retryable, -1);
		assert_string_equal(r.last_error, "");
	}
	cmd_result_clear(&r);
}

/* A delete whose answer arrived and could not be kept (tmretry_last: TM_AMBIGUOUS, no status):
 * not taken for TM's "no such account", whatever came before. */
static void
test_delete_answer_lost(void **state)
{
	struct command cmd = {.id = "c-3", .subject = "s-1", .kind = CMD_ACCOUNT_DELETE};
	struct cmd_env env = {.spec = cmd_types_get(CMD_ACCOUNT_DELETE), .cmd = &cmd};
	struct cmd_state st = {.acc_exists = true, .acc_active = true, .intent_open = true};
	struct cmd_tm c = {.req = {.endpoint = TM_DELETE_ACCOUNT}};
	struct cmd_result r;

	(void)state;
	snprintf(st.company_uid, sizeof(st.company_uid), "U-7");
	assert_int_equal(env.spec->prepare(&env, &st, NULL, &c), CMD_GO_ON);
	c.tr.made = 2;
	c.tr.action = TMRETRY_FAILED;
	c.tr.any_may_have_acted = true;
	c.tr.last_lost = true;
	assert_int_equal(tmretry_last(&c.tr)->outcome, TM_AMBIGUOUS);
	cmd_result_init(&r);
	cmd_fail(&r, &cmd, tmretry_last(&c.tr)->error, false, NULL);
	assert_int_equal(env.spec->answer(&env, &st, &r, &c, CMD_DONE), CMD_DONE);
	assert_int_equal(r.status, CMD_STATUS_FAILED);
	cmd_result_clear(&r);
}

static void
test_delete_answer_gone(void **state)
{
	(void)state;
	delete_answer(2, true, false, CMD_STATUS_SUCCEEDED);
	delete_answer(1, false, true, CMD_STATUS_SUCCEEDED);
	delete_answer(2, false, false, CMD_STATUS_FAILED);
	/* No call made in this run (cmd_call ended the command before any): r stands. */
	delete_answer(0, true, true, CMD_STATUS_FAILED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_run_account_check),
	    cmocka_unit_test(test_keep),
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_outcome_type_names),
	    cmocka_unit_test(test_call_holds_intent_place),
	    cmocka_unit_test(test_create_halves),
	    cmocka_unit_test(test_delete_answer_gone),
	    cmocka_unit_test(test_delete_answer_lost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
