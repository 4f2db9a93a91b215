/* Integration tests of tmprov-worker's delivery guarantees across its own death: kill -9 in
 * the middle of 2,000 commands and a restart (every command exactly one outcome event id, no
 * create_account repeated, nothing missing), and a SIGTERM in the middle of 500 (drains,
 * publishes, exits 0 in time; after a restart everything is done exactly once). */
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

#include "../support/wcase.h"
#include "../support/wenv.h"
#include "clock.h"

static struct wenv *E;

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static const char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* A batch of commands for subjects PREFIX-s<i>: a create for each, then an update for each,
 * then a query for the first nquery, sent in that order without waiting. */
struct batch {
	const char *prefix;
	int nsubj, nquery;
	size_t n;
	char (*ids)[48];
	const char **idp;
	char (*type)[24]; /* command type of ids[i] */
	int *subj;	  /* subject number of ids[i] */
};

static void
batch_send(struct batch *b)
{
	char s[48], name[64], email[96];

	b->n = 0;
	b->ids = calloc((size_t)(2 * b->nsubj + b->nquery), sizeof(*b->ids));
	b->idp = calloc((size_t)(2 * b->nsubj + b->nquery), sizeof(*b->idp));
	b->type = calloc((size_t)(2 * b->nsubj + b->nquery), sizeof(*b->type));
	b->subj = calloc((size_t)(2 * b->nsubj + b->nquery), sizeof(*b->subj));
	assert_true(b->ids && b->idp && b->type && b->subj);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < (round == 2 ? b->nquery : b->nsubj); i++) {
			size_t k = b->n++;

			snprintf(s, sizeof(s), "%s-s%04d", b->prefix, i);
			snprintf(b->ids[k], sizeof(b->ids[k]), "%s-%d-%04d", b->prefix, round, i);
			b->idp[k] = b->ids[k];
			b->subj[k] = i;
			if (round == 0) {
				snprintf(b->type[k], sizeof(b->type[k]), "account.create");
				snprintf(name, sizeof(name), "%s company %04d", b->prefix, i);
				snprintf(email, sizeof(email), "ops@%s%04d.example", b->prefix, i);
				wenv_send(E, b->ids[k], "account.create", s,
					  json_pack("{s:s, s:s, s:i, s:i}", "company_name", name,
						    "email", email, "rooms", 1, "participants", 5));
			} else if (round == 1) {
				snprintf(b->type[k], sizeof(b->type[k]), "account.update");
				wenv_send(E, b->ids[k], "account.update", s,
					  json_pack("{s:i}", "rooms", 1000 + i));
			} else {
				snprintf(b->type[k], sizeof(b->type[k]), "account.query");
				wenv_send(E, b->ids[k], "account.query", s, NULL);
			}
		}
	}
	wenv_flush(E);
}

static void
batch_free(struct batch *b)
{
	free(b->ids);
	free(b->idp);
	free(b->type);
	free(b->subj);
}

static long
outbox_rows(const char *prefix)
{
	char like[64];

	snprintf(like, sizeof(like), "%s-%%", prefix);
	return wenv_sql_long(E, "SELECT count(*) FROM outbox WHERE command_id LIKE $1", like, NULL);
}

/* Polls the outbox until prefix has at least n rows; returns the count seen. */
static long
outbox_wait(const char *prefix, long n, int timeout_ms)
{
	long deadline = clock_now_ms() + timeout_ms, have;

	while ((have = outbox_rows(prefix)) < n && clock_now_ms() < deadline)
		sleep_ms(5);
	return have;
}

static long
open_creates(void)
{
	return wenv_sql_long(
	    E,
	    "SELECT count(*) FROM tm_intents WHERE endpoint = 'create_account' AND "
	    "resolved_at IS NULL",
	    NULL);
}

/* Polls until some create_account intent is unresolved (its call may be on the wire). */
static void
open_creates_wait(int timeout_ms)
{
	long deadline = clock_now_ms() + timeout_ms;

	while (open_creates() == 0 && clock_now_ms() < deadline)
		;
}

/* Polls until no other connection to the test database is left. A kill -9 does not undo what
 * the worker already sent: the server finishes a statement or COMMIT it received just before
 * (an intent batch, say) and only then sees the connection gone, so counting before that
 * undercounts what the worker left behind. */
