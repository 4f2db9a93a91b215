/* Fault matrix, worker and Kafka rows (issue 11): K1 SIGKILL x5, K2 SIGTERM mid-load, K3 SIGSTOP
 * past the session timeout, K4 a third worker joining and leaving, K5 all brokers down, K6
 * produce errors, K7 offset-commit errors then SIGKILL, K8 SIGTERM with the broker silent,
 * K9 poison messages, K10 SIGTERM during a rebalance. Each row runs a load of a few thousand
 * commands on 6 partitions and 2 workers and ends with the invariants of tests/support/fmatrix.h.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/cmdjson.h"
#include "../support/fmatrix.h"
#include "clock.h"

static struct fm *F;

#define KILLS 5

/* Every command.failed of l is a parked create or follows from one (its subject has no
 * account): the fault itself failed nothing. Returns the unexplained ones. */
static long
failures_explained(const struct fload *l)
{
	long bad = 0;

	for (size_t k = 0; k < l->n; k++) {
		const json_t *ev = fm_outcome_of(F, l, l->subj[k], l->kind[k]);
		const json_t *create = fm_outcome_of(F, l, l->subj[k], 'c');

		if (ev == NULL ||
		    strcmp(json_string_value(json_object_get(ev, "type")), "command.failed") != 0)
			continue;
		if (create != NULL && json_is_true(json_object_get(json_object_get(create, "data"),
								   "outcome_unknown")))
			continue;
		if (bad++ == 0)
			fm_violation("%s failed though no create of its subject was parked: %.300s",
				     l->idp[k],
				     json_string_value(
					 json_object_get(json_object_get(ev, "data"), "reason")));
	}
	if (bad > 1)
		fm_violation("%ld commands failed unexplained", bad);
	return bad;
}

/* Parked creates that never reached TM (their company has no create_account in the log). */
static long
parked_unsent(const struct fload *l)
{
	json_t *counts = wenv_sim_effective_by(F->e, "create_account", "company_name");
	char name[64];
	long n = 0;

	for (int i = 0; i < l->nsubj; i++) {
		const json_t *ev = fm_outcome_of(F, l, i, 'c');

		snprintf(name, sizeof(name), "%s company %05d", l->prefix, i);
		n +=
		    ev &&
		    json_is_true(json_object_get(json_object_get(ev, "data"), "outcome_unknown")) &&
		    wenv_count_of(counts, name) == 0;
	}
	json_decref(counts);
	return n;
}

/* K1: five SIGKILLs of a random worker at random moments while the load arrives in chunks, each
 * worker restarted at once. */
static void
test_k1_sigkill(void **state)
{
	struct fload l;
	struct fm_mark marks[KILLS];
	struct fm_inv inv;
	long at[KILLS], resent = 0;

	(void)state;
	fm_row_begin(F, "K1");
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_build(&l, "k1", "cuq", 700);
	for (int i = 0; i < KILLS; i++) {
		int w = (int)fm_rand(0, F->nw - 1);

		long before = i ? at[i - 1] : 0;

		fload_send_range(F, &l, l.n * (size_t)i / (KILLS + 1),
				 l.n * (size_t)(i + 1) / (KILLS + 1));
		/* Kill while the group is working, not while it is still rebalancing after the
		 * previous kill: once commands are being done again, at a random moment. */
		fload_wait_done(F, &l, before + 50, 30000);
		fm_sleep_ms(fm_rand(0, 1000));
		worker_kill(F->w[w]);
		fm_mark_take(F, &l, &marks[i]);
		at[i] = (long)json_object_size(marks[i].done);
		wenv_worker_restart(F->e, F->w[w]);
	}
	fload_send_range(F, &l, l.n * KILLS / (KILLS + 1), l.n);
	fm_check(F, &l, FM_DONE_MS, &inv);
	for (int i = 0; i < KILLS; i++) {
		resent += fm_resent(F, &l, &marks[i]);
		fm_mark_free(&marks[i]);
	}
	failures_explained(&l);
	fm_row_end(F,
		   "%zu commands, kills at %ld/%ld/%ld/%ld/%ld done, TM calls %ld, re-sent %ld, "
		   "parked %ld (never reached TM %ld), dup creates %ld, misordered %zu, all done "
		   "after %.1f s",
		   inv.n, at[0], at[1], at[2], at[3], at[4], inv.calls, resent, inv.parked,
		   parked_unsent(&l), inv.creates_dup, inv.misorder, inv.done_s);
	fload_free(&l);
}

