/* Integration tests of tmprov-worker, command by command: each of the eight types end to end
 * (tmsim's calls, the rows, the outcome event), commands for subjects without an account,
 * per-subject order, 200 subjects interleaved, every kind of bad input (command.rejected, a
 * byte-for-byte DLQ copy, and the worker going on), and duplicate command ids. Real
 * PostgreSQL, a private tmprov-devkafka and a private tmsim (tests/support/wenv.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "../support/cmdjson.h"
#include "../support/http.h"
#include "../support/wcase.h"
#include "../support/wenv.h"
#include "password.h"

static struct wenv *E;

/* ---- helpers ---- */

static void
session_new(const char *subject, const char *user_id)
{
	char *one = wenv_sql(E,
			     "INSERT INTO sessions (token_hash, subject, user_id, expires_at) "
			     "VALUES (sha256(convert_to($1 || $2 || random()::text, 'UTF8')), $1, "
			     "$2, now() + interval '1 hour') RETURNING 1",
			     subject, user_id, NULL);

	assert_non_null(one);
	free(one);
}

/* The failure reason of a command.failed event, checked to be one. */
static const json_t *
expect_failed(const json_t *ev, const char *command_type, int retryable)
{
	const json_t *d = wcase_data(ev);

	assert_string_equal(wcase_str(d, "command_type"), command_type);
	assert_true(json_is_boolean(json_object_get(d, "retryable")));
	assert_int_equal(json_is_true(json_object_get(d, "retryable")), retryable);
	assert_true(strlen(wcase_str(d, "reason")) > 0);
	return d;
}

static long
sim_total(void)
{
	long n = sim_count(E->sim, NULL);

	assert_true(n >= 0);
	return n;
}

/* ---- account.create ---- */

static void
test_account_create(void **state)
{
	const char *s = "acme-create";
	const json_t *ev, *d;
	char *v, *uid, *body;
	struct kdelivery where;
	json_t *calls, *accts, *a;
	size_t i;
	int found = 0;

	(void)state;
	body =
	    cmdjson_text("create-1", "account.create", s,
			 wcase_account_data("Acme Create & Co", "ops@acme-create.example", 2, 25));
	wenv_send_raw(E, s, body, strlen(body), &where);
	wenv_flush(E);
	free(body);
	ev = wenv_outcome(E, "create-1", s, "account.created");
	d = wcase_data(ev);
	uid = strdup(wcase_str(d, "company_uid"));
	assert_true(strlen(uid) > 0);
	assert_string_equal(wcase_str(d, "company_name"), "Acme Create & Co");
	assert_string_equal(wcase_str(d, "email"), "ops@acme-create.example");
	assert_int_equal(wcase_int(d, "rooms"), 2);
	assert_int_equal(wcase_int(d, "participants"), 25);

	/* Exactly one create_account, with the four fields as TM names them. */
	calls = wenv_sim_list(E, "create_account");
	json_array_foreach(calls, i, a)
	{
		const json_t *p = json_object_get(a, "params");

		if (strcmp(wcase_str(p, "company_name"), "Acme Create & Co") != 0)
			continue;
		found++;
		assert_string_equal(wcase_str(p, "email"), "ops@acme-create.example");
		assert_string_equal(wcase_str(p, "number_of_meeting_room"), "2");
		assert_string_equal(wcase_str(p, "number_of_participant"), "25");
	}
	json_decref(calls);
	assert_int_equal(found, 1);

	/* TM holds the account under the uid the event reports. */
	assert_int_equal(sim_accounts(E->sim, &accts), 0);
	found = 0;
	json_array_foreach(json_object_get(accts, "accounts"), i, a) found +=
	    strcmp(wcase_str(a, "company_uid"), uid) == 0;
	json_decref(accts);
	assert_int_equal(found, 1);

	/* Our row, the command row, one audit row without the partner id, the outbox row. */
	v = wenv_sql(E,
		     "SELECT company_uid || '|' || company_name || '|' || email || '|' || rooms || "
		     "'|' || participants || '|' || status FROM accounts WHERE subject = $1",
		     s, NULL);
	assert_non_null(v);
	{
		char want[256];

		snprintf(want, sizeof(want),
			 "%s|Acme Create & Co|ops@acme-create.example|2|25|active", uid);
		assert_string_equal(v, want);
	}
	free(v);
	v = wenv_sql(
	    E,
	    "SELECT status || '|' || type || '|' || subject || '|' || kafka_topic || '|' || "
	    "kafka_partition || '|' || kafka_offset FROM commands WHERE id = 'create-1'",
	    NULL);
	assert_non_null(v);
	{
		char want[256];

		snprintf(want, sizeof(want), "succeeded|account.create|%s|%s|%d|%lld", s, E->tcmd,
			 (int)where.partition, (long long)where.offset);
		assert_string_equal(v, want);
	}
	free(v);
	assert_int_equal(
	    wenv_sql_long(E,
			  "SELECT count(*) FROM tm_calls WHERE command_id = 'create-1' "
			  "AND endpoint = 'create_account' AND outcome = 'ok' AND "
			  "http_status = 200",
			  NULL),
	    1);
	assert_int_equal(
	    wenv_sql_long(E,
			  "SELECT count(*) FROM tm_calls WHERE command_id = 'create-1' "
			  "AND strpos(url, $1) > 0",
			  sim_partner(E->sim), NULL),
	    0);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM outbox WHERE command_id = 'create-1' "
				       "AND type = 'account.created' AND subject = $1",
				       s, NULL),
			 1);
	free(uid);
}

