/* Integration tests of issue 13, items 4-7, on the real stack (PostgreSQL, tmprov-devkafka,
 * tmsim, tmprov-worker): a command's W3C traceparent followed to the worker's log lines (as the
 * trace_id field, beside command_id), its tm_calls and commands rows, its outcome event (the
 * traceparent extension: same trace id, the worker's span) and its DLQ copy; a command without
 * a valid one gets a new trace id used the same way; CloudEvents binary mode processed, and a
 * malformed binary command rejected exactly like its structured twin; a DLQ copy keeping the
 * original headers beside tmprov's prefixed ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/cmdjson.h"
#include "../support/wcase.h"
#include "../support/wenv.h"

static struct wenv *E;

#define TRACE_A "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN_A	"00f067aa0ba902b7"
#define TP_A	"00-" TRACE_A "-" SPAN_A "-01"
#define TRACE_B "0af7651916cd43dd8448eb211c80319c"
#define TP_B	"00-" TRACE_B "-b7ad6b7169203331-00"

static rd_kafka_headers_t *
headers(const char *const *nv)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(8);

	for (; nv[0] != NULL; nv += 2)
		rd_kafka_header_add(h, nv[0], -1, nv[1], -1);
	return h;
}

/* The trace id of an event's traceparent, checked well-formed and of another span than the
 * producer's; "" when it has none. */
static const char *
event_trace(const json_t *ev, char out[33])
{
	const char *tp = wcase_str(ev, "traceparent");

	out[0] = '\0';
	if (*tp == '\0')
		return out;
	wenv_assert(E, strlen(tp) == 55 && strncmp(tp, "00-", 3) == 0 && tp[35] == '-',
		    "traceparent %s is not W3C version 00", tp);
	wenv_assert(E, strncmp(tp + 36, SPAN_A, 16) != 0, "the event reuses the producer's span");
	memcpy(out, tp + 3, 32);
	out[32] = '\0';
	return out;
}

/* A log line of the worker carries command id, trace id, subject, position and type as fields
 * of their own (common/log.c writes them in this order after msg). */
static void
expect_log_fields(const char *id, const char *trace)
{
	char needle[256],
	    *subject = wenv_sql(E, "SELECT subject FROM commands WHERE id = $1", id, NULL);

	wenv_assert(E, subject != NULL, "no commands row for %s", id);
	snprintf(needle, sizeof(needle),
		 "\"command_id\":\"%s\",\"trace_id\":\"%s\",\"subject\":\"%s\",\"partition\":", id,
		 trace, subject);
	free(subject);
	wenv_assert(E, worker_log_count(E->w, needle) > 0, "no log line with %s", needle);
	wenv_assert(E, worker_log_count(E->w, "\"type\":\"account.create\"") > 0,
		    "no log line with the type as a field");
}

static void
expect_rows(const char *id, const char *trace, long min_calls)
{
	char *t = wenv_sql(E, "SELECT trace_id FROM commands WHERE id = $1", id, NULL);

	wenv_assert(E, t != NULL && strcmp(t, trace) == 0, "commands.trace_id of %s is %s, want %s",
		    id, t ? t : "NULL", trace);
	free(t);
	if (min_calls > 0) {
		long n = wenv_sql_long(E, "SELECT count(*) FROM tm_calls WHERE command_id = $1", id,
				       NULL);
		long m = wenv_sql_long(E,
				       "SELECT count(*) FROM tm_calls WHERE command_id = $1 "
				       "AND trace_id = $2",
				       id, trace, NULL);

		wenv_assert(E, n >= min_calls && m == n, "%s: %ld tm_calls rows, %ld with trace %s",
			    id, n, m, trace);
	}
}

/* ---- item 5: a traceparent header, followed everywhere ---- */

static void
test_trace_header(void **state)
{
	static const char *const h[] = {"traceparent", TP_A, NULL};
	char *body = cmdjson_text("tr-hdr", "account.create", "tr-1",
				  wcase_account_data("Trace Co", "t1@trace.example", 1, 2));
	char trace[33];
	const json_t *ev;

	(void)state;
	wenv_send_headers(E, "tr-1", body, strlen(body), headers(h), NULL);
	wenv_flush(E);
	free(body);
	ev = wenv_outcome(E, "tr-hdr", "tr-1", "account.created");
	assert_string_equal(event_trace(ev, trace), TRACE_A);
	expect_rows("tr-hdr", TRACE_A, 1);
	expect_log_fields("tr-hdr", TRACE_A);
}

