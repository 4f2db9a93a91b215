/* tmretry: the TM call loop of one command — backoff with Retry-After, the attempt budget, the
 * unknown-outcome policies of create_account and remote_schedule — and the process-wide TM
 * health tracker that turns a TM outage into a pause instead of failures. */
#ifndef TMPROV_WORKER_TMRETRY_H
#define TMPROV_WORKER_TMRETRY_H

#include <stdbool.h>

#include <jansson.h>

#include "backoff.h"
#include "fwait.h"
#include "metrics.h"
#include "stop.h"
#include "tm_client.h"
#include "tm_loop.h"

/* What to do when a call that must not be repeated blindly may have reached TM. */
enum tmretry_unknown {
	TMRETRY_UNKNOWN_PARK,  /* stop: command.failed {outcome_unknown, retryable}, DLQ copy */
	TMRETRY_UNKNOWN_RETRY, /* repeat, and mark the outcome possible_duplicate */
};

struct tmretry_policy {
	struct backoff backoff; /* TMPROV_RETRY_BASE, TMPROV_RETRY_CAP */
	unsigned budget;	/* attempts counted while TM is up (TMPROV_RETRY_BUDGET) */
	unsigned pause_after;	/* TMPROV_TM_PAUSE_AFTER: failures in a row that mean TM is down */
	enum tmretry_unknown create;   /* TMPROV_UNKNOWN_CREATE */
	enum tmretry_unknown schedule; /* TMPROV_UNKNOWN_SCHEDULE */
};

enum tmretry_action {
	TMRETRY_OK,	   /* TM_OK: use the result */
	TMRETRY_FAILED,	   /* business failure: command.failed, not retryable */
	TMRETRY_AGAIN,	   /* make another attempt after a delay */
	TMRETRY_PARK,	   /* outcome unknown and the policy says stop */
	TMRETRY_EXHAUSTED, /* the budget is spent: command.failed, retryable */
};

const char *tmretry_action_name(enum tmretry_action a);

/* The decision after one attempt (pure). may_have_acted: tm_result's flag (for a recovered
 * intent without result: true). counted: attempts counted against the budget so far,
 * including this one. *possible_duplicate is set (never cleared) when a repeat may create
 * a twin. */
enum tmretry_action tmretry_decide(const struct tmretry_policy *p, enum tm_endpoint ep,
				   enum tm_outcome outcome, bool may_have_acted, unsigned counted,
				   bool *possible_duplicate);

/* Delay before the next attempt, after `made` attempts (>= 1): the jittered backoff for
 * attempt made-1, but never less than TM's Retry-After (retry_after_ms, -1 for none; the
 * client has already bounded it by TMPROV_TM_RETRY_AFTER_MAX). */
long tmretry_delay_ms(const struct tmretry_policy *p, unsigned made, long retry_after_ms);

/* Sleeps ms in short slices; returns false as soon as *stop is set (stop may be NULL). */
bool tmretry_sleep(long ms, const atomic_bool *stop);

/* The process-wide view of TM's health. TM is down after pause_after failures in a row that
 * look like an outage (no connection, no answer, an HTTP error without a TM body), across
 * threads, when they came from several accounts or none of them got a connection: one
 * account's failures, however many, are its command's to bear. Anything TM itself answered
 * (tm_result_tm_answered: its XML, even a garbled one, or a 2xx) marks it up. A Retry-After
 * holds every call until it has passed. */
struct tmhealth;
struct tmhealth *tmhealth_new(unsigned pause_after, struct metrics *m);
void tmhealth_free(struct tmhealth *h);
/* Records one attempt for account (whose call it was: company_uid, or company_name for a
 * create); returns whether TM was considered up before it. */
bool tmhealth_record(struct tmhealth *h, const char *account, const struct tm_result *res);
bool tmhealth_available(struct tmhealth *h);
/* Failures that looked like an outage since TM last answered. */
unsigned tmhealth_in_a_row(struct tmhealth *h);
/* How long TM's last Retry-After still holds calls off, in ms (0: not at all). */
long tmhealth_hold_ms(struct tmhealth *h);
/* Waits until TM is up and no Retry-After holds; false when *stop (may be NULL) is set while
 * waiting (when there is nothing to wait for, true whatever *stop says). */
bool tmhealth_wait_call(struct tmhealth *h, const atomic_bool *stop);

/* The circuit breaker that view makes: closed while TM is up; open while it is down, until the
 * next probe; half-open while a probe is on the wire (its answer closes it, its failure opens
 * it again). */
enum tmhealth_state { TMHEALTH_CLOSED, TMHEALTH_OPEN, TMHEALTH_HALF_OPEN };
const char *tmhealth_state_name(enum tmhealth_state s); /* "closed", "open", "half-open" */

/* The failures kept for tmprov status --tm: the last few that looked like an outage. */
#define TMHEALTH_FAILURES   5
#define TMHEALTH_REASON_MAX 120

struct tmhealth_failure {
	long long at_ms; /* CLOCK_REALTIME, ms since the epoch */
	char reason[TMHEALTH_REASON_MAX + 1];
};

struct tmhealth_view {
	enum tmhealth_state state;
	long long next_probe_ms; /* CLOCK_REALTIME ms of the next probe; 0: none planned */
	unsigned in_a_row;
	unsigned nfailures; /* failures[0] the latest */
	struct tmhealth_failure failures[TMHEALTH_FAILURES];
	unsigned long version; /* grows at every change of state or planned probe */
};

