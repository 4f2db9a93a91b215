/* Tests for common/tm_client and common/tm_loop: URL building and encoding, classification,
 * Retry-After and configuration as tables (no server); then every call and every tmsim fault
 * against a private tmsim: outcomes, exactly-once sending of create and remote_schedule,
 * connection reuse for idempotent calls, the size cap, and the partner id kept out of audit URLs
 * and logs — once with each call on its own thread (tm_client_call), once driven by a tm_loop;
 * then what only the loop does: many calls in flight from one thread, a stop that waits for
 * them. */
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cfgkeys.h"
#include "config.h"
#include "log.h"
#include "../support/sim.h"
#include "tm_client.h"
#include "tm_loop.h"

#define BASE	"http://tm.example:8080"
#define PARTNER "p-0042"

/* Short timeouts keep the binary fast: tmsim answers on loopback in well under 50 ms. */
#define TEST_CONNECT_MS 300
#define TEST_TIMEOUT_MS 400
#define HOLD_MS		1500 /* tmsim holds a "timed out" answer longer than TEST_TIMEOUT_MS */
/* The loop's load tests: tmsim holds every answer LOAD_HOLD_MS, the client waits up to
 * LOAD_TIMEOUT_MS, far more than 600 held answers take on a loaded machine (at 400 ms a
 * make check under load timed out some). */
#define LOAD_HOLD_MS	500
#define LOAD_HOLD_FAULT "latency_ms=500" /* LOAD_HOLD_MS, as tmsim's fault */
#define LOAD_TIMEOUT_MS 10000

static struct sim *sim;

/* ---- URL building ---- */

/* A request in the tables below: endpoint, company_uid, company_name, email, user_id, rooms,
 * participants (no may_send). */
#define REQ(ep, uid, name, mail, user, nrooms, nparts)                                             \
	{                                                                                          \
		.endpoint = (ep), .company_uid = (uid), .company_name = (name), .email = (mail),   \
		.user_id = (user), .rooms = (nrooms), .participants = (nparts)                     \
	}

struct url_case {
	const char *base;
	struct tm_request req;
	bool redact;
	const char *want;
};

static void
test_build_url_table(void **state)
{
	static const struct url_case cases[] = {
	    {BASE, REQ(TM_CREATE_ACCOUNT, NULL, "Acme", "ops@acme.example", NULL, 2, 25), false,
	     BASE "/as/wapi/service/create_account?service_company_uid=p-0042&company_name=Acme"
		  "&email=ops%40acme.example&number_of_meeting_room=2&number_of_participant=25"},
	    /* spaces, & = + # % / ? and UTF-8 are all percent-encoded; unreserved -._~ not */
	    {BASE "/",
	     REQ(TM_CREATE_ACCOUNT, NULL, "Zoë & Co = 1+1 #2 50% a/b?c", "a.b-c_d~e+tag@x.example",
		 NULL, 0, 1),
	     false,
	     BASE "/as/wapi/service/create_account?service_company_uid=p-0042"
		  "&company_name=Zo%C3%AB%20%26%20Co%20%3D%201%2B1%20%232%2050%25%20a%2Fb%3Fc"
		  "&email=a.b-c_d~e%2Btag%40x.example&number_of_meeting_room=0"
		  "&number_of_participant=1"},
	    {"https://tm.example/prefix//",
	     REQ(TM_UPDATE_ACCOUNT, "uid-1", "会议", "x@y.example", NULL, 3, 10), false,
	     "https://tm.example/prefix/as/wapi/service/update_account?service_company_uid=p-0042"
	     "&company_name=%E4%BC%9A%E8%AE%AE&email=x%40y.example&number_of_meeting_room=3"
	     "&number_of_participant=10&company_uid=uid-1"},
	    {BASE,
	     REQ(TM_DELETE_ACCOUNT, "0f8fad5b-d9cb-469f-a165-70867728950e", NULL, NULL, NULL, 0, 0),
	     false,
	     BASE "/as/wapi/service/delete_account?service_company_uid=p-0042"
		  "&company_uid=0f8fad5b-d9cb-469f-a165-70867728950e"},
	    {BASE, REQ(TM_QUERY_ACCOUNT, "a b", NULL, NULL, NULL, 0, 0), false,
	     BASE "/as/wapi/service/query_account?service_company_uid=p-0042&company_uid=a%20b"},
	    {BASE, REQ(TM_REMOTE_SCHEDULE, "uid-1", NULL, NULL, "u&1=2", 0, 0), false,
	     BASE "/as/wapi/service/remote_schedule?service_company_uid=p-0042&company_uid=uid-1"
		  "&user_id=u%261%3D2"},
	    /* the audit copy: the partner id replaced, everything else as sent */
	    {BASE, REQ(TM_REMOTE_SCHEDULE, "uid-1", NULL, NULL, "u1", 0, 0), true,
	     BASE "/as/wapi/service/remote_schedule?service_company_uid=REDACTED"
		  "&company_uid=uid-1&user_id=u1"},
	    {BASE, REQ(TM_CREATE_ACCOUNT, NULL, "A", "a@b.example", NULL, 1, 1), true,
	     BASE "/as/wapi/service/create_account?service_company_uid=REDACTED&company_name=A"
		  "&email=a%40b.example&number_of_meeting_room=1&number_of_participant=1"},
	};
	char url[TM_URL_MAX], err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = tm_build_url(cases[i].base, PARTNER, &cases[i].req, cases[i].redact, url,
				      sizeof(url), err, sizeof(err));

		if (rc != 0)
			fail_msg("case %zu: %s", i, err);
		assert_string_equal(url, cases[i].want);
	}
}

static void
test_build_url_partner_encoded(void **state)
{
	struct tm_request req = {.endpoint = TM_QUERY_ACCOUNT, .company_uid = "u"};
	char url[TM_URL_MAX], err[256];

	(void)state;
	assert_int_equal(
	    tm_build_url(BASE, "p&x=1", &req, false, url, sizeof(url), err, sizeof(err)), 0);
	assert_string_equal(url, BASE "/as/wapi/service/query_account?service_company_uid=p%26x%3D1"
				      "&company_uid=u");
}

/* Every byte but NUL, alone in a value: the RFC 3986 unreserved ones as they are, all others as
 * %XX in upper case (a space too, never '+'). */
static void
test_build_url_every_byte(void **state)
{
	const char *prefix = BASE "/as/wapi/service/query_account?service_company_uid=p-0042"
				  "&company_uid=";
	char url[TM_URL_MAX], err[256], value[2] = "", want[8];
	struct tm_request req = {.endpoint = TM_QUERY_ACCOUNT, .company_uid = value};

	(void)state;
	for (int c = 1; c < 256; c++) {
		value[0] = (char)c;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			snprintf(want, sizeof(want), "%c", c);
		else
			snprintf(want, sizeof(want), "%%%02X", c);
		assert_int_equal(
		    tm_build_url(BASE, PARTNER, &req, false, url, sizeof(url), err, sizeof(err)),
		    0);
		assert_memory_equal(url, prefix, strlen(prefix));
		if (strcmp(url + strlen(prefix), want) != 0)
			fail_msg("byte 0x%02X: %s, want %s", c, url + strlen(prefix), want);
	}
}

struct bad_case {
	const char *base;
	const char *partner;
	struct tm_request req;
	const char *err_has;
};

