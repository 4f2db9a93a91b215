/* libFuzzer target for common/validate: any bytes must give a status with a name, a command
 * only when id and subject are usable, and no leak, overread or undefined behaviour. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct validate_errors errs;
	struct command *cmd = NULL;
	enum validate_status st;

	st = command_parse((const char *)data, size, &cmd, &errs);
	if (!validate_status_name(st))
		abort();
	if ((st == VALIDATE_OK) != (errs.n == 0))
		abort();
	if (st == VALIDATE_OK && (!cmd || cmd->kind == CMD_UNKNOWN))
		abort();
	if (cmd && (!cmd->id || !cmd->subject || !cmd->root))
		abort();
	for (size_t i = 0; i < errs.n; i++)
		if (strnlen(errs.msg[i], VALIDATE_ERROR_LEN) == VALIDATE_ERROR_LEN)
			abort();
	command_free(cmd);
	return 0;
}
