/* Integration tests of the batched lookups (workers/worker/lookup.h) and grouped results
 * (results.h): many subjects at once, some with an account and some without, looked up in one
 * statement and written in one transaction, each command acting on its own subject's rows only;
 * batches whose statement fails (its session ended while it waits) and a group whose
 * transaction fails (one result breaks a unique index) losing and mixing nothing: their
 * commands go alone. Each stage is held back by a lock on a table it uses, so that the groups
 * form whatever the machine's load. Real PostgreSQL, tmprov-devkafka and tmsim (wenv.h). */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/wcase.h"
#include "../support/wenv.h"
#include "clock.h"

static struct wenv *E;
static PGconn *Held; /* the session holding a stage back (hold), if any */

enum { NACC = 16, NCMD = 2 * NACC, WAIT_MS = 60000 };

/* A grouped stage of the worker: its gauges and its session's application_name. */
struct stage {
	const char *in_flight, *waiting, *app;
};

static const struct stage LOOKUPS = {"tmprov_lookup_batch_in_flight", "tmprov_lookup_waiting",
				     "tmprov-worker lookups"};
static const struct stage RESULTS = {"tmprov_result_group_in_flight", "tmprov_result_waiting",
				     "tmprov-worker results"};

struct burst {
	char prefix[16];
	char uid[NACC][64]; /* company_uid of prefix-a-NNNN */
	char id[NCMD][64];  /* the updates: even with an account, odd without */
	char subject[NCMD][64];
	const char *idp[NCMD];
	long calls_before; /* tmsim's update_account calls before the updates */
};

static double
metric(const char *name, const char *label)
{
	const char *labels[2] = {label, NULL};

	return worker_metric(E->w, name, label ? labels : NULL);
}

/* Accounts for prefix-a-0000 ... (NACC of them), created through the worker. */
static void
burst_accounts(struct burst *b)
{
	char id[NACC][WCASE_ID_MAX], subject[64], name[96], email[96];
	const char *idp[NACC];

	for (int i = 0; i < NACC; i++) {
		snprintf(subject, sizeof(subject), "%s-a-%04d", b->prefix, i);
		snprintf(id[i], sizeof(id[i]), "%s-c-%04d", b->prefix, i);
		snprintf(name, sizeof(name), "Company %s", subject);
		snprintf(email, sizeof(email), "ops@%s.example", subject);
		idp[i] = id[i];
		wenv_send(E, id[i], "account.create", subject,
			  wcase_account_data(name, email, 1, 2));
	}
	wenv_flush(E);
	assert_int_equal(wenv_wait_outcomes(E, idp, NACC, WAIT_MS), NACC);
	for (int i = 0; i < NACC; i++) {
		snprintf(subject, sizeof(subject), "%s-a-%04d", b->prefix, i);
		snprintf(b->uid[i], sizeof(b->uid[i]), "%s",
			 wcase_str(wcase_data(wenv_outcome(E, id[i], subject, "account.created")),
				   "company_uid"));
		assert_true(b->uid[i][0] != '\0');
	}
}

/* account.update of every subject, rooms 100 + its index: half have an account, half none. */
static void
burst_send(struct burst *b)
{
	b->calls_before = wenv_sim_calls(E, "update_account", NULL, NULL);
	for (int i = 0; i < NCMD; i++) {
		if (i % 2 == 0)
			snprintf(b->subject[i], sizeof(b->subject[i]), "%s-a-%04d", b->prefix,
				 i / 2);
		else
			snprintf(b->subject[i], sizeof(b->subject[i]), "%s-n-%04d", b->prefix,
				 i / 2);
		snprintf(b->id[i], sizeof(b->id[i]), "%s-u-%04d", b->prefix, i);
		b->idp[i] = b->id[i];
		wenv_send(E, b->id[i], "account.update", b->subject[i],
			  json_pack("{s:i}", "rooms", 100 + i));
	}
	wenv_flush(E);
}

/* Each command acted on its own subject's rows, once: an account's update carries that
 * account's uid, name and email to TM and into its event; a subject without one failed without
 * a TM call. */
