/* Fault matrix, TurboMeeting rows (issue 11): V1 TM refusing connections for 20 s, V2 and V3
 * calls that took effect but whose answer was lost (dropped connection, answer after the
 * client timeout), V5 429/503 with Retry-After, V6 one account's answers malformed for ever,
 * V7 hostile XML bodies. Each ends with the invariants of tests/support/fmatrix.h. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/fmatrix.h"
#include "clock.h"

static struct fm *F;

/* company_uid of l's subject i, from the accounts table (malloc'd, NULL when none). */
static char *
subject_uid(const struct fload *l, int i)
{
	char s[48];

	fload_subject(l, i, s, sizeof(s));
	return wenv_sql(F->e, "SELECT company_uid FROM accounts WHERE subject = $1", s, NULL);
}

/* The subject number of a company_uid of l, -1 when not l's. */
static int
uid_subject(const struct fload *l, const char *uid)
{
	char *s =
	    uid ? wenv_sql(F->e, "SELECT subject FROM accounts WHERE company_uid = $1", uid, NULL)
		: NULL;
	size_t plen = strlen(l->prefix);
	int i = -1;

	if (s != NULL && strncmp(s, l->prefix, plen) == 0 && s[plen] == '-')
		i = atoi(s + plen + 1);
	free(s);
	return i;
}

static const char *
ev_type(const json_t *ev)
{
	const char *t = json_string_value(json_object_get(ev, "type"));

	return t ? t : "(none)";
}

static int
ev_flag(const json_t *ev, const char *flag)
{
	return json_is_true(json_object_get(json_object_get(ev, "data"), flag));
}

/* Whether subject s's schedule ended as a schedule whose answers were lost drops times should:
 * meeting.scheduled with possible_duplicate, or — every attempt lost (the whole budget, all
 * to one subject late in the fault) — command.failed with outcome_unknown and as many attempts.
 * *exhausted is set for the second. */
static bool
schedule_lost_ok(const struct fload *l, int s, long drops, bool *exhausted)
{
	const json_t *ev = fm_outcome_of(F, l, s, 's'), *d = json_object_get(ev, "data");

	*exhausted = false;
	if (ev && strcmp(ev_type(ev), "meeting.scheduled") == 0)
		return ev_flag(ev, "possible_duplicate");
	if (!(ev && strcmp(ev_type(ev), "command.failed") == 0 && ev_flag(ev, "outcome_unknown")))
		return false;
	*exhausted = json_integer_value(json_object_get(d, "attempts")) == drops;
	return *exhausted;
}

/* Counts lost[1] and, per subject whose schedule lost answers, what schedule_lost_ok says;
 * drops[s] is how many answers subject s's schedule lost. */
static void
schedules_check(const struct fload *l, const char *fault, const long *drops, long lost[4])
{
	long bad = 0;

	for (int s = 0; s < l->nsubj; s++) {
		bool exhausted;
		const json_t *ev;
		char *dump;

		if (drops[s] == 0)
			continue;
		if (schedule_lost_ok(l, s, drops[s], &exhausted)) {
			lost[3] += exhausted;
			continue;
		}
		if (bad++ > 0)
			continue;
		ev = fm_outcome_of(F, l, s, 's');
		dump = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
		fm_violation("schedule of %s-%05d applied then %s %ld times: outcome %s", l->prefix,
			     s, fault, drops[s], dump ? dump : "(none)");
		free(dump);
	}
	if (bad)
		fm_violation(
		    "%ld schedules applied then lost neither marked possible_duplicate nor "
		    "failed with outcome_unknown after all attempts",
		    bad);
}

/* What V2 and V3 expect of l after TM applied some creates, schedules and deletes whose
 * answers were lost (fault: "drop" or "timeout"): each such create parked (never sent again),
 * each such schedule as schedule_lost_ok says, each such delete account.deleted (defect 5).
 * Counts them into lost[] (creates, schedules, deletes; lost[3]: schedules out of attempts). */
