/* Integration tests of what the worker checks before and around a command's TM call: a Kafka key
 * that is not the subject (key_mismatch), types it does not know (command.rejected as well as
 * the DLQ copy), an id reused by another body while the first is still running (refused before
 * any TM call), delete_account repeated after an attempt that may have acted ("no such
 * account" then means deleted), and an intent whose commit landed but whose acknowledgement was
 * lost (tests/support/pgproxy.h). Real PostgreSQL, tmprov-devkafka and tmsim (wenv.h). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/cmdjson.h"
#include "../support/pgproxy.h"
#include "../support/wcase.h"
#include "../support/wenv.h"

static struct wenv *E;

/* The DLQ copy of d's message, checked to carry reason; borrowed. */
static const struct kmsg *
dlq_expect(const struct kdelivery *d, const char *reason, const char *what)
{
	const struct kmsg *m = wenv_dlq_wait(E, d, 15000);

	wenv_assert(E, m != NULL, "no DLQ copy of %s", what);
	assert_string_equal(wcase_str(m->headers, "tmprov.reason"), reason);
	return m;
}

/* command.rejected for id, with reason and a first error naming field. */
static void
rejected_expect(const char *id, const char *subject, const char *reason, const char *field)
{
	const json_t *d = wcase_data(wenv_outcome(E, id, subject, "command.rejected"));
	const char *first = json_string_value(json_array_get(json_object_get(d, "errors"), 0));

	assert_string_equal(wcase_str(d, "reason"), reason);
	wenv_assert(E, first != NULL && strncmp(first, field, strlen(field)) == 0,
		    "%s: first error \"%s\" does not name %s", id, first ? first : "(none)", field);
	wcase_expect_status(E, id, "rejected");
}

/* ---- defect 6: the Kafka key must be the subject ---- */