static void
worker_backends_gone(int timeout_ms)
{
	long deadline = clock_now_ms() + timeout_ms, n;

	while ((n = wenv_sql_long(E,
				  "SELECT count(*) FROM pg_stat_activity WHERE datname = "
				  "current_database() AND pid <> pg_backend_pid()",
				  NULL)) > 0 &&
	       clock_now_ms() < deadline)
		sleep_ms(5);
	wenv_assert(E, n == 0, "%ld connection(s) of the killed worker still open", n);
}

/* The checks every recovery scenario ends with: each command exactly one outcome event id,
 * one outbox row, no command left open, and no create_account sent twice. parked: set per
 * subject whose create was parked as an unknown outcome (may be NULL); returns their count. */
static int
batch_check(struct batch *b, char *parked)
{
	char like[64], name[64], s[48];
	int nparked = 0;
	json_t *counts;

	assert_int_equal(wenv_wait_outcomes(E, b->idp, b->n, 45000), b->n);
	for (size_t k = 0; k < b->n; k++) {
		size_t distinct = 0;
		const json_t *ev;

		snprintf(s, sizeof(s), "%s-s%04d", b->prefix, b->subj[k]);
		ev = wenv_outcome(E, b->idp[k], s, NULL);
		wenv_outcome_messages(E, b->idp[k], &distinct);
		wenv_assert(E, distinct == 1, "%s has %zu outcome event ids", b->idp[k], distinct);
		if (strcmp(b->type[k], "account.create") == 0 &&
		    strcmp(jstr(ev, "type"), "command.failed") == 0 &&
		    json_is_true(json_object_get(json_object_get(ev, "data"), "outcome_unknown"))) {
			nparked++;
			if (parked != NULL)
				parked[b->subj[k]] = 1;
		}
	}
	snprintf(like, sizeof(like), "%s-%%", b->prefix);
	assert_int_equal(outbox_rows(b->prefix), (long)b->n);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM commands WHERE id LIKE $1 AND status "
				       "IN ('received', 'in_progress')",
				       like, NULL),
			 0);
	assert_int_equal(
	    wenv_sql_long(E,
			  "SELECT count(*) FROM tm_intents i JOIN commands c ON c.id "
			  "= i.command_id WHERE c.id LIKE $1 AND i.resolved_at IS NULL",
			  like, NULL),
	    0);
	/* create_account reached TM at most once per command, whatever was redelivered. */
	counts = wenv_sim_effective_by(E, "create_account", "company_name");
	for (int i = 0; i < b->nsubj; i++) {
		long calls;

		snprintf(name, sizeof(name), "%s company %04d", b->prefix, i);
		calls = wenv_count_of(counts, name);
		wenv_assert(E, calls <= 1, "%s: create_account called %ld times", name, calls);
		if (parked == NULL || !parked[i])
			wenv_assert(E, calls == 1,
				    "%s: created but create_account called %ld times", name, calls);
	}
	json_decref(counts);
	return nparked;
}

/* Every command.failed of the batch is a parked create or follows from one (its subject has
 * no account): the crash itself failed nothing. */
static void
failures_explained(struct batch *b, const char *parked)
{
	for (size_t k = 0; k < b->n; k++) {
		const struct kmsg *m = NULL;

		kcoll_find(E->events, b->idp[k], &m, 1);
		if (strcmp(jstr(m->json, "type"), "command.failed") != 0)
			continue;
		wenv_assert(E, parked[b->subj[k]],
			    "%s failed although its subject's create did not: %s", b->idp[k],
			    m->value);
	}
}

#define K9_SUBJECTS 700
#define K9_QUERIES  600 /* 700 creates + 700 updates + 600 queries = 2,000 commands */

