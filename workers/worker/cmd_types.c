/* cmd_types: the worker's one table of the eight command types (DESIGN.md §2), with each one's
 * handler, account need, TM endpoint, lookup, success variant and event; and dispatch by it. */
#include "cmd_types.h"

#include <stdlib.h>
#include <string.h>

#include "cmd_account.h"
#include "cmd_meeting.h"
#include "cmd_user.h"
#include "log.h"

/* account.create needs no account: it refuses a subject that has one (cmd_account.c). The
 * local types have no endpoint; account.query changes no state, so its success is SQL_FINISH. */
static const struct cmd_spec CMD_TYPES[CMD_TYPE_COUNT] = {
    [CMD_ACCOUNT_CREATE] = {.prepare = cmd_account_create_prepare,
			    .answer = cmd_account_create_answer,
			    .calls_tm = true,
			    .endpoint = TM_CREATE_ACCOUNT,
			    .finish = SQL_FINISH_ACCOUNT_CREATE,
			    .outcome = OUTCOME_ACCOUNT_CREATED},
    [CMD_ACCOUNT_UPDATE] = {.prepare = cmd_account_update_prepare,
			    .answer = cmd_account_update_answer,
			    .needs_account = true,
			    .calls_tm = true,
			    .endpoint = TM_UPDATE_ACCOUNT,
			    .finish = SQL_FINISH_ACCOUNT_UPDATE,
			    .outcome = OUTCOME_ACCOUNT_UPDATED},
    [CMD_ACCOUNT_DELETE] = {.prepare = cmd_account_prepare,
			    .answer = cmd_account_delete_answer,
			    .needs_account = true,
			    .calls_tm = true,
			    .endpoint = TM_DELETE_ACCOUNT,
			    .finish = SQL_FINISH_ACCOUNT_DELETE,
			    .outcome = OUTCOME_ACCOUNT_DELETED},
    [CMD_ACCOUNT_QUERY] = {.prepare = cmd_account_prepare,
			   .answer = cmd_account_query_answer,
			   .needs_account = true,
			   .calls_tm = true,
			   .endpoint = TM_QUERY_ACCOUNT,
			   .finish = SQL_FINISH,
			   .outcome = OUTCOME_ACCOUNT_QUERIED},
    [CMD_USER_UPSERT] = {.run = cmd_user_upsert,
			 .needs_account = true,
			 .lookup = CMD_LOOKUP_USER | CMD_LOOKUP_EMAIL,
			 .finish = SQL_FINISH_USER_UPSERT,
			 .outcome = OUTCOME_USER_UPSERTED},
    [CMD_USER_DELETE] = {.run = cmd_user_delete,
			 .needs_account = true,
			 .lookup = CMD_LOOKUP_USER,
			 .finish = SQL_FINISH_USER_DELETE,
			 .outcome = OUTCOME_USER_DELETED},
    [CMD_MEETING_SCHEDULE] = {.prepare = cmd_meeting_schedule_prepare,
			      .answer = cmd_meeting_schedule_answer,
			      .needs_account = true,
			      .calls_tm = true,
			      .endpoint = TM_REMOTE_SCHEDULE,
			      .lookup = CMD_LOOKUP_USER,
			      .finish = SQL_FINISH_MEETING_SCHEDULE,
			      .outcome = OUTCOME_MEETING_SCHEDULED},
    [CMD_MEETING_CANCEL] = {.run = cmd_meeting_cancel,
			    .needs_account = true,
			    .lookup = CMD_LOOKUP_MEETING,
			    .finish = SQL_FINISH_MEETING_CANCEL,
			    .outcome = OUTCOME_MEETING_CANCELED},
};

const struct cmd_spec *
cmd_types_get(enum cmd_type kind)
{
	if ((int)kind <= CMD_UNKNOWN || (int)kind >= CMD_TYPE_COUNT)
		return NULL;
	return &CMD_TYPES[kind];
}

bool
cmd_types_may_create(enum cmd_type kind)
{
	const struct cmd_spec *spec = cmd_types_get(kind);

	return spec != NULL && spec->calls_tm && !tm_endpoint_idempotent(spec->endpoint);
}

/* A zeroed cmd_tm (an answer may read tr after a cmd_call that made no call), on the heap and
 * small: TM's answer (2 KiB) is kept only from its arrival (tmretry_result's last).
 * Out of memory it waits like an outage; NULL only when stopped. */
static struct cmd_tm *
cmd_tm_new(const struct cmd_env *env)
{
	struct cmd_tm *c;

	for (unsigned n = 0; (c = calloc(1, sizeof(*c))) == NULL; n++) {
		if (n == 0)
			log_error("command %s: out of memory for its TM call: waiting",
				  env->cmd->id);
		if (!tmretry_sleep(100, env->stop))
			return NULL;
	}
	c->req.endpoint = env->spec->endpoint;
	return c;
}

/* A TM-calling type: its prepare, the call (cmd_call) and its answer. */
static enum cmd_verdict
cmd_types_call(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	struct cmd_tm *c = cmd_tm_new(env);
	enum cmd_verdict v;

	if (c == NULL)
		return CMD_STOPPED;
	v = env->spec->prepare(env, st, r, c);
	if (v == CMD_GO_ON) {
		v = cmd_call(env, st, &c->req, r, &c->tr);
		if (v == CMD_GO_ON || v == CMD_DONE)
			v = env->spec->answer(env, st, r, c, v);
	}
	tmretry_result_clear(&c->tr);
	free(c);
	return v;
}

enum cmd_verdict
cmd_types_run(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	const struct command *cmd = env->cmd;

	if (env->spec == NULL) {
		/* exec only runs validated commands, whose type is one of the eight. */
		cmd_fail(r, cmd, "unknown command type", false, NULL);
		return CMD_DONE;
	}
	if (env->spec->needs_account && !st->acc_active) {
		cmd_fail(r, cmd, st->acc_exists ? "account deleted" : "no account for subject",
			 false, NULL);
		return CMD_DONE;
	}
	if (env->spec->run != NULL)
		return env->spec->run(env, st, r);
	return cmd_types_call(env, st, r);
}
