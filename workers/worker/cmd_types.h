/* cmd_types: the worker's one table of the eight command types (DESIGN.md §2), with each one's
 * handler, account need, TM endpoint, lookup, success variant and event; and dispatch by it. */
#ifndef TMPROV_WORKER_CMD_TYPES_H
#define TMPROV_WORKER_CMD_TYPES_H

#include <stdbool.h>

#include "cmd.h"
#include "validate.h"

/* The row of kind; NULL for CMD_UNKNOWN or a value out of range. */
const struct cmd_spec *cmd_types_get(enum cmd_type kind);

/* Whether a command of kind makes a TM call that may create something (create_account,
 * remote_schedule: not idempotent), which a result we fail to store would leave unrecorded. */
bool cmd_types_may_create(enum cmd_type kind);

/* Runs the logic of env->cmd, whose row is env->spec, to a result in r: checks the subject's
 * account when the type needs one, then calls the type's handler. CMD_DONE (r is ready),
 * CMD_LOOK_AGAIN or CMD_STOPPED. */
enum cmd_verdict cmd_types_run(const struct cmd_env *env, const struct cmd_state *st,
			       struct cmd_result *r);

#endif
