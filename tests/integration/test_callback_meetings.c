/* test_callback_meetings: the meeting list TM reads at QueryScheduledMeetingURL (spec Section
 * 11) — content, order, time format and zone, escaping, the past window — the session behind it
 * (sliding expiry, expiry, revocation when a user or an account is deleted), and the start and
 * join redirects (Sections 8, 10), against a real PostgreSQL and the real program. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/cbtest.h"
#include "../support/testdb.h"
#include "clock.h"

static struct testdb db;
static PGconn *conn;
static struct cbproc cb;

static const char TOPIC[] = "Q&A <Board> \"2027\"";

static int
group_setup(void **state)
{
	(void)state;
	if (testdb_open(&db, "cbmeet", &conn) != 0)
		return -1;
	cbseed_account(conn, "cust-m", "CU-M");
	cbseed_account(conn, "cust-n", "CU-N");
	cbseed_user(conn, "cust-m", "u-list", "list@m.example", "Li", "St", "list-pw");
	cbseed_user(conn, "cust-m", "u-other", "other@m.example", "Ot", "Her", "other-pw");
	cbseed_user(conn, "cust-m", "u-empty", "empty@m.example", "Em", "Pty", "empty-pw");
	cbseed_user(conn, "cust-m", "u-gone", "gone@m.example", "Go", "Ne", "gone-pw");
	cbseed_user(conn, "cust-n", "u-acct", "acct@n.example", "Ac", "Ct", "acct-pw");
	cbseed_user(conn, "cust-n", "u-acct2", "acct2@n.example", "Ac", "Ct2", "acct2-pw");
	/* Inserted out of order; the list must come back by start time. */
	cbseed_meeting(conn, "m-300", "cust-m", "u-list", "Third", "'2099-12-31 23:59:00+00'",
		       "https://cb.partner.example/join/m-300");
	cbseed_meeting(conn, "m-100", "cust-m", "u-list", TOPIC, "'2099-01-02 03:04:00+00'",
		       "https://cb.partner.example/join/m-100?x=1&y=2");
	cbseed_meeting(conn, "m-200", "cust-m", "u-list", "Zoë's über-meeting",
		       "'2099-07-04 16:30:00+00'", "https://cb.partner.example/join/m-200");
	cbseed_meeting(conn, "m-recent", "cust-m", "u-list", "Started two hours ago",
		       "date_trunc('minute', now()) - interval '2 hours'",
		       "https://cb.partner.example/join/m-recent");
	cbseed_meeting(conn, "m-old", "cust-m", "u-list", "Long past",
		       "now() - interval '25 hours'", "https://cb.partner.example/join/m-old");
	cbseed_meeting(conn, "m-canceled", "cust-m", "u-list", "Canceled",
		       "'2099-03-03 03:03:00+00'", "https://cb.partner.example/join/m-canceled");
	cbsql(conn, "UPDATE meetings SET canceled_at = now() WHERE meeting_id = 'm-canceled'",
	      NULL);
	cbseed_meeting(conn, "m-others", "cust-m", "u-other", "Not yours",
		       "'2099-02-02 02:02:00+00'", "https://cb.partner.example/join/m-others");
	cbseed_meeting(conn, "m-acct", "cust-n", "u-acct", "Account meeting",
		       "'2099-02-02 02:02:00+00'", "https://cb.partner.example/join/m-acct");
	cbproc_start(&cb, db.conninfo, NULL);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (cb.pid > 0 && cbproc_stop(&cb) != 0)
		fprintf(stderr, "# tmprov-callback did not exit 0\n");
	testdb_close(&db, conn);
	return 0;
}

/* Logs in and returns the path part of QueryScheduledMeetingURL (malloc'd). */
static char *
login_path(const struct cbproc *p, const char *email, const char *password)
{
	const char *base = CBTEST_PUBLIC_URL;
	char cred[65], *at, *end, *path;
	struct cbhttp r;

	cbtest_credential(password, cred);
	cbhttp_auth(p->port, email, cred, CBTEST_PARTNER, &r);
	at = strstr(r.body, "<__QueryScheduledMeetingURL__>");
	if (at == NULL)
		fail_msg("login of %s failed: %s", email, r.body);
	at += strlen("<__QueryScheduledMeetingURL__>");
	assert_true(strncmp(at, base, strlen(base)) == 0);
	at += strlen(base);
	end = strchr(at, '<');
	path = strndup(at, (size_t)(end - at));
	cbhttp_free(&r);
	return path;
}