/* K2: SIGTERM to one worker mid-load: it drains, commits and exits 0; what it did is not done
 * again by the worker that takes its partitions. */
static void
test_k2_sigterm(void **state)
{
	struct fload l;
	struct fm_mark m;
	struct fm_inv inv;
	long ms = 0, at;
	int st;

	(void)state;
	fm_row_begin(F, "K2");
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_send(F, &l, "k2", "cuq", 700);
	fload_wait_done(F, &l, (long)l.n / 3, 30000);
	worker_signal(F->w[1], SIGTERM);
	st = worker_wait(F->w[1], WENV_STOP_MS, &ms);
	fm_mark_take(F, &l, &m);
	at = (long)json_object_size(m.done);
	if (st != 0)
		fm_violation("SIGTERM mid-load: exit %d after %ld ms", st, ms);
	if (at >= (long)l.n)
		fm_violation("the load ended before the SIGTERM was handled (test too short)");
	/* Unpublished outbox rows or open intents after a drain would mean it left work. */
	if (wenv_sql_long(F->e,
			  "SELECT count(*) FROM tm_intents WHERE command_id LIKE 'k2-%' AND "
			  "resolved_at IS NULL AND command_id IN (SELECT id FROM commands WHERE "
			  "status NOT IN ('received', 'in_progress'))",
			  NULL) > 0)
		fm_violation("intents left open by the drain");
	wenv_sim_faults(F->e, "latency_ms=0");
	fm_check(F, &l, FM_DONE_MS, &inv);
	fm_resent(F, &l, &m);
	fm_mark_free(&m);
	if (inv.failed)
		fm_violation("%ld commands failed (%s)", inv.failed, inv.failed_sample);
	fm_row_end(F,
		   "%zu commands, SIGTERM at %ld done, exit %d after %ld ms, TM calls %ld, "
		   "failed %ld, dup creates %ld, all done after %.1f s",
		   inv.n, at, st, ms, inv.calls, inv.failed, inv.creates_dup, inv.done_s);
	fload_free(&l);
}

/* K3: a worker frozen (SIGSTOP) past the session timeout loses its partitions to the other,
 * which finishes the load; once woken (SIGCONT) it must make no TM call for them (defect 2). */
static void
test_k3_sigstop(void **state)
{
	struct fload l;
	struct fm_mark m;
	struct fm_inv inv;
	long at_stop, resent;

	(void)state;
	fm_row_begin(F, "K3");
	/* Slow answers: the frozen worker holds jobs waiting for TM. */
	wenv_sim_faults(F->e, "latency_ms=300");
	fload_send(F, &l, "k3", "cuq", 500);
	fload_wait_done(F, &l, (long)l.n / 5, 30000);
	worker_signal(F->w[1], SIGSTOP);
	at_stop = fload_done(F, &l);
	wenv_sim_faults(F->e, "latency_ms=20");
	/* The other worker takes every partition after the session timeout and ends the load
	 * (the frozen one's in-flight creates end parked). */
	fm_check(F, &l, FM_DONE_MS, &inv);
	fm_mark_take(F, &l, &m);
	worker_signal(F->w[1], SIGCONT);
	fm_sleep_ms(5000);
	resent = fm_resent(F, &l, &m);
	fm_mark_free(&m);
	fm_row_end(
	    F,
	    "%zu commands, SIGSTOP at %ld done, all done after %.1f s, TM calls by the woken "
	    "worker for done commands %ld, parked %ld, dup creates %ld",
	    inv.n, at_stop, inv.done_s, resent, inv.parked, inv.creates_dup);
	fload_free(&l);
}

