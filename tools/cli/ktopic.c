/* ktopic: one consumer handle, assigned (never subscribed) to the partitions of the topics
 * added, with the end offset each had when added and the next offset read from each. */
#include "ktopic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"

#define KTOPIC_TIMEOUT_MS 10000

struct kpart {
	char *topic;
	int32_t partition;
	int64_t start, end, next;
};

struct ktopic {
	rd_kafka_t *rk;
	struct kpart *parts;
	size_t n, cap;
};

struct ktopic *
ktopic_new(const struct cfg *c, char *err, size_t errlen)
{
	struct ktopic *k = calloc(1, sizeof(*k));

	if (k == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* A group id is only a name here: without subscribe() the handle joins no group. */
	k->rk = kafka_consumer_new(c, "tmprov-cli", err, errlen);
	if (k->rk == NULL) {
		free(k);
		return NULL;
	}
	return k;
}

void
ktopic_free(struct ktopic *k)
{
	if (k == NULL)
		return;
	rd_kafka_assign(k->rk, NULL);
	rd_kafka_destroy(k->rk);
	for (size_t i = 0; i < k->n; i++)
		free(k->parts[i].topic);
	free(k->parts);
	free(k);
}

static int
ktopic_partitions(struct ktopic *k, const char *topic, char *err, size_t errlen)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, topic, NULL);
	const rd_kafka_metadata_t *md = NULL;
	rd_kafka_resp_err_t rc;
	int n = -1;

	if (rkt == NULL) {
		snprintf(err, errlen, "%s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	rc = rd_kafka_metadata(k->rk, 0, rkt, &md, KTOPIC_TIMEOUT_MS);
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
		snprintf(err, errlen, "%s: metadata: %s", topic, rd_kafka_err2str(rc));
	else if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
		snprintf(err, errlen, "%s: %s", topic,
			 md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no such topic");
	else if (md->topics[0].partition_cnt > KTOPIC_MAX_PARTITIONS)
		snprintf(err, errlen, "%s: more than %d partitions", topic, KTOPIC_MAX_PARTITIONS);
	else
		n = md->topics[0].partition_cnt;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return n;
}

int
ktopic_add(struct ktopic *k, const char *topic, enum ktopic_from from, char *err, size_t errlen)
{
	int n = ktopic_partitions(k, topic, err, errlen);

	if (n < 0)
		return -1;
	if (k->n + (size_t)n > k->cap) {
		size_t cap = k->n + (size_t)n;
		struct kpart *p = realloc(k->parts, cap * sizeof(*p));

		if (p == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		k->parts = p;
		k->cap = cap;
	}
	for (int32_t i = 0; i < n; i++) {
		struct kpart *p = &k->parts[k->n];
		int64_t lo, hi;
		rd_kafka_resp_err_t rc =
		    rd_kafka_query_watermark_offsets(k->rk, topic, i, &lo, &hi, KTOPIC_TIMEOUT_MS);

		if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(err, errlen, "%s [%d]: offsets: %s", topic, (int)i,
				 rd_kafka_err2str(rc));
			return -1;
		}
		p->topic = strdup(topic);
		if (p->topic == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		p->partition = i;
		p->start = p->next = from == KTOPIC_BEGINNING ? lo : hi;
		p->end = hi;
		k->n++;
	}
	return 0;
}

int
ktopic_start(struct ktopic *k, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k->n);
	rd_kafka_resp_err_t rc;

	for (size_t i = 0; i < k->n; i++)
		rd_kafka_topic_partition_list_add(l, k->parts[i].topic, k->parts[i].partition)
		    ->offset = k->parts[i].start;
	rc = rd_kafka_assign(k->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "assign: %s", rd_kafka_err2str(rc));
		return -1;
	}
	return 0;
}

rd_kafka_message_t *
ktopic_poll(struct ktopic *k, int timeout_ms)
{
	rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, timeout_ms);
	const char *topic;

	if (m == NULL)
		return NULL;
	if (m->err) {
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			log_error("reading %s: %s", m->rkt ? rd_kafka_topic_name(m->rkt) : "kafka",
				  rd_kafka_message_errstr(m));
		rd_kafka_message_destroy(m);
		return NULL;
	}
	topic = rd_kafka_topic_name(m->rkt);
	for (size_t i = 0; i < k->n; i++)
		if (k->parts[i].partition == m->partition && strcmp(k->parts[i].topic, topic) == 0)
			k->parts[i].next = m->offset + 1;
	return m;
}

bool
ktopic_caught_up(const struct ktopic *k)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->parts[i].next < k->parts[i].end)
			return false;
	return true;
}
