/* Tests for common/xmlw and common/buf: every value is escaped, the output parses back with
 * libxml2 to the very same text, bad bytes are replaced, and the size ceiling holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "buf.h"
#include "xmlw.h"

static char *
one_elem(const char *value, size_t max, int *err)
{
	struct xmlw w;
	size_t len;

	xmlw_init(&w, max);
	xmlw_open(&w, "__Return__");
	xmlw_elem(&w, "__Value__", value);
	xmlw_close(&w, "__Return__");
	return xmlw_finish(&w, &len, err);
}

/* Parses doc (hardened: no entities, no network) and returns the text of __Value__. */
static char *
parse_back(const char *doc)
{
	xmlDocPtr d = xmlReadMemory(doc, (int)strlen(doc), NULL, "UTF-8", XML_PARSE_NONET);
	xmlNodePtr root, n;
	char *text = NULL;

	assert_non_null(d);
	root = xmlDocGetRootElement(d);
	for (n = root->children; n != NULL; n = n->next) {
		if (n->type == XML_ELEMENT_NODE) {
			xmlChar *c = xmlNodeGetContent(n);
			text = strdup((const char *)c);
			xmlFree(c);
		}
	}
	xmlFreeDoc(d);
	assert_non_null(text);
	return text;
}

static void
test_escapes_and_round_trips(void **state)
{
	static const char *const values[] = {
	    "Q&A <Board> \"2027\"",
	    "it's <![CDATA[x]]> &amp; ]]>",
	    "Zoë Ærøskøbing 会议 🎉",
	    "</__Value__><__Status__>SUCCEED</__Status__>",
	    "&lt;already&gt;",
	    "tab\tnewline\ncr\r",
	    "",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		int err = -9;
		char *doc = one_elem(values[i], 4096, &err), *back;

		assert_int_equal(err, 0);
		assert_non_null(doc);
		assert_null(strstr(doc, "<Board>"));
		back = parse_back(doc);
		assert_string_equal(back, values[i]);
		free(back);
		free(doc);
	}
}

static void
test_exact_escaping(void **state)
{
	int err;
	char *doc = one_elem("Q&A <Board> \"2027\" 'x'", 4096, &err);

	(void)state;
	assert_non_null(strstr(doc, "<__Value__>Q&amp;A &lt;Board&gt; &quot;2027&quot; "
				    "&apos;x&apos;</__Value__>"));
	assert_int_equal(strncmp(doc, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39), 0);
	free(doc);
}

/* Bytes that are not valid UTF-8, and characters XML 1.0 cannot carry, become U+FFFD. */
static void
test_replaces_invalid(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"a\x01z", "a\xEF\xBF\xBDz"},
	    {"a\x1b[31mz", "a\xEF\xBF\xBD[31mz"},
	    {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},		      /* overlong '/' */
	    {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate */
	    {"x\xE2\x82", "x\xEF\xBF\xBD\xEF\xBF\xBD"},		      /* truncated */
	    {"\xEF\xBF\xBE", "\xEF\xBF\xBD"},			      /* U+FFFE */
	    {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err;
		char *doc = one_elem(cases[i].in, 4096, &err), *back;

		assert_non_null(doc);
		back = parse_back(doc);
		assert_string_equal(back, cases[i].out);
		free(back);
		free(doc);
	}
}

static void
test_size_ceiling(void **state)
{
	char big[600], *doc;
	int err = 0;

	(void)state;
	memset(big, '&', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* 599 '&' become 2995 bytes: over a 1 KiB ceiling. */
	assert_null(one_elem(big, 1024, &err));
	assert_int_equal(err, BUF_TOO_LARGE);
	doc = one_elem("small", 1024, &err);
	assert_non_null(doc);
	free(doc);
	/* Plain text goes out in runs: a run over the ceiling is refused just the same. */
	memset(big, 'a', sizeof(big) - 1);
	err = 0;
	assert_null(one_elem(big, 512, &err));
	assert_int_equal(err, BUF_TOO_LARGE);
}

static void
test_buf_limits(void **state)
{
	struct buf b;
	size_t len;
	char *s;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_appends(&b, "0123456789"), BUF_OK);
	assert_int_equal(buf_appends(&b, "x"), BUF_TOO_LARGE);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");
	buf_reset(&b);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "abc"), BUF_OK);
	assert_int_equal(buf_printf(&b, "%s", "too long"), BUF_TOO_LARGE);
	s = buf_take(&b, &len);
	assert_string_equal(s, "42-abc");
	assert_int_equal(len, 6);
	assert_null(b.data);
	free(s);
	buf_free(&b);
	assert_int_equal(buf_append(&b, "x", (size_t)-1), BUF_TOO_LARGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escapes_and_round_trips),
	    cmocka_unit_test(test_exact_escaping),
	    cmocka_unit_test(test_replaces_invalid),
	    cmocka_unit_test(test_size_ceiling),
	    cmocka_unit_test(test_buf_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
