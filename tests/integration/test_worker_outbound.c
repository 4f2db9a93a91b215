/* Integration tests of what tmprov-worker sends to Kafka and commits there, with the broker's
 * faults pushed through tmprov-devkafka's control socket (issue 11): a command larger than the
 * DLQ producer's message.max.bytes is dead-lettered truncated and its partition goes on (defect
 * 3, row K9); outcome events keep each subject's order and one copy per command through produce
 * errors (defect 7, row K6); an offset commit refused per partition is sent again (13, row K7). */
#include <setjmp.h>
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
#include "../support/wcase.h"
#include "../support/wenv.h"
#include "clock.h"

static struct wenv *E;
/* Deliveries time out after 1 s, so produce errors held that long fail some of them. One
 * produce request in flight: the mock checks no idempotent sequence numbers (it does only for
 * transactional producers), so with several it acks a later batch while an earlier one's retry
 * is pending, and librdkafka, inferring from the later ack (as Kafka's ordering entitles it
 * to) that the earlier batch was persisted, reports it delivered though it is not on the log. */
static const char *const SETTINGS[] = {
    "TMPROV_KAFKA_PROPS=session.timeout.ms=6000,heartbeat.interval.ms=1000,"
    "message.timeout.ms=1000,max.in.flight.requests.per.connection=1",
    NULL};

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
fault(const char *cmd)
{
	char err[512];

	if (ku_devkafka_fault(&E->dk, cmd, err, sizeof(err)) != 0)
		fail_msg("devkafka fault: %s", err);
}

/* Waits until the worker's group has committed partition past offset; the committed offset. */
static int64_t
wait_committed_past(int32_t partition, int64_t offset, int timeout_ms)
{
	char err[512];
	int64_t got = -1;

	for (long t0 = clock_now_ms(); clock_now_ms() - t0 < timeout_ms; sleep_ms(100)) {
		got = ku_committed(E->dk.bootstrap, E->group, E->tcmd, partition, err, sizeof(err));
		if (got > offset)
			break;
	}
	return got;
}

/* ---- defect 3: a command over the DLQ producer's message.max.bytes ---- */

static void
test_oversize_dead_lettered(void **state)
{
	enum { BIG = 1100 * 1024 };
	const char *s = "ob-big";
	char *big = malloc(BIG), want[32];
	struct kdelivery d = {0};
	const struct kmsg *m;
	int n;

	(void)state;
	assert_non_null(big);
	/* A command in every other way, whose company name alone is over 1 MB. */
	n = snprintf(big, BIG,
		     "{\"specversion\":\"1.0\",\"id\":\"ob-big-1\",\"source\":\"billing\","
		     "\"type\":\"account.create\",\"subject\":\"%s\",\"data\":{\"email\":"
		     "\"b@big.example\",\"rooms\":1,\"participants\":2,\"company_name\":\"",
		     s);
	memset(big + n, 'x', BIG - (size_t)n - 3);
	memcpy(big + BIG - 3, "\"}}", 3);
	wenv_send_raw(E, s, big, BIG, &d);
	wenv_flush(E);
	/* A later command of the same subject: same key, same partition. */
	wenv_send(E, "ob-big-after", "account.create", s,
		  wcase_account_data("After Big", "a@big.example", 1, 2));
	wenv_flush(E);

	m = wenv_dlq_wait(E, &d, 20000);
	wenv_assert(E, m != NULL, "no DLQ copy of the %d-byte command", BIG);
	snprintf(want, sizeof(want), "%d", BIG);
	assert_string_equal(json_string_value(json_object_get(m->headers, "tmprov.truncated")),
			    want);
	assert_non_null(json_string_value(json_object_get(m->headers, "tmprov.reason")));
	assert_string_equal(m->key, s);
	/* What is left is the start of the message, byte for byte. */
	assert_true(m->len < BIG);
	assert_true(m->len == 0 || memcmp(m->value, big, m->len) == 0);
	/* The partition goes on: the next command is done and the offset committed past both. */
	wenv_outcome(E, "ob-big-after", s, "account.created");
	assert_true(wait_committed_past(d.partition, d.offset, 15000) > d.offset);
	free(big);
}

