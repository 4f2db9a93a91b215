/* cmd_user: user.upsert and user.delete — local changes to the users TM authenticates through
 * us; upsert keeps only an argon2id verifier of the credential TM will send. */
#ifndef TMPROV_WORKER_CMD_USER_H
#define TMPROV_WORKER_CMD_USER_H

#include "cmd.h"

enum cmd_verdict cmd_user_upsert(const struct cmd_env *env, const struct cmd_state *st,
				 struct cmd_result *r);
enum cmd_verdict cmd_user_delete(const struct cmd_env *env, const struct cmd_state *st,
				 struct cmd_result *r);

#endif