static void
expect_session_failed(int port, const char *path)
{
	static const char *const names[] = {"__Status__", "__Reason__", NULL};
	struct cbhttp r;
	xmlDocPtr doc;
	xmlNodePtr root;

	cbhttp_get(port, path, &r);
	assert_int_equal(r.status, 200);
	doc = cbxml_parse(&r);
	root = xmlDocGetRootElement(doc);
	assert_string_equal((const char *)root->name, "__Return__");
	cbxml_expect_children(root, names);
	cbxml_expect_text(root, "__Status__", "FAILED");
	cbxml_expect_text(root, "__Reason__", "session expired or invalid");
	xmlFreeDoc(doc);
	cbhttp_free(&r);
}

static void
expect_meeting(xmlNodePtr m, const char *id, const char *when, const char *topic, const char *join)
{
	static const char *const names[] = {"__MeetingId__", "__ScheduledStartTime__",
					    "__MeetingTopic__", "__JoinMeetingURL__", NULL};

	assert_string_equal((const char *)m->name, "__Meeting__");
	cbxml_expect_children(m, names);
	cbxml_expect_text(m, "__MeetingId__", id);
	cbxml_expect_text(m, "__ScheduledStartTime__", when);
	cbxml_expect_text(m, "__MeetingTopic__", topic);
	cbxml_expect_text(m, "__JoinMeetingURL__", join);
}