/* A second create for a subject that has an account is refused without calling TM. */
static void
test_account_create_twice(void **state)
{
	const char *s = "acme-twice";
	char *uid;
	long before;
	const json_t *ev;

	(void)state;
	uid = wcase_account_new(E, s);
	before = sim_total();
	ev = wcase_run1(E, "twice-2", "account.create", s,
			wcase_account_data("Other", "o@twice.example", 1, 1), "command.failed");
	expect_failed(ev, "account.create", 0);
	assert_int_equal(sim_total(), before);
	assert_int_equal(
	    wenv_sql_long(E, "SELECT count(*) FROM accounts WHERE subject = $1", s, NULL), 1);
	free(uid);
}

/* ---- account.update ---- */

static void
test_account_update(void **state)
{
	const char *s = "acme-update";
	const json_t *ev, *d, *p;
	json_t *calls;
	char *uid, *v;
	size_t i;
	json_t *c;
	int found = 0;

	(void)state;
	uid = wcase_account_new(E, s);
	ev = wcase_run1(E, "update-1", "account.update", s, json_pack("{s:i}", "rooms", 5),
			"account.updated");
	d = wcase_data(ev);
	assert_string_equal(wcase_str(d, "company_uid"), uid);
	assert_string_equal(wcase_str(d, "company_name"), "Company acme-update");
	assert_string_equal(wcase_str(d, "email"), "ops@acme-update.example");
	assert_int_equal(wcase_int(d, "rooms"), 5);
	assert_int_equal(wcase_int(d, "participants"), 25);

	/* update_account sends all four fields, the unchanged ones from stored state. */
	calls = wenv_sim_list(E, "update_account");
	json_array_foreach(calls, i, c)
	{
		p = json_object_get(c, "params");
		if (strcmp(wcase_str(p, "company_uid"), uid) != 0)
			continue;
		found++;
		assert_string_equal(wcase_str(p, "company_name"), "Company acme-update");
		assert_string_equal(wcase_str(p, "email"), "ops@acme-update.example");
		assert_string_equal(wcase_str(p, "number_of_meeting_room"), "5");
		assert_string_equal(wcase_str(p, "number_of_participant"), "25");
	}
	json_decref(calls);
	assert_int_equal(found, 1);
	v = wenv_sql(E,
		     "SELECT company_name || '|' || email || '|' || rooms || '|' || participants "
		     "FROM accounts WHERE subject = $1",
		     s, NULL);
	assert_string_equal(v, "Company acme-update|ops@acme-update.example|5|25");
	free(v);

	/* A second partial update merges with the first. */
	ev = wcase_run1(
	    E, "update-2", "account.update", s,
	    json_pack("{s:s, s:i}", "email", "new@acme-update.example", "participants", 40),
	    "account.updated");
	d = wcase_data(ev);
	assert_string_equal(wcase_str(d, "email"), "new@acme-update.example");
	assert_int_equal(wcase_int(d, "rooms"), 5);
	assert_int_equal(wcase_int(d, "participants"), 40);
	v = wenv_sql(E,
		     "SELECT company_name || '|' || email || '|' || rooms || '|' || participants "
		     "FROM accounts WHERE subject = $1",
		     s, NULL);
	assert_string_equal(v, "Company acme-update|new@acme-update.example|5|40");
	free(v);
	free(uid);
}

/* ---- account.query ---- */

static void
test_account_query(void **state)
{
	const char *s = "acme-query";
	const json_t *ev, *d, *tm;
	char *uid, *url, *body = NULL, *v;
	long status = 0;

	(void)state;
	uid = wcase_account_new(E, s);
	ev = wcase_run1(E, "query-1", "account.query", s, NULL, "account.queried");
	d = wcase_data(ev);
	tm = json_object_get(d, "tm");
	assert_string_equal(wcase_str(d, "company_uid"), uid);
	assert_string_equal(wcase_str(tm, "company_name"), "Company acme-query");
	assert_string_equal(wcase_str(tm, "email"), "ops@acme-query.example");
	assert_int_equal(wcase_int(tm, "rooms"), 2);
	assert_int_equal(wcase_int(tm, "participants"), 25);
	assert_int_equal(json_array_size(json_object_get(d, "drift")), 0);
	assert_int_equal(wenv_sim_calls(E, "query_account", "company_uid", uid), 1);

	/* Someone changes the account at TM behind our back: the query reports the drift. */
	url = sim_tm_url(E->sim, "update_account", "company_uid", uid, "company_name",
			 "Company acme-query", "email", "changed@acme-query.example",
			 "number_of_meeting_room", "2", "number_of_participant", "30", NULL);
	assert_int_equal(http_get(url, &status, &body, NULL), HTTP_OK);
	assert_int_equal(status, 200);
	assert_non_null(strstr(body, "SUCCEED"));
	free(body);
	free(url);
	ev = wcase_run1(E, "query-2", "account.query", s, NULL, "account.queried");
	d = wcase_data(ev);
	tm = json_object_get(d, "tm");
	assert_string_equal(wcase_str(tm, "email"), "changed@acme-query.example");
	assert_int_equal(wcase_int(tm, "participants"), 30);
	{
		const json_t *drift = json_object_get(d, "drift");
		int email = 0, parts = 0;
		size_t i;
		json_t *f;

		assert_int_equal(json_array_size(drift), 2);
		json_array_foreach(drift, i, f)
		{
			email |= strcmp(json_string_value(f), "email") == 0;
			parts |= strcmp(json_string_value(f), "participants") == 0;
		}
		assert_true(email && parts);
	}
	/* A query changes nothing of ours. */
	v = wenv_sql(E, "SELECT email || '|' || participants FROM accounts WHERE subject = $1", s,
		     NULL);
	assert_string_equal(v, "ops@acme-query.example|25");
	free(v);
	free(uid);
}

