/* tmretry: the TM call loop of one command — backoff with Retry-After, the attempt budget, the
 * unknown-outcome policies of create_account and remote_schedule — and the process-wide TM
 * health tracker that turns a TM outage into a pause instead of failures. */
#include "tmretry.h"

#include <errno.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "deadline.h"
#include "log.h"
#include "tmgate.h"

const char *
tmretry_action_name(enum tmretry_action a)
{
	switch (a) {
	case TMRETRY_OK:
		return "ok";
	case TMRETRY_FAILED:
		return "failed";
	case TMRETRY_AGAIN:
		return "again";
	case TMRETRY_PARK:
		return "park";
	case TMRETRY_EXHAUSTED:
		return "exhausted";
	}
	return "?";
}

enum tmretry_action
tmretry_decide(const struct tmretry_policy *p, enum tm_endpoint ep, enum tm_outcome outcome,
	       bool may_have_acted, unsigned counted, bool *possible_duplicate)
{
	enum tmretry_unknown policy;

	if (outcome == TM_OK)
		return TMRETRY_OK;
	if (outcome == TM_FAILED)
		return TMRETRY_FAILED;
	/* An answer we could not use from a call TM may have carried out is as unknown as no
	 * answer at all; for update, delete and query a repeat does no harm. */
	if (may_have_acted && !tm_endpoint_idempotent(ep)) {
		policy = ep == TM_CREATE_ACCOUNT ? p->create : p->schedule;
		if (policy == TMRETRY_UNKNOWN_PARK)
			return TMRETRY_PARK;
		*possible_duplicate = true;
	}
	return counted >= p->budget ? TMRETRY_EXHAUSTED : TMRETRY_AGAIN;
}

long
tmretry_delay_ms(const struct tmretry_policy *p, unsigned made, long retry_after_ms)
{
	long d = backoff_delay_ms(&p->backoff, made > 0 ? made - 1 : 0);

	return retry_after_ms > d ? retry_after_ms : d;
}

bool
tmretry_sleep(long ms, const atomic_bool *stop)
{
	return stop_sleep(ms, stop);
}

/* Longest account key kept to tell one account's failures from several accounts'. */
#define HEALTH_ACCOUNT_MAX 64

struct tmhealth {
	pthread_mutex_t lock;
	unsigned pause_after;
	/* The failures in a row since TM last answered, and whose they were: one account's
	 * failures (a timeout or 5xx on its data) are its command's problem, not an outage,
	 * unless not one of them got a connection (a refusal is never one account's doing). */
	unsigned in_a_row;
	char first_account[HEALTH_ACCOUNT_MAX + 1];
	bool several_accounts;
	bool all_not_sent;
	bool available;
	long hold_until_ms; /* no call before this (CLOCK_MONOTONIC ms): TM's Retry-After */
	char last_error[TM_ERROR_MAX + 1];
	struct metrics *metrics;
	/* The breaker's view (tmhealth_view). */
	enum tmhealth_state state;
	long long next_probe_ms;
	struct tmhealth_failure failures[TMHEALTH_FAILURES]; /* a ring, newest at failures_head */
	unsigned nfailures, failures_head;
	unsigned long version;
};

static long long
health_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
tmhealth_state_name(enum tmhealth_state s)
{
	switch (s) {
	case TMHEALTH_CLOSED:
		return "closed";
	case TMHEALTH_OPEN:
		return "open";
	case TMHEALTH_HALF_OPEN:
		return "half-open";
	}
	return "?";
}

/* The breaker's gauges: one series per state, 1 for the current one (lock held). */
static void
health_state_set(struct tmhealth *h, enum tmhealth_state st)
{
	static const enum tmhealth_state all[] = {TMHEALTH_CLOSED, TMHEALTH_OPEN,
						  TMHEALTH_HALF_OPEN};
	char labels[32];

	if (h->state == st)
		return;
	h->state = st;
	h->version++;
	if (st == TMHEALTH_CLOSED)
		h->next_probe_ms = 0;
	if (h->metrics == NULL)
		return;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		snprintf(labels, sizeof(labels), "state=\"%s\"", tmhealth_state_name(all[i]));
		metrics_set(h->metrics, "tmprov_tm_breaker_state", labels, all[i] == st);
	}
	metrics_set(h->metrics, "tmprov_tm_breaker_next_probe_timestamp_seconds", "",
		    h->next_probe_ms / 1000.0);
}

