/* job: copies one consumed Kafka message, turns a binary-mode one into its structured text,
 * validates it and finds its trace (see job.h). */
#include "job.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cekafka.h"
#include "log.h"

#define TRACEPARENT_HEADER "traceparent"
/* The attribute of the CloudEvents distributed-tracing extension. */
#define TRACEPARENT_ATTR "traceparent"

/* len bytes of src and a NUL; src may be NULL when len is 0 (an empty or null value). */
static char *
copy_bytes(const void *src, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		return NULL;
	if (len)
		memcpy(p, src, len);
	p[len] = '\0';
	return p;
}

/* The structured text of j (its payload, or the event of a binary-mode message), validated. */
static void
job_validate(struct job *j)
{
	struct validate_errors errs;
	char *text = NULL;
	size_t len = 0;

	j->vstatus = cekafka_text(j->headers, j->payload, j->len, &text, &len, &j->binary, &errs);
	/* Taken over: job_free frees body when it is not the payload. */
	j->body = text ? text : j->payload;
	j->bodylen = text ? len : j->len;
	if (j->vstatus == VALIDATE_OK)
		j->vstatus = command_parse(j->body, j->bodylen, &j->cmd, &errs);
	if (j->vstatus != VALIDATE_OK && (j->errs = malloc(sizeof(errs))) != NULL)
		*j->errs = errs;
}

/* The trace of j: a valid traceparent header, else a valid traceparent attribute, else new. An
 * invalid one is ignored, with a line saying so. */
static void
job_trace(struct job *j)
{
	json_t *attr = j->cmd ? json_object_get(j->cmd->root, TRACEPARENT_ATTR) : NULL;
	const void *v;
	char tp[128];
	size_t len;

	if (j->headers != NULL && rd_kafka_header_get_last(j->headers, TRACEPARENT_HEADER, &v,
							   &len) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (cekafka_header(j->headers, TRACEPARENT_HEADER, tp, sizeof(tp)) &&
		    trace_parse(tp, strlen(tp), &j->trace) == 0)
			return;
		log_warn("%s [%" PRId32 "] @%" PRId64 ": header %s is not a valid W3C traceparent: "
			 "ignored",
			 j->topic, j->partition, j->offset, TRACEPARENT_HEADER);
	}
	if (json_is_string(attr)) {
		if (trace_parse(json_string_value(attr), json_string_length(attr), &j->trace) == 0)
			return;
		log_warn("%s [%" PRId32 "] @%" PRId64 ": attribute %s is not a valid W3C "
			 "traceparent: ignored",
			 j->topic, j->partition, j->offset, TRACEPARENT_ATTR);
	} else if (attr != NULL) {
		log_warn("%s [%" PRId32 "] @%" PRId64 ": attribute %s is not a string: ignored",
			 j->topic, j->partition, j->offset, TRACEPARENT_ATTR);
	}
	trace_new(&j->trace);
}

struct job *
job_new(const rd_kafka_message_t *m)
{
	struct job *j = calloc(1, sizeof(*j));
	rd_kafka_timestamp_type_t tstype;
	rd_kafka_headers_t *hdrs;

	if (!j)
		return NULL;
	atomic_init(&j->stop, false);
	j->payload = copy_bytes(m->payload, m->payload ? m->len : 0);
	j->len = m->payload ? m->len : 0;
	if (m->key) {
		j->key = copy_bytes(m->key, m->key_len);
		j->keylen = m->key_len;
	}
	j->topic = strdup(m->rkt ? rd_kafka_topic_name(m->rkt) : "");
	if (!j->payload || (m->key && !j->key) || !j->topic)
		goto fail;
	j->partition = m->partition;
	j->offset = m->offset;
	j->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);

	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    (j->headers = rd_kafka_headers_copy(hdrs)) == NULL)
		goto fail;
	job_validate(j);
	j->order_key = strdup(j->cmd ? j->cmd->subject : "");
	if (!j->order_key)
		goto fail;
	job_trace(j);
	return j;
fail:
	job_free(j);
	return NULL;
}

void
job_free(struct job *j)
{
	if (!j)
		return;
	command_free(j->cmd);
	free(j->errs);
	if (j->body != j->payload)
		free((char *)j->body);
	if (j->headers)
		rd_kafka_headers_destroy(j->headers);
	free(j->order_key);
	free(j->payload);
	free(j->key);
	free(j->topic);
	free(j);
}

void
job_log_ctx(const struct job *j)
{
	struct log_ctx c = {
	    .command_id = j->cmd ? j->cmd->id : NULL,
	    .subject = j->cmd ? j->cmd->subject : NULL,
	    .type = j->cmd ? j->cmd->type : NULL,
	    .trace_id = j->trace.trace_id,
	    .partition = j->partition,
	    .offset = j->offset,
	};

	log_ctx_set(&c);
}

void
job_traceparent(const struct job *j, char out[TRACEPARENT_LEN + 1])
{
	trace_child(&j->trace, out);
}
