/* kcoll: one consumer thread per collected topic. The consumer is assigned every partition at
 * the beginning (assign, not subscribe: it never joins a group, so it cannot disturb the
 * worker's group and commits nothing). Messages go into an append-only array under a mutex;
 * the index maps each key to the positions of its messages. */
#include "kcoll.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "log.h"
#include "clock.h"

#define KCOLL_MAX_MESSAGES 1000000 /* far above any test; a runaway producer stops here */
#define KCOLL_KEY_MAX	   512

struct kcoll {
	rd_kafka_t *rk;
	pthread_t thread;
	pthread_mutex_t mu;
	atomic_bool stop; /* set by kcoll_stop, read by the collecting thread */
	kcoll_key_fn key;
	struct kmsg **msgs;
	size_t n, cap;
	json_t *index; /* key -> [position, ...] */
	int full_warned;
};

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int
kcoll_key_commandid(const struct kmsg *m, char *buf, size_t len)
{
	const char *id = json_string_value(json_object_get(m->json, "commandid"));
	const char *type = json_string_value(json_object_get(m->json, "type"));

	if (id == NULL)
		return -1;
	/* command.held is an interim notice, not the command's outcome: kept apart, under
	 * "held:ID", so that lookups by id see the one outcome event (schemas/asyncapi.yaml). */
	if (type != NULL && strcmp(type, "command.held") == 0)
		snprintf(buf, len, "held:%s", id);
	else
		snprintf(buf, len, "%s", id);
	return 0;
}

int
kcoll_key_origin(const struct kmsg *m, char *buf, size_t len)
{
	const char *p = json_string_value(json_object_get(m->headers, "tmprov.origin.partition"));
	const char *o = json_string_value(json_object_get(m->headers, "tmprov.origin.offset"));

	if (p == NULL || o == NULL)
		return -1;
	snprintf(buf, len, "%s:%s", p, o);
	return 0;
}

static char *
copy_bytes(const void *p, size_t len)
{
	char *s;

	if (p == NULL)
		return NULL;
	s = malloc(len + 1);
	if (s == NULL)
		abort();
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

static json_t *
headers_json(const rd_kafka_message_t *m)
{
	json_t *h = json_object();
	rd_kafka_headers_t *hdrs;
	const char *name;
	const void *val;
	size_t size;

	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return h;
	for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
		json_t *s = val ? json_stringn(val, size) : NULL;

		json_object_set_new(h, name, s ? s : json_null());
	}
	return h;
}

static json_t *
header_list_json(const rd_kafka_message_t *m)
{
	json_t *l = json_array();
	rd_kafka_headers_t *hdrs;
	const char *name;
	const void *val;
	size_t size;

	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return l;
	for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
		json_t *s = val ? json_stringn(val, size) : NULL;

		json_array_append_new(l, json_pack("[s, o]", name, s ? s : json_null()));
	}
	return l;
}

static struct kmsg *
kmsg_new(const rd_kafka_message_t *m)
{
	struct kmsg *k = calloc(1, sizeof(*k));

	if (k == NULL)
		abort();
	k->partition = m->partition;
	k->offset = m->offset;
	k->key = copy_bytes(m->key, m->key_len);
	k->keylen = m->key_len;
	k->value = copy_bytes(m->payload, m->len);
	k->len = m->len;
	if (m->payload != NULL)
		k->json = json_loadb(m->payload, m->len, 0, NULL);
	k->headers = headers_json(m);
	k->header_list = header_list_json(m);
	return k;
}

static void
kmsg_free(struct kmsg *k)
{
	if (k == NULL)
		return;
	free(k->key);
	free(k->value);
	json_decref(k->json);
	json_decref(k->headers);
	json_decref(k->header_list);
	free(k);
}

static void
collect(struct kcoll *c, struct kmsg *k)
{
	char key[KCOLL_KEY_MAX];

	pthread_mutex_lock(&c->mu);
	if (c->n == KCOLL_MAX_MESSAGES) {
		if (!c->full_warned++)
			log_error("kcoll: more than %d messages; dropping", KCOLL_MAX_MESSAGES);
		pthread_mutex_unlock(&c->mu);
		kmsg_free(k);
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->msgs = realloc(c->msgs, c->cap * sizeof(*c->msgs));
		if (c->msgs == NULL)
			abort();
	}
	if (c->key != NULL && c->key(k, key, sizeof(key)) == 0) {
		json_t *list = json_object_get(c->index, key);

		if (list == NULL) {
			list = json_array();
			json_object_set_new(c->index, key, list);
		}
		json_array_append_new(list, json_integer((json_int_t)c->n));
	}
	c->msgs[c->n++] = k;
	pthread_mutex_unlock(&c->mu);
}

static void *
run(void *arg)
{
	struct kcoll *c = arg;

	while (!atomic_load(&c->stop)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 50);

		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			collect(c, kmsg_new(m));
		else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			log_warn("kcoll: %s", rd_kafka_message_errstr(m));
		rd_kafka_message_destroy(m);
	}
	return NULL;
}