/* Commands done per second from now until l is done (or timeout_ms). */
static double
rate_until_done(const struct fload *l, int timeout_ms)
{
	long t0 = clock_now_ms(), n0 = fload_done(F, l), n;

	n = fload_wait_done(F, l, (long)l->n, timeout_ms);
	return (double)(n - n0) * 1000.0 / (double)(clock_now_ms() - t0 + 1);
}

#define K4_SETTLE_MS 60000

/* Waits until the group has settled: the workers together hold every partition and each
 * holds some (tmprov_assigned_partitions), so the steady rate is not measured mid-rebalance. */
static void
group_settled(const char *when)
{
	long deadline = clock_now_ms() + K4_SETTLE_MS;

	for (;;) {
		double sum = 0;
		int each = 1;

		for (int i = 0; i < F->nw; i++) {
			double n = worker_metric(F->w[i], "tmprov_assigned_partitions", NULL);

			each = each && n > 0;
			sum += n > 0 ? n : 0;
		}
		if (each && sum == FM_PARTITIONS)
			return;
		if (clock_now_ms() > deadline) {
			fm_violation("%s: the group did not settle within %d s", when,
				     K4_SETTLE_MS / 1000);
			return;
		}
		fm_sleep_ms(200);
	}
}

/* Why K4 cannot pass here (workers/worker/consumer.c, conf_build): the worker's eager
 * assignment stops every partition for a whole rebalance, which librdkafka 2.0.2's mock holds
 * for session.timeout.ms less 1 s (rd_kafka_mock_cgrp_rebalance); joins and leaves every few
 * seconds leave 30-47 % of the steady rate. Cooperative assignment, which keeps the partitions
 * that do not move, aborts and loses assignments in 2.0.2. */
#define K4_UNCHECKED                                                                               \
	"throughput >= 50 % of steady not checked: eager assignment on librdkafka 2.0.2's mock "   \
	"stops all partitions for session.timeout.ms - 1 s per join or leave, and 2.0.2's "        \
	"cooperative-sticky is unusable (needs librdkafka >= 2.10)"

/* K4: a third worker joins and leaves every few seconds: the invariants hold (lost 0, at most
 * one create per command, order per subject, every worker exits 0 on SIGTERM); the rate under
 * churn and the steady one (measured first, same settings, once the two workers' group has
 * settled) are reported, but the bar (half the steady rate) is not checked: K4_UNCHECKED. */
static void
test_k4_churn(void **state)
{
	struct fload steady, l;
	struct fm_inv inv;
	double r_steady, r_churn;
	long t0, deadline;
	int changes = 0, third = -1;

	(void)state;
	fm_row_begin(F, "K4");
	wenv_sim_faults(F->e, "latency_ms=40");
	group_settled("before the steady load");
	fload_send(F, &steady, "k4s", "cuq", 1000);
	r_steady = rate_until_done(&steady, 30000);
	fload_build(&l, "k4", "cuq", 2000);
	fload_send_range(F, &l, 0, l.n);
	t0 = clock_now_ms();
	deadline = t0 + FM_DONE_MS;
	while (fload_done(F, &l) < (long)l.n && clock_now_ms() < deadline) {
		if (third < 0) {
			third = fm_worker_add(F, "fkafka-w3", NULL);
		} else {
			int st = fm_worker_remove(F, third);

			if (st != 0)
				fm_violation("the third worker exited %d on SIGTERM", st);
			third = -1;
		}
		changes++;
		fm_sleep_ms(fm_rand(2000, 4000));
	}
	r_churn = (double)fload_done(F, &l) * 1000.0 / (double)(clock_now_ms() - t0 + 1);
	if (third >= 0 && fm_worker_remove(F, third) != 0)
		fm_violation("the third worker did not exit 0 on SIGTERM");
	fm_check(F, &l, FM_DONE_MS, &inv);
	/* A create whose TM answer did not come within TMPROV_TM_TIMEOUT (1 s here; a worker
	 * just started on a loaded machine) is parked by policy: ambiguous, not lost. */
	if (inv.failed != inv.parked)
		fm_violation("%ld commands failed besides parked creates (%s)",
			     inv.failed - inv.parked, inv.failed_sample);
	fm_row_end_skip(F, K4_UNCHECKED,
			"%zu commands, %d joins and leaves, %.0f commands/s under churn vs %.0f "
			"steady (%.0f %%), TM calls %ld, failed %ld, parked %ld, dup creates %ld, "
			"lost %zu",
			inv.n, changes, r_churn, r_steady, 100.0 * r_churn / r_steady, inv.calls,
			inv.failed, inv.parked, inv.creates_dup, inv.lost);
	fload_free(&steady);
	fload_free(&l);
}