static void
burst_check(struct burst *b)
{
	json_t *calls;
	char name[96], email[96];

	assert_int_equal(wenv_wait_outcomes(E, b->idp, NCMD, WAIT_MS), NCMD);
	calls = wenv_sim_effective_by(E, "update_account", "company_uid");
	for (int i = 0; i < NCMD; i++) {
		const json_t *ev = wenv_outcome(E, b->id[i], b->subject[i], NULL);
		const json_t *d = wcase_data(ev);
		size_t distinct;

		wenv_outcome_messages(E, b->id[i], &distinct);
		assert_int_equal(distinct, 1);
		if (i % 2 == 1) {
			wenv_assert(E, strcmp(wcase_str(ev, "type"), "command.failed") == 0,
				    "%s (no account) ended %s", b->id[i], wcase_str(ev, "type"));
			assert_string_equal(wcase_str(d, "reason"), "no account for subject");
			continue;
		}
		wenv_assert(E, strcmp(wcase_str(ev, "type"), "account.updated") == 0,
			    "%s ended %s: %s", b->id[i], wcase_str(ev, "type"),
			    wcase_str(d, "reason"));
		snprintf(name, sizeof(name), "Company %s", b->subject[i]);
		snprintf(email, sizeof(email), "ops@%s.example", b->subject[i]);
		assert_string_equal(wcase_str(d, "company_uid"), b->uid[i / 2]);
		assert_string_equal(wcase_str(d, "company_name"), name);
		assert_string_equal(wcase_str(d, "email"), email);
		assert_int_equal(wcase_int(d, "rooms"), 100 + i);
		assert_int_equal(wenv_count_of(calls, b->uid[i / 2]), 1);
		wcase_expect_status(E, b->id[i], "succeeded");
	}
	/* And no other account was updated. */
	assert_int_equal(wenv_sim_calls(E, "update_account", NULL, NULL) - b->calls_before, NACC);
	json_decref(calls);
}

/* A session of the test's holding lock (a LOCK TABLE statement) until release: lookups wait
 * for ACCESS EXCLUSIVE on meetings, which each reads; results for SHARE on outbox, where each
 * inserts. The ones that come meanwhile queue behind the one that waits. */
static void
hold(const char *lock)
{
	PGresult *res;
	char sql[128];

	Held = testdb_connect(&E->db);
	assert_non_null(Held);
	snprintf(sql, sizeof(sql), "BEGIN; %s", lock);
	res = PQexec(Held, sql);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
}

#define HOLD_LOOKUPS "LOCK TABLE meetings IN ACCESS EXCLUSIVE MODE"
#define HOLD_RESULTS "LOCK TABLE outbox IN SHARE MODE"

/* Ends the hold; also each test's teardown, so that a failed test leaves nothing held. */
static int
release(void **state)
{
	(void)state;
	PQfinish(Held); /* its transaction ends with it */
	Held = NULL;
	return 0;
}

/* Waits until stage s runs a group of at least min commands with want waiting behind it
 * (want < 0: any), and its session waits for the lock. Returns the group's size. */
