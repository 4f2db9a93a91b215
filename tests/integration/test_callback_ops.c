/* test_callback_ops: tmprov-callback under operating conditions — a 100 KB URL and slow clients
 * that must not hurt other requests, PostgreSQL stopped and restarted while serving, SIGTERM with
 * a request in flight, the admin port, the purge, and no secret in logs or metrics. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/cbtest.h"
#include "../support/testdb.h"
#include "clock.h"

static struct testdb db;
static PGconn *conn;

static int
group_setup(void **state)
{
	(void)state;
	if (testdb_open(&db, "cbops", &conn) != 0)
		return -1;
	cbseed_account(conn, "cust-o", "CU-O");
	cbseed_user(conn, "cust-o", "u-ops", "ops@o.example", "Op", "S", "ops-password");
	cbseed_meeting(conn, "m-ops", "cust-o", "u-ops", "Ops review", "'2099-05-05 05:05+00'",
		       "https://cb.partner.example/join/m-ops");
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	testdb_close(&db, conn);
	return 0;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* One login of u-ops; returns 1 for SUCCEED, 0 for FAILED with reason copied out. */
static int
login_ok(const struct cbproc *p, char *reason, size_t rlen, double *seconds)
{
	char cred[65], status[32];
	struct cbhttp r;
	int ok;

	cbtest_credential("ops-password", cred);
	cbhttp_auth(p->port, "ops@o.example", cred, CBTEST_PARTNER, &r);
	if (seconds != NULL)
		*seconds = r.seconds;
	cbxml_status(&r, status, sizeof(status), reason, rlen);
	ok = strcmp(status, "SUCCEED") == 0;
	cbhttp_free(&r);
	return ok;
}

static void
send_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n <= 0)
			return; /* refused mid-way: the caller reads what the server said */
		s += n;
		len -= (size_t)n;
	}
}

/* Waits up to ms for fd to be closed by the server; returns seconds waited, or -1. */
static double
wait_closed(int fd, int ms)
{
	double start = clock_now_s();
	char buf[4096];

	while ((clock_now_s() - start) * 1000 < ms) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return clock_now_s() - start;
	}
	return -1;
}

/* With one request thread, a client sending a 100 KB URL is refused (414) and does not slow down
 * anyone else. */
static void
test_long_url(void **state)
{
	const char *env[] = {"TMPROV_CALLBACK_THREADS=1", NULL};
	size_t big = 100 * 1024;
	char *req = malloc(big + 64), reason[128];
	struct cbproc p;
	struct cbhttp r;
	double secs;
	int fd;

	(void)state;
	cbproc_start(&p, db.conninfo, env);
	memcpy(req, "GET /tm/auth?email=", 19);
	memset(req + 19, 'a', big);
	/* Half of it first, then someone else's login, then the rest. */
	fd = cbtcp_connect(p.port);
	send_all(fd, req, big / 2);
	assert_true(login_ok(&p, reason, sizeof(reason), &secs));
	assert_true(secs < 1.0);
	send_all(fd, req + big / 2, big / 2 + 19);
	assert_true(wait_closed(fd, 5000) >= 0);
	close(fd);
	/* The whole request at once: the answer is 414 (or, if the server closed before our last
	 * bytes, a reset with no status); never a 200. */
	memcpy(req + 19 + big, " HTTP/1.1\r\nHost: x\r\n\r\n", 23);
	cbhttp_raw(p.port, req, 19 + big + 23, &r, 5000);
	assert_true(r.status == 414 || r.status == 0);
	cbhttp_free(&r);
	assert_true(login_ok(&p, reason, sizeof(reason), &secs));
	assert_true(secs < 1.0);
	free(req);
	assert_int_equal(cbproc_stop(&p), 0);
}

/* Clients that send half a request and wait hold no thread: others are served at once, and the
 * idle connections are closed after TMPROV_CALLBACK_CONNECTION_TIMEOUT. */