#define K5_DOWN_MS 30000

/* K5: every broker down for 30 s in the middle of the load: consumption and publishing stall,
 * nothing fails, the lag drains after. */
static void
test_k5_brokers_down(void **state)
{
	struct fload l;
	struct fm_inv inv;
	long at_down, at_up, t_up;

	(void)state;
	fm_row_begin(F, "K5");
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_send(F, &l, "k5", "cuq", 700);
	fload_wait_done(F, &l, (long)l.n / 4, 30000);
	fm_kafka_fault(F, "down");
	at_down = fload_done(F, &l);
	fm_sleep_ms(K5_DOWN_MS);
	at_up = fload_done(F, &l);
	fm_kafka_fault(F, "up");
	t_up = clock_now_ms();
	for (int i = 0; i < F->nw; i++)
		if (!worker_running(F->w[i]))
			fm_violation("worker %d died while the brokers were down (status %d)",
				     i + 1, worker_status(F->w[i]));
	fm_check(F, &l, FM_DONE_MS, &inv);
	if (inv.failed)
		fm_violation("%ld commands failed (%s)", inv.failed, inv.failed_sample);
	fm_row_end(F,
		   "%zu commands, brokers down %d s at %ld done (%ld done while down), lag drained "
		   "%.1f s after they came back, TM calls %ld, failed %ld, dup creates %ld",
		   inv.n, K5_DOWN_MS / 1000, at_down, at_up - at_down,
		   (double)(clock_now_ms() - t_up) / 1000.0, inv.calls, inv.failed,
		   inv.creates_dup);
	fload_free(&l);
}

#define K8_DRAIN_MS 15000 /* wenv's TMPROV_DRAIN_TIMEOUT */
#define K8_GRACE_MS 10000 /* "within TMPROV_DRAIN_TIMEOUT + a few seconds" (issue 11) */

/* Worker i's exit after its SIGTERM at t0 (when: what the row did, for the messages): 0 within
 * the drain timeout + 10 s, by its shutdown, not its exit guard (guarded: its log's count of
 * the guard's line before the signal). The guard fires at that same bound: the wait goes on
 * a few seconds past it, so that a guarded exit is told apart from a hang and shows the guard's
 * line and the stuck thread's backtrace. Returns the milliseconds from the signal. */
