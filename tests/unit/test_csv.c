/* Tests for common/csv: RFC 4180 quoting, line ends, line numbers of records that span lines,
 * blank lines, the byte order mark, and that a malformed or oversized record is reported with
 * its line and skipped while the records after it are still read. Table-driven: each case is an
 * input and the transcript of what the reader returns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"

struct csv_case {
	const char *name;
	const char *input;
	/* One line per csv_next result until CSV_EOF: "LINE:f1|f2|..." for a record,
	 * "LINE:!STATUS" for an error. */
	const char *want;
};

static const struct csv_case CASES[] = {
    {"plain", "a,b,c\n1,2,3\n", "1:a|b|c\n2:1|2|3\n"},
    {"no final line end", "a,b\n1,2", "1:a|b\n2:1|2\n"},
    {"crlf", "a,b\r\n1,2\r\n", "1:a|b\n2:1|2\n"},
    {"lone cr", "a,b\r1,2\r", "1:a|b\n2:1|2\n"},
    {"empty fields", ",a,,\n", "1:|a||\n"},
    {"quoted comma and quote", "\"x,y\",\"say \"\"hi\"\"\"\n", "1:x,y|say \"hi\"\n"},
    {"quoted line break keeps the start line", "a,\"two\nlines\"\nb,c\n",
     "1:a|two\nlines\n3:b|c\n"},
    {"quoted crlf kept as is", "\"x\r\ny\"\n", "1:x\r\ny\n"},
    {"empty quoted", "\"\",\"\"\n", "1:|\n"},
    {"blank lines skipped", "\n\na\n\r\n\nb\n", "3:a\n6:b\n"},
    {"byte order mark", "\xEF\xBB\xBFsubject,x\n", "1:subject|x\n"},
    {"not a byte order mark", "\xEF\xBBz\n", "1:\xEF\xBBz\n"},
    {"utf-8 kept", "Zoë,Ünïcode\n", "1:Zoë|Ünïcode\n"},
    {"spaces kept", " a , b \n", "1: a | b \n"},
    {"quote in unquoted field", "a,b\"c\nd,e\n", "1:!-1\n2:d|e\n"},
    {"text after closing quote", "\"a\"b,c\nd\n", "1:!-1\n2:d\n"},
    {"unterminated quote", "a\n\"open,\nx\n", "1:a\n2:!-3\n"},
    {"empty input", "", ""},
};

static void
transcript(const char *input, char *out, size_t outlen)
{
	FILE *in = fmemopen((void *)input, strlen(input), "r");
	struct csv_reader *r;
	char err[256];
	size_t used = 0;
	int rc;

	/* fmemopen of an empty buffer fails on some libcs: read it from /dev/null then. */
	if (in == NULL)
		in = fopen("/dev/null", "r");
	assert_non_null(in);
	r = csv_reader_new(in);
	assert_non_null(r);
	out[0] = '\0';
	while ((rc = csv_next(r, err, sizeof(err))) != CSV_EOF) {
		used += (size_t)snprintf(out + used, outlen - used, "%ld:", csv_line(r));
		if (rc == CSV_RECORD) {
			for (size_t i = 0; i < csv_nfields(r); i++)
				used += (size_t)snprintf(out + used, outlen - used, "%s%s",
							 i ? "|" : "", csv_field(r, i));
		} else {
			assert_true(err[0] != '\0');
			used += (size_t)snprintf(out + used, outlen - used, "!%d", rc);
		}
		used += (size_t)snprintf(out + used, outlen - used, "\n");
		assert_true(used < outlen);
		if (rc == CSV_UNTERMINATED || rc == CSV_IO)
			break;
	}
	csv_reader_free(r);
	fclose(in);
}

static void
test_cases(void **state)
{
	char got[4096];
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		transcript(CASES[i].input, got, sizeof(got));
		if (strcmp(got, CASES[i].want) != 0) {
			fprintf(stderr, "case '%s':\n got: %s\nwant: %s\n", CASES[i].name, got,
				CASES[i].want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* A record over the byte limit is refused as too large, and the next one still read. */
static void
test_too_large(void **state)
{
	size_t n = CSV_MAX_RECORD + 10;
	char *input = malloc(n + 64), got[256];
	int rc;

	(void)state;
	assert_non_null(input);
	strcpy(input, "a,b\n\"");
	memset(input + 5, 'x', n);
	strcpy(input + 5 + n, "\",y\nlast,1\n");
	transcript(input, got, sizeof(got));
	assert_string_equal(got, "1:a|b\n2:!-2\n3:last|1\n");
	/* Exactly at the limit is fine. */
	memset(input, 'x', CSV_MAX_RECORD);
	strcpy(input + CSV_MAX_RECORD, "\n");
	{
		FILE *in = fmemopen(input, strlen(input), "r");
		struct csv_reader *r = csv_reader_new(in);
		char err[128];

		rc = csv_next(r, err, sizeof(err));
		assert_int_equal(rc, CSV_RECORD);
		assert_int_equal(strlen(csv_field(r, 0)), CSV_MAX_RECORD);
		csv_reader_free(r);
		fclose(in);
	}
	free(input);
}

/* More fields than CSV_MAX_FIELDS. */
static void
test_too_many_fields(void **state)
{
	char input[CSV_MAX_FIELDS * 2 + 32], got[256];
	size_t n = 0;

	(void)state;
	for (int i = 0; i <= CSV_MAX_FIELDS; i++)
		input[n++] = ',';
	strcpy(input + n, "\nok\n");
	transcript(input, got, sizeof(got));
	assert_string_equal(got, "1:!-2\n2:ok\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_too_large),
	    cmocka_unit_test(test_too_many_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
