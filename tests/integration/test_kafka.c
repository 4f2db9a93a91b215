/* Tests for common/kafka and tmprov-devkafka, against a real tmprov-devkafka: messages keep key,
 * value and headers; stored and committed offsets resume a group; a group shares partitions;
 * the idempotent producer; TMPROV_KAFKA_PROPS errors; devkafka's flags, file and signals. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfgkeys.h"
#include "config.h"
#include "kafka.h"
#include "../support/clirun.h"
#include "../support/kafka_util.h"
#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h, which kafka.h includes */
#include "log.h"
#include "clock.h"

#define T_ROUNDTRIP "kt.roundtrip"
#define T_RESUME    "kt.resume"
#define T_SHARE	    "kt.share"
#define T_IDEM	    "kt.idempotent"
#define T_PARTS	    4
/* The mock completes a rebalance after session.timeout.ms - 1 s (see tmprov-devkafka --help). */
#define FAST_GROUP "session.timeout.ms=6000,heartbeat.interval.ms=1000"

/* The private broker shared by this file's tests; each test uses its own topic. */
static struct ku_devkafka broker;

static int
group_setup(void **state)
{
	static const char *const args[] = {"--partitions", "4",	     "--topic", T_ROUNDTRIP,
					   "--topic",	   T_RESUME, "--topic", T_SHARE,
					   "--topic",	   T_IDEM,   NULL};
	char err[512];

	(void)state;
	log_init("test_kafka", LOG_WARN);
	if (ku_devkafka_start(&broker, args, err, sizeof(err))) {
		fprintf(stderr, "# cannot start tmprov-devkafka: %s\n", err);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	return ku_devkafka_stop(&broker) == 0 ? 0 : -1;
}

/* A configuration for brokers with TMPROV_KAFKA_PROPS = props (NULL: unset). */
static struct cfg *
test_cfg(const char *brokers, const char *props)
{
	struct cfg *c = cfg_new();
	char err[256];

	assert_non_null(c);
	assert_int_equal(cfg_add_keys(c, KAFKA_CONFIG_KEYS, KAFKA_CONFIG_NKEYS), 0);
	unsetenv("TMPROV_KAFKA_PROPS");
	assert_int_equal(cfg_load(c, NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg_set(c, &KEY_TMPROV_KAFKA_BROKERS, brokers, err, sizeof(err)), 0);
	if (props)
		assert_int_equal(cfg_set(c, &KEY_TMPROV_KAFKA_PROPS, props, err, sizeof(err)), 0);
	return c;
}

static void
group_name(char *buf, size_t len, const char *test)
{
	snprintf(buf, len, "test-kafka-%s-%ld", test, (long)getpid());
}

static rd_kafka_t *
consumer_subscribed(struct cfg *c, const char *group, const char *topic)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	char err[512] = "";
	rd_kafka_t *rk = kafka_consumer_new(c, group, err, sizeof(err));

	if (!rk)
		fail_msg("kafka_consumer_new: %s", err);
	rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
	assert_int_equal(rd_kafka_subscribe(rk, l), 0);
	rd_kafka_topic_partition_list_destroy(l);
	return rk;
}

/* The next real message within the deadline, or NULL; errors other than EOF fail the test. */
static rd_kafka_message_t *
next_message(rd_kafka_t *rk, long deadline)
{
	while (clock_now_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m)
			continue;
		if (!m->err)
			return m;
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			fail_msg("consumer error: %s", rd_kafka_message_errstr(m));
		rd_kafka_message_destroy(m);
	}
	return NULL;
}

