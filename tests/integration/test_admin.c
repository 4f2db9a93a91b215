/* Tests for common/admin and common/metrics: the three endpoints over real HTTP, readiness
 * following its callback, and the Prometheus text of counters, gauges and histograms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>

#include "admin.h"
#include "metrics.h"

struct body {
	char data[65536];
	size_t len;
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;

	if (b->len + len >= sizeof(b->data))
		return 0;
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

static long
get(int port, const char *path, const char *method, struct body *b)
{
	char url[128];
	CURL *c = curl_easy_init();
	long status = -1;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	b->len = 0;
	b->data[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	if (method != NULL)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

static int ready_flag;

static int
ready(void *arg, char *why, size_t len)
{
	(void)arg;
	if (!ready_flag)
		snprintf(why, len, "database unreachable");
	return ready_flag;
}

static void
test_endpoints(void **state)
{
	static const double buckets[] = {0.01, 0.1, 1};
	struct metrics *m = metrics_new();
	char err[128] = "";
	struct admin *a;
	struct body b;
	int port;

	(void)state;
	assert_int_equal(metrics_declare(m, "t_commands_total", "counter", "Commands.", NULL, 0),
			 0);
	assert_int_equal(metrics_declare(m, "t_inflight", "gauge", "In flight.", NULL, 0), 0);
	assert_int_equal(
	    metrics_declare(m, "t_latency_seconds", "histogram", "Latency.", buckets, 3), 0);
	metrics_add(m, "t_commands_total", "type=\"account.create\",outcome=\"ok\"", 2);
	metrics_add(m, "t_commands_total", "type=\"account.create\",outcome=\"ok\"", 1);
	metrics_add(m, "t_commands_total", "", 5);
	metrics_set(m, "t_inflight", "", 7);
	metrics_observe(m, "t_latency_seconds", "endpoint=\"q\"", 0.05);
	metrics_observe(m, "t_latency_seconds", "endpoint=\"q\"", 2);
	metrics_add(m, "t_undeclared", "", 1);

	a = admin_start("127.0.0.1:0", m, ready, NULL, err, sizeof(err));
	assert_non_null(a);
	port = admin_port(a);
	assert_true(port > 0);

	assert_int_equal(get(port, "/healthz", NULL, &b), 200);
	ready_flag = 0;
	assert_int_equal(get(port, "/readyz", NULL, &b), 503);
	assert_non_null(strstr(b.data, "database unreachable"));
	ready_flag = 1;
	assert_int_equal(get(port, "/readyz", NULL, &b), 200);
	assert_int_equal(get(port, "/nope", NULL, &b), 404);
	assert_int_equal(get(port, "/healthz", "DELETE", &b), 405);

	assert_int_equal(get(port, "/metrics", NULL, &b), 200);
	assert_non_null(strstr(b.data, "# TYPE t_commands_total counter\n"));
	assert_non_null(
	    strstr(b.data, "t_commands_total{type=\"account.create\",outcome=\"ok\"} 3\n"));
	assert_non_null(strstr(b.data, "\nt_commands_total 5\n"));
	assert_non_null(strstr(b.data, "t_inflight 7\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_bucket{endpoint=\"q\",le=\"0.01\"} 0\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_bucket{endpoint=\"q\",le=\"0.1\"} 1\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_bucket{endpoint=\"q\",le=\"1\"} 1\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_bucket{endpoint=\"q\",le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_count{endpoint=\"q\"} 2\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_sum{endpoint=\"q\"} 2.05"));
	assert_non_null(strstr(b.data, "tmprov_metrics_errors_total 1\n"));
	admin_stop(a);
	metrics_free(m);
}

static void *
hammer(void *arg)
{
	for (int i = 0; i < 100000; i++)
		metrics_add(arg, "t_c", "k=\"v\"", 1);
	return NULL;
}

static void
test_concurrent_counts(void **state)
{
	struct metrics *m = metrics_new();
	pthread_t t[4];
	struct buf out;

	(void)state;
	metrics_declare(m, "t_c", "counter", "C.", NULL, 0);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer, m);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	buf_init(&out, 1 << 16);
	assert_int_equal(metrics_render(m, &out), 0);
	assert_non_null(strstr(out.data, "t_c{k=\"v\"} 400000\n"));
	buf_free(&out);
	metrics_free(m);
}

/* /healthz follows the main loop's ticks: 503 with the reason once stall_ms passed without one,
 * 200 again after the next tick. */
static void
test_stall(void **state)
{
	struct metrics *m = metrics_new();
	char err[128] = "";
	struct admin *a;
	struct body b;
	int port;

	(void)state;
	a = admin_start("127.0.0.1:0", m, NULL, NULL, err, sizeof(err));
	assert_non_null(a);
	port = admin_port(a);
	admin_set_stall(a, 300);
	admin_tick(a);
	assert_int_equal(get(port, "/healthz", NULL, &b), 200);
	usleep(600 * 1000);
	assert_int_equal(get(port, "/healthz", NULL, &b), 503);
	assert_non_null(strstr(b.data, "main loop"));
	admin_tick(a);
	assert_int_equal(get(port, "/healthz", NULL, &b), 200);
	admin_stop(a);
	metrics_free(m);
}

/* Series declared up front render at 0; a removed one disappears; build_info carries the
 * version, escaped. */
static void
test_zero_remove_build_info(void **state)
{
	static const double buckets[] = {1};
	struct metrics *m = metrics_new();
	struct buf out;

	(void)state;
	assert_int_equal(metrics_declare(m, "t_total", "counter", "T.", NULL, 0), 0);
	assert_int_equal(metrics_declare(m, "t_seconds", "histogram", "S.", buckets, 1), 0);
	assert_int_equal(metrics_declare(m, "t_lag", "gauge", "L.", NULL, 0), 0);
	assert_int_equal(metrics_build_info(m, "1.2-\"x\""), 0);
	metrics_touch(m, "t_total", "reason=\"a\"");
	metrics_touch(m, "t_seconds", "route=\"r\"");
	metrics_set(m, "t_lag", "partition=\"0\"", 3);
	metrics_set(m, "t_lag", "partition=\"1\"", 4);
	metrics_remove(m, "t_lag", "partition=\"0\"");
	metrics_set(m, "t_lag", "partition=\"2\"", 5);
	buf_init(&out, 1 << 16);
	assert_int_equal(metrics_render(m, &out), 0);
	assert_non_null(strstr(out.data, "\nt_total{reason=\"a\"} 0\n"));
	assert_non_null(strstr(out.data, "\nt_seconds_count{route=\"r\"} 0\n"));
	assert_non_null(strstr(out.data, "\nt_seconds_bucket{route=\"r\",le=\"+Inf\"} 0\n"));
	assert_null(strstr(out.data, "partition=\"0\""));
	assert_non_null(strstr(out.data, "\nt_lag{partition=\"1\"} 4\n"));
	assert_non_null(strstr(out.data, "\nt_lag{partition=\"2\"} 5\n"));
	assert_non_null(strstr(out.data, "\ntmprov_build_info{version=\"1.2-\\\"x\\\"\"} 1\n"));
	assert_non_null(strstr(out.data, "tmprov_metrics_errors_total 0\n"));
	buf_free(&out);
	metrics_free(m);
}

static void
test_bad_listen(void **state)
{
	char err[128] = "";

	(void)state;
	assert_null(admin_start("nowhere", NULL, NULL, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "nowhere"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_endpoints),
	    cmocka_unit_test(test_concurrent_counts),
	    cmocka_unit_test(test_bad_listen),
	    cmocka_unit_test(test_stall),
	    cmocka_unit_test(test_zero_remove_build_info),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