static void
test_build_url_errors(void **state)
{
	static const struct bad_case cases[] = {
	    {BASE, PARTNER, REQ(TM_CREATE_ACCOUNT, NULL, NULL, "a@b.example", NULL, 1, 1),
	     "company_name"},
	    {BASE, PARTNER, REQ(TM_CREATE_ACCOUNT, NULL, "", "a@b.example", NULL, 1, 1),
	     "company_name"},
	    {BASE, PARTNER, REQ(TM_CREATE_ACCOUNT, NULL, "A", NULL, NULL, 1, 1), "email"},
	    {BASE, PARTNER, REQ(TM_CREATE_ACCOUNT, NULL, "A", "a@b.example", NULL, -1, 1),
	     "number_of_meeting_room"},
	    {BASE, PARTNER, REQ(TM_CREATE_ACCOUNT, NULL, "A", "a@b.example", NULL, 1, -1),
	     "number_of_participant"},
	    {BASE, PARTNER, REQ(TM_UPDATE_ACCOUNT, NULL, "A", "a@b.example", NULL, 1, 1),
	     "company_uid"},
	    {BASE, PARTNER, REQ(TM_DELETE_ACCOUNT, "", NULL, NULL, NULL, 0, 0), "company_uid"},
	    {BASE, PARTNER, REQ(TM_QUERY_ACCOUNT, NULL, NULL, NULL, NULL, 0, 0), "company_uid"},
	    {BASE, PARTNER, REQ(TM_REMOTE_SCHEDULE, "u", NULL, NULL, NULL, 0, 0), "user_id"},
	    {BASE, PARTNER, REQ((enum tm_endpoint)7, "u", NULL, NULL, NULL, 0, 0), "endpoint"},
	    {BASE, "", REQ(TM_QUERY_ACCOUNT, "u", NULL, NULL, NULL, 0, 0), "partner"},
	    {"ftp://tm.example", PARTNER, REQ(TM_QUERY_ACCOUNT, "u", NULL, NULL, NULL, 0, 0),
	     "http"},
	    {BASE "/?x=1", PARTNER, REQ(TM_QUERY_ACCOUNT, "u", NULL, NULL, NULL, 0, 0), "query"},
	    {BASE "/#f", PARTNER, REQ(TM_QUERY_ACCOUNT, "u", NULL, NULL, NULL, 0, 0), "fragment"},
	    {"http://tm.b\xc3\xa4r.example", PARTNER,
	     REQ(TM_QUERY_ACCOUNT, "u", NULL, NULL, NULL, 0, 0), "ASCII"},
	    {"http://tm.example/\x7f", PARTNER, REQ(TM_QUERY_ACCOUNT, "u", NULL, NULL, NULL, 0, 0),
	     "ASCII"},
	};
	char url[TM_URL_MAX], err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (tm_build_url(cases[i].base, cases[i].partner, &cases[i].req, false, url,
				 sizeof(url), err, sizeof(err)) != -1)
			fail_msg("case %zu: accepted", i);
		if (strstr(err, cases[i].err_has) == NULL)
			fail_msg("case %zu: \"%s\" does not mention %s", i, err, cases[i].err_has);
	}
}

