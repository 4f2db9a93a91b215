/* cmd: what the handlers of the command types (cmd_account, cmd_user, cmd_meeting; their table
 * is cmd_types) share: the lookup's view, the result being built, failures and the TM call. */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlqdef.h"
#include "log.h"

/* The text of the commands.status column. */
static const char *const CMD_STATUS_NAMES[CMD_STATUS_COUNT] = {
    [CMD_STATUS_RECEIVED] = "received",	  [CMD_STATUS_IN_PROGRESS] = "in_progress",
    [CMD_STATUS_SUCCEEDED] = "succeeded", [CMD_STATUS_FAILED] = "failed",
    [CMD_STATUS_REJECTED] = "rejected",	  [CMD_STATUS_UNKNOWN_OUTCOME] = "unknown_outcome",
};

const char *
cmd_status_name(enum cmd_status status)
{
	if ((unsigned)status >= CMD_STATUS_COUNT)
		return NULL;
	return CMD_STATUS_NAMES[status];
}

bool
cmd_status_parse(const char *name, enum cmd_status *out)
{
	for (int s = 0; s < CMD_STATUS_COUNT; s++) {
		if (strcmp(CMD_STATUS_NAMES[s], name) == 0) {
			*out = (enum cmd_status)s;
			return true;
		}
	}
	return false;
}

bool
cmd_status_final(enum cmd_status status)
{
	return status == CMD_STATUS_SUCCEEDED || status == CMD_STATUS_FAILED ||
	       status == CMD_STATUS_REJECTED || status == CMD_STATUS_UNKNOWN_OUTCOME;
}

void
cmd_result_init(struct cmd_result *r)
{
	memset(r, 0, sizeof(*r));
	r->stmt = SQL_FINISH;
	r->status = CMD_STATUS_FAILED;
	r->event = OUTCOME_COMMAND_FAILED;
	r->retryable = -1;
	r->calls = json_array();
}

void
cmd_state_clear(struct cmd_state *st)
{
	free(st->company_name);
	free(st->email);
	st->company_name = NULL;
	st->email = NULL;
}

const char *
cmd_state_text(const char *s)
{
	return s != NULL ? s : "";
}

void
cmd_result_clear(struct cmd_result *r)
{
	json_decref(r->data);
	json_decref(r->calls);
	r->data = NULL;
	r->calls = NULL;
	if (r->intent_slot != NULL)
		fsem_post(r->intent_slot);
	r->intent_slot = NULL;
	while (r->kept != NULL) {
		struct cmd_kept *k = r->kept;

		r->kept = k->next;
		free(k);
	}
	r->used = 0;
}