static void
consumer_free(rd_kafka_t *rk)
{
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

/* Parses the decimal payload of m. */
static int
payload_int(const rd_kafka_message_t *m)
{
	char buf[32];

	assert_true(m->len < sizeof(buf));
	memcpy(buf, m->payload, m->len);
	buf[m->len] = '\0';
	return atoi(buf);
}

/* Produces n messages "0".."n-1" with key "key-(i % nkeys)" and waits for every delivery. */
static void
produce_numbers(struct cfg *c, const char *topic, int first, int n, int nkeys,
		struct kafka_delivery *d)
{
	char err[512] = "", key[32], val[32];
	rd_kafka_t *p = kafka_producer_new(c, err, sizeof(err));

	if (!p)
		fail_msg("kafka_producer_new: %s", err);
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "key-%d", (first + i) % nkeys);
		snprintf(val, sizeof(val), "%d", first + i);
		memset(&d[i], 0, sizeof(d[i]));
		if (kafka_produce(p, topic, key, strlen(key), val, strlen(val), NULL, &d[i], err,
				  sizeof(err)))
			fail_msg("kafka_produce: %s", err);
	}
	if (kafka_flush(p, 15000, err, sizeof(err)))
		fail_msg("kafka_flush: %s", err);
	for (int i = 0; i < n; i++) {
		assert_int_equal(d[i].done, 1);
		assert_int_equal(d[i].err, RD_KAFKA_RESP_ERR_NO_ERROR);
	}
	assert_false(kafka_fatal(p));
	rd_kafka_destroy(p);
}

static void
check_roundtrip_message(const rd_kafka_message_t *m, const struct kafka_delivery *d, int *last)
{
	static const char bin[3] = {0x00, 0x01, (char)0xff};
	char want[32];
	const char *h;
	size_t len;
	int i;

	h = kafka_header(m, "seq", &len);
	assert_non_null(h);
	i = atoi(h);
	assert_true(i >= 0 && i < 40);
	assert_int_equal(payload_int(m), i);
	snprintf(want, sizeof(want), "key-%d", i % 8);
	assert_int_equal(m->key_len, strlen(want));
	assert_memory_equal(m->key, want, m->key_len);
	/* Same key, same partition: the one the delivery report gave. */
	assert_int_equal(m->partition, d[i].partition);
	assert_int_equal(m->offset, d[i].offset);
	/* Per key, messages arrive in the order produced. */
	assert_true(i > last[i % 8]);
	last[i % 8] = i;
	h = kafka_header(m, "kind", &len);
	assert_non_null(h);
	assert_int_equal(len, strlen("roundtrip"));
	assert_string_equal(h, "roundtrip"); /* the NUL after the value that kafka.h promises */
	h = kafka_header(m, "bin", &len);
	assert_non_null(h);
	assert_int_equal(len, sizeof(bin));
	assert_memory_equal(h, bin, sizeof(bin));
	assert_null(kafka_header(m, "absent", &len));
	/* The last of two same-named headers wins. */
	assert_string_equal(kafka_header(m, "dup", NULL), "second");
}

static void
test_roundtrip_keys_values_headers(void **state)
{
	static const char bin[3] = {0x00, 0x01, (char)0xff};
	struct cfg *c = test_cfg(broker.bootstrap, FAST_GROUP);
	struct kafka_delivery d[40];
	int last[8], seen[40] = {0};
	char err[512] = "", key[32], val[32], group[128];
	rd_kafka_t *p = kafka_producer_new(c, err, sizeof(err)), *rk;
	long deadline;

	(void)state;
	if (!p)
		fail_msg("kafka_producer_new: %s", err);
	for (int i = 0; i < 40; i++) {
		rd_kafka_headers_t *h = rd_kafka_headers_new(4);
		snprintf(key, sizeof(key), "key-%d", i % 8);
		snprintf(val, sizeof(val), "%d", i);
		rd_kafka_header_add(h, "seq", -1, val, -1);
		rd_kafka_header_add(h, "kind", -1, "roundtrip", -1);
		rd_kafka_header_add(h, "bin", -1, bin, sizeof(bin));
		rd_kafka_header_add(h, "dup", -1, "first", -1);
		rd_kafka_header_add(h, "dup", -1, "second", -1);
		memset(&d[i], 0, sizeof(d[i]));
		if (kafka_produce(p, T_ROUNDTRIP, key, strlen(key), val, strlen(val), h, &d[i], err,
				  sizeof(err)))
			fail_msg("kafka_produce: %s", err);
	}
	if (kafka_flush(p, 15000, err, sizeof(err)))
		fail_msg("kafka_flush: %s", err);
	rd_kafka_destroy(p);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(d[i].done, 1);
		assert_int_equal(d[i].err, 0);
		assert_int_equal(d[i].partition, d[i % 8].partition);
	}

	group_name(group, sizeof(group), "roundtrip");
	rk = consumer_subscribed(c, group, T_ROUNDTRIP);
	memset(last, -1, sizeof(last));
	deadline = clock_now_ms() + 30000;
	for (int n = 0; n < 40; n++) {
		rd_kafka_message_t *m = next_message(rk, deadline);
		if (!m)
			fail_msg("only %d of 40 messages arrived", n);
		check_roundtrip_message(m, d, last);
		seen[payload_int(m)]++;
		rd_kafka_message_destroy(m);
	}
	for (int i = 0; i < 40; i++)
		assert_int_equal(seen[i], 1);
	consumer_free(rk);
	cfg_free(c);
}

