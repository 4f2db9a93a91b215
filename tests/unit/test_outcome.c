/* Tests for workers/worker/outcome: the stable event id (a known vector, one id per command id),
 * the CloudEvent envelope, and the data of every outcome type, each event also checked against
 * schemas/event.schema.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../workers/worker/outcome.h"
#include "../support/evcheck.h"

/* 2026-11-28T10:00:01.123456789Z */
static const struct timespec NOW = {1795860001, 123456789};

static void
assert_schema_ok(json_t *ev)
{
	char err[512] = "";

	assert_non_null(ev);
	if (evcheck_event(ev, err, sizeof(err)) != 0)
		fail_msg("event breaks the schema: %s", err);
}

/* The string value of key in o, "" when absent. */
static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void
test_event_id_vector(void **state)
{
	char id[OUTCOME_EVENT_ID_LEN];

	(void)state;
	/* python3: hashlib.sha256(b"outcome:c-000123").hexdigest()[:32] */
	outcome_event_id("c-000123", id);
	assert_string_equal(id, "evt-257929c9b70cd2586cd7e03be52891ab");
	outcome_event_id("", id);
	assert_string_equal(id, "evt-5f871243214631694f54a92dbc2e4262");
}

static void
test_event_id_stable_and_distinct(void **state)
{
	char a[OUTCOME_EVENT_ID_LEN], b[OUTCOME_EVENT_ID_LEN], c[OUTCOME_EVENT_ID_LEN];

	(void)state;
	outcome_event_id("cmd-1", a);
	outcome_event_id("cmd-1", b);
	outcome_event_id("cmd-2", c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), OUTCOME_EVENT_ID_LEN - 1);
	assert_memory_equal(a, "evt-", 4);
	for (size_t i = 4; i < strlen(a); i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
}

static void
test_envelope(void **state)
{
	json_t *ev = outcome_event("c-000123", "cust-1042", "account.deleted",
				   outcome_id_data("company_uid", "C-1"), &NOW);
	static const char *const keys[] = {"specversion", "id",	  "source",	     "type",
					   "subject",	  "time", "datacontenttype", "commandid",
					   "data"};
	char id[OUTCOME_EVENT_ID_LEN];

	(void)state;
	assert_non_null(ev);
	assert_int_equal(json_object_size(ev), sizeof(keys) / sizeof(keys[0]));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_non_null(json_object_get(ev, keys[i]));
	outcome_event_id("c-000123", id);
	assert_string_equal(str(ev, "specversion"), "1.0");
	assert_string_equal(str(ev, "id"), id);
	assert_string_equal(str(ev, "source"), "tmprov");
	assert_string_equal(str(ev, "type"), "account.deleted");
	assert_string_equal(str(ev, "subject"), "cust-1042");
	assert_string_equal(str(ev, "commandid"), "c-000123");
	assert_string_equal(str(ev, "datacontenttype"), "application/json");
	assert_string_equal(str(ev, "time"), "2026-11-28T10:00:01.123Z");
	assert_string_equal(str(json_object_get(ev, "data"), "company_uid"), "C-1");
	assert_schema_ok(ev);
	json_decref(ev);
}

static void
test_envelope_null_data(void **state)
{
	(void)state;
	/* Data that could not be built (out of memory) gives no event rather than one without
	 * data. */
	assert_null(outcome_event("c-1", "s", "account.deleted", NULL, &NOW));
}

static void
test_account_data(void **state)
{
	const struct outcome_account a = {"Acme", "ops@acme.example", 2, 25};
	json_t *d = outcome_account_data("C-1", &a), *ev;

	(void)state;
	assert_non_null(d);
	assert_string_equal(str(d, "company_uid"), "C-1");
	assert_string_equal(str(d, "company_name"), "Acme");
	assert_string_equal(str(d, "email"), "ops@acme.example");
	assert_int_equal(json_integer_value(json_object_get(d, "rooms")), 2);
	assert_int_equal(json_integer_value(json_object_get(d, "participants")), 25);
	ev = outcome_event("c-1", "cust-1", "account.created", json_incref(d), &NOW);
	assert_schema_ok(ev);
	json_decref(ev);
	ev = outcome_event("c-2", "cust-1", "account.updated", d, &NOW);
	assert_schema_ok(ev);
	/* The checker bites: without company_uid the event breaks the contract. */
	json_object_del(json_object_get(ev, "data"), "company_uid");
	assert_int_not_equal(evcheck_event(ev, (char[256]){0}, 256), 0);
	json_decref(ev);
}

