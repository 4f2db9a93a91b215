/* cmd_account: account.create, update, delete and query — the commands that call TM's account
 * endpoints and keep our accounts table in step with it. */
#include "cmd_account.h"

#include <string.h>

#include "log.h"
#include "tmdrift.h"

/* The call sends c's account: update_account, like create_account, sends all four fields. */
static void
account_request(struct cmd_tm *c)
{
	c->req.company_name = c->account.company_name;
	c->req.email = c->account.email;
	c->req.rooms = c->account.rooms;
	c->req.participants = c->account.participants;
}

/* A deleted account is kept as a tombstone: a late or repeated create must not make a second TM
 * account for the subject. */
enum cmd_verdict
cmd_account_create_prepare(const struct cmd_env *env, const struct cmd_state *st,
			   struct cmd_result *r, struct cmd_tm *c)
{
	const struct command *cmd = env->cmd;

	if (st->acc_exists) {
		cmd_fail(r, cmd, st->acc_active ? "account exists" : "account deleted", false,
			 NULL);
		return CMD_DONE;
	}
	c->account =
	    (struct outcome_account){cmd_str(cmd, "company_name"), cmd_str(cmd, "email"),
				     cmd_long(cmd, "rooms"), cmd_long(cmd, "participants")};
	account_request(c);
	return CMD_GO_ON;
}

enum cmd_verdict
cmd_account_create_answer(const struct cmd_env *env, const struct cmd_state *st,
			  struct cmd_result *r, struct cmd_tm *c, enum cmd_verdict called)
{
	const struct outcome_account *a = &c->account;
	const char *uid;
	json_t *data;

	(void)st;
	if (called != CMD_GO_ON)
		return called;
	uid = cmd_keep(r, tmretry_last(&c->tr)->company_uid);
	data = outcome_account_data(tmretry_last(&c->tr)->company_uid, a);
	if (data != NULL && r->possible_duplicate)
		json_object_set_new(data, "possible_duplicate", json_true());
	cmd_succeed(r, env->spec, data);
	cmd_param(r, uid);
	cmd_param(r, a->company_name);
	cmd_param(r, a->email);
	cmd_param(r, cmd_keep_long(r, a->rooms));
	cmd_param(r, cmd_keep_long(r, a->participants));
	return CMD_DONE;
}

/* The given fields over the stored ones: update_account must always send all four. */
static void
account_merge(const struct command *cmd, const struct cmd_state *st, struct outcome_account *a)
{
	const char *s;
	long v;

	a->company_name = (s = cmd_str(cmd, "company_name")) ? s : cmd_state_text(st->company_name);
	a->email = (s = cmd_str(cmd, "email")) ? s : cmd_state_text(st->email);
	a->rooms = (v = cmd_long(cmd, "rooms")) >= 0 ? v : st->rooms;
	a->participants = (v = cmd_long(cmd, "participants")) >= 0 ? v : st->participants;
}

enum cmd_verdict
cmd_account_update_prepare(const struct cmd_env *env, const struct cmd_state *st,
			   struct cmd_result *r, struct cmd_tm *c)
{
	(void)r;
	account_merge(env->cmd, st, &c->account);
	c->req.company_uid = st->company_uid;
	account_request(c);
	return CMD_GO_ON;
}

enum cmd_verdict
cmd_account_update_answer(const struct cmd_env *env, const struct cmd_state *st,
			  struct cmd_result *r, struct cmd_tm *c, enum cmd_verdict called)
{
	const struct outcome_account *a = &c->account;

	if (called != CMD_GO_ON)
		return called;
	cmd_succeed(r, env->spec, outcome_account_data(st->company_uid, a));
	cmd_param(r, a->company_name);
	cmd_param(r, a->email);
	cmd_param(r, cmd_keep_long(r, a->rooms));
	cmd_param(r, cmd_keep_long(r, a->participants));
	return CMD_DONE;
}

/* The call of delete and query: the subject's TM account. */
enum cmd_verdict
cmd_account_prepare(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r,
		    struct cmd_tm *c)
{
	(void)env;
	(void)r;
	c->req.company_uid = st->company_uid;
	return CMD_GO_ON;
}

enum cmd_verdict
cmd_account_delete_answer(const struct cmd_env *env, const struct cmd_state *st,
			  struct cmd_result *r, struct cmd_tm *c, enum cmd_verdict called)
{
	const struct tmretry_result *tr = &c->tr;
	const struct tm_result *last = tmretry_last(tr);

	/* "No such account" after a delete that may have acted (an earlier attempt of this run
	 * without an answer, or an earlier run's call left open) is that delete's success: a
	 * repeat cannot undo it, and the account's users must lose their logins. */
	if (called == CMD_DONE && tr->made > 0 && tr->action == TMRETRY_FAILED &&
	    last->tm_status[0] != '\0' && (st->intent_open || tr->any_may_have_acted) &&
	    tmdrift_gone(last->reason)) {
		log_info("command %s: TM: %s after a delete that may have acted: deleted",
			 env->cmd->id, last->reason);
		r->retryable = -1;
		r->last_error[0] = '\0';
		r->dlq_reason = NULL;
		called = CMD_GO_ON;
	}
	if (called != CMD_GO_ON)
		return called;
	cmd_succeed(r, env->spec, outcome_id_data("company_uid", st->company_uid));
	return CMD_DONE;
}

/* No state change: TM's view is reported, not adopted. */
enum cmd_verdict
cmd_account_query_answer(const struct cmd_env *env, const struct cmd_state *st,
			 struct cmd_result *r, struct cmd_tm *c, enum cmd_verdict called)
{
	const struct outcome_account ours = {cmd_state_text(st->company_name),
					     cmd_state_text(st->email), st->rooms,
					     st->participants};
	const struct tm_result *last = tmretry_last(&c->tr);
	struct outcome_account tm;

	if (called != CMD_GO_ON)
		return called;
	tm = (struct outcome_account){last->company_name, last->email, last->rooms,
				      last->participants};
	cmd_succeed(r, env->spec, outcome_queried_data(st->company_uid, &tm, &ours));
	return CMD_DONE;
}