static void
lost_answers_check(const struct fload *l, const char *fault, long lost[4])
{
	json_t *calls = wenv_sim_list(F->e, NULL), *call;
	long bad[3] = {0, 0, 0}, *drops = calloc((size_t)l->nsubj, sizeof(*drops));
	size_t i;

	wenv_assert(F->e, drops != NULL, "out of memory");
	lost[0] = lost[1] = lost[2] = lost[3] = 0;
	json_array_foreach(calls, i, call)
	{
		const char *f = json_string_value(json_object_get(call, "fault"));
		const char *ep = json_string_value(json_object_get(call, "endpoint"));
		const json_t *p = json_object_get(call, "params");
		const char *name = json_string_value(json_object_get(p, "company_name"));
		char head[32];
		int s, which;
		char kind;
		const json_t *ev;

		if (f == NULL || strcmp(f, fault) != 0 || ep == NULL)
			continue;
		if (strcmp(ep, "create_account") == 0) {
			which = 0, kind = 'c';
			snprintf(head, sizeof(head), "%s company ", l->prefix);
			s = name && strncmp(name, head, strlen(head)) == 0
				? atoi(name + strlen(head))
				: -1;
		} else if (strcmp(ep, "remote_schedule") == 0 ||
			   strcmp(ep, "delete_account") == 0) {
			which = ep[0] == 'r' ? 1 : 2, kind = ep[0] == 'r' ? 's' : 'd';
			s = uid_subject(l, json_string_value(json_object_get(p, "company_uid")));
		} else {
			continue;
		}
		if (s < 0 || s >= l->nsubj)
			continue;
		lost[which]++;
		if (which == 1) {
			drops[s]++;
			continue;
		}
		ev = fm_outcome_of(F, l, s, kind);
		if (which == 0 && !(ev && strcmp(ev_type(ev), "command.failed") == 0 &&
				    ev_flag(ev, "outcome_unknown")))
			bad[0]++;
		if (which == 2 && !(ev && strcmp(ev_type(ev), "account.deleted") == 0)) {
			if (bad[2]++ == 0)
				fm_violation("delete of %s-%05d applied then %s: outcome %s, not "
					     "account.deleted",
					     l->prefix, s, fault, ev ? ev_type(ev) : "(none)");
		}
	}
	json_decref(calls);
	schedules_check(l, fault, drops, lost);
	free(drops);
	if (bad[0])
		fm_violation("%ld of %ld creates applied then lost not parked", bad[0], lost[0]);
	if (bad[2])
		fm_violation("%ld of %ld deletes applied then lost not account.deleted", bad[2],
			     lost[2]);
}

/* V2 (fault "drop") and V3 ("timeout"): TM applies creates, schedules and deletes, then the
 * answer is lost. */
static void
applied_then_lost(const char *row, const char *prefix, const char *fault, const char *extra)
{
	char q[256];
	static const char *const eps[] = {"create_account", "remote_schedule", "delete_account"};
	struct fload l;
	struct fm_inv inv;
	long lost[4];

	fm_row_begin(F, row);
	if (extra)
		wenv_sim_faults(F->e, extra);
	for (size_t i = 0; i < 3; i++) {
		snprintf(q, sizeof(q), "%s_next=40&only=%s", fault, eps[i]);
		wenv_sim_faults(F->e, q);
	}
	fload_send(F, &l, prefix, "cpsd", 500);
	fm_check(F, &l, FM_DONE_MS, &inv);
	lost_answers_check(&l, fault, lost);
	fm_row_end(
	    F,
	    "%zu commands, answers lost after TM acted: %ld creates (parked %ld), %ld "
	    "schedules (possible_duplicate %ld, out of attempts %ld), %ld deletes (deleted %ld); "
	    "TM calls %ld, dup creates %ld, all done after %.1f s",
	    inv.n, lost[0], inv.parked, lost[1], inv.possible_dup, lost[3], lost[2],
	    fm_outcomes(F, &l, 'd', "account.deleted", NULL), inv.calls, inv.creates_dup,
	    inv.done_s);
	fload_free(&l);
}

static void
test_v2_drop_after_effect(void **state)
{
	(void)state;
	applied_then_lost("V2", "v2", "drop", NULL);
}

static void
test_v3_answer_after_timeout(void **state)
{
	(void)state;
	/* Held 2.5 s: past the workers' 1 s TM timeout. */
	applied_then_lost("V3", "v3", "timeout", "timeout_ms=2500");
}

