/* cmd_user: user.upsert and user.delete — local changes to the users TM authenticates through
 * us; upsert keeps only an argon2id verifier of the credential TM will send. */
#include "cmd_user.h"

#include <stdio.h>
#include <time.h>

#include <sodium.h>

#include "log.h"
#include "validate.h"

/* The credential of the longest password the schema allows (256 characters of up to 4 bytes)
 * under any scheme, with room to spare. */
enum { USER_CREDENTIAL_MAX = 1100 };

enum user_verifier {
	USER_VERIFIER_SET,     /* out holds the verifier */
	USER_VERIFIER_NONE,    /* the command gives neither password nor password_digest */
	USER_VERIFIER_FAILED,  /* r holds the failure (or the rejection) */
	USER_VERIFIER_STOPPED, /* *stop was set while waiting for a hashing slot */
};

/* command.rejected for a password_digest the schema allows but this deployment does not (its
 * cost is over TMPROV_ARGON2_DIGEST_MAX_*): the same result, DLQ copy included, as a message
 * that breaks the schema, its one error naming the field and the bound. */
static void
user_reject_digest(struct cmd_result *r, const char *why)
{
	struct validate_errors errs = {.n = 1};

	snprintf(errs.msg[0], sizeof(errs.msg[0]), "data.password_digest: %s", why);
	json_decref(r->data);
	r->data = outcome_rejected_data(validate_status_name(VALIDATE_INVALID), &errs);
	r->status = CMD_STATUS_REJECTED;
	r->event = OUTCOME_COMMAND_REJECTED;
	r->dlq_reason = validate_status_name(VALIDATE_INVALID);
	snprintf(r->dlq_error, sizeof(r->dlq_error), "%s", errs.msg[0]);
	snprintf(r->last_error, sizeof(r->last_error), "%s", errs.msg[0]);
}

/* The verifier to store: from password (hashed) or password_digest (as is). */
static enum user_verifier
user_verifier(const struct cmd_env *env, struct cmd_result *r, char out[PASSWORD_VERIFIER_MAX])
{
	const char *password = cmd_str(env->cmd, "password");
	const char *digest = cmd_str(env->cmd, "password_digest");
	char credential[USER_CREDENTIAL_MAX], why[160];
	int rc;

	if (digest != NULL) {
		if (!password_verifier_valid(digest)) {
			cmd_fail(r, env->cmd, "password_digest: not a usable argon2id verifier",
				 false, NULL);
			return USER_VERIFIER_FAILED;
		}
		if (!password_verifier_within(env->password, digest, why, sizeof(why))) {
			user_reject_digest(r, why);
			return USER_VERIFIER_FAILED;
		}
		snprintf(out, PASSWORD_VERIFIER_MAX, "%s", digest);
		return USER_VERIFIER_SET;
	}
	if (password == NULL)
		return USER_VERIFIER_NONE;
	if (password_credential(env->password, password, credential, sizeof(credential)) != 0) {
		cmd_fail(r, env->cmd, "password: cannot derive the credential", false, NULL);
		return USER_VERIFIER_FAILED;
	}
	if (!fsem_take(env->hash_slots, env->stop)) {
		sodium_memzero(credential, sizeof(credential));
		return USER_VERIFIER_STOPPED;
	}
	rc = password_verifier_new(env->password, credential, out);
	fsem_post(env->hash_slots);
	sodium_memzero(credential, sizeof(credential));
	if (rc != 0) {
		/* Out of memory for argon2id: a later try may well succeed. */
		log_error("command %s: argon2id hashing failed (out of memory?)", env->cmd->id);
		cmd_fail(r, env->cmd, "password hashing failed", true, NULL);
		return USER_VERIFIER_FAILED;
	}
	return USER_VERIFIER_SET;
}

enum cmd_verdict
cmd_user_upsert(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	const struct command *cmd = env->cmd;
	char verifier[PASSWORD_VERIFIER_MAX];
	enum user_verifier v;

	/* TM authenticates by email alone: one email, one live user. */
	if (st->email_taken) {
		cmd_fail(r, cmd, "email in use", false, NULL);
		return CMD_DONE;
	}
	v = user_verifier(env, r, verifier);
	if (v == USER_VERIFIER_STOPPED)
		return CMD_STOPPED;
	if (v == USER_VERIFIER_FAILED)
		return CMD_DONE;
	if (v == USER_VERIFIER_NONE && !st->user_exists) {
		cmd_fail(r, cmd, "password or password_digest is required for a new user", false,
			 NULL);
		return CMD_DONE;
	}
	cmd_succeed(r, env->spec, outcome_id_data("user_id", cmd_str(cmd, "user_id")));
	cmd_param(r, cmd_str(cmd, "user_id"));
	cmd_param(r, cmd_str(cmd, "email"));
	cmd_param(r, cmd_str(cmd, "first_name"));
	cmd_param(r, cmd_str(cmd, "last_name"));
	/* NULL keeps the stored verifier. */
	cmd_param(r, v == USER_VERIFIER_SET ? cmd_keep(r, verifier) : NULL);
	sodium_memzero(verifier, sizeof(verifier));
	return CMD_DONE;
}

enum cmd_verdict
cmd_user_delete(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	const char *user_id = cmd_str(env->cmd, "user_id");

	if (!st->user_active) {
		cmd_fail(r, env->cmd, "no such user", false, NULL);
		return CMD_DONE;
	}
	cmd_succeed(r, env->spec, outcome_id_data("user_id", user_id));
	cmd_param(r, user_id);
	return CMD_DONE;
}
