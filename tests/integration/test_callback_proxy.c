/* test_callback_proxy: tmprov-callback behind a reverse proxy — X-Forwarded-For believed only
 * from TMPROV_CALLBACK_TRUSTED_PROXIES, its right-most untrusted address taken, for the allow-list
 * and the login log; from any other peer the header is ignored. The peers are loopback addresses
 * (127.0.0.2 the proxy, 127.0.0.1 anyone else) against the real program and PostgreSQL. (A bad
 * TMPROV_CALLBACK_TRUSTED_PROXIES is in test_callback_auth's test_config_refused.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/cbtest.h"
#include "../support/testdb.h"

#define PROXY	  "127.0.0.2"
#define ELSEWHERE "127.0.0.1"
/* TM's server as the proxy reports it: a documentation address no test traffic ever uses. */
#define TM_ADDR "192.0.2.10"

static struct testdb db;
static PGconn *conn;
static struct cbproc cb;

static int
group_setup(void **state)
{
	const char *env[] = {"TMPROV_CALLBACK_ALLOW=" TM_ADDR "/32",
			     "TMPROV_CALLBACK_TRUSTED_PROXIES=" PROXY, NULL};

	(void)state;
	if (testdb_open(&db, "cbproxy", &conn) != 0)
		return -1;
	cbseed_account(conn, "cust-p", "CU-P");
	cbseed_user(conn, "cust-p", "u-px", "px@p.example", "Pro", "Xy", "px-password");
	cbproc_start(&cb, db.conninfo, env);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	cbproc_stop(&cb);
	testdb_close(&db, conn);
	return 0;
}

/* A login of u-px sent from peer src with the extra header lines hdrs ("" for none); the HTTP
 * status of the answer (403 from the allow-list, 200 with a TM answer otherwise). */
static int
login_from(const struct cbproc *p, const char *src, const char *hdrs, char *status, size_t slen)
{
	char cred[65], path[1024], req[4096], reason[128];
	struct cbhttp r;
	int n, code;

	cbtest_credential("px-password", cred);
	cbtest_auth_path(path, sizeof(path), "px@p.example", cred, CBTEST_PARTNER);
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: cb.example\r\nConnection: close\r\n%s\r\n", path,
		     hdrs);
	if (cbhttp_raw_from(src, p->port, req, (size_t)n, &r, 15000) != 0)
		fail_msg("no answer within 15 s");
	code = r.status;
	status[0] = '\0';
	if (code == 200)
		cbxml_status(&r, status, slen, reason, sizeof(reason));
	cbhttp_free(&r);
	return code;
}

static void
expect_login(const char *src, const char *hdrs, int want)
{
	char status[32];
	int got = login_from(&cb, src, hdrs, status, sizeof(status));

	print_message("# from %s with [%s]: %d %s\n", src, hdrs, got, status);
	assert_int_equal(got, want);
	if (want == 200)
		assert_string_equal(status, "SUCCEED");
}

/* The proxy's word about its client is taken: TM's address gets in, others do not, and the
 * proxy's own address (no header) is not on the allow-list. */
static void
test_trusted_proxy_believed(void **state)
{
	(void)state;
	expect_login(PROXY, "X-Forwarded-For: " TM_ADDR "\r\n", 200);
	expect_login(PROXY, "X-Forwarded-For: 198.51.100.7\r\n", 403);
	expect_login(PROXY, "", 403);
	/* The proxy's own log line names the client it vouched for. */
	assert_true(cbproc_log_contains(&cb, "from " TM_ADDR));
}

/* The same header from a peer that is not a trusted proxy is ignored: the peer's own address
 * (127.0.0.1, not on the allow-list) decides. */
static void
test_untrusted_peer_ignored(void **state)
{
	(void)state;
	expect_login(ELSEWHERE, "X-Forwarded-For: " TM_ADDR "\r\n", 403);
	expect_login(ELSEWHERE, "X-Forwarded-For: " TM_ADDR "\r\nX-Forwarded-For: " TM_ADDR "\r\n",
		     403);
}

/* Only the right-most untrusted address counts: what the client wrote further left (a forged
 * header the proxy appended to) is never believed; trusted hops on the right are skipped; two
 * header lines read as one list, in order. */
static void
test_rightmost_untrusted(void **state)
{
	(void)state;
	expect_login(PROXY, "X-Forwarded-For: " TM_ADDR ", 198.51.100.7\r\n", 403);
	expect_login(PROXY, "X-Forwarded-For: 198.51.100.7, " TM_ADDR "\r\n", 200);
	expect_login(PROXY, "X-Forwarded-For: " TM_ADDR ", " PROXY "\r\n", 200);
	expect_login(PROXY, "X-Forwarded-For: " TM_ADDR "\r\nX-Forwarded-For: 198.51.100.7\r\n",
		     403);
	expect_login(PROXY, "X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-For: " TM_ADDR "\r\n",
		     200);
	/* IPv4 with a port, as some balancers write it. */
	expect_login(PROXY, "X-Forwarded-For: " TM_ADDR ":4711\r\n", 200);
	/* What cannot be read as an address is nobody's: refused, never the proxy's own. */
	expect_login(PROXY, "X-Forwarded-For: tm.example\r\n", 403);
	expect_login(PROXY, "X-Forwarded-For: " TM_ADDR ", \r\n", 403);
}

/* A peer on the allow-list that is not a trusted proxy keeps its own address, whatever header it
 * sends: the log names it, not the forwarded one. */
static void
test_header_not_used_from_allowed_peer(void **state)
{
	const char *env[] = {"TMPROV_CALLBACK_ALLOW=127.0.0.1/32",
			     "TMPROV_CALLBACK_TRUSTED_PROXIES=" PROXY, NULL};
	struct cbproc p;
	char status[32];

	(void)state;
	cbproc_start(&p, db.conninfo, env);
	assert_int_equal(
	    login_from(&p, ELSEWHERE, "X-Forwarded-For: 198.51.100.99\r\n", status, sizeof(status)),
	    200);
	assert_string_equal(status, "SUCCEED");
	assert_true(cbproc_log_contains(&p, "from 127.0.0.1"));
	assert_false(cbproc_log_contains(&p, "198.51.100.99"));
	assert_int_equal(cbproc_stop(&p), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_trusted_proxy_believed),
	    cmocka_unit_test(test_untrusted_peer_ignored),
	    cmocka_unit_test(test_rightmost_untrusted),
	    cmocka_unit_test(test_header_not_used_from_allowed_peer),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