/* The CloudEvents distributed-tracing extension attribute, when there is no header. */
static void
test_trace_attribute(void **state)
{
	json_t *ev0 = cmdjson_event("tr-attr", "account.create", "tr-2",
				    wcase_account_data("Trace Two", "t2@trace.example", 1, 2));
	char *body, trace[33];
	const json_t *ev;

	(void)state;
	json_object_set_new(ev0, "traceparent", json_string(TP_B));
	body = cmdjson_dump(ev0);
	json_decref(ev0);
	wenv_send_raw(E, "tr-2", body, strlen(body), NULL);
	wenv_flush(E);
	free(body);
	ev = wenv_outcome(E, "tr-attr", "tr-2", "account.created");
	assert_string_equal(event_trace(ev, trace), TRACE_B);
	/* The flags are the producer's. */
	assert_string_equal(wcase_str(ev, "traceparent") + 53, "00");
	expect_rows("tr-attr", TRACE_B, 1);
	expect_log_fields("tr-attr", TRACE_B);
}

/* None, or an invalid one (ignored with a log line): a new trace id, used the same way. */
static void
test_trace_new(void **state)
{
	static const char *const bad[] = {"traceparent", "00-nothex-00f067aa0ba902b7-01", NULL};
	char *body, trace[33], trace2[33];
	const json_t *ev;

	(void)state;
	wenv_send(E, "tr-none", "account.create", "tr-3",
		  wcase_account_data("Trace Three", "t3@trace.example", 1, 2));
	body = cmdjson_text("tr-bad", "account.create", "tr-4",
			    wcase_account_data("Trace Four", "t4@trace.example", 1, 2));
	wenv_send_headers(E, "tr-4", body, strlen(body), headers(bad), NULL);
	wenv_flush(E);
	free(body);
	ev = wenv_outcome(E, "tr-none", "tr-3", "account.created");
	event_trace(ev, trace);
	assert_int_equal(strlen(trace), 32);
	expect_rows("tr-none", trace, 1);
	expect_log_fields("tr-none", trace);
	ev = wenv_outcome(E, "tr-bad", "tr-4", "account.created");
	event_trace(ev, trace2);
	assert_int_equal(strlen(trace2), 32);
	assert_string_not_equal(trace, trace2);
	expect_rows("tr-bad", trace2, 1);
	wenv_assert(E, worker_log_count(E->w, "is not a valid W3C traceparent: ignored") > 0,
		    "no log line about the invalid traceparent");
}

/* ---- items 5 and 7: the DLQ copy keeps the original headers, tmprov's are prefixed ---- */

static const char *
list_value(const json_t *list, const char *name, size_t nth)
{
	size_t i;
	json_t *p;

	json_array_foreach(list, i, p)
	{
		if (strcmp(json_string_value(json_array_get(p, 0)), name) == 0 && nth-- == 0)
			return json_string_value(json_array_get(p, 1));
	}
	return NULL;
}

static void
test_dlq_headers(void **state)
{
	static const char *const h[] = {"traceparent",	  TP_A,	      "reason",
					"the producer's", "x-tenant", "a",
					"x-tenant",	  "b",	      NULL};
	static const char *const h2[] = {"x-tenant", "c", NULL};
	char *body = cmdjson_text("tr-dlq", "account.explode", "tr-5", json_object());
	static const char junk[] = "not json at all";
	struct kdelivery d, d2;
	const struct kmsg *m;
	char trace[33];

	(void)state;
	wenv_send_headers(E, "tr-5", body, strlen(body), headers(h), &d);
	wenv_send_headers(E, "tr-6", junk, sizeof(junk) - 1, headers(h2), &d2);
	wenv_flush(E);
	m = wenv_dlq_wait(E, &d, 15000);
	wenv_assert(E, m != NULL, "no DLQ copy of tr-dlq");
	assert_memory_equal(m->value, body, m->len);
	assert_string_equal(wcase_str(m->headers, "tmprov.reason"), "unknown_type");
	assert_string_equal(wcase_str(m->headers, "tmprov.origin.topic"), E->tcmd);
	assert_true(strlen(wcase_str(m->headers, "tmprov.error")) > 0);
	/* The original headers, as they were: the producer's own "reason" untouched. */
	assert_string_equal(wcase_str(m->headers, "reason"), "the producer's");
	assert_string_equal(list_value(m->header_list, "x-tenant", 0), "a");
	assert_string_equal(list_value(m->header_list, "x-tenant", 1), "b");
	assert_string_equal(wcase_str(m->headers, "traceparent"), TP_A);
	assert_null(list_value(m->header_list, "traceparent", 1));
	/* The worker's trace context: the command's trace id. */
	assert_int_equal(
	    strncmp(wcase_str(m->headers, "tmprov.traceparent"), "00-" TRACE_A "-", 36), 0);
	/* command.rejected carries it too. */
	assert_string_equal(
	    event_trace(wenv_outcome(E, "tr-dlq", "tr-5", "command.rejected"), trace), TRACE_A);
	expect_rows("tr-dlq", TRACE_A, 0);

	/* Not even JSON: headers kept, and a new trace given to the copy. */
	m = wenv_dlq_wait(E, &d2, 15000);
	wenv_assert(E, m != NULL, "no DLQ copy of the junk message");
	assert_string_equal(wcase_str(m->headers, "tmprov.reason"), "not_json");
	assert_string_equal(wcase_str(m->headers, "x-tenant"), "c");
	assert_int_equal(strlen(wcase_str(m->headers, "tmprov.traceparent")), 55);
	assert_string_equal(wcase_str(m->headers, "traceparent"),
			    wcase_str(m->headers, "tmprov.traceparent"));
	free(body);
}