static void
test_key_mismatch(void **state)
{
	const char *s = "km-subject";
	struct {
		const char *id, *key;
		struct kdelivery d;
		char *body;
	} c[] = {{"km-other", "km-other-key", {0}, NULL}, {"km-null", NULL, {0}, NULL}};
	size_t n = sizeof(c) / sizeof(c[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		c[i].body = cmdjson_text(c[i].id, "account.create", s,
					 wcase_account_data("Key Mismatch", "km@km.example", 1, 1));
		wenv_send_raw(E, c[i].key, c[i].body, strlen(c[i].body), &c[i].d);
	}
	wenv_flush(E);
	for (size_t i = 0; i < n; i++) {
		const struct kmsg *m = dlq_expect(&c[i].d, "key_mismatch", c[i].id);

		/* Byte for byte, keyed as it came. */
		assert_int_equal(m->len, strlen(c[i].body));
		assert_memory_equal(m->value, c[i].body, m->len);
		if (c[i].key == NULL)
			assert_null(m->key);
		else
			assert_string_equal(m->key, c[i].key);
		rejected_expect(c[i].id, s, "key_mismatch", "key");
		free(c[i].body);
	}
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Key Mismatch"), 0);
	/* The subject is untouched: a correctly keyed create still makes its account. */
	wcase_run1(E, "km-good", "account.create", s,
		   wcase_account_data("Key Match", "km@km.example", 1, 1), "account.created");
}

/* ---- defect 11: an unknown type with a usable id and subject gets command.rejected ---- */

static void
test_unknown_type(void **state)
{
	const char *s = "ut-subject";
	struct {
		const char *id;
		json_t *data; /* stolen by cmdjson_text; NULL: no "data" */
		struct kdelivery d;
	} c[] = {
	    {"ut-object", json_object(), {0}},
	    {"ut-absent", NULL, {0}},
	    {"ut-null", json_null(), {0}},
	    {"ut-string", json_string("boom"), {0}},
	};
	size_t n = sizeof(c) / sizeof(c[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		char *body = cmdjson_text(c[i].id, "account.explode", s, c[i].data);

		wenv_send_raw(E, s, body, strlen(body), &c[i].d);
		free(body);
	}
	wenv_flush(E);
	for (size_t i = 0; i < n; i++) {
		dlq_expect(&c[i].d, "unknown_type", c[i].id);
		rejected_expect(c[i].id, s, "unknown_type", "type");
	}
}

/* ---- issue 11, item 13: an id conflict is found before any TM call ---- */

/* Command A (account.update of subject 1) has made its TM call and is held at its result write
 * by a row lock; command B, the same id with another body (account.query of subject 2), must
 * be refused as id_conflict without calling TM. */
static void
test_conflict_before_call(void **state)
{
	const char *s1 = "ic-one", *s2 = "ic-two";
	char *uid1 = wcase_account_new(E, s1), *uid2 = wcase_account_new(E, s2), *a, *b;
	PGconn *lock = testdb_connect(&E->db);
	struct kdelivery db;
	PGresult *res;
	long queries = -1;

	(void)state;
	res = PQexec(lock, "BEGIN; SELECT 1 FROM accounts WHERE subject = 'ic-one' FOR UPDATE");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	a = cmdjson_text("ic-1", "account.update", s1, json_pack("{s:i}", "rooms", 9));
	b = cmdjson_text("ic-1", "account.query", s2, NULL);
	wenv_send_raw(E, s1, a, strlen(a), NULL);
	wenv_flush(E);
	for (int i = 0; i < 300 && wenv_sim_calls(E, "update_account", "company_uid", uid1) < 1;
	     i++)
		nanosleep(&(struct timespec){0, 50000000L}, NULL);
	wenv_send_raw(E, s2, b, strlen(b), &db);
	wenv_flush(E);
	/* B is refused (after the fix) or has called TM (before it) while A is held. */
	for (int i = 0; i < 200; i++) {
		queries = wenv_sim_calls(E, "query_account", "company_uid", uid2);
		if (queries > 0 || wenv_dlq_wait(E, &db, 50) != NULL)
			break;
	}
	res = PQexec(lock, "COMMIT");
	PQclear(res);
	PQfinish(lock);
	wenv_outcome(E, "ic-1", s1, "account.updated");
	dlq_expect(&db, "id_conflict", "the second ic-1");
	assert_int_equal(wenv_sim_calls(E, "query_account", "company_uid", uid2), 0);
	assert_int_equal(queries, 0);
	free(uid1);
	free(uid2);
	free(a);
	free(b);
}

/* ---- defect 5, rows V2/V3 (delete): "no such account" after an attempt that may have acted ----
 */

static void
delete_expect_done(const char *id, const char *s, const char *uid)
{
	const json_t *ev = wenv_outcome(E, id, s, NULL);

	wenv_assert(E, strcmp(wcase_str(ev, "type"), "account.deleted") == 0, "%s ended %s: %s", id,
		    wcase_str(ev, "type"), wcase_str(wcase_data(ev), "reason"));
	assert_string_equal(wcase_str(wcase_data(ev), "company_uid"), uid);
	wcase_expect_status(E, id, "succeeded");
	assert_int_equal(
	    wenv_sql_long(E,
			  "SELECT count(*) FROM accounts WHERE subject = $1 AND status = "
			  "'deleted'",
			  s, NULL),
	    1);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM users WHERE subject = $1 AND status = "
				       "'active'",
				       s, NULL),
			 0);
	/* TM deleted it once; the repeat found it gone. */
	assert_true(wenv_sim_calls(E, "delete_account", "company_uid", uid) >= 2);
}

static void
delete_after_fault(const char *s, const char *faults)
{
	char *uid = wcase_account_new(E, s), id[64];

	wcase_user_new(E, s, "u1", "password u1");
	snprintf(id, sizeof(id), "%s/delete", s);
	wenv_sim_faults(E, faults);
	wenv_send(E, id, "account.delete", s, NULL);
	wenv_flush(E);
	delete_expect_done(id, s, uid);
	wenv_sim_faults(E, "reset=1");
	free(uid);
}

/* V2: TM deletes, then drops the connection. */
static void
test_delete_drop(void **state)
{
	(void)state;
	delete_after_fault("dd-drop", "only=delete_account&drop_next=1");
}

/* V3: TM deletes and answers after the client's timeout (TMPROV_TM_TIMEOUT=1s). */
static void
test_delete_late(void **state)
{
	(void)state;
	delete_after_fault("dd-late", "only=delete_account&timeout_next=1&timeout_ms=2500");
}

/* The worker dies between TM's delete and the result: its successor finds the call's intent
 * open, repeats it, and "no such account" means done. */
