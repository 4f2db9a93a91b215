/* Tests for workers/worker/dlq against a private tmprov-devkafka: the headers of a copy (the
 * original's kept; tmprov.reason, tmprov.origin.topic, partition and offset as decimal strings,
 * tmprov.error only when there is one, tmprov.traceparent), copies
 * delivered byte for byte with their key and headers before dlq_send returns, and a stop
 * request ending the wait for a broker that is gone. dlq.c and tmretry.c are compiled into this
 * test (the Makefile links tests with common/ only). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfgkeys.h"
#include "clock.h"
#include "kafka.h"

#include "../../workers/worker/dlq.h"
#include "../../workers/worker/tmretry.h"
#include "../support/kafka_util.h"

#define DLQ_TOPIC "dlq.test"

static struct cfg *
cfg_for(const char *brokers, const char *props)
{
	struct cfg *c = cfg_new();
	char err[512];

	assert_non_null(c);
	assert_int_equal(cfg_add_keys(c, KAFKA_CONFIG_KEYS, KAFKA_CONFIG_NKEYS), 0);
	if (cfg_load(c, NULL, err, sizeof(err)) != 0 ||
	    cfg_set(c, &KEY_TMPROV_KAFKA_BROKERS, brokers, err, sizeof(err)) != 0 ||
	    cfg_set(c, &KEY_TMPROV_TOPIC_DLQ, DLQ_TOPIC, err, sizeof(err)) != 0 ||
	    (props && cfg_set(c, &KEY_TMPROV_KAFKA_PROPS, props, err, sizeof(err)) != 0))
		fail_msg("cfg: %s", err);
	return c;
}

static const char *
header(rd_kafka_headers_t *h, const char *name)
{
	const void *v;
	size_t len;

	if (rd_kafka_header_get_last(h, name, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	return v;
}

/* A private broker with the DLQ topic, and a dlq on it (props: TMPROV_KAFKA_PROPS, may be NULL). */
static struct dlq *
dlq_up(struct ku_devkafka *dk, const char *props, struct cfg **c)
{
	static const char *const args[] = {"--topic", DLQ_TOPIC, "--partitions", "1", NULL};
	char err[512];
	struct dlq *d;

	if (ku_devkafka_start(dk, args, err, sizeof(err)) != 0)
		fail_msg("devkafka: %s", err);
	*c = cfg_for(dk->bootstrap, props);
	d = dlq_new(*c, NULL, err, sizeof(err));
	if (d == NULL)
		fail_msg("dlq_new: %s", err);
	return d;
}

/* tmprov's own headers, prefixed; the original message's kept as they were, several values of
 * one name included, except any with tmprov's prefix (only tmprov may speak under it). */
