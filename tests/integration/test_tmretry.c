/* Tests for workers/worker/tmretry: the retry decision per outcome class, endpoint and policy
 * (a table), the delay with Retry-After, the TM health tracker, and the call loop against a
 * private tmsim with injected faults: retries, intents before non-idempotent attempts, parking,
 * possible duplicates, the budget, attempts while TM is down, Retry-After and stop. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "tm_loop.h"
#include "../../workers/worker/tmretry.h"
#include "../support/sim.h"

static const struct tmretry_policy POLICY = {
    .backoff = {1, 10},
    .budget = 3,
    .pause_after = 100,
    .create = TMRETRY_UNKNOWN_PARK,
    .schedule = TMRETRY_UNKNOWN_RETRY,
};

static void
test_decide_table(void **state)
{
	static const struct {
		enum tm_endpoint ep;
		enum tm_outcome outcome;
		bool acted;
		unsigned counted;
		enum tmretry_unknown create, schedule;
		enum tmretry_action want;
		bool dup;
	} cases[] = {
	    /* Final answers, whatever the endpoint. */
	    {TM_CREATE_ACCOUNT, TM_OK, true, 1, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_RETRY,
	     TMRETRY_OK, false},
	    {TM_UPDATE_ACCOUNT, TM_FAILED, false, 1, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_RETRY,
	     TMRETRY_FAILED, false},
	    {TM_REMOTE_SCHEDULE, TM_FAILED, false, 3, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_RETRY,
	     TMRETRY_FAILED, false},
	    /* Not sent: always safe to repeat, until the budget. */
	    {TM_CREATE_ACCOUNT, TM_NOT_SENT, false, 1, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_RETRY,
	     TMRETRY_AGAIN, false},
	    {TM_CREATE_ACCOUNT, TM_NOT_SENT, false, 3, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_RETRY,
	     TMRETRY_EXHAUSTED, false},
	    /* Transient that did not act (429, 503): repeat. */
	    {TM_CREATE_ACCOUNT, TM_TRANSIENT, false, 2, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_RETRY,
	     TMRETRY_AGAIN, false},
	    {TM_QUERY_ACCOUNT, TM_TRANSIENT, false, 3, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_RETRY,
	     TMRETRY_EXHAUSTED, false},
	    /* Ambiguous idempotent calls are simply repeated. */
	    {TM_UPDATE_ACCOUNT, TM_AMBIGUOUS, true, 1, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_PARK,
	     TMRETRY_AGAIN, false},
	    {TM_DELETE_ACCOUNT, TM_AMBIGUOUS, true, 1, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_PARK,
	     TMRETRY_AGAIN, false},
	    {TM_QUERY_ACCOUNT, TM_TRANSIENT, true, 1, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_PARK,
	     TMRETRY_AGAIN, false},
	    /* Ambiguous create: its policy. */
	    {TM_CREATE_ACCOUNT, TM_AMBIGUOUS, true, 1, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_RETRY,
	     TMRETRY_PARK, false},
	    {TM_CREATE_ACCOUNT, TM_AMBIGUOUS, true, 1, TMRETRY_UNKNOWN_RETRY, TMRETRY_UNKNOWN_PARK,
	     TMRETRY_AGAIN, true},
	    /* A 500 after the request got through counts as ambiguous for create. */
	    {TM_CREATE_ACCOUNT, TM_TRANSIENT, true, 1, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_RETRY,
	     TMRETRY_PARK, false},
	    /* Ambiguous schedule: its own policy, independent of create's. */
	    {TM_REMOTE_SCHEDULE, TM_AMBIGUOUS, true, 1, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_RETRY,
	     TMRETRY_AGAIN, true},
	    {TM_REMOTE_SCHEDULE, TM_AMBIGUOUS, true, 1, TMRETRY_UNKNOWN_RETRY, TMRETRY_UNKNOWN_PARK,
	     TMRETRY_PARK, false},
	    {TM_REMOTE_SCHEDULE, TM_TRANSIENT, true, 3, TMRETRY_UNKNOWN_PARK, TMRETRY_UNKNOWN_RETRY,
	     TMRETRY_EXHAUSTED, true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tmretry_policy p = POLICY;
		bool dup = false;
		enum tmretry_action a;

		p.create = cases[i].create;
		p.schedule = cases[i].schedule;
		a = tmretry_decide(&p, cases[i].ep, cases[i].outcome, cases[i].acted,
				   cases[i].counted, &dup);
		if (a != cases[i].want || dup != cases[i].dup)
			fail_msg("case %zu (%s %s acted=%d counted=%u): got %s dup=%d, want %s "
				 "dup=%d",
				 i, tm_endpoint_name(cases[i].ep),
				 tm_outcome_name(cases[i].outcome), cases[i].acted,
				 cases[i].counted, tmretry_action_name(a), dup,
				 tmretry_action_name(cases[i].want), cases[i].dup);
	}
}

