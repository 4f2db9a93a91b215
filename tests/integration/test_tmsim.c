/* test_tmsim: bin/tmsim end to end over HTTP — each wapi answer and its exact tags, the partner
 * check, every validation, every fault kind, the call log, stats, reset, start-up options,
 * logging, shutdown, concurrency and keep-alive speed. Needs TMPROV_TEST_BIN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support/http.h"
#include "../support/sim.h"
#include "clock.h"

#define XMLDECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

static struct sim *sim; /* shared by the tests that need no special start-up */

/* ---- helpers ---------------------------------------------------------------------------- */

/* GET url; asserts there was an HTTP answer. */
static void
get(const char *url, struct http_res *res)
{
	int rc = http_fetch(url, 10000, res);

	if (rc != HTTP_OK)
		fail_msg("GET %s: no answer (curl %d)", url, res->curl_code);
}

/* The trimmed text of the first <tag> element of an XML document, or NULL (also when the
 * document is not well-formed). Caller frees. */
static char *
xml_value(const char *body, size_t len, const char *tag)
{
	xmlDocPtr doc = xmlReadMemory(body, (int)len, NULL, NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	char *out = NULL;

	for (xmlNodePtr n = root ? root->children : NULL; n != NULL && out == NULL; n = n->next) {
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, tag) == 0) {
			xmlChar *text = xmlNodeGetContent(n);
			const char *s = (const char *)text;
			size_t l;

			while (*s == ' ' || *s == '\n')
				s++;
			l = strlen(s);
			while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\n'))
				l--;
			out = strndup(s, l);
			xmlFree(text);
		}
	}
	xmlFreeDoc(doc);
	return out;
}

static int
xml_well_formed(const char *body, size_t len)
{
	xmlDocPtr doc = xmlReadMemory(body, (int)len, NULL, NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);

	xmlFreeDoc(doc);
	return doc != NULL;
}

static void
assert_tag(const struct http_res *r, const char *tag, const char *want)
{
	char *v = xml_value(r->body, r->len, tag);

	if (v == NULL)
		fail_msg("no <%s> in %s", tag, r->body);
	assert_string_equal(v, want);
	free(v);
}

