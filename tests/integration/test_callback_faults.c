/* test_callback_faults: rows C1-C4 of issue 11's fault matrix against the real tmprov-callback
 * and PostgreSQL, loopback only — a storm of bad logins, slow clients, hostile requests and
 * forged session tokens. Each row prints one "# PASS Cn: ..." line with its figures. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "../support/cbtest.h"
#include "../support/testdb.h"
#include "clock.h"

static struct testdb db;
static PGconn *conn;

static int
group_setup(void **state)
{
	(void)state;
	if (testdb_open(&db, "cbfault", &conn) != 0)
		return -1;
	cbseed_account(conn, "cust-f", "CU-F");
	cbseed_user(conn, "cust-f", "u-victim", "victim@f.example", "Vic", "Tim", "victim-pw");
	cbseed_user(conn, "cust-f", "u-legit", "legit@f.example", "Le", "Git", "legit-pw");
	cbseed_meeting(conn, "m-f", "cust-f", "u-legit", "Fault review", "'2099-05-05 05:05+00'",
		       "https://cb.partner.example/join/m-f");
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	testdb_close(&db, conn);
	return 0;
}

/* ---- measures of the running program ---- */

static long
proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static long
proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile (0..1) of v[0..n), sorting v. */
static double
quantile(double *v, size_t n, double q)
{
	size_t i;

	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* One login of u-legit, given 5 s; 1 for SUCCEED. No fail_msg here: a login that gets no answer
 * is counted as failed (its time: the 5 s), so that a test can stop its helpers first. */
static int
legit_login(int port, double *seconds)
{
	char cred[65], path[512], *req;
	struct cbhttp r;
	int ok, n;

	cbtest_credential("legit-pw", cred);
	snprintf(path, sizeof(path),
		 "/tm/auth?email=legit%%40f.example&password=%s&"
		 "service_company_uid=" CBTEST_PARTNER,
		 cred);
	n = asprintf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	assert_true(n > 0);
	cbhttp_raw(port, req, (size_t)n, &r, 5000);
	ok = r.status == 200 && strstr(r.body, "<__Status__>SUCCEED<") != NULL;
	*seconds = r.seconds;
	cbhttp_free(&r);
	free(req);
	return ok;
}

/* ---- C1: a storm of bad logins ---- */

/* 10,000 wrong passwords for one account, 64 at a time, against a limit of 5: at most 5 hashes
 * (the hash gate's counter), every other answer the throttle's. An unknown email gets the same
 * answers and the same number of hashes, and a hashed failure takes about as long for both. */
static void
test_c1_login_storm(void **state)
{
	const char *env[] = {"TMPROV_AUTH_MAX_FAILURES=5", "TMPROV_CALLBACK_THREADS=8", NULL};
	const char *emails[2] = {"victim@f.example", "nobody@f.example"};
	double hashes[2], secs[2][5], med[2];
	struct cbstorm st[2];
	struct cbproc p;
	char cred[65];
	double before;

	(void)state;
	cbsql(conn, "DELETE FROM auth_failures", NULL);
	cbproc_start(&p, db.conninfo, env);
	cbtest_credential("not-the-password", cred);
	/* Hashed failures, interleaved, before any storm: the time of each. */
	for (int i = 0; i < 5; i++) {
		for (int k = 0; k < 2; k++) {
			struct cbhttp r;

			cbhttp_auth(p.port, emails[k], cred, CBTEST_PARTNER, &r);
			assert_non_null(strstr(r.body, "invalid email or password"));
			secs[k][i] = r.seconds;
			cbhttp_free(&r);
		}
	}
	for (int k = 0; k < 2; k++)
		med[k] = quantile(secs[k], 5, 0.5);
	cbsql(conn, "DELETE FROM auth_failures", NULL);
	for (int k = 0; k < 2; k++) {
		before = cbmetric(p.admin_port, "tmprov_callback_hashes_total");
		cbstorm_run(p.port, emails[k], cred, 10000, 64, &st[k]);
		hashes[k] = cbmetric(p.admin_port, "tmprov_callback_hashes_total") - before;
		print_message("# C1 %s: 10000 bad logins in %.1f s: %.0f hashes, %d credentials, "
			      "%d throttled, %d other\n",
			      k ? "unknown user" : "known user", st[k].seconds, hashes[k],
			      st[k].credentials, st[k].throttled, st[k].other);
		assert_int_equal(st[k].other, 0);
		assert_int_equal(st[k].credentials + st[k].throttled, 10000);
		assert_true(hashes[k] <= 5);
		assert_true(st[k].credentials == (int)hashes[k]);
	}
	assert_true(hashes[0] == hashes[1]);
	assert_int_equal(st[0].credentials, st[1].credentials);
	/* Same work (one hash of the same cost); the bound only guards against a gross gap. */
	assert_true(med[1] < 3 * med[0] + 0.05 && med[0] < 3 * med[1] + 0.05);
	print_message(
	    "# PASS C1: hashes %.0f/%.0f of 10000 (known/unknown, limit 5); median hashed "
	    "failure %.1f ms known, %.1f ms unknown\n",
	    hashes[0], hashes[1], med[0] * 1000, med[1] * 1000);
	assert_int_equal(cbproc_stop(&p), 0);
}

/* ---- C2: slow clients ---- */

/* A connection from 127.0.0.<host> (loopback: any 127/8 address is ours), or -1 when the server
 * refused it at once. */
static int
connect_from(int port, int host)
{
	struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	src.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)host);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