static void
test_headers(void **state)
{
	rd_kafka_headers_t *orig = rd_kafka_headers_new(4);
	struct dlq_copy copy = {
	    .origin_topic = "tm.commands",
	    .origin_partition = 3,
	    .origin_offset = 9007199254740993LL,
	    .reason = "not_json",
	    .error = "message: not JSON",
	    .traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	};
	rd_kafka_headers_t *h = dlq_headers(&copy);
	const void *v;
	size_t len;

	(void)state;
	assert_non_null(h);
	assert_string_equal(header(h, "tmprov.reason"), "not_json");
	assert_string_equal(header(h, "tmprov.origin.topic"), "tm.commands");
	assert_string_equal(header(h, "tmprov.origin.partition"), "3");
	assert_string_equal(header(h, "tmprov.origin.offset"), "9007199254740993");
	assert_string_equal(header(h, "tmprov.error"), "message: not JSON");
	assert_string_equal(header(h, "tmprov.traceparent"), copy.traceparent);
	/* The message had no traceparent header: the copy gets the worker's. */
	assert_string_equal(header(h, "traceparent"), copy.traceparent);
	assert_null(header(h, "reason"));
	assert_null(header(h, "origin_topic"));
	assert_int_equal(rd_kafka_header_cnt(h), 7);
	rd_kafka_headers_destroy(h);
	/* No error, no header for it. */
	copy.error = "";
	h = dlq_headers(&copy);
	assert_null(header(h, "tmprov.error"));
	assert_int_equal(rd_kafka_header_cnt(h), 6);
	rd_kafka_headers_destroy(h);

	/* The original headers: a producer's "reason" is not mistaken for tmprov's. */
	rd_kafka_header_add(orig, "reason", -1, "producer's own", -1);
	rd_kafka_header_add(orig, "x-tenant", -1, "a", -1);
	rd_kafka_header_add(orig, "x-tenant", -1, "b", -1);
	rd_kafka_header_add(orig, "traceparent", -1,
			    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", -1);
	rd_kafka_header_add(orig, "tmprov.reason", -1, "forged", -1);
	copy.headers = orig;
	h = dlq_headers(&copy);
	assert_string_equal(header(h, "reason"), "producer's own");
	assert_int_equal(rd_kafka_header_get(h, 0, "x-tenant", &v, &len), 0);
	assert_memory_equal(v, "a", 1);
	assert_int_equal(rd_kafka_header_get(h, 1, "x-tenant", &v, &len), 0);
	assert_memory_equal(v, "b", 1);
	/* The message's own traceparent stays the only one of that name. */
	assert_int_equal(rd_kafka_header_get(h, 1, "traceparent", &v, &len),
			 RD_KAFKA_RESP_ERR__NOENT);
	assert_string_equal(header(h, "traceparent"),
			    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	assert_string_equal(header(h, "tmprov.reason"), "not_json");
	assert_int_equal(rd_kafka_header_get(h, 1, "tmprov.reason", &v, &len),
			 RD_KAFKA_RESP_ERR__NOENT);
	assert_int_equal(rd_kafka_header_cnt(h), 4 + 5);
	rd_kafka_headers_destroy(h);
	rd_kafka_headers_destroy(orig);
}

static void
test_send_byte_for_byte(void **state)
{
	/* Not a command, with a NUL-free mix of ASCII, UTF-8 and JSON-looking text. */
	static const char body[] = "{\"id\": \"x\", oops \xc3\xa9\xe2\x82\xac } trailing";
	struct ku_devkafka dk;
	struct dlq_copy copy = {
	    .payload = body,
	    .len = sizeof(body) - 1,
	    .key = "cust-7",
	    .keylen = 6,
	    .origin_topic = "tm.commands",
	    .origin_partition = 2,
	    .origin_offset = 41,
	    .reason = "not_json",
	    .error = "message: not JSON",
	};
	char err[512];
	struct cfg *c;
	struct dlq *d;
	json_t *msgs = NULL, *m, *h;

	(void)state;
	d = dlq_up(&dk, NULL, &c);
	assert_int_equal(dlq_send(d, &copy, NULL, err, sizeof(err)), 0);
	/* Returned only after delivery: the copy is on the topic now. */
	assert_int_equal(ku_consume_all(dk.bootstrap, DLQ_TOPIC, 1, 10000, &msgs), 1);
	m = json_array_get(msgs, 0);
	assert_string_equal(json_string_value(json_object_get(m, "value")), body);
	assert_string_equal(json_string_value(json_object_get(m, "key")), "cust-7");
	h = json_object_get(m, "headers");
	assert_string_equal(json_string_value(json_object_get(h, "tmprov.reason")), "not_json");
	assert_string_equal(json_string_value(json_object_get(h, "tmprov.origin.topic")),
			    "tm.commands");
	assert_string_equal(json_string_value(json_object_get(h, "tmprov.origin.partition")), "2");
	assert_string_equal(json_string_value(json_object_get(h, "tmprov.origin.offset")), "41");
	assert_string_equal(json_string_value(json_object_get(h, "tmprov.error")),
			    "message: not JSON");
	json_decref(msgs);
	/* Without a key. */
	copy.key = NULL;
	copy.reason = "id_conflict";
	assert_int_equal(dlq_send(d, &copy, NULL, err, sizeof(err)), 0);
	assert_int_equal(ku_consume_all(dk.bootstrap, DLQ_TOPIC, 2, 10000, &msgs), 2);
	m = json_array_get(msgs, 1);
	assert_true(json_is_null(json_object_get(m, "key")));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(m, "headers"), "tmprov.reason")),
	    "id_conflict");
	json_decref(msgs);
	dlq_free(d);
	cfg_free(c);
	assert_int_equal(ku_devkafka_stop(&dk), 0);
}

static atomic_bool stop_flag;

static void *
stop_later(void *arg)
{
	(void)arg;
	usleep(800 * 1000);
	atomic_store(&stop_flag, true);
	return NULL;
}