/* ---- defect 7 and row K6: produce errors while outcome events go out ---- */

/* The commandids of subject's events on the events topic, in the order read (one partition's
 * order), as "a,b,c" into out; a copy right after the one before (a delivery that timed out
 * though the broker had it, published again at once) is written once and counted in *again. */
static void
events_order(const char *subject, char *out, size_t len, int *again)
{
	size_t n = kcoll_count(E->events), used = 0;
	const char *last = NULL;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct kmsg *m = kcoll_at(E->events, i);
		const char *cid = json_string_value(json_object_get(m->json, "commandid"));

		if (!m->key || strcmp(m->key, subject) != 0 || !cid)
			continue;
		if (last && strcmp(last, cid) == 0) {
			(*again)++;
			continue;
		}
		last = cid;
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? "," : "", cid);
		if (used >= len)
			fail_msg("events of %s: more than %zu bytes of ids", subject, len);
	}
}

/* Produce requests answered with NOT_LEADER_FOR_PARTITION and REQUEST_TIMED_OUT, each held
 * 800 ms, while three subjects' commands run (TM answering in 100 ms): deliveries time out
 * (message.timeout.ms=1000) and are published again. Each command has one event id, and each
 * subject's events are on the topic in command (= outbox seq) order: a second copy of an
 * event may only follow its first at once (a timed-out delivery the broker had taken), never
 * come after a later event of its subject. */
static void
test_events_order_through_produce_errors(void **state)
{
	enum { SUBJECTS = 3, PER = 6 };
	char id[SUBJECTS][PER][32], want[1024], got[1024], subject[32];
	const char *ids[SUBJECTS * PER];
	size_t copies, distinct;
	char *seq_order;
	int again = 0;

	(void)state;
	wenv_sim_faults(E, "latency_ms=100");
	for (int i = 0; i < PER; i++) {
		for (int s = 0; s < SUBJECTS; s++) {
			snprintf(subject, sizeof(subject), "ob-k6-%d", s);
			snprintf(id[s][i], sizeof(id[s][i]), "ob-k6-%d-%d", s, i);
			ids[s * PER + i] = id[s][i];
			if (i == 0)
				wenv_send(E, id[s][i], "account.create", subject,
					  wcase_account_data(subject, "k6@order.example", 1, 2));
			else
				wenv_send(E, id[s][i], "account.update", subject,
					  json_pack("{s:i}", "rooms", i + 1));
		}
	}
	wenv_flush(E);
	fault("broker-errors 1 Produce REQUEST_TIMED_OUT:800 NOT_LEADER_FOR_PARTITION:800 "
	      "REQUEST_TIMED_OUT:800 NOT_LEADER_FOR_PARTITION:800 REQUEST_TIMED_OUT:800");
	if (wenv_wait_outcomes(E, ids, SUBJECTS * PER, 60000) < SUBJECTS * PER) {
		for (size_t i = 0; i < SUBJECTS * PER; i++) {
			char *st;

			if (kcoll_find(E->events, ids[i], NULL, 0) > 0)
				continue;
			st = wenv_sql(
			    E,
			    "SELECT c.status || ' ' || coalesce(o.seq::text, '-') || ' ' "
			    "|| coalesce(o.published_at::text, 'unpublished') FROM commands "
			    "c LEFT JOIN outbox o ON o.command_id = c.id WHERE c.id = $1",
			    ids[i], NULL);
			fprintf(stderr, "no outcome event for %s: %s\n", ids[i],
				st ? st : "no row");
			free(st);
		}
		{
			json_t *all = NULL, *m;
			size_t k;
			int n = ku_consume_all(E->dk.bootstrap, E->tevt, 0, 10000, &all);

			fprintf(stderr, "a fresh reader of %s finds %d event(s):\n", E->tevt, n);
			json_array_foreach(all, k, m)
			    fprintf(stderr, "  [%lld]@%lld %s\n",
				    (long long)json_integer_value(json_object_get(m, "partition")),
				    (long long)json_integer_value(json_object_get(m, "offset")),
				    json_string_value(
					json_object_get(json_object_get(m, "json"), "commandid")));
			json_decref(all);
		}
		wenv_assert(E, 0, "outcomes missing");
	}
	sim_faults(E->sim, "reset=1");
	for (int s = 0; s < SUBJECTS; s++) {
		size_t used = 0;

		snprintf(subject, sizeof(subject), "ob-k6-%d", s);
		for (int i = 0; i < PER; i++) {
			copies = wenv_outcome_messages(E, id[s][i], &distinct);
			wenv_assert(E, copies >= 1 && distinct == 1,
				    "%s: %zu event(s), %zu distinct id(s)", id[s][i], copies,
				    distinct);
			used += (size_t)snprintf(want + used, sizeof(want) - used, "%s%s",
						 i ? "," : "", id[s][i]);
		}
		seq_order = wenv_sql(E,
				     "SELECT string_agg(command_id, ',' ORDER BY seq) FROM outbox "
				     "WHERE subject = $1",
				     subject, NULL);
		assert_string_equal(seq_order, want);
		free(seq_order);
		events_order(subject, got, sizeof(got), &again);
		wenv_assert(E, strcmp(got, want) == 0, "%s: events in the order %s, not %s",
			    subject, got, want);
	}
	print_message("# %d event(s) published again right after their first copy\n", again);
}