static void
test_queried_drift(void **state)
{
	static const struct {
		struct outcome_account tm, ours;
		const char *drift; /* the expected list, comma-separated */
	} cases[] = {
	    {{"Acme", "a@b.example", 2, 25}, {"Acme", "a@b.example", 2, 25}, ""},
	    {{"Acme", "a@b.example", 3, 25}, {"Acme", "a@b.example", 2, 25}, "rooms"},
	    {{"ACME", "a@b.example", 2, 25}, {"Acme", "a@b.example", 2, 25}, "company_name"},
	    {{"Acme", "A@b.example", 2, 26}, {"Acme", "a@b.example", 2, 25}, "email,participants"},
	    {{"X", "x@y.example", 1, 1},
	     {"Acme", "a@b.example", 2, 25},
	     "company_name,email,rooms,participants"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *d = outcome_queried_data("C-1", &cases[i].tm, &cases[i].ours), *ev;
		json_t *drift = json_object_get(d, "drift"), *tm = json_object_get(d, "tm");
		char got[128] = "";
		size_t k;
		json_t *v;

		assert_non_null(d);
		json_array_foreach(drift, k, v)
		{
			if (k > 0)
				strcat(got, ",");
			strcat(got, json_string_value(v));
		}
		assert_string_equal(got, cases[i].drift);
		/* TM's values are reported, not ours. */
		assert_string_equal(str(tm, "company_name"), cases[i].tm.company_name);
		assert_string_equal(str(tm, "email"), cases[i].tm.email);
		assert_int_equal(json_integer_value(json_object_get(tm, "rooms")),
				 cases[i].tm.rooms);
		assert_int_equal(json_integer_value(json_object_get(tm, "participants")),
				 cases[i].tm.participants);
		ev = outcome_event("c-q", "cust-1", "account.queried", d, &NOW);
		assert_schema_ok(ev);
		json_decref(ev);
	}
}

static void
test_scheduled_possible_duplicate(void **state)
{
	json_t *plain = outcome_scheduled_data("M-1", "u-1", "Kick-off", "2026-12-01T10:00:00Z",
					       "http://127.0.0.1:8090/join/M-1", false);
	json_t *dup = outcome_scheduled_data("M-2", "u-1", "Kick-off", "2026-12-01T10:00:00Z",
					     "http://127.0.0.1:8090/join/M-2", true);
	json_t *ev;

	(void)state;
	assert_non_null(plain);
	assert_non_null(dup);
	/* Present only when set, as the contract says. */
	assert_null(json_object_get(plain, "possible_duplicate"));
	assert_true(json_is_true(json_object_get(dup, "possible_duplicate")));
	assert_string_equal(str(plain, "meeting_id"), "M-1");
	assert_string_equal(str(plain, "join_url"), "http://127.0.0.1:8090/join/M-1");
	assert_string_equal(str(plain, "start_time"), "2026-12-01T10:00:00Z");
	ev = outcome_event("c-m1", "cust-1", "meeting.scheduled", plain, &NOW);
	assert_schema_ok(ev);
	json_decref(ev);
	ev = outcome_event("c-m2", "cust-1", "meeting.scheduled", dup, &NOW);
	assert_schema_ok(ev);
	json_decref(ev);
}

static void
test_failed_data(void **state)
{
	static const struct {
		struct outcome_failure f;
		const char *tm_status; /* expected, NULL: absent */
		bool unknown;	       /* outcome_unknown present (true) */
	} cases[] = {
	    {{CMD_ACCOUNT_UPDATE, "no account for subject", false, 0, NULL, false}, NULL, false},
	    {{CMD_ACCOUNT_CREATE, "Email exists", false, 1, "FAILED", false}, "FAILED", false},
	    {{CMD_ACCOUNT_CREATE, "outcome unknown", true, 1, "", true}, NULL, true},
	    {{CMD_MEETING_SCHEDULE, "budget spent", true, 8, "HTTP 503", false}, "HTTP 503", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *d = outcome_failed_data(&cases[i].f), *ev;

		assert_non_null(d);
		assert_string_equal(str(d, "command_type"), cmd_type_name(cases[i].f.command_type));
		assert_string_equal(str(d, "reason"), cases[i].f.reason);
		assert_int_equal(json_is_true(json_object_get(d, "retryable")),
				 cases[i].f.retryable);
		assert_true(json_is_boolean(json_object_get(d, "retryable")));
		assert_int_equal(json_integer_value(json_object_get(d, "attempts")),
				 cases[i].f.attempts);
		if (cases[i].tm_status)
			assert_string_equal(str(d, "tm_status"), cases[i].tm_status);
		else
			assert_null(json_object_get(d, "tm_status"));
		if (cases[i].unknown)
			assert_true(json_is_true(json_object_get(d, "outcome_unknown")));
		else
			assert_null(json_object_get(d, "outcome_unknown"));
		ev = outcome_event("c-f", "cust-1", "command.failed", d, &NOW);
		assert_schema_ok(ev);
		json_decref(ev);
	}
}

static void
test_rejected_data(void **state)
{
	struct validate_errors errs = {0};
	json_t *d, *ev;

	(void)state;
	/* No message from the validator: the status's name stands in, errors is never empty. */
	d = outcome_rejected_data(validate_status_name(VALIDATE_NOT_JSON), &errs);
	assert_non_null(d);
	assert_string_equal(str(d, "reason"), "not_json");
	assert_int_equal(json_array_size(json_object_get(d, "errors")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(d, "errors"), 0)),
			    "message: not_json");
	ev = outcome_event("c-r1", "cust-1", "command.rejected", d, &NOW);
	assert_schema_ok(ev);
	json_decref(ev);

	errs.n = 2;
	errs.more = 3;
	snprintf(errs.msg[0], sizeof(errs.msg[0]), "data.rooms: must be an integer");
	snprintf(errs.msg[1], sizeof(errs.msg[1]), "data.email: is required");
	d = outcome_rejected_data(validate_status_name(VALIDATE_INVALID), &errs);
	assert_non_null(d);
	assert_string_equal(str(d, "reason"), "invalid");
	assert_int_equal(json_array_size(json_object_get(d, "errors")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(d, "errors"), 0)),
			    "data.rooms: must be an integer");
	assert_string_equal(json_string_value(json_array_get(json_object_get(d, "errors"), 2)),
			    "message: 3 more errors");
	ev = outcome_event("c-r2", "cust-1", "command.rejected", d, &NOW);
	assert_schema_ok(ev);
	json_decref(ev);

	/* A Kafka key that is not the subject: a reason of its own, not a validator's. */
	errs.n = 1;
	errs.more = 0;
	snprintf(errs.msg[0], sizeof(errs.msg[0]), "key: must equal subject");
	d = outcome_rejected_data("key_mismatch", &errs);
	assert_string_equal(str(d, "reason"), "key_mismatch");
	ev = outcome_event("c-r3", "cust-1", "command.rejected", d, &NOW);
	assert_schema_ok(ev);
	json_decref(ev);
}