static long
sigterm_exit(int i, long t0, long guarded, const char *when)
{
	const long bound = K8_DRAIN_MS + K8_GRACE_MS;
	long left = bound + 3000 - (clock_now_ms() - t0), ms;
	int st = worker_wait(F->w[i], left > 0 ? (int)left : 0, NULL);

	ms = clock_now_ms() - t0;
	if (st == -1) {
		fm_violation("worker %d did not exit on SIGTERM %s within %ld ms", i + 1, when,
			     bound);
		worker_log_tail(F->w[i], 20);
		worker_kill(F->w[i]);
	} else if (st != 0) {
		fm_violation("worker %d exited %d on SIGTERM %s", i + 1, st, when);
	} else if (worker_log_count(F->w[i], "past its bound") > guarded) {
		fm_violation("worker %d was ended by its exit guard, not its shutdown", i + 1);
		worker_log_tail(F->w[i], 40);
	} else if (ms > bound) {
		fm_violation("worker %d exited %ld ms after SIGTERM %s, past %ld ms", i + 1, ms,
			     when, bound);
	}
	return ms;
}

/* K8: SIGTERM to every worker while the broker is silent (it takes requests and answers none
 * for 30 s, as a broker behind a dead link does): the final offset commit, the outbox and
 * the group leave cannot be done, yet each worker exits 0 within its drain timeout plus a few
 * seconds; what it could not commit is redelivered to the restarted workers and done once. */
static void
test_k8_sigterm_brokers_down(void **state)
{
	struct fload l;
	struct fm_inv inv;
	long at, t0, slowest = 0, guarded[FM_WORKERS_MAX], earlier = 0;

	(void)state;
	fm_row_begin(F, "K8");
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_send(F, &l, "k8", "cuq", 700);
	fload_wait_done(F, &l, (long)l.n / 4, 30000);
	fm_kafka_fault(F, "rtt 30000");
	at = fload_done(F, &l);
	fm_sleep_ms(2000);
	/* A worker's log goes on across the rows' restarts: an earlier row's guarded exit is not
	 * this one's. */
	for (int i = 0; i < F->nw; i++) {
		guarded[i] = worker_log_count(F->w[i], "past its bound");
		earlier += guarded[i];
	}
	for (int i = 0; i < F->nw; i++)
		worker_signal(F->w[i], SIGTERM);
	t0 = clock_now_ms();
	for (int i = 0; i < F->nw; i++) {
		long ms = sigterm_exit(i, t0, guarded[i], "with the broker silent");

		slowest = ms > slowest ? ms : slowest;
	}
	fm_kafka_fault(F, "rtt 0");
	for (int i = 0; i < F->nw; i++)
		wenv_worker_restart(F->e, F->w[i]);
	fm_check(F, &l, FM_DONE_MS, &inv);
	if (inv.failed)
		fm_violation("%ld commands failed (%s)", inv.failed, inv.failed_sample);
	fm_row_end(F,
		   "%zu commands, broker silent at %ld done, SIGTERM 2 s later: slowest exit after "
		   "%ld ms (bound %d), TM calls %ld, failed %ld, dup creates %ld, all done after "
		   "%.1f s; exits by the guard in earlier rows %ld",
		   inv.n, at, slowest, K8_DRAIN_MS + K8_GRACE_MS, inv.calls, inv.failed,
		   inv.creates_dup, inv.done_s, earlier);
	fload_free(&l);
}

#define K10_ROUNDS 10

/* Waits until w has logged more than n lines holding needle, polling every 2 ms; returns the
 * count then, or n at the timeout. */
static long
log_count_beyond(struct worker *w, const char *needle, long n, int timeout_ms)
{
	long until = clock_now_ms() + timeout_ms, c = n;

	while ((c = worker_log_count(w, needle)) <= n && clock_now_ms() < until)
		fm_sleep_ms(2);
	return c;
}

/* K10: SIGTERM to a worker while the group hands it the partitions of one that is leaving (the
 * other worker's SIGTERM rebalances the group), round after round under load: in even rounds
 * the signal follows the survivor's new assignment by 0-20 ms (the shutdown meets partitions it
 * has not begun to use); in odd rounds it comes 5-150 ms before the assignment is due (the
 * previous round's revoke-to-assignment time), so that the assignment lands in the group leave,
 * whose rebalance callback then runs while the group terminates. Every exit is 0, within the
 * drain timeout + 10 s, by the shutdown itself, not its exit guard. */