enum { C2_SLOW = 1000, C2_HOSTS = 10, C2_LOGINS = 200 };

/* A slowloris: C2_SLOW connections from 127.0.0.2..11, each sending a request a byte at a time
 * (a byte per connection every 200 ms keeps each inside any idle timeout), and reopening those
 * the server closed, until stop. */
struct slowloris {
	int port;
	int fds[C2_SLOW];
	atomic_bool stop;
	atomic_int open;   /* connections open now */
	atomic_int opened; /* in total */
};

static void
slowloris_top_up(struct slowloris *s)
{
	int open = 0;

	for (int i = 0; i < C2_SLOW; i++) {
		if (s->fds[i] >= 0) {
			struct pollfd pfd = {.fd = s->fds[i], .events = POLLIN};
			char b[256];

			/* Readable: an answer or the close; either way it is done with. */
			if (poll(&pfd, 1, 0) > 0 &&
			    recv(s->fds[i], b, sizeof(b), MSG_DONTWAIT) <= 0) {
				close(s->fds[i]);
				s->fds[i] = -1;
			}
		}
		if (s->fds[i] < 0) {
			s->fds[i] = connect_from(s->port, 2 + i % C2_HOSTS);
			if (s->fds[i] >= 0 &&
			    send(s->fds[i], "GET /tm/auth?email=", 19, MSG_NOSIGNAL) != 19) {
				close(s->fds[i]);
				s->fds[i] = -1;
			}
			if (s->fds[i] >= 0)
				atomic_fetch_add(&s->opened, 1);
		} else {
			send(s->fds[i], "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		open += s->fds[i] >= 0;
	}
	atomic_store(&s->open, open);
}

static void *
slowloris_run(void *arg)
{
	struct slowloris *s = arg;
	struct timespec ts = {0, 200 * 1000000L};

	while (!atomic_load(&s->stop)) {
		slowloris_top_up(s);
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < C2_SLOW; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	return NULL;
}

/* 1,000 slowloris connections from ten loopback addresses outside TMPROV_CALLBACK_ALLOW, kept
 * open and reopened, while TM's address logs in 200 times: the legitimate p99 stays under
 * 500 ms (every login answered) and the program's descriptors stay bounded. */
static void
test_c2_slowloris(void **state)
{
	const char *env[] = {"TMPROV_CALLBACK_ALLOW=127.0.0.1/32", "TMPROV_CALLBACK_THREADS=4",
			     NULL};
	static struct slowloris s;
	double lat[C2_LOGINS], p99, worst;
	long fds_before, fds_peak = 0, rss_before, rss_after, limit = 512 + 64;
	int ok = 0, done;
	struct rlimit rl;
	struct cbproc p;
	pthread_t t;

	(void)state;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < C2_SLOW + 256) {
		rl.rlim_cur = rl.rlim_max < C2_SLOW + 256 ? rl.rlim_max : C2_SLOW + 256;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	cbproc_start(&p, db.conninfo, env);
	fds_before = proc_fds(p.pid);
	rss_before = proc_rss_kib(p.pid);
	s.port = p.port;
	for (int i = 0; i < C2_SLOW; i++)
		s.fds[i] = -1;
	atomic_init(&s.stop, false);
	atomic_init(&s.open, 0);
	atomic_init(&s.opened, 0);
	slowloris_top_up(&s);
	pthread_create(&t, NULL, slowloris_run, &s);
	/* Three unanswered logins are enough to know (each costs 5 s). */
	for (done = 0; done < C2_LOGINS && done - ok < 3; done++) {
		long n;

		ok += legit_login(p.port, &lat[done]);
		n = proc_fds(p.pid);
		fds_peak = n > fds_peak ? n : fds_peak;
	}
	atomic_store(&s.stop, true);
	pthread_join(t, NULL);
	worst = quantile(lat, (size_t)done, 1.0);
	p99 = quantile(lat, (size_t)done, 0.99);
	rss_after = proc_rss_kib(p.pid);
	print_message("# C2: slow connections %d open at the end, %d opened in all; legitimate "
		      "logins %d/%d, p99 %.1f ms, worst %.1f ms; fds %ld before, %ld at peak; RSS "
		      "%ld -> %ld KiB\n",
		      atomic_load(&s.open), atomic_load(&s.opened), ok, done, p99 * 1000,
		      worst * 1000, fds_before, fds_peak, rss_before, rss_after);
	assert_int_equal(cbproc_stop(&p), 0);
	assert_int_equal(ok, C2_LOGINS);
	assert_true(p99 < 0.5);
	assert_true(fds_peak <= limit);
	print_message("# PASS C2: p99 %.1f ms under %d slow connections; fds %ld -> %ld (peak); "
		      "RSS %ld -> %ld KiB\n",
		      p99 * 1000, C2_SLOW, fds_before, fds_peak, rss_before, rss_after);
}

/* ---- C3: oversized and malformed requests ---- */

/* A request of n bytes: prefix, then fill up to n - strlen(suffix), then suffix. */
static char *
big_request(const char *prefix, char fill, size_t n, const char *suffix, size_t *len)
{
	char *s = malloc(n + 1);
	size_t a = strlen(prefix), c = strlen(suffix);

	memcpy(s, prefix, a);
	memset(s + a, fill, n - a - c);
	memcpy(s + n - c, suffix, c);
	s[n] = '\0';
	*len = n;
	return s;
}

/* Hostile requests of every kind, 20 rounds: each gets a 4xx, or the connection closed without
 * an answer, or — where the HTTP request is well-formed and only its parameters are garbage —
 * the TM protocol's own refusal, a 200 whose Status is FAILED (TM reads Status, not the HTTP
 * code). Never a success or a 5xx, except HTTP's own answer to an unknown protocol version
 * (505, from libmicrohttpd before any handler). The program stays up and serves, and its RSS
 * stays flat. */
static void
test_c3_hostile_requests(void **state)
{
	static const char *const small[] = {
	    "\r\n\r\n",
	    "GARBAGE\r\n\r\n",
	    "GET\r\n\r\n",
	    "GET /tm/auth HTTP/9.9\r\nHost: x\r\n\r\n",
	    "GET /tm/auth?email=%zz%&password=%&service_company_uid=%00 HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n",
	    "GET /tm/auth HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
	    "POST /tm/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n"
	    "Connection: close\r\n\r\n",
	    "POST /tm/auth HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: "
	    "application/x-www-form-urlencoded\r\nConnection: "
	    "close\r\n\r\nZZZZ\r\nemail=a\r\n0\r\n\r\n",
	    "POST /tm/auth HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=\r\n"
	    "Content-Length: 10\r\nConnection: close\r\n\r\n--\r\n--\r\n--",
	    "GET /tm/meetings/%00%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	    "GET /tm/auth HTTP/1.1\r\nHost: x\r\nBad Header\r\nConnection: close\r\n\r\n",
	    /* A TLS ClientHello's first bytes (no NUL: the table holds C strings). */
	    "\x16\x03\x01\x02\x01\x01\x01\x01\xfc\x03\x03 not http at all\r\n\r\n",
	};
	const char *env[] = {"TMPROV_CALLBACK_THREADS=2", NULL};
	size_t len[4];
	char *big[4];
	long rss_before, rss_mid = 0, rss_after;
	int refused = 0, failed = 0, closed = 0, rounds = 20;
	struct cbproc p;
	double secs;

	(void)state;
	big[0] = big_request("GET /tm/auth?email=", 'a', 1 << 20, " HTTP/1.1\r\nHost: x\r\n\r\n",
			     &len[0]);
	big[1] = big_request("GET /tm/auth HTTP/1.1\r\nX-Big: ", 'h', 1 << 20, "\r\n\r\n", &len[1]);
	big[2] = big_request("POST /tm/auth HTTP/1.1\r\nHost: x\r\nContent-Type: "
			     "application/x-www-form-urlencoded\r\nContent-Length: 1048000\r\n\r\n",
			     'b', 1 << 20, "", &len[2]);
	big[3] = big_request("POST /tm/auth HTTP/1.1\r\nHost: x\r\nContent-Type: "
			     "application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
			     "\r\nFFFFF\r\nemail=",
			     'c', 1 << 20, "\r\n0\r\n\r\n", &len[3]);
	cbproc_start(&p, db.conninfo, env);
	rss_before = proc_rss_kib(p.pid);
	for (int round = 0; round < rounds; round++) {
		for (size_t i = 0; i < sizeof(small) / sizeof(small[0]) + 4; i++) {
			size_t k = sizeof(small) / sizeof(small[0]);
			const char *req = i < k ? small[i] : big[i - k];
			size_t n = i < k ? strlen(small[i]) : len[i - k];
			struct cbhttp r;

			/* Some (empty lines, a bare method) are only the start of a request to the
			 * server, which waits for the rest: a second is enough to see no answer. */
			cbhttp_raw(p.port, req, n, &r, 1000);
			if (r.status == 0)
				closed++;
			else if ((r.status >= 400 && r.status < 500) ||
				 (r.status == 505 && strstr(req, "HTTP/9.9") != NULL))
				refused++;
			else if (r.status == 200 && strstr(r.body, "<__Status__>FAILED<") != NULL)
				failed++;
			else
				fail_msg("request %zu answered %d: %.200s", i, r.status, r.head);
			cbhttp_free(&r);
		}
		if (round == 4)
			rss_mid = proc_rss_kib(p.pid);
	}
	assert_int_equal(kill(p.pid, 0), 0);
	assert_true(legit_login(p.port, &secs));
	rss_after = proc_rss_kib(p.pid);
	print_message("# PASS C3: %d hostile requests: %d refused (4xx/505), %d FAILED answers, %d "
		      "closed unanswered; RSS %ld KiB before, %ld after 5 rounds, %ld after %d\n",
		      refused + failed + closed, refused, failed, closed, rss_before, rss_mid,
		      rss_after, rounds);
	/* Flat: the last 15 rounds (60 MiB of oversized requests) add less than 8 MiB. */
	assert_true(rss_after - rss_mid < 8192);
	for (int i = 0; i < 4; i++)
		free(big[i]);
	assert_int_equal(cbproc_stop(&p), 0);
}

/* ---- C4: forged, expired and revoked session tokens ---- */

static int
session_refused(int port, const char *path)
{
	struct cbhttp r;
	int refused;

	cbhttp_get(port, path, &r);
	refused =
	    r.status >= 400 || (r.status == 200 && strstr(r.body, "<__Status__>FAILED<") != NULL &&
				strstr(r.body, "__Meeting__") == NULL);
	cbhttp_free(&r);
	return refused;
}

/* The path of a fresh login's QueryScheduledMeetingURL (malloc'd). */
static char *
login_path(int port)
{
	const char *prefix = CBTEST_PUBLIC_URL, *a, *b;
	char cred[65], *path;
	struct cbhttp r;

	cbtest_credential("legit-pw", cred);
	cbhttp_auth(port, "legit@f.example", cred, CBTEST_PARTNER, &r);
	a = strstr(r.body, "<__QueryScheduledMeetingURL__>");
	assert_non_null(a);
	a += strlen("<__QueryScheduledMeetingURL__>") + strlen(prefix);
	b = strchr(a, '<');
	path = strndup(a, (size_t)(b - a));
	cbhttp_free(&r);
	return path;
}

/* 2,000 random tokens (CSPRNG, the real token's length and alphabet, and some of other lengths)
 * and the expired and revoked ones: every one refused, while a live one lists its meeting. */
static void
test_c4_forged_tokens(void **state)
{
	char path[256], *live, *expired, *revoked;
	unsigned char raw[64];
	int refused = 0, n = 2000;
	struct cbproc p;

	(void)state;
	cbproc_start(&p, db.conninfo, NULL);
	live = login_path(p.port);
	expired = login_path(p.port);
	revoked = login_path(p.port);
	assert_false(session_refused(p.port, live));
	for (int i = 0; i < n; i++) {
		size_t bytes = i % 10 == 0 ? 1 + (size_t)randombytes_uniform(63) : 32;

		randombytes_buf(raw, bytes);
		snprintf(path, sizeof(path), "/tm/meetings/");
		sodium_bin2base64(path + strlen(path), sizeof(path) - strlen(path), raw, bytes,
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		refused += session_refused(p.port, path);
	}
	/* Expired: past its expiry (the TTL is 20 minutes; a use does not revive it). */
	cbsql(conn,
	      "UPDATE sessions SET created_at = now() - interval '1 hour', expires_at = now() - "
	      "interval '1 second' WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
	      strrchr(expired, '/') + 1, NULL);
	/* Revoked: the user's password changed (the worker's user.upsert deletes the sessions). */
	cbsql(conn, "DELETE FROM sessions WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
	      strrchr(revoked, '/') + 1, NULL);
	assert_true(session_refused(p.port, expired));
	assert_true(session_refused(p.port, revoked));
	assert_false(session_refused(p.port, live));
	print_message(
	    "# PASS C4: %d/%d random tokens refused, expired and revoked refused, the live "
	    "one served\n",
	    refused, n);
	assert_int_equal(refused, n);
	free(live);
	free(expired);
	free(revoked);
	assert_int_equal(cbproc_stop(&p), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_c1_login_storm),
	    cmocka_unit_test(test_c2_slowloris),
	    cmocka_unit_test(test_c3_hostile_requests),
	    cmocka_unit_test(test_c4_forged_tokens),
	};

	/* TMPROV_TEST_FILTER=name (cmocka's wildcards) runs a subset while developing. */
	if (getenv("TMPROV_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TMPROV_TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