static void
test_decide_keeps_duplicate_flag(void **state)
{
	bool dup = true;

	(void)state;
	/* Once a repeat may have made a twin, a later clean answer does not unmark it. */
	assert_int_equal(tmretry_decide(&POLICY, TM_REMOTE_SCHEDULE, TM_OK, true, 2, &dup),
			 TMRETRY_OK);
	assert_true(dup);
}

static void
test_delay(void **state)
{
	const struct tmretry_policy p = {.backoff = {100, 1000}};

	(void)state;
	for (int i = 0; i < 2000; i++) {
		unsigned made = 1 + (unsigned)(i % 8);
		long ceiling = backoff_ceiling_ms(&p.backoff, made - 1);
		long d = tmretry_delay_ms(&p, made, -1);

		assert_true(d >= 0 && d <= ceiling);
		/* Retry-After is a floor, even above the cap. */
		assert_true(tmretry_delay_ms(&p, made, 1500) >= 1500);
		assert_true(tmretry_delay_ms(&p, made, 1500) <= 1500);
		d = tmretry_delay_ms(&p, made, 50);
		assert_true(d >= 50 && d <= (ceiling > 50 ? ceiling : 50));
	}
	assert_int_equal(tmretry_delay_ms(&p, 0, -1) <= 100, 1);
}

/* A result as tm_client would give it: outcome and HTTP status (0: none). */
static struct tm_result
result(enum tm_outcome outcome, long http_status, long retry_after_ms)
{
	struct tm_result r = {
	    .outcome = outcome, .http_status = http_status, .retry_after_ms = retry_after_ms};

	snprintf(r.error, sizeof(r.error), "%s %ld", tm_outcome_name(outcome), http_status);
	return r;
}

static void
test_health_sequences(void **state)
{
	static const struct {
		const char *account;
		enum tm_outcome outcome;
		long http_status;
		bool before; /* what record returns: up before this result */
		bool after;
	} seq[] = {
	    /* One account's failures, however many and of whatever kind, are its own. */
	    {"a", TM_TRANSIENT, 503, true, true},
	    {"a", TM_AMBIGUOUS, 0, true, true},
	    {"a", TM_TRANSIENT, 404, true, true},
	    {"a", TM_TRANSIENT, 502, true, true},
	    /* A second account in the same row: down. */
	    {"b", TM_TRANSIENT, 503, true, false},
	    {"b", TM_TRANSIENT, 503, false, false},
	    {"c", TM_FAILED, 200, false, true}, /* TM answered */
	    /* A garbled 2xx is TM answering: it neither counts nor pauses. */
	    {"a", TM_TRANSIENT, 200, true, true},
	    {"a", TM_TRANSIENT, 200, true, true},
	    {"a", TM_TRANSIENT, 200, true, true},
	    {"a", TM_TRANSIENT, 200, true, true},
	    /* No connection at all is never one account's doing. */
	    {"a", TM_NOT_SENT, 0, true, true},
	    {"a", TM_NOT_SENT, 0, true, true},
	    {"a", TM_NOT_SENT, 0, true, false},
	    {"a", TM_OK, 200, false, true},
	    /* ... but one account's refusals mixed with its timeouts are its own again. */
	    {"a", TM_NOT_SENT, 0, true, true},
	    {"a", TM_AMBIGUOUS, 0, true, true},
	    {"a", TM_NOT_SENT, 0, true, true},
	    {"a", TM_NOT_SENT, 0, true, true},
	};
	struct tmhealth *h = tmhealth_new(3, NULL);

	(void)state;
	assert_non_null(h);
	assert_true(tmhealth_available(h));
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		struct tm_result r = result(seq[i].outcome, seq[i].http_status, -1);
		bool before = tmhealth_record(h, seq[i].account, &r);

		if (before != seq[i].before || tmhealth_available(h) != seq[i].after)
			fail_msg("step %zu (%s %s %ld): before %d after %d, want %d %d", i,
				 seq[i].account, tm_outcome_name(seq[i].outcome),
				 seq[i].http_status, before, tmhealth_available(h), seq[i].before,
				 seq[i].after);
	}
	tmhealth_free(h);
	tmhealth_free(NULL);
}

/* TM's Retry-After holds every caller, and a wait for it ends with it. */
static void
test_health_retry_after_hold(void **state)
{
	struct tmhealth *h = tmhealth_new(3, NULL);
	struct tm_result r = result(TM_TRANSIENT, 429, 300);
	atomic_bool stop;

	(void)state;
	atomic_init(&stop, false);
	assert_int_equal(tmhealth_hold_ms(h), 0);
	tmhealth_record(h, "a", &r);
	assert_true(tmhealth_hold_ms(h) > 0 && tmhealth_hold_ms(h) <= 300);
	assert_true(tmhealth_available(h)); /* one account's 429: held, not down */
	assert_true(tmhealth_wait_call(h, &stop));
	assert_int_equal(tmhealth_hold_ms(h), 0);
	/* A stop ends the wait. */
	r.retry_after_ms = 60000;
	tmhealth_record(h, "a", &r);
	atomic_store(&stop, true);
	assert_false(tmhealth_wait_call(h, &stop));
	tmhealth_free(h);
}