static void
test_slow_clients(void **state)
{
	const char *env[] = {"TMPROV_CALLBACK_THREADS=1", "TMPROV_CALLBACK_CONNECTION_TIMEOUT=2s",
			     NULL};
	const char *partial[] = {
	    "GET /tm/auth?email=slow",
	    "GET /tm/auth HTTP/1.1\r\nHost: x\r\n",
	    "POST /tm/auth HTTP/1.1\r\nHost: x\r\nContent-Type: "
	    "application/x-www-form-urlencoded\r\n"
	    "Content-Length: 100\r\n\r\nemail=a",
	};
	enum { NSLOW = 6 };
	int fds[NSLOW];
	struct cbproc p;
	char reason[128];
	double secs;

	(void)state;
	cbproc_start(&p, db.conninfo, env);
	for (int i = 0; i < NSLOW; i++) {
		fds[i] = cbtcp_connect(p.port);
		send_all(fds[i], partial[i % 3], strlen(partial[i % 3]));
	}
	for (int i = 0; i < 3; i++) {
		assert_true(login_ok(&p, reason, sizeof(reason), &secs));
		assert_true(secs < 1.0);
	}
	for (int i = 0; i < NSLOW; i++) {
		double waited = wait_closed(fds[i], 8000);

		assert_true(waited >= 0);
		close(fds[i]);
	}
	assert_true(login_ok(&p, reason, sizeof(reason), NULL));
	assert_int_equal(cbproc_stop(&p), 0);
}

static void
expect_unavailable(const struct cbproc *p, const char *meetings_path)
{
	char reason[128], status[32];
	struct cbhttp r;
	double secs;

	assert_false(login_ok(p, reason, sizeof(reason), &secs));
	assert_string_equal(reason, "temporarily unavailable");
	assert_true(secs < 2.0);
	cbhttp_get(p->port, meetings_path, &r);
	cbxml_status(&r, status, sizeof(status), reason, sizeof(reason));
	assert_string_equal(status, "FAILED");
	assert_string_equal(reason, "temporarily unavailable");
	assert_true(r.seconds < 2.0);
	cbhttp_free(&r);
	cbhttp_get(p->admin_port, "/readyz", &r);
	assert_int_equal(r.status, 503);
	assert_true(r.seconds < 2.0);
	cbhttp_free(&r);
}

/* Logs in until SUCCEED (up to 20 s); returns the seconds it took. */
static double
wait_recovered(const struct cbproc *p)
{
	double start = clock_now_s();
	char reason[128];

	while (clock_now_s() - start < 20) {
		if (login_ok(p, reason, sizeof(reason), NULL))
			return clock_now_s() - start;
		assert_string_equal(reason, "temporarily unavailable");
		sleep_ms(100);
	}
	fail_msg("no successful login within 20 s of PostgreSQL's return");
	return -1;
}

struct hammer {
	const struct cbproc *p;
	atomic_bool stop; /* set by the test, read by the hammering thread */
	int ok, unavailable, other;
	double slowest;
};

static void *
hammer_run(void *arg)
{
	struct hammer *h = arg;
	char reason[128];
	double secs;

	while (!atomic_load(&h->stop)) {
		if (login_ok(h->p, reason, sizeof(reason), &secs))
			h->ok++;
		else if (strcmp(reason, "temporarily unavailable") == 0)
			h->unavailable++;
		else
			h->other++;
		if (secs > h->slowest)
			h->slowest = secs;
		sleep_ms(20);
	}
	return NULL;
}

/* PostgreSQL goes away: answers are FAILED "temporarily unavailable" (503 on /readyz), quickly;
 * when it comes back, or restarts under load, the server recovers by itself. */