/* ---- item 6: CloudEvents binary content mode ---- */

static void
test_binary_processed(void **state)
{
	static const char *const h[] = {"ce_specversion",
					"1.0",
					"ce_id",
					"bin-1",
					"ce_source",
					"billing",
					"ce_type",
					"account.create",
					"ce_subject",
					"bin-sub",
					"content-type",
					"application/json",
					"ce_traceparent",
					TP_B,
					NULL};
	static const char data[] = "{\"company_name\":\"Binary Co\",\"email\":\"b@bin.example\","
				   "\"rooms\":3,\"participants\":9}";
	const json_t *ev;
	char trace[33];

	(void)state;
	wenv_send_headers(E, "bin-sub", data, sizeof(data) - 1, headers(h), NULL);
	wenv_flush(E);
	ev = wenv_outcome(E, "bin-1", "bin-sub", "account.created");
	assert_string_equal(wcase_str(wcase_data(ev), "company_name"), "Binary Co");
	assert_int_equal(wcase_int(wcase_data(ev), "rooms"), 3);
	assert_string_equal(event_trace(ev, trace), TRACE_B);
	wcase_expect_status(E, "bin-1", "succeeded");
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Binary Co"), 1);
	/* The account serves later structured commands of the subject like any other. */
	wcase_run1(E, "bin-2", "account.query", "bin-sub", NULL, "account.queried");
}

/* A malformed binary command and its structured twin: the same rejection. */
static void
test_binary_malformed(void **state)
{
	static const char *const h[] = {"ce_specversion",
					"1.0",
					"ce_id",
					"bin-bad",
					"ce_source",
					"billing",
					"ce_type",
					"account.create",
					"ce_subject",
					"bin-bad-sub",
					"content-type",
					"application/json",
					"x-extra",
					"kept",
					NULL};
	static const char data[] = "{\"company_name\":\"Bad Binary\",\"email\":\"bb@bin.example\","
				   "\"rooms\":0,\"participants\":9}";
	json_t *tdata = json_loads(data, 0, NULL);
	const json_t *eb, *et;
	const struct kmsg *m;
	struct kdelivery d;

	(void)state;
	wenv_send_headers(E, "bin-bad-sub", data, sizeof(data) - 1, headers(h), &d);
	wenv_send(E, "bin-twin", "account.create", "bin-bad-sub", tdata);
	wenv_flush(E);
	eb = wcase_data(wenv_outcome(E, "bin-bad", "bin-bad-sub", "command.rejected"));
	et = wcase_data(wenv_outcome(E, "bin-twin", "bin-bad-sub", "command.rejected"));
	assert_string_equal(wcase_str(eb, "reason"), "invalid");
	wenv_assert(E, json_equal(json_object_get(eb, "errors"), json_object_get(et, "errors")),
		    "binary and structured twin rejected with different errors");
	wcase_expect_status(E, "bin-bad", "rejected");
	/* Its DLQ copy is the message as it came: the value, its ce_* headers. */
	m = wenv_dlq_wait(E, &d, 15000);
	wenv_assert(E, m != NULL, "no DLQ copy of bin-bad");
	assert_int_equal(m->len, sizeof(data) - 1);
	assert_memory_equal(m->value, data, m->len);
	assert_string_equal(wcase_str(m->headers, "ce_id"), "bin-bad");
	assert_string_equal(wcase_str(m->headers, "x-extra"), "kept");
	assert_string_equal(wcase_str(m->headers, "tmprov.reason"), "invalid");
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Bad Binary"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_trace_header),     cmocka_unit_test(test_trace_attribute),
	    cmocka_unit_test(test_trace_new),	     cmocka_unit_test(test_dlq_headers),
	    cmocka_unit_test(test_binary_processed), cmocka_unit_test(test_binary_malformed),
	};

	/* Debug: a command that succeeds logs its result at that level. */
	static const char *const extra[] = {"TMPROV_LOG_LEVEL=debug", NULL};

	return wcase_run(&E, "wtrace", extra, tests, sizeof(tests) / sizeof(tests[0]));
}