static void
test_k10_sigterm_in_rebalance(void **state)
{
	struct fload l;
	struct fm_inv inv;
	long slowest = 0, missed = 0, gap = 0, landed = 0;

	(void)state;
	fm_row_begin(F, "K10");
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_send(F, &l, "k10", "cuq", 700);
	for (int r = 0; r < K10_ROUNDS; r++) {
		long assigned, revoked, guarded[2], t1, t0, ms[2], before;

		fload_wait_done(F, &l, (long)l.n * (r + 1) / (K10_ROUNDS + 2), 30000);
		/* The restarted workers' own rebalance is over: what follows is the signal's. */
		group_settled("K10");
		assigned = worker_log_count(F->w[0], "consumer: assigned");
		revoked = worker_log_count(F->w[0], "consumer: revoked");
		for (int i = 0; i < 2; i++)
			guarded[i] = worker_log_count(F->w[i], "past its bound");
		worker_signal(F->w[1], SIGTERM);
		t1 = clock_now_ms();
		if (log_count_beyond(F->w[0], "consumer: revoked", revoked, 20000) == revoked)
			missed++;
		if (r % 2 == 1 && gap > 0) {
			/* 5-150 ms before the assignment is due (the mock cluster's rebalance takes
			 * the same time to a few ms each round): it lands in the group leave. */
			fm_sleep_ms(fm_rand(gap > 150 ? gap - 150 : 0, gap > 5 ? gap - 5 : 0));
		} else {
			long t = clock_now_ms();

			if (log_count_beyond(F->w[0], "consumer: assigned", assigned, 20000) ==
			    assigned) {
				missed++;
				gap = 0; /* no aim for the next round: it waits too */
			} else {
				gap = clock_now_ms() - t;
			}
			fm_sleep_ms(fm_rand(0, 20));
		}
		before = worker_log_count(F->w[0], "during the group leave");
		worker_signal(F->w[0], SIGTERM);
		t0 = clock_now_ms();
		ms[0] = sigterm_exit(1, t1, guarded[1], "during a rebalance");
		ms[1] = sigterm_exit(0, t0, guarded[0], "during a rebalance");
		landed += worker_log_count(F->w[0], "during the group leave") > before;
		for (int i = 0; i < 2; i++)
			slowest = ms[i] > slowest ? ms[i] : slowest;
		for (int i = 0; i < F->nw; i++)
			wenv_worker_restart(F->e, F->w[i]);
	}
	if (missed)
		fm_violation("%ld of the waits (a revoke, then in even rounds an assignment, after "
			     "the other worker's SIGTERM) saw nothing within 20 s",
			     missed);
	fm_check(F, &l, FM_DONE_MS, &inv);
	if (inv.failed)
		fm_violation("%ld commands failed (%s)", inv.failed, inv.failed_sample);
	fm_row_end(
	    F,
	    "%zu commands, %d rounds of SIGTERM during a rebalance (%ld assignments came "
	    "during the group leave): slowest exit after %ld ms (bound %d), TM calls %ld, failed "
	    "%ld, dup creates %ld, all done after %.1f s",
	    inv.n, K10_ROUNDS, landed, slowest, K8_DRAIN_MS + K8_GRACE_MS, inv.calls, inv.failed,
	    inv.creates_dup, inv.done_s);
	fload_free(&l);
}

/* Commands of l whose outcome was published more than once (K6 wants exactly one message). */
static long
outcome_copies(const struct fload *l)
{
	long extra = 0;

	for (size_t k = 0; k < l->n; k++) {
		size_t n = wenv_outcome_messages(F->e, l->idp[k], NULL);

		extra += n > 1;
	}
	return extra;
}

/* K6: the broker answers produce requests with NOT_LEADER_FOR_PARTITION and
 * REQUEST_TIMED_OUT for a while: no event is lost, duplicated or reordered (the workers run with
 * one produce request in flight: see main). */