static long
wait_batch(const struct stage *s, long min, long want)
{
	long deadline = clock_now_ms() + WAIT_MS, inflight = 0, waiting = 0, locked = 0;

	while (clock_now_ms() < deadline) {
		inflight = (long)metric(s->in_flight, NULL);
		waiting = (long)metric(s->waiting, NULL);
		locked =
		    wenv_sql_long(E,
				  "SELECT count(*) FROM pg_stat_activity WHERE application_name"
				  " = $1 AND datname = current_database()"
				  " AND wait_event_type = 'Lock'",
				  s->app, NULL);
		if (inflight >= min && (want < 0 || waiting == want) && locked == 1)
			return inflight;
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	wenv_assert(E, false,
		    "%s: no group of %ld waiting for the lock (in flight %ld, waiting %ld, "
		    "sessions waiting %ld)",
		    s->app, min, inflight, waiting, locked);
	return 0;
}

/* Waits until all n commands are in stage s: the group that leads (what was there) and the
 * rest queued behind it. Returns the first group's size. */
static long
wait_all(const struct stage *s, long n)
{
	long first = wait_batch(s, 1, -1);

	return wait_batch(s, first, n - first);
}

/* Ends the lookups' session while its batch waits: the batch's statement fails. */
static void
end_batch_session(void)
{
	assert_true(wenv_sql_long(E,
				  "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
				  " WHERE application_name = $1 AND datname = current_database()"
				  " AND wait_event_type = 'Lock'",
				  LOOKUPS.app, NULL) == 1);
}

/* Many subjects at once, half with an account: every lookup is answered in a few statements,
 * each command with its own rows. */
static void
test_batch_mixed(void **state)
{
	struct burst b = {.prefix = "bm"};
	double ok, cmds;

	(void)state;
	burst_accounts(&b);
	ok = metric("tmprov_lookup_statements_total", "result=\"ok\"");
	cmds = metric("tmprov_lookup_commands_total", NULL);
	hold(HOLD_LOOKUPS);
	burst_send(&b);
	wait_all(&LOOKUPS, NCMD);
	release(NULL);
	burst_check(&b);
	ok = metric("tmprov_lookup_statements_total", "result=\"ok\"") - ok;
	cmds = metric("tmprov_lookup_commands_total", NULL) - cmds;
	/* Held back, NCMD lookups went in two statements, not one each. */
	wenv_assert(E, cmds >= NCMD && ok <= cmds / 4, "%.0f lookups in %.0f statements", cmds, ok);
}

/* Two batches whose statement fails, the second of several commands: each command looks itself
 * up, and none is lost, run twice or given another's rows. */
static void
test_batch_fails(void **state)
{
	struct burst b = {.prefix = "bf"};
	double failed;
	long first, second;

	(void)state;
	burst_accounts(&b);
	failed = metric("tmprov_lookup_statements_total", "result=\"failed\"");
	hold(HOLD_LOOKUPS);
	burst_send(&b);
	first = wait_all(&LOOKUPS, NCMD);
	end_batch_session();
	/* The next leader takes all the others; its session (a new one) waits for the lock. */
	second = wait_batch(&LOOKUPS, NCMD - first, 0);
	wenv_assert(E, second >= 2, "second batch of %ld", second);
	end_batch_session();
	release(NULL);
	burst_check(&b);
	failed = metric("tmprov_lookup_statements_total", "result=\"failed\"") - failed;
	assert_true(failed >= 2);
	wenv_assert(E, worker_log_count(E->w, "each command looks itself up") >= 1,
		    "no failed batch in the log");
}

/* The results of many commands at once, held back at their write: committed in a few
 * transactions, each command's own. */
static void
test_results_mixed(void **state)
{
	struct burst b = {.prefix = "rm"};
	double ok, cmds;

	(void)state;
	burst_accounts(&b);
	ok = metric("tmprov_result_commits_total", "result=\"ok\"");
	cmds = metric("tmprov_result_commands_total", NULL);
	hold(HOLD_RESULTS);
	burst_send(&b);
	wait_all(&RESULTS, NCMD);
	release(NULL);
	burst_check(&b);
	ok = metric("tmprov_result_commits_total", "result=\"ok\"") - ok;
	cmds = metric("tmprov_result_commands_total", NULL) - cmds;
	wenv_assert(E, cmds >= NCMD && ok <= cmds / 4, "%.0f results in %.0f transactions", cmds,
		    ok);
}

/* Two users with one email on two subjects, both looked up before either is written, their
 * results held back with many others': the transaction of the second fails on the email's
 * unique index. Each result is then written alone: the first user, the others' results, and
 * for the second "email in use"; one event each. */
static void
test_results_fail(void **state)
{
	struct burst b = {.prefix = "rf"};
	/* Subjects of their own: a command of a subject waits for the one before it. */
	const char *ids[2] = {"rf-x-0", "rf-x-1"}, *subjects[2] = {"rf-y-0000", "rf-y-0001"};
	int upserted = 0, in_use = 0;
	double failed;

	(void)state;
	burst_accounts(&b);
	for (int i = 0; i < 2; i++)
		free(wcase_account_new(E, subjects[i]));
	failed = metric("tmprov_result_commits_total", "result=\"failed\"");
	hold(HOLD_RESULTS);
	burst_send(&b);
	for (int i = 0; i < 2; i++)
		wenv_send(E, ids[i], "user.upsert", subjects[i],
			  json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", "dup", "email",
				    "dup@rf.example", "first_name", "Ada", "last_name", "Lovelace",
				    "password", "correct horse battery staple"));
	wenv_flush(E);
	wait_all(&RESULTS, NCMD + 2);
	release(NULL);
	burst_check(&b);
	assert_int_equal(wenv_wait_outcomes(E, ids, 2, WAIT_MS), 2);
	for (int i = 0; i < 2; i++) {
		const json_t *ev = wenv_outcome(E, ids[i], subjects[i], NULL);
		size_t distinct;

		wenv_outcome_messages(E, ids[i], &distinct);
		assert_int_equal(distinct, 1);
		if (strcmp(wcase_str(ev, "type"), "user.upserted") == 0)
			upserted++;
		else if (strcmp(wcase_str(ev, "type"), "command.failed") == 0 &&
			 strcmp(wcase_str(wcase_data(ev), "reason"), "email in use") == 0)
			in_use++;
	}
	assert_int_equal(upserted, 1);
	assert_int_equal(in_use, 1);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM users WHERE email = 'dup@rf.example'"
				       " AND status = 'active'",
				       NULL),
			 1);
	failed = metric("tmprov_result_commits_total", "result=\"failed\"") - failed;
	assert_true(failed >= 1);
	wenv_assert(E, worker_log_count(E->w, "not committed together") >= 1,
		    "no failed group in the log");
}

int
main(void)
{
	/* Lookups held back for seconds must not reach the statement timeout. */
	static const char *const extra[] = {"TMPROV_DB_STATEMENT_TIMEOUT=120s", NULL};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_batch_mixed, release),
	    cmocka_unit_test_teardown(test_batch_fails, release),
	    cmocka_unit_test_teardown(test_results_mixed, release),
	    cmocka_unit_test_teardown(test_results_fail, release),
	};

	return wcase_run(&E, "wbatch", extra, tests, sizeof(tests) / sizeof(tests[0]));
}