/* 429s and 503s that say when to come back (Retry-After), across several accounts, are TM
 * rationing us: held, never "down" (the breaker would send probes to accounts TM just told to
 * wait: fault row V5); the same 503s without Retry-After are an outage. */
static void
test_health_retry_after_not_down(void **state)
{
	static const char *const accounts[] = {"a", "b", "c", "d", "e", "f"};
	struct tmhealth *h = tmhealth_new(3, NULL);

	(void)state;
	for (size_t i = 0; i < 6; i++) {
		struct tm_result r = result(TM_TRANSIENT, i % 2 ? 503 : 429, 2000);

		tmhealth_record(h, accounts[i], &r);
	}
	assert_true(tmhealth_available(h));
	assert_true(tmhealth_hold_ms(h) > 0);
	for (size_t i = 0; i < 6; i++) {
		struct tm_result r = result(TM_TRANSIENT, 503, -1);

		tmhealth_record(h, accounts[i], &r);
	}
	assert_false(tmhealth_available(h));
	tmhealth_free(h);
}

/* The breaker's view: closed; open after the outage with the failures kept (newest first, a few
 * at most); its next probe once planned; half-open while the probe is out; closed when TM
 * answers it, the next probe forgotten. */
static void
test_health_breaker_view(void **state)
{
	struct tmhealth *h = tmhealth_new(2, NULL);
	struct tmhealth_view v;
	struct tm_result down = result(TM_NOT_SENT, 0, -1), up = result(TM_FAILED, 200, -1);
	struct timespec now;
	unsigned long version;

	(void)state;
	tmhealth_view(h, &v);
	assert_int_equal(v.state, TMHEALTH_CLOSED);
	assert_int_equal(v.nfailures, 0);
	assert_string_equal(tmhealth_state_name(v.state), "closed");
	for (int i = 0; i < TMHEALTH_FAILURES + 2; i++)
		tmhealth_record(h, i % 2 ? "a" : "b", &down);
	tmhealth_view(h, &v);
	assert_int_equal(v.state, TMHEALTH_OPEN);
	assert_int_equal(v.nfailures, TMHEALTH_FAILURES);
	assert_non_null(strstr(v.failures[0].reason, "not_sent"));
	clock_gettime(CLOCK_REALTIME, &now);
	assert_true(v.failures[0].at_ms <= (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	assert_true(v.failures[0].at_ms >= v.failures[TMHEALTH_FAILURES - 1].at_ms);
	version = v.version;
	tmhealth_probe_planned(h, 1000);
	tmhealth_view(h, &v);
	assert_true(v.version > version);
	assert_true(v.next_probe_ms > (long long)now.tv_sec * 1000 + 500);
	tmhealth_probe_begins(h);
	tmhealth_view(h, &v);
	assert_int_equal(v.state, TMHEALTH_HALF_OPEN);
	assert_string_equal(tmhealth_state_name(v.state), "half-open");
	/* the probe fails: open again */
	tmhealth_record(h, "probe", &down);
	tmhealth_view(h, &v);
	assert_int_equal(v.state, TMHEALTH_OPEN);
	tmhealth_probe_begins(h);
	tmhealth_record(h, "probe", &up); /* TM's FAILED is an answer: TM is up */
	tmhealth_view(h, &v);
	assert_int_equal(v.state, TMHEALTH_CLOSED);
	assert_true(v.next_probe_ms == 0);
	/* planning a probe while closed changes nothing */
	tmhealth_probe_planned(h, 1000);
	tmhealth_view(h, &v);
	assert_true(v.next_probe_ms == 0);
	tmhealth_free(h);
}

static void *
health_hammer(void *arg)
{
	for (int i = 0; i < 10000; i++) {
		struct tm_result r =
		    result(i % 2 ? TM_TRANSIENT : TM_NOT_SENT, i % 2 ? 503 : 0, -1);

		tmhealth_record(arg, i % 3 ? "a" : "b", &r);
	}
	return NULL;
}

static void
test_health_threads(void **state)
{
	struct tmhealth *h = tmhealth_new(5, NULL);
	struct tm_result ok = result(TM_OK, 200, -1);
	pthread_t t[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, health_hammer, h), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(tmhealth_in_a_row(h), 40000);
	assert_false(tmhealth_available(h));
	tmhealth_record(h, "a", &ok);
	assert_true(tmhealth_available(h));
	tmhealth_free(h);
}

/* The call loop, against a private tmsim. */

struct fixture {
	struct sim *sim;
	struct tm_client *tc;
	struct tm_loop *loop; /* tmretry_call's */
	struct tmhealth *health;
	struct tmretry r;
};

static struct fixture F;

struct hook_log {
	unsigned n;
	unsigned attempt[16], prev[16];
	int answer; /* what before() returns */
};

static int
hook_before(void *arg, unsigned attempt, unsigned prev)
{
	struct hook_log *h = arg;

	if (h->n < 16) {
		h->attempt[h->n] = attempt;
		h->prev[h->n] = prev;
	}
	h->n++;
	return h->answer;
}

static int
setup(void **state)
{
	struct tm_client_opts o;
	char err[256];

	(void)state;
	if (sim_start(&F.sim, NULL) != 0)
		return -1;
	o = (struct tm_client_opts){
	    .base_url = sim_url(F.sim),
	    .partner_id = sim_partner(F.sim),
	    .connect_timeout_ms = 1000,
	    .timeout_ms = 400,
	    .max_response_bytes = 65536,
	    .retry_after_max_ms = 5000,
	};
	F.tc = tm_client_new(&o, err, sizeof(err));
	F.loop = F.tc != NULL ? tm_loop_new(&o, err, sizeof(err)) : NULL;
	if (F.loop == NULL) {
		fprintf(stderr, "tm_client_new or tm_loop_new: %s\n", err);
		tm_client_free(F.tc);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tm_loop_free(F.loop);
	tm_client_free(F.tc);
	sim_stop(F.sim);
	return 0;
}

/* Each test: a fresh tmsim state, health tracker and policy. */
static int
before_each(void **state)
{
	(void)state;
	if (sim_reset(F.sim) != 0)
		return -1;
	tmhealth_free(F.health);
	F.health = tmhealth_new(100, NULL);
	F.r = (struct tmretry){.policy = POLICY, .health = F.health};
	return 0;
}

static int
after_each(void **state)
{
	(void)state;
	tmhealth_free(F.health);
	F.health = NULL;
	return 0;
}

static const struct tm_request CREATE = {
    .endpoint = TM_CREATE_ACCOUNT,
    .company_name = "Retry Co",
    .email = "ops@retry.example",
    .rooms = 2,
    .participants = 10,
};

/* An account for update/query/schedule calls (one create_account call); its uid in uid. */
static void
make_account(char *uid, size_t len)
{
	struct tm_result res;

	assert_int_equal(tm_client_call(F.tc, &CREATE, &res), 0);
	assert_int_equal(res.outcome, TM_OK);
	snprintf(uid, len, "%s", res.company_uid);
}

static const char *
row_outcome(const struct tmretry_result *out, size_t i)
{
	return json_string_value(json_object_get(json_array_get(out->calls, i), "outcome"));
}

static void
test_call_transient_then_ok_idempotent(void **state)
{
	struct tm_request req = CREATE;
	struct hook_log log = {0};
	const struct tmretry_hooks hooks = {hook_before, &log};
	struct tmretry_result out;
	char uid[64], *want_url;

	(void)state;
	make_account(uid, sizeof(uid));
	req.endpoint = TM_UPDATE_ACCOUNT;
	req.company_uid = uid;
	assert_int_equal(sim_faults(F.sim, "error_next=2&error_status=503"), 0);
	assert_int_equal(tmretry_call(&F.r, F.loop, &req, 1, 0, false, &hooks, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_OK);
	assert_int_equal(out.made, 3);
	assert_int_equal(out.last_attempt, 3);
	/* An intent before every attempt, idempotent calls included: it claims the command id
	 * before TM is called, and tells a later run that the call may have been made. */
	assert_int_equal(log.n, 3);
	assert_int_equal(json_array_size(out.calls), 3);
	assert_string_equal(row_outcome(&out, 0), "transient");
	assert_string_equal(row_outcome(&out, 2), "ok");
	assert_int_equal(
	    json_integer_value(json_object_get(json_array_get(out.calls, 0), "http_status")), 503);
	/* Every row has the request's audit URL: the call as sent, the partner id redacted. */
	want_url = tm_audit_url(sim_url(F.sim), &req);
	assert_non_null(want_url);
	assert_non_null(strstr(want_url, "service_company_uid=REDACTED"));
	assert_null(strstr(want_url, sim_partner(F.sim)));
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(out.calls, i), "url")),
		    want_url);
	free(want_url);
	assert_int_equal(sim_count(F.sim, "update_account"), 3);
	assert_int_equal(sim_count(F.sim, "create_account"), 1);
	tmretry_result_clear(&out);
}

static void
test_call_intents_before_each_attempt(void **state)
{
	struct hook_log log = {0};
	const struct tmretry_hooks hooks = {hook_before, &log};
	struct tmretry_result out;

	(void)state;
	/* 503 means TM did not act, so create may be repeated; each attempt is preceded by its
	 * intent, which names the attempt it replaces. Numbering continues from first. */
	assert_int_equal(sim_faults(F.sim, "error_next=2&error_status=503"), 0);
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 4, 0, false, &hooks, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_OK);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.attempt[0], 4);
	assert_int_equal(log.prev[0], 0);
	assert_int_equal(log.attempt[1], 5);
	assert_int_equal(log.prev[1], 4);
	assert_int_equal(log.attempt[2], 6);
	assert_int_equal(log.prev[2], 5);
	assert_int_equal(out.last_attempt, 6);
	assert_true(out.last->company_uid[0] != '\0');
	assert_false(out.possible_duplicate);
	tmretry_result_clear(&out);
}