/* A URL that does not fit is refused whole, never cut (a cut URL would drop parameters). */
static void
test_build_url_too_long(void **state)
{
	struct tm_request req = {.endpoint = TM_QUERY_ACCOUNT, .company_uid = "abc"};
	const char *want = BASE "/as/wapi/service/query_account?service_company_uid=p-0042"
				"&company_uid=abc";
	char url[256], err[256];
	size_t n = strlen(want);

	(void)state;
	assert_int_equal(tm_build_url(BASE, PARTNER, &req, false, url, n + 1, err, sizeof(err)), 0);
	assert_string_equal(url, want);
	assert_int_equal(tm_build_url(BASE, PARTNER, &req, false, url, n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer"));
	assert_string_equal(url, "");
}

/* The audit trail's copy of a request: tm_build_url's redacted URL, exactly as long as it is;
 * none for a request that would not be sent. */
static void
test_audit_url(void **state)
{
	struct tm_request req = REQ(TM_CREATE_ACCOUNT, NULL, "A b", "a@b.example", NULL, 1, 1);
	char *url;

	(void)state;
	url = tm_audit_url(BASE, &req);
	assert_non_null(url);
	assert_string_equal(url, BASE "/as/wapi/service/create_account?service_company_uid=REDACTED"
				      "&company_name=A%20b&email=a%40b.example"
				      "&number_of_meeting_room=1&number_of_participant=1");
	free(url);
	req.email = NULL; /* create_account needs it */
	assert_null(tm_audit_url(BASE, &req));
	req = (struct tm_request){.endpoint = TM_QUERY_ACCOUNT, .company_uid = "u"};
	assert_null(tm_audit_url("ftp://tm.example", &req));
}

/* ---- classification ---- */

struct classify_case {
	CURLcode rc;
	long http;
	bool sent;
	enum tm_outcome want;
};

static void
test_classify_table(void **state)
{
	static const struct classify_case cases[] = {
	    {CURLE_COULDNT_CONNECT, 0, false, TM_NOT_SENT},
	    {CURLE_COULDNT_RESOLVE_HOST, 0, false, TM_NOT_SENT},
	    {CURLE_OPERATION_TIMEDOUT, 0, false, TM_NOT_SENT}, /* connect timeout */
	    {CURLE_SSL_CONNECT_ERROR, 0, false, TM_NOT_SENT},
	    {CURLE_SEND_ERROR, 0, false, TM_NOT_SENT},
	    {CURLE_OPERATION_TIMEDOUT, 0, true, TM_AMBIGUOUS}, /* timed out after sending */
	    {CURLE_GOT_NOTHING, 0, true, TM_AMBIGUOUS},
	    {CURLE_RECV_ERROR, 0, true, TM_AMBIGUOUS},
	    {CURLE_PARTIAL_FILE, 200, true, TM_AMBIGUOUS},
	    {CURLE_SEND_ERROR, 0, true, TM_AMBIGUOUS},
	    {CURLE_OPERATION_TIMEDOUT, 200, true, TM_AMBIGUOUS}, /* headers, body cut short */
	    {CURLE_WRITE_ERROR, 200, true, TM_TRANSIENT},	 /* our size cap */
	    {CURLE_FILESIZE_EXCEEDED, 200, true, TM_TRANSIENT},
	    {CURLE_OK, 200, true, TM_OK},
	    {CURLE_OK, 204, true, TM_OK}, /* the body decides (and will find none) */
	    {CURLE_OK, 500, true, TM_TRANSIENT},
	    {CURLE_OK, 502, true, TM_TRANSIENT},
	    {CURLE_OK, 503, true, TM_TRANSIENT},
	    {CURLE_OK, 504, true, TM_TRANSIENT},
	    {CURLE_OK, 429, true, TM_TRANSIENT},
	    {CURLE_OK, 408, true, TM_TRANSIENT},
	    /* Without a body to say otherwise, a 3xx/4xx is whatever stands in front of TM:
	     * transient (only TM's FAILED answer is a business failure). */
	    {CURLE_OK, 400, true, TM_TRANSIENT},
	    {CURLE_OK, 401, true, TM_TRANSIENT},
	    {CURLE_OK, 403, true, TM_TRANSIENT},
	    {CURLE_OK, 404, true, TM_TRANSIENT},
	    {CURLE_OK, 301, true, TM_TRANSIENT},
	    {CURLE_OK, 302, true, TM_TRANSIENT},
	    {CURLE_OK, 0, true, TM_TRANSIENT},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum tm_outcome got = tm_classify(cases[i].rc, cases[i].http, cases[i].sent);

		if (got != cases[i].want)
			fail_msg("case %zu (curl %d, HTTP %ld, sent %d): %s, expected %s", i,
				 (int)cases[i].rc, cases[i].http, cases[i].sent,
				 tm_outcome_name(got), tm_outcome_name(cases[i].want));
	}
}

static void
test_retry_after(void **state)
{
	time_t now = 1800000000; /* 2027-01-15T08:00:00Z */

	(void)state;
	assert_int_equal(tm_retry_after_ms(NULL, now, 60000), -1);
	assert_int_equal(tm_retry_after_ms("", now, 60000), -1);
	assert_int_equal(tm_retry_after_ms("soon", now, 60000), -1);
	assert_int_equal(tm_retry_after_ms("-5", now, 60000), -1);
	assert_int_equal(tm_retry_after_ms("0", now, 60000), 0);
	assert_int_equal(tm_retry_after_ms(" 7 ", now, 60000), 7000);
	assert_int_equal(tm_retry_after_ms("120", now, 60000), 60000);
	assert_int_equal(tm_retry_after_ms("99999999999999999999999", now, 60000), 60000);
	assert_int_equal(tm_retry_after_ms("Fri, 15 Jan 2027 08:00:30 GMT", now, 60000), 30000);
	assert_int_equal(tm_retry_after_ms("Fri, 15 Jan 2027 09:00:00 GMT", now, 60000), 60000);
	assert_int_equal(tm_retry_after_ms("Thu, 01 Jan 2015 00:00:00 GMT", now, 60000), 0);
	/* The two obsolete HTTP-date forms (RFC 850, asctime) a recipient must accept. */
	assert_int_equal(tm_retry_after_ms("Friday, 15-Jan-27 08:00:30 GMT", now, 60000), 30000);
	assert_int_equal(tm_retry_after_ms("Fri Jan 15 08:00:30 2027", now, 60000), 30000);
	assert_int_equal(tm_retry_after_ms("5", now, 0), 0);
}

static void
respond(struct tm_result *res, enum tm_endpoint ep, long http, const char *retry_after,
	const char *body)
{
	struct tm_response resp = {CURLE_OK, http, true, "", retry_after, body, strlen(body)};

	tm_result_from_response(res, ep, &resp, TM_XML_DEFAULT_MAX, 60000, "secret-partner-7");
}

static void
test_result_from_response(void **state)
{
	struct tm_result res;
	struct tm_response resp = {
	    CURLE_COULDNT_CONNECT, 0, false, "Failed to connect", NULL, NULL, 0};

	(void)state;
	respond(&res, TM_CREATE_ACCOUNT, 200, NULL,
		"<__Return__><__Status__>SUCCEED</__Status__><__CompanyUid__> c-9 </__CompanyUid__>"
		"</__Return__>");
	assert_int_equal(res.outcome, TM_OK);
	assert_string_equal(res.company_uid, "c-9");
	assert_string_equal(res.tm_status, "SUCCEED");
	assert_string_equal(res.error, "");
	assert_true(res.may_have_acted);
	/* a success without the value the call exists for is a protocol error */
	respond(&res, TM_CREATE_ACCOUNT, 200, NULL,
		"<__Return__><__Status__>SUCCEED</__Status__><__CompanyUid__/></__Return__>");
	assert_int_equal(res.outcome, TM_TRANSIENT);
	assert_non_null(strstr(res.error, "__CompanyUid__"));
	assert_true(res.may_have_acted); /* TM answered 200: the account may exist */
	respond(&res, TM_REMOTE_SCHEDULE, 200, NULL,
		"<__Return__><__Status__>SUCCEED</__Status__></__Return__>");
	assert_int_equal(res.outcome, TM_TRANSIENT);
	assert_non_null(strstr(res.error, "__MeetingID__"));
	respond(&res, TM_QUERY_ACCOUNT, 200, NULL,
		"<__Return__><__Status__>SUCCEEDED</__Status__><__CompanyName__>A</__CompanyName__>"
		"<__Email__>a@b.example</__Email__><__NumberOfMeetingRoom__>2"
		"</__NumberOfMeetingRoom__></__Return__>");
	assert_int_equal(res.outcome, TM_TRANSIENT);
	assert_non_null(strstr(res.error, "__NumberOfParticipant__"));
	respond(&res, TM_UPDATE_ACCOUNT, 200, NULL,
		"<__Return__><__Status__>SUCCEED</__Status__></__Return__>");
	assert_int_equal(res.outcome, TM_OK);
	/* FAILED: TM's reason, with the partner id TM echoed scrubbed */
	respond(&res, TM_DELETE_ACCOUNT, 200, NULL,
		"<__Return__><__Status__>FAILED</__Status__><__Reason__>partner secret-partner-7 "
		"has no account u-1</__Reason__></__Return__>");
	assert_int_equal(res.outcome, TM_FAILED);
	assert_string_equal(res.reason, "partner REDACTED has no account u-1");
	assert_false(res.may_have_acted);
	assert_null(strstr(res.error, "secret-partner-7"));
	respond(&res, TM_DELETE_ACCOUNT, 200, NULL,
		"<__Return__><__Status__>FAILED</__Status__></__Return__>");
	assert_int_equal(res.outcome, TM_FAILED);
	assert_true(res.reason[0] != '\0');
	/* A load balancer's 404 page is no verdict of TM's: transient, not acted on, and a
	 * sign of TM being unreachable. */
	respond(&res, TM_QUERY_ACCOUNT, 404, NULL, "<html>not here</html>");
	assert_int_equal(res.outcome, TM_TRANSIENT);
	assert_string_equal(res.reason, "");
	assert_non_null(strstr(res.error, "HTTP 404"));
	assert_int_equal(res.http_status, 404);
	assert_false(res.may_have_acted);
	assert_false(tm_result_tm_answered(&res));
	respond(&res, TM_CREATE_ACCOUNT, 401, NULL, "");
	assert_int_equal(res.outcome, TM_TRANSIENT);
	assert_false(res.may_have_acted);
	respond(&res, TM_CREATE_ACCOUNT, 302, NULL, "");
	assert_int_equal(res.outcome, TM_TRANSIENT);
	assert_non_null(strstr(res.error, "redirects are not followed"));
	/* ... but TM's own FAILED answer in a 4xx is its verdict. */
	respond(&res, TM_QUERY_ACCOUNT, 404, NULL,
		"<__Return__><__Status__>FAILED</__Status__><__Reason__>no such account"
		"</__Reason__></__Return__>");
	assert_int_equal(res.outcome, TM_FAILED);
	assert_string_equal(res.reason, "no such account");
	assert_string_equal(res.tm_status, "FAILED");
	assert_true(tm_result_tm_answered(&res));
	respond(&res, TM_QUERY_ACCOUNT, 503, "12", "");
	assert_int_equal(res.outcome, TM_TRANSIENT);
	assert_int_equal(res.retry_after_ms, 12000);
	assert_non_null(strstr(res.error, "HTTP 503"));
	assert_false(res.may_have_acted);
	assert_false(tm_result_tm_answered(&res));
	respond(&res, TM_CREATE_ACCOUNT, 504, NULL, "");
	assert_int_equal(res.outcome, TM_TRANSIENT);
	assert_true(res.may_have_acted); /* a gateway gave up waiting for TM */
	respond(&res, TM_CREATE_ACCOUNT, 429, NULL, "");
	assert_false(res.may_have_acted);
	respond(&res, TM_QUERY_ACCOUNT, 200, "12", "<html><body>Login</body></html>");
	assert_int_equal(res.outcome, TM_TRANSIENT);
	assert_int_equal(res.retry_after_ms, -1); /* only an error answer asks for a delay */
	assert_non_null(strstr(res.error, "protocol error"));
	assert_true(tm_result_tm_answered(&res)); /* TM (or something) answered 200 */
	tm_result_from_response(&res, TM_CREATE_ACCOUNT, &resp, 1024, 60000, NULL);
	assert_int_equal(res.outcome, TM_NOT_SENT);
	assert_non_null(strstr(res.error, "Failed to connect"));
	assert_false(res.may_have_acted);
	resp = (struct tm_response){CURLE_WRITE_ERROR, 200, true, "", NULL, NULL, 0};
	tm_result_from_response(&res, TM_CREATE_ACCOUNT, &resp, 1024, 60000, NULL);
	assert_int_equal(res.outcome, TM_TRANSIENT);
	assert_non_null(strstr(res.error, "response too large"));
	assert_true(res.may_have_acted);
}

/* A FAILED answer whose reason is longer than we keep is still TM's FAILED: the reason is cut
 * at a character boundary and says so. */
static void
test_failed_long_reason(void **state)
{
	static const char head[] = "<__Return__><__Status__>FAILED</__Status__><__Reason__>";
	static const char tail[] = "</__Reason__></__Return__>";
	char body[sizeof(head) + 3 * TM_REASON_MAX + sizeof(tail)];
	struct tm_result res;
	size_t n = strlen(head), len;

	(void)state;
	memcpy(body, head, n);
	/* "é" (2 bytes) over and over: a cut in the middle of one would be invalid UTF-8. */
	for (size_t i = 0; i < TM_REASON_MAX; i++, n += 2)
		memcpy(body + n, "\xc3\xa9", 2);
	memcpy(body + n, tail, sizeof(tail));
	respond(&res, TM_DELETE_ACCOUNT, 200, NULL, body);
	assert_int_equal(res.outcome, TM_FAILED);
	assert_false(res.may_have_acted);
	len = strlen(res.reason);
	assert_true(len <= TM_REASON_MAX);
	assert_true(len > TM_REASON_MAX / 2);
	assert_string_equal(res.reason + len - strlen(TM_REASON_CUT), TM_REASON_CUT);
	assert_true((len - strlen(TM_REASON_CUT)) % 2 == 0); /* whole characters only */
	assert_memory_equal(res.reason, "\xc3\xa9\xc3\xa9", 4);
}

static void
test_names(void **state)
{
	static const char *const eps[] = {"create_account", "update_account", "delete_account",
					  "query_account", "remote_schedule"};
	static const char *const outs[] = {"ok", "failed", "not_sent", "ambiguous", "transient"};

	(void)state;
	for (int i = 0; i < TM_ENDPOINT_COUNT; i++)
		assert_string_equal(tm_endpoint_name((enum tm_endpoint)i), eps[i]);
	for (int i = 0; i < 5; i++)
		assert_string_equal(tm_outcome_name((enum tm_outcome)i), outs[i]);
	assert_string_equal(tm_endpoint_name((enum tm_endpoint)9), "unknown");
	assert_false(tm_endpoint_idempotent(TM_CREATE_ACCOUNT));
	assert_false(tm_endpoint_idempotent(TM_REMOTE_SCHEDULE));
	assert_true(tm_endpoint_idempotent(TM_UPDATE_ACCOUNT));
	assert_true(tm_endpoint_idempotent(TM_DELETE_ACCOUNT));
	assert_true(tm_endpoint_idempotent(TM_QUERY_ACCOUNT));
	assert_false(tm_endpoint_reuses_connection(TM_CREATE_ACCOUNT));
	assert_false(tm_endpoint_reuses_connection(TM_REMOTE_SCHEDULE));
	assert_false(tm_endpoint_reuses_connection(TM_DELETE_ACCOUNT));
	assert_true(tm_endpoint_reuses_connection(TM_UPDATE_ACCOUNT));
	assert_true(tm_endpoint_reuses_connection(TM_QUERY_ACCOUNT));
}

static void
test_opts_from_cfg(void **state)
{
	struct cfg *c = cfg_new();
	struct tm_client_opts o;
	char err[256], *saved[16];
	int rc;

	(void)state;
	assert_non_null(c);
	assert_true(TM_CONFIG_NKEYS <= 16);
	assert_int_equal(cfg_add_keys(c, TM_CONFIG_KEYS, TM_CONFIG_NKEYS), 0);
	for (size_t i = 0; i < TM_CONFIG_NKEYS; i++) {
		assert_false(TM_CONFIG_KEYS[i]->flags & CFG_REQUIRED); /* the program decides */
		if (strcmp(TM_CONFIG_KEYS[i]->name, "TMPROV_PARTNER_ID") == 0)
			assert_true(TM_CONFIG_KEYS[i]->flags & CFG_SECRET);
	}
	/* the defaults, without the TMPROV_ values the test environment sets */
	for (size_t i = 0; i < TM_CONFIG_NKEYS; i++) {
		const char *v = getenv(TM_CONFIG_KEYS[i]->name);

		saved[i] = v ? strdup(v) : NULL;
		unsetenv(TM_CONFIG_KEYS[i]->name);
	}
	rc = cfg_load(c, NULL, err, sizeof(err));
	for (size_t i = 0; i < TM_CONFIG_NKEYS; i++) {
		if (saved[i] != NULL)
			setenv(TM_CONFIG_KEYS[i]->name, saved[i], 1);
		free(saved[i]);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(tm_client_opts_from_cfg(&o, c), -1); /* no URL, no partner */
	assert_int_equal(cfg_set(c, &KEY_TMPROV_TM_URL, "http://127.0.0.1:1", err, sizeof(err)), 0);
	assert_int_equal(cfg_set(c, &KEY_TMPROV_PARTNER_ID, "p-1", err, sizeof(err)), 0);
	assert_int_equal(tm_client_opts_from_cfg(&o, c), 0);
	assert_string_equal(o.base_url, "http://127.0.0.1:1");
	assert_string_equal(o.partner_id, "p-1");
	assert_int_equal(o.connect_timeout_ms, 3000);
	assert_int_equal(o.timeout_ms, 10000);
	assert_int_equal(o.max_response_bytes, 65536);
	assert_int_equal(o.retry_after_max_ms, 60000);
	assert_int_equal(cfg_set(c, &KEY_TMPROV_TM_TIMEOUT, "250ms", err, sizeof(err)), 0);
	assert_int_equal(tm_client_opts_from_cfg(&o, c), 0);
	assert_int_equal(o.timeout_ms, 250);
	cfg_free(c);
}

static void
test_client_new_rejects(void **state)
{
	const struct tm_client_opts good = {BASE, PARTNER, 100, 100, 1024, 0};
	struct tm_client_opts o;
	struct tm_client *tc;
	char err[256];

	(void)state;
	tc = tm_client_new(&good, err, sizeof(err));
	assert_non_null(tc);
	tm_client_free(tc);
	tm_client_free(NULL);
	o = good, o.base_url = "file:///etc/passwd";
	assert_null(tm_client_new(&o, err, sizeof(err)));
	o = good, o.partner_id = "";
	assert_null(tm_client_new(&o, err, sizeof(err)));
	o = good, o.timeout_ms = 0;
	assert_null(tm_client_new(&o, err, sizeof(err)));
	o = good, o.max_response_bytes = 0;
	assert_null(tm_client_new(&o, err, sizeof(err)));
	o = good, o.retry_after_max_ms = -1;
	assert_null(tm_client_new(&o, err, sizeof(err)));
	assert_true(err[0] != '\0');
}

/* ---- against tmsim ---- */

/* The second run of the tmsim tests: every call() through a tm_loop made with the same options
 * as the test's client (its pair), which is then only a key. */
static bool Via_loop;
static struct {
	struct tm_client *tc;
	struct tm_loop *loop;
} Pairs[4];

static struct tm_loop *
loop_of(const struct tm_client *tc)
{
	for (size_t i = 0; i < sizeof(Pairs) / sizeof(Pairs[0]); i++)
		if (Pairs[i].tc == tc)
			return Pairs[i].loop;
	fail_msg("no tm_loop for this client");
	return NULL;
}

static void
pair(struct tm_client *tc, const struct tm_client_opts *o)
{
	char err[256];

	for (size_t i = 0; i < sizeof(Pairs) / sizeof(Pairs[0]); i++) {
		if (Pairs[i].tc != NULL)
			continue;
		Pairs[i].loop = tm_loop_new(o, err, sizeof(err));
		if (Pairs[i].loop == NULL)
			fail_msg("tm_loop_new: %s", err);
		Pairs[i].tc = tc;
		return;
	}
	fail_msg("too many clients at once");
}

/* tm_client_free, and its loop's. */
static void
client_free(struct tm_client *tc)
{
	for (size_t i = 0; i < sizeof(Pairs) / sizeof(Pairs[0]); i++)
		if (Pairs[i].tc == tc) {
			tm_loop_free(Pairs[i].loop);
			Pairs[i].tc = NULL;
			Pairs[i].loop = NULL;
		}
	tm_client_free(tc);
}

static struct tm_client *
client_with(const char *url, const char *partner, size_t max_response, long connect_ms,
	    long timeout_ms)
{
	struct tm_client_opts o = {url, partner, connect_ms, timeout_ms, max_response, 60000};
	char err[256];
	struct tm_client *tc = tm_client_new(&o, err, sizeof(err));

	if (tc == NULL)
		fail_msg("tm_client_new: %s", err);
	if (Via_loop)
		pair(tc, &o);
	return tc;
}

/* One call's end as a submitter waits for it. */
struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int ends; /* done calls seen: exactly one is right */
	struct tm_result res;
};

static void
waiter_done(void *arg, const struct tm_result *res)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	w->res = *res;
	w->ends++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void
waiter_init(struct waiter *w)
{
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->ends = 0;
}

static void
waiter_destroy(struct waiter *w)
{
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

static struct tm_client *
client_for(const char *url, const char *partner, size_t max_response)
{
	return client_with(url, partner, max_response, TEST_CONNECT_MS, TEST_TIMEOUT_MS);
}

static struct tm_client *
sim_client(void)
{
	return client_for(sim_url(sim), sim_partner(sim), TM_XML_DEFAULT_MAX);
}

/* For the loop's load tests: waits LOAD_TIMEOUT_MS for a connection and for an answer. */
static struct tm_client *
patient_client(void)
{
	return client_with(sim_url(sim), sim_partner(sim), TM_XML_DEFAULT_MAX, LOAD_TIMEOUT_MS,
			   LOAD_TIMEOUT_MS);
}

static void
faults(const char *query)
{
	if (sim_faults(sim, query) != 0)
		fail_msg("tmsim refused faults %s", query);
}

static void
call(struct tm_client *tc, const struct tm_request *req, struct tm_result *res,
     enum tm_outcome want)
{
	if (Via_loop)
		assert_int_equal(tm_loop_call(loop_of(tc), req, res), 0);
	else
		assert_int_equal(tm_client_call(tc, req, res), 0);
	if (res->outcome != want)
		fail_msg("%s: %s (%s), expected %s", tm_endpoint_name(req->endpoint),
			 tm_outcome_name(res->outcome), res->error, tm_outcome_name(want));
	assert_null(strstr(res->error, sim_partner(sim)));
	assert_null(strstr(res->reason, sim_partner(sim)));
	assert_null(strstr(res->tm_status, sim_partner(sim)));
}

static struct tm_request
create_req(const char *name)
{
	return (struct tm_request){.endpoint = TM_CREATE_ACCOUNT,
				   .company_name = name,
				   .email = "ops@acme.example",
				   .rooms = 2,
				   .participants = 25};
}

static struct tm_request
uid_req(enum tm_endpoint ep, const char *uid)
{
	return (struct tm_request){.endpoint = ep,
				   .company_uid = uid,
				   .company_name = "Acme",
				   .email = "ops@acme.example",
				   .user_id = "user-1",
				   .rooms = 2,
				   .participants = 25};
}

/* Creates an account and returns its uid in uid (TM_COMPANY_UID_MAX + 1 bytes). */
static void
create_account(struct tm_client *tc, const char *name, char *uid)
{
	struct tm_request req = create_req(name);
	struct tm_result res;

	call(tc, &req, &res, TM_OK);
	strcpy(uid, res.company_uid);
}

static void
count_is(const char *endpoint, long want)
{
	long got = sim_count(sim, endpoint);

	if (got != want)
		fail_msg("tmsim counted %ld %s calls, expected %ld", got, endpoint ? endpoint : "",
			 want);
}

static int
reset(void **state)
{
	(void)state;
	return sim_reset(sim);
}

static void
test_each_call(void **state)
{
	struct tm_client *tc = sim_client();
	const char *name = "Zoë & Co = 1+1 #2 50%";
	char uid[TM_COMPANY_UID_MAX + 1];
	struct tm_request req;
	struct tm_result res;

	(void)state;
	create_account(tc, name, uid);
	assert_true(strlen(uid) > 0);
	req = uid_req(TM_QUERY_ACCOUNT, uid);
	call(tc, &req, &res, TM_OK);
	assert_string_equal(res.tm_status, "SUCCEEDED");
	assert_string_equal(res.company_name, name); /* every byte survived the round trip */
	assert_string_equal(res.email, "ops@acme.example");
	assert_int_equal(res.rooms, 2);
	assert_int_equal(res.participants, 25);
	req = uid_req(TM_UPDATE_ACCOUNT, uid);
	req.company_name = "Acme 会议";
	req.rooms = 5;
	call(tc, &req, &res, TM_OK);
	req = uid_req(TM_QUERY_ACCOUNT, uid);
	call(tc, &req, &res, TM_OK);
	assert_string_equal(res.company_name, "Acme 会议");
	assert_int_equal(res.rooms, 5);
	req = uid_req(TM_REMOTE_SCHEDULE, uid);
	call(tc, &req, &res, TM_OK);
	assert_true(strlen(res.meeting_id) > 0);
	req = uid_req(TM_DELETE_ACCOUNT, uid);
	call(tc, &req, &res, TM_OK);
	req = uid_req(TM_QUERY_ACCOUNT, uid);
	call(tc, &req, &res, TM_FAILED);
	assert_string_equal(res.tm_status, "FAILED");
	assert_true(res.reason[0] != '\0');
	count_is(NULL, 7);
	client_free(tc);
}

/* The parameters tmsim received are exactly the ones we meant, decoded. */
static void
test_params_as_sent(void **state)
{
	struct tm_client *tc = sim_client();
	struct tm_request req = create_req("A&B=C+D #E");
	struct tm_result res;
	json_t *calls, *params;

	(void)state;
	req.email = "a+tag@x.example";
	call(tc, &req, &res, TM_OK);
	assert_int_equal(sim_calls(sim, &calls), 0);
	params = json_object_get(json_array_get(json_object_get(calls, "calls"), 0), "params");
	assert_non_null(params);
	assert_string_equal(json_string_value(json_object_get(params, "company_name")),
			    "A&B=C+D #E");
	assert_string_equal(json_string_value(json_object_get(params, "email")), "a+tag@x.example");
	assert_string_equal(json_string_value(json_object_get(params, "number_of_meeting_room")),
			    "2");
	assert_string_equal(json_string_value(json_object_get(params, "number_of_participant")),
			    "25");
	json_decref(calls);
	client_free(tc);
}

/* Queries and updates keep the connection; create, remote_schedule and delete each open their
 * own. */
static void
test_connection_reuse(void **state)
{
	struct tm_client *tc = sim_client();
	char uid[TM_COMPANY_UID_MAX + 1];
	struct tm_request req;
	struct tm_result res;

	(void)state;
	create_account(tc, "Reuse", uid);
	req = uid_req(TM_QUERY_ACCOUNT, uid);
	call(tc, &req, &res, TM_OK);
	assert_int_equal(res.new_connections, 1); /* the create's connection was not kept */
	call(tc, &req, &res, TM_OK);
	assert_int_equal(res.new_connections, 0);
	req = uid_req(TM_UPDATE_ACCOUNT, uid);
	call(tc, &req, &res, TM_OK);
	assert_int_equal(res.new_connections, 0);
	req = uid_req(TM_REMOTE_SCHEDULE, uid);
	call(tc, &req, &res, TM_OK);
	assert_int_equal(res.new_connections, 1);
	req = create_req("Reuse 2");
	call(tc, &req, &res, TM_OK);
	assert_int_equal(res.new_connections, 1);
	req = uid_req(TM_DELETE_ACCOUNT, uid);
	call(tc, &req, &res, TM_OK);
	assert_int_equal(res.new_connections, 1);
	client_free(tc);
}

static void
test_fault_5xx(void **state)
{
	struct tm_client *tc = sim_client();
	struct tm_request req = create_req("Five");
	struct tm_result res;

	(void)state;
	faults("error_next=1&error_status=503");
	call(tc, &req, &res, TM_TRANSIENT);
	assert_int_equal(res.http_status, 503);
	assert_int_equal(res.retry_after_ms, -1);
	assert_string_equal(res.error, "HTTP 503 without a TM answer");
	assert_false(res.may_have_acted);
	call(tc, &req, &res, TM_OK); /* the fault was for one call only */
	client_free(tc);
}

static void
test_fault_429_retry_after(void **state)
{
	struct tm_client *tc = sim_client();
	struct tm_request req = create_req("Slow down");
	struct tm_result res;

	(void)state;
	faults("error_next=1&error_status=429&retry_after=7");
	call(tc, &req, &res, TM_TRANSIENT);
	assert_int_equal(res.http_status, 429);
	assert_int_equal(res.retry_after_ms, 7000);
	faults("error_next=1&error_status=429&retry_after=3600"); /* over our 60 s cap */
	call(tc, &req, &res, TM_TRANSIENT);
	assert_int_equal(res.retry_after_ms, 60000);
	client_free(tc);
}

/* TM acted on the create, the answer never came: ambiguous, and the account does exist. */
static void
test_fault_timeout_create(void **state)
{
	struct tm_client *tc = sim_client();
	struct tm_request req = create_req("Held");
	struct tm_result res;
	json_t *accounts;
	char q[64];

	(void)state;
	snprintf(q, sizeof(q), "timeout_next=1&timeout_ms=%d", HOLD_MS);
	faults(q);
	call(tc, &req, &res, TM_AMBIGUOUS);
	assert_true(res.elapsed_ms >= TEST_TIMEOUT_MS - 50 && res.elapsed_ms < HOLD_MS);
	assert_string_equal(res.company_uid, "");
	assert_true(res.may_have_acted);
	count_is("create_account", 1);
	assert_int_equal(sim_accounts(sim, &accounts), 0);
	assert_int_equal(json_array_size(json_object_get(accounts, "accounts")), 1);
	json_decref(accounts);
	client_free(tc);
}

/* An ambiguous update is safe to repeat: it is idempotent. */
static void
test_fault_timeout_update(void **state)
{
	struct tm_client *tc = sim_client();
	char uid[TM_COMPANY_UID_MAX + 1], q[64];
	struct tm_request req;
	struct tm_result res;

	(void)state;
	create_account(tc, "Upd", uid);
	snprintf(q, sizeof(q), "only=update_account&timeout_next=1&timeout_ms=%d", HOLD_MS);
	faults(q);
	req = uid_req(TM_UPDATE_ACCOUNT, uid);
	req.rooms = 9;
	call(tc, &req, &res, TM_AMBIGUOUS);
	assert_true(tm_endpoint_idempotent(req.endpoint));
	call(tc, &req, &res, TM_OK);
	count_is("update_account", 2);
	req = uid_req(TM_QUERY_ACCOUNT, uid);
	call(tc, &req, &res, TM_OK);
	assert_int_equal(res.rooms, 9);
	client_free(tc);
}

/* The heart of exactly-once: a connection that dies after TM read the request. The client
 * first makes an idempotent call so that a kept connection exists; a create or schedule on
 * that connection would be re-sent by libcurl behind our back, and so would a delete, whose
 * repeat answers "no such account" and hides that the first one acted. It must be one call,
 * ambiguous. */
static void
drop_once(enum tm_endpoint ep, const char *name)
{
	struct tm_client *tc = sim_client();
	char uid[TM_COMPANY_UID_MAX + 1], q[64];
	struct tm_request req;
	struct tm_result res;
	long before;

	create_account(tc, "Drop", uid);
	req = uid_req(TM_QUERY_ACCOUNT, uid);
	call(tc, &req, &res, TM_OK); /* leaves a kept connection in the handle's cache */
	before = sim_count(sim, name);
	snprintf(q, sizeof(q), "only=%s&drop_next=1", name);
	faults(q);
	req = ep == TM_CREATE_ACCOUNT ? create_req("Drop 2") : uid_req(ep, uid);
	call(tc, &req, &res, TM_AMBIGUOUS);
	assert_int_equal(res.http_status, 0);
	count_is(name, before + 1);
	client_free(tc);
}

static void
test_fault_drop_create_once(void **state)
{
	(void)state;
	drop_once(TM_CREATE_ACCOUNT, "create_account");
}

static void
test_fault_drop_schedule_once(void **state)
{
	(void)state;
	drop_once(TM_REMOTE_SCHEDULE, "remote_schedule");
}

static void
test_fault_drop_delete_once(void **state)
{
	(void)state;
	drop_once(TM_DELETE_ACCOUNT, "delete_account");
}

/* The control for the two tests above: an idempotent call on a kept connection that dies is
 * silently re-sent by libcurl, which is harmless for it and is why create cannot share. */
static void
test_fault_drop_idempotent_resent(void **state)
{
	struct tm_client *tc = sim_client();
	char uid[TM_COMPANY_UID_MAX + 1];
	struct tm_request req;
	struct tm_result res;

	(void)state;
	create_account(tc, "Resend", uid);
	req = uid_req(TM_QUERY_ACCOUNT, uid);
	call(tc, &req, &res, TM_OK);
	faults("only=update_account&drop_next=1");
	req = uid_req(TM_UPDATE_ACCOUNT, uid);
	call(tc, &req, &res, TM_OK);
	count_is("update_account", 2);
	client_free(tc);
}

static void
test_fault_malformed_and_html(void **state)
{
	struct tm_client *tc = sim_client();
	struct tm_request req = create_req("Garbled");
	struct tm_result res;

	(void)state;
	faults("malformed_next=1");
	call(tc, &req, &res, TM_TRANSIENT);
	assert_int_equal(res.http_status, 200);
	assert_non_null(strstr(res.error, "protocol error"));
	assert_true(res.may_have_acted); /* tmsim made the account before garbling the answer */
	count_is("create_account", 1);
	faults("html_next=1");
	call(tc, &req, &res, TM_TRANSIENT);
	assert_int_equal(res.http_status, 200);
	assert_non_null(strstr(res.error, "protocol error"));
	client_free(tc);
}

static void
test_fault_failed_company(void **state)
{
	struct tm_client *tc = sim_client();
	struct tm_request req = create_req("Refused Inc");
	struct tm_result res;

	(void)state;
	faults("fail_company=Refused%20Inc");
	call(tc, &req, &res, TM_FAILED);
	assert_string_equal(res.tm_status, "FAILED");
	assert_non_null(strstr(res.reason, "Refused Inc"));
	assert_string_equal(res.company_uid, "");
	req = create_req("Accepted Inc");
	call(tc, &req, &res, TM_OK);
	client_free(tc);
}

static void
test_wrong_partner_failed(void **state)
{
	struct tm_client *tc = client_for(sim_url(sim), "not-our-partner", TM_XML_DEFAULT_MAX);
	struct tm_request req = create_req("Nobody");
	struct tm_result res;

	(void)state;
	call(tc, &req, &res, TM_FAILED);
	assert_non_null(strstr(res.reason, "service_company_uid"));
	client_free(tc);
}

static void
test_latency_within_timeout(void **state)
{
	struct tm_client *tc = sim_client();
	struct tm_request req = create_req("Latent");
	struct tm_result res;

	(void)state;
	faults("latency_ms=150");
	call(tc, &req, &res, TM_OK);
	assert_true(res.elapsed_ms >= 140);
	client_free(tc);
}

/* A port nothing listens on: bound, never listened to, closed. */
static int
closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void
test_connection_refused_not_sent(void **state)
{
	char url[64];
	struct tm_client *tc;
	struct tm_request req = create_req("Nowhere");
	struct tm_result res;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", closed_port());
	tc = client_for(url, sim_partner(sim), TM_XML_DEFAULT_MAX);
	call(tc, &req, &res, TM_NOT_SENT);
	assert_int_equal(res.http_status, 0);
	assert_true(res.error[0] != '\0');
	assert_false(res.may_have_acted);
	count_is(NULL, 0);
	client_free(tc);
}

/* may_send, asked once the connection is ready: what it says decides whether the request
 * leaves, on a fresh connection (create) and on a kept one (query). */
struct send_check {
	int asked;
	bool answer;
};

static bool
send_check(void *arg)
{
	struct send_check *c = arg;

	c->asked++;
	return c->answer;
}

static void
test_may_send(void **state)
{
	struct tm_client *tc = sim_client();
	struct send_check no = {0, false}, yes = {0, true};
	struct tm_request req = create_req("Checked");
	struct tm_result res;
	char uid[TM_COMPANY_UID_MAX + 1];

	(void)state;
	req.may_send = send_check;
	req.may_send_arg = &no;
	call(tc, &req, &res, TM_NOT_SENT);
	assert_true(res.refused_by_sender);
	assert_false(res.may_have_acted);
	assert_non_null(strstr(res.error, "not sent"));
	assert_int_equal(no.asked, 1);
	count_is(NULL, 0);
	req.may_send_arg = &yes;
	call(tc, &req, &res, TM_OK);
	assert_false(res.refused_by_sender);
	assert_int_equal(yes.asked, 1);
	snprintf(uid, sizeof(uid), "%s", res.company_uid);
	req = uid_req(TM_QUERY_ACCOUNT, uid);
	call(tc, &req, &res, TM_OK); /* a connection kept for the next */
	req.may_send = send_check;
	req.may_send_arg = &no;
	call(tc, &req, &res, TM_NOT_SENT);
	assert_true(res.refused_by_sender);
	assert_int_equal(no.asked, 2);
	count_is("query_account", 1);
	client_free(tc);
}

/* The cap holds: an answer over it is a transient "too large" (though TM acted on it). */
static void
test_size_cap(void **state)
{
	struct tm_client *tc = sim_client();
	struct tm_request req = create_req("Capped");
	struct tm_result res;

	(void)state;
	call(tc, &req, &res, TM_OK); /* the same answer fits the default cap */
	client_free(tc);
	assert_int_equal(sim_reset(sim), 0);
	tc = client_for(sim_url(sim), sim_partner(sim), 64);
	call(tc, &req, &res, TM_TRANSIENT);
	assert_non_null(strstr(res.error, "response too large"));
	count_is("create_account", 1);
	client_free(tc);
}

/* Debug logging of every call, failures included, never shows the partner id. */
static void
test_partner_not_logged(void **state)
{
	char path[] = "/tmp/test_tm_client_log_XXXXXX", *text;
	int fd = mkstemp(path), saved = dup(2);
	struct tm_client *tc = sim_client();
	struct tm_request req = create_req("Logged");
	struct tm_result res;
	FILE *f;
	long size;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	log_init("test_tm_client", LOG_DEBUG);
	dup2(fd, 2);
	call(tc, &req, &res, TM_OK);
	faults("error_next=1&error_status=500");
	call(tc, &req, &res, TM_TRANSIENT);
	faults("malformed_next=1");
	call(tc, &req, &res, TM_TRANSIENT);
	dup2(saved, 2);
	close(saved);
	log_init("test_tm_client", LOG_INFO);
	f = fdopen(fd, "r");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)size + 1);
	assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	unlink(path);
	assert_non_null(strstr(text, "create_account")); /* the calls were logged */
	assert_non_null(strstr(text, "REDACTED"));
	assert_null(strstr(text, sim_partner(sim)));
	free(text);
	client_free(tc);
}

/* ---- what only the loop does ---- */

enum { SUBMITTERS = 4, PER_SUBMITTER = 150, CALLS = SUBMITTERS * PER_SUBMITTER };

struct burst {
	struct tm_loop *loop;
	const char *uid;
	struct waiter *w; /* PER_SUBMITTER of them */
	int first;
};

/* A submitter's calls, submitted at once: every fifth a create, the rest queries. */
static void *
burst_submit(void *arg)
{
	struct burst *b = arg;
	char name[PER_SUBMITTER][32];

	for (int i = 0; i < PER_SUBMITTER; i++) {
		struct tm_request req = uid_req(TM_QUERY_ACCOUNT, b->uid);
		struct tm_result res;

		if ((b->first + i) % 5 == 0) {
			snprintf(name[i], sizeof(name[i]), "Loop %04d", b->first + i);
			req = create_req(name[i]);
		}
		waiter_init(&b->w[i]);
		if (tm_loop_submit(b->loop, &req, waiter_done, &b->w[i], &res) != 0)
			b->w[i].ends = -1;
	}
	return NULL;
}

static long
peak_rss_kib(void)
{
	char line[128];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kib;
}

/* CALLS calls (a fifth of them creates) submitted at once by 4 threads while tmsim holds each
 * answer LOAD_HOLD_MS: they are all in flight together on the loop's one thread, each ends exactly
 * once and OK, each create on a connection of its own, and tmsim saw each call once. */
static void
test_loop_many_in_flight(void **state)
{
	struct tm_client *tc = patient_client();
	struct tm_loop *l = loop_of(tc);
	static struct waiter w[CALLS];
	struct burst b[SUBMITTERS];
	pthread_t th[SUBMITTERS];
	char uid[TM_COMPANY_UID_MAX + 1];
	size_t most = 0, n;
	long rss_before, creates = 0;

	(void)state;
	create_account(tc, "Loop base", uid);
	faults(LOAD_HOLD_FAULT);
	rss_before = peak_rss_kib();
	for (int i = 0; i < SUBMITTERS; i++) {
		b[i] = (struct burst){l, uid, &w[i * PER_SUBMITTER], i * PER_SUBMITTER};
		assert_int_equal(pthread_create(&th[i], NULL, burst_submit, &b[i]), 0);
	}
	for (int i = 0; i < SUBMITTERS; i++)
		pthread_join(th[i], NULL);
	while ((n = tm_loop_in_flight(l)) > 0) {
		if (n > most)
			most = n;
		usleep(10000);
	}
	fprintf(stderr, "# %d calls on one loop thread: %zu in flight at most, peak RSS +%ld KiB\n",
		CALLS, most, peak_rss_kib() - rss_before);
	for (int i = 0; i < CALLS; i++) {
		pthread_mutex_lock(&w[i].lock);
		while (w[i].ends == 0)
			pthread_cond_wait(&w[i].cond, &w[i].lock);
		pthread_mutex_unlock(&w[i].lock);
		if (w[i].ends != 1 || w[i].res.outcome != TM_OK)
			fail_msg("call %d: %d ends, %s (%s)", i, w[i].ends,
				 tm_outcome_name(w[i].res.outcome), w[i].res.error);
		if (i % 5 == 0) {
			assert_int_equal(w[i].res.new_connections, 1);
			creates++;
		}
		waiter_destroy(&w[i]);
	}
	/* Submitted faster than held answers come back: most were in flight together. */
	assert_true(most > CALLS / 2);
	count_is("create_account", 1 + creates);
	count_is("query_account", CALLS - creates);
	client_free(tc);
}

/* Stopping the loop waits for the calls in flight: each ends once, as TM answered it. */
static void
test_loop_free_waits(void **state)
{
	struct tm_client *tc = patient_client();
	static struct waiter w[20];
	struct tm_loop *l = loop_of(tc);
	char name[20][32];

	(void)state;
	faults(LOAD_HOLD_FAULT);
	for (int i = 0; i < 20; i++) {
		struct tm_request req;
		struct tm_result res;

		snprintf(name[i], sizeof(name[i]), "Stop %02d", i);
		req = create_req(name[i]);
		waiter_init(&w[i]);
		assert_int_equal(tm_loop_submit(l, &req, waiter_done, &w[i], &res), 0);
	}
	client_free(tc); /* the loop's free, with 20 calls in flight */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(w[i].ends, 1);
		assert_int_equal(w[i].res.outcome, TM_OK);
		waiter_destroy(&w[i]);
	}
	count_is("create_account", 20);
}

