/* cmd_account: account.create, update, delete and query — the commands that call TM's account
 * endpoints and keep our accounts table in step with it (handlers of cmd_types' table). */
#ifndef TMPROV_WORKER_CMD_ACCOUNT_H
#define TMPROV_WORKER_CMD_ACCOUNT_H

#include "cmd.h"

/* The halves of the four types; delete and query share cmd_account_prepare. */
cmd_prepare cmd_account_create_prepare, cmd_account_update_prepare, cmd_account_prepare;
cmd_answer cmd_account_create_answer, cmd_account_update_answer, cmd_account_delete_answer,
    cmd_account_query_answer;

#endif