/* A TM call answered 200 text/xml with Status FAILED and a Reason containing reason. */
static void
assert_failed(const struct http_res *r, const char *reason)
{
	char *v;

	assert_int_equal(r->status, 200);
	assert_string_equal(r->content_type, "text/xml");
	assert_tag(r, "__Status__", "FAILED");
	v = xml_value(r->body, r->len, "__Reason__");
	assert_non_null(v);
	if (strstr(v, reason) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", v, reason);
	free(v);
}

static void
create_named(struct sim *s, const char *name, char uid[37])
{
	char *url =
	    sim_tm_url(s, "create_account", "company_name", name, "email", "ops@acme.example",
		       "number_of_meeting_room", "2", "number_of_participant", "25", NULL);
	struct http_res r;
	char *v;

	get(url, &r);
	assert_int_equal(r.status, 200);
	assert_tag(&r, "__Status__", "SUCCEED");
	v = xml_value(r.body, r.len, "__CompanyUid__");
	assert_non_null(v);
	assert_int_equal(strlen(v), 36);
	memcpy(uid, v, 37);
	free(v);
	http_res_free(&r);
	free(url);
}

static json_t *
control(struct sim *s, const char *path, long want_status)
{
	char url[512];
	json_t *doc = NULL;
	long status = 0;

	snprintf(url, sizeof(url), "%s%s", sim_url(s), path);
	assert_int_equal(http_get_json(url, &status, &doc), HTTP_OK);
	assert_int_equal(status, want_status);
	assert_non_null(doc);
	return doc;
}

static size_t
account_count(struct sim *s)
{
	json_t *doc;
	size_t n;

	assert_int_equal(sim_accounts(s, &doc), 0);
	n = json_array_size(json_object_get(doc, "accounts"));
	json_decref(doc);
	return n;
}

/* The i-th entry of /_sim/calls (new reference to the whole document in *doc). */
static json_t *
call_at(struct sim *s, size_t i, json_t **doc)
{
	assert_int_equal(sim_calls(s, doc), 0);
	return json_array_get(json_object_get(*doc, "calls"), i);
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	if (v == NULL)
		fail_msg("no string \"%s\"", key);
	return v;
}

/* base + path + "?" + pairs (key, value, ..., NULL), values escaped; no partner added. */
static char *
url_from(const char *base, const char *path, const char *const *pairs)
{
	char *url = NULL;
	size_t cap = 0;
	FILE *f = open_memstream(&url, &cap);

	fprintf(f, "%s%s", base, path);
	for (size_t i = 0; pairs[i] != NULL; i += 2) {
		char *v = http_escape(pairs[i + 1]);

		fprintf(f, "%c%s=%s", i == 0 ? '?' : '&', pairs[i], v);
		free(v);
	}
	fclose(f);
	return url;
}

/* ---- setup ------------------------------------------------------------------------------ */

static int
group_setup(void **state)
{
	(void)state;
	xmlInitParser();
	return sim_start(&sim, NULL);
}

static int
group_teardown(void **state)
{
	(void)state;
	return sim_stop_status(sim);
}

static int
reset(void **state)
{
	(void)state;
	return sim_reset(sim);
}

/* ---- the wapi endpoints ----------------------------------------------------------------- */

static void
test_create_account(void **state)
{
	char uid[37], uid2[37], want[256];
	char *url =
	    sim_tm_url(sim, "create_account", "company_name", "Acme", "email", "ops@acme.example",
		       "number_of_meeting_room", "2", "number_of_participant", "25", NULL);
	struct http_res r;
	json_t *doc, *acct, *call;
	char *v;

	(void)state;
	get(url, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/xml");
	v = xml_value(r.body, r.len, "__CompanyUid__");
	assert_non_null(v);
	memcpy(uid, v, 37);
	free(v);
	/* Exactly the spec's shape, including the double underscores. */
	snprintf(want, sizeof(want),
		 XMLDECL "<__Return__><__Status__>SUCCEED</__Status__><__Reason__></__Reason__>"
			 "<__CompanyUid__>%s</__CompanyUid__></__Return__>",
		 uid);
	assert_string_equal(r.body, want);
	/* UUID-like: 8-4-4-4-12 lower-case hex. */
	assert_int_equal(strlen(uid), 36);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(uid[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", uid[i]));
	}
	http_res_free(&r);
	free(url);
	/* The call log names who called: the address, and the User-Agent (this client has none). */
	call = call_at(sim, 0, &doc);
	assert_int_equal(strncmp(jstr(call, "peer"), "127.0.0.1:", 10), 0);
	assert_string_equal(jstr(call, "agent"), "");
	json_decref(doc);

	create_named(sim, "Acme", uid2);
	assert_string_not_equal(uid, uid2);
	assert_int_equal(sim_accounts(sim, &doc), 0);
	acct = json_array_get(json_object_get(doc, "accounts"), 0);
	assert_string_equal(jstr(acct, "company_uid"), uid);
	assert_string_equal(jstr(acct, "company_name"), "Acme");
	assert_string_equal(jstr(acct, "email"), "ops@acme.example");
	assert_int_equal(json_integer_value(json_object_get(acct, "number_of_meeting_room")), 2);
	assert_int_equal(json_integer_value(json_object_get(acct, "number_of_participant")), 25);
	json_decref(doc);
}

static void
test_update_query_delete(void **state)
{
	char uid[37], want[512];
	struct http_res r;
	char *url;

	(void)state;
	create_named(sim, "Acme", uid);
	url = sim_tm_url(sim, "update_account", "company_uid", uid, "company_name", "Acme Two",
			 "email", "new@acme.example", "number_of_meeting_room", "3",
			 "number_of_participant", "40", NULL);
	get(url, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/xml");
	assert_string_equal(r.body, XMLDECL "<__Return__><__Status__>SUCCEED</__Status__>"
					    "<__Reason__></__Reason__></__Return__>");
	http_res_free(&r);
	free(url);

	url = sim_tm_url(sim, "query_account", "company_uid", uid, NULL);
	get(url, &r);
	assert_int_equal(r.status, 200);
	/* query_account says SUCCEEDED, the spec's own spelling. */
	snprintf(want, sizeof(want),
		 XMLDECL "<__Return__><__Status__>SUCCEEDED</__Status__><__Reason__></__Reason__>"
			 "<__CompanyName__>Acme Two</__CompanyName__>"
			 "<__Email__>new@acme.example</__Email__>"
			 "<__NumberOfMeetingRoom__>3</__NumberOfMeetingRoom__>"
			 "<__NumberOfParticipant__>40</__NumberOfParticipant__></__Return__>");
	assert_string_equal(r.body, want);
	http_res_free(&r);

	{
		char *del = sim_tm_url(sim, "delete_account", "company_uid", uid, NULL);

		get(del, &r);
		assert_string_equal(r.body, XMLDECL "<__Return__><__Status__>SUCCEED</__Status__>"
						    "<__Reason__></__Reason__></__Return__>");
		http_res_free(&r);
		get(del, &r); /* deleting twice */
		assert_failed(&r, "company_uid does not exist");
		http_res_free(&r);
		free(del);
	}
	get(url, &r); /* "If the user account has been deleted, FAILED will be returned." */
	assert_failed(&r, "company_uid does not exist");
	http_res_free(&r);
	free(url);
	assert_int_equal(account_count(sim), 0);
}

/* /_sim/edit: an operator's change in TM's console, behind the partner's back. */
static void
test_sim_edit(void **state)
{
	char uid[37], path[256], want[512];
	struct http_res r;
	json_t *doc;
	long calls;
	char *url;

	(void)state;
	create_named(sim, "Acme", uid);
	calls = sim_count(sim, NULL);
	snprintf(path, sizeof(path), "/_sim/edit?company_uid=%s&number_of_meeting_room=9&email=%s",
		 uid, "console%40acme.example");
	doc = control(sim, path, 200);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "account"),
							    "number_of_meeting_room")),
			 9);
	json_decref(doc);
	/* Not a wapi call: the call log does not see it. */
	assert_int_equal(sim_count(sim, NULL), calls);
	url = sim_tm_url(sim, "query_account", "company_uid", uid, NULL);
	get(url, &r);
	snprintf(want, sizeof(want),
		 XMLDECL "<__Return__><__Status__>SUCCEEDED</__Status__><__Reason__></__Reason__>"
			 "<__CompanyName__>Acme</__CompanyName__>"
			 "<__Email__>console@acme.example</__Email__>"
			 "<__NumberOfMeetingRoom__>9</__NumberOfMeetingRoom__>"
			 "<__NumberOfParticipant__>25</__NumberOfParticipant__></__Return__>");
	assert_string_equal(r.body, want);
	http_res_free(&r);

	json_decref(control(sim, "/_sim/edit?company_uid=nope&company_name=X", 404));
	json_decref(control(sim, "/_sim/edit?company_name=X", 400));
	snprintf(path, sizeof(path), "/_sim/edit?company_uid=%s&number_of_participant=-1", uid);
	json_decref(control(sim, path, 400));
	snprintf(path, sizeof(path), "/_sim/edit?company_uid=%s&rooms=3", uid);
	json_decref(control(sim, path, 400));
	snprintf(path, sizeof(path), "/_sim/edit?company_uid=%s&company_name=", uid);
	json_decref(control(sim, path, 400));

	snprintf(path, sizeof(path), "/_sim/edit?company_uid=%s&delete=1", uid);
	json_decref(control(sim, path, 200));
	get(url, &r);
	assert_failed(&r, "company_uid does not exist");
	http_res_free(&r);
	free(url);
	assert_int_equal(account_count(sim), 0);
}

static void
test_remote_schedule(void **state)
{
	char uid[37], other[37], want[256];
	struct http_res r;
	json_t *doc, *meetings;
	char *url, *id1, *id2;

	(void)state;
	create_named(sim, "Acme", uid);
	create_named(sim, "Other", other);
	url = sim_tm_url(sim, "remote_schedule", "company_uid", uid, "user_id", "u-1", NULL);
	get(url, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/xml");
	id1 = xml_value(r.body, r.len, "__MeetingID__");
	assert_non_null(id1);
	assert_int_equal(strlen(id1), 9);
	assert_int_equal(strspn(id1, "0123456789"), 9);
	snprintf(want, sizeof(want),
		 XMLDECL "<__Return__><__Status__>SUCCEED</__Status__><__Reason__></__Reason__>"
			 "<__MeetingID__>%s</__MeetingID__></__Return__>",
		 id1);
	assert_string_equal(r.body, want);
	http_res_free(&r);
	get(url, &r);
	id2 = xml_value(r.body, r.len, "__MeetingID__");
	assert_non_null(id2);
	assert_string_not_equal(id1, id2);
	http_res_free(&r);
	free(url);

	assert_int_equal(sim_accounts(sim, &doc), 0);
	meetings = json_object_get(json_array_get(json_object_get(doc, "accounts"), 0), "meetings");
	assert_int_equal(json_array_size(meetings), 2);
	assert_string_equal(jstr(json_array_get(meetings, 0), "meeting_id"), id1);
	assert_string_equal(jstr(json_array_get(meetings, 0), "user_id"), "u-1");
	assert_int_equal(json_integer_value(json_object_get(doc, "meeting_count")), 2);
	json_decref(doc);

	/* Deleting the account drops its meetings. */
	url = sim_tm_url(sim, "delete_account", "company_uid", uid, NULL);
	get(url, &r);
	assert_tag(&r, "__Status__", "SUCCEED");
	http_res_free(&r);
	free(url);
	assert_int_equal(sim_accounts(sim, &doc), 0);
	assert_int_equal(json_integer_value(json_object_get(doc, "meeting_count")), 0);
	json_decref(doc);
	free(id1);
	free(id2);
}

static void
test_partner_check(void **state)
{
	static const char *const eps[] = {"create_account", "update_account", "delete_account",
					  "query_account", "remote_schedule"};
	char uid[37];

	(void)state;
	create_named(sim, "Acme", uid);
	for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		const char *wrong[] = {"service_company_uid",
				       "not-our-partner",
				       "company_uid",
				       uid,
				       "company_name",
				       "Acme",
				       "email",
				       "a@b.example",
				       "number_of_meeting_room",
				       "1",
				       "number_of_participant",
				       "1",
				       "user_id",
				       "u",
				       NULL};
		char path[64];
		struct http_res r;
		char *url;

		snprintf(path, sizeof(path), "/as/wapi/service/%s", eps[i]);
		url = url_from(sim_url(sim), path, wrong);
		get(url, &r);
		assert_failed(&r, "service_company_uid is not a partner");
		http_res_free(&r);
		free(url);
		url = url_from(sim_url(sim), path, wrong + 2); /* no service_company_uid at all */
		get(url, &r);
		assert_failed(&r, "service_company_uid is missing");
		http_res_free(&r);
		free(url);
	}
	/* Nothing happened: the one account is unchanged and still there. */
	assert_int_equal(account_count(sim), 1);
}

