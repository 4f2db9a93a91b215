/* cmd_account: account.create, update, delete and query — the commands that call TM's account
 * endpoints and keep our accounts table in step with it (handlers of cmd_types' table). */
#ifndef TMPROV_WORKER_CMD_ACCOUNT_H
#define TMPROV_WORKER_CMD_ACCOUNT_H

#include "cmd.h"

enum cmd_verdict cmd_account_create(const struct cmd_env *env, const struct cmd_state *st,
				    struct cmd_result *r);
enum cmd_verdict cmd_account_update(const struct cmd_env *env, const struct cmd_state *st,
				    struct cmd_result *r);
enum cmd_verdict cmd_account_delete(const struct cmd_env *env, const struct cmd_state *st,
				    struct cmd_result *r);
enum cmd_verdict cmd_account_query(const struct cmd_env *env, const struct cmd_state *st,
				   struct cmd_result *r);

#endif