/* ---- 13 and row K7: offset commits refused ---- */

static double
commit_failures(void)
{
	return worker_metric(E->w, "tmprov_commit_failures_total", NULL);
}

/* The broker refuses the next offset commits (errors pushed on OffsetCommit, which the mock
 * reports per partition): each refused partition counts in tmprov_commit_failures_total and is
 * committed again, so the committed offset still gets past the work done; after a SIGKILL the
 * restarted worker makes no TM call for the commands already done. */
static void
test_commit_refused_then_killed(void **state)
{
	enum { N = 4 };
	const char *s = "ob-commit";
	struct kdelivery d[N];
	char id[N][32], name[N][32];
	const char *ids[N];
	double before;
	int64_t got;

	(void)state;
	before = commit_failures();
	assert_true(before >= 0);
	fault("errors OffsetCommit OFFSET_METADATA_TOO_LARGE OFFSET_METADATA_TOO_LARGE "
	      "OFFSET_METADATA_TOO_LARGE");
	for (int i = 0; i < N; i++) {
		char *text;

		snprintf(id[i], sizeof(id[i]), "ob-commit-%d", i);
		snprintf(name[i], sizeof(name[i]), "Commit Co %d", i);
		text = cmdjson_text(id[i], i ? "account.update" : "account.create", s,
				    i ? json_pack("{s:s}", "company_name", name[i])
				      : wcase_account_data(name[i], "c@commit.example", 1, 2));
		assert_non_null(text);
		wenv_send_raw(E, s, text, strlen(text), &d[i]);
		free(text);
		ids[i] = id[i];
	}
	wenv_flush(E);
	assert_int_equal(wenv_wait_outcomes(E, ids, N, 20000), N);
	got = wait_committed_past(d[N - 1].partition, d[N - 1].offset, 15000);
	wenv_assert(E, got > d[N - 1].offset, "committed %lld, not past %lld", (long long)got,
		    (long long)d[N - 1].offset);
	wenv_assert(E, commit_failures() > before, "tmprov_commit_failures_total %.0f, was %.0f",
		    commit_failures(), before);
	/* K7's second half: the restarted worker takes up from the committed offsets. */
	worker_kill(E->w);
	wenv_worker_restart(E, E->w);
	wcase_run1(E, "ob-commit-after", "account.update", s,
		   json_pack("{s:s}", "company_name", "Commit Co after"), "account.updated");
	assert_int_equal(wenv_sim_calls(E, "create_account", "company_name", name[0]), 1);
	for (int i = 1; i < N; i++)
		assert_int_equal(wenv_sim_calls(E, "update_account", "company_name", name[i]), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_oversize_dead_lettered),
	    cmocka_unit_test(test_events_order_through_produce_errors),
	    cmocka_unit_test(test_commit_refused_then_killed),
	};

	return wcase_run(&E, "woutbound", SETTINGS, tests, sizeof(tests) / sizeof(tests[0]));
}