/* A request that cannot be built is refused at once: nothing sent, done never called. */
static void
test_loop_refuses_invalid(void **state)
{
	struct tm_client *tc = sim_client();
	struct tm_request req = create_req(NULL);
	struct tm_result res;
	struct waiter w;

	(void)state;
	waiter_init(&w);
	assert_int_equal(tm_loop_submit(loop_of(tc), &req, waiter_done, &w, &res), -1);
	assert_int_equal(res.outcome, TM_NOT_SENT);
	assert_true(res.error[0] != '\0');
	memset(&res, 0, sizeof(res));
	assert_int_equal(tm_loop_call(loop_of(tc), &req, &res), -1); /* returns, nothing sent */
	assert_int_equal(res.outcome, TM_NOT_SENT);
	assert_true(res.error[0] != '\0');
	client_free(tc);
	assert_int_equal(w.ends, 0);
	waiter_destroy(&w);
	count_is(NULL, 0);
}

/* tm_loop_take keeps an answer only from its arrival, on the heap; one that arrives when no
 * memory can be had to keep it is an answer lost (TM may have acted), never "not sent". */
static void
test_loop_take_answers(void **state)
{
	struct tm_client *tc = sim_client();
	struct tm_loop *l = loop_of(tc);
	struct tm_request req = create_req("Take & Co"), bad = create_req(NULL);
	struct tm_result *got = NULL, res;
	char uid[TM_COMPANY_UID_MAX + 1];

	(void)state;
	assert_int_equal(tm_loop_take(l, &req, &got), 0);
	assert_non_null(got);
	assert_int_equal(got->outcome, TM_OK);
	assert_true(got->company_uid[0] != '\0');
	snprintf(uid, sizeof(uid), "%s", got->company_uid);
	free(got);
	req = uid_req(TM_QUERY_ACCOUNT, uid);
	tm_loop_forget_answers(l, 2);
	assert_int_equal(tm_loop_take(l, &req, &got), 0);
	assert_null(got);
	assert_int_equal(tm_loop_call(l, &req, &res), 0);
	assert_int_equal(res.outcome, TM_AMBIGUOUS);
	assert_true(res.may_have_acted);
	assert_non_null(strstr(res.error, "out of memory"));
	count_is(NULL, 3); /* both calls reached TM */
	/* Only two were forgotten: the next answer is kept. */
	assert_int_equal(tm_loop_take(l, &req, &got), 0);
	assert_non_null(got);
	assert_int_equal(got->outcome, TM_OK);
	assert_string_equal(got->company_name, "Take & Co");
	free(got);
	/* Refused before sending: a result on the heap says why. */
	assert_int_equal(tm_loop_take(l, &bad, &got), -1);
	assert_non_null(got);
	assert_int_equal(got->outcome, TM_NOT_SENT);
	assert_true(got->error[0] != '\0');
	free(got);
	count_is(NULL, 4);
	client_free(tc);
}