void
cmd_text(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	if (size == 0)
		return;
	if (len >= size) {
		len = size - 1;
		/* Back off continuation bytes (10xxxxxx) and the lead byte they belong to. */
		while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
			len--;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
}

const char *
cmd_keep(struct cmd_result *r, const char *s)
{
	struct cmd_kept *k;
	size_t len;

	if (s == NULL)
		return NULL;
	len = strlen(s) + 1;
	if (len > CMD_STORE_MAX - r->used || (k = malloc(sizeof(*k) + len)) == NULL) {
		r->overflow = true;
		return NULL;
	}
	memcpy(k->text, s, len);
	k->next = r->kept;
	r->kept = k;
	r->used += len;
	return k->text;
}

const char *
cmd_keep_long(struct cmd_result *r, long v)
{
	char num[24];

	snprintf(num, sizeof(num), "%ld", v);
	return cmd_keep(r, num);
}

void
cmd_param(struct cmd_result *r, const char *s)
{
	if (r->nparams == CMD_PARAMS_MAX)
		r->overflow = true;
	else
		r->params[r->nparams++] = s;
}

const char *
cmd_str(const struct command *cmd, const char *name)
{
	return json_string_value(json_object_get(cmd->data, name));
}

long
cmd_long(const struct command *cmd, const char *name)
{
	json_t *v = json_object_get(cmd->data, name);

	return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

void
cmd_fail(struct cmd_result *r, const struct command *cmd, const char *reason, bool retryable,
	 const char *tm_status)
{
	char joined[TM_REASON_MAX + 160], text[1024 + 1]; /* the schema's maxLength of reason */
	struct outcome_failure f = {
	    .command_type = cmd->kind,
	    .reason = reason,
	    .retryable = retryable,
	    .attempts = r->attempts,
	    .tm_status = tm_status,
	    /* An earlier attempt of a call that is not safe to repeat lost its answer: whatever
	     * the last one said, TM may hold what that one made (a meeting, an account). */
	    .outcome_unknown = r->possible_duplicate,
	};

	if (f.outcome_unknown) {
		snprintf(joined, sizeof(joined),
			 "TM may have acted: an earlier attempt's answer was lost; then %s",
			 reason);
		cmd_text(text, sizeof(text), joined);
		f.reason = text;
	}
	json_decref(r->data);
	r->stmt = SQL_FINISH;
	r->nparams = 0;
	r->status = CMD_STATUS_FAILED;
	r->event = OUTCOME_COMMAND_FAILED;
	r->retryable = retryable;
	cmd_text(r->last_error, sizeof(r->last_error), f.reason);
	r->data = outcome_failed_data(&f);
}

void
cmd_succeed(struct cmd_result *r, const struct cmd_spec *spec, json_t *data)
{
	json_decref(r->data);
	r->stmt = spec->finish;
	r->status = CMD_STATUS_SUCCEEDED;
	r->event = spec->outcome;
	r->data = data;
}

/* Parks a command whose call may have reached TM: an operator checks TM and re-sends. */
static void
cmd_park(struct cmd_result *r, const struct command *cmd, enum tm_endpoint ep, const char *why)
{
	char reason[256];
	struct outcome_failure f = {
	    .command_type = cmd->kind,
	    .reason = reason,
	    .retryable = true,
	    .attempts = r->attempts,
	    .outcome_unknown = true,
	};

	snprintf(reason, sizeof(reason),
		 "outcome of %s unknown (%s): TM may have acted; check TM before re-sending",
		 tm_endpoint_name(ep), why);
	json_decref(r->data);
	r->stmt = SQL_FINISH;
	r->nparams = 0;
	r->status = CMD_STATUS_UNKNOWN_OUTCOME;
	r->event = OUTCOME_COMMAND_FAILED;
	r->retryable = 1;
	r->tm_may_have_acted = true;
	cmd_text(r->last_error, sizeof(r->last_error), reason);
	r->dlq_reason = dlq_reason_name(DLQ_REASON_OUTCOME_UNKNOWN);
	cmd_text(r->dlq_error, sizeof(r->dlq_error), reason);
	r->data = outcome_failed_data(&f);
}

struct cmd_before_arg {
	const struct cmd_env *env;
	enum tm_endpoint endpoint;
	unsigned id_attempt; /* the attempt attempt_id was made for (0: none yet) */
	char attempt_id[INTENT_ATTEMPT_ID_LEN];
};

/* Before each attempt of a TM call, its call slot held: the intent, durably. It claims the
 * command id for this body before anything reaches TM (an id reused by another body is refused
 * here, even for an idempotent call), and it is what tells a later run that the call may have
 * been made. A database failure answers LATER: tmretry gives the slot back, waits and asks
 * again, since no call may go out unrecorded; every try of one attempt records the same attempt
 * id, so a commit whose acknowledgement was lost is found to be this attempt's own. */
static int
cmd_before(void *arg, unsigned attempt, unsigned prev)
{
	struct cmd_before_arg *a = arg;
	const struct cmd_env *env = a->env;
	struct intent in = {
	    .command_id = env->cmd->id,
	    .subject = env->cmd->subject,
	    .type = env->cmd->type,
	    .sha256_hex = env->sha256_hex,
	    .topic = env->topic,
	    .partition = env->partition,
	    .offset = env->offset,
	    .endpoint = a->endpoint,
	    .attempt = attempt,
	    .prev = prev,
	    .attempt_id = a->attempt_id,
	};
	char err[256];
	int rc;

	if (a->id_attempt != attempt) {
		intent_attempt_id_new(a->attempt_id);
		a->id_attempt = attempt;
	}
	rc = intent_record(env->intents, &in, env->stop, err, sizeof(err));
	if (rc == 0)
		return TMRETRY_BEFORE_GO;
	if (rc > 0)
		return TMRETRY_BEFORE_NO_CALL;
	if (stop_requested(env->stop))
		return TMRETRY_BEFORE_STOPPED;
	log_warn("command %s: intent not recorded: %s; retrying", env->cmd->id, err);
	return TMRETRY_BEFORE_LATER;
}

static const char *
cmd_tm_status(const struct tm_result *res, char *buf, size_t buflen)
{
	if (res->tm_status[0] != '\0')
		return res->tm_status;
	if (res->http_status > 0) {
		snprintf(buf, buflen, "HTTP %ld", res->http_status);
		return buf;
	}
	return NULL;
}

/* cmd_call's second half: what tmretry_call's answer (rc) makes of r. Not inlined: its buffers
 * are not on the stack of a command waiting for TM. */
static __attribute__((noinline)) enum cmd_verdict
cmd_called(const struct cmd_env *env, const struct tm_request *req, struct cmd_result *r,
	   struct tmretry_result *tr, unsigned first, int rc)
{
	const struct tm_result *last = tmretry_last(tr);
	char reason[TM_REASON_MAX + 64], status[32], err[256];

	/* The audit rows of this run become the result's. */
	json_decref(r->calls);
	r->calls = tr->calls;
	tr->calls = NULL;
	r->attempts = first - 1 + tr->made;
	r->possible_duplicate = tr->possible_duplicate;
	r->tm_may_have_acted = tr->made > 0 && tr->last_may_have_acted;
	if (rc < 0) {
		/* Given up between attempts, or stopped after an intent whose call was not made:
		 * when the open intent's call surely did not reach TM, say so, so that a restart
		 * does not take it for an unknown outcome. */
		unsigned unsent = tr->unsent_attempt;

		if (unsent == 0 && tr->made > 0 && !tr->last_may_have_acted)
			unsent = tr->last_attempt;
		if (unsent > 0 &&
		    intent_resolve(env->pool, env->cmd->id, unsent, err, sizeof(err)) != 0)
			log_warn("command %s: intent left open: %s", env->cmd->id, err);
		return CMD_STOPPED;
	}
	if (rc > 0)
		return CMD_LOOK_AGAIN;
	switch (tr->action) {
	case TMRETRY_OK:
		return CMD_GO_ON;
	case TMRETRY_FAILED:
		snprintf(reason, sizeof(reason), "%s",
			 last->reason[0] ? last->reason : last->error);
		cmd_fail(r, env->cmd, reason, false, cmd_tm_status(last, status, sizeof(status)));
		return CMD_DONE;
	case TMRETRY_PARK:
		cmd_park(r, env->cmd, req->endpoint, tm_outcome_name(last->outcome));
		return CMD_DONE;
	case TMRETRY_AGAIN:
	case TMRETRY_EXHAUSTED:
		break;
	}
	snprintf(reason, sizeof(reason), "TM %s: %u attempts failed, last: %s",
		 tm_endpoint_name(req->endpoint), tr->made, last->error);
	cmd_fail(r, env->cmd, reason, true, cmd_tm_status(last, status, sizeof(status)));
	r->dlq_reason = dlq_reason_name(DLQ_REASON_RETRY_BUDGET_EXHAUSTED);
	cmd_text(r->dlq_error, sizeof(r->dlq_error), reason);
	return CMD_DONE;
}

enum cmd_verdict
cmd_call(const struct cmd_env *env, const struct cmd_state *st, const struct tm_request *req,
	 struct cmd_result *r, struct tmretry_result *tr)
{
	struct cmd_before_arg arg = {.env = env, .endpoint = req->endpoint};
	const struct tmretry_hooks hooks = {cmd_before, &arg};
	unsigned first = st->intent_max + 1, prev = 0;
	bool dup = false;
	int rc;

	/* First the place: a command repeating an unrecorded attempt holds one too. */
	if (r->intent_slot == NULL && env->intent_slots != NULL) {
		if (!fsem_take(env->intent_slots, env->stop))
			return CMD_STOPPED;
		r->intent_slot = env->intent_slots;
	}
	if (st->intent_open) {
		/* A previous run sent this call and never recorded its result (the worker died
		 * or gave up in between): for TM it may have happened. */
		if (tmretry_decide(&env->retry->policy, req->endpoint, TM_AMBIGUOUS, true, 0,
				   &dup) == TMRETRY_PARK) {
			r->attempts = st->intent_max;
			cmd_park(r, env->cmd, req->endpoint, "a previous attempt was not recorded");
			return CMD_DONE;
		}
		prev = st->intent_attempt;
		log_warn("command %s: %s attempt %u has no recorded result; repeating it%s",
			 env->cmd->id, tm_endpoint_name(req->endpoint), prev,
			 dup ? " (possible duplicate)" : "");
	}
	rc = tmretry_call(env->retry, env->tm, req, first, prev, dup, &hooks, env->stop, tr);
	return cmd_called(env, req, r, tr, first, rc);
}