/* ---- user.upsert ---- */

static const struct password_opts PW = {PASSWORD_SHA256_HEX, NULL, 1, 8192, 0, 0};

/* Whether the stored verifier of user accepts password (through the configured scheme). */
static int
user_password_ok(const char *subject, const char *user_id, const char *password)
{
	char cred[256];
	char *ver = wenv_sql(E,
			     "SELECT password_verifier FROM users WHERE subject = $1 AND "
			     "user_id = $2",
			     subject, user_id, NULL);
	int ok;

	assert_non_null(ver);
	assert_int_equal(password_credential(&PW, password, cred, sizeof(cred)), 0);
	ok = password_verify(&PW, ver, cred);
	free(ver);
	return ok;
}

static void
test_user_upsert(void **state)
{
	const char *s = "acme-users";
	char *uid, *v, *ver1, *ver2, digest[PASSWORD_VERIFIER_MAX];
	const json_t *ev;
	long before;

	(void)state;
	uid = wcase_account_new(E, s);
	before = sim_total();
	ev = wcase_run1(E, "users-1", "user.upsert", s,
			json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", "u1", "email",
				  "u1@acme-users.example", "first_name", "Ada", "last_name",
				  "Lovelace", "password", "correct horse battery"),
			"user.upserted");
	assert_string_equal(wcase_str(wcase_data(ev), "user_id"), "u1");
	assert_int_equal(sim_total(), before); /* local only */
	v = wenv_sql(E,
		     "SELECT email || '|' || first_name || '|' || last_name || '|' || status FROM "
		     "users WHERE subject = $1 AND user_id = 'u1'",
		     s, NULL);
	assert_string_equal(v, "u1@acme-users.example|Ada|Lovelace|active");
	free(v);
	/* Only an argon2id verifier of the credential TM will send is kept. */
	ver1 = wenv_sql(E, "SELECT password_verifier FROM users WHERE user_id = 'u1'", NULL);
	assert_non_null(strstr(ver1, "$argon2id$"));
	assert_null(strstr(ver1, "correct horse"));
	assert_int_equal(user_password_ok(s, "u1", "correct horse battery"), 1);
	assert_int_equal(user_password_ok(s, "u1", "wrong horse battery"), 0);

	/* An update without a password keeps the verifier and changes the rest. */
	wcase_run1(E, "users-2", "user.upsert", s,
		   json_pack("{s:s, s:s, s:s, s:s}", "user_id", "u1", "email",
			     "u1@acme-users.example", "first_name", "Augusta", "last_name", "King"),
		   "user.upserted");
	ver2 = wenv_sql(E, "SELECT password_verifier FROM users WHERE user_id = 'u1'", NULL);
	assert_string_equal(ver1, ver2);
	v = wenv_sql(E, "SELECT first_name || ' ' || last_name FROM users WHERE user_id = 'u1'",
		     NULL);
	assert_string_equal(v, "Augusta King");
	free(v);

	/* password_digest is stored as given. */
	{
		char cred[256];

		assert_int_equal(password_credential(&PW, "digest pass 1", cred, sizeof(cred)), 0);
		assert_int_equal(password_verifier_new(&PW, cred, digest), 0);
	}
	wcase_run1(E, "users-3", "user.upsert", s,
		   json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", "u2", "email",
			     "u2@acme-users.example", "first_name", "Grace", "last_name", "Hopper",
			     "password_digest", digest),
		   "user.upserted");
	v = wenv_sql(E, "SELECT password_verifier FROM users WHERE user_id = 'u2'", NULL);
	assert_string_equal(v, digest);
	free(v);
	assert_int_equal(user_password_ok(s, "u2", "digest pass 1"), 1);

	/* An email that another active user has (in any case) is refused. */
	ev = wcase_run1(E, "users-4", "user.upsert", s,
			json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", "u3", "email",
				  "U1@Acme-Users.example", "first_name", "X", "last_name", "Y",
				  "password", "another password"),
			"command.failed");
	expect_failed(ev, "user.upsert", 0);
	assert_int_equal(wenv_sql_long(E, "SELECT count(*) FROM users WHERE user_id = 'u3'", NULL),
			 0);
	/* A new user with neither password nor digest cannot log in, so it is refused. */
	ev = wcase_run1(E, "users-5", "user.upsert", s,
			json_pack("{s:s, s:s, s:s, s:s}", "user_id", "u4", "email",
				  "u4@acme-users.example", "first_name", "X", "last_name", "Y"),
			"command.failed");
	expect_failed(ev, "user.upsert", 0);
	assert_int_equal(sim_total(), before);
	free(ver1);
	free(ver2);
	free(uid);
}

/* The first error of a command.rejected event, checked to name field and contain what. */
static void
expect_rejected_naming(const json_t *ev, const char *field, const char *what)
{
	const json_t *errs = json_object_get(wcase_data(ev), "errors");
	const char *first = json_string_value(json_array_get(errs, 0));

	assert_non_null(first);
	print_message("# rejected: %s\n", first);
	assert_non_null(strstr(first, field));
	assert_non_null(strstr(first, what));
}

/* Defect 9: a password_digest whose argon2 cost is beyond the configured bounds (here the
 * defaults, 64 MiB and 4 passes) would make every login of that email allocate that much: it is
 * rejected, naming the field and the bound, and nothing is stored. One at the bounds is kept. */
