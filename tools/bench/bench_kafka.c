/* bench_kafka: tmprov-devkafka per round, one producer and one reader on it. */
#include "bench_kafka.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"

#define BENCH_KAFKA_READY_MS 30000

int64_t
bench_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
bench_kafka_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct bench_kafka *k = opaque;

	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	if (k->failed++ == 0)
		snprintf(k->first_error, sizeof(k->first_error), "%s", rd_kafka_err2str(m->err));
}

static rd_kafka_t *
bench_kafka_client(struct bench_kafka *k, rd_kafka_type_t type, char *err, size_t errlen)
{
	static const char *const producer[][2] = {
	    {"enable.idempotence", "true"},
	    {"linger.ms", "1"},
	    {"queue.buffering.max.messages", "1000000"},
	};
	/* assign() needs a group.id, though the reader never joins the group; the mock cluster
	 * holds fetches for fetch.wait.max.ms. */
	static const char *const reader[][2] = {
	    {"group.id", "tmprov-bench-reader"},
	    {"enable.auto.commit", "false"},
	    {"fetch.wait.max.ms", "10"},
	};
	bool prod = type == RD_KAFKA_PRODUCER;
	const char *const(*props)[2] = prod ? producer : reader;
	size_t n =
	    prod ? sizeof(producer) / sizeof(producer[0]) : sizeof(reader) / sizeof(reader[0]);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	kafka_conf_route_logs(conf);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", k->brokers, err, errlen) !=
	    RD_KAFKA_CONF_OK)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, errlen) !=
		    RD_KAFKA_CONF_OK)
			goto fail;
	if (type == RD_KAFKA_PRODUCER) {
		rd_kafka_conf_set_dr_msg_cb(conf, bench_kafka_dr);
		rd_kafka_conf_set_opaque(conf, k);
	}
	rk = rd_kafka_new(type, conf, err, errlen);
	if (rk != NULL)
		return rk;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

int
bench_kafka_start(struct bench_kafka *k, const char *dir, int partitions, char *err, size_t errlen)
{
	char exe[1024], parts[16], file[600];
	char *argv[] = {exe, "--partitions", parts, "--bootstrap-file", file, NULL};
	static const char *const env[] = {"TMPROV_LOG_LEVEL=warn", NULL};

	memset(k, 0, sizeof(*k));
	snprintf(parts, sizeof(parts), "%d", partitions);
	snprintf(file, sizeof(file), "%s/kafka.bootstrap", dir);
	if (bench_proc_sibling("tmprov-devkafka", exe, sizeof(exe), err, errlen) != 0 ||
	    bench_proc_start(&k->broker, "devkafka", dir, argv, env, err, errlen) != 0 ||
	    bench_proc_wait_file(&k->broker, file, BENCH_KAFKA_READY_MS, k->brokers,
				 sizeof(k->brokers), err, errlen) != 0)
		return -1;
	k->producer = bench_kafka_client(k, RD_KAFKA_PRODUCER, err, errlen);
	return k->producer ? 0 : -1;
}

int
bench_kafka_warm(struct bench_kafka *k, const char *topic, char *err, size_t errlen)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->producer, topic, NULL);
	const rd_kafka_metadata_t *md = NULL;
	rd_kafka_resp_err_t rc;

	if (rkt == NULL) {
		snprintf(err, errlen, "topic %s: %s", topic,
			 rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	/* The handle stays referenced by the producer's cache; only the metadata matters. */
	rc = rd_kafka_metadata(k->producer, 0, rkt, &md, 10000);
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "metadata of %s: %s", topic, rd_kafka_err2str(rc));
		return -1;
	}
	return 0;
}

void
bench_kafka_stop(struct bench_kafka *k)
{
	if (k->reader != NULL) {
		rd_kafka_consumer_close(k->reader);
		rd_kafka_destroy(k->reader);
	}
	if (k->producer != NULL) {
		rd_kafka_flush(k->producer, 1000);
		rd_kafka_destroy(k->producer);
	}
	k->reader = k->producer = NULL;
	bench_proc_stop(&k->broker, 5000);
}

int
bench_kafka_produce(struct bench_kafka *k, const char *topic, const char *key, size_t keylen,
		    const char *val, size_t len, int64_t ts_ms, char *err, size_t errlen)
{
	rd_kafka_resp_err_t rc;

	for (;;) {
		rc = rd_kafka_producev(
		    k->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
		    RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_END);
		if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(k->producer, 10);
	}
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "produce to %s: %s", topic, rd_kafka_err2str(rc));
		return -1;
	}
	return 0;
}

void
bench_kafka_poll(struct bench_kafka *k)
{
	rd_kafka_poll(k->producer, 0);
}

int
bench_kafka_flush(struct bench_kafka *k, int timeout_ms, char *err, size_t errlen)
{
	if (rd_kafka_flush(k->producer, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "%d message(s) not delivered within %d ms",
			 rd_kafka_outq_len(k->producer), timeout_ms);
		return -1;
	}
	if (k->failed > 0) {
		snprintf(err, errlen, "%ld message(s) refused: %s", k->failed, k->first_error);
		return -1;
	}
	return 0;
}

int
bench_kafka_read_start(struct bench_kafka *k, const char *topic, char *err, size_t errlen)
{
	const rd_kafka_metadata_t *md = NULL;
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t rc;
	int n = 0;

	k->reader = bench_kafka_client(k, RD_KAFKA_CONSUMER, err, errlen);
	if (k->reader == NULL)
		return -1;
	rkt = rd_kafka_topic_new(k->reader, topic, NULL);
	rc = rd_kafka_metadata(k->reader, 0, rkt, &md, 10000);
	rd_kafka_topic_destroy(rkt);
	if (rc == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && !md->topics[0].err)
		n = md->topics[0].partition_cnt;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	if (n <= 0) {
		snprintf(err, errlen, "topic %s: no partitions (%s)", topic, rd_kafka_err2str(rc));
		return -1;
	}
	l = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rc = rd_kafka_assign(k->reader, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "assign %s: %s", topic, rd_kafka_err2str(rc));
		return -1;
	}
	return 0;
}

rd_kafka_message_t *
bench_kafka_read(struct bench_kafka *k, int timeout_ms)
{
	rd_kafka_message_t *m = rd_kafka_consumer_poll(k->reader, timeout_ms);

	if (m != NULL && m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_message_destroy(m);
		return NULL;
	}
	return m;
}