static void
test_call_hook_refuses(void **state)
{
	struct hook_log log = {.answer = 1};
	const struct tmretry_hooks hooks = {hook_before, &log};
	struct tmretry_result out;

	(void)state;
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 1, 0, false, &hooks, NULL, &out), 1);
	assert_int_equal(out.made, 0);
	assert_int_equal(sim_count(F.sim, "create_account"), 0);
	tmretry_result_clear(&out);
}

static void
test_call_create_timeout_parks(void **state)
{
	struct hook_log log = {0};
	const struct tmretry_hooks hooks = {hook_before, &log};
	struct tmretry_result out;

	(void)state;
	/* Held past the client's 400 ms: sent, no answer. */
	assert_int_equal(sim_faults(F.sim, "timeout_next=1&timeout_ms=1500"), 0);
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 1, 0, false, &hooks, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_PARK);
	assert_int_equal(out.made, 1);
	assert_true(out.last_may_have_acted);
	assert_string_equal(row_outcome(&out, 0), "ambiguous");
	assert_true(json_is_null(json_object_get(json_array_get(out.calls, 0), "http_status")));
	tmretry_result_clear(&out);
}

/* An answer that arrives when no memory can be had to keep it (tm_loop_take) is an answer
 * lost: a create parks as after a timeout, with its row "ambiguous"; a query is repeated. */