static int
start_sim(void **state)
{
	(void)state;
	return sim_start(&sim, NULL);
}

static int
stop_sim(void **state)
{
	(void)state;
	sim_stop(sim);
	return 0;
}

static int
start_sim_loop(void **state)
{
	Via_loop = true;
	return start_sim(state);
}

int
main(void)
{
	static const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_build_url_table),
	    cmocka_unit_test(test_build_url_partner_encoded),
	    cmocka_unit_test(test_build_url_every_byte),
	    cmocka_unit_test(test_build_url_errors),
	    cmocka_unit_test(test_build_url_too_long),
	    cmocka_unit_test(test_audit_url),
	    cmocka_unit_test(test_classify_table),
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_result_from_response),
	    cmocka_unit_test(test_failed_long_reason),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_opts_from_cfg),
	    cmocka_unit_test(test_client_new_rejects),
	};
	static const struct CMUnitTest with_sim[] = {
	    cmocka_unit_test_setup(test_each_call, reset),
	    cmocka_unit_test_setup(test_params_as_sent, reset),
	    cmocka_unit_test_setup(test_connection_reuse, reset),
	    cmocka_unit_test_setup(test_fault_5xx, reset),
	    cmocka_unit_test_setup(test_fault_429_retry_after, reset),
	    cmocka_unit_test_setup(test_fault_timeout_create, reset),
	    cmocka_unit_test_setup(test_fault_timeout_update, reset),
	    cmocka_unit_test_setup(test_fault_drop_create_once, reset),
	    cmocka_unit_test_setup(test_fault_drop_schedule_once, reset),
	    cmocka_unit_test_setup(test_fault_drop_delete_once, reset),
	    cmocka_unit_test_setup(test_fault_drop_idempotent_resent, reset),
	    cmocka_unit_test_setup(test_fault_malformed_and_html, reset),
	    cmocka_unit_test_setup(test_fault_failed_company, reset),
	    cmocka_unit_test_setup(test_wrong_partner_failed, reset),
	    cmocka_unit_test_setup(test_latency_within_timeout, reset),
	    cmocka_unit_test_setup(test_connection_refused_not_sent, reset),
	    cmocka_unit_test_setup(test_may_send, reset),
	    cmocka_unit_test_setup(test_size_cap, reset),
	    cmocka_unit_test_setup(test_partner_not_logged, reset),
	};
	static const struct CMUnitTest loop_only[] = {
	    cmocka_unit_test_setup(test_loop_many_in_flight, reset),
	    cmocka_unit_test_setup(test_loop_free_waits, reset),
	    cmocka_unit_test_setup(test_loop_refuses_invalid, reset),
	    cmocka_unit_test_setup(test_loop_take_answers, reset),
	};
	int failed = cmocka_run_group_tests_name("tm_client", pure, NULL, NULL);

	failed += cmocka_run_group_tests_name("tm_client_tmsim", with_sim, start_sim, stop_sim);
	failed += cmocka_run_group_tests_name("tm_loop_tmsim", with_sim, start_sim_loop, stop_sim);
	return failed +
	       cmocka_run_group_tests_name("tm_loop_only", loop_only, start_sim_loop, stop_sim);
}
