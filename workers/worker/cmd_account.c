/* cmd_account: account.create, update, delete and query — the commands that call TM's account
 * endpoints and keep our accounts table in step with it. */
#include "cmd_account.h"

#include <string.h>

#include "log.h"
#include "tmdrift.h"

enum cmd_verdict
cmd_account_create(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	const struct command *cmd = env->cmd;
	struct outcome_account a = {cmd_str(cmd, "company_name"), cmd_str(cmd, "email"),
				    cmd_long(cmd, "rooms"), cmd_long(cmd, "participants")};
	struct tm_request req = {
	    .endpoint = env->spec->endpoint,
	    .company_name = a.company_name,
	    .email = a.email,
	    .rooms = a.rooms,
	    .participants = a.participants,
	};
	struct tmretry_result tr;
	const char *uid;
	json_t *data;
	enum cmd_verdict v;

	/* A deleted account is kept as a tombstone: a late or repeated create must not make a
	 * second TM account for the subject. */
	if (st->acc_exists) {
		cmd_fail(r, cmd, st->acc_active ? "account exists" : "account deleted", false,
			 NULL);
		return CMD_DONE;
	}
	v = cmd_call(env, st, &req, r, &tr);
	if (v != CMD_GO_ON)
		return v;
	uid = cmd_keep(r, tr.last.company_uid);
	data = outcome_account_data(tr.last.company_uid, &a);
	if (data != NULL && r->possible_duplicate)
		json_object_set_new(data, "possible_duplicate", json_true());
	cmd_succeed(r, env->spec, data);
	cmd_param(r, uid);
	cmd_param(r, a.company_name);
	cmd_param(r, a.email);
	cmd_param(r, cmd_keep_long(r, a.rooms));
	cmd_param(r, cmd_keep_long(r, a.participants));
	return CMD_DONE;
}

/* The given fields over the stored ones: update_account must always send all four. */
static void
account_merge(const struct command *cmd, const struct cmd_state *st, struct outcome_account *a)
{
	const char *s;
	long v;

	a->company_name = (s = cmd_str(cmd, "company_name")) ? s : st->company_name;
	a->email = (s = cmd_str(cmd, "email")) ? s : st->email;
	a->rooms = (v = cmd_long(cmd, "rooms")) >= 0 ? v : st->rooms;
	a->participants = (v = cmd_long(cmd, "participants")) >= 0 ? v : st->participants;
}

enum cmd_verdict
cmd_account_update(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	struct outcome_account a;
	struct tm_request req = {.endpoint = env->spec->endpoint, .company_uid = st->company_uid};
	struct tmretry_result tr;
	enum cmd_verdict v;

	account_merge(env->cmd, st, &a);
	req.company_name = a.company_name;
	req.email = a.email;
	req.rooms = a.rooms;
	req.participants = a.participants;
	v = cmd_call(env, st, &req, r, &tr);
	if (v != CMD_GO_ON)
		return v;
	cmd_succeed(r, env->spec, outcome_account_data(st->company_uid, &a));
	cmd_param(r, a.company_name);
	cmd_param(r, a.email);
	cmd_param(r, cmd_keep_long(r, a.rooms));
	cmd_param(r, cmd_keep_long(r, a.participants));
	return CMD_DONE;
}

enum cmd_verdict
cmd_account_delete(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	struct tm_request req = {.endpoint = env->spec->endpoint, .company_uid = st->company_uid};
	struct tmretry_result tr = {.made = 0};
	enum cmd_verdict v;

	v = cmd_call(env, st, &req, r, &tr);
	/* "No such account" after a delete that may have acted (an earlier attempt of this run
	 * without an answer, or an earlier run's call left open) is that delete's success: a
	 * repeat cannot undo it, and the account's users must lose their logins. */
	if (v == CMD_DONE && tr.made > 0 && tr.action == TMRETRY_FAILED &&
	    tr.last.tm_status[0] != '\0' && (st->intent_open || tr.any_may_have_acted) &&
	    tmdrift_gone(tr.last.reason)) {
		log_info("command %s: TM: %s after a delete that may have acted: deleted",
			 env->cmd->id, tr.last.reason);
		r->retryable = -1;
		r->last_error[0] = '\0';
		r->dlq_reason = NULL;
		v = CMD_GO_ON;
	}
	if (v != CMD_GO_ON)
		return v;
	cmd_succeed(r, env->spec, outcome_id_data("company_uid", st->company_uid));
	return CMD_DONE;
}

enum cmd_verdict
cmd_account_query(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	struct tm_request req = {.endpoint = env->spec->endpoint, .company_uid = st->company_uid};
	struct outcome_account ours = {st->company_name, st->email, st->rooms, st->participants};
	struct outcome_account tm;
	struct tmretry_result tr;
	enum cmd_verdict v;

	v = cmd_call(env, st, &req, r, &tr);
	if (v != CMD_GO_ON)
		return v;
	tm = (struct outcome_account){tr.last.company_name, tr.last.email, tr.last.rooms,
				      tr.last.participants};
	/* No state change: TM's view is reported, not adopted. */
	cmd_succeed(r, env->spec, outcome_queried_data(st->company_uid, &tm, &ours));
	return CMD_DONE;
}
