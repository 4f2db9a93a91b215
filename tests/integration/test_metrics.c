/* test_metrics: what Prometheus users expect of every /metrics (tmprov-worker, tmprov-callback):
 * promtool check metrics clean, tmprov_build_info and process_*, labelled counters at 0 before
 * any event, lag series leaving with a revoked partition, rebalance counters; and honest health:
 * /healthz fails when the main loop stalls, /readyz answers during a long purge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/cbtest.h"
#include "../support/clirun.h"
#include "../support/cmdjson.h"
#include "../support/testdb.h"
#include "../support/tprog.h"
#include "../support/wenv.h"
#include "clock.h"

/* promtool check metrics on text (a /metrics body): fails the test with its complaints. */
static void
promtool_check(const char *text, const char *what)
{
	const char *argv[] = {tprog("promtool"), "check", "metrics", NULL};
	const char *tmp = getenv("TMPROV_TEST_TMP");
	char path[600];
	struct clirun r;
	FILE *f;

	snprintf(path, sizeof(path), "%s/metrics-%s-%ld.txt", tmp ? tmp : "/tmp", what,
		 (long)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) < 0, 0);
	assert_int_equal(fclose(f), 0);
	clirun_start(&r, argv, NULL, path);
	clirun_wait(&r, 30000);
	if (r.status != 0)
		clirun_dump(&r, what);
	assert_int_equal(r.status, 0);
	clirun_free(&r);
}

/* The version `program --version` prints ("program VERSION"). */
static void
build_version(const char *program, char *out, size_t outlen)
{
	const char *argv[] = {program, "--version", NULL};
	size_t len = strlen(program);
	struct clirun r;
	size_t n;

	clirun(&r, argv, NULL, 10000);
	assert_int_equal(r.status, 0);
	assert_true(strncmp(r.out, program, len) == 0 && r.out[len] == ' ');
	snprintf(out, outlen, "%s", r.out + len + 1);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	clirun_free(&r);
}

/* The value of the sample line "series value" (series exactly as rendered); -1 when absent. */
static double
sample(const char *body, const char *series)
{
	size_t n = strlen(series);

	for (const char *line = body; line != NULL && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, series, n) == 0 && line[n] == ' ')
			return strtod(line + n + 1, NULL);
	}
	return -1;
}

/* Whether body has a sample line of series name: the name followed by '{' or ' '. */
static int
has_sample(const char *body, const char *name)
{
	char want[160];
	size_t n = (size_t)snprintf(want, sizeof(want), "\n%s", name);

	for (const char *q = body; (q = strstr(q, want)) != NULL; q++)
		if (q[n] == '{' || q[n] == ' ')
			return 1;
	return 0;
}

/* Every counter and histogram family has series before any event: none appears only at its
 * first increment. */
static void
expect_no_empty_counter(const char *body)
{
	char name[128], type[16], count[140];

	for (const char *p = body; (p = strstr(p, "# TYPE ")) != NULL; p++) {
		if (sscanf(p, "# TYPE %127s %15s", name, type) != 2)
			continue;
		snprintf(count, sizeof(count), "%s_count", name);
		if ((strcmp(type, "counter") == 0 && !has_sample(body, name)) ||
		    (strcmp(type, "histogram") == 0 && !has_sample(body, count)))
			fail_msg("%s %s has no series before its first event", type, name);
	}
}

/* Checks build_info (the version program --version prints) and the process_* families
 * Prometheus' client libraries export. */