static void
test_call_answer_not_kept(void **state)
{
	struct tm_request query = CREATE;
	struct tmretry_result out;
	char uid[64];

	(void)state;
	tm_loop_forget_answers(F.loop, 1);
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 1, 0, false, NULL, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_PARK);
	assert_int_equal(out.made, 1);
	assert_true(out.last_may_have_acted);
	assert_null(out.last);
	assert_int_equal(tmretry_last(&out)->outcome, TM_AMBIGUOUS);
	assert_non_null(strstr(tmretry_last(&out)->error, "out of memory"));
	assert_string_equal(row_outcome(&out, 0), "ambiguous");
	assert_int_equal(sim_count(F.sim, "create_account"), 1);
	tmretry_result_clear(&out);
	make_account(uid, sizeof(uid));
	query.endpoint = TM_QUERY_ACCOUNT;
	query.company_uid = uid;
	tm_loop_forget_answers(F.loop, 1);
	assert_int_equal(tmretry_call(&F.r, F.loop, &query, 1, 0, false, NULL, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_OK);
	assert_int_equal(out.made, 2);
	assert_non_null(out.last);
	assert_string_equal(row_outcome(&out, 0), "ambiguous");
	assert_string_equal(row_outcome(&out, 1), "ok");
	tmretry_result_clear(&out);
	/* A schedule (policy: retry) is repeated, and marked a possible duplicate. */
	query.endpoint = TM_REMOTE_SCHEDULE;
	query.user_id = "u-1";
	tm_loop_forget_answers(F.loop, 1);
	assert_int_equal(tmretry_call(&F.r, F.loop, &query, 1, 0, false, NULL, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_OK);
	assert_int_equal(out.made, 2);
	assert_true(out.possible_duplicate);
	assert_true(tmretry_last(&out)->meeting_id[0] != '\0');
	assert_int_equal(sim_count(F.sim, "remote_schedule"), 2);
	tmretry_result_clear(&out);
	/* Before any attempt: no call made. */
	assert_int_equal(tmretry_last(&out)->outcome, TM_NOT_SENT);
}

static void
test_call_schedule_drop_retries_as_duplicate(void **state)
{
	struct tm_request req = {.endpoint = TM_REMOTE_SCHEDULE, .user_id = "u-1"};
	struct hook_log log = {0};
	const struct tmretry_hooks hooks = {hook_before, &log};
	struct tmretry_result out;
	char uid[64];

	(void)state;
	make_account(uid, sizeof(uid));
	req.company_uid = uid;
	assert_int_equal(sim_faults(F.sim, "drop_next=1"), 0);
	assert_int_equal(tmretry_call(&F.r, F.loop, &req, 1, 0, false, &hooks, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_OK);
	assert_int_equal(out.made, 2);
	assert_true(out.possible_duplicate);
	assert_true(out.last->meeting_id[0] != '\0');
	assert_int_equal(log.n, 2);
	tmretry_result_clear(&out);
}

static void
test_call_business_failure(void **state)
{
	struct tmretry_result out;

	(void)state;
	assert_int_equal(sim_faults(F.sim, "fail_company=Retry%20Co"), 0);
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 1, 0, false, NULL, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_FAILED);
	assert_int_equal(out.made, 1);
	assert_true(out.last->reason[0] != '\0');
	tmretry_result_clear(&out);
}

static void
test_call_budget(void **state)
{
	struct tm_request req = CREATE;
	struct tmretry_result out;
	char uid[64];

	(void)state;
	make_account(uid, sizeof(uid));
	req.endpoint = TM_QUERY_ACCOUNT;
	req.company_uid = uid;
	assert_int_equal(sim_faults(F.sim, "error_next=50&error_status=503"), 0);
	assert_int_equal(tmretry_call(&F.r, F.loop, &req, 1, 0, false, NULL, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_EXHAUSTED);
	assert_int_equal(out.made, POLICY.budget);
	assert_int_equal(sim_count(F.sim, "query_account"), POLICY.budget);
	tmretry_result_clear(&out);
}

/* Stands in for the prober: marks TM up after checking that no call was made meanwhile. */
struct revive {
	long calls_while_down;
};

static void *
revive_later(void *arg)
{
	struct revive *rv = arg;
	struct tm_result ok = result(TM_FAILED, 200, -1);
	struct timespec ts = {0, 400 * 1000000L};

	nanosleep(&ts, NULL);
	rv->calls_while_down = sim_count(F.sim, NULL);
	tmhealth_record(F.health, "probe", &ok);
	return NULL;
}

static void
test_call_waits_while_down(void **state)
{
	struct tm_request req = CREATE;
	struct tm_result refused = result(TM_NOT_SENT, 0, -1);
	struct tmretry_result out;
	struct revive rv = {-1};
	long before;
	char uid[64];
	pthread_t t;

	(void)state;
	make_account(uid, sizeof(uid));
	req.endpoint = TM_QUERY_ACCOUNT;
	req.company_uid = uid;
	tmhealth_free(F.health);
	F.health = tmhealth_new(2, NULL);
	F.r.health = F.health;
	tmhealth_record(F.health, "x", &refused);
	tmhealth_record(F.health, "y", &refused);
	assert_false(tmhealth_available(F.health));
	before = sim_count(F.sim, NULL);
	assert_int_equal(pthread_create(&t, NULL, revive_later, &rv), 0);
	/* No attempt while TM is down: the call starts once it is up again. */
	assert_int_equal(tmretry_call(&F.r, F.loop, &req, 1, 0, false, NULL, NULL, &out), 0);
	pthread_join(t, NULL);
	assert_int_equal(rv.calls_while_down, before);
	assert_int_equal(out.action, TMRETRY_OK);
	assert_int_equal(out.made, 1);
	tmretry_result_clear(&out);
}

static void
test_call_retry_after(void **state)
{
	struct tmretry_result out;
	long t0;

	(void)state;
	assert_int_equal(sim_faults(F.sim, "error_next=1&error_status=429&retry_after=1"), 0);
	t0 = clock_now_ms();
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 1, 0, false, NULL, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_OK);
	assert_int_equal(out.made, 2);
	/* The backoff alone would wait at most 10 ms. */
	assert_true(clock_now_ms() - t0 >= 1000);
	tmretry_result_clear(&out);
}

/* A job told to stop (its partition revoked or lost, DESIGN.md §3) starts no call: not the
 * attempt in hand, not a retry. */
static void
test_call_stop(void **state)
{
	atomic_bool stop = true;
	struct tmretry_result out;

	(void)state;
	assert_int_equal(sim_faults(F.sim, "error_next=5&error_status=503"), 0);
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 1, 0, false, NULL, &stop, &out), -1);
	assert_int_equal(out.made, 0);
	assert_int_equal(json_array_size(out.calls), 0);
	assert_int_equal(sim_count(F.sim, "create_account"), 0);
	tmretry_result_clear(&out);
}

