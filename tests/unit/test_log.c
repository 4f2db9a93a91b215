/* Tests for common/log: every line is one JSON object; the thread's log context (command id,
 * subject, type, partition, offset, trace id) appears as fields of its own, only while set and
 * only in the thread that set it; a huge message or type still leaves a well-formed line. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

static FILE *capture;
static int saved_stderr = -1;

/* stderr into a temporary file from here on. */
static int
setup(void **state)
{
	(void)state;
	capture = tmpfile();
	if (capture == NULL)
		return -1;
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	if (saved_stderr < 0 || dup2(fileno(capture), STDERR_FILENO) < 0)
		return -1;
	log_init("test", LOG_DEBUG);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fclose(capture);
	return 0;
}

/* The lines written since the last call, as parsed JSON objects (a new array). */
static json_t *
lines(void)
{
	static long done;
	json_t *out = json_array();
	char buf[8192];

	fseek(capture, done, SEEK_SET);
	while (fgets(buf, sizeof(buf), capture) != NULL) {
		json_error_t jerr;
		json_t *o = json_loads(buf, 0, &jerr);

		if (o == NULL || !json_is_object(o))
			fail_msg("not a JSON object line: %s (%s)", buf, jerr.text);
		json_array_append_new(out, o);
	}
	done = ftell(capture);
	return out;
}

static const char *
str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void
test_context_fields(void **state)
{
	struct log_ctx c = {
	    .command_id = "c-1",
	    .subject = "cust-1",
	    .type = "account.create",
	    .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
	    .partition = 3,
	    .offset = 9007199254740993LL,
	};
	json_t *l, *o;

	(void)state;
	log_info("before");
	log_ctx_set(&c);
	log_warn("during \"%s\"", "quoted");
	log_ctx_clear();
	log_info("after");
	log_ctx_position(2, 41);
	log_debug("position only");
	log_ctx_clear();
	l = lines();
	assert_int_equal(json_array_size(l), 4);
	o = json_array_get(l, 0);
	assert_null(json_object_get(o, "command_id"));
	assert_null(json_object_get(o, "partition"));
	o = json_array_get(l, 1);
	assert_string_equal(str(o, "msg"), "during \"quoted\"");
	assert_string_equal(str(o, "command_id"), "c-1");
	assert_string_equal(str(o, "subject"), "cust-1");
	assert_string_equal(str(o, "type"), "account.create");
	assert_string_equal(str(o, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_int_equal(json_integer_value(json_object_get(o, "partition")), 3);
	assert_int_equal(json_integer_value(json_object_get(o, "offset")), 9007199254740993LL);
	o = json_array_get(l, 2);
	assert_null(json_object_get(o, "command_id"));
	assert_null(json_object_get(o, "trace_id"));
	o = json_array_get(l, 3);
	assert_null(json_object_get(o, "command_id"));
	assert_int_equal(json_integer_value(json_object_get(o, "partition")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "offset")), 41);
	json_decref(l);
}

static void *
other_thread(void *arg)
{
	(void)arg;
	log_info("from another thread");
	return NULL;
}

/* A pool thread's context is its own. */
static void
test_context_per_thread(void **state)
{
	struct log_ctx c = {.command_id = "mine", .partition = -1};
	pthread_t t;
	json_t *l;

	(void)state;
	log_ctx_set(&c);
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	pthread_join(t, NULL);
	log_ctx_clear();
	l = lines();
	assert_int_equal(json_array_size(l), 1);
	assert_null(json_object_get(json_array_get(l, 0), "command_id"));
	json_decref(l);
}

/* A message as long as a line, and a rejected message's type of any length: still one JSON
 * object, the bounded fields kept. */
static void
test_long_values(void **state)
{
	static char big[70000];
	struct log_ctx c = {.command_id = "c-2",
			    .trace_id = "0af7651916cd43dd8448eb211c80319c",
			    .partition = 0,
			    .offset = 1};
	json_t *l, *o;

	(void)state;
	memset(big, '"', sizeof(big) - 1);
	c.type = big;
	log_ctx_set(&c);
	log_error("%s", big);
	log_ctx_clear();
	l = lines();
	assert_int_equal(json_array_size(l), 1);
	o = json_array_get(l, 0);
	assert_string_equal(str(o, "command_id"), "c-2");
	assert_string_equal(str(o, "trace_id"), "0af7651916cd43dd8448eb211c80319c");
	assert_int_equal(json_integer_value(json_object_get(o, "partition")), 0);
	json_decref(l);
}

/* log_enabled answers as the level filter drops: below the level no, at and above it yes, and a
 * reload's new level at once. */
static void
test_enabled(void **state)
{
	(void)state;
	log_set_level(LOG_INFO);
	assert_false(log_enabled(LOG_DEBUG));
	assert_true(log_enabled(LOG_INFO));
	assert_true(log_enabled(LOG_ERROR));
	log_set_level(LOG_DEBUG);
	assert_true(log_enabled(LOG_DEBUG));
	log_set_level(LOG_ERROR);
	assert_false(log_enabled(LOG_WARN));
	assert_true(log_enabled(LOG_ERROR));
	log_set_level(LOG_DEBUG); /* setup's */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_context_fields),
	    cmocka_unit_test(test_context_per_thread),
	    cmocka_unit_test(test_long_values),
	    cmocka_unit_test(test_enabled),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