/* Keeps the failure in the ring of the last few (lock held). */
static void
health_failure_keep(struct tmhealth *h, const struct tm_result *res)
{
	struct tmhealth_failure *f;

	h->failures_head = (h->failures_head + 1) % TMHEALTH_FAILURES;
	f = &h->failures[h->failures_head];
	f->at_ms = health_wall_ms();
	snprintf(f->reason, sizeof(f->reason), "%s%s%.100s", tm_outcome_name(res->outcome),
		 res->error[0] ? ": " : "", res->error);
	if (h->nfailures < TMHEALTH_FAILURES)
		h->nfailures++;
	h->version++;
}

struct tmhealth *
tmhealth_new(unsigned pause_after, struct metrics *m)
{
	struct tmhealth *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	h->pause_after = pause_after > 0 ? pause_after : 1;
	h->available = true;
	h->metrics = m;
	h->state = TMHEALTH_OPEN; /* so that the first set below writes the gauges */
	health_state_set(h, TMHEALTH_CLOSED);
	if (m != NULL)
		metrics_set(m, "tmprov_tm_available", "", 1);
	return h;
}

void
tmhealth_free(struct tmhealth *h)
{
	if (h == NULL)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* One failure that may mean TM is down (lock held): counts it and decides. */
static void
health_failure(struct tmhealth *h, const char *account, const struct tm_result *res)
{
	if (h->in_a_row++ == 0) {
		snprintf(h->first_account, sizeof(h->first_account), "%s", account);
		h->several_accounts = false;
		h->all_not_sent = true;
	} else if (strncmp(h->first_account, account, HEALTH_ACCOUNT_MAX) != 0) {
		h->several_accounts = true;
	}
	if (res->outcome != TM_NOT_SENT)
		h->all_not_sent = false;
	snprintf(h->last_error, sizeof(h->last_error), "%s", res->error);
	health_failure_keep(h, res);
	if (h->in_a_row >= h->pause_after && (h->several_accounts || h->all_not_sent))
		h->available = false;
}

bool
tmhealth_record(struct tmhealth *h, const char *account, const struct tm_result *res)
{
	bool before, after, refused;
	unsigned n;
	char last[TM_ERROR_MAX + 1];

	pthread_mutex_lock(&h->lock);
	before = h->available;
	/* TM's Retry-After (429, 503) holds every call, not only this command's next one. */
	if (res->retry_after_ms > 0 && clock_now_ms() + res->retry_after_ms > h->hold_until_ms)
		h->hold_until_ms = clock_now_ms() + res->retry_after_ms;
	/* A 429 or 503 with Retry-After is TM rationing us, not TM down: the hold above keeps every
	 * call of this process back; opening the breaker would send another worker's probe to an
	 * account TM just told to wait. */
	if (tm_result_tm_answered(res) || res->retry_after_ms > 0) {
		h->in_a_row = 0;
		h->available = true;
	} else {
		health_failure(h, account ? account : "", res);
	}
	after = h->available;
	health_state_set(h, after ? TMHEALTH_CLOSED : TMHEALTH_OPEN);
	n = h->in_a_row;
	refused = h->all_not_sent;
	snprintf(last, sizeof(last), "%s", h->last_error);
	pthread_mutex_unlock(&h->lock);
	if (before != after) {
		if (after)
			log_info("TM answers again: resuming");
		else
			log_warn("TM looks down (%u failures in a row, %s; last: %s): pausing", n,
				 refused ? "no connection at all" : "several accounts", last);
		if (h->metrics != NULL)
			metrics_set(h->metrics, "tmprov_tm_available", "", after ? 1 : 0);
	}
	return before;
}

void
tmhealth_view(struct tmhealth *h, struct tmhealth_view *v)
{
	pthread_mutex_lock(&h->lock);
	v->state = h->state;
	v->next_probe_ms = h->state == TMHEALTH_CLOSED ? 0 : h->next_probe_ms;
	v->in_a_row = h->in_a_row;
	v->nfailures = h->nfailures;
	for (unsigned i = 0; i < h->nfailures; i++)
		v->failures[i] =
		    h->failures[(h->failures_head + TMHEALTH_FAILURES - i) % TMHEALTH_FAILURES];
	v->version = h->version;
	pthread_mutex_unlock(&h->lock);
}

void
tmhealth_probe_planned(struct tmhealth *h, long in_ms)
{
	pthread_mutex_lock(&h->lock);
	if (h->state != TMHEALTH_CLOSED) {
		h->next_probe_ms = health_wall_ms() + in_ms;
		h->version++;
		if (h->metrics != NULL)
			metrics_set(h->metrics, "tmprov_tm_breaker_next_probe_timestamp_seconds",
				    "", h->next_probe_ms / 1000.0);
	}
	pthread_mutex_unlock(&h->lock);
}

void
tmhealth_probe_begins(struct tmhealth *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->state == TMHEALTH_OPEN)
		health_state_set(h, TMHEALTH_HALF_OPEN);
	pthread_mutex_unlock(&h->lock);
}

