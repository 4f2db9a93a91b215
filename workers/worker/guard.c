/* guard: the mass-delete guard's settings, its decision for a command whose subject has a queue,
 * the command.held event and the message a queued command keeps (see guard.h). */
#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fwait.h"
#include "outcome.h"
#include "wconfig.h"

/* The credential of the longest password the schema allows, with room (as cmd_user.c). */
enum { GUARD_CREDENTIAL_MAX = 1100, GUARD_BODY_MAX = 65536 };

void
guard_opts_from_cfg(struct guard_opts *o, const struct cfg *c)
{
	o->max = cfg_int(c, &KEY_TMPROV_DELETE_GUARD);
	o->window_ms = cfg_int(c, &KEY_TMPROV_DELETE_GUARD_WINDOW);
}

bool
guard_applies(const struct guard_opts *o, enum cmd_type kind, bool account_active)
{
	return o->max > 0 && kind == CMD_ACCOUNT_DELETE && account_active;
}

enum guard_action
guard_decide(const struct guard_view *v)
{
	if (!v->head)
		return GUARD_GO;
	if (v->head_held)
		return v->own_recorded ? GUARD_NOTHING : GUARD_ENQUEUE;
	return v->head_is_own ? GUARD_RUN_OWN : GUARD_RUN_HEAD;
}

void
guard_held_event_id(const char *command_id, char out[GUARD_EVENT_ID_LEN])
{
	outcome_event_id_of("held:", command_id, out);
}

json_t *
guard_held_data(const struct guard_opts *o, const char *command_type, long deletions)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:I}", "command_type", command_type, "reason",
			 "delete_guard", "deletions", (json_int_t)deletions, "limit",
			 (json_int_t)o->max, "window_seconds", (json_int_t)(o->window_ms / 1000));
}

/* verifier: the argon2id verifier of password, as user.upsert would store it. 0, 1 stopped,
 * -1 with err. */
static int
guard_digest(const char *password, const struct password_opts *po, struct fsem *hash_slots,
	     const atomic_bool *stop, char verifier[PASSWORD_VERIFIER_MAX], char *err,
	     size_t errlen)
{
	char credential[GUARD_CREDENTIAL_MAX];
	int rc = -1;

	if (password_credential(po, password, credential, sizeof(credential)) != 0) {
		snprintf(err, errlen, "password: cannot derive the credential");
		goto out;
	}
	if (!fsem_take(hash_slots, stop)) {
		rc = 1;
		goto out;
	}
	rc = password_verifier_new(po, credential, verifier);
	fsem_post(hash_slots);
	if (rc != 0)
		snprintf(err, errlen, "password hashing failed (out of memory?)");
out:
	sodium_memzero(credential, sizeof(credential));
	return rc;
}

int
guard_queue_body(const struct command *cmd, const char *payload, size_t len,
		 const struct password_opts *po, struct fsem *hash_slots, const atomic_bool *stop,
		 char **out, char *err, size_t errlen)
{
	const char *password = NULL;
	char verifier[PASSWORD_VERIFIER_MAX];
	json_t *root = NULL, *data;
	int rc = -1;

	*out = NULL;
	if (cmd->kind == CMD_USER_UPSERT && cmd->data != NULL)
		password = json_string_value(json_object_get(cmd->data, "password"));
	if (password == NULL) {
		*out = strndup(payload, len);
		if (*out == NULL)
			snprintf(err, errlen, "out of memory");
		return *out ? 0 : -1;
	}
	rc = guard_digest(password, po, hash_slots, stop, verifier, err, errlen);
	if (rc != 0)
		goto out;
	rc = -1;
	root = json_deep_copy(cmd->root);
	data = json_object_get(root, "data");
	if (root == NULL || data == NULL || json_object_del(data, "password") != 0 ||
	    json_object_set_new(data, "password_digest", json_string(verifier)) != 0 ||
	    (*out = json_dumps(root, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (strlen(*out) > GUARD_BODY_MAX) {
		snprintf(err, errlen, "message too large to keep");
		free(*out);
		*out = NULL;
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(verifier, sizeof(verifier));
	json_decref(root);
	return rc;
}