static void
store_offset(rd_kafka_t *rk, const rd_kafka_message_t *m)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);

	/* The stored offset is the next one to read. */
	rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
	    m->offset + 1;
	assert_int_equal(rd_kafka_offsets_store(rk, l), 0);
	assert_int_equal(l->elems[0].err, 0);
	rd_kafka_topic_partition_list_destroy(l);
}

/* Reads until want messages arrived, then 2 s more to catch extras; marks got[value]. */
static int
drain(rd_kafka_t *rk, int want, int *got, int ngot, int timeout_ms)
{
	long deadline = clock_now_ms() + timeout_ms;
	int n = 0;
	rd_kafka_message_t *m;

	while ((m = next_message(rk, deadline)) != NULL) {
		int v = payload_int(m);
		assert_true(v >= 0 && v < ngot);
		got[v]++;
		if (++n == want)
			deadline = clock_now_ms() + 2000;
		rd_kafka_message_destroy(m);
	}
	return n;
}

static void
test_commit_then_resume(void **state)
{
	struct cfg *c = test_cfg(broker.bootstrap, FAST_GROUP);
	struct kafka_delivery d[23];
	int order[20], got[23] = {0};
	char group[128];
	rd_kafka_t *rk;
	long deadline;

	(void)state;
	group_name(group, sizeof(group), "resume");
	produce_numbers(c, T_RESUME, 0, 20, 20, d);

	/* First consumer: handles 12 (stored, committed), then 4 more (stored, not committed). */
	rk = consumer_subscribed(c, group, T_RESUME);
	deadline = clock_now_ms() + 30000;
	for (int n = 0; n < 20; n++) {
		rd_kafka_message_t *m = next_message(rk, deadline);
		if (!m)
			fail_msg("only %d of 20 messages arrived", n);
		order[n] = payload_int(m);
		if (n < 16)
			store_offset(rk, m);
		if (n == 11)
			assert_int_equal(rd_kafka_commit(rk, NULL, 0), 0);
		rd_kafka_message_destroy(m);
	}
	consumer_free(rk);

	/* Second consumer in the group: exactly the 8 not committed, then new messages too. */
	rk = consumer_subscribed(c, group, T_RESUME);
	assert_int_equal(drain(rk, 8, got, 23, 30000), 8);
	for (int n = 0; n < 20; n++)
		assert_int_equal(got[order[n]], n < 12 ? 0 : 1);
	produce_numbers(c, T_RESUME, 20, 3, 20, d);
	assert_int_equal(drain(rk, 3, got, 23, 15000), 3);
	for (int v = 20; v < 23; v++)
		assert_int_equal(got[v], 1);
	consumer_free(rk);
	cfg_free(c);
}

/* The partitions rk owns now, as a bit set. */
static unsigned
assigned(rd_kafka_t *rk)
{
	rd_kafka_topic_partition_list_t *l;
	unsigned bits = 0;

	assert_int_equal(rd_kafka_assignment(rk, &l), 0);
	for (int i = 0; i < l->cnt; i++)
		bits |= 1u << l->elems[i].partition;
	rd_kafka_topic_partition_list_destroy(l);
	return bits;
}

/* Polls both consumers (which is what lets them take part in the rebalance) until together they
 * own every partition, each some, or the deadline. */
