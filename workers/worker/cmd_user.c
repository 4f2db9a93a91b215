/* cmd_user: user.upsert and user.delete — local changes to the users TM authenticates through
 * us; upsert keeps only an argon2id verifier of the credential TM will send. */
#include "cmd.h"

#include <stdio.h>
#include <time.h>

#include <sodium.h>

#include "log.h"
#include "outcome.h"

/* The credential of the longest password the schema allows (256 characters of up to 4 bytes)
 * under any scheme, with room to spare. */
enum { USER_CREDENTIAL_MAX = 1100 };

/* The verifier to store: from password (hashed) or password_digest (as is). Returns 0 with out
 * set, 1 when the command gives neither, 2 when r holds a failure, -1 when stopped. */
static int
user_verifier(const struct cmd_env *env, struct cmd_result *r, char out[PASSWORD_VERIFIER_MAX])
{
	const char *password = cmd_str(env->cmd, "password");
	const char *digest = cmd_str(env->cmd, "password_digest");
	char credential[USER_CREDENTIAL_MAX];
	int rc;

	if (digest != NULL) {
		if (!password_verifier_valid(digest)) {
			cmd_fail(r, env->cmd, "password_digest: not a usable argon2id verifier",
				 false, NULL);
			return 2;
		}
		snprintf(out, PASSWORD_VERIFIER_MAX, "%s", digest);
		return 0;
	}
	if (password == NULL)
		return 1;
	if (password_credential(env->password, password, credential, sizeof(credential)) != 0) {
		cmd_fail(r, env->cmd, "password: cannot derive the credential", false, NULL);
		return 2;
	}
	if (!tmretry_slot_take(env->hash_slots, env->stop)) {
		sodium_memzero(credential, sizeof(credential));
		return -1;
	}
	rc = password_verifier_new(env->password, credential, out);
	sem_post(env->hash_slots);
	sodium_memzero(credential, sizeof(credential));
	if (rc != 0) {
		/* Out of memory for argon2id: a later try may well succeed. */
		log_error("command %s: argon2id hashing failed (out of memory?)", env->cmd->id);
		cmd_fail(r, env->cmd, "password hashing failed", true, NULL);
		return 2;
	}
	return 0;
}

static int
user_upsert(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	const struct command *cmd = env->cmd;
	char verifier[PASSWORD_VERIFIER_MAX];
	int rc;

	/* TM authenticates by email alone: one email, one live user. */
	if (st->email_taken) {
		cmd_fail(r, cmd, "email in use", false, NULL);
		return 0;
	}
	rc = user_verifier(env, r, verifier);
	if (rc < 0)
		return -1;
	if (rc == 2)
		return 0;
	if (rc == 1 && !st->user_exists) {
		cmd_fail(r, cmd, "password or password_digest is required for a new user", false,
			 NULL);
		return 0;
	}
	cmd_succeed(r, SQL_FINISH_USER_UPSERT, "user.upserted",
		    outcome_id_data("user_id", cmd_str(cmd, "user_id")));
	cmd_param(r, cmd_str(cmd, "user_id"));
	cmd_param(r, cmd_str(cmd, "email"));
	cmd_param(r, cmd_str(cmd, "first_name"));
	cmd_param(r, cmd_str(cmd, "last_name"));
	/* NULL keeps the stored verifier. */
	cmd_param(r, rc == 0 ? cmd_keep(r, verifier) : NULL);
	sodium_memzero(verifier, sizeof(verifier));
	return 0;
}

static int
user_delete(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	const char *user_id = cmd_str(env->cmd, "user_id");

	if (!st->user_active) {
		cmd_fail(r, env->cmd, "no such user", false, NULL);
		return 0;
	}
	cmd_succeed(r, SQL_FINISH_USER_DELETE, "user.deleted", outcome_id_data("user_id", user_id));
	cmd_param(r, user_id);
	return 0;
}

int
cmd_user_run(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r)
{
	if (cmd_need_account(st, env->cmd, r) != 0)
		return 0;
	if (env->cmd->kind == CMD_USER_UPSERT)
		return user_upsert(env, st, r);
	return user_delete(env, st, r);
}
