/* Tests for common/validate: every vector of tests/vectors/commands/manifest.tsv gets the
 * expected status and an error naming the expected field (the same manifest that
 * tests/schema/check_vectors.py checks the JSON Schemas against), plus the API's own promises. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

#define MAX_VECTORS 512

struct vector {
	char file[128];
	char status[32];
	char field[64];
	char schema_status[32]; /* check_vectors.py's verdict, "" when not given */
};

static const char *vector_dir_path;
static struct vector vectors[MAX_VECTORS];
static size_t nvectors;

static const char *const EXAMPLE =
    "{\"specversion\":\"1.0\",\"id\":\"c-000123\",\"source\":\"billing\","
    "\"type\":\"account.create\",\"subject\":\"cust-1042\",\"time\":\"2026-11-28T10:00:00Z\","
    "\"data\":{\"company_name\":\"Acme\",\"email\":\"ops@acme.example\",\"rooms\":2,"
    "\"participants\":25}}";

/* Reads a whole file into a fresh buffer of exactly its size (no terminator, so that a
 * read past len shows under ASan). */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)(n > 0 ? n : 0);
	return buf;
}

static enum validate_status
parse_str(const char *s, struct command **out, struct validate_errors *errs)
{
	return command_parse(s, strlen(s), out, errs);
}

/* Whether some error message is about field: it starts with "field:". */
static int
names_field(const struct validate_errors *errs, const char *field)
{
	size_t n = strlen(field);

	for (size_t i = 0; i < errs->n; i++)
		if (strncmp(errs->msg[i], field, n) == 0 && errs->msg[i][n] == ':')
			return 1;
	return 0;
}

static void
print_errors(const struct validate_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		print_message("#   %s\n", errs->msg[i]);
}

/* ------------------------------------------------------------------ vectors */

static void
test_vector(void **state)
{
	const struct vector *v = *state;
	struct validate_errors errs;
	struct command *cmd = NULL;
	enum validate_status st;
	char path[1024];
	size_t len = 0;
	char *buf;

	snprintf(path, sizeof path, "%s/%s", vector_dir_path, v->file);
	buf = slurp(path, &len);
	if (!buf)
		fail_msg("cannot read %s", path);
	st = command_parse(buf, len, &cmd, &errs);
	free(buf);
	if (strcmp(validate_status_name(st), v->status) != 0) {
		print_errors(&errs);
		command_free(cmd);
		fail_msg("%s: validator says %s, manifest %s", v->file, validate_status_name(st),
			 v->status);
	}
	if (v->schema_status[0] && strcmp(v->schema_status, v->status) != 0) {
		command_free(cmd);
		fail_msg("%s: schema says %s, validator %s", v->file, v->schema_status, v->status);
	}
	if (strcmp(v->field, "-") != 0 && !names_field(&errs, v->field)) {
		print_errors(&errs);
		command_free(cmd);
		fail_msg("%s: no error names %s", v->file, v->field);
	}
	if (st == VALIDATE_OK) {
		assert_int_equal(errs.n, 0);
		assert_non_null(cmd);
		assert_int_not_equal(cmd->kind, CMD_UNKNOWN);
		assert_string_equal(cmd_type_name(cmd->kind), cmd->type);
	} else {
		assert_true(errs.n >= 1);
	}
	if (st == VALIDATE_TOO_LARGE || st == VALIDATE_NOT_UTF8 || st == VALIDATE_NOT_JSON)
		assert_null(cmd);
	command_free(cmd);
}

static void
test_vectors_missing(void **state)
{
	(void)state;
	fail_msg("TMPROV_TEST_SRC is not set (or its tests/vectors/commands/manifest.tsv is "
		 "unreadable): cannot run the shared vectors");
}

/* Splits a tab-separated manifest line into three fields. Returns 0 or -1. */
static int
split3(char *line, char **a, char **b, char **c)
{
	*a = strtok(line, "\t\n");
	*b = strtok(NULL, "\t\n");
	*c = strtok(NULL, "\t\n");
	return *a && *b && *c ? 0 : -1;
}