static void
test_stop_while_broker_gone(void **state)
{
	static const char body[] = "{}";
	struct ku_devkafka dk;
	struct dlq_copy copy = {
	    .payload = body,
	    .len = 2,
	    .origin_topic = "tm.commands",
	    .reason = "invalid",
	};
	long t0, t1;
	char err[512];
	struct cfg *c;
	struct dlq *d;
	pthread_t t;

	(void)state;
	/* Deliveries give up after a second, so the copy is produced again and again. */
	d = dlq_up(&dk, "message.timeout.ms=1000", &c);
	ku_devkafka_stop(&dk);
	atomic_store(&stop_flag, false);
	assert_int_equal(pthread_create(&t, NULL, stop_later, NULL), 0);
	t0 = clock_now_ms();
	assert_int_equal(dlq_send(d, &copy, &stop_flag, err, sizeof(err)), -1);
	t1 = clock_now_ms();
	pthread_join(t, NULL);
	/* Seen within the 100 ms wait slices, not after a delivery timeout. */
	assert_true(t1 - t0 < 1500);
	dlq_free(d);
	cfg_free(c);
}

/* A fatal producer error (an idempotence failure, say) is final: dlq_failed says so and a send
 * gives up at once instead of producing again for ever. */
static void
test_fatal_error(void **state)
{
	struct dlq_copy copy = {.payload = "x", .len = 1, .reason = "not_json"};
	struct ku_devkafka dk;
	char err[512];
	struct cfg *c;
	struct dlq *d;

	(void)state;
	d = dlq_up(&dk, NULL, &c);
	assert_false(dlq_failed(d));
	assert_int_equal(dlq_send(d, &copy, NULL, err, sizeof(err)), 0);
	assert_int_equal(rd_kafka_test_fatal_error(dlq_producer(d),
						   RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
						   "test_dlq"),
			 RD_KAFKA_RESP_ERR_NO_ERROR);
	assert_true(dlq_failed(d));
	assert_int_equal(dlq_send(d, &copy, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "fatal"));
	dlq_free(d);
	cfg_free(c);
	assert_int_equal(ku_devkafka_stop(&dk), 0);
}

/* Issue 11 defect 3: a copy over message.max.bytes went round producing again for ever. It
 * goes as its first 64 KiB, or empty under a limit below that, with tmprov.truncated. */
static void
test_oversize_truncated(void **state)
{
	enum { BIG = 1100 * 1024 };
	struct dlq_copy copy = {.key = "cust-big",
				.keylen = 8,
				.origin_topic = "tm.commands",
				.origin_offset = 7,
				.reason = "too_large"};
	char *big = malloc(BIG), err[512];
	json_t *msgs = NULL, *m, *h;
	struct ku_devkafka dk;
	struct cfg *c;
	struct dlq *d;

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (char)('a' + i % 26);
	copy.payload = big;
	copy.len = BIG;
	d = dlq_up(&dk, NULL, &c);
	assert_int_equal(dlq_send(d, &copy, NULL, err, sizeof(err)), 0);
	dlq_free(d);
	cfg_free(c);
	/* Under a limit below the 64 KiB prefix: nothing of the value is left. */
	c = cfg_for(dk.bootstrap, "message.max.bytes=20000");
	d = dlq_new(c, NULL, err, sizeof(err));
	assert_non_null(d);
	copy.origin_offset = 8;
	assert_int_equal(dlq_send(d, &copy, NULL, err, sizeof(err)), 0);
	assert_int_equal(ku_consume_all(dk.bootstrap, DLQ_TOPIC, 2, 10000, &msgs), 2);
	m = json_array_get(msgs, 0);
	h = json_object_get(m, "headers");
	assert_string_equal(json_string_value(json_object_get(h, "tmprov.truncated")), "1126400");
	assert_string_equal(json_string_value(json_object_get(h, "tmprov.origin.offset")), "7");
	assert_string_equal(json_string_value(json_object_get(m, "key")), "cust-big");
	assert_int_equal(strlen(json_string_value(json_object_get(m, "value"))), 64 * 1024);
	assert_memory_equal(json_string_value(json_object_get(m, "value")), big, 64 * 1024);
	m = json_array_get(msgs, 1);
	h = json_object_get(m, "headers");
	assert_string_equal(json_string_value(json_object_get(h, "tmprov.truncated")), "1126400");
	assert_string_equal(json_string_value(json_object_get(h, "tmprov.origin.offset")), "8");
	assert_string_equal(json_string_value(json_object_get(m, "value")), "");
	json_decref(msgs);
	dlq_free(d);
	cfg_free(c);
	free(big);
	assert_int_equal(ku_devkafka_stop(&dk), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_headers),
	    cmocka_unit_test(test_send_byte_for_byte),
	    cmocka_unit_test(test_stop_while_broker_gone),
	    cmocka_unit_test(test_fatal_error),
	    cmocka_unit_test(test_oversize_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
