/* Tests for CloudEvents binary content mode in common/validate: which messages count as binary,
 * and that a binary-mode command (ce_* headers, data as the value) gets exactly the verdict and
 * first error of its structured twin, through command_binary_text and command_parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "validate.h"

#define MAXH 12

struct bcase {
	const char *what;
	const char *hdr[MAXH][2]; /* name, value; value NULL: header without a value */
	const char *value;	  /* NULL: no value */
	enum validate_status want;
};

static size_t
headers_of(const struct bcase *c, struct ce_header *h)
{
	size_t n = 0;

	for (; n < MAXH && c->hdr[n][0] != NULL; n++)
		h[n] = (struct ce_header){c->hdr[n][0], c->hdr[n][1],
					  c->hdr[n][1] ? strlen(c->hdr[n][1]) : 0};
	return n;
}

/* The structured twin: the same attributes in a JSON object, data parsed from the value. NULL
 * when the value is not JSON (the twin is then not JSON either). */
static char *
twin_of(const struct bcase *c)
{
	json_t *o = json_object(), *data;
	char *text;

	for (size_t i = 0; i < MAXH && c->hdr[i][0] != NULL; i++) {
		const char *n = c->hdr[i][0], *v = c->hdr[i][1];
		json_t *jv = v ? json_string(v) : json_null();

		if (strncmp(n, "ce_", 3) == 0)
			json_object_set_new(o, n + 3, jv);
		else if (strcmp(n, "content-type") == 0)
			json_object_set_new(o, "datacontenttype", jv);
		else
			json_decref(jv);
	}
	if (c->value != NULL) {
		data = json_loads(c->value, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
		if (data == NULL) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, "data", data);
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

#define BASE(type)                                                                                 \
	{"ce_specversion", "1.0"}, {"ce_id", "c-1"}, {"ce_source", "billing"}, {"ce_type", type},  \
	{                                                                                          \
		"ce_subject", "cust-1"                                                             \
	}

static const struct bcase CASES[] = {
    {"valid create",
     {BASE("account.create"), {"content-type", "application/json"}, {"traceparent", "x"}},
     "{\"company_name\":\"Acme\",\"email\":\"ops@acme.example\",\"rooms\":2,\"participants\":25}",
     VALIDATE_OK},
    {"valid delete, no value",
     {BASE("account.delete"), {"ce_time", "2026-11-28T10:00:00Z"}},
     NULL,
     VALIDATE_OK},
    {"extension attribute",
     {BASE("account.delete"), {"ce_traceparent", "00-ab"}},
     NULL,
     VALIDATE_OK},
    {"no source",
     {{"ce_specversion", "1.0"},
      {"ce_id", "c-1"},
      {"ce_type", "account.delete"},
      {"ce_subject", "cust-1"}},
     NULL,
     VALIDATE_NOT_CLOUDEVENT},
    {"bad specversion",
     {{"ce_specversion", "0.3"},
      {"ce_id", "c-1"},
      {"ce_source", "b"},
      {"ce_type", "account.delete"},
      {"ce_subject", "cust-1"}},
     NULL,
     VALIDATE_NOT_CLOUDEVENT},
    {"bad subject",
     {{"ce_specversion", "1.0"},
      {"ce_id", "c-1"},
      {"ce_source", "b"},
      {"ce_type", "account.delete"},
      {"ce_subject", "-x"}},
     NULL,
     VALIDATE_NOT_CLOUDEVENT},
    {"unknown type", {BASE("account.explode")}, "{}", VALIDATE_UNKNOWN_TYPE},
    {"invalid data",
     {BASE("account.create")},
     "{\"company_name\":\"Acme\",\"email\":\"ops@acme.example\",\"rooms\":0,\"participants\":25}",
     VALIDATE_INVALID},
    {"data not an object", {BASE("account.create")}, "\"boom\"", VALIDATE_INVALID},
    {"data where none belongs", {BASE("account.delete")}, "{\"x\":1}", VALIDATE_INVALID},
    {"other content type",
     {BASE("account.delete"), {"content-type", "text/plain"}},
     NULL,
     VALIDATE_NOT_CLOUDEVENT},
    {"header without value",
     {BASE("account.delete"), {"ce_time", NULL}},
     NULL,
     VALIDATE_NOT_CLOUDEVENT},
    {"upper-case attribute",
     {BASE("account.delete"), {"ce_Ext", "v"}},
     NULL,
     VALIDATE_NOT_CLOUDEVENT},
    {"value not JSON", {BASE("account.create")}, "{\"company_name\":", VALIDATE_NOT_JSON},
    /* Pasted as data, this would add a type of its own: refused as not one JSON value. */
    {"value smuggling an attribute",
     {BASE("account.delete")},
     "{}, \"type\": \"account.create\"",
     VALIDATE_NOT_JSON},
    {"value not UTF-8", {BASE("account.create")}, "\"\xff\"", VALIDATE_NOT_UTF8},
};

static void
test_same_verdict_as_structured(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		const struct bcase *c = &CASES[i];
		struct ce_header h[MAXH];
		size_t n = headers_of(c, h), tlen;
		struct validate_errors be, se;
		struct command *bc = NULL, *sc = NULL;
		enum validate_status bs, ss;
		char *text, *twin = twin_of(c);

		assert_true(command_is_binary(h, n));
		bs = command_binary_text(h, n, c->value, c->value ? strlen(c->value) : 0, &text,
					 &tlen, &be);
		if (bs == VALIDATE_OK)
			bs = command_parse(text, tlen, &bc, &be);
		ss = twin ? command_parse(twin, strlen(twin), &sc, &se) : VALIDATE_NOT_JSON;
		if (bs != c->want)
			fail_msg("%s: %s, want %s (%s)", c->what, validate_status_name(bs),
				 validate_status_name(c->want), be.n ? be.msg[0] : "");
		if (twin != NULL && c->want != VALIDATE_NOT_UTF8) {
			if (ss != bs)
				fail_msg("%s: binary %s, structured %s", c->what,
					 validate_status_name(bs), validate_status_name(ss));
			assert_int_equal(be.n, se.n);
			if (be.n > 0)
				assert_string_equal(be.msg[0], se.msg[0]);
			assert_int_equal(bc == NULL, sc == NULL);
		}
		if (bs == VALIDATE_OK) {
			assert_string_equal(bc->id, "c-1");
			assert_string_equal(bc->subject, "cust-1");
		}
		command_free(bc);
		command_free(sc);
		free(text);
		free(twin);
	}
}

static void
test_values_kept_exactly(void **state)
{
	static const char *const hdr[][2] = {
	    {"ce_specversion", "1.0"},	   {"ce_id", "a\"b\\c"},     {"ce_source", "src"},
	    {"ce_type", "account.create"}, {"ce_subject", "cust-9"},
	};
	static const char value[] = "{\"company_name\":\"A\\\"cme\",\"email\":\"o@a.example\","
				    "\"rooms\":2.0,\"participants\":25}";
	struct ce_header h[5];
	struct command *cmd;
	size_t tlen;
	char *text;

	(void)state;
	for (size_t i = 0; i < 5; i++)
		h[i] = (struct ce_header){hdr[i][0], hdr[i][1], strlen(hdr[i][1])};
	assert_int_equal(command_binary_text(h, 5, value, strlen(value), &text, &tlen, NULL),
			 VALIDATE_OK);
	assert_int_equal(command_parse(text, tlen, &cmd, NULL), VALIDATE_OK);
	assert_string_equal(cmd->id, "a\"b\\c");
	assert_string_equal(cmd->type, "account.create");
	assert_string_equal(json_string_value(json_object_get(cmd->data, "company_name")),
			    "A\"cme");
	assert_int_equal(json_integer_value(json_object_get(cmd->data, "rooms")), 2);
	command_free(cmd);
	free(text);
	/* A control byte in a header is escaped, then judged by the rules (not printable). */
	h[1] = (struct ce_header){"ce_id", "a\nb", 3};
	assert_int_equal(command_binary_text(h, 5, value, strlen(value), &text, &tlen, NULL),
			 VALIDATE_OK);
	assert_int_equal(command_parse(text, tlen, &cmd, NULL), VALIDATE_NOT_CLOUDEVENT);
	command_free(cmd);
	free(text);
}

static void
test_too_large(void **state)
{
	static char big[70000];
	struct ce_header h[6] = {
	    {"ce_specversion", "1.0", 3},      {"ce_id", "c-1", 3},	    {"ce_source", "s", 1},
	    {"ce_type", "account.delete", 14}, {"ce_subject", "cust-1", 6},
	};
	struct validate_errors errs;
	size_t tlen;
	char *text;

	(void)state;
	memset(big, 'x', sizeof(big));
	/* A value over the limit, and headers that make the event so. */
	assert_int_equal(command_binary_text(h, 5, big, sizeof(big), &text, &tlen, &errs),
			 VALIDATE_TOO_LARGE);
	assert_null(text);
	h[5] = (struct ce_header){"ce_ext", big, sizeof(big)};
	assert_int_equal(command_binary_text(h, 6, NULL, 0, &text, &tlen, &errs),
			 VALIDATE_TOO_LARGE);
	assert_null(text);
	assert_string_equal(errs.msg[0], "message: is more than 65536 bytes");
}

static void
test_is_binary(void **state)
{
	struct ce_header h[3] = {
	    {"ce_specversion", "1.0", 3},
	    {"content-type", "application/json", 16},
	    {"x", "y", 1},
	};

	(void)state;
	assert_true(command_is_binary(h, 3));
	h[1] = (struct ce_header){"content-type", "application/cloudevents+json", 28};
	assert_false(command_is_binary(h, 3));
	h[1] =
	    (struct ce_header){"Content-Type", "application/cloudevents+json; charset=UTF-8", 43};
	assert_false(command_is_binary(h, 3));
	assert_false(command_is_binary(h + 1, 2));
	assert_false(command_is_binary(NULL, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_verdict_as_structured),
	    cmocka_unit_test(test_values_kept_exactly),
	    cmocka_unit_test(test_too_large),
	    cmocka_unit_test(test_is_binary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
