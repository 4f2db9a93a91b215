/* job: copies one consumed Kafka message and validates it (see job.h). */
#include "job.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

struct job *
job_new(const rd_kafka_message_t *m)
{
	struct job *j = calloc(1, sizeof(*j));
	rd_kafka_timestamp_type_t tstype;

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

	j->vstatus = command_parse(j->payload, j->len, &j->cmd, &j->errs);
	j->order_key = strdup(j->cmd ? j->cmd->subject : "");
	if (!j->order_key)
		goto fail;
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
	free(j->order_key);
	free(j->payload);
	free(j->key);
	free(j->topic);
	free(j);
}