/* The stop comes while the intent is being recorded (the job waited for its slot and the
 * group commit): the call is not made, and the recorded intent is named for the caller to
 * resolve. */
static int
hook_then_stop(void *arg, unsigned attempt, unsigned prev)
{
	(void)attempt;
	(void)prev;
	atomic_store((atomic_bool *)arg, true);
	return TMRETRY_BEFORE_GO;
}

static void
test_call_stop_after_intent(void **state)
{
	atomic_bool stop = false;
	const struct tmretry_hooks hooks = {hook_then_stop, &stop};
	struct tmretry_result out;

	(void)state;
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 3, 0, false, &hooks, &stop, &out), -1);
	assert_int_equal(out.made, 0);
	assert_int_equal(out.unsent_attempt, 3);
	assert_int_equal(sim_count(F.sim, "create_account"), 0);
	tmretry_result_clear(&out);
}

/* The loop's thread held up by another call's end, as a frozen process's would be: it is
 * what lets a call checked at the start wait before its first byte leaves. */
struct loop_block {
	atomic_bool entered;
	atomic_bool done;
	long hold_ms;
};

static void
loop_block_done(void *arg, const struct tm_result *res)
{
	struct loop_block *b = arg;

	(void)res;
	atomic_store(&b->entered, true);
	tmretry_sleep(b->hold_ms, NULL);
	atomic_store(&b->done, true);
}

/* The lease lapses while the call waits for the loop (a worker frozen between its ownership
 * check and the send: fault row K3): the sending thread's last check sends nothing, and the
 * recorded intent is named for the caller to resolve, as for a stop seen before the call. */