struct bad_case {
	const char *endpoint;
	const char *params[16]; /* "{uid}" stands for an existing company_uid */
	const char *reason;
};

#define FIELDS(name, email, rooms, parts)                                                          \
	"company_name", name, "email", email, "number_of_meeting_room", rooms,                     \
	    "number_of_participant", parts

static const struct bad_case bad_cases[] = {
    {"create_account",
     {"email", "a@b.co", "number_of_meeting_room", "1", "number_of_participant", "1"},
     "company_name is missing"},
    {"create_account", {FIELDS("", "a@b.co", "1", "1")}, "company_name is missing"},
    {"create_account", {FIELDS("\xff\xfe", "a@b.co", "1", "1")}, "company_name is not valid UTF-8"},
    {"create_account", {FIELDS("a\x01z", "a@b.co", "1", "1")}, "company_name is not valid UTF-8"},
    {"create_account",
     {"company_name", "Acme", "number_of_meeting_room", "1", "number_of_participant", "1"},
     "email is missing"},
    {"create_account", {FIELDS("Acme", "nobody", "1", "1")}, "email is not a valid address"},
    {"create_account", {FIELDS("Acme", "a@b", "1", "1")}, "email is not a valid address"},
    {"create_account", {FIELDS("Acme", "@b.co", "1", "1")}, "email is not a valid address"},
    {"create_account", {FIELDS("Acme", "a@.co", "1", "1")}, "email is not a valid address"},
    {"create_account", {FIELDS("Acme", "a b@c.co", "1", "1")}, "email is not a valid address"},
    {"create_account", {FIELDS("Acme", "a@b..co", "1", "1")}, "email is not a valid address"},
    {"create_account", {FIELDS("Acme", "a@b@c.co", "1", "1")}, "email is not a valid address"},
    {"create_account", {FIELDS("Acme", "a@b.co.", "1", "1")}, "email is not a valid address"},
    {"create_account",
     {"company_name", "Acme", "email", "a@b.co", "number_of_participant", "1"},
     "number_of_meeting_room is missing"},
    {"create_account", {FIELDS("Acme", "a@b.co", "0", "1")}, "number_of_meeting_room must be"},
    {"create_account", {FIELDS("Acme", "a@b.co", "-1", "1")}, "number_of_meeting_room must be"},
    {"create_account", {FIELDS("Acme", "a@b.co", "abc", "1")}, "number_of_meeting_room must be"},
    {"create_account", {FIELDS("Acme", "a@b.co", "1.5", "1")}, "number_of_meeting_room must be"},
    {"create_account", {FIELDS("Acme", "a@b.co", "+1", "1")}, "number_of_meeting_room must be"},
    {"create_account", {FIELDS("Acme", "a@b.co", " 1", "1")}, "number_of_meeting_room must be"},
    {"create_account",
     {FIELDS("Acme", "a@b.co", "1000001", "1")},
     "number_of_meeting_room must be"},
    {"create_account",
     {FIELDS("Acme", "a@b.co", "99999999999999999999999", "1")},
     "number_of_meeting_room must be"},
    {"create_account",
     {"company_name", "Acme", "email", "a@b.co", "number_of_meeting_room", "1"},
     "number_of_participant is missing"},
    {"create_account", {FIELDS("Acme", "a@b.co", "1", "0")}, "number_of_participant must be"},
    {"create_account", {FIELDS("Acme", "a@b.co", "1", "x")}, "number_of_participant must be"},
    {"create_account",
     {FIELDS("Acme", "a@b.co", "1", "1"), "email", "b@c.co"},
     "email is given more than once"},
    {"update_account", {FIELDS("Acme", "a@b.co", "1", "1")}, "company_uid is missing"},
    {"update_account",
     {"company_uid", "00000000-0000-4000-8000-000000000000", FIELDS("Acme", "a@b.co", "1", "1")},
     "company_uid does not exist"},
    {"update_account",
     {"company_uid", "{uid}", "company_name", "Acme", "email", "a@b.co", "number_of_meeting_room",
      "1"},
     "number_of_participant is missing"},
    {"update_account",
     {"company_uid", "{uid}", FIELDS("Acme", "bad", "1", "1")},
     "email is not a valid address"},
    {"update_account",
     {"company_uid", "{uid}", FIELDS("Acme", "a@b.co", "1", "-5")},
     "number_of_participant must be"},
    {"delete_account", {NULL}, "company_uid is missing"},
    {"delete_account", {"company_uid", ""}, "company_uid is missing"},
    {"delete_account", {"company_uid", "nope"}, "company_uid does not exist"},
    {"delete_account",
     {"company_uid", "0123456789012345678901234567890123456789"},
     "company_uid is longer than 36"},
    {"query_account", {NULL}, "company_uid is missing"},
    {"query_account", {"company_uid", "nope"}, "company_uid does not exist"},
    {"remote_schedule", {"user_id", "u"}, "company_uid is missing"},
    {"remote_schedule", {"company_uid", "{uid}"}, "user_id is missing"},
    {"remote_schedule", {"company_uid", "{uid}", "user_id", ""}, "user_id is missing"},
    {"remote_schedule", {"company_uid", "nope", "user_id", "u"}, "company_uid does not exist"},
};