static void
test_id_data(void **state)
{
	json_t *d = outcome_id_data("user_id", "u-7"), *ev;

	(void)state;
	assert_non_null(d);
	assert_int_equal(json_object_size(d), 1);
	assert_string_equal(str(d, "user_id"), "u-7");
	ev = outcome_event("c-u", "cust-1", "user.upserted", d, &NOW);
	assert_schema_ok(ev);
	json_decref(ev);
}

/* The traceparent extension: kept as given, and the schema holds it to the W3C format. */
static void
test_traceparent(void **state)
{
	static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	json_t *ev = outcome_event("c-tp", "cust-1", "account.deleted",
				   outcome_id_data("company_uid", "u-1"), &NOW);
	char err[512];

	(void)state;
	assert_int_equal(outcome_set_traceparent(ev, tp), 0);
	assert_string_equal(str(ev, "traceparent"), tp);
	assert_schema_ok(ev);
	assert_int_equal(outcome_set_traceparent(ev, "00-nothex-00f067aa0ba902b7-01"), 0);
	assert_int_not_equal(evcheck_event(ev, err, sizeof(err)), 0);
	json_decref(ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_id_vector),
	    cmocka_unit_test(test_event_id_stable_and_distinct),
	    cmocka_unit_test(test_envelope),
	    cmocka_unit_test(test_envelope_null_data),
	    cmocka_unit_test(test_account_data),
	    cmocka_unit_test(test_queried_drift),
	    cmocka_unit_test(test_scheduled_possible_duplicate),
	    cmocka_unit_test(test_failed_data),
	    cmocka_unit_test(test_rejected_data),
	    cmocka_unit_test(test_id_data),
	    cmocka_unit_test(test_traceparent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
