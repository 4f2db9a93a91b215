/* evfmt: renders with common/buf, bounded by the caller's length; a value that would break a
 * line (a newline in a topic) is shown JSON-escaped. */
#include "evfmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "dlqdef.h"
#include "kafka.h"

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* Copies b into buf (truncated) and frees b. */
static void
evfmt_out(struct buf *b, char *buf, size_t len)
{
	snprintf(buf, len, "%s", b->data ? b->data : "");
	buf_free(b);
}

/* A bare word when it is one, otherwise the JSON text of the value. */
static void
evfmt_value(struct buf *b, const json_t *v)
{
	const char *s = json_string_value(v);
	char *text;

	if (s != NULL && s[0] != '\0' && strcspn(s, " \t\r\n\"=") == strlen(s)) {
		buf_appends(b, s);
		return;
	}
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text != NULL)
		buf_appends(b, text);
	free(text);
}

static void
evfmt_failed(struct buf *b, const json_t *d)
{
	const json_t *att = json_object_get(d, "attempts");

	buf_appends(b, str(d, "reason"));
	buf_appends(b, " (");
	if (str(d, "tm_status")[0])
		buf_printf(b, "tm_status %s, ", str(d, "tm_status"));
	if (json_is_integer(att) && json_integer_value(att) > 0)
		buf_printf(b, "%lld attempt%s, ", (long long)json_integer_value(att),
			   json_integer_value(att) == 1 ? "" : "s");
	if (json_is_true(json_object_get(d, "outcome_unknown")))
		buf_appends(b, "outcome unknown, ");
	buf_appends(b, json_is_true(json_object_get(d, "retryable")) ? "retryable)"
								     : "not retryable)");
}

static void
evfmt_rejected(struct buf *b, const json_t *d)
{
	const json_t *errs = json_object_get(d, "errors"), *e;
	size_t i;

	json_array_foreach(errs, i, e) buf_printf(b, "%s%s", i ? "; " : "", json_string_value(e));
	if (json_array_size(errs) == 0)
		buf_appends(b, str(d, "reason"));
}

void
evfmt_details(const json_t *ev, char *buf, size_t len)
{
	const char *type = str(ev, "type"), *k;
	const json_t *d = json_object_get(ev, "data"), *v;
	struct buf b;
	bool first = true;

	buf_init(&b, len);
	if (strcmp(type, "command.failed") == 0)
		evfmt_failed(&b, d);
	else if (strcmp(type, "command.rejected") == 0)
		evfmt_rejected(&b, d);
	else
		json_object_foreach((json_t *)d, k, v)
		{
			buf_printf(&b, "%s%s=", first ? "" : " ", k);
			evfmt_value(&b, v);
			first = false;
		}
	evfmt_out(&b, buf, len);
}

void
evfmt_event(const json_t *ev, char *buf, size_t len)
{
	char details[2048];
	struct buf b;

	buf_init(&b, len);
	evfmt_details(ev, details, sizeof(details));
	buf_printf(&b, "%s %-18s %s commandid=%s %s", str(ev, "time")[0] ? str(ev, "time") : "-",
		   str(ev, "type"), str(ev, "subject")[0] ? str(ev, "subject") : "-",
		   str(ev, "commandid"), details);
	evfmt_out(&b, buf, len);
}

void
evfmt_kafka_time(const rd_kafka_message_t *m, char *buf, size_t len)
{
	rd_kafka_timestamp_type_t tt;
	int64_t ms = rd_kafka_message_timestamp(m, &tt);
	time_t secs;
	struct tm tm;

	if (ms < 0) {
		snprintf(buf, len, "-");
		return;
	}
	secs = (time_t)(ms / 1000);
	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static const char *
evfmt_hdr(const rd_kafka_message_t *m, const char *name)
{
	const char *v = kafka_header(m, name, NULL);

	return v ? v : "?";
}

void
evfmt_dlq(const rd_kafka_message_t *m, char *buf, size_t len)
{
	json_t *doc = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
	const char *error = kafka_header(m, DLQ_HDR_ERROR, NULL);
	char when[40];
	struct buf b;

	buf_init(&b, len);
	evfmt_kafka_time(m, when, sizeof(when));
	buf_printf(&b, "%s dlq %s origin=%s[%s]@%s", when, evfmt_hdr(m, DLQ_HDR_REASON),
		   evfmt_hdr(m, DLQ_HDR_ORIGIN_TOPIC), evfmt_hdr(m, DLQ_HDR_ORIGIN_PARTITION),
		   evfmt_hdr(m, DLQ_HDR_ORIGIN_OFFSET));
	if (m->key != NULL)
		buf_printf(&b, " key=%.*s", (int)m->key_len, (const char *)m->key);
	if (json_is_object(doc)) {
		if (json_is_string(json_object_get(doc, "id")))
			buf_printf(&b, " id=%s", str(doc, "id"));
		if (json_is_string(json_object_get(doc, "type")))
			buf_printf(&b, " type=%s", str(doc, "type"));
	}
	if (error != NULL && error[0] != '\0')
		buf_printf(&b, " error: %s", error);
	json_decref(doc);
	evfmt_out(&b, buf, len);
}