static void
test_validation(void **state)
{
	char uid[37], name256[257];

	(void)state;
	create_named(sim, "Keep", uid);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		const char *pairs[20] = {"service_company_uid", sim_partner(sim)};
		size_t n = 2;
		char path[64];
		struct http_res r;
		char *url;

		for (size_t j = 0; c->params[j] != NULL; j++, n++)
			pairs[n] = strcmp(c->params[j], "{uid}") == 0 ? uid : c->params[j];
		pairs[n] = NULL;
		snprintf(path, sizeof(path), "/as/wapi/service/%s", c->endpoint);
		url = url_from(sim_url(sim), path, pairs);
		get(url, &r);
		if (strstr(r.body, c->reason) == NULL)
			fail_msg("case %zu: %s answered %s", i, url, r.body);
		assert_failed(&r, c->reason);
		if (strcmp(c->endpoint, "create_account") == 0)
			assert_tag(&r, "__CompanyUid__", ""); /* empty when FAILED (section 2) */
		http_res_free(&r);
		free(url);
	}
	/* 255 bytes is the longest name accepted. */
	memset(name256, 'n', 256);
	name256[256] = '\0';
	{
		char *url =
		    sim_tm_url(sim, "create_account", FIELDS(name256, "a@b.co", "1", "1"), NULL);
		struct http_res r;

		get(url, &r);
		assert_failed(&r, "company_name is longer than 255");
		http_res_free(&r);
		free(url);
	}
	name256[255] = '\0';
	create_named(sim, name256, uid);
	/* No failed call created or changed anything. */
	assert_int_equal(account_count(sim), 2);
}

static void
test_xml_escaping(void **state)
{
	static const char nasty[] = "A<b>&\"c'</__CompanyName__><x>";
	char uid[37];
	struct http_res r;
	char *url;

	(void)state;
	create_named(sim, nasty, uid);
	url = sim_tm_url(sim, "query_account", "company_uid", uid, NULL);
	get(url, &r);
	assert_true(xml_well_formed(r.body, r.len));
	assert_null(strstr(r.body, "<x>"));
	assert_null(strstr(r.body, "<b>"));
	assert_tag(&r, "__CompanyName__", nasty);
	http_res_free(&r);
	free(url);
}

static void
test_spec_style(void **state)
{
	char uid[37];
	struct http_res r;
	char *url;

	(void)state;
	create_named(sim, "Acme", uid);
	assert_int_equal(sim_faults(sim, "style=spec"), 0);
	url = sim_tm_url(sim, "query_account", "company_uid", uid, NULL);
	get(url, &r);
	/* Laid out like the spec's examples: values on their own indented lines. */
	assert_non_null(strstr(r.body, "<__Status__>\n    SUCCEEDED\n  </__Status__>"));
	assert_tag(&r, "__NumberOfParticipant__", "25");
	http_res_free(&r);
	free(url);
}

static size_t
discard(char *data, size_t size, size_t n, void *cls)
{
	(void)data;
	(void)cls;
	return size * n;
}

static void
test_routes(void **state)
{
	static const char *const missing[] = {"/", "/as/wapi/service/nope",
					      "/as/wapi/service/create_account/", "/_sim/nope",
					      "/as/wapi/goto_downloader"};
	char url[256];
	struct http_res r;
	CURL *curl;
	long status = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		snprintf(url, sizeof(url), "%s%s", sim_url(sim), missing[i]);
		get(url, &r);
		assert_int_equal(r.status, 404);
		http_res_free(&r);
	}
	snprintf(url, sizeof(url), "%s/healthz", sim_url(sim));
	get(url, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	http_res_free(&r);

	/* Only GET: a POST is refused and has no effect. */
	snprintf(url, sizeof(url), "%s/as/wapi/service/create_account", sim_url(sim));
	curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "service_company_uid=x");
	curl_easy_setopt(curl, CURLOPT_NOBODY, 0L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	assert_int_equal(curl_easy_perform(curl), CURLE_OK);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	assert_int_equal(status, 405);
	assert_int_equal(sim_count(sim, NULL), 0);
}

/* ---- faults ----------------------------------------------------------------------------- */

static char *
create_url(const char *name)
{
	return sim_tm_url(sim, "create_account", FIELDS(name, "ops@acme.example", "2", "25"), NULL);
}

static void
test_fault_error_next(void **state)
{
	char *url = create_url("Acme");
	struct http_res r;
	json_t *doc, *c;

	(void)state;
	assert_int_equal(sim_faults(sim, "error_next=2"), 0);
	for (int i = 0; i < 2; i++) {
		get(url, &r);
		assert_int_equal(r.status, 503);
		assert_string_equal(r.content_type, "text/html");
		assert_string_equal(r.retry_after, "");
		http_res_free(&r);
	}
	assert_int_equal(account_count(sim), 0); /* an error answer replaces the call */
	get(url, &r);
	assert_int_equal(r.status, 200);
	assert_tag(&r, "__Status__", "SUCCEED");
	http_res_free(&r);
	assert_int_equal(account_count(sim), 1);

	c = call_at(sim, 0, &doc);
	assert_string_equal(jstr(c, "fault"), "error");
	assert_string_equal(jstr(c, "status"), "");
	c = json_array_get(json_object_get(doc, "calls"), 2);
	assert_string_equal(jstr(c, "fault"), "none");
	assert_string_equal(jstr(c, "status"), "SUCCEED");
	json_decref(doc);
	free(url);
}

static void
test_fault_error_status(void **state)
{
	static const struct {
		const char *faults;
		long status;
		const char *retry_after;
	} cases[] = {
	    {"error_next=1&error_status=429&retry_after=7", 429, "7"},
	    {"error_next=1&error_status=500&retry_after=0", 500, "0"},
	    {"error_next=1&error_status=502&retry_after=", 502, ""},
	    {"error_next=1&error_status=503", 503, ""},
	};
	char *url = create_url("Acme");

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_res r;

		assert_int_equal(sim_faults(sim, cases[i].faults), 0);
		get(url, &r);
		assert_int_equal(r.status, cases[i].status);
		assert_string_equal(r.retry_after, cases[i].retry_after);
		http_res_free(&r);
	}
	free(url);
}

static void
test_fault_error_rate(void **state)
{
	char *url = create_url("Acme");
	struct http_res r;
	int errors = 0;

	(void)state;
	assert_int_equal(sim_faults(sim, "error_rate=1"), 0);
	for (int i = 0; i < 10; i++) {
		get(url, &r);
		errors += r.status == 503;
		http_res_free(&r);
	}
	assert_int_equal(errors, 10);
	assert_int_equal(sim_faults(sim, "error_rate=0.5&seed=42"), 0);
	errors = 0;
	for (int i = 0; i < 200; i++) {
		get(url, &r);
		errors += r.status == 503;
		http_res_free(&r);
	}
	assert_in_range(errors, 60, 140);
	assert_int_equal(account_count(sim), (size_t)(200 - errors));
	assert_int_equal(sim_faults(sim, "error_rate=0"), 0);
	get(url, &r);
	assert_int_equal(r.status, 200);
	http_res_free(&r);
	free(url);
}

