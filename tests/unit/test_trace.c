/* Tests for common/trace: which traceparent values are valid (W3C Trace Context vectors), new
 * traces and child span ids (random, never zero, well-formed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"

static void
test_parse_vectors(void **state)
{
	static const struct {
		const char *s;
		int ok;
	} v[] = {
	    {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 1},
	    {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 1},
	    /* A later version: the first 55 characters, more after a '-'. */
	    {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", 1},
	    {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 1},
	    {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", 0},
	    /* Version 00 is exactly 55 characters. */
	    {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", 0},
	    {"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0},
	    {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", 0},
	    {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", 0},
	    {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", 0},
	    {"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", 0},
	    {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", 0},
	    {"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", 0},
	    {"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", 0},
	    {"0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0},
	    {"", 0},
	    {"garbage", 0},
	};
	struct trace t;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int rc = trace_parse(v[i].s, strlen(v[i].s), &t);

		if ((rc == 0) != v[i].ok)
			fail_msg("trace_parse(\"%s\") = %d, want %s", v[i].s, rc,
				 v[i].ok ? "valid" : "invalid");
	}
	assert_int_equal(
	    trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55, &t), 0);
	assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(t.parent_id, "00f067aa0ba902b7");
	assert_string_equal(t.flags, "01");
	/* The length given is what counts, not a NUL. */
	assert_int_equal(
	    trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 54, &t), -1);
}

static void
test_new_and_child(void **state)
{
	struct trace a, b, c;
	char tp[TRACEPARENT_LEN + 1], tp2[TRACEPARENT_LEN + 1];

	(void)state;
	trace_new(&a);
	trace_new(&b);
	assert_int_equal(strlen(a.trace_id), 32);
	assert_string_not_equal(a.trace_id, b.trace_id);
	assert_string_equal(a.parent_id, "");
	trace_child(&a, tp);
	trace_child(&a, tp2);
	assert_int_equal(strlen(tp), TRACEPARENT_LEN);
	/* Valid, same trace, its own span each time. */
	assert_int_equal(trace_parse(tp, strlen(tp), &c), 0);
	assert_string_equal(c.trace_id, a.trace_id);
	assert_string_equal(c.flags, a.flags);
	assert_string_not_equal(tp, tp2);
	/* A child of a parsed trace keeps its id and flags, with a new span. */
	assert_int_equal(
	    trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55, &a), 0);
	trace_child(&a, tp);
	assert_int_equal(strncmp(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36), 0);
	assert_int_not_equal(strncmp(tp + 36, "00f067aa0ba902b7", 16), 0);
	assert_string_equal(tp + 53, "01");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_vectors),
	    cmocka_unit_test(test_new_and_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
