/* Tests for workers/worker/guard: when the guard applies, what a command does when its subject
 * has a queue (every case of the table), the command.held event (its id apart from the
 * outcome's, its data valid per schemas/), and the message a queued command keeps (a
 * user.upsert's password replaced by its argon2id digest; others as they came). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "../../workers/worker/guard.h"
#include "../../workers/worker/outcome.h"
#include "../../workers/worker/wconfig.h"
#include "../support/evcheck.h"

static void
test_applies(void **state)
{
	struct guard_opts on = {20, 600000}, off = {0, 600000};

	(void)state;
	assert_true(guard_applies(&on, CMD_ACCOUNT_DELETE, true));
	/* A delete of no (or a deleted) account calls nothing at TM: no deletion to count. */
	assert_false(guard_applies(&on, CMD_ACCOUNT_DELETE, false));
	assert_false(guard_applies(&on, CMD_ACCOUNT_UPDATE, true));
	assert_false(guard_applies(&on, CMD_USER_DELETE, true));
	assert_false(guard_applies(&off, CMD_ACCOUNT_DELETE, true));
}

static void
test_defaults(void **state)
{
	struct cfg *c = wconfig_new();
	struct guard_opts o;

	char err[512];

	(void)state;
	assert_non_null(c);
	unsetenv("TMPROV_DELETE_GUARD");
	unsetenv("TMPROV_DELETE_GUARD_WINDOW");
	assert_int_equal(cfg_load(c, NULL, err, sizeof(err)), 0);
	guard_opts_from_cfg(&o, c);
	assert_int_equal(o.max, 20);
	assert_int_equal(o.window_ms, 600000);
	cfg_free(c);
}

static void
test_decide(void **state)
{
	static const struct {
		struct guard_view v;
		enum guard_action want;
	} cases[] = {
	    /* No queue: as usual, whatever the rest says. */
	    {{false, false, false, false}, GUARD_GO},
	    {{false, false, false, true}, GUARD_GO},
	    /* A held head: a new command waits behind it; one already recorded (the held
	     * command itself, redelivered, or one waiting already) does nothing. */
	    {{true, true, false, false}, GUARD_ENQUEUE},
	    {{true, true, false, true}, GUARD_NOTHING},
	    {{true, true, true, true}, GUARD_NOTHING},
	    /* A runnable head (approved, or waiting behind a head that ended) runs first. */
	    {{true, false, false, false}, GUARD_RUN_HEAD},
	    {{true, false, false, true}, GUARD_RUN_HEAD},
	    {{true, false, true, true}, GUARD_RUN_OWN},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (guard_decide(&cases[i].v) != cases[i].want)
			fail_msg("case %zu: %d, want %d", i, guard_decide(&cases[i].v),
				 cases[i].want);
	}
}

static void
test_held_event(void **state)
{
	static const struct timespec now = {1795860001, 0};
	struct guard_opts o = {20, 600000};
	char held[GUARD_EVENT_ID_LEN], held2[GUARD_EVENT_ID_LEN], out[OUTCOME_EVENT_ID_LEN];
	char err[512] = "";
	json_t *ev, *data;

	(void)state;
	guard_held_event_id("c-1", held);
	guard_held_event_id("c-1", held2);
	outcome_event_id("c-1", out);
	assert_string_equal(held, held2);
	assert_string_not_equal(held, out);
	assert_int_equal(strlen(held), GUARD_EVENT_ID_LEN - 1);
	assert_int_equal(strncmp(held, "evt-", 4), 0);

	data = guard_held_data(&o, "account.delete", 20);
	assert_non_null(data);
	assert_string_equal(json_string_value(json_object_get(data, "reason")), "delete_guard");
	assert_int_equal(json_integer_value(json_object_get(data, "deletions")), 20);
	assert_int_equal(json_integer_value(json_object_get(data, "limit")), 20);
	assert_int_equal(json_integer_value(json_object_get(data, "window_seconds")), 600);
	ev = outcome_event("c-1", "cust-1", "command.held", data, &now);
	assert_non_null(ev);
	json_object_set_new(ev, "id", json_string(held));
	if (evcheck_event(ev, err, sizeof(err)) != 0)
		fail_msg("command.held breaks the schema: %s", err);
	/* A missing field is caught: the schema is the contract. */
	json_object_del(json_object_get(ev, "data"), "window_seconds");
	assert_int_not_equal(evcheck_event(ev, err, sizeof(err)), 0);
	json_decref(ev);
}

static struct command *
parse(const char *text)
{
	struct validate_errors errs;
	struct command *cmd = NULL;

	assert_int_equal(command_parse(text, strlen(text), &cmd, &errs), VALIDATE_OK);
	return cmd;
}

static void
test_queue_body(void **state)
{
	static const char upsert[] =
	    "{\"specversion\":\"1.0\",\"id\":\"u-1\",\"source\":\"billing\",\"type\":"
	    "\"user.upsert\",\"subject\":\"cust-1\",\"data\":{\"user_id\":\"u1\",\"email\":"
	    "\"a@b.example\",\"first_name\":\"A\",\"last_name\":\"B\",\"password\":\"plain "
	    "secret\"}}";
	static const char update[] =
	    "{\"specversion\":\"1.0\",\"id\":\"a-1\",\"source\":\"billing\",\"type\":"
	    "\"account.update\",\"subject\":\"cust-1\",\"data\":{\"rooms\":3}}";
	struct cfg *c = wconfig_new();
	struct password_opts po;
	struct command *cmd, *kept;
	char err[512], *body = NULL;
	const char *digest;
	struct fsem slots;

	(void)state;
	assert_non_null(c);
	assert_int_equal(cfg_set(c, &KEY_TMPROV_ARGON2_OPSLIMIT, "1", err, sizeof(err)), 0);
	assert_int_equal(cfg_set(c, &KEY_TMPROV_ARGON2_MEMLIMIT, "8192", err, sizeof(err)), 0);
	assert_int_equal(password_opts_from_cfg(&po, c, err, sizeof(err)), 0);
	fsem_init(&slots, 1);

	cmd = parse(upsert);
	assert_int_equal(guard_queue_body(cmd, upsert, strlen(upsert), &po, &slots, NULL, &body,
					  err, sizeof(err)),
			 0);
	assert_null(strstr(body, "plain secret"));
	kept = parse(body);
	assert_null(json_object_get(kept->data, "password"));
	digest = json_string_value(json_object_get(kept->data, "password_digest"));
	assert_non_null(digest);
	assert_true(password_verifier_valid(digest));
	assert_true(password_verifier_within(&po, digest, err, sizeof(err)));
	/* ... and it verifies the credential TM will send for the password. */
	{
		char cred[1100];

		assert_int_equal(password_credential(&po, "plain secret", cred, sizeof(cred)), 0);
		assert_int_equal(password_verify(&po, digest, cred), 1);
	}
	assert_string_equal(json_string_value(json_object_get(kept->data, "email")), "a@b.example");
	command_free(kept);
	command_free(cmd);
	free(body);

	cmd = parse(update);
	assert_int_equal(guard_queue_body(cmd, update, strlen(update), &po, &slots, NULL, &body,
					  err, sizeof(err)),
			 0);
	assert_string_equal(body, update);
	free(body);
	command_free(cmd);
	fsem_destroy(&slots);
	cfg_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_applies),    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_decide),     cmocka_unit_test(test_held_event),
	    cmocka_unit_test(test_queue_body),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