static void
wait_shared(rd_kafka_t *a, rd_kafka_t *b, unsigned *pa, unsigned *pb)
{
	long deadline = clock_now_ms() + 30000;

	do {
		rd_kafka_message_t *m;
		if ((m = rd_kafka_consumer_poll(a, 50)) != NULL)
			rd_kafka_message_destroy(m);
		if ((m = rd_kafka_consumer_poll(b, 50)) != NULL)
			rd_kafka_message_destroy(m);
		*pa = assigned(a);
		*pb = assigned(b);
	} while (!(*pa && *pb && (*pa | *pb) == (1u << T_PARTS) - 1) && clock_now_ms() < deadline);
}

static void
test_group_shares_partitions(void **state)
{
	struct cfg *c = test_cfg(broker.bootstrap, FAST_GROUP);
	struct kafka_delivery d[40];
	int got[40] = {0}, na = 0, nb = 0;
	unsigned pa, pb;
	char group[128];
	rd_kafka_t *a, *b;
	long deadline;

	(void)state;
	group_name(group, sizeof(group), "share");
	a = consumer_subscribed(c, group, T_SHARE);
	b = consumer_subscribed(c, group, T_SHARE);
	wait_shared(a, b, &pa, &pb);
	assert_int_not_equal(pa, 0);
	assert_int_not_equal(pb, 0);
	assert_int_equal(pa & pb, 0);
	assert_int_equal(pa | pb, (1u << T_PARTS) - 1);

	produce_numbers(c, T_SHARE, 0, 40, 40, d);
	deadline = clock_now_ms() + 20000;
	while (na + nb < 40 && clock_now_ms() < deadline) {
		rd_kafka_message_t *m;
		if ((m = rd_kafka_consumer_poll(a, 50)) != NULL && !m->err) {
			assert_true(pa & (1u << m->partition));
			got[payload_int(m)]++;
			na++;
		}
		if (m)
			rd_kafka_message_destroy(m);
		if ((m = rd_kafka_consumer_poll(b, 50)) != NULL && !m->err) {
			assert_true(pb & (1u << m->partition));
			got[payload_int(m)]++;
			nb++;
		}
		if (m)
			rd_kafka_message_destroy(m);
	}
	assert_int_equal(na + nb, 40);
	assert_true(na > 0 && nb > 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(got[i], 1);
	consumer_free(a);
	consumer_free(b);
	cfg_free(c);
}

static void
assert_conf(rd_kafka_t *rk, const char *name, const char *want)
{
	char buf[256];
	size_t len = sizeof(buf);

	assert_int_equal(rd_kafka_conf_get(rd_kafka_conf(rk), name, buf, &len), RD_KAFKA_CONF_OK);
	assert_string_equal(buf, want);
}

static void
test_idempotent_producer(void **state)
{
	struct cfg *c = test_cfg(broker.bootstrap, FAST_GROUP);
	struct kafka_delivery d[200];
	char err[512] = "";
	rd_kafka_t *p = kafka_producer_new(c, err, sizeof(err));
	int64_t next[T_PARTS] = {0};
	json_t *msgs, *m;
	size_t i;

	(void)state;
	assert_non_null(p);
	assert_conf(p, "enable.idempotence", "true");
	assert_conf(p, "acks", "-1"); /* "all" */
	rd_kafka_destroy(p);

	produce_numbers(c, T_IDEM, 0, 200, 4, d);
	/* Exactly once each, and per partition in production order at consecutive offsets. */
	assert_int_equal(ku_consume_all(broker.bootstrap, T_IDEM, 200, 20000, &msgs), 200);
	json_array_foreach(msgs, i, m)
	{
		int part = (int)json_integer_value(json_object_get(m, "partition"));
		int v = atoi(json_string_value(json_object_get(m, "value")));
		assert_int_equal(d[v].partition, part);
		assert_int_equal(json_integer_value(json_object_get(m, "offset")), next[part]);
		assert_int_equal(d[v].offset, next[part]);
		next[part]++;
	}
	json_decref(msgs);
	cfg_free(c);
}

struct props_case {
	const char *props;
	int consumer;	       /* build a consumer instead of a producer */
	const char *want;      /* in the error; NULL: must succeed */
	const char *never;     /* never in the error (a value that may be a secret) */
	const char *get, *val; /* when it succeeds: a property and its expected value */
};

static const struct props_case props_cases[] = {
    {"no.such.property=1", 0, "\"no.such.property\"", NULL, NULL, NULL},
    {"linger.ms=5,socket.timeout.ms=hunter2", 0, "\"socket.timeout.ms\"", "hunter2", NULL, NULL},
    {"sasl.password=hunter2,bogus.prop=x", 1, "\"bogus.prop\"", "hunter2", NULL, NULL},
    {"linger.ms=5,sasl.password:hunter2", 0, "entry 2 has no '='", "hunter2", NULL, NULL},
    {"=x", 0, "entry 1 has an empty property name", NULL, NULL, NULL},
    {"enable.idempotence=false", 0, "\"enable.idempotence\" cannot be set", NULL, NULL, NULL},
    {"request.required.acks=1", 0, "\"request.required.acks\" cannot be set", NULL, NULL, NULL},
    {"enable.auto.commit=true", 1, "\"enable.auto.commit\" cannot be set", NULL, NULL, NULL},
    {"enable.auto.offset.store=true", 1, "cannot be set", NULL, NULL, NULL},
    {" linger.ms = 7 ,,", 0, NULL, NULL, "linger.ms", "7"},
    {"client.id=a\\,b\\\\c", 0, NULL, NULL, "client.id", "a,b\\c"},
    {"partition.assignment.strategy=range", 1, NULL, NULL, "partition.assignment.strategy",
     "range"},
    {NULL, 1, NULL, NULL, "partition.assignment.strategy", "range"},
    {NULL, 1, NULL, NULL, "enable.auto.offset.store", "false"},
    {NULL, 1, NULL, NULL, "auto.offset.reset", "smallest"}, /* librdkafka's name: earliest */
    {NULL, 0, NULL, NULL, "linger.ms", "5"},
};

/* A bad value is refused when the configuration is loaded (a configuration error, exit 2),
 * for the producer's and the consumer's fixed properties alike; a good one reaches the handle. */
static void
test_kafka_props(void **state)
{
	(void)state;
	for (size_t i = 0; i < CFG_KEYS_LEN(props_cases); i++) {
		const struct props_case *pc = &props_cases[i];
		struct cfg *c = test_cfg("127.0.0.1:1", NULL);
		char err[512] = "";
		int set = pc->props
			      ? cfg_set(c, &KEY_TMPROV_KAFKA_PROPS, pc->props, err, sizeof(err))
			      : 0;
		rd_kafka_t *rk = NULL;

		if (set == 0)
			rk = pc->consumer ? kafka_consumer_new(c, "g", err, sizeof(err))
					  : kafka_producer_new(c, err, sizeof(err));
		if (pc->want) {
			if (set == 0)
				fail_msg("case %zu (%s) accepted by the configuration", i,
					 pc->props);
			if (!strstr(err, "TMPROV_KAFKA_PROPS") || !strstr(err, pc->want))
				fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, pc->want);
			if (pc->never && strstr(err, pc->never))
				fail_msg("case %zu: error \"%s\" shows a value", i, err);
		} else {
			if (!rk)
				fail_msg("case %zu (%s): %s", i, pc->props, err);
			assert_conf(rk, pc->get, pc->val);
			assert_conf(rk, "bootstrap.servers", "127.0.0.1:1");
			rd_kafka_destroy(rk);
		}
		cfg_free(c);
	}
}