static int
load_manifest(const char *src)
{
	static char dir[1024];
	char path[1100], line[512], *a, *b, *c;
	FILE *f;

	snprintf(dir, sizeof dir, "%s/tests/vectors/commands", src);
	vector_dir_path = dir;
	snprintf(path, sizeof path, "%s/manifest.tsv", dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f) && nvectors < MAX_VECTORS) {
		if (line[0] == '#' || split3(line, &a, &b, &c) < 0)
			continue;
		snprintf(vectors[nvectors].file, sizeof vectors[nvectors].file, "%s", a);
		snprintf(vectors[nvectors].status, sizeof vectors[nvectors].status, "%s", b);
		snprintf(vectors[nvectors].field, sizeof vectors[nvectors].field, "%s", c);
		nvectors++;
	}
	fclose(f);
	return nvectors > 0 ? 0 : -1;
}

/* TMPROV_SCHEMA_VERDICTS (optional): the file check_vectors.py --verdicts wrote, lines
 * "commands/<file>\t<status>". Returns 0, or -1 when it is set but unreadable. */
static int
load_verdicts(void)
{
	const char *path = getenv("TMPROV_SCHEMA_VERDICTS");
	char line[512], *a, *b;
	FILE *f;

	if (!path || !*path)
		return 0;
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		a = strtok(line, "\t\n");
		b = strtok(NULL, "\t\n");
		if (!a || !b || strncmp(a, "commands/", 9) != 0)
			continue;
		for (size_t i = 0; i < nvectors; i++)
			if (strcmp(vectors[i].file, a + 9) == 0)
				snprintf(vectors[i].schema_status, sizeof vectors[i].schema_status,
					 "%s", b);
	}
	fclose(f);
	return 0;
}

/* ------------------------------------------------------------- direct cases */

static void
test_type_names(void **state)
{
	(void)state;
	for (int k = CMD_UNKNOWN + 1; k < CMD_TYPE_COUNT; k++) {
		assert_non_null(cmd_type_name((enum cmd_type)k));
		assert_int_equal(cmd_type_parse(cmd_type_name((enum cmd_type)k)), k);
	}
	assert_string_equal(cmd_type_name(CMD_ACCOUNT_CREATE), "account.create");
	assert_string_equal(cmd_type_name(CMD_MEETING_CANCEL), "meeting.cancel");
	assert_null(cmd_type_name(CMD_UNKNOWN));
	assert_null(cmd_type_name((enum cmd_type)CMD_TYPE_COUNT));
	assert_int_equal(cmd_type_parse("account.created"), CMD_UNKNOWN);
	assert_int_equal(cmd_type_parse("Account.Create"), CMD_UNKNOWN);
	assert_int_equal(cmd_type_parse(NULL), CMD_UNKNOWN);
}

static void
test_status_names(void **state)
{
	static const char *const want[VALIDATE_STATUS_COUNT] = {
	    "ok", "too_large", "not_utf8", "not_json", "not_cloudevent", "unknown_type", "invalid",
	};

	(void)state;
	for (int s = 0; s < VALIDATE_STATUS_COUNT; s++)
		assert_string_equal(validate_status_name((enum validate_status)s), want[s]);
	assert_int_equal(VALIDATE_OK, 0);
	assert_null(validate_status_name((enum validate_status)VALIDATE_STATUS_COUNT));
	assert_null(validate_status_name((enum validate_status) - 1));
}

static void
test_ok_command_fields(void **state)
{
	struct validate_errors errs;
	struct command *cmd;

	(void)state;
	assert_int_equal(parse_str(EXAMPLE, &cmd, &errs), VALIDATE_OK);
	assert_int_equal(errs.n, 0);
	assert_int_equal(errs.more, 0);
	assert_non_null(cmd);
	assert_string_equal(cmd->id, "c-000123");
	assert_string_equal(cmd->source, "billing");
	assert_string_equal(cmd->subject, "cust-1042");
	assert_string_equal(cmd->type, "account.create");
	assert_int_equal(cmd->kind, CMD_ACCOUNT_CREATE);
	assert_true(json_is_object(cmd->data));
	assert_ptr_equal(cmd->data, json_object_get(cmd->root, "data"));
	assert_int_equal(json_integer_value(json_object_get(cmd->data, "rooms")), 2);
	assert_string_equal(json_string_value(json_object_get(cmd->data, "email")),
			    "ops@acme.example");
	command_free(cmd);
	command_free(NULL);
}