static void
test_fault_timeout(void **state)
{
	char *url = create_url("Acme");
	struct http_res r;
	json_t *doc, *c;
	double t0;

	(void)state;
	assert_int_equal(sim_faults(sim, "timeout_next=2&timeout_ms=1200"), 0);
	t0 = clock_now_s();
	assert_int_equal(http_fetch(url, 300, &r), HTTP_NO_ANSWER);
	assert_int_equal(r.curl_code, CURLE_OPERATION_TIMEDOUT);
	assert_true(clock_now_s() - t0 < 1.0);
	/* The call took effect before the answer was held. */
	assert_int_equal(account_count(sim), 1);
	c = call_at(sim, 0, &doc);
	assert_string_equal(jstr(c, "fault"), "timeout");
	assert_string_equal(jstr(c, "status"), "SUCCEED");
	json_decref(doc);

	/* A patient client gets the real answer after timeout_ms. */
	t0 = clock_now_s();
	get(url, &r);
	assert_true(clock_now_s() - t0 >= 1.15);
	assert_int_equal(r.status, 200);
	assert_tag(&r, "__Status__", "SUCCEED");
	http_res_free(&r);
	t0 = clock_now_s();
	get(url, &r);
	assert_true(clock_now_s() - t0 < 1.0);
	http_res_free(&r);
	free(url);
}

static void
test_fault_drop(void **state)
{
	char *url = create_url("Acme");
	struct http_res r;
	json_t *doc, *c;

	(void)state;
	assert_int_equal(sim_faults(sim, "drop_next=1"), 0);
	assert_int_equal(http_fetch(url, 5000, &r), HTTP_NO_ANSWER);
	assert_int_equal(r.curl_code, CURLE_GOT_NOTHING);
	assert_int_equal(r.status, 0);
	assert_int_equal(account_count(sim), 1); /* the effect happened */
	c = call_at(sim, 0, &doc);
	assert_string_equal(jstr(c, "fault"), "drop");
	assert_string_equal(jstr(c, "status"), "SUCCEED");
	json_decref(doc);
	get(url, &r);
	assert_int_equal(r.status, 200);
	http_res_free(&r);
	free(url);
}

static void
test_fault_malformed_and_html(void **state)
{
	char *url = create_url("Acme");
	struct http_res r;
	json_t *doc;

	(void)state;
	assert_int_equal(sim_faults(sim, "malformed_next=1&html_next=1"), 0);
	/* Malformed comes first: a 200 XML answer cut short, after the effect. */
	get(url, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/xml");
	assert_true(r.len > 0);
	assert_false(xml_well_formed(r.body, r.len));
	assert_null(strstr(r.body, "</__Return__>"));
	http_res_free(&r);
	assert_int_equal(account_count(sim), 1);
	/* Then an HTML error page with status 200, without effect. */
	get(url, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/html");
	assert_non_null(strstr(r.body, "<html>"));
	http_res_free(&r);
	assert_int_equal(account_count(sim), 1);
	assert_string_equal(jstr(call_at(sim, 0, &doc), "fault"), "malformed");
	assert_string_equal(jstr(json_array_get(json_object_get(doc, "calls"), 1), "fault"),
			    "html");
	json_decref(doc);
	free(url);
}

struct timed_call {
	const char *url;
	struct http_res res;
	int rc;
};

static void *
timed_call_run(void *arg)
{
	struct timed_call *t = arg;

	t->rc = http_fetch(t->url, 10000, &t->res);
	return NULL;
}

static void
test_fault_latency(void **state)
{
	char *url = create_url("Acme");
	struct timed_call calls[8];
	pthread_t threads[8];
	struct http_res r;
	double t0, took;

	(void)state;
	assert_int_equal(sim_faults(sim, "latency_ms=300"), 0);
	t0 = clock_now_s();
	get(url, &r);
	took = clock_now_s() - t0;
	assert_true(took >= 0.29);
	assert_true(took < 2.0);
	http_res_free(&r);
	/* Eight calls at once take about one latency, not eight: sleeps do not serialise. */
	t0 = clock_now_s();
	for (int i = 0; i < 8; i++) {
		calls[i].url = url;
		assert_int_equal(pthread_create(&threads[i], NULL, timed_call_run, &calls[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(calls[i].rc, HTTP_OK);
		assert_int_equal(calls[i].res.status, 200);
		http_res_free(&calls[i].res);
	}
	took = clock_now_s() - t0;
	print_message("8 concurrent calls with latency_ms=300 took %.3f s\n", took);
	assert_true(took >= 0.29);
	assert_true(took < 1.5);
	free(url);
}

static void
test_fault_only(void **state)
{
	char uid[37], *create = create_url("Acme"), *query, *value;
	struct http_res r;

	(void)state;
	assert_int_equal(sim_faults(sim, "only=query_account&error_next=1&drop_next=0"), 0);
	get(create, &r);
	assert_int_equal(r.status, 200);
	assert_tag(&r, "__Status__", "SUCCEED");
	value = xml_value(r.body, r.len, "__CompanyUid__");
	assert_non_null(value);
	snprintf(uid, sizeof(uid), "%s", value);
	free(value);
	http_res_free(&r);
	query = sim_tm_url(sim, "query_account", "company_uid", uid, NULL);
	get(query, &r);
	assert_int_equal(r.status, 503);
	http_res_free(&r);
	get(query, &r);
	assert_int_equal(r.status, 200);
	http_res_free(&r);
	/* only= scopes error_rate too; unscoped settings in another call still apply everywhere. */
	assert_int_equal(sim_faults(sim, "only=create_account&error_rate=1"), 0);
	get(query, &r);
	assert_int_equal(r.status, 200);
	http_res_free(&r);
	get(create, &r);
	assert_int_equal(r.status, 503);
	http_res_free(&r);
	free(create);
	free(query);
}

static void
test_fault_fail_company(void **state)
{
	char uid[37], *url;
	struct http_res r;

	(void)state;
	assert_int_equal(sim_faults(sim, "fail_company=Acme,Bad%20Co"), 0);
	url = create_url("Acme");
	get(url, &r);
	assert_failed(&r, "fail_company");
	http_res_free(&r);
	create_named(sim, "Good", uid);
	free(url);
	url = sim_tm_url(sim, "update_account", "company_uid", uid,
			 FIELDS("Bad Co", "a@b.co", "1", "1"), NULL);
	get(url, &r);
	assert_failed(&r, "fail_company");
	http_res_free(&r);
	free(url);
	assert_int_equal(sim_faults(sim, "fail_company="), 0); /* empty: cleared */
	create_named(sim, "Acme", uid);
	assert_int_equal(account_count(sim), 2);
}

/* malformed_for: every call naming one of the values (a company_uid, a name, an email) acts
 * but answers garbage; other accounts are answered as usual. */
static void
test_fault_malformed_for(void **state)
{
	char bad[37], good[37], q[64], *url, *v;
	struct http_res r;
	json_t *calls;

	(void)state;
	create_named(sim, "Garbled", bad);
	create_named(sim, "Fine", good);
	snprintf(q, sizeof(q), "malformed_for=%s", bad);
	assert_int_equal(sim_faults(sim, q), 0);
	for (int i = 0; i < 3; i++) { /* for ever, not for the next call only */
		url = sim_tm_url(sim, "query_account", "company_uid", bad, NULL);
		get(url, &r);
		assert_int_equal(r.status, 200);
		v = xml_value(r.body, r.len, "__Status__");
		assert_null(v); /* not well-formed */
		http_res_free(&r);
		free(url);
	}
	url = sim_tm_url(sim, "query_account", "company_uid", good, NULL);
	get(url, &r);
	assert_tag(&r, "__Status__", "SUCCEEDED");
	http_res_free(&r);
	free(url);
	/* The garbled call acted: an update is applied, only its answer is lost. */
	url = sim_tm_url(sim, "update_account", "company_uid", bad,
			 FIELDS("Garbled 2", "g@b.co", "3", "4"), NULL);
	get(url, &r);
	assert_null(xml_value(r.body, r.len, "__Status__"));
	http_res_free(&r);
	free(url);
	assert_int_equal(sim_calls(sim, &calls), 0);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(calls, "calls"), 4), "fault")),
			    "malformed");
	json_decref(calls);
	/* By name too; and an empty list clears it. */
	assert_int_equal(sim_faults(sim, "malformed_for=Acme"), 0);
	url = create_url("Acme");
	get(url, &r);
	assert_null(xml_value(r.body, r.len, "__Status__"));
	http_res_free(&r);
	assert_int_equal(sim_faults(sim, "malformed_for="), 0);
	get(url, &r);
	assert_tag(&r, "__Status__", "SUCCEED");
	http_res_free(&r);
	free(url);
}

static void
test_fault_reset_param(void **state)
{
	char *url = create_url("Acme");
	struct http_res r;
	json_t *doc;

	(void)state;
	assert_int_equal(sim_faults(sim, "error_next=5&latency_ms=10&fail_company=X"), 0);
	assert_int_equal(sim_faults(sim, "reset=1&timeout_ms=5000"), 0);
	doc = control(sim, "/_sim/faults", 200);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(doc, "faults"), "latency_ms")), 0);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(doc, "faults"), "timeout_ms")),
	    5000);
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(doc, "faults"), "fail_company")), 0);
	json_decref(doc);
	get(url, &r);
	assert_int_equal(r.status, 200);
	http_res_free(&r);
	free(url);
}