static void
test_conf_new(void **state)
{
	struct cfg *c = test_cfg("127.0.0.1:1,127.0.0.1:2", "client.id=plain");
	char err[512] = "", buf[256];
	rd_kafka_conf_t *conf = kafka_conf_new(c, err, sizeof(err));
	size_t len = sizeof(buf);

	(void)state;
	assert_non_null(conf);
	assert_int_equal(rd_kafka_conf_get(conf, "bootstrap.servers", buf, &len), 0);
	assert_string_equal(buf, "127.0.0.1:1,127.0.0.1:2");
	len = sizeof(buf);
	assert_int_equal(rd_kafka_conf_get(conf, "client.id", buf, &len), 0);
	assert_string_equal(buf, "plain");
	/* The plain configuration fixes nothing: idempotence stays librdkafka's default. */
	len = sizeof(buf);
	assert_int_equal(rd_kafka_conf_get(conf, "enable.idempotence", buf, &len), 0);
	assert_string_equal(buf, "false");
	rd_kafka_conf_destroy(conf);
	cfg_free(c);

	c = test_cfg("127.0.0.1:1", NULL);
	assert_int_equal(cfg_set(c, &KEY_TMPROV_KAFKA_PROPS, "nope=1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "TMPROV_KAFKA_PROPS"));
	cfg_free(c);
}

static void
test_produce_error_takes_headers(void **state)
{
	struct cfg *c = test_cfg("127.0.0.1:1", NULL);
	char err[512] = "";
	rd_kafka_t *p = kafka_producer_new(c, err, sizeof(err));
	rd_kafka_headers_t *h = rd_kafka_headers_new(1);
	static char big[2 * 1024 * 1024];

	(void)state;
	assert_non_null(p);
	rd_kafka_header_add(h, "x", -1, "y", -1);
	/* Larger than message.max.bytes: refused at once, and h is freed (ASan would tell). */
	assert_int_equal(kafka_produce(p, "t", "k", 1, big, sizeof(big), h, NULL, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "produce to t"));
	rd_kafka_destroy(p);
	cfg_free(c);
}

/* The number of topics the cluster has (a metadata request for all topics creates none). */
static int
topic_count(const char *brokers)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const rd_kafka_metadata_t *md;
	char err[256];
	rd_kafka_t *rk;
	int n;

	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)),
			 RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	assert_non_null(rk);
	assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, 10000), 0);
	n = md->topic_cnt;
	rd_kafka_metadata_destroy(md);
	rd_kafka_destroy(rk);
	return n;
}

