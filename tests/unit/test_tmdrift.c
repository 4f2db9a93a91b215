/* Tests for common/tmdrift: which fields count as drifted (table of cases), the order and
 * types of the drift list, the text of values, and which FAILED reasons mean "no such
 * account". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmdrift.h"

#define NAME  (1u << TMDRIFT_COMPANY_NAME)
#define EMAIL (1u << TMDRIFT_EMAIL)
#define ROOMS (1u << TMDRIFT_ROOMS)
#define PARTS (1u << TMDRIFT_PARTICIPANTS)

static const struct tmdrift_account OURS = {"Acme", "ops@acme.example", 2, 25};

static void
test_compare_table(void **state)
{
	static const struct {
		struct tmdrift_account tm;
		unsigned want;
	} cases[] = {
	    {{"Acme", "ops@acme.example", 2, 25}, 0},
	    {{"ACME", "ops@acme.example", 2, 25}, NAME},  /* case counts */
	    {{"Acme ", "ops@acme.example", 2, 25}, NAME}, /* so does spacing */
	    {{"Acme", "Ops@acme.example", 2, 25}, EMAIL},
	    {{"Acme", "ops@acme.example", 9, 25}, ROOMS},
	    {{"Acme", "ops@acme.example", 2, 24}, PARTS},
	    {{"Acme", "ops@acme.example", -1, -1}, ROOMS | PARTS}, /* TM gave no number */
	    {{NULL, NULL, 2, 25}, NAME | EMAIL},		   /* no text at all */
	    {{"Other", "x@y.example", 3, 4}, NAME | EMAIL | ROOMS | PARTS},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned got = tmdrift_compare(&OURS, &cases[i].tm);

		if (got != cases[i].want)
			fail_msg("case %zu: mask %#x, want %#x", i, got, cases[i].want);
	}
	/* Both sides without text are in step: NULL reads as "". */
	{
		const struct tmdrift_account a = {NULL, "", 0, 0}, b = {"", NULL, 0, 0};

		assert_int_equal(tmdrift_compare(&a, &b), 0);
	}
}

static void
test_json_order_and_types(void **state)
{
	const struct tmdrift_account tm = {"Acme Console", "ops@acme.example", 9, 40};
	json_t *list = tmdrift_json(tmdrift_compare(&OURS, &tm), &OURS, &tm);
	char *text;

	(void)state;
	assert_non_null(list);
	text = json_dumps(list, JSON_COMPACT);
	assert_string_equal(text, "[{\"field\":\"company_name\",\"ours\":\"Acme\",\"tm\":\"Acme "
				  "Console\"},{\"field\":\"rooms\",\"ours\":2,\"tm\":9},"
				  "{\"field\":\"participants\",\"ours\":25,\"tm\":40}]");
	free(text);
	json_decref(list);
	list = tmdrift_json(0, &OURS, &OURS);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

static void
test_names_and_values(void **state)
{
	char v[64];

	(void)state;
	assert_string_equal(tmdrift_field_name(TMDRIFT_COMPANY_NAME), "company_name");
	assert_string_equal(tmdrift_field_name(TMDRIFT_PARTICIPANTS), "participants");
	assert_null(tmdrift_field_name(TMDRIFT_FIELD_COUNT));
	tmdrift_value(&OURS, TMDRIFT_EMAIL, v, sizeof(v));
	assert_string_equal(v, "ops@acme.example");
	tmdrift_value(&OURS, TMDRIFT_PARTICIPANTS, v, sizeof(v));
	assert_string_equal(v, "25");
}

static void
test_gone(void **state)
{
	static const struct {
		const char *reason;
		bool gone;
	} cases[] = {
	    {"company_uid does not exist", true},
	    {"No such account", true},
	    {"Account NOT FOUND", true},
	    {"the account doesn't exist", true},
	    {"email is not a valid address", false},
	    {"", false},
	    {NULL, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (tmdrift_gone(cases[i].reason) != cases[i].gone)
			fail_msg("case %zu (%s): want %d", i,
				 cases[i].reason ? cases[i].reason : "NULL", cases[i].gone);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compare_table),
	    cmocka_unit_test(test_json_order_and_types),
	    cmocka_unit_test(test_names_and_values),
	    cmocka_unit_test(test_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