bool
tmhealth_available(struct tmhealth *h)
{
	bool v;

	pthread_mutex_lock(&h->lock);
	v = h->available;
	pthread_mutex_unlock(&h->lock);
	return v;
}

unsigned
tmhealth_in_a_row(struct tmhealth *h)
{
	unsigned n;

	pthread_mutex_lock(&h->lock);
	n = h->in_a_row;
	pthread_mutex_unlock(&h->lock);
	return n;
}

long
tmhealth_hold_ms(struct tmhealth *h)
{
	long left;

	pthread_mutex_lock(&h->lock);
	left = h->hold_until_ms - clock_now_ms();
	pthread_mutex_unlock(&h->lock);
	return left > 0 ? left : 0;
}

bool
tmhealth_wait_call(struct tmhealth *h, const atomic_bool *stop)
{
	/* Polled in 50 ms slices, as tmretry_sleep: a recovery or a stop is seen quickly. Only a
	 * wait looks at stop: with TM up the attempt in hand is made, as in fsem_take. */
	while (!tmhealth_available(h) || tmhealth_hold_ms(h) > 0) {
		if (!tmretry_sleep(50, stop))
			return false;
	}
	return true;
}

static void
tmretry_rfc3339(const struct timespec *t, char *out, size_t outlen)
{
	struct tm tm;

	size_t len;

	gmtime_r(&t->tv_sec, &tm);
	len = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + len, outlen - len, ".%06dZ", (int)(t->tv_nsec / 1000L) % 1000000);
}

json_t *
tmretry_audit_row(enum tm_endpoint ep, json_t *url, const struct tm_result *res,
		  const struct timespec *started)
{
	char when[48];
	const char *reason = res->outcome == TM_OK ? res->reason : res->error;
	json_t *row;

	tmretry_rfc3339(started, when, sizeof(when));
	if (res->outcome == TM_FAILED && res->reason[0] != '\0')
		reason = res->reason;
	row = json_pack(
	    "{s:s, s:O, s:s, s:o, s:o, s:o, s:I, s:s}", "endpoint", tm_endpoint_name(ep), "url",
	    url, "outcome", tm_outcome_name(res->outcome), "http_status",
	    res->http_status >= 100 && res->http_status <= 599 ? json_integer(res->http_status)
							       : json_null(),
	    "tm_status", res->tm_status[0] ? json_string(res->tm_status) : json_null(), "reason",
	    reason && reason[0] ? json_string(reason) : json_null(), "duration_ms",
	    (json_int_t)(res->elapsed_ms > 0 ? res->elapsed_ms + 0.5 : 0), "started_at", when);
	return row;
}

static void
tmretry_count(const struct tmretry *r, enum tm_endpoint ep, const struct tm_result *res)
{
	char labels[96];

	if (r->metrics == NULL)
		return;
	snprintf(labels, sizeof(labels), "endpoint=\"%s\",result=\"%s\"", tm_endpoint_name(ep),
		 tm_outcome_name(res->outcome));
	metrics_add(r->metrics, "tmprov_tm_calls_total", labels, 1);
	snprintf(labels, sizeof(labels), "endpoint=\"%s\"", tm_endpoint_name(ep));
	metrics_observe(r->metrics, "tmprov_tm_call_duration_seconds", labels,
			res->elapsed_ms / 1000.0);
}

static void
tmretry_count_retry(const struct tmretry *r, enum tm_endpoint ep)
{
	char labels[64];

	if (r->metrics == NULL)
		return;
	snprintf(labels, sizeof(labels), "endpoint=\"%s\"", tm_endpoint_name(ep));
	metrics_add(r->metrics, "tmprov_tm_retries_total", labels, 1);
}

/* As tmretry_sleep, but a wait that began while TM was down ends as soon as TM is seen up again
 * (another thread's call succeeded), so a long backoff does not delay the recovery. */
static bool
tmretry_wait(const struct tmretry *r, long ms, const atomic_bool *stop)
{
	bool down = !tmhealth_available(r->health);

	while (ms > 0) {
		long slice = ms < 50 ? ms : 50;

		if (!tmretry_sleep(slice, stop))
			return false;
		if (down && tmhealth_available(r->health))
			break;
		ms -= slice;
	}
	return !stop_requested(stop);
}