/* A retriable produce error (as from a broker short of in-sync replicas) is retried: every
 * message lands once, in order. An in-process mock cluster, since errors are injected. */
static void
test_producer_retries_transient_errors(void **state)
{
	rd_kafka_conf_t *hc = rd_kafka_conf_new();
	char err[512] = "";
	rd_kafka_t *host, *p;
	rd_kafka_mock_cluster_t *mc;
	struct kafka_delivery d[10];
	struct cfg *c;

	(void)state;
	kafka_conf_route_logs(hc);
	host = rd_kafka_new(RD_KAFKA_PRODUCER, hc, err, sizeof(err));
	assert_non_null(host);
	mc = rd_kafka_mock_cluster_new(host, 1);
	assert_non_null(mc);
	assert_int_equal(rd_kafka_mock_topic_create(mc, "kt.retry", 1, 1), 0);
	rd_kafka_mock_push_request_errors(
	    mc, 0 /* Produce */, 3, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
	    RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
	c = test_cfg(rd_kafka_mock_cluster_bootstraps(mc), NULL);
	p = kafka_producer_new(c, err, sizeof(err));
	assert_non_null(p);
	for (int i = 0; i < 10; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		assert_int_equal(
		    kafka_produce(p, "kt.retry", NULL, 0, "x", 1, NULL, &d[i], err, sizeof(err)),
		    0);
	}
	if (kafka_flush(p, 15000, err, sizeof(err)))
		fail_msg("kafka_flush: %s", err);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(d[i].done, 1);
		assert_int_equal(d[i].err, 0);
		assert_int_equal(d[i].offset, i);
	}
	rd_kafka_destroy(p);
	cfg_free(c);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(host);
}