static void
test_postgres_restart(void **state)
{
	char path[128], reason[128], *cnt;
	const char *env[] = {"TMPROV_CALLBACK_DB_RETRY=200ms", NULL};
	struct hammer h = {0};
	struct cbproc p;
	struct cbhttp r;
	pthread_t t;

	(void)state;
	cbproc_start(&p, db.conninfo, env);
	assert_true(login_ok(&p, reason, sizeof(reason), NULL));
	cbhttp_auth(p.port, "ops@o.example", NULL, NULL, &r); /* warms nothing: no DB work */
	cbhttp_free(&r);
	{
		char cred[65], *at;

		cbtest_credential("ops-password", cred);
		cbhttp_auth(p.port, "ops@o.example", cred, CBTEST_PARTNER, &r);
		at = strstr(r.body, CBTEST_PUBLIC_URL);
		assert_non_null(at);
		snprintf(path, sizeof(path), "%.*s",
			 (int)strcspn(at, "<") - (int)strlen(CBTEST_PUBLIC_URL),
			 at + strlen(CBTEST_PUBLIC_URL));
		cbhttp_free(&r);
	}

	cbpg_ctl("stop");
	for (int i = 0; i < 4; i++)
		expect_unavailable(&p, path);
	cbpg_ctl("start");
	print_message("# recovered %.2f s after PostgreSQL started\n", wait_recovered(&p));
	/* A request thread whose connect failed moments ago waits TMPROV_CALLBACK_DB_RETRY before
	 * trying again; after that every request is served, and the session survived. */
	sleep_ms(300);
	for (int i = 0; i < 4; i++) {
		cbhttp_get(p.port, path, &r);
		assert_non_null(strstr(r.body, "<__MeetingId__>m-ops</__MeetingId__>"));
		cbhttp_free(&r);
	}
	cbhttp_get(p.admin_port, "/readyz", &r);
	assert_int_equal(r.status, 200);
	cbhttp_free(&r);

	/* A restart while requests keep coming. */
	h.p = &p;
	pthread_create(&t, NULL, hammer_run, &h);
	sleep_ms(300);
	cbpg_ctl("restart");
	wait_recovered(&p);
	sleep_ms(300);
	atomic_store(&h.stop, true);
	pthread_join(t, NULL);
	print_message("# during restart: %d ok, %d unavailable, slowest %.2f s\n", h.ok,
		      h.unavailable, h.slowest);
	assert_int_equal(h.other, 0);
	assert_true(h.ok > 0);
	assert_true(h.slowest < 5.0);
	sleep_ms(300);
	for (int i = 0; i < 4; i++)
		assert_true(login_ok(&p, reason, sizeof(reason), NULL));
	assert_int_equal(cbproc_stop(&p), 0);
	PQreset(conn);
	cnt = cbsql_value(conn, "SELECT count(*) FROM users", NULL);
	assert_string_equal(cnt, "1");
	free(cnt);
}

static int
try_connect(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return rc;
}

/* SIGTERM: no new connections, the request in flight (a form still uploading) is answered in
 * full, and the program exits 0. */
static void
test_sigterm_drains(void **state)
{
	char cred[65], head[256], body[256], buf[8192];
	struct cbproc p;
	size_t len = 0;
	int fd, status;

	(void)state;
	cbproc_start(&p, db.conninfo, NULL);
	cbtest_credential("ops-password", cred);
	snprintf(body, sizeof(body), "email=ops%%40o.example&password=%s&service_company_uid=%s",
		 cred, CBTEST_PARTNER);
	snprintf(head, sizeof(head),
		 "POST /tm/auth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		 "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n",
		 strlen(body));
	fd = cbtcp_connect(p.port);
	send_all(fd, head, strlen(head));
	send_all(fd, body, 10);
	sleep_ms(200);
	kill(p.pid, SIGTERM);
	sleep_ms(300);
	assert_int_not_equal(try_connect(p.port), 0); /* no longer accepting */
	assert_true(cbproc_log_contains(&p, "1 requests in flight"));
	send_all(fd, body + 10, strlen(body) - 10);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 5000) <= 0)
			fail_msg("no answer after SIGTERM");
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	assert_true(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(buf, "<__Status__>SUCCEED</__Status__>"));
	assert_non_null(strstr(buf, "</__Return__>"));
	status = cbproc_wait(&p); /* already exiting */
	assert_int_equal(status, 0);
	assert_true(cbproc_log_contains(&p, "\"msg\":\"stopped\""));
}