/* 2.0 is the integer 2 for JSON Schema; the worker reads it with json_integer_value. */
static void
test_integral_reals_become_integers(void **state)
{
	const char *s = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"b\",\"type\":"
			"\"account.update\",\"subject\":\"c\",\"data\":{\"rooms\":2.0,"
			"\"participants\":25e1}}";
	struct command *cmd;
	json_t *rooms, *participants;

	(void)state;
	assert_int_equal(parse_str(s, &cmd, NULL), VALIDATE_OK);
	rooms = json_object_get(cmd->data, "rooms");
	participants = json_object_get(cmd->data, "participants");
	assert_true(json_is_integer(rooms));
	assert_int_equal(json_integer_value(rooms), 2);
	assert_true(json_is_integer(participants));
	assert_int_equal(json_integer_value(participants), 250);
	command_free(cmd);
}

static void
test_no_data_types(void **state)
{
	const char *absent = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"b\",\"type\":"
			     "\"account.delete\",\"subject\":\"c\"}";
	const char *null = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"b\",\"type\":"
			   "\"account.query\",\"subject\":\"c\",\"data\":null}";
	const char *empty = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"b\",\"type\":"
			    "\"account.query\",\"subject\":\"c\",\"data\":{}}";
	struct command *cmd;

	(void)state;
	assert_int_equal(parse_str(absent, &cmd, NULL), VALIDATE_OK);
	assert_null(cmd->data);
	assert_int_equal(cmd->kind, CMD_ACCOUNT_DELETE);
	command_free(cmd);
	assert_int_equal(parse_str(null, &cmd, NULL), VALIDATE_OK);
	assert_null(cmd->data);
	command_free(cmd);
	assert_int_equal(parse_str(empty, &cmd, NULL), VALIDATE_OK);
	assert_true(json_is_object(cmd->data));
	assert_int_equal(json_object_size(cmd->data), 0);
	command_free(cmd);
}

/* *out is set whenever id and subject are usable, so that command.rejected can be sent. */
static void
test_out_on_rejection(void **state)
{
	struct validate_errors errs;
	struct command *cmd;

	(void)state;
	assert_int_equal(parse_str("{\"specversion\":\"1.0\",\"id\":\"c-9\",\"source\":\"b\","
				   "\"type\":\"account.purge\",\"subject\":\"cust-1\"}",
				   &cmd, &errs),
			 VALIDATE_UNKNOWN_TYPE);
	assert_non_null(cmd);
	assert_string_equal(cmd->id, "c-9");
	assert_string_equal(cmd->subject, "cust-1");
	assert_string_equal(cmd->type, "account.purge");
	assert_int_equal(cmd->kind, CMD_UNKNOWN);
	assert_string_equal(errs.msg[0], "type: is not a known command type");
	command_free(cmd);

	assert_int_equal(parse_str("{\"specversion\":\"1.0\",\"id\":\"c-9\",\"type\":"
				   "\"user.delete\",\"subject\":\"cust-1\",\"data\":{}}",
				   &cmd, &errs),
			 VALIDATE_NOT_CLOUDEVENT);
	assert_non_null(cmd);
	assert_null(cmd->source);
	assert_int_equal(cmd->kind, CMD_USER_DELETE);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0], "source: is required");
	command_free(cmd);

	assert_int_equal(parse_str("{\"specversion\":\"1.0\",\"id\":\"c-9\",\"source\":\"b\","
				   "\"type\":\"account.create\",\"subject\":\"cust-1\","
				   "\"data\":{\"company_name\":\"A\",\"email\":\"a@b.c\","
				   "\"rooms\":0,\"participants\":1}}",
				   &cmd, &errs),
			 VALIDATE_INVALID);
	assert_non_null(cmd);
	assert_int_equal(cmd->kind, CMD_ACCOUNT_CREATE);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0], "data.rooms: must be an integer from 1 to 10000");
	command_free(cmd);

	/* Unusable subject or id: nothing to address a command.rejected to. */
	assert_int_equal(parse_str("{\"specversion\":\"1.0\",\"id\":\"c-9\",\"source\":\"b\","
				   "\"type\":\"account.query\",\"subject\":\"cust 1\"}",
				   &cmd, &errs),
			 VALIDATE_NOT_CLOUDEVENT);
	assert_null(cmd);
	assert_int_equal(parse_str("{\"specversion\":\"1.0\",\"id\":7,\"source\":\"b\","
				   "\"type\":\"account.query\",\"subject\":\"cust-1\"}",
				   &cmd, &errs),
			 VALIDATE_NOT_CLOUDEVENT);
	assert_null(cmd);
	assert_int_equal(parse_str("[1]", &cmd, &errs), VALIDATE_NOT_CLOUDEVENT);
	assert_null(cmd);
	assert_string_equal(errs.msg[0], "message: must be a JSON object");
	assert_int_equal(parse_str("{\"id\":", &cmd, &errs), VALIDATE_NOT_JSON);
	assert_null(cmd);
}