static void
expect_standard(const char *body, const char *program)
{
	static const char *const process[] = {
	    "process_start_time_seconds",
	    "process_resident_memory_bytes",
	    "process_virtual_memory_bytes",
	    "process_cpu_seconds_total",
	    "process_open_fds",
	    "process_max_fds",
	};
	char version[128], series[256];
	double start = sample(body, "process_start_time_seconds"), now = (double)time(NULL);

	expect_no_empty_counter(body);
	build_version(program, version, sizeof(version));
	snprintf(series, sizeof(series), "tmprov_build_info{version=\"%s\"}", version);
	if (sample(body, series) != 1)
		fail_msg("no %s 1 in:\n%s", series, body);
	for (size_t i = 0; i < sizeof(process) / sizeof(process[0]); i++)
		if (sample(body, process[i]) < 0)
			fail_msg("%s missing", process[i]);
	/* Started within the test, by the wall clock. */
	assert_true(start > now - 600 && start <= now + 1);
	assert_true(sample(body, "process_resident_memory_bytes") > 1e6);
	assert_true(sample(body, "process_open_fds") > 0);
	assert_true(sample(body, "process_max_fds") >= sample(body, "process_open_fds"));
	assert_true(sample(body, "process_virtual_memory_bytes") >=
		    sample(body, "process_resident_memory_bytes"));
}

static char *
worker_metrics_body(struct worker *w)
{
	long status = 0;
	char *body = NULL;

	assert_int_equal(worker_admin_get(w, "/metrics", &status, &body), 0);
	assert_int_equal(status, 200);
	assert_non_null(body);
	return body;
}

/* Partitions with a tmprov_consumer_lag series in w's /metrics. */
static int
lag_series(struct worker *w)
{
	char *body = worker_metrics_body(w);
	int n = 0;

	for (const char *p = body; (p = strstr(p, "\ntmprov_consumer_lag{")) != NULL; p++)
		n++;
	free(body);
	return n;
}