/* A second signal while draining ends the program at once (status 1). */
static void
test_second_signal(void **state)
{
	struct cbproc p;
	double start;
	int fd, status;

	(void)state;
	cbproc_start(&p, db.conninfo, NULL);
	fd = cbtcp_connect(p.port);
	send_all(fd, "POST /tm/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nab", 55);
	sleep_ms(200);
	kill(p.pid, SIGTERM);
	sleep_ms(200);
	start = clock_now_s();
	status = cbproc_stop(&p); /* the second SIGTERM */
	assert_int_equal(status, 1);
	assert_true(clock_now_s() - start < 2.0);
	close(fd);
}

static void
test_admin_port(void **state)
{
	static const char *const families[] = {
	    "# TYPE tmprov_callback_requests_total counter",
	    "# TYPE tmprov_callback_request_duration_seconds histogram",
	    "# TYPE tmprov_callback_throttled_total counter",
	    "# TYPE tmprov_callback_hashes_in_flight gauge",
	    "# TYPE tmprov_callback_hashes_total counter",
	};
	struct cbproc p;
	struct cbhttp r;
	char reason[128];

	(void)state;
	cbproc_start(&p, db.conninfo, NULL);
	cbhttp_get(p.admin_port, "/healthz", &r);
	assert_int_equal(r.status, 200);
	cbhttp_free(&r);
	cbhttp_get(p.admin_port, "/readyz", &r);
	assert_int_equal(r.status, 200);
	cbhttp_free(&r);
	assert_true(login_ok(&p, reason, sizeof(reason), NULL));
	cbhttp_auth(p.port, "ops@o.example", "wrong", CBTEST_PARTNER, &r);
	cbhttp_free(&r);
	cbhttp_get(p.port, "/start", &r);
	cbhttp_free(&r);
	cbhttp_get(p.admin_port, "/metrics", &r);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		assert_non_null(strstr(r.body, families[i]));
	cbhttp_free(&r);
	assert_true(cbmetric(p.admin_port,
			     "tmprov_callback_requests_total{route=\"auth\",result=\"ok\"}") == 1);
	assert_true(cbmetric(p.admin_port,
			     "tmprov_callback_requests_total{route=\"auth\",result=\"failed\"}") ==
		    1);
	assert_true(cbmetric(p.admin_port,
			     "tmprov_callback_requests_total{route=\"start\",result=\"ok\"}") == 1);
	assert_true(cbmetric(p.admin_port,
			     "tmprov_callback_request_duration_seconds_count{route=\"auth\"}") ==
		    2);
	assert_true(cbmetric(p.admin_port, "tmprov_callback_hashes_total") == 2);
	assert_true(cbmetric(p.admin_port, "tmprov_callback_hashes_in_flight") == 0);
	assert_int_equal(cbproc_stop(&p), 0);
}