/* Gives the attempt's place back; res: its call's result (NULL: no call was made). */
static void
tmretry_slot_give(const struct tmretry *r, struct tmgate_pass *pass, const struct tm_result *res)
{
	if (r->gate != NULL)
		tmgate_leave(r->gate, pass, res);
	else if (r->call_slots != NULL)
		fsem_post(r->call_slots);
}

/* Takes the attempt's place, then (with the gate) its rate token: after the place, so that
 * calls waiting for the rate do not add to TM's load, before the intent, so that an intent is
 * never open while its call waits for the rate. Kept across a LATER: the token is the
 * attempt's. */
static bool
tmretry_slot_take_pass(const struct tmretry *r, const atomic_bool *stop, struct tmgate_pass *pass)
{
	if (r->gate != NULL) {
		if (!tmgate_slot(r->gate, stop, pass))
			return false;
		if (tmgate_token(r->gate, stop, pass))
			return true;
		tmgate_leave(r->gate, pass, NULL);
		return false;
	}
	return r->call_slots == NULL || fsem_take(r->call_slots, stop);
}

/* Makes ready for an attempt: its call slot, then (guarded) its intent, then a last look at
 * stop. The slot comes first so that an intent is open only while its call can be on the wire
 * (a crash then parks at most the calls in flight); a database failure gives the slot back
 * for its backoff rather than keeping it idle. 0 with the slot held, 1 when the hook said not
 * to call, -1 when stopped (out->unsent_attempt set when the intent was recorded). */
static int
tmretry_begin(const struct tmretry *r, bool guarded, const struct tmretry_hooks *hooks,
	      unsigned attempt, const atomic_bool *stop, struct tmretry_result *out,
	      struct tmgate_pass *pass)
{
	int rc = TMRETRY_BEFORE_GO;

	for (unsigned i = 0;; i++) {
		if (!tmretry_slot_take_pass(r, stop, pass))
			return -1;
		if (guarded)
			rc = hooks->before(hooks->arg, attempt, out->last_attempt);
		if (rc == TMRETRY_BEFORE_GO)
			break;
		tmretry_slot_give(r, pass, NULL);
		if (rc != TMRETRY_BEFORE_LATER)
			return rc == TMRETRY_BEFORE_NO_CALL ? 1 : -1;
		if (!tmretry_sleep(backoff_delay_ms(&backoff_intent_record, i), stop))
			return -1;
	}
	/* A token that waited for a slow intent is spent and another taken (tmgate.h); then the
	 * ownership check: the loop sets stop when the job's partition is revoked or lost,
	 * and a job that no longer owns its partition (or whose worker may have been dropped from
	 * the group: the lease lapsed) starts no call, even with its intent recorded (the caller
	 * resolves it). Last thing before the call: the slot wait and the
	 * intent's commit may each have taken a while. */
	if (r->gate != NULL && !tmgate_fresh(r->gate, stop, pass)) {
		tmretry_slot_give(r, pass, NULL);
		if (guarded)
			out->unsent_attempt = attempt;
		return -1;
	}
	if (!lease_held(r->lease) || stop_requested(stop)) {
		tmretry_slot_give(r, pass, NULL);
		if (guarded)
			out->unsent_attempt = attempt;
		return -1;
	}
	return 0;
}

/* Whose call it is, for telling one account's failures from an outage: the TM account, or for
 * a create (no account yet) the company name. */
static const char *
tmretry_account(const struct tm_request *req)
{
	return req->company_uid && *req->company_uid ? req->company_uid : req->company_name;
}

/* What the sending thread checks last, just before the request's first byte (tm_request's
 * may_send): tmretry_begin's ownership check again, for a call that waited in the loop's queue
 * or for its connection while the process was frozen. */
struct tmretry_owner {
	const struct lease *lease;
	const atomic_bool *stop;
};

static bool
tmretry_still_owner(void *arg)
{
	const struct tmretry_owner *o = arg;

	return lease_held(o->lease) && !stop_requested(o->stop);
}

/* tmretry_call's attempts, out set up; url: the request's audit URL, every attempt's tm_calls
 * row's. */