static void
test_worker_metrics(void **state)
{
	struct wenv *e = NULL;
	char err[512], *body;
	struct kdelivery d;

	(void)state;
	if (wenv_setup(&e, "metrics_w", NULL, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	body = worker_metrics_body(e->w);
	promtool_check(body, "worker");
	expect_standard(body, "tmprov-worker");
	/* Before any command: every command type x outcome, every DLQ reason and every TM
	 * endpoint x result is there at 0, so that increase() sees the first one. */
	assert_true(sample(body, "tmprov_dlq_total{reason=\"not_json\"}") == 0);
	assert_true(sample(body, "tmprov_dlq_total{reason=\"outcome_unknown\"}") == 0);
	assert_true(sample(body, "tmprov_commands_total{type=\"account.create\","
				 "outcome=\"succeeded\"}") == 0);
	assert_true(sample(body, "tmprov_commands_total{type=\"meeting.cancel\","
				 "outcome=\"duplicate\"}") == 0);
	assert_true(
	    sample(body,
		   "tmprov_tm_calls_total{endpoint=\"remote_schedule\",result=\"ambiguous\"}") ==
	    0);
	assert_true(sample(body, "tmprov_tm_retries_total{endpoint=\"create_account\"}") == 0);
	assert_true(sample(body, "tmprov_tm_probes_total{result=\"ok\"}") == 0);
	assert_true(sample(body, "tmprov_rebalances_total{event=\"assign\"}") >= 1);
	assert_true(sample(body, "tmprov_rebalances_total{event=\"lost\"}") == 0);
	assert_true(sample(body, "tmprov_commit_failures_total") == 0);
	free(body);

	/* The first dead-lettered message moves its series from 0 to 1. */
	wenv_send_raw(e, "k", "not json", 8, &d);
	wenv_flush(e);
	wenv_assert(e, wenv_dlq_wait(e, &d, WENV_TIMEOUT_MS) != NULL, "no DLQ copy");
	for (long end = clock_now_ms() + 10000; clock_now_ms() < end;) {
		const char *const l[] = {"reason=\"not_json\"", NULL};

		if (worker_metric(e->w, "tmprov_dlq_total", l) == 1)
			break;
		usleep(50 * 1000);
	}
	body = worker_metrics_body(e->w);
	assert_true(sample(body, "tmprov_dlq_total{reason=\"not_json\"}") == 1);
	promtool_check(body, "worker-after");
	free(body);

	/* Healthy while the loop turns. */
	{
		long status = 0;
		char *b = NULL;

		assert_int_equal(worker_admin_get(e->w, "/healthz", &status, &b), 0);
		assert_int_equal(status, 200);
		free(b);
	}
	assert_int_equal(wenv_teardown(e), 0);
}

/* A second worker joins: the first one's revoked partitions leave its lag series, so sum() over
 * the workers counts each partition once, and its rebalance counters say what happened. */
static void
test_worker_revoke_lag(void **state)
{
	static const char *const extra[] = {
	    "TMPROV_KAFKA_PROPS=session.timeout.ms=6000,heartbeat.interval.ms=1000,"
	    "statistics.interval.ms=200",
	    NULL};
	struct wenv *e = NULL;
	struct worker *w2 = NULL;
	char err[512], id[32], subject[32];
	const char *ids[16];
	char idbuf[16][32];
	int a = 0, b = 0;

	(void)state;
	if (wenv_setup(&e, "metrics_lag", extra, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* Messages on every partition, so that each has a known lag. */
	for (int i = 0; i < 16; i++) {
		snprintf(id, sizeof(id), "lag-%d", i);
		snprintf(subject, sizeof(subject), "cust-lag-%d", i);
		snprintf(idbuf[i], sizeof(idbuf[i]), "%s", id);
		ids[i] = idbuf[i];
		wenv_send(e, id, "user.delete", subject, json_pack("{s:s}", "user_id", "u-1"));
	}
	wenv_flush(e);
	wenv_assert(e, wenv_wait_outcomes(e, ids, 16, WENV_TIMEOUT_MS) == 16, "outcomes missing");
	for (long end = clock_now_ms() + 20000; clock_now_ms() < end && lag_series(e->w) < 4;)
		usleep(100 * 1000);
	wenv_assert(e, lag_series(e->w) == 4, "lag series of the first worker: %d, want 4",
		    lag_series(e->w));

	if (wenv_worker_start(e, "second", extra, &w2, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	for (long end = clock_now_ms() + 30000; clock_now_ms() < end; usleep(100 * 1000)) {
		a = lag_series(e->w);
		b = lag_series(w2);
		if (a > 0 && b > 0 && a + b == 4)
			break;
	}
	/* Both own some, and no partition is counted twice. */
	wenv_assert(e, a > 0 && b > 0 && a + b == 4, "lag series: first %d, second %d", a, b);
	{
		const char *const rv[] = {"event=\"revoke\"", NULL};
		const char *const as[] = {"event=\"assign\"", NULL};

		wenv_assert(e, worker_metric(e->w, "tmprov_rebalances_total", rv) >= 1,
			    "no revoke counted");
		wenv_assert(e, worker_metric(e->w, "tmprov_rebalances_total", as) >= 2,
			    "no second assign counted");
	}
	assert_int_equal(worker_stop(w2, WENV_STOP_MS, NULL), 0);
	worker_free(w2);
	assert_int_equal(wenv_teardown(e), 0);
}

/* Worker w's /healthz: the status (0: no answer), the body into body. */
static long
worker_health(struct worker *w, char *body, size_t bodylen)
{
	long status = 0;
	char *b = NULL;

	if (worker_admin_get(w, "/healthz", &status, &b) != 0)
		status = 0;
	snprintf(body, bodylen, "%s", b ? b : "");
	free(b);
	return status;
}

/* The consume loop held by a revoke that drains a slow TM call: /healthz answers 503 with the
 * reason once TMPROV_HEALTH_STALL_TIMEOUT passed without a turn, and 200 when the loop turns
 * again. */
static void
test_worker_health_stall(void **state)
{
	static const char *const extra[] = {"TMPROV_HEALTH_STALL_TIMEOUT=1s",
					    "TMPROV_TM_TIMEOUT=30s", NULL};
	const char *const ids[] = {"stall-1"};
	struct wenv *e = NULL;
	struct worker *w2 = NULL;
	char err[512], body[256];
	long status = 0;

	(void)state;
	if (wenv_setup(&e, "metrics_stall", extra, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	wenv_assert(e, worker_health(e->w, body, sizeof(body)) == 200, "not healthy: %s", body);
	/* One create_account on the wire for 5 s: long enough to be seen stalled, well under the
	 * time tmprov-devkafka's coordinator waits for a member to rejoin (about 10 s), so that the
	 * first worker finishes the command and stays in the group. */
	wenv_sim_faults(e, "latency_ms=5000");
	wenv_send(e, "stall-1", "account.create", "cust-stall",
		  json_pack("{s:s,s:s,s:i,s:i}", "company_name", "Stall", "email",
			    "ops@stall.example", "rooms", 1, "participants", 5));
	wenv_flush(e);
	for (long end = clock_now_ms() + 20000; clock_now_ms() < end; usleep(50 * 1000))
		if (worker_metric(e->w, "tmprov_inflight", NULL) == 1)
			break;
	wenv_assert(e, worker_metric(e->w, "tmprov_inflight", NULL) == 1, "command not in flight");
	/* A second worker joins: the first one's revoke waits for the call inside the loop. Not
	 * waited for: its readiness may come only after the drain. */
	if (worker_start(&w2, "second", (const char *const *)e->settings, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	for (long end = clock_now_ms() + 20000; clock_now_ms() < end; usleep(100 * 1000))
		if ((status = worker_health(e->w, body, sizeof(body))) == 503)
			break;
	wenv_assert(e, status == 503, "healthz %ld during the drain: %s", status, body);
	wenv_assert(e, strstr(body, "main loop") != NULL, "no reason: %s", body);
	wenv_sim_faults(e, "latency_ms=0");
	wenv_assert(e, wenv_wait_outcomes(e, ids, 1, WENV_TIMEOUT_MS) == 1, "no outcome");
	for (long end = clock_now_ms() + 30000; clock_now_ms() < end; usleep(100 * 1000))
		if ((status = worker_health(e->w, body, sizeof(body))) == 200)
			break;
	wenv_assert(e, status == 200, "healthz %ld after the drain: %s", status, body);
	/* Stopped once the group has settled (both assigned after the drain), not while a rebalance
	 * is in progress. */
	{
		const char *const as[] = {"event=\"assign\"", NULL};

		for (long end = clock_now_ms() + 30000; clock_now_ms() < end; usleep(100 * 1000))
			if (worker_metric(e->w, "tmprov_rebalances_total", as) >= 2 &&
			    worker_metric(w2, "tmprov_rebalances_total", as) >= 1)
				break;
		wenv_assert(e,
			    worker_metric(e->w, "tmprov_rebalances_total", as) >= 2 &&
				worker_metric(w2, "tmprov_rebalances_total", as) >= 1,
			    "the group did not settle");
	}
	assert_int_equal(worker_stop(w2, WENV_STOP_MS, NULL), 0);
	worker_free(w2);
	assert_int_equal(wenv_teardown(e), 0);
}

static struct testdb db;
static PGconn *conn;

static void
test_callback_metrics(void **state)
{
	struct cbproc p;
	struct cbhttp r;

	(void)state;
	cbproc_start(&p, db.conninfo, NULL);
	cbhttp_get(p.admin_port, "/metrics", &r);
	assert_int_equal(r.status, 200);
	promtool_check(r.body, "callback");
	expect_standard(r.body, "tmprov-callback");
	/* Every route x result at 0 before the first request. */
	assert_true(
	    sample(r.body, "tmprov_callback_requests_total{route=\"auth\",result=\"ok\"}") == 0);
	assert_true(sample(r.body, "tmprov_callback_requests_total{route=\"meetings\","
				   "result=\"unavailable\"}") == 0);
	assert_true(
	    sample(r.body, "tmprov_callback_request_duration_seconds_count{route=\"join\"}") == 0);
	assert_true(sample(r.body, "tmprov_callback_throttled_total") == 0);
	cbhttp_free(&r);
	assert_int_equal(cbproc_stop(&p), 0);
}

/* GET path on the admin port, waiting at most timeout_ms: the status, 0 when no answer came. */
static int
admin_get(int port, const char *path, int timeout_ms, char *body, size_t bodylen)
{
	char raw[256];
	struct cbhttp r = {0};
	int n = snprintf(raw, sizeof(raw),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	int status = 0;

	if (cbhttp_raw(port, raw, (size_t)n, &r, timeout_ms) == 0) {
		status = r.status;
		snprintf(body, bodylen, "%s", r.body ? r.body : "");
	}
	cbhttp_free(&r);
	return status;
}

/* The purge blocks on a lock the test holds: /readyz still answers at once (its connection is
 * not the purge's), and /healthz says the main loop is stuck once the stall timeout passed. */
static void
test_callback_purge_health(void **state)
{
	static const char *const env[] = {"TMPROV_CALLBACK_PURGE_INTERVAL=1s",
					  "TMPROV_HEALTH_STALL_TIMEOUT=1s", NULL};
	PGconn *locker = PQconnectdb(db.conninfo);
	struct cbproc p;
	char body[512];
	char *waiting = NULL;
	int status = 0;

	(void)state;
	assert_int_equal(PQstatus(locker), CONNECTION_OK);
	cbproc_start(&p, db.conninfo, env);
	assert_int_equal(admin_get(p.admin_port, "/healthz", 5000, body, sizeof(body)), 200);
	/* An expired session the purge must delete, whose row the test holds locked. */
	cbsql(conn,
	      "INSERT INTO sessions (token_hash, subject, user_id, created_at, expires_at) VALUES "
	      "(sha256('stuck'), 'cust-m', 'u-m', now() - interval '1 hour', now() - interval "
	      "'1 minute')",
	      NULL);
	cbsql(locker, "BEGIN", NULL);
	cbsql(locker, "SELECT 1 FROM sessions WHERE token_hash = sha256('stuck') FOR UPDATE", NULL);
	/* Wait until the purge is blocked on the lock. */
	for (long end = clock_now_ms() + 15000; clock_now_ms() < end; usleep(100 * 1000)) {
		free(waiting);
		waiting = cbsql_value(conn,
				      "SELECT count(*) FROM pg_stat_activity WHERE "
				      "application_name = 'tmprov-callback-maint' AND "
				      "wait_event_type = 'Lock'",
				      NULL);
		if (waiting && strcmp(waiting, "1") == 0)
			break;
	}
	assert_non_null(waiting);
	assert_string_equal(waiting, "1");
	free(waiting);
	/* The database answers: ready, at once (the purge goes on for up to the statement
	 * timeout, 10 s). */
	status = admin_get(p.admin_port, "/readyz", 3000, body, sizeof(body));
	assert_int_equal(status, 200);
	usleep(1500 * 1000);
	status = admin_get(p.admin_port, "/healthz", 3000, body, sizeof(body));
	assert_int_equal(status, 503);
	assert_non_null(strstr(body, "main loop"));
	cbsql(locker, "ROLLBACK", NULL);
	PQfinish(locker);
	for (long end = clock_now_ms() + 15000; clock_now_ms() < end; usleep(100 * 1000))
		if ((status = admin_get(p.admin_port, "/healthz", 3000, body, sizeof(body))) == 200)
			break;
	assert_int_equal(status, 200);
	assert_int_equal(cbproc_stop(&p), 0);
}

static int
cb_setup(void **state)
{
	(void)state;
	if (testdb_open(&db, "metrics", &conn) != 0)
		return -1;
	cbseed_account(conn, "cust-m", "CU-M");
	cbseed_user(conn, "cust-m", "u-m", "m@m.example", "M", "M", "m-password");
	return 0;
}

static int
cb_teardown(void **state)
{
	(void)state;
	testdb_close(&db, conn);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest worker_tests[] = {
	    cmocka_unit_test(test_worker_metrics),
	    cmocka_unit_test(test_worker_revoke_lag),
	    cmocka_unit_test(test_worker_health_stall),
	};
	const struct CMUnitTest cb_tests[] = {
	    cmocka_unit_test(test_callback_metrics),
	    cmocka_unit_test(test_callback_purge_health),
	};
	int rc = cmocka_run_group_tests_name("worker", worker_tests, NULL, NULL);

	return rc + cmocka_run_group_tests_name("callback", cb_tests, cb_setup, cb_teardown);
}