static void
test_fault_bad_params(void **state)
{
	static const char *const bad[] = {
	    "bogus=1",
	    "error_rate=2",
	    "error_rate=-0.1",
	    "error_rate=x",
	    "error_rate=",
	    "error_status=405",
	    "error_status=200",
	    "malformed_for=a&malformed_for=b",
	    "latency_ms=-1",
	    "latency_ms=abc",
	    "latency_ms=600001",
	    "only=nope",
	    "error_next=1.5",
	    "timeout_ms=",
	    "retry_after=x",
	    "style=fancy",
	    "reset=2",
	    "drop_next=-1",
	    "error_next=1&error_next=2",
	    "latency_ms=9&bogus=1",
	    "malformed_next=x",
	    "html_next=",
	};
	char url[512];

	(void)state;
	assert_int_equal(sim_faults(sim, "latency_ms=7"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *doc, *faults;
		long status = 0;

		snprintf(url, sizeof(url), "%s/_sim/faults?%s", sim_url(sim), bad[i]);
		assert_int_equal(http_get_json(url, &status, &doc), HTTP_OK);
		if (status != 400)
			fail_msg("faults %s: status %ld, not 400", bad[i], status);
		assert_true(strlen(jstr(doc, "error")) > 0);
		json_decref(doc);
		/* All or nothing: the settings are unchanged. */
		doc = control(sim, "/_sim/faults", 200);
		faults = json_object_get(doc, "faults");
		assert_int_equal(json_integer_value(json_object_get(faults, "latency_ms")), 7);
		assert_int_equal(json_object_size(json_object_get(faults, "scopes")), 0);
		json_decref(doc);
	}
}

/* ---- call log, stats, reset ------------------------------------------------------------- */

static void
test_calllog_and_stats(void **state)
{
	char uid[37], *url;
	struct http_res r;
	json_t *doc, *calls, *c, *params;

	(void)state;
	create_named(sim, "Acme & Sons", uid);
	url = url_from(sim_url(sim), "/as/wapi/service/query_account",
		       (const char *const[]){"service_company_uid", "wrong", "company_uid", uid,
					     "extra", "kept", NULL});
	get(url, &r);
	http_res_free(&r);
	free(url);
	url = sim_tm_url(sim, "remote_schedule", "company_uid", uid, "user_id", "u-9", NULL);
	get(url, &r);
	http_res_free(&r);
	free(url);

	assert_int_equal(sim_calls(sim, &doc), 0);
	calls = json_object_get(doc, "calls");
	assert_int_equal(json_array_size(calls), 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(
		    json_integer_value(json_object_get(json_array_get(calls, i), "seq")), i + 1);
	c = json_array_get(calls, 0);
	assert_string_equal(jstr(c, "endpoint"), "create_account");
	params = json_object_get(c, "params");
	assert_int_equal(json_object_size(params), 5);
	assert_string_equal(jstr(params, "service_company_uid"), sim_partner(sim));
	assert_string_equal(jstr(params, "company_name"), "Acme & Sons");
	assert_string_equal(jstr(params, "email"), "ops@acme.example");
	assert_string_equal(jstr(params, "number_of_meeting_room"), "2");
	assert_string_equal(jstr(params, "number_of_participant"), "25");
	assert_string_equal(jstr(c, "fault"), "none");
	assert_string_equal(jstr(c, "status"), "SUCCEED");
	assert_string_equal(jstr(c, "reason"), "");
	c = json_array_get(calls, 1);
	assert_string_equal(jstr(c, "endpoint"), "query_account");
	assert_string_equal(jstr(json_object_get(c, "params"), "extra"), "kept");
	assert_string_equal(jstr(c, "status"), "FAILED");
	assert_non_null(strstr(jstr(c, "reason"), "service_company_uid"));
	c = json_array_get(calls, 2);
	assert_string_equal(jstr(c, "endpoint"), "remote_schedule");
	assert_string_equal(jstr(json_object_get(c, "params"), "user_id"), "u-9");
	json_decref(doc);

	doc = control(sim, "/_sim/calls?since=1&endpoint=remote_schedule", 200);
	assert_int_equal(json_array_size(json_object_get(doc, "calls")), 1);
	json_decref(doc);
	doc = control(sim, "/_sim/calls?since=2", 200);
	assert_int_equal(json_array_size(json_object_get(doc, "calls")), 1);
	json_decref(doc);
	json_decref(control(sim, "/_sim/calls?since=x", 400));
	json_decref(control(sim, "/_sim/calls?endpoint=nope", 400));
	json_decref(control(sim, "/_sim/calls?limit=1", 400));

	assert_int_equal(sim_count(sim, NULL), 3);
	assert_int_equal(sim_count(sim, "create_account"), 1);
	assert_int_equal(sim_count(sim, "query_account"), 1);
	assert_int_equal(sim_count(sim, "remote_schedule"), 1);
	assert_int_equal(sim_count(sim, "update_account"), 0);
	assert_int_equal(sim_count(sim, "delete_account"), 0);
	doc = control(sim, "/_sim/stats", 200);
	assert_int_equal(json_integer_value(json_object_get(doc, "total")), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(doc, "by_status"), "FAILED")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(doc, "by_fault"), "none")), 3);
	json_decref(doc);
}