static int
partitions(rd_kafka_t *rk, const char *topic, char *err, size_t errlen)
{
	const rd_kafka_metadata_t *md;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t rc = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	int n = -1;

	if (rc) {
		snprintf(err, errlen, "metadata of %s: %s", topic, rd_kafka_err2str(rc));
	} else {
		if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
			n = md->topics[0].partition_cnt;
		else
			snprintf(err, errlen, "topic %s does not exist", topic);
		rd_kafka_metadata_destroy(md);
	}
	rd_kafka_topic_destroy(rkt);
	return n;
}

static rd_kafka_t *
consumer_new(const char *brokers, char *err, size_t errlen)
{
	static int seq;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char group[64];
	rd_kafka_t *rk;

	/* assign() needs a group.id, though this consumer never joins the group. */
	snprintf(group, sizeof(group), "kcoll-%ld-%d", (long)getpid(), ++seq);
	kafka_conf_route_logs(conf);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen) ||
	    rd_kafka_conf_set(conf, "group.id", group, err, errlen) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
	    rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", err, errlen) ||
	    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "20", err, errlen)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
	if (rk == NULL)
		rd_kafka_conf_destroy(conf);
	return rk;
}

static int
assign_all(rd_kafka_t *rk, const char *topic, char *err, size_t errlen)
{
	int n = partitions(rk, topic, err, errlen);
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t rc;

	if (n < 0)
		return -1;
	l = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rc = rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (rc) {
		snprintf(err, errlen, "assign %s: %s", topic, rd_kafka_err2str(rc));
		return -1;
	}
	return 0;
}

int
kcoll_start(struct kcoll **out, const char *brokers, const char *topic, kcoll_key_fn key, char *err,
	    size_t errlen)
{
	struct kcoll *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&c->mu, NULL);
	c->key = key;
	c->index = json_object();
	c->rk = consumer_new(brokers, err, errlen);
	if (c->rk == NULL || assign_all(c->rk, topic, err, errlen) != 0 ||
	    pthread_create(&c->thread, NULL, run, c) != 0) {
		if (c->rk != NULL)
			rd_kafka_destroy(c->rk);
		json_decref(c->index);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void
kcoll_stop(struct kcoll *c)
{
	if (c == NULL)
		return;
	atomic_store(&c->stop, true);
	pthread_join(c->thread, NULL);
	rd_kafka_consumer_close(c->rk);
	rd_kafka_destroy(c->rk);
	for (size_t i = 0; i < c->n; i++)
		kmsg_free(c->msgs[i]);
	free(c->msgs);
	json_decref(c->index);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

size_t
kcoll_count(struct kcoll *c)
{
	size_t n;

	pthread_mutex_lock(&c->mu);
	n = c->n;
	pthread_mutex_unlock(&c->mu);
	return n;
}

const struct kmsg *
kcoll_at(struct kcoll *c, size_t i)
{
	const struct kmsg *m = NULL;

	pthread_mutex_lock(&c->mu);
	if (i < c->n)
		m = c->msgs[i];
	pthread_mutex_unlock(&c->mu);
	return m;
}

size_t
kcoll_find(struct kcoll *c, const char *k, const struct kmsg **out, size_t max)
{
	json_t *list, *pos;
	size_t n, i;

	pthread_mutex_lock(&c->mu);
	list = json_object_get(c->index, k);
	n = json_array_size(list);
	json_array_foreach(list, i, pos)
	{
		if (i < max)
			out[i] = c->msgs[json_integer_value(pos)];
	}
	pthread_mutex_unlock(&c->mu);
	return n;
}

size_t
kcoll_nkeys(struct kcoll *c)
{
	size_t n;

	pthread_mutex_lock(&c->mu);
	n = json_object_size(c->index);
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* How many of keys have a message, skipping the first *done that were found before. Keys are
 * checked in order and the scan stops at the first missing one, so a wait over thousands of
 * keys does not rescan the found ones. */
static size_t
keys_found(struct kcoll *c, const char *const *keys, size_t n, size_t done)
{
	pthread_mutex_lock(&c->mu);
	while (done < n && json_object_get(c->index, keys[done]) != NULL)
		done++;
	pthread_mutex_unlock(&c->mu);
	return done;
}

static size_t
keys_count(struct kcoll *c, const char *const *keys, size_t n)
{
	size_t found = 0;

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n; i++)
		found += json_object_get(c->index, keys[i]) != NULL;
	pthread_mutex_unlock(&c->mu);
	return found;
}

size_t
kcoll_wait_keys(struct kcoll *c, const char *const *keys, size_t n, int timeout_ms)
{
	long deadline = clock_now_ms() + timeout_ms;
	size_t done = 0;

	for (;;) {
		done = keys_found(c, keys, n, done);
		if (done == n || clock_now_ms() >= deadline)
			break;
		sleep_ms(20);
	}
	return done == n ? n : keys_count(c, keys, n);
}

size_t
kcoll_wait_count(struct kcoll *c, size_t n, int timeout_ms)
{
	long deadline = clock_now_ms() + timeout_ms;
	size_t have;

	while ((have = kcoll_count(c)) < n && clock_now_ms() < deadline)
		sleep_ms(20);
	return have;
}