/* Expired sessions and failures older than the window are purged; live ones stay. */
static void
test_purge(void **state)
{
	const char *env[] = {"TMPROV_CALLBACK_PURGE_INTERVAL=1s", NULL};
	struct cbproc p;
	char *n = NULL;

	(void)state;
	cbsql(conn,
	      "INSERT INTO sessions (token_hash, subject, user_id, created_at, expires_at) VALUES "
	      "(sha256('dead'), 'cust-o', 'u-ops', now() - interval '1 hour', now() - interval "
	      "'1 minute'), (sha256('live'), 'cust-o', 'u-ops', now(), now() + interval '20 "
	      "minutes')",
	      NULL);
	cbsql(conn,
	      "INSERT INTO auth_failures (email, failed_at) VALUES ('old@o.example', now() - "
	      "interval '1 hour'), ('new@o.example', now())",
	      NULL);
	cbproc_start(&p, db.conninfo, env);
	for (int i = 0; i < 100; i++) {
		free(n);
		n = cbsql_value(conn,
				"SELECT (SELECT count(*) FROM sessions WHERE token_hash IN "
				"(sha256('dead'), sha256('live'))) || ',' || (SELECT count(*) FROM "
				"auth_failures WHERE email IN ('old@o.example', 'new@o.example'))",
				NULL);
		if (strcmp(n, "1,1") == 0)
			break;
		sleep_ms(100);
	}
	assert_string_equal(n, "1,1");
	free(n);
	n = cbsql_value(conn, "SELECT count(*) FROM sessions WHERE token_hash = sha256('live')",
			NULL);
	assert_string_equal(n, "1");
	free(n);
	n = cbsql_value(conn,
			"SELECT email FROM auth_failures WHERE email IN ('old@o.example', "
			"'new@o.example')",
			NULL);
	assert_string_equal(n, "new@o.example");
	free(n);
	cbsql(conn, "DELETE FROM sessions", NULL);
	cbsql(conn, "DELETE FROM auth_failures", NULL);
	assert_int_equal(cbproc_stop(&p), 0);
}

/* Neither the partner id, nor a credential, nor a session token is written to the log or the
 * metrics, even at debug level. */
static void
test_no_secrets_logged(void **state)
{
	char cred[65], token[64], *at;
	struct cbproc p;
	struct cbhttp r;

	(void)state;
	cbproc_start(&p, db.conninfo, NULL); /* TMPROV_LOG_LEVEL=debug */
	cbtest_credential("ops-password", cred);
	cbhttp_auth(p.port, "ops@o.example", cred, CBTEST_PARTNER, &r);
	at = strstr(r.body, "/tm/meetings/");
	assert_non_null(at);
	snprintf(token, sizeof(token), "%.43s", at + strlen("/tm/meetings/"));
	cbhttp_free(&r);
	{
		char path[128];

		snprintf(path, sizeof(path), "/tm/meetings/%s", token);
		cbhttp_get(p.port, path, &r);
		assert_non_null(strstr(r.body, "SUCCEED"));
		cbhttp_free(&r);
	}
	cbhttp_auth(p.port, "ops@o.example", "not-the-credential", CBTEST_PARTNER, &r);
	cbhttp_free(&r);
	cbhttp_auth(p.port, "ops@o.example", cred, "partner-guess", &r);
	cbhttp_free(&r);
	cbhttp_get(p.admin_port, "/metrics", &r);
	assert_null(strstr(r.body, CBTEST_PARTNER));
	assert_null(strstr(r.body, cred));
	assert_null(strstr(r.body, token));
	cbhttp_free(&r);
	assert_int_equal(cbproc_stop(&p), 0);
	/* The log is not empty: it has the per-request lines this test relies on. */
	assert_true(cbproc_log_contains(&p, "request route=meetings result=ok"));
	assert_false(cbproc_log_contains(&p, CBTEST_PARTNER));
	assert_false(cbproc_log_contains(&p, "partner-guess"));
	assert_false(cbproc_log_contains(&p, cred));
	assert_false(cbproc_log_contains(&p, "not-the-credential"));
	assert_false(cbproc_log_contains(&p, token));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_long_url),	      cmocka_unit_test(test_slow_clients),
	    cmocka_unit_test(test_sigterm_drains),    cmocka_unit_test(test_second_signal),
	    cmocka_unit_test(test_admin_port),	      cmocka_unit_test(test_purge),
	    cmocka_unit_test(test_no_secrets_logged), cmocka_unit_test(test_postgres_restart),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