/* At most VALIDATE_MAX_ERRORS messages are kept; the rest are counted. */
static void
test_error_cap(void **state)
{
	char buf[2048];
	size_t used;
	struct validate_errors errs;
	struct command *cmd;

	(void)state;
	used = (size_t)snprintf(buf, sizeof buf,
				"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"b\",\"type\":"
				"\"account.create\",\"subject\":\"c\",\"data\":{\"f0\":0");
	for (int i = 1; i < 30; i++)
		used += (size_t)snprintf(buf + used, sizeof buf - used, ",\"f%d\":%d", i, i);
	snprintf(buf + used, sizeof buf - used, "}}");
	assert_int_equal(parse_str(buf, &cmd, &errs), VALIDATE_INVALID);
	/* 4 required fields missing + 30 unknown ones */
	assert_int_equal(errs.n, VALIDATE_MAX_ERRORS);
	assert_int_equal(errs.more, 34 - VALIDATE_MAX_ERRORS);
	assert_string_equal(errs.msg[0], "data.company_name: is required");
	assert_string_equal(errs.msg[4], "data.f0: is not allowed");
	command_free(cmd);
}

/* Messages name fields but never repeat values (passwords, personal data). */
static void
test_errors_never_quote_values(void **state)
{
	const char *s = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"b\",\"type\":"
			"\"user.upsert\",\"subject\":\"c\",\"data\":{\"user_id\":\"u\","
			"\"email\":\"SECRETmail\",\"first_name\":\"SECRET\\n\",\"last_name\":\"L\","
			"\"password\":\"SECRET\\u0001pw\",\"password_digest\":\"SECRETdigest\"}}";
	struct validate_errors errs;
	struct command *cmd;

	(void)state;
	assert_int_equal(parse_str(s, &cmd, &errs), VALIDATE_INVALID);
	assert_int_equal(errs.n, 5);
	for (size_t i = 0; i < errs.n; i++)
		assert_null(strstr(errs.msg[i], "SECRET"));
	assert_true(names_field(&errs, "data.email"));
	assert_true(names_field(&errs, "data.first_name"));
	assert_true(names_field(&errs, "data.password"));
	assert_true(names_field(&errs, "data.password_digest"));
	command_free(cmd);
}

/* Names taken from the message are shown as printable ASCII only, and shortened. */
static void
test_error_names_sanitised(void **state)
{
	const char *s =
	    "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"b\",\"type\":"
	    "\"user.delete\",\"subject\":\"c\",\"data\":{\"user_id\":\"u\","
	    "\"a\\nb\\u00e4\":1,\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxx\":2}}";
	struct validate_errors errs;
	struct command *cmd;

	(void)state;
	assert_int_equal(parse_str(s, &cmd, &errs), VALIDATE_INVALID);
	assert_int_equal(errs.n, 2);
	assert_string_equal(errs.msg[0], "data.a?b??: is not allowed");
	assert_non_null(strstr(errs.msg[1], "...: is not allowed"));
	assert_true(strlen(errs.msg[1]) < 80);
	command_free(cmd);
}