static void
test_k6_produce_errors(void **state)
{
	struct fload l;
	struct fm_inv inv;
	long copies;

	(void)state;
	fm_row_begin(F, "K6");
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_send(F, &l, "k6", "cuq", 700);
	fload_wait_done(F, &l, (long)l.n / 5, 30000);
	/* ApiKey 0 is Produce; 6 NOT_LEADER_OR_FOLLOWER, 7 REQUEST_TIMED_OUT. */
	for (int i = 0; i < 5; i++) {
		fm_kafka_fault(F, "errors 0 6 10");
		fm_kafka_fault(F, "errors 0 7 10");
		fm_sleep_ms(1000);
	}
	fm_check(F, &l, FM_DONE_MS, &inv);
	copies = outcome_copies(&l);
	if (copies)
		fm_violation("%ld outcome events published more than once", copies);
	if (inv.failed)
		fm_violation("%ld commands failed (%s)", inv.failed, inv.failed_sample);
	fm_row_end(F,
		   "%zu commands, 100 produce errors, duplicated events %ld, misordered %zu, "
		   "TM calls %ld, all done after %.1f s",
		   inv.n, copies, inv.misorder, inv.calls, inv.done_s);
	fload_free(&l);
}

/* K7: offset commits fail for a while, then a worker is killed: whatever is redelivered, no
 * TM call is made again for a command already done. */
static void
test_k7_commit_errors(void **state)
{
	struct fload l;
	struct fm_mark m;
	struct fm_inv inv;
	long at, resent;

	(void)state;
	fm_row_begin(F, "K7");
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_send(F, &l, "k7", "cuq", 700);
	fload_wait_done(F, &l, (long)l.n / 10, 30000);
	/* ApiKey 8 is OffsetCommit; 7 REQUEST_TIMED_OUT, 15 COORDINATOR_NOT_AVAILABLE. */
	fm_kafka_fault(F, "errors 8 7 200");
	fm_kafka_fault(F, "errors 8 15 200");
	fload_wait_done(F, &l, (long)l.n / 2, 30000);
	worker_kill(F->w[0]);
	fm_mark_take(F, &l, &m);
	at = (long)json_object_size(m.done);
	wenv_worker_restart(F->e, F->w[0]);
	fm_check(F, &l, FM_DONE_MS, &inv);
	resent = fm_resent(F, &l, &m);
	fm_mark_free(&m);
	failures_explained(&l);
	fm_row_end(
	    F,
	    "%zu commands, 400 commit errors, SIGKILL at %ld done, re-sent %ld, TM calls %ld, "
	    "parked %ld, dup creates %ld",
	    inv.n, at, resent, inv.calls, inv.parked, inv.creates_dup);
	fload_free(&l);
}

#define K9_POISON 4

/* K9: poison among the load — not JSON, 1.1 MB, a done id re-sent with another body, a key
 * that is not the subject: each is rejected or dead-lettered and its partition moves on
 * (defects 3 and 6). */