/* Calls of endpoint for l's accounts answered with an error, whose next call for the same
 * account came sooner than the Retry-After (secs) said. Other calls (the workers' own probes,
 * which every worker makes with the same made-up account) are left out: tmsim cannot tell
 * which worker made a call, and one account of l is one worker's. */
static long
retry_after_broken(const struct fload *l, const char *endpoint, long secs, long *errors)
{
	json_t *calls = wenv_sim_list(F->e, endpoint), *pending = json_object(), *call;
	long early = 0;
	size_t i;

	*errors = 0;
	json_array_foreach(calls, i, call)
	{
		const char *uid = json_string_value(
		    json_object_get(json_object_get(call, "params"), "company_uid"));
		const char *f = json_string_value(json_object_get(call, "fault"));
		long at = (long)json_integer_value(json_object_get(call, "at_ms"));
		const json_t *prev = uid ? json_object_get(pending, uid) : NULL;

		if (uid == NULL || uid_subject(l, uid) < 0)
			continue;
		if (prev != NULL && at - (long)json_integer_value(prev) < secs * 1000 - 10) {
			if (early++ == 0)
				fm_violation("%s for %s again %ld ms after a Retry-After of %ld s",
					     endpoint, uid, at - (long)json_integer_value(prev),
					     secs);
		}
		if (f && strcmp(f, "error") == 0) {
			(*errors)++;
			json_object_set_new(pending, uid, json_integer(at));
		} else {
			json_object_del(pending, uid);
		}
	}
	json_decref(pending);
	json_decref(calls);
	return early;
}

/* V5: 429 and 503 answers with Retry-After: 2 — no call for that command before it passed. */
static void
test_v5_retry_after(void **state)
{
	struct fload l;
	struct fm_inv inv;
	long early, errors;

	(void)state;
	fm_row_begin(F, "V5");
	fload_build(&l, "v5", "cq", 600);
	fload_send_range(F, &l, 0, (size_t)l.nsubj);
	fload_wait_done(F, &l, l.nsubj, 30000);
	wenv_sim_faults(F->e, "error_next=30&error_status=429&retry_after=2&only=query_account");
	fload_send_range(F, &l, (size_t)l.nsubj, l.n - 300);
	fload_wait_done(F, &l, (long)l.n - 300, 30000);
	wenv_sim_faults(F->e, "error_next=30&error_status=503&retry_after=2&only=query_account");
	fload_send_range(F, &l, l.n - 300, l.n);
	fm_check(F, &l, FM_DONE_MS, &inv);
	early = retry_after_broken(&l, "query_account", 2, &errors);
	if (inv.failed)
		fm_violation("%ld commands failed (%s)", inv.failed, inv.failed_sample);
	fm_row_end(F,
		   "%zu commands, %ld answers 429/503 with Retry-After 2 s, calls before it passed "
		   "%ld, TM calls %ld, failed %ld, all done after %.1f s",
		   inv.n, errors, early, inv.calls, inv.failed, inv.done_s);
	fload_free(&l);
}

/* 1 when some worker says TM is down (tmprov_tm_available 0): consumption is paused. */
static int
any_paused(void)
{
	for (int i = 0; i < F->nw; i++)
		if (worker_running(F->w[i]) &&
		    worker_metric(F->w[i], "tmprov_tm_available", NULL) == 0)
			return 1;
	return 0;
}

/* V6: every answer about one account is malformed, for ever; the others are fine. Only that
 * account's commands fail; nothing pauses (defect 1). */