static void
test_reset(void **state)
{
	char uid[37], *url = create_url("Acme");
	struct http_res r;
	json_t *doc;

	(void)state;
	create_named(sim, "Acme", uid);
	assert_int_equal(sim_faults(sim, "error_next=3&latency_ms=2000"), 0);
	assert_int_equal(sim_reset(sim), 0);
	assert_int_equal(account_count(sim), 0);
	assert_int_equal(sim_count(sim, NULL), 0);
	assert_int_equal(sim_calls(sim, &doc), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "calls")), 0);
	json_decref(doc);
	get(url, &r); /* faults are gone too */
	assert_int_equal(r.status, 200);
	assert_true(r.seconds < 1.0); /* not the 2 s latency any more */
	http_res_free(&r);
	/* Sequence numbers start again at 1. */
	assert_int_equal(json_integer_value(json_object_get(call_at(sim, 0, &doc), "seq")), 1);
	json_decref(doc);
	free(url);
}

/* ---- start-up, logs, shutdown ----------------------------------------------------------- */

static void
test_start_faults(void **state)
{
	struct sim *s;
	struct http_res r;
	char *url;

	(void)state;
	assert_int_equal(sim_start(&s, "error_next=1&error_status=502"), 0);
	url = sim_tm_url(s, "query_account", "company_uid", "x", NULL);
	get(url, &r);
	assert_int_equal(r.status, 502);
	http_res_free(&r);
	get(url, &r);
	assert_failed(&r, "company_uid does not exist");
	http_res_free(&r);
	free(url);
	assert_int_equal(sim_stop_status(s), 0);
}

/* Runs bin/tmsim with args and the partner (NULL: none) and returns its exit status; its
 * stdout and stderr go to *out (caller frees). */
static int
run_tmsim(const char *const *args, const char *partner, char **out)
{
	char exe[1024], partner_env[256];
	const char *argv[8] = {"tmsim"};
	char *env[4] = {"PATH=/usr/bin:/bin", NULL};
	int fds[2], status = -1, n = 1;
	size_t len = 0, cap = 0;
	char buf[4096];
	ssize_t got;
	pid_t pid;

	snprintf(exe, sizeof(exe), "%s/tmsim", getenv("TMPROV_TEST_BIN"));
	for (size_t i = 0; args[i] != NULL && n < 7; i++)
		argv[n++] = args[i];
	if (partner != NULL) {
		snprintf(partner_env, sizeof(partner_env), "TMPROV_PARTNER_ID=%s", partner);
		env[1] = partner_env;
	}
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		execve(exe, (char *const *)argv, env);
		_exit(127);
	}
	close(fds[1]);
	*out = NULL;
	while ((got = read(fds[0], buf, sizeof(buf))) > 0) {
		if (len + (size_t)got + 1 > cap) {
			cap = (len + (size_t)got + 1) * 2;
			*out = realloc(*out, cap);
			assert_non_null(*out);
		}
		memcpy(*out + len, buf, (size_t)got);
		len += (size_t)got;
		(*out)[len] = '\0';
	}
	close(fds[0]);
	if (*out == NULL)
		*out = strdup("");
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void
test_print_config(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(run_tmsim((const char *[]){"--listen", "127.0.0.1:9999", "--faults",
						    "latency_ms=5", "--print-config", NULL},
				   "s3cret-partner-id", &out),
			 0);
	assert_null(strstr(out, "s3cret"));
	assert_non_null(strstr(out, "TMPROV_PARTNER_ID=********\n"));
	assert_non_null(strstr(out, "TMSIM_LISTEN=127.0.0.1:9999\n"));
	assert_non_null(strstr(out, "TMSIM_FAULTS=latency_ms=5\n"));
	assert_non_null(strstr(out, "TMPROV_LOG_LEVEL=info\n"));
	free(out);
	/* Without the required partner id: a configuration error naming it. */
	assert_int_equal(run_tmsim((const char *[]){"--print-config", NULL}, NULL, &out), 2);
	assert_non_null(strstr(out, "TMPROV_PARTNER_ID"));
	free(out);
	/* A bad start-up fault and a bad listen address are configuration errors too. */
	assert_int_equal(
	    run_tmsim((const char *[]){"--faults", "bogus=1", "--listen", "127.0.0.1:0", NULL}, "p",
		      &out),
	    2);
	assert_non_null(strstr(out, "bogus"));
	free(out);
	assert_int_equal(run_tmsim((const char *[]){"--listen", "nope", NULL}, "p", &out), 2);
	assert_non_null(strstr(out, "TMSIM_LISTEN"));
	free(out);
	assert_int_equal(run_tmsim((const char *[]){"--frobnicate", NULL}, "p", &out), 2);
	free(out);
}

static char *
file_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *data = NULL;
	size_t cap = 0;
	ssize_t n;

	assert_non_null(f);
	n = getdelim(&data, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(data);
		return strdup("");
	}
	return data;
}

static void
test_logs(void **state)
{
	static const char partner[] = "partner-secret-7f3a";
	struct sim_opts opts = {.partner = partner, .log_level = "debug"};
	struct sim *s;
	char uid[37], *url, *log;
	struct http_res r;
	int lines = 0;

	(void)state;
	assert_int_equal(sim_start_opts(&s, &opts), 0);
	assert_string_equal(sim_partner(s), partner);
	create_named(s, "Acme", uid);
	url = sim_tm_url(s, "query_account", "company_uid", uid, NULL);
	get(url, &r);
	assert_tag(&r, "__Status__", "SUCCEEDED");
	http_res_free(&r);
	free(url);
	url = sim_tm_url(s, "delete_account", "company_uid", "nope", NULL);
	get(url, &r);
	http_res_free(&r);
	free(url);
	log = file_read(sim_log_path(s));
	for (char *p = log; (p = strstr(p, "\"msg\":\"call seq=")) != NULL; p++)
		lines++;
	assert_int_equal(lines, 3); /* one debug line per call */
	assert_non_null(strstr(log, "endpoint=query_account"));
	assert_null(strstr(log, partner));
	assert_null(strstr(log, "secret-7f3a"));
	free(log);
	assert_int_equal(sim_stop_status(s), 0);
}