static void
test_delete_crash(void **state)
{
	const char *s = "dd-crash";
	char *uid = wcase_account_new(E, s);

	(void)state;
	wcase_user_new(E, s, "u1", "password u1");
	wenv_sim_faults(E, "only=delete_account&timeout_next=1&timeout_ms=20000");
	wenv_send(E, "dd-crash/delete", "account.delete", s, NULL);
	wenv_flush(E);
	for (int i = 0; i < 300 && wenv_sim_calls(E, "delete_account", "company_uid", uid) < 1; i++)
		nanosleep(&(struct timespec){0, 50000000L}, NULL);
	wenv_assert(E, wenv_sim_calls(E, "delete_account", "company_uid", uid) == 1,
		    "the delete never reached tmsim");
	worker_kill(E->w);
	wenv_sim_faults(E, "reset=1");
	wenv_worker_restart(E, E->w);
	delete_expect_done("dd-crash/delete", s, uid);
	free(uid);
}

/* A worker that crashes says where in its log (crashlog): the backtrace, then the end by the
 * same signal, so that a supervisor (and a fault row) sees the crash it was. Under a sanitizer
 * its own report takes the signal (crashlog.h): not this test's to check. */
static void
test_crash_backtrace(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	skip();
#endif
	assert_int_equal(worker_signal(E->w, SIGSEGV), 0);
	assert_int_equal(worker_wait(E->w, 10000, NULL), 128 + SIGSEGV);
	wenv_assert(E, worker_log_count(E->w, "tmprov-worker: fatal signal, backtrace:") == 1,
		    "no backtrace in the worker's log");
	wenv_worker_restart(E, E->w);
}

/* ---- defect 4: a lost acknowledgement of the intent's commit ---- */

/* The worker's database connections go through a proxy that, once, lets the intent pipeline
 * commit and then drops the connection before the answer: the retry must find its own intent,
 * call TM once and end account.created, not park the create as an unknown outcome. */
static void
test_intent_ack_lost(void **state)
{
	const char *s = "ack-subject";
	const char *host = PQhost(E->pg), *port = PQport(E->pg);
	char err[512], url[2300], setting[2400];
	const char *extra[] = {setting, NULL};
	struct pgproxy *px = NULL;
	struct worker *w = NULL;
	const json_t *ev;

	(void)state;
	wenv_assert(E, pgproxy_start(&px, host, port, err, sizeof(err)) == 0, "%s", err);
	wenv_assert(E, pgproxy_conninfo(px, E->db.conninfo, url, sizeof(url)) == 0, "conninfo");
	snprintf(setting, sizeof(setting), "TMPROV_DATABASE_URL=%s", url);
	assert_int_equal(worker_stop(E->w, WENV_STOP_MS, NULL), 0);
	wenv_assert(E, wenv_worker_start(E, "proxied", extra, &w, err, sizeof(err)) == 0, "%s",
		    err);
	pgproxy_arm(px, "intent_insert");
	wenv_send(E, "ack-1", "account.create", s,
		  wcase_account_data("Ack Lost", "ack@ack.example", 1, 1));
	wenv_flush(E);
	ev = wenv_outcome(E, "ack-1", s, NULL);
	if (strcmp(wcase_str(ev, "type"), "account.created") != 0)
		worker_log_tail(w, 30);
	wenv_assert(E, strcmp(wcase_str(ev, "type"), "account.created") == 0, "ack-1 ended %s: %s",
		    wcase_str(ev, "type"), wcase_str(wcase_data(ev), "reason"));
	assert_int_equal(pgproxy_fired(px), 1);
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", "Ack Lost"), 1);
	wcase_expect_status(E, "ack-1", "succeeded");
	assert_int_equal(worker_stop(w, WENV_STOP_MS, NULL), 0);
	worker_free(w);
	pgproxy_free(px);
	wenv_worker_restart(E, E->w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_mismatch),	 cmocka_unit_test(test_unknown_type),
	    cmocka_unit_test(test_conflict_before_call), cmocka_unit_test(test_delete_drop),
	    cmocka_unit_test(test_delete_late),		 cmocka_unit_test(test_delete_crash),
	    cmocka_unit_test(test_intent_ack_lost),	 cmocka_unit_test(test_crash_backtrace),
	};

	return wcase_run(&E, "wintake", NULL, tests, sizeof(tests) / sizeof(tests[0]));
}