static void
test_v6_one_subject_malformed(void **state)
{
	struct fload l;
	struct fm_inv inv;
	char q[128], *uid;
	long paused = 0, samples = 0, deadline;
	const json_t *u, *qe;

	(void)state;
	fm_row_begin(F, "V6");
	fload_build(&l, "v6", "cuq", 600);
	fload_send_range(F, &l, 0, (size_t)l.nsubj);
	fload_wait_done(F, &l, l.nsubj, 30000);
	uid = subject_uid(&l, 0);
	wenv_assert(F->e, uid != NULL, "v6-00000 has no account");
	snprintf(q, sizeof(q), "garble_uid=%s", uid);
	wenv_assert(F->e, sim_mx(F->e->sim, q) == 0, "tmsim refused %s", q);
	free(uid);
	fload_send_range(F, &l, (size_t)l.nsubj, l.n);
	deadline = clock_now_ms() + FM_DONE_MS;
	while (fload_done(F, &l) < (long)l.n && clock_now_ms() < deadline) {
		paused += any_paused();
		samples++;
		fm_sleep_ms(200);
	}
	fm_check(F, &l, 5000, &inv);
	u = fm_outcome_of(F, &l, 0, 'u');
	qe = fm_outcome_of(F, &l, 0, 'q');
	if (!u || strcmp(ev_type(u), "command.failed") || !qe ||
	    strcmp(ev_type(qe), "command.failed"))
		fm_violation("the malformed account's update and query: %s and %s, not "
			     "command.failed",
			     u ? ev_type(u) : "(none)", qe ? ev_type(qe) : "(none)");
	if (inv.failed != 2)
		fm_violation("%ld commands failed, not just the malformed account's 2", inv.failed);
	if (paused)
		fm_violation("consumption paused in %ld of %ld samples", paused, samples);
	fm_row_end(
	    F,
	    "%zu commands, 1 account's answers malformed, failed %ld, paused samples %ld/%ld, "
	    "TM calls %ld, all done after %.1f s",
	    inv.n, inv.failed, paused, samples, inv.calls, inv.done_s);
	fload_free(&l);
}

/* A process's resident memory in kB, -1 when unknown. */
static long
rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

#define V7_RSS_GROWTH_KB (64L * 1024) /* a 50 MB answer read whole would show */

/* V7: hostile XML answers to queries (truncated, 50 MB, XXE, billion laughs, deep nesting):
 * refused, memory flat, the workers alive, nothing of /etc/passwd in any outcome. */
static void
test_v7_hostile_xml(void **state)
{
	static const char *const kinds[] = {"truncated", "huge", "xxe", "laughs", "deep"};
	const size_t nk = sizeof(kinds) / sizeof(kinds[0]);
	struct fload l;
	struct fm_inv inv;
	long rss0[FM_WORKERS_MAX], growth = 0, leaked = 0;
	char q[128];
	size_t per;

	(void)state;
	fm_row_begin(F, "V7");
	fload_build(&l, "v7", "cq", 500);
	fload_send_range(F, &l, 0, (size_t)l.nsubj);
	fload_wait_done(F, &l, l.nsubj, 30000);
	for (int i = 0; i < F->nw; i++)
		rss0[i] = rss_kb(worker_pid(F->w[i]));
	per = (size_t)l.nsubj / nk;
	for (size_t k = 0; k < nk; k++) {
		size_t from = (size_t)l.nsubj + k * per, to = k + 1 == nk ? l.n : from + per;

		snprintf(q, sizeof(q), "hostile=%s&count=4&only=query_account", kinds[k]);
		wenv_assert(F->e, sim_mx(F->e->sim, q) == 0, "tmsim refused %s", q);
		fload_send_range(F, &l, from, to);
		fload_wait_done(F, &l, (long)to, 30000);
	}
	for (int i = 0; i < F->nw; i++) {
		long now = rss_kb(worker_pid(F->w[i]));

		if (!worker_running(F->w[i]))
			fm_violation("worker %d died (status %d)", i + 1, worker_status(F->w[i]));
		else if (now - rss0[i] > growth)
			growth = now - rss0[i];
	}
	if (growth > V7_RSS_GROWTH_KB)
		fm_violation("a worker grew by %ld kB", growth);
	fm_check(F, &l, FM_DONE_MS, &inv);
	for (size_t k = 0; k < l.n; k++) {
		const struct kmsg *m = NULL;

		if (kcoll_find(F->e->events, l.idp[k], &m, 1) && m->value &&
		    strstr(m->value, "root:") != NULL && leaked++ == 0)
			fm_violation("%s's outcome holds /etc/passwd: %.200s", l.idp[k], m->value);
	}
	fm_row_end(
	    F,
	    "%zu commands, 4 answers of each of %zu hostile kinds, worker memory growth %ld kB, "
	    "XXE leaks %ld, failed %ld, TM calls %ld",
	    inv.n, nk, growth, leaked, inv.failed, inv.calls);
	fload_free(&l);
}

#define V1_DOWN_MS 20000
/* V1 with a rebalance: a worker frozen past its session timeout (6 s, WENV_KAFKA_PROPS) 3 s
 * into the outage, so that partitions paused for TM are revoked and assigned again. */