static void
test_k9_poison(void **state)
{
	static struct kdelivery d[K9_POISON];
	static const char *what[K9_POISON] = {"not JSON", "1.1 MB", "same id, other body",
					      "key is not the subject"};
	struct fload l;
	struct fm_inv inv;
	struct kprod *big = NULL;
	const char *keyed = "k9-keyed";
	char err[512], *text, *huge;
	size_t hlen = 1100 * 1000;
	int handled = 0;

	(void)state;
	fm_row_begin(F, "K9");
	fload_build(&l, "k9", "cuq", 500);
	fload_send_range(F, &l, 0, l.n / 2);
	wenv_send_raw(F->e, "k9-00001", "{not json", 9, &d[0]);
	huge = malloc(hlen);
	assert_non_null(huge);
	memset(huge, 'x', hlen);
	assert_int_equal(kprod_new(&big, F->e->dk.bootstrap, err, sizeof(err)), 0);
	assert_int_equal(
	    kprod_send(big, F->e->tcmd, "k9-00002", 8, huge, hlen, &d[1], err, sizeof(err)), 0);
	wenv_assert(F->e, kprod_flush(big, 30000, err, sizeof(err)) == 0, "1.1 MB: %s", err);
	kprod_free(big);
	free(huge);
	text = cmdjson_text(l.idp[0], "account.create", "k9-00000",
			    json_pack("{s:s, s:s, s:i, s:i}", "company_name", "other body", "email",
				      "x@other.example", "rooms", 9, "participants", 9));
	wenv_send_raw(F->e, "k9-00000", text, strlen(text), &d[2]);
	free(text);
	text = cmdjson_text("k9-keyed", "account.create", "k9-keyed",
			    json_pack("{s:s, s:s, s:i, s:i}", "company_name", "keyed", "email",
				      "x@keyed.example", "rooms", 1, "participants", 1));
	wenv_send_raw(F->e, "k9-00003", text, strlen(text), &d[3]);
	free(text);
	fload_send_range(F, &l, l.n / 2, l.n);
	/* The poison sits among the load: once the load is done its partitions have moved past
	 * it, and its DLQ copy is due (a loaded machine may take longer than the copy's wait). */
	fload_wait_done(F, &l, (long)l.n, FM_DONE_MS);
	for (int i = 0; i < K9_POISON; i++) {
		if (wenv_dlq_wait(F->e, &d[i], 10000) != NULL)
			handled++;
		else
			fm_violation("%s: no DLQ copy", what[i]);
	}
	wenv_wait_outcomes(F->e, &keyed, 1, 5000);
	if (strcmp(fm_outcome_type(F, keyed), "command.rejected") != 0)
		fm_violation("key is not the subject: outcome \"%s\", not command.rejected",
			     fm_outcome_type(F, keyed));
	fm_check(F, &l, FM_DONE_MS, &inv);
	fm_row_end(F,
		   "%zu commands and %d poison messages, %d dead-lettered, lost %zu, TM calls %ld",
		   inv.n, K9_POISON, handled, inv.lost, inv.calls);
	fload_free(&l);
}

int
main(void)
{
	/* K4 last: its 9,000 outcome events and a dozen group generations stay out of the other
	 * rows' way. */
	const struct CMUnitTest rows[] = {
	    FM_ROW(test_k1_sigkill),
	    FM_ROW(test_k2_sigterm),
	    FM_ROW(test_k3_sigstop),
	    FM_ROW(test_k5_brokers_down),
	    FM_ROW(test_k6_produce_errors),
	    FM_ROW(test_k7_commit_errors),
	    FM_ROW(test_k9_poison),
	    FM_ROW(test_k8_sigterm_brokers_down),
	    FM_ROW(test_k10_sigterm_in_rebalance),
	    FM_ROW(test_k4_churn),
	};

	/* One produce request in flight per broker: librdkafka's mock cluster (tmprov-devkafka)
	 * checks idempotent sequence numbers only for transactional producers, so with several in
	 * flight it appends a request sent after one it failed (K6's injected NOT_LEADER,
	 * REQUEST_TIMED_OUT), and librdkafka, trusting a broker that would have refused it
	 * (OUT_OF_ORDER_SEQUENCE_NUMBER), reports the failed request's messages delivered
	 * ("implicitly acked by subsequent batch success"): events the mock never stored. Real
	 * Kafka refuses the later request; one in flight makes the mock equally strict. */
	static const char *const extra[] = {"TMPROV_KAFKA_PROPS=" WENV_KAFKA_PROPS
					    ",max.in.flight.requests.per.connection=1",
					    NULL};
	const struct fm_opts opts = {.extra = extra};

	return fm_run(&F, "fkafka", &opts, rows, sizeof(rows) / sizeof(rows[0]));
}