static void
test_fatal_and_flush_errors(void **state)
{
	struct cfg *c = test_cfg("127.0.0.1:1", NULL);
	struct kafka_delivery d = {0};
	char err[512] = "";
	rd_kafka_t *p = kafka_producer_new(c, err, sizeof(err));

	(void)state;
	assert_non_null(p);
	/* Nothing listens on port 1: the message stays queued and flush says so. */
	assert_int_equal(kafka_produce(p, "t", "k", 1, "v", 1, NULL, &d, err, sizeof(err)), 0);
	assert_int_equal(kafka_flush(p, 300, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "1 message(s) still undelivered"));
	assert_int_equal(d.done, 0);

	assert_false(kafka_fatal(p));
	assert_int_equal(rd_kafka_test_fatal_error(
			     p, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "injected"),
			 0);
	assert_true(kafka_fatal(p));
	assert_int_equal(kafka_flush(p, 300, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "fatal error"));
	assert_int_equal(
	    kafka_produce(p, "t", "k", 1, "v", 1, rd_kafka_headers_new(1), NULL, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "fatal error"));
	/* Purging the queue fails the queued message, and its kafka_delivery says so. */
	rd_kafka_purge(p, RD_KAFKA_PURGE_F_QUEUE);
	rd_kafka_poll(p, 100);
	assert_int_equal(d.done, 1);
	assert_int_not_equal(d.err, 0);
	rd_kafka_destroy(p);
	cfg_free(c);
}

static void
test_devkafka_partitions_and_file(void **state)
{
	static const char *const args[] = {"--partitions", "12", "--topic", "kt.twelve", NULL};
	struct ku_devkafka dk;
	char err[512] = "", line[512];
	json_t *msgs;
	FILE *f;

	(void)state;
	if (ku_devkafka_start(&dk, args, err, sizeof(err)))
		fail_msg("%s", err);
	f = fopen(dk.file, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(strncmp(line, "127.0.0.1:", 10), 0);
	assert_string_equal(line + strlen(line) - 1, "\n");
	assert_int_equal(ku_partitions(dk.bootstrap, "kt.twelve", err, sizeof(err)), 12);
	/* --topic replaces the default topics, and asking for one does not create it. */
	assert_int_equal(ku_partitions(dk.bootstrap, "tm.commands", err, sizeof(err)), -1);
	assert_int_equal(topic_count(dk.bootstrap), 1);
	assert_int_equal(ku_produce(dk.bootstrap, "kt.twelve", "k", "{\"a\":1}",
				    (const char *const[]){"h", "v", NULL}, err, sizeof(err)),
			 0);
	assert_int_equal(ku_consume_all(dk.bootstrap, "kt.twelve", 1, 15000, &msgs), 1);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(json_array_get(msgs, 0), "json"), "a")),
			 1);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_array_get(msgs, 0), "headers"), "h")),
			    "v");
	json_decref(msgs);
	assert_int_equal(ku_devkafka_stop(&dk), 0); /* SIGTERM: exit 0 */
}