/* Exactly VALIDATE_MAX_BYTES passes, one more does not; len is honoured (no terminator). */
static void
test_size_boundary(void **state)
{
	size_t n = strlen(EXAMPLE);
	char *buf = malloc(VALIDATE_MAX_BYTES + 1);
	struct command *cmd;

	(void)state;
	assert_non_null(buf);
	memcpy(buf, EXAMPLE, n);
	memset(buf + n, ' ', VALIDATE_MAX_BYTES + 1 - n);
	assert_int_equal(command_parse(buf, VALIDATE_MAX_BYTES, &cmd, NULL), VALIDATE_OK);
	command_free(cmd);
	assert_int_equal(command_parse(buf, VALIDATE_MAX_BYTES + 1, &cmd, NULL),
			 VALIDATE_TOO_LARGE);
	assert_null(cmd);
	/* A prefix of the buffer is judged on its own: the cut object is not JSON. */
	assert_int_equal(command_parse(buf, n - 1, &cmd, NULL), VALIDATE_NOT_JSON);
	free(buf);
}

/* An independent UTF-8 decoder (RFC 3629 by the definition: shortest form, no surrogates,
 * at most U+10FFFF) to compare validate_utf8 with. */
static int
ref_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 4;
			cp = s[i] & 0x07;
		} else {
			return 0;
		}
		if (i + n > len)
			return 0;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += n;
	}
	return 1;
}

static void
test_utf8_exhaustive(void **state)
{
	unsigned char b[4];
	unsigned long seed = 12345;

	(void)state;
	assert_true(validate_utf8("", 0));
	for (uint32_t v = 0; v < (1u << 24); v++) {
		b[0] = (unsigned char)(v >> 16);
		b[1] = (unsigned char)(v >> 8);
		b[2] = (unsigned char)v;
		if (v < (1u << 16) && validate_utf8((char *)b + 1, 2) != ref_utf8(b + 1, 2))
			fail_msg("2 bytes %02x %02x disagree", b[1], b[2]);
		if (validate_utf8((char *)b, 3) != ref_utf8(b, 3))
			fail_msg("3 bytes %02x %02x %02x disagree", b[0], b[1], b[2]);
	}
	/* 4-byte sequences: every lead byte with random and boundary continuations. */
	for (int i = 0; i < 4000000; i++) {
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		b[0] = (unsigned char)(0xe8 + (seed >> 60));
		b[1] = (unsigned char)(seed >> 40);
		b[2] = (unsigned char)(seed >> 32);
		b[3] = (unsigned char)(seed >> 24);
		if (i & 1) { /* half of them with well-formed continuation bits */
			for (int k = 1; k < 4; k++)
				b[k] = (unsigned char)((b[k] & 0x3f) | 0x80);
		}
		if (validate_utf8((char *)b, 4) != ref_utf8(b, 4))
			fail_msg("4 bytes %02x %02x %02x %02x disagree", b[0], b[1], b[2], b[3]);
	}
	assert_true(validate_utf8("\xf4\x8f\xbf\xbf", 4));
	assert_false(validate_utf8("\xf4\x90\x80\x80", 4));
	assert_true(validate_utf8("\xf0\x90\x80\x80", 4));
	assert_false(validate_utf8("\xf0\x8f\xbf\xbf", 4));
}

int
main(void)
{
	static const struct CMUnitTest direct[] = {
	    cmocka_unit_test(test_type_names),
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_ok_command_fields),
	    cmocka_unit_test(test_integral_reals_become_integers),
	    cmocka_unit_test(test_no_data_types),
	    cmocka_unit_test(test_out_on_rejection),
	    cmocka_unit_test(test_error_cap),
	    cmocka_unit_test(test_errors_never_quote_values),
	    cmocka_unit_test(test_error_names_sanitised),
	    cmocka_unit_test(test_size_boundary),
	    cmocka_unit_test(test_utf8_exhaustive),
	};
	static struct CMUnitTest tests[sizeof direct / sizeof direct[0] + MAX_VECTORS];
	const char *src = getenv("TMPROV_TEST_SRC");
	size_t n = sizeof direct / sizeof direct[0];

	memcpy(tests, direct, sizeof direct);
	if (!src || load_manifest(src) < 0) {
		tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_vectors_missing);
	} else if (load_verdicts() < 0) {
		fprintf(stderr, "TMPROV_SCHEMA_VERDICTS is set but cannot be read\n");
		return 1;
	}
	for (size_t i = 0; i < nvectors; i++) {
		tests[n].name = vectors[i].file;
		tests[n].test_func = test_vector;
		tests[n].initial_state = &vectors[i];
		n++;
	}
	/* One group, built at run time: one TAP line per vector. */
	return _cmocka_run_group_tests("validate", tests, n, NULL, NULL);
}