static void
test_call_lease_lapses_before_send(void **state)
{
	struct loop_block block = {.hold_ms = 600};
	struct hook_log log = {.answer = TMRETRY_BEFORE_GO};
	const struct tmretry_hooks hooks = {hook_before, &log};
	struct lease lease = {.lease_ms = 200};
	struct tm_request query = {.endpoint = TM_QUERY_ACCOUNT, .company_uid = "no-such"};
	struct tmretry_result out;
	struct tm_result res;

	(void)state;
	F.r.lease = &lease;
	assert_int_equal(tm_loop_submit(F.loop, &query, loop_block_done, &block, &res), 0);
	while (!atomic_load(&block.entered))
		tmretry_sleep(1, NULL);
	/* Held when the call starts; lapsed (200 ms) long before the loop is free (600 ms). */
	atomic_store(&lease.tick_ms, clock_now_ms());
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 2, 0, false, &hooks, NULL, &out), -1);
	assert_true(atomic_load(&block.done)); /* the call waited for the loop */
	assert_int_equal(log.n, 1);	       /* its intent was recorded, */
	assert_int_equal(out.made, 0);	       /* yet nothing was sent */
	assert_int_equal(out.unsent_attempt, 2);
	assert_int_equal(json_array_size(out.calls), 0);
	assert_int_equal(sim_count(F.sim, "create_account"), 0);
	tmretry_result_clear(&out);
	/* With the lease held, the same call goes out. */
	atomic_store(&lease.tick_ms, clock_now_ms());
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 3, 0, false, &hooks, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_OK);
	assert_int_equal(sim_count(F.sim, "create_account"), 1);
	tmretry_result_clear(&out);
	F.r.lease = NULL;
}

/* A call that outlives the lease (the worker frozen while TM answered: K3) times out, but the
 * timeout is the worker's own: TM's health does not count it, and no retry is sent. */
static void
test_call_outliving_lease_not_counted(void **state)
{
	struct lease lease = {.lease_ms = 200};
	struct tm_request query = {.endpoint = TM_QUERY_ACCOUNT, .company_uid = "no-such"};
	struct tmretry_result out;

	(void)state;
	F.r.lease = &lease;
	assert_int_equal(sim_faults(F.sim, "timeout_next=2&timeout_ms=1500"), 0);
	atomic_store(&lease.tick_ms, clock_now_ms());
	assert_int_equal(tmretry_call(&F.r, F.loop, &query, 1, 0, false, NULL, NULL, &out), -1);
	assert_int_equal(out.made, 1);
	assert_string_equal(row_outcome(&out, 0), "ambiguous");
	assert_int_equal(tmhealth_in_a_row(F.health), 0);
	assert_int_equal(sim_count(F.sim, "query_account"), 1); /* no retry */
	tmretry_result_clear(&out);
	/* The same timeout with the lease held all along is TM's, and counted. */
	lease.lease_ms = 60000;
	atomic_store(&lease.tick_ms, clock_now_ms());
	F.r.policy.budget = 1;
	assert_int_equal(tmretry_call(&F.r, F.loop, &query, 1, 0, false, NULL, NULL, &out), 0);
	assert_int_equal(tmhealth_in_a_row(F.health), 1);
	tmretry_result_clear(&out);
	F.r.lease = NULL;
}

/* The hook (the intent) runs with the call slot held: an intent is open only while its call
 * can be on the wire. */
static int
hook_slot_held(void *arg, unsigned attempt, unsigned prev)
{
	(void)attempt;
	(void)prev;
	return fsem_free(arg) == 0 ? TMRETRY_BEFORE_GO : TMRETRY_BEFORE_STOPPED;
}

/* A database failure while recording the intent gives the slot back for the backoff. */
static int
hook_later_once(void *arg, unsigned attempt, unsigned prev)
{
	struct hook_log *h = arg;

	(void)attempt;
	(void)prev;
	return h->n++ == 0 ? TMRETRY_BEFORE_LATER : TMRETRY_BEFORE_GO;
}

/* TM calls in flight are bounded by call_slots: a slot is held for the call and given back
 * whatever happens; a stop makes no call. */
static void
test_call_slots(void **state)
{
	struct hook_log log = {.answer = 1}, later = {0};
	const struct tmretry_hooks refuse = {hook_before, &log};
	const struct tmretry_hooks retry = {hook_later_once, &later};
	struct tmretry_hooks check = {hook_slot_held, NULL};
	struct tmretry_result out;
	atomic_bool stop = true;
	struct fsem slots;

	(void)state;
	fsem_init(&slots, 1);
	F.r.call_slots = &slots;
	check.arg = &slots;
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 1, 0, false, &check, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_OK);
	tmretry_result_clear(&out);
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 1, 0, false, &refuse, NULL, &out), 1);
	tmretry_result_clear(&out);
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 1, 0, false, &retry, NULL, &out), 0);
	assert_int_equal(out.action, TMRETRY_OK);
	assert_int_equal(later.n, 2);
	tmretry_result_clear(&out);
	assert_int_equal(fsem_free(&slots), 1);
	/* Stopped with a free slot: no call either. */
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 1, 0, false, NULL, &stop, &out), -1);
	assert_int_equal(out.made, 0);
	tmretry_result_clear(&out);
	/* Stopped while every slot is taken: no call. */
	assert_true(fsem_take(&slots, NULL));
	assert_int_equal(tmretry_call(&F.r, F.loop, &CREATE, 1, 0, false, NULL, &stop, &out), -1);
	assert_int_equal(out.made, 0);
	tmretry_result_clear(&out);
	assert_int_equal(sim_count(F.sim, "create_account"), 2);
	F.r.call_slots = NULL;
	fsem_destroy(&slots);
}