static void
test_user_upsert_digest_cost(void **state)
{
	static const struct {
		const char *params, *want; /* m=..,t=..,p=.. and what the error names */
	} over[] = {
	    {"m=4194304,t=2,p=1", "TMPROV_ARGON2_DIGEST_MAX_MEMLIMIT"}, /* 4 GiB */
	    {"m=65537,t=2,p=1", "TMPROV_ARGON2_DIGEST_MAX_MEMLIMIT"},
	    {"m=65536,t=5,p=1", "TMPROV_ARGON2_DIGEST_MAX_OPSLIMIT"},
	    {"m=8192,t=4294967295,p=1", "TMPROV_ARGON2_DIGEST_MAX_OPSLIMIT"},
	};
	const char *s = "acme-dcost",
		   *tail = "$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
	char *uid, digest[PASSWORD_VERIFIER_MAX], id[64];
	const json_t *ev;

	(void)state;
	uid = wcase_account_new(E, s);
	for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
		snprintf(digest, sizeof(digest), "$argon2id$v=19$%s%s", over[i].params, tail);
		snprintf(id, sizeof(id), "dcost-%zu", i);
		ev = wcase_run1(E, id, "user.upsert", s,
				json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", "big", "email",
					  "big@acme-dcost.example", "first_name", "B", "last_name",
					  "G", "password_digest", digest),
				"command.rejected");
		expect_rejected_naming(ev, "data.password_digest", over[i].want);
		wcase_expect_status(E, id, "rejected");
		assert_int_equal(
		    wenv_sql_long(E, "SELECT count(*) FROM users WHERE subject = $1", s, NULL), 0);
	}
	/* At the bounds: kept as given. */
	snprintf(digest, sizeof(digest), "$argon2id$v=19$m=65536,t=4,p=1%s", tail);
	wcase_run1(E, "dcost-ok", "user.upsert", s,
		   json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", "big", "email",
			     "big@acme-dcost.example", "first_name", "B", "last_name", "G",
			     "password_digest", digest),
		   "user.upserted");
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM users WHERE subject = $1 AND "
				       "password_verifier = $2",
				       s, digest, NULL),
			 1);
	free(uid);
}

static long
sessions_of(const char *subject, const char *user_id)
{
	return wenv_sql_long(E, "SELECT count(*) FROM sessions WHERE subject = $1 AND user_id = $2",
			     subject, user_id, NULL);
}

/* Issue 11, 13: a password change ends the user's sessions (a stolen meeting-list URL dies with
 * the old password); an upsert that keeps the password keeps them, and other users' stay. */
static void
test_user_upsert_password_change_ends_sessions(void **state)
{
	const char *s = "acme-pwchg";
	char *uid, digest[PASSWORD_VERIFIER_MAX], cred[256];

	(void)state;
	uid = wcase_account_new(E, s);
	wcase_user_new(E, s, "ann", "password one");
	wcase_user_new(E, s, "bob", "password two");
	session_new(s, "ann");
	session_new(s, "ann");
	session_new(s, "bob");
	/* Names only: the password is kept, so are the sessions. */
	wcase_run1(E, "pwchg-1", "user.upsert", s,
		   json_pack("{s:s, s:s, s:s, s:s}", "user_id", "ann", "email",
			     "ann@acme-pwchg.example", "first_name", "Ann", "last_name", "Other"),
		   "user.upserted");
	assert_int_equal(sessions_of(s, "ann"), 2);
	/* A new password: ann's sessions end, bob's stay. */
	wcase_run1(E, "pwchg-2", "user.upsert", s,
		   json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", "ann", "email",
			     "ann@acme-pwchg.example", "first_name", "Ann", "last_name", "Other",
			     "password", "password three"),
		   "user.upserted");
	assert_int_equal(sessions_of(s, "ann"), 0);
	assert_int_equal(sessions_of(s, "bob"), 1);
	/* A new verifier given as password_digest does the same; the same digest again keeps. */
	assert_int_equal(password_credential(&PW, "password four", cred, sizeof(cred)), 0);
	assert_int_equal(password_verifier_new(&PW, cred, digest), 0);
	wcase_run1(E, "pwchg-3", "user.upsert", s,
		   json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", "bob", "email",
			     "bob@acme-pwchg.example", "first_name", "B", "last_name", "O",
			     "password_digest", digest),
		   "user.upserted");
	assert_int_equal(sessions_of(s, "bob"), 0);
	session_new(s, "bob");
	wcase_run1(E, "pwchg-4", "user.upsert", s,
		   json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", "bob", "email",
			     "bob@acme-pwchg.example", "first_name", "Bob", "last_name", "O",
			     "password_digest", digest),
		   "user.upserted");
	assert_int_equal(sessions_of(s, "bob"), 1);
	free(uid);
}

/* ---- user.delete ---- */

static void
test_user_delete(void **state)
{
	const char *s = "acme-udel";
	char *uid, *v;
	const json_t *ev;
	long before;

	(void)state;
	uid = wcase_account_new(E, s);
	wcase_user_new(E, s, "gone", "password one");
	wcase_user_new(E, s, "stays", "password two");
	session_new(s, "gone");
	session_new(s, "stays");
	before = sim_total();
	ev = wcase_run1(E, "udel-1", "user.delete", s, json_pack("{s:s}", "user_id", "gone"),
			"user.deleted");
	assert_string_equal(wcase_str(wcase_data(ev), "user_id"), "gone");
	v = wenv_sql(E,
		     "SELECT status || '|' || (deleted_at IS NOT NULL) FROM users WHERE "
		     "subject = $1 AND user_id = 'gone'",
		     s, NULL);
	assert_string_equal(v, "deleted|true");
	free(v);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM sessions WHERE subject = $1 AND "
				       "user_id = 'gone'",
				       s, NULL),
			 0);
	/* The other user and session are untouched. */
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM sessions WHERE subject = $1 AND "
				       "user_id = 'stays'",
				       s, NULL),
			 1);
	ev = wcase_run1(E, "udel-2", "user.delete", s, json_pack("{s:s}", "user_id", "nobody"),
			"command.failed");
	expect_failed(ev, "user.delete", 0);
	assert_int_equal(sim_total(), before);
	free(uid);
}