void tmhealth_view(struct tmhealth *h, struct tmhealth_view *v);
/* The prober's side: when the next probe is due (in_ms from now), and that one starts now
 * (half-open until its tmhealth_record). */
void tmhealth_probe_planned(struct tmhealth *h, long in_ms);
void tmhealth_probe_begins(struct tmhealth *h);

/* What tmretry_hooks.before answers. */
enum tmretry_before {
	TMRETRY_BEFORE_STOPPED = -1, /* *stop was set: call no more */
	TMRETRY_BEFORE_GO = 0,	     /* the intent is durable: the call may be made */
	TMRETRY_BEFORE_NO_CALL = 1,  /* the command has its result, or another call is open */
	TMRETRY_BEFORE_LATER = 2,    /* not recorded (the database failed): ask again later */
};

struct tmretry_hooks {
	/* Called before each attempt (tmprov-worker: of every endpoint), with the attempt's call
	 * slot held, to record the intent durably: the intent is open only while its call can be
	 * on the wire. attempt: this attempt's number; prev: the previous attempt's number whose
	 * intent is to be resolved (0: none). Returns an enum tmretry_before; on LATER the slot
	 * is given back for a backoff (backoff_intent_record) and the hook called again for the
	 * same attempt. */
	int (*before)(void *arg, unsigned attempt, unsigned prev);
	void *arg;
};

struct tmretry_result {
	enum tmretry_action action; /* OK, FAILED, PARK or EXHAUSTED */
	/* The final attempt's answer, on the heap from its arrival (a call in flight, or waiting
	 * to repeat one, holds none of its 2 KiB; tm_loop_take): owned; NULL before any attempt,
	 * between attempts, or when the answer could not be kept. Read through tmretry_last. */
	struct tm_result *last;
	bool last_lost;	       /* the last attempt's answer arrived and could not be kept */
	unsigned made;	       /* attempts made by this call */
	unsigned last_attempt; /* number of the last attempt (continues first_attempt) */
	bool possible_duplicate;
	bool last_may_have_acted; /* whether the last attempt's call may have reached TM */
	bool any_may_have_acted;  /* ... or any attempt's of this call */
	/* An attempt whose intent was recorded but whose call was not made (stopped in between):
	 * the caller resolves that intent. 0: none. */
	unsigned unsent_attempt;
	json_t *calls; /* tm_calls rows of the attempts made: caller owns */
};

struct tmgate; /* tmgate.h */
struct tmgate_pass;

struct tmretry {
	struct tmretry_policy policy;
	struct tmhealth *health; /* borrowed */
	struct metrics *metrics; /* borrowed, may be NULL */
	/* TM calls in flight across the process (TMPROV_WORKER_CONCURRENCY): an attempt holds a
	 * slot for its call, taken before its intent is recorded; NULL: no limit. */
	struct fsem *call_slots;
	/* When set, instead of call_slots: the adaptive limit and the group's rate (tmgate.h); an
	 * attempt takes its place, then its rate token, then records its intent. Borrowed. */
	struct tmgate *gate;
	/* The consumer loop's lease (stop.h): no call starts while it has lapsed. NULL: none. */
	const struct lease *lease;
};

/* Calls TM through tm (each attempt a tm_loop_take: the thread waits, the loop's thread drives
 * the transfer) until a final action. No call starts once *stop is set: it is looked at after the
 * slot and the intent, right before each call (the job's partition may have gone meanwhile),
 * and with the lease again on the sending thread just before the request's first byte (req's
 * own may_send is replaced).
 * first_attempt: the number of the first attempt (1, or after
 * the attempts of an earlier run of the same command); prev: an open intent of an earlier run
 * to resolve before the first new attempt (0: none); possible_duplicate: already true when
 * an earlier run's outcome is unknown. Returns 0 with out->action set; 1 when hooks->before
 * said to stop calling; -1 when *stop was set (out->calls is still filled; an intent may be
 * open: out->unsent_attempt's, whose call was not made, or the last attempt's, whose outcome is
 * out->last_may_have_acted). out is overwritten, not freed: tmretry_result_clear a used one. */
int tmretry_call(const struct tmretry *r, struct tm_loop *tm, const struct tm_request *req,
		 unsigned first_attempt, unsigned prev, bool possible_duplicate,
		 const struct tmretry_hooks *hooks, const atomic_bool *stop,
		 struct tmretry_result *out);

/* out's last answer: the final attempt's; tm_loop_answer_lost() for one that arrived and could
 * not be kept (a local out-of-memory taken as TM's ambiguity: it counts against TM's health
 * and the adaptive limit, and parks a create — the safe side); otherwise (before any attempt,
 * or a submission refused with no memory left to say why) a result of outcome TM_NOT_SENT
 * saying no call was made. */
const struct tm_result *tmretry_last(const struct tmretry_result *out);

/* Frees what tmretry_call left in out (its last answer, its calls) and zeroes it. */
void tmretry_result_clear(struct tmretry_result *out);

/* One tm_calls row (the JSON SQL_FINISH reads) for an attempt of url (tm_audit_url's, as a JSON
 * string: the row takes a reference) that started at started (CLOCK_REALTIME). */
json_t *tmretry_audit_row(enum tm_endpoint ep, json_t *url, const struct tm_result *res,
			  const struct timespec *started);

#endif