static void
test_audit_row_shape(void **state)
{
	struct tm_result res = {.outcome = TM_FAILED, .http_status = 200, .elapsed_ms = 12.4};
	const struct timespec started = {1795860001, 5000};
	json_t *url = json_string("http://tm/x?service_company_uid=REDACTED"), *row;

	(void)state;
	snprintf(res.tm_status, sizeof(res.tm_status), "FAILED");
	snprintf(res.reason, sizeof(res.reason), "Email exists");
	snprintf(res.error, sizeof(res.error), "TM answered FAILED");
	row = tmretry_audit_row(TM_CREATE_ACCOUNT, url, &res, &started);
	assert_non_null(row);
	assert_string_equal(json_string_value(json_object_get(row, "endpoint")), "create_account");
	assert_string_equal(json_string_value(json_object_get(row, "url")),
			    "http://tm/x?service_company_uid=REDACTED");
	assert_string_equal(json_string_value(json_object_get(row, "outcome")), "failed");
	assert_string_equal(json_string_value(json_object_get(row, "reason")), "Email exists");
	assert_string_equal(json_string_value(json_object_get(row, "tm_status")), "FAILED");
	assert_int_equal(json_integer_value(json_object_get(row, "http_status")), 200);
	assert_int_equal(json_integer_value(json_object_get(row, "duration_ms")), 12);
	assert_string_equal(json_string_value(json_object_get(row, "started_at")),
			    "2026-11-28T10:00:01.000005Z");
	json_decref(row);
	/* No HTTP answer: NULL, not 0 (tm_calls.http_status must be 100..599 or NULL). */
	res = (struct tm_result){.outcome = TM_NOT_SENT};
	snprintf(res.error, sizeof(res.error), "connection refused");
	row = tmretry_audit_row(TM_CREATE_ACCOUNT, url, &res, &started);
	assert_true(json_is_null(json_object_get(row, "http_status")));
	assert_true(json_is_null(json_object_get(row, "tm_status")));
	assert_string_equal(json_string_value(json_object_get(row, "reason")),
			    "connection refused");
	json_decref(row);
	json_decref(url); /* the rows held their own references */
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_decide_table),
	    cmocka_unit_test(test_decide_keeps_duplicate_flag),
	    cmocka_unit_test(test_delay),
	    cmocka_unit_test(test_health_sequences),
	    cmocka_unit_test(test_health_threads),
	    cmocka_unit_test(test_health_retry_after_hold),
	    cmocka_unit_test(test_health_retry_after_not_down),
	    cmocka_unit_test(test_health_breaker_view),
	    cmocka_unit_test(test_audit_row_shape),
	};
	const struct CMUnitTest calls[] = {
	    cmocka_unit_test_setup_teardown(test_call_transient_then_ok_idempotent, before_each,
					    after_each),
	    cmocka_unit_test_setup_teardown(test_call_intents_before_each_attempt, before_each,
					    after_each),
	    cmocka_unit_test_setup_teardown(test_call_hook_refuses, before_each, after_each),
	    cmocka_unit_test_setup_teardown(test_call_create_timeout_parks, before_each,
					    after_each),
	    cmocka_unit_test_setup_teardown(test_call_schedule_drop_retries_as_duplicate,
					    before_each, after_each),
	    cmocka_unit_test_setup_teardown(test_call_answer_not_kept, before_each, after_each),
	    cmocka_unit_test_setup_teardown(test_call_business_failure, before_each, after_each),
	    cmocka_unit_test_setup_teardown(test_call_budget, before_each, after_each),
	    cmocka_unit_test_setup_teardown(test_call_waits_while_down, before_each, after_each),
	    cmocka_unit_test_setup_teardown(test_call_retry_after, before_each, after_each),
	    cmocka_unit_test_setup_teardown(test_call_stop, before_each, after_each),
	    cmocka_unit_test_setup_teardown(test_call_stop_after_intent, before_each, after_each),
	    cmocka_unit_test_setup_teardown(test_call_lease_lapses_before_send, before_each,
					    after_each),
	    cmocka_unit_test_setup_teardown(test_call_outliving_lease_not_counted, before_each,
					    after_each),
	    cmocka_unit_test_setup_teardown(test_call_slots, before_each, after_each),
	};
	int rc;

	rc = cmocka_run_group_tests_name("tmretry_pure", pure, NULL, NULL);
	rc |= cmocka_run_group_tests_name("tmretry_calls", calls, setup, teardown);
	return rc;
}