/* ---- meeting.schedule and meeting.cancel ---- */

static void
test_meeting_schedule_cancel(void **state)
{
	const char *s = "acme-meet";
	char *uid, *v, want[256], mid[128];
	const json_t *ev, *d;
	json_t *calls, *c;
	size_t i;
	long before;
	int found = 0;

	(void)state;
	uid = wcase_account_new(E, s);
	wcase_user_new(E, s, "host1", "password host");
	ev = wcase_run1(E, "meet-1", "meeting.schedule", s,
			json_pack("{s:s, s:s, s:s}", "user_id", "host1", "topic",
				  "Quarterly review", "start_time", "2030-01-02T03:04:05Z"),
			"meeting.scheduled");
	d = wcase_data(ev);
	snprintf(mid, sizeof(mid), "%s", wcase_str(d, "meeting_id"));
	assert_true(strlen(mid) > 0);
	assert_string_equal(wcase_str(d, "user_id"), "host1");
	assert_string_equal(wcase_str(d, "topic"), "Quarterly review");
	assert_string_equal(wcase_str(d, "start_time"), "2030-01-02T03:04:05Z");
	snprintf(want, sizeof(want), "http://join.test.example:8090/join/%s", mid);
	assert_string_equal(wcase_str(d, "join_url"), want);
	assert_false(json_is_true(json_object_get(d, "possible_duplicate")));

	calls = wenv_sim_list(E, "remote_schedule");
	json_array_foreach(calls, i, c)
	{
		const json_t *p = json_object_get(c, "params");

		if (strcmp(wcase_str(p, "company_uid"), uid) == 0) {
			found++;
			assert_string_equal(wcase_str(p, "user_id"), "host1");
		}
	}
	json_decref(calls);
	assert_int_equal(found, 1);
	v = wenv_sql(E,
		     "SELECT subject || '|' || user_id || '|' || topic || '|' || join_url || '|' "
		     "|| possible_duplicate || '|' || command_id || '|' || "
		     "(start_time = '2030-01-02T03:04:05Z'::timestamptz) || '|' || "
		     "(canceled_at IS NULL) FROM meetings WHERE meeting_id = $1",
		     mid, NULL);
	{
		char row[512];

		snprintf(row, sizeof(row), "%s|host1|Quarterly review|%s|false|meet-1|true|true", s,
			 want);
		assert_string_equal(v, row);
	}
	free(v);

	/* Cancel is local: no TM call, the meeting leaves the list. */
	before = sim_total();
	ev = wcase_run1(E, "meet-2", "meeting.cancel", s, json_pack("{s:s}", "meeting_id", mid),
			"meeting.canceled");
	assert_string_equal(wcase_str(wcase_data(ev), "meeting_id"), mid);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM meetings WHERE meeting_id = $1 AND "
				       "canceled_at IS NOT NULL",
				       mid, NULL),
			 1);
	/* Unknown meeting, another subject's meeting, unknown user: failed, no TM call. */
	ev = wcase_run1(E, "meet-3", "meeting.cancel", s,
			json_pack("{s:s}", "meeting_id", "no-such-mtg"), "command.failed");
	expect_failed(ev, "meeting.cancel", 0);
	free(wcase_account_new(E, "acme-meet-other"));
	ev = wcase_run1(E, "meet-4", "meeting.cancel", "acme-meet-other",
			json_pack("{s:s}", "meeting_id", mid), "command.failed");
	expect_failed(ev, "meeting.cancel", 0);
	before = sim_total();
	ev = wcase_run1(E, "meet-5", "meeting.schedule", s,
			json_pack("{s:s, s:s, s:s}", "user_id", "nobody", "topic", "x",
				  "start_time", "2030-01-02T03:04:05Z"),
			"command.failed");
	expect_failed(ev, "meeting.schedule", 0);
	assert_int_equal(sim_total(), before);
	free(uid);
}

/* ---- account.delete ---- */

static void
test_account_delete(void **state)
{
	const char *s = "acme-delete";
	char *uid, *v;
	const json_t *ev;
	long before;

	(void)state;
	uid = wcase_account_new(E, s);
	wcase_user_new(E, s, "d1", "password d1");
	wcase_user_new(E, s, "d2", "password d2");
	session_new(s, "d1");
	session_new(s, "d2");
	ev = wcase_run1(E, "delete-1", "account.delete", s, NULL, "account.deleted");
	assert_string_equal(wcase_str(wcase_data(ev), "company_uid"), uid);
	assert_int_equal(wenv_sim_calls(E, "delete_account", "company_uid", uid), 1);
	v = wenv_sql(E,
		     "SELECT status || '|' || (deleted_at IS NOT NULL) FROM accounts WHERE "
		     "subject = $1",
		     s, NULL);
	assert_string_equal(v, "deleted|true");
	free(v);
	/* Users of the account can no longer log in: deleted, sessions gone. */
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM users WHERE subject = $1 AND status "
				       "= 'active'",
				       s, NULL),
			 0);
	assert_int_equal(
	    wenv_sql_long(E, "SELECT count(*) FROM sessions WHERE subject = $1", s, NULL), 0);
	/* Later commands for the deleted account fail without calling TM. */
	before = sim_total();
	ev = wcase_run1(E, "delete-2", "account.update", s, json_pack("{s:i}", "rooms", 3),
			"command.failed");
	expect_failed(ev, "account.update", 0);
	ev = wcase_run1(E, "delete-3", "account.delete", s, NULL, "command.failed");
	expect_failed(ev, "account.delete", 0);
	assert_int_equal(sim_total(), before);
	free(uid);
}