#define V1_FREEZE_AT 6 /* samples of 500 ms */
#define V1_FREEZE_MS 9000

/* tmsim stopped for 20 s and started again on the same port: TM refuses connections (calls not
 * sent, so retried), the workers pause, probe and resume, and nothing fails. Creates only: a
 * new tmsim knows none of the old one's accounts. freeze: the first worker is also SIGSTOPped
 * for V1_FREEZE_MS during the outage (the group rebalances while the workers are paused). */
static void
v1_run(const char *row, bool freeze)
{
	struct fload l;
	struct fm_inv inv;
	char listen[64], *partner;
	json_t *before;
	long at, during, paused = 0, samples = 0, dup = 0, deadline;

	fm_row_begin(F, row);
	fload_send(F, &l, "v1", "c", 2000);
	fload_wait_done(F, &l, (long)l.n / 4, 30000);
	before = wenv_sim_effective_by(F->e, "create_account", "company_name");
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", sim_port(F->e->sim));
	partner = strdup(sim_partner(F->e->sim));
	if (sim_stop_status(F->e->sim) != 0)
		fm_violation("tmsim did not stop cleanly");
	F->e->sim = NULL;
	at = fload_done(F, &l);
	deadline = clock_now_ms() + V1_DOWN_MS;
	while (clock_now_ms() < deadline) {
		paused += any_paused();
		samples++;
		if (freeze && samples == V1_FREEZE_AT) {
			worker_signal(F->w[0], SIGSTOP);
			fm_sleep_ms(V1_FREEZE_MS);
			worker_signal(F->w[0], SIGCONT);
		}
		fm_sleep_ms(500);
	}
	during = fload_done(F, &l) - at;
	{
		const struct sim_opts so = {.partner = partner, .listen = listen};

		wenv_assert(F->e, sim_start_opts(&F->e->sim, &so) == 0,
			    "tmsim did not start again on %s", listen);
	}
	free(partner);
	fm_check(F, &l, FM_DONE_MS, &inv);
	/* Each company created at most once across both tmsims' logs. */
	{
		json_t *now = wenv_sim_effective_by(F->e, "create_account", "company_name");

		for (int i = 0; i < l.nsubj; i++) {
			char name[64];

			snprintf(name, sizeof(name), "v1 company %05d", i);
			dup += wenv_count_of(before, name) + wenv_count_of(now, name) > 1;
		}
		json_decref(now);
	}
	json_decref(before);
	if (dup)
		fm_violation("%ld accounts created twice across the outage", dup);
	if (inv.failed != inv.parked)
		fm_violation("%ld commands failed besides creates in flight when TM stopped",
			     inv.failed - inv.parked);
	fm_row_end(F,
		   "%zu creates, TM refusing %d s at %ld done (%ld done meanwhile), paused samples "
		   "%ld/%ld, failed %ld, parked %ld, dup creates %ld, all done after %.1f s",
		   inv.n, V1_DOWN_MS / 1000, at, during, paused, samples, inv.failed, inv.parked,
		   dup, inv.done_s);
	fload_free(&l);
}

static void
test_v1_refused(void **state)
{
	(void)state;
	v1_run("V1", false);
}

/* Partitions paused while TM was down, revoked, then assigned again after the resume stayed
 * paused in librdkafka: their commands were never read. */
static void
test_v1_refused_rebalance(void **state)
{
	(void)state;
	v1_run("V1r", true);
}

int
main(void)
{
	const struct CMUnitTest rows[] = {
	    FM_ROW(test_v2_drop_after_effect), FM_ROW(test_v3_answer_after_timeout),
	    FM_ROW(test_v5_retry_after),       FM_ROW(test_v6_one_subject_malformed),
	    FM_ROW(test_v7_hostile_xml),       FM_ROW(test_v1_refused),
	    FM_ROW(test_v1_refused_rebalance),
	};

	/* V2 and V3 delete 500 accounts each: the mass-delete guard (tested in
	 * test_worker_guard) would hold all but 20 of them. */
	static const char *const extra[] = {"TMPROV_DELETE_GUARD=0", NULL};
	const struct fm_opts opts = {.extra = extra};

	return fm_run(&F, "ftm", &opts, rows, sizeof(rows) / sizeof(rows[0]));
}