static void
test_call_log_cap(void **state)
{
	static const char *const env[] = {"TMSIM_CALL_LOG_MAX=3", NULL};
	struct sim_opts opts = {.env = env};
	struct sim *s;
	json_t *doc, *calls;
	char *url;

	(void)state;
	assert_int_equal(sim_start_opts(&s, &opts), 0);
	url = sim_tm_url(s, "query_account", "company_uid", "x", NULL);
	for (int i = 0; i < 5; i++) {
		struct http_res r;

		get(url, &r);
		http_res_free(&r);
	}
	free(url);
	assert_int_equal(sim_calls(s, &doc), 0);
	calls = json_object_get(doc, "calls");
	assert_int_equal(json_array_size(calls), 3); /* the newest three */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(calls, 0), "seq")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(calls, 2), "seq")), 5);
	json_decref(doc);
	assert_int_equal(sim_count(s, NULL), 5);
	doc = control(s, "/_sim/stats", 200);
	assert_int_equal(json_integer_value(json_object_get(doc, "log_dropped")), 2);
	json_decref(doc);
	assert_int_equal(sim_stop_status(s), 0);
}

static void
test_sigterm_during_hold(void **state)
{
	struct sim *s;
	struct http_res r;
	char *url;
	double t0;

	(void)state;
	assert_int_equal(sim_start(&s, "timeout_next=1&timeout_ms=60000"), 0);
	url = sim_tm_url(s, "query_account", "company_uid", "x", NULL);
	assert_int_equal(http_fetch(url, 200, &r), HTTP_NO_ANSWER);
	assert_int_equal(r.curl_code, CURLE_OPERATION_TIMEDOUT);
	free(url);
	/* A held answer does not hold up shutdown, and tmsim exits 0. */
	t0 = clock_now_s();
	assert_int_equal(sim_stop_status(s), 0);
	assert_true(clock_now_s() - t0 < 3.0);
}

/* ---- concurrency and speed -------------------------------------------------------------- */

struct creator {
	int calls, ok;
	char uids[10][37];
};

static void *
creator_run(void *arg)
{
	struct creator *c = arg;
	char *url = create_url("Many");

	for (int i = 0; i < c->calls; i++) {
		struct http_res r;

		if (http_fetch(url, 10000, &r) == HTTP_OK && r.status == 200) {
			char *uid = xml_value(r.body, r.len, "__CompanyUid__");

			if (uid != NULL && strlen(uid) == 36)
				memcpy(c->uids[c->ok++], uid, 37);
			free(uid);
		}
		http_res_free(&r);
	}
	free(url);
	return NULL;
}

static int
uid_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_concurrent_creates(void **state)
{
	enum { THREADS = 64, EACH = 10 };
	static struct creator creators[THREADS];
	static char all[THREADS * EACH][37];
	pthread_t threads[THREADS];
	json_t *doc, *calls;
	size_t n = 0;

	(void)state;
	assert_int_equal(sim_faults(sim, "latency_ms=20"), 0);
	for (int i = 0; i < THREADS; i++) {
		creators[i] = (struct creator){.calls = EACH};
		assert_int_equal(pthread_create(&threads[i], NULL, creator_run, &creators[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(creators[i].ok, EACH);
		for (int j = 0; j < EACH; j++)
			memcpy(all[n++], creators[i].uids[j], 37);
	}
	qsort(all, n, sizeof(all[0]), uid_cmp);
	for (size_t i = 1; i < n; i++)
		assert_string_not_equal(all[i - 1], all[i]);
	assert_int_equal(account_count(sim), THREADS * EACH);
	assert_int_equal(sim_calls(sim, &doc), 0);
	calls = json_object_get(doc, "calls");
	assert_int_equal(json_array_size(calls), THREADS * EACH);
	for (size_t i = 0; i < json_array_size(calls); i++)
		assert_int_equal(
		    json_integer_value(json_object_get(json_array_get(calls, i), "seq")), i + 1);
	json_decref(doc);
}

static void
test_keepalive_many_calls(void **state)
{
	enum { CALLS = 1000 };
	struct http_conn *c = http_conn_new();
	char *url = sim_tm_url(sim, "query_account", "company_uid", "x", NULL);
	double t0, per_call_ms;

	(void)state;
	assert_non_null(c);
	t0 = clock_now_s();
	for (int i = 0; i < CALLS; i++) {
		long status = 0;
		char *body = NULL;

		assert_int_equal(http_conn_get(c, url, &status, &body, NULL), HTTP_OK);
		assert_int_equal(status, 200);
		free(body);
	}
	per_call_ms = (clock_now_s() - t0) * 1000.0 / CALLS;
	/* Reported, not asserted: speed is make bench's to judge. A Nagle / delayed-ACK stall
	 * would show here as ~40 ms a call. */
	printf("# keep-alive: %d calls, %.3f ms per call\n", CALLS, per_call_ms);
	assert_int_equal(sim_count(sim, "query_account"), CALLS);
	http_conn_free(c);
	free(url);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_create_account, reset),
	    cmocka_unit_test_setup(test_update_query_delete, reset),
	    cmocka_unit_test_setup(test_remote_schedule, reset),
	    cmocka_unit_test_setup(test_sim_edit, reset),
	    cmocka_unit_test_setup(test_partner_check, reset),
	    cmocka_unit_test_setup(test_validation, reset),
	    cmocka_unit_test_setup(test_xml_escaping, reset),
	    cmocka_unit_test_setup(test_spec_style, reset),
	    cmocka_unit_test_setup(test_routes, reset),
	    cmocka_unit_test_setup(test_fault_error_next, reset),
	    cmocka_unit_test_setup(test_fault_error_status, reset),
	    cmocka_unit_test_setup(test_fault_error_rate, reset),
	    cmocka_unit_test_setup(test_fault_timeout, reset),
	    cmocka_unit_test_setup(test_fault_drop, reset),
	    cmocka_unit_test_setup(test_fault_malformed_and_html, reset),
	    cmocka_unit_test_setup(test_fault_latency, reset),
	    cmocka_unit_test_setup(test_fault_only, reset),
	    cmocka_unit_test_setup(test_fault_fail_company, reset),
	    cmocka_unit_test_setup(test_fault_malformed_for, reset),
	    cmocka_unit_test_setup(test_fault_reset_param, reset),
	    cmocka_unit_test_setup(test_fault_bad_params, reset),
	    cmocka_unit_test_setup(test_calllog_and_stats, reset),
	    cmocka_unit_test_setup(test_reset, reset),
	    cmocka_unit_test(test_start_faults),
	    cmocka_unit_test(test_print_config),
	    cmocka_unit_test(test_logs),
	    cmocka_unit_test(test_call_log_cap),
	    cmocka_unit_test(test_sigterm_during_hold),
	    cmocka_unit_test_setup(test_concurrent_creates, reset),
	    cmocka_unit_test_setup(test_keepalive_many_calls, reset),
	};

	if (getenv("TMPROV_TEST_BIN") == NULL) {
		fprintf(stderr,
			"test_tmsim: TMPROV_TEST_BIN is not set (the absolute path of bin/)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