/* ---- no account ---- */

static void
test_no_account(void **state)
{
	const char *s = "nobody-here";
	static const struct {
		const char *id, *type;
	} cases[] = {
	    {"none-1", "account.update"}, {"none-2", "account.delete"},
	    {"none-3", "account.query"},  {"none-4", "user.upsert"},
	    {"none-5", "user.delete"},	  {"none-6", "meeting.schedule"},
	    {"none-7", "meeting.cancel"},
	};
	long before = sim_total();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *data = NULL;
		const json_t *ev, *d;

		if (strcmp(cases[i].type, "account.update") == 0)
			data = json_pack("{s:i}", "rooms", 3);
		else if (strcmp(cases[i].type, "user.upsert") == 0)
			data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", "u", "email",
					 "u@nobody.example", "first_name", "A", "last_name", "B",
					 "password", "password 123");
		else if (strcmp(cases[i].type, "user.delete") == 0)
			data = json_pack("{s:s}", "user_id", "u");
		else if (strcmp(cases[i].type, "meeting.schedule") == 0)
			data = json_pack("{s:s, s:s, s:s}", "user_id", "u", "topic", "t",
					 "start_time", "2030-01-01T00:00:00Z");
		else if (strcmp(cases[i].type, "meeting.cancel") == 0)
			data = json_pack("{s:s}", "meeting_id", "m1");
		ev = wcase_run1(E, cases[i].id, cases[i].type, s, data, "command.failed");
		d = expect_failed(ev, cases[i].type, 0);
		assert_int_equal(wcase_int(d, "attempts"), 0);
		wcase_expect_status(E, cases[i].id, "failed");
	}
	assert_int_equal(sim_total(), before);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM tm_calls WHERE command_id LIKE "
				       "'none-%'",
				       NULL),
			 0);
}

/* ---- order ---- */

/* The outcome types of subject's events in the order the events topic holds them. */
static void
subject_types(const char *subject, char *out, size_t len)
{
	size_t n = kcoll_count(E->events), used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct kmsg *m = kcoll_at(E->events, i);

		if (m->key == NULL || strcmp(m->key, subject) != 0)
			continue;
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? "," : "",
					 wcase_str(m->json, "type"));
		if (used >= len)
			break;
	}
}

static void
test_order_one_subject(void **state)
{
	const char *s = "acme-order";
	const char *ids[] = {"order-1", "order-2", "order-3", "order-4", "order-5"};
	char types[512];
	json_t *calls, *c;
	size_t i;
	char seq[512] = "";
	size_t used = 0;
	const char *uid;

	(void)state;
	/* Back to back, without waiting: each depends on the one before it. */
	wenv_send(E, ids[0], "account.create", s,
		  wcase_account_data("Order Co", "ops@order.example", 1, 10));
	wenv_send(E, ids[1], "user.upsert", s,
		  json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", "oh", "email",
			    "oh@order.example", "first_name", "O", "last_name", "H", "password",
			    "order password"));
	wenv_send(E, ids[2], "account.update", s, json_pack("{s:i}", "rooms", 4));
	wenv_send(E, ids[3], "meeting.schedule", s,
		  json_pack("{s:s, s:s, s:s}", "user_id", "oh", "topic", "In order", "start_time",
			    "2031-05-06T07:08:09Z"));
	wenv_send(E, ids[4], "account.delete", s, NULL);
	wenv_flush(E);
	assert_int_equal(wenv_wait_outcomes(E, ids, 5, WENV_TIMEOUT_MS), 5);
	subject_types(s, types, sizeof(types));
	assert_string_equal(types, "account.created,user.upserted,account.updated,"
				   "meeting.scheduled,account.deleted");
	uid = wcase_str(wcase_data(wenv_outcome(E, ids[0], s, "account.created")), "company_uid");
	wenv_outcome(E, ids[2], s, "account.updated");
	assert_int_equal(wcase_int(wcase_data(wenv_outcome(E, ids[2], s, NULL)), "rooms"), 4);
	wenv_outcome(E, ids[3], s, "meeting.scheduled");
	wenv_outcome(E, ids[4], s, "account.deleted");

	/* TM saw them in the same order. */
	calls = wenv_sim_list(E, NULL);
	json_array_foreach(calls, i, c)
	{
		const json_t *p = json_object_get(c, "params");

		if (strcmp(wcase_str(p, "company_uid"), uid) == 0 ||
		    strcmp(wcase_str(p, "company_name"), "Order Co") == 0)
			used += (size_t)snprintf(seq + used, sizeof(seq) - used, "%s%s",
						 used ? "," : "", wcase_str(c, "endpoint"));
	}
	json_decref(calls);
	assert_string_equal(seq, "create_account,update_account,remote_schedule,delete_account");
}

#define N_INTERLEAVED 200