static void
test_devkafka_defaults_brokers_sigint(void **state)
{
	static const char *const args[] = {"--brokers", "3", NULL};
	struct ku_devkafka dk;
	struct ku_mark mark;
	char err[512] = "";
	int status, commas = 0;
	json_t *msgs;

	(void)state;
	setenv("TMPROV_TOPIC_EVENTS", "kt.custom.events", 1);
	if (ku_devkafka_start(&dk, args, err, sizeof(err)))
		fail_msg("%s", err);
	unsetenv("TMPROV_TOPIC_EVENTS");
	for (const char *s = dk.bootstrap; *s; s++)
		commas += *s == ',';
	assert_int_equal(commas, 2);
	assert_int_equal(ku_partitions(dk.bootstrap, "tm.commands", err, sizeof(err)), 4);
	assert_int_equal(ku_partitions(dk.bootstrap, "tm.commands.dlq", err, sizeof(err)), 4);
	assert_int_equal(ku_partitions(dk.bootstrap, "kt.custom.events", err, sizeof(err)), 4);
	assert_int_equal(ku_partitions(dk.bootstrap, "tm.events", err, sizeof(err)), -1);

	/* A mark reads only what comes after it. */
	assert_int_equal(
	    ku_produce(dk.bootstrap, "tm.commands", "a", "before", NULL, err, sizeof(err)), 0);
	assert_int_equal(ku_mark(dk.bootstrap, "tm.commands", &mark, err, sizeof(err)), 0);
	assert_int_equal(
	    ku_produce(dk.bootstrap, "tm.commands", "a", "after", NULL, err, sizeof(err)), 0);
	assert_int_equal(ku_consume(dk.bootstrap, "tm.commands", &mark, 0, 15000, &msgs), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "value")),
			    "after");
	json_decref(msgs);

	kill(dk.pid, SIGINT);
	assert_int_equal(waitpid(dk.pid, &status, 0), dk.pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_devkafka_bad_flag(void **state)
{
	static const char *const args[] = {"--partitions", "0", NULL};
	struct ku_devkafka dk;
	char err[512] = "";

	(void)state;
	assert_int_equal(ku_devkafka_start(&dk, args, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "status 2"));
}

/* Runs bin/tmprov-devkafka with args (words split at blanks) and env ("KEY=value" settings, or
 * NULL); returns its exit status and what it printed on stdout in out. */
static int
devkafka_run(const char *args, const char *const *env, char *out, size_t outlen)
{
	const char *argv[16] = {"tmprov-devkafka"};
	char words[512];
	struct clirun r;
	int n = 1, status;

	snprintf(words, sizeof(words), "%s", args);
	for (char *save = NULL, *w = strtok_r(words, " ", &save); w != NULL && n < 15;
	     w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	clirun(&r, argv, env, 30000);
	snprintf(out, outlen, "%s", r.out);
	status = r.status;
	clirun_free(&r);
	return status;
}

static void
test_devkafka_print_config_and_help(void **state)
{
	const char *const brokers2[] = {"TMPROV_DEVKAFKA_BROKERS=2", NULL};
	char out[4096];

	(void)state;
	assert_int_equal(devkafka_run("--print-config --partitions 7 --topic a --topic=b", brokers2,
				      out, sizeof(out)),
			 0);
	assert_non_null(strstr(out, "TMPROV_DEVKAFKA_PARTITIONS=7\n")); /* flag */
	assert_non_null(strstr(out, "TMPROV_DEVKAFKA_BROKERS=2\n"));	/* environment */
	assert_non_null(strstr(out, "TMPROV_TOPIC_COMMANDS=tm.commands\n"));
	assert_non_null(strstr(out, "# topics created: a b\n"));
	assert_int_equal(devkafka_run("--help", NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--bootstrap-file"));
	assert_int_equal(devkafka_run("--no-such-flag", NULL, out, sizeof(out)), 2);
	assert_int_equal(devkafka_run("--partitions", NULL, out, sizeof(out)), 2);
}

static void
test_shared_broker_has_topics(void **state)
{
	const char *brokers = getenv("TMPROV_KAFKA_BROKERS");
	static const char *const topics[] = {"tm.commands", "tm.events", "tm.commands.dlq"};
	char err[512] = "";

	(void)state;
	if (!brokers)
		fail_msg("TMPROV_KAFKA_BROKERS is not set (run under tests/run-tests)");
	for (size_t i = 0; i < 3; i++) {
		int n = ku_partitions(brokers, topics[i], err, sizeof(err));
		if (n < 1)
			fail_msg("%s on %s: %s", topics[i], brokers, err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kafka_props),
	    cmocka_unit_test(test_conf_new),
	    cmocka_unit_test(test_produce_error_takes_headers),
	    cmocka_unit_test(test_producer_retries_transient_errors),
	    cmocka_unit_test(test_fatal_and_flush_errors),
	    cmocka_unit_test(test_roundtrip_keys_values_headers),
	    cmocka_unit_test(test_commit_then_resume),
	    cmocka_unit_test(test_group_shares_partitions),
	    cmocka_unit_test(test_idempotent_producer),
	    cmocka_unit_test(test_devkafka_partitions_and_file),
	    cmocka_unit_test(test_devkafka_defaults_brokers_sigint),
	    cmocka_unit_test(test_devkafka_bad_flag),
	    cmocka_unit_test(test_devkafka_print_config_and_help),
	    cmocka_unit_test(test_shared_broker_has_topics),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