static xmlNodePtr
next_element(xmlNodePtr n)
{
	while (n != NULL && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

static void
test_meeting_list(void **state)
{
	static const char *const names[] = {"__Status__", "__Reason__", "__MeetingList__", NULL};
	char *path = login_path(&cb, "list@m.example", "list-pw");
	char *recent = cbsql_value(conn,
				   "SELECT to_char(start_time AT TIME ZONE 'UTC', "
				   "'YYYY/MM/DD HH24:MI') FROM meetings WHERE meeting_id = "
				   "'m-recent'",
				   NULL);
	struct cbhttp r;
	xmlDocPtr doc;
	xmlNodePtr root, list, m;

	(void)state;
	cbhttp_get(cb.port, path, &r);
	assert_int_equal(r.status, 200);
	doc = cbxml_parse(&r);
	root = xmlDocGetRootElement(doc);
	assert_string_equal((const char *)root->name, "__Return__");
	cbxml_expect_children(root, names);
	cbxml_expect_text(root, "__Status__", "SUCCEED");
	list = cbxml_child(root, "__MeetingList__");
	/* Not canceled, not older than TMPROV_MEETING_LIST_PAST (24 h), only this user's, by
	 * start time, times as YYYY/MM/DD HH:MM in UTC (the default zone). */
	m = next_element(list->children);
	expect_meeting(m, "m-recent", recent, "Started two hours ago",
		       "https://cb.partner.example/join/m-recent");
	m = next_element(m->next);
	expect_meeting(m, "m-100", "2099/01/02 03:04", TOPIC,
		       "https://cb.partner.example/join/m-100?x=1&y=2");
	m = next_element(m->next);
	expect_meeting(m, "m-200", "2099/07/04 16:30", "Zoë's über-meeting",
		       "https://cb.partner.example/join/m-200");
	m = next_element(m->next);
	expect_meeting(m, "m-300", "2099/12/31 23:59", "Third",
		       "https://cb.partner.example/join/m-300");
	assert_null(next_element(m->next));
	/* The topic is escaped in the raw text, not smuggled in as markup. */
	assert_non_null(strstr(r.body, "<__MeetingTopic__>Q&amp;A &lt;Board&gt; "
				       "&quot;2027&quot;</__MeetingTopic__>"));
	xmlFreeDoc(doc);
	cbhttp_free(&r);
	free(recent);
	free(path);
}

static void
test_meeting_list_empty(void **state)
{
	static const char *const none[] = {NULL};
	char *path = login_path(&cb, "empty@m.example", "empty-pw");
	struct cbhttp r;
	xmlDocPtr doc;

	(void)state;
	cbhttp_get(cb.port, path, &r);
	doc = cbxml_parse(&r);
	cbxml_expect_text(xmlDocGetRootElement(doc), "__Status__", "SUCCEED");
	cbxml_expect_children(cbxml_child(xmlDocGetRootElement(doc), "__MeetingList__"), none);
	xmlFreeDoc(doc);
	cbhttp_free(&r);
	free(path);
}

/* ScheduledStartTime in the configured zone, daylight saving included, for any IANA name. */
static void
test_meeting_list_time_zones(void **state)
{
	static const struct {
		const char *zone, *jan, *jul;
	} zones[] = {
	    {"TMPROV_MEETING_TIMEZONE=America/New_York", "2099/01/01 22:04", "2099/07/04 12:30"},
	    {"TMPROV_MEETING_TIMEZONE=Asia/Kolkata", "2099/01/02 08:34", "2099/07/04 22:00"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		const char *env[] = {zones[i].zone, "TMPROV_MEETING_LIST_PAST=0", NULL};
		struct cbproc p;
		struct cbhttp r;
		xmlDocPtr doc;
		xmlNodePtr m;
		char *path;

		cbproc_start(&p, db.conninfo, env);
		path = login_path(&p, "list@m.example", "list-pw");
		cbhttp_get(p.port, path, &r);
		doc = cbxml_parse(&r);
		m = cbxml_child(xmlDocGetRootElement(doc), "__MeetingList__");
		/* A zero past window leaves out the meeting that started two hours ago. */
		m = next_element(m->children);
		cbxml_expect_text(m, "__MeetingId__", "m-100");
		cbxml_expect_text(m, "__ScheduledStartTime__", zones[i].jan);
		m = next_element(m->next);
		cbxml_expect_text(m, "__MeetingId__", "m-200");
		cbxml_expect_text(m, "__ScheduledStartTime__", zones[i].jul);
		xmlFreeDoc(doc);
		cbhttp_free(&r);
		free(path);
		assert_int_equal(cbproc_stop(&p), 0);
	}
}

static char *
hash_of_path(const char *path)
{
	const char *token = strrchr(path, '/') + 1;

	return cbsql_value(conn, "SELECT encode(sha256($1::bytea), 'hex')", token, NULL);
}

/* Each use moves expires_at to now + TTL (20 minutes by default). */
static void
test_session_slides(void **state)
{
	char *path = login_path(&cb, "other@m.example", "other-pw"), *hash = hash_of_path(path);
	char *ok;
	struct cbhttp r;

	(void)state;
	cbsql(conn,
	      "UPDATE sessions SET expires_at = now() + interval '1 minute', last_used_at = "
	      "now() - interval '19 minutes' WHERE token_hash = decode($1, 'hex')",
	      hash, NULL);
	cbhttp_get(cb.port, path, &r);
	assert_non_null(strstr(r.body, "<__MeetingId__>m-others</__MeetingId__>"));
	cbhttp_free(&r);
	ok = cbsql_value(conn,
			 "SELECT expires_at BETWEEN now() + interval '19 minutes 50 seconds' AND "
			 "now() + interval '20 minutes 10 seconds' AND last_used_at > now() - "
			 "interval '1 minute' FROM sessions WHERE token_hash = decode($1, 'hex')",
			 hash, NULL);
	assert_string_equal(ok, "t");
	free(ok);
	free(hash);
	free(path);
}

static void
test_session_expires(void **state)
{
	char *path = login_path(&cb, "other@m.example", "other-pw"), *hash = hash_of_path(path);
	struct cbhttp r;

	(void)state;
	cbhttp_get(cb.port, path, &r);
	assert_non_null(strstr(r.body, "SUCCEED"));
	cbhttp_free(&r);
	/* A session not used for its TTL is over; a use does not revive it. */
	cbsql(conn,
	      "UPDATE sessions SET created_at = now() - interval '30 minutes', expires_at = now() "
	      "- interval '1 second' WHERE token_hash = decode($1, 'hex')",
	      hash, NULL);
	expect_session_failed(cb.port, path);
	expect_session_failed(cb.port, path);
	free(hash);
	free(path);
}

static void
test_session_unknown_tokens(void **state)
{
	static const char *const paths[] = {
	    "/tm/meetings/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* well-formed, unknown */
	    "/tm/meetings/short",
	    "/tm/meetings/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* one too long */
	    "/tm/meetings/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D%3D",
	    "/tm/meetings/'%20OR%201=1--",
	};
	char *path = login_path(&cb, "other@m.example", "other-pw");
	char wrong[256];
	struct cbhttp r;

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		expect_session_failed(cb.port, paths[i]);
	/* One character changed. */
	snprintf(wrong, sizeof(wrong), "%s", path);
	wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'A' ? 'B' : 'A';
	expect_session_failed(cb.port, wrong);
	/* A wrong partner id on the list URL is refused even with a good token. */
	snprintf(wrong, sizeof(wrong), "%s?service_company_uid=partner-other", path);
	cbhttp_get(cb.port, wrong, &r);
	assert_non_null(strstr(r.body, "<__Reason__>invalid service_company_uid</__Reason__>"));
	cbhttp_free(&r);
	snprintf(wrong, sizeof(wrong), "%s?service_company_uid=%s", path, CBTEST_PARTNER);
	cbhttp_get(cb.port, wrong, &r);
	assert_non_null(strstr(r.body, "SUCCEED"));
	cbhttp_free(&r);
	free(path);
}

/* user.delete as the worker does it: the user marked deleted, its sessions removed. */
static void
test_revoked_by_user_delete(void **state)
{
	char *path = login_path(&cb, "gone@m.example", "gone-pw");
	struct cbhttp r;

	(void)state;
	cbhttp_get(cb.port, path, &r);
	assert_non_null(strstr(r.body, "SUCCEED"));
	cbhttp_free(&r);
	cbsql(conn,
	      "UPDATE users SET status = 'deleted', deleted_at = now() "
	      "WHERE subject = 'cust-m' AND user_id = 'u-gone'",
	      NULL);
	cbsql(conn, "DELETE FROM sessions WHERE subject = 'cust-m' AND user_id = 'u-gone'", NULL);
	expect_session_failed(cb.port, path);
	free(path);
}

/* account.delete as the worker does it (account marked deleted, its sessions removed), and an
 * account marked deleted whose sessions are still there: either way the URL is dead. */
static void
test_revoked_by_account_delete(void **state)
{
	char *path = login_path(&cb, "acct@n.example", "acct-pw");
	char *path2 = login_path(&cb, "acct2@n.example", "acct2-pw");
	struct cbhttp r;
	char cred[65], *n;

	(void)state;
	cbhttp_get(cb.port, path, &r);
	assert_non_null(strstr(r.body, "<__MeetingId__>m-acct</__MeetingId__>"));
	cbhttp_free(&r);
	cbsql(conn,
	      "UPDATE accounts SET status = 'deleted', deleted_at = now() WHERE subject = 'cust-n'",
	      NULL);
	/* Sessions still in the table: refused because the account is gone. */
	n = cbsql_value(conn, "SELECT count(*) FROM sessions WHERE subject = 'cust-n'", NULL);
	assert_string_equal(n, "2");
	free(n);
	expect_session_failed(cb.port, path2);
	cbsql(conn, "DELETE FROM sessions WHERE subject = 'cust-n'", NULL);
	expect_session_failed(cb.port, path);
	expect_session_failed(cb.port, path2);
	/* And no new login. */
	cbtest_credential("acct-pw", cred);
	cbhttp_auth(cb.port, "acct@n.example", cred, CBTEST_PARTNER, &r);
	assert_non_null(strstr(r.body, "<__Reason__>invalid email or password</__Reason__>"));
	cbhttp_free(&r);
	free(path);
	free(path2);
}

/* Sends GET path on a connection of its own (Connection: close) without reading the answer:
 * the socket. */
static int
send_get(int port, const char *path)
{
	char req[512];
	int fd = cbtcp_connect(port);
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: cb\r\nConnection: close\r\n\r\n", path);

	assert_true(n > 0 && (size_t)n < sizeof(req));
	assert_int_equal(write(fd, req, (size_t)n), n);
	return fd;
}

/* Reads the answer on fd until the server closes it, at most timeout_ms; closes fd. The answer
 * (malloc'd), or NULL when the time ran out first. */
static char *
read_answer(int fd, int timeout_ms)
{
	long end = clock_now_ms() + timeout_ms;
	size_t len = 0, cap = 65536;
	char *out = malloc(cap);
	ssize_t n = 1;

	assert_non_null(out);
	while (n > 0) {
		struct pollfd pfd = {fd, POLLIN, 0};
		long left = end - clock_now_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) != 1) {
			free(out);
			out = NULL;
			break;
		}
		if ((n = read(fd, out + len, cap - 1 - len)) > 0)
			len += (size_t)n;
		assert_true(len < cap - 1);
	}
	if (out != NULL)
		out[len] = '\0';
	close(fd);
	return out;
}

/* Many lists of four sessions in flight at the same time, one of them due to slide, each get
 * their own user's answer, and the slide is made. */
static void
test_concurrent_lists(void **state)
{
	enum { CLIENTS = 32 };
	char *paths[4] = {login_path(&cb, "list@m.example", "list-pw"),
			  login_path(&cb, "other@m.example", "other-pw"),
			  login_path(&cb, "empty@m.example", "empty-pw"),
			  strdup("/tm/meetings/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")};
	char *hash = hash_of_path(paths[1]), *ok;
	int fds[CLIENTS];

	(void)state;
	cbsql(conn,
	      "UPDATE sessions SET expires_at = now() + interval '1 minute' "
	      "WHERE token_hash = decode($1, 'hex')",
	      hash, NULL);
	for (int i = 0; i < CLIENTS; i++)
		fds[i] = send_get(cb.port, paths[i % 4]);
	for (int i = 0; i < CLIENTS; i++) {
		char *a = read_answer(fds[i], 15000);

		assert_non_null(a);
		switch (i % 4) {
		case 0:
			assert_non_null(strstr(a, "<__MeetingId__>m-100</__MeetingId__>"));
			assert_non_null(strstr(a, "<__MeetingId__>m-300</__MeetingId__>"));
			assert_null(strstr(a, "m-others"));
			break;
		case 1:
			assert_non_null(strstr(a, "<__MeetingId__>m-others</__MeetingId__>"));
			assert_null(strstr(a, "m-100"));
			break;
		case 2:
			assert_non_null(strstr(a, "<__Status__>SUCCEED</__Status__>"));
			assert_null(strstr(a, "<__Meeting__>"));
			break;
		default:
			assert_non_null(
			    strstr(a, "<__Reason__>session expired or invalid</__Reason__>"));
		}
		free(a);
	}
	ok =
	    cbsql_value(conn,
			"SELECT expires_at BETWEEN now() + interval '19 minutes 50 seconds' AND "
			"now() + interval '20 minutes 10 seconds' FROM sessions WHERE token_hash = "
			"decode($1, 'hex')",
			hash, NULL);
	assert_string_equal(ok, "t");
	free(ok);
	free(hash);
	for (int i = 0; i < 4; i++)
		free(paths[i]);
}

static void
test_start_and_join_redirects(void **state)
{
	static const struct {
		const char *method, *path;
		int status;
		const char *location;
	} cases[] = {
	    {"GET", "/start", 302, CBTEST_TM_URL "/as/wapi/goto_downloader?role=host"},
	    {"HEAD", "/start", 302, CBTEST_TM_URL "/as/wapi/goto_downloader?role=host"},
	    {"GET", "/join/123456789", 302,
	     CBTEST_TM_URL "/as/wapi/goto_downloader?role=attendee&meeting_id=123456789"},
	    {"GET", "/join/a%20b&c=d?e", 302,
	     CBTEST_TM_URL "/as/wapi/goto_downloader?role=attendee&meeting_id=a%20b%26c%3Dd"},
	    {"GET", "/join/", 404, NULL},
	    {"GET",
	     "/join/"
	     "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
	     "123456789012345678901",
	     404, NULL},
	    {"POST", "/start", 405, NULL},
	};
	char loc[512];
	struct cbhttp r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("# %s %s\n", cases[i].method, cases[i].path);
		cbhttp_method(cb.port, cases[i].method, cases[i].path, &r);
		assert_int_equal(r.status, cases[i].status);
		if (cases[i].location != NULL) {
			assert_non_null(cbhttp_header(&r, "Location", loc, sizeof(loc)));
			assert_string_equal(loc, cases[i].location);
		}
		cbhttp_free(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_meeting_list),
	    cmocka_unit_test(test_meeting_list_empty),
	    cmocka_unit_test(test_meeting_list_time_zones),
	    cmocka_unit_test(test_session_slides),
	    cmocka_unit_test(test_session_expires),
	    cmocka_unit_test(test_session_unknown_tokens),
	    cmocka_unit_test(test_revoked_by_user_delete),
	    cmocka_unit_test(test_revoked_by_account_delete),
	    cmocka_unit_test(test_start_and_join_redirects),
	    cmocka_unit_test(test_concurrent_lists),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