static void
test_interleaved_200(void **state)
{
	static char ids[3 * N_INTERLEAVED][32];
	const char *idp[3 * N_INTERLEAVED];
	char s[32], name[64], email[64], types[256];
	size_t n = 0;
	json_t *counts;

	(void)state;
	/* Round by round: every subject's create, then every update, then every query. */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N_INTERLEAVED; i++) {
			snprintf(s, sizeof(s), "il-%03d", i);
			snprintf(ids[n], sizeof(ids[n]), "il-%d-%03d", round, i);
			idp[n] = ids[n];
			if (round == 0) {
				snprintf(name, sizeof(name), "Interleaved %03d", i);
				snprintf(email, sizeof(email), "ops@il%03d.example", i);
				wenv_send(E, ids[n], "account.create", s,
					  wcase_account_data(name, email, 1, 5));
			} else if (round == 1) {
				wenv_send(E, ids[n], "account.update", s,
					  json_pack("{s:i}", "rooms", 100 + i));
			} else {
				wenv_send(E, ids[n], "account.query", s, NULL);
			}
			n++;
		}
	}
	wenv_flush(E);
	assert_int_equal(wenv_wait_outcomes(E, idp, n, 45000), n);
	counts = wenv_sim_effective_by(E, "create_account", "company_name");
	for (int i = 0; i < N_INTERLEAVED; i++) {
		const json_t *q;

		snprintf(s, sizeof(s), "il-%03d", i);
		subject_types(s, types, sizeof(types));
		assert_string_equal(types, "account.created,account.updated,account.queried");
		q = wcase_data(wenv_outcome(E, idp[2 * N_INTERLEAVED + i], s, "account.queried"));
		assert_int_equal(wcase_int(json_object_get(q, "tm"), "rooms"), 100 + i);
		assert_int_equal(json_array_size(json_object_get(q, "drift")), 0);
		snprintf(name, sizeof(name), "Interleaved %03d", i);
		assert_int_equal(wenv_count_of(counts, name), 1);
	}
	json_decref(counts);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM accounts WHERE subject LIKE 'il-%' "
				       "AND rooms >= 100 AND status = 'active'",
				       NULL),
			 N_INTERLEAVED);
}

/* ---- bad input ---- */

struct bad {
	const char *name;
	const char *reason; /* the DLQ reason header */
	const char *id;	    /* the command id when it has a usable one and a subject */
	char *body;	    /* malloc'd */
	size_t len;
	struct kdelivery d;
};

static char *
pad_command(size_t *len)
{
	/* A valid command but for its size: an extension attribute of 70,000 characters. */
	json_t *ev = cmdjson_event("bad-big", "account.create", "bad-subject",
				   wcase_account_data("Big", "big@bad.example", 1, 1));
	char *pad = malloc(70001), *s;

	memset(pad, 'x', 70000);
	pad[70000] = '\0';
	json_object_set_new(ev, "pad", json_string(pad));
	s = cmdjson_dump(ev);
	*len = strlen(s);
	free(pad);
	json_decref(ev);
	return s;
}

static void
test_bad_input(void **state)
{
	const char *s = "bad-subject";
	struct bad cases[] = {
	    {"not json", "not_json", NULL, strdup("{\"id\": \"bad-nj\", \"subject\": "), 0, {0}},
	    {"json but not an object", "not_cloudevent", NULL, strdup("[1, 2, 3]"), 0, {0}},
	    {"not a CloudEvent",
	     "not_cloudevent",
	     "bad-ce",
	     strdup("{\"id\":\"bad-ce\",\"subject\":\"bad-subject\",\"type\":\"account.create\","
		    "\"data\":{}}"),
	     0,
	     {0}},
	    {"unknown type",
	     "unknown_type",
	     "bad-type",
	     cmdjson_text("bad-type", "account.explode", s, json_object()),
	     0,
	     {0}},
	    {"schema-invalid",
	     "invalid",
	     "bad-invalid",
	     cmdjson_text("bad-invalid", "account.create", s,
			  wcase_account_data("Invalid", "inv@bad.example", 0, 5)),
	     0,
	     {0}},
	    {"over 64 KiB", "too_large", NULL, NULL, 0, {0}},
	    {"not UTF-8",
	     "not_utf8",
	     NULL,
	     strdup("{\"specversion\":\"1.0\",\"id\":\"bad-utf8\",\"source\":\"t\",\"type\":"
		    "\"account.create\",\"subject\":\"bad-subject\",\"data\":{\"company_name\":"
		    "\"Caf\xC3\x28\",\"email\":\"u@bad.example\",\"rooms\":1,\"participants\":1}}"),
	     0,
	     {0}},
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);
	const json_t *ev;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		if (cases[i].body == NULL)
			cases[i].body = pad_command(&cases[i].len);
		else
			cases[i].len = strlen(cases[i].body);
		wenv_send_raw(E, s, cases[i].body, cases[i].len, &cases[i].d);
	}
	/* Then a good command behind them on the same key (so the same partition). */
	wenv_send(E, "bad-after", "account.create", s,
		  wcase_account_data("After Bad", "after@bad.example", 1, 1));
	wenv_flush(E);
	wenv_outcome(E, "bad-after", s, "account.created");

	for (size_t i = 0; i < n; i++) {
		const struct kmsg *m = wenv_dlq_wait(E, &cases[i].d, 10000);
		char num[32];

		wenv_assert(E, m != NULL, "no DLQ copy of the %s message", cases[i].name);
		/* Byte for byte, and keyed as it came. */
		assert_int_equal(m->len, cases[i].len);
		assert_memory_equal(m->value, cases[i].body, cases[i].len);
		assert_non_null(m->key);
		assert_string_equal(m->key, s);
		assert_string_equal(wcase_str(m->headers, "tmprov.reason"), cases[i].reason);
		assert_string_equal(wcase_str(m->headers, "tmprov.origin.topic"), E->tcmd);
		snprintf(num, sizeof(num), "%d", (int)cases[i].d.partition);
		assert_string_equal(wcase_str(m->headers, "tmprov.origin.partition"), num);
		snprintf(num, sizeof(num), "%lld", (long long)cases[i].d.offset);
		assert_string_equal(wcase_str(m->headers, "tmprov.origin.offset"), num);
		assert_int_equal(wenv_dlq_count(E, &cases[i].d), 1);
		if (cases[i].id != NULL) {
			const json_t *d, *errs;

			ev = wenv_outcome(E, cases[i].id, s, "command.rejected");
			d = wcase_data(ev);
			errs = json_object_get(d, "errors");
			assert_true(json_array_size(errs) >= 1);
			assert_string_equal(wcase_str(d, "reason"), cases[i].reason);
			wcase_expect_status(E, cases[i].id, "rejected");
			if (strcmp(cases[i].reason, "invalid") == 0)
				assert_non_null(strstr(json_string_value(json_array_get(errs, 0)),
						       "data.rooms"));
		}
		free(cases[i].body);
	}
	/* Nothing of the bad ones reached TM. */
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Invalid"), 0);
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Big"), 0);
}