static int
tmretry_attempts(const struct tmretry *r, struct tm_loop *tm, const struct tm_request *req,
		 json_t *url, unsigned first_attempt, const struct tmretry_hooks *hooks,
		 const atomic_bool *stop, struct tmretry_result *out)
{
	bool guarded = hooks && hooks->before;
	unsigned counted = 0, attempt = first_attempt ? first_attempt : 1;
	struct tmretry_owner owner = {r->lease, stop};
	struct tm_request call = *req;
	struct timespec started;
	bool judged;
	enum tmretry_action a;
	struct tmgate_pass pass = {0};
	const struct tm_result *res;
	long delay_ms;
	int rc;

	for (;; attempt++) {
		/* While TM is down (the prober watches it) or holds us off with Retry-After, no
		 * attempt starts, and no slot is taken or intent opened for one. */
		if (!tmhealth_wait_call(r->health, stop))
			return -1;
		rc = tmretry_begin(r, guarded, hooks, attempt, stop, out, &pass);
		if (rc != 0)
			return rc;
		clock_gettime(CLOCK_REALTIME, &started);
		call.may_send = tmretry_still_owner;
		call.may_send_arg = &owner;
		out->last_lost = tm_loop_take(tm, &call, &out->last) == 0 && out->last == NULL;
		res = tmretry_last(out);
		if (res->refused_by_sender) {
			/* Not sent: as a stop seen in tmretry_begin (the caller resolves the
			 * intent). */
			log_info("TM %s attempt %u not sent: the worker no longer owns the command",
				 tm_endpoint_name(req->endpoint), attempt);
			tmretry_slot_give(r, &pass, NULL);
			if (guarded)
				out->unsent_attempt = attempt;
			return -1;
		}
		/* A call that outlived the lease (the process frozen, its loop stalled) says
		 * nothing of TM: its timeout was ours. It counts neither against TM's health
		 * nor the budget, nor in the adaptive concurrency (fault row K3). */
		judged = lease_held(r->lease);
		tmretry_slot_give(r, &pass, judged ? res : NULL);
		pass.token = false; /* the call went out: its rate token is spent */
		out->made++;
		out->last_attempt = attempt;
		out->last_may_have_acted = res->may_have_acted;
		out->any_may_have_acted |= res->may_have_acted;
		json_array_append_new(out->calls,
				      tmretry_audit_row(req->endpoint, url, res, &started));
		tmretry_count(r, req->endpoint, res);
		/* Attempts made while TM is down do not spend the budget: an outage pauses
		 * the work instead of failing it. */
		if (judged && tmhealth_record(r->health, tmretry_account(req), res))
			counted++;
		a = tmretry_decide(&r->policy, req->endpoint, res->outcome, res->may_have_acted,
				   counted, &out->possible_duplicate);
		if (a != TMRETRY_AGAIN) {
			out->action = a;
			return 0;
		}
		log_debug("TM %s attempt %u: %s (%s); retrying", tm_endpoint_name(req->endpoint),
			  attempt, tm_outcome_name(res->outcome), res->error);
		tmretry_count_retry(r, req->endpoint);
		delay_ms = tmretry_delay_ms(&r->policy, out->made, res->retry_after_ms);
		/* Nothing reads a repeated attempt's answer: not held through the wait (a backoff,
		 * an outage, a slot) either. */
		free(out->last);
		out->last = NULL;
		out->last_lost = false;
		if (!tmretry_wait(r, delay_ms, stop))
			return -1;
	}
}

/* Before any attempt. */
static const struct tm_result no_call = {
    .outcome = TM_NOT_SENT,
    .retry_after_ms = -1,
    .rooms = -1,
    .participants = -1,
    .error = "no call was made",
};

const struct tm_result *
tmretry_last(const struct tmretry_result *out)
{
	if (out->last != NULL)
		return out->last;
	return out->last_lost ? tm_loop_answer_lost() : &no_call;
}

void
tmretry_result_clear(struct tmretry_result *out)
{
	free(out->last);
	json_decref(out->calls);
	memset(out, 0, sizeof(*out));
}

int
tmretry_call(const struct tmretry *r, struct tm_loop *tm, const struct tm_request *req,
	     unsigned first_attempt, unsigned prev, bool possible_duplicate,
	     const struct tmretry_hooks *hooks, const atomic_bool *stop, struct tmretry_result *out)
{
	/* Built once for all attempts, on the heap: not a 4 KiB buffer in each parked call. An
	 * invalid request has none (its attempt is refused before sending: ""). */
	char *text = tm_audit_url(tm_loop_base_url(tm), req);
	json_t *url = json_string(text != NULL ? text : "");
	int rc = -1;

	free(text);
	out->last = NULL;
	out->last_lost = false;
	out->made = 0;
	out->last_attempt = prev;
	out->unsent_attempt = 0;
	out->possible_duplicate = possible_duplicate;
	out->last_may_have_acted = false;
	out->any_may_have_acted = false;
	out->calls = json_array();
	if (out->calls != NULL && url != NULL)
		rc = tmretry_attempts(r, tm, req, url, first_attempt, hooks, stop, out);
	else
		log_error("TM %s: out of memory before the call", tm_endpoint_name(req->endpoint));
	json_decref(url);
	return rc;
}