static void
test_kill9_mid_run(void **state)
{
	struct batch b = {.prefix = "k9", .nsubj = K9_SUBJECTS, .nquery = K9_QUERIES};
	char parked[K9_SUBJECTS] = {0};
	long at_kill, after_kill, in_doubt;
	int nparked;

	(void)state;
	/* TM answers in 50 ms: the 2,000 take long enough to be interrupted, and a create's
	 * call is in flight long enough to be caught there. */
	wenv_sim_faults(E, "latency_ms=50");
	batch_send(&b);
	assert_int_equal(b.n, 2000);
	at_kill = outbox_wait("k9", 300, 30000);
	/* Kill when a create_account is between its intent and its result: the case where the
	 * worker cannot know whether TM acted. */
	open_creates_wait(10000);
	worker_kill(E->w);
	worker_backends_gone(10000);
	after_kill = outbox_rows("k9");
	/* Creates whose call may have reached TM when the worker died. */
	in_doubt = wenv_sql_long(E,
				 "SELECT count(*) FROM tm_intents WHERE command_id LIKE 'k9-%' AND "
				 "endpoint = 'create_account' AND resolved_at IS NULL",
				 NULL);
	fprintf(stderr,
		"# kill -9 after %ld of 2000 outcomes (%ld committed, %ld creates in doubt)\n",
		at_kill, after_kill, in_doubt);
	wenv_assert(E, at_kill >= 300 && after_kill < 2000,
		    "the worker was not killed in the middle (%ld, %ld)", at_kill, after_kill);

	wenv_worker_restart(E, E->w);
	nparked = batch_check(&b, parked);
	fprintf(stderr, "# %d creates parked as unknown outcomes after the kill\n", nparked);
	/* Exactly the creates in doubt are parked (default policy): each may have reached TM,
	 * and none was sent again. */
	assert_true(in_doubt >= 1);
	assert_int_equal(nparked, in_doubt);
	failures_explained(&b, parked);
	assert_int_equal(
	    wenv_sql_long(E,
			  "SELECT count(*) FROM accounts WHERE subject LIKE 'k9-%' AND "
			  "status = 'active'",
			  NULL),
	    K9_SUBJECTS - nparked);
	/* The updates of every created account took effect, in order after its create. */
	assert_int_equal(
	    wenv_sql_long(E,
			  "SELECT count(*) FROM accounts WHERE subject LIKE 'k9-%' AND "
			  "rooms = 1000 + substr(subject, 5)::int",
			  NULL),
	    K9_SUBJECTS - nparked);
	wenv_sim_faults(E, "latency_ms=0");
	batch_free(&b);
}

#define DR_SUBJECTS 250 /* creates and updates: 500 commands */

static void
test_sigterm_drain(void **state)
{
	struct batch b = {.prefix = "dr", .nsubj = DR_SUBJECTS, .nquery = 0};
	long at_term, elapsed = 0;
	int st;

	(void)state;
	wenv_sim_faults(E, "latency_ms=50");
	batch_send(&b);
	at_term = outbox_wait("dr", 100, 30000);
	assert_int_equal(worker_signal(E->w, SIGTERM), 0);
	st = worker_wait(E->w, WENV_STOP_MS, &elapsed);
	fprintf(stderr, "# SIGTERM after %ld of 500 outcomes; exit %d after %ld ms\n", at_term, st,
		elapsed);
	if (st != 0)
		worker_log_tail(E->w, 30);
	assert_int_equal(st, 0);
	/* Bounded by TMPROV_DRAIN_TIMEOUT (15 s), with time to close. */
	assert_true(elapsed < 20000);
	wenv_assert(E, outbox_rows("dr") < 500, "SIGTERM came too late to test a drain");
	/* A drain finishes what it started: no call left in doubt, every outcome published. */
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM tm_intents WHERE resolved_at IS "
				       "NULL AND command_id LIKE 'dr-%'",
				       NULL),
			 0);
	assert_int_equal(wenv_sql_long(E,
				       "SELECT count(*) FROM outbox WHERE published_at IS NULL "
				       "AND command_id LIKE 'dr-%'",
				       NULL),
			 0);
	wenv_sim_faults(E, "latency_ms=0");
	wenv_worker_restart(E, E->w);
	assert_int_equal(batch_check(&b, NULL), 0);
	assert_int_equal(wenv_outcomes_of_type(E, "dr-", "command.failed"), 0);
	assert_int_equal(wenv_outcomes_of_type(E, "dr-", "account.created"), DR_SUBJECTS);
	assert_int_equal(wenv_outcomes_of_type(E, "dr-", "account.updated"), DR_SUBJECTS);
	batch_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill9_mid_run),
	    cmocka_unit_test(test_sigterm_drain),
	};

	return wcase_run(&E, "wrecov", NULL, tests, sizeof(tests) / sizeof(tests[0]));
}
