/* dlqdef: the tm.commands.dlq reasons, one table (see dlqdef.h); schemas/asyncapi.yaml and
 * schemas/common.json must list exactly these (tests/unit/test_dlqdef.c). */
#include "dlqdef.h"

#include <string.h>

static const struct {
	const char *name;
	bool rejects;
} REASONS[DLQ_REASON_COUNT] = {
    [DLQ_REASON_TOO_LARGE] = {"too_large", true},
    [DLQ_REASON_NOT_UTF8] = {"not_utf8", true},
    [DLQ_REASON_NOT_JSON] = {"not_json", true},
    [DLQ_REASON_NOT_CLOUDEVENT] = {"not_cloudevent", true},
    [DLQ_REASON_UNKNOWN_TYPE] = {"unknown_type", true},
    [DLQ_REASON_INVALID] = {"invalid", true},
    [DLQ_REASON_KEY_MISMATCH] = {"key_mismatch", true},
    [DLQ_REASON_ID_CONFLICT] = {"id_conflict", false},
    [DLQ_REASON_OUTCOME_UNKNOWN] = {"outcome_unknown", false},
    [DLQ_REASON_RETRY_BUDGET_EXHAUSTED] = {"retry_budget_exhausted", false},
};

const char *
dlq_reason_name(enum dlq_reason r)
{
	if ((unsigned)r >= DLQ_REASON_COUNT)
		return NULL;
	return REASONS[r].name;
}

bool
dlq_reason_rejects(enum dlq_reason r)
{
	return (unsigned)r < DLQ_REASON_COUNT && REASONS[r].rejects;
}

int
dlq_reason_parse(const char *name)
{
	for (int r = 0; name != NULL && r < DLQ_REASON_COUNT; r++)
		if (strcmp(REASONS[r].name, name) == 0)
			return r;
	return -1;
}