/* ---- duplicate ids ---- */

static void
test_duplicate_ids(void **state)
{
	const char *s = "acme-dup";
	char *body, *other;
	struct kdelivery d;
	const char *sentinel[] = {"dup-q1", "dup-q2"};
	size_t distinct;
	char *v;

	(void)state;
	body = cmdjson_text("dup-1", "account.create", s,
			    wcase_account_data("Dup Co", "ops@dup.example", 3, 9));
	wenv_send_raw(E, s, body, strlen(body), NULL);
	wenv_flush(E);
	wenv_outcome(E, "dup-1", s, "account.created");

	/* The same message again (a producer retry, a replay): nothing happens. A query behind
	 * it on the same subject tells us when the worker has been past it. */
	wenv_send_raw(E, s, body, strlen(body), NULL);
	wenv_send(E, sentinel[0], "account.query", s, NULL);
	wenv_flush(E);
	wenv_outcome(E, sentinel[0], s, "account.queried");
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Dup Co"), 1);
	assert_int_equal(wenv_outcome_messages(E, "dup-1", &distinct), 1);
	assert_int_equal(
	    wenv_sql_long(E, "SELECT count(*) FROM outbox WHERE command_id = 'dup-1'", NULL), 1);

	/* The same id with another body: refused to the DLQ as id_conflict, no event. */
	other = cmdjson_text("dup-1", "account.create", s,
			     wcase_account_data("Dup Co Two", "two@dup.example", 3, 9));
	wenv_send_raw(E, s, other, strlen(other), &d);
	wenv_send(E, sentinel[1], "account.query", s, NULL);
	wenv_flush(E);
	wenv_outcome(E, sentinel[1], s, "account.queried");
	{
		const struct kmsg *m = wenv_dlq_wait(E, &d, 10000);

		wenv_assert(E, m != NULL, "no DLQ copy of the conflicting dup-1");
		assert_string_equal(wcase_str(m->headers, "tmprov.reason"), "id_conflict");
		assert_int_equal(m->len, strlen(other));
		assert_memory_equal(m->value, other, m->len);
	}
	assert_int_equal(wenv_outcome_messages(E, "dup-1", &distinct), 1);
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Dup Co Two"), 0);
	v = wenv_sql(E, "SELECT company_name FROM accounts WHERE subject = $1", s, NULL);
	assert_string_equal(v, "Dup Co");
	free(v);
	wcase_expect_status(E, "dup-1", "succeeded");
	free(body);
	free(other);
}

/* A failed command re-sent under its id is not tried again either, even once it could now
 * succeed: its result is committed. */
static void
test_duplicate_failed_id(void **state)
{
	const char *s = "acme-dupfail";
	char *body = cmdjson_text("dupf-1", "account.update", s, json_pack("{s:i}", "rooms", 7));
	char *uid;
	size_t distinct;

	(void)state;
	wenv_send_raw(E, s, body, strlen(body), NULL);
	wenv_flush(E);
	wenv_outcome(E, "dupf-1", s, "command.failed");
	uid = wcase_account_new(E, s);
	wenv_send_raw(E, s, body, strlen(body), NULL);
	wenv_send(E, "dupf-q", "account.query", s, NULL);
	wenv_flush(E);
	wenv_outcome(E, "dupf-q", s, "account.queried");
	assert_int_equal(wenv_outcome_messages(E, "dupf-1", &distinct), 1);
	assert_int_equal(wenv_sql_long(E, "SELECT rooms FROM accounts WHERE subject = $1", s, NULL),
			 2);
	assert_int_equal(wenv_sim_calls(E, "update_account", "company_uid", uid), 0);
	wcase_expect_status(E, "dupf-1", "failed");
	free(uid);
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_account_create),
	    cmocka_unit_test(test_account_create_twice),
	    cmocka_unit_test(test_account_update),
	    cmocka_unit_test(test_account_query),
	    cmocka_unit_test(test_user_upsert),
	    cmocka_unit_test(test_user_upsert_digest_cost),
	    cmocka_unit_test(test_user_upsert_password_change_ends_sessions),
	    cmocka_unit_test(test_user_delete),
	    cmocka_unit_test(test_meeting_schedule_cancel),
	    cmocka_unit_test(test_account_delete),
	    cmocka_unit_test(test_no_account),
	    cmocka_unit_test(test_order_one_subject),
	    cmocka_unit_test(test_interleaved_200),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_duplicate_ids),
	    cmocka_unit_test(test_duplicate_failed_id),
	};

	return wcase_run(&E, "wcmd", NULL, tests, sizeof(tests) / sizeof(tests[0]));
}
