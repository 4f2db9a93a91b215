/* dlqdef: the tm.commands.dlq contract in code — the reasons a message goes there (one enum and
 * one name table, which tests/unit/test_dlqdef.c checks against the schemas both ways) and the
 * names of tmprov's own headers on a copy. */
#ifndef TMPROV_DLQDEF_H
#define TMPROV_DLQDEF_H

#include <stdbool.h>

/* Why a message went to the DLQ. The first six are the verdicts of common/validate.h
 * (validate_status_name gives the same names). */
enum dlq_reason {
	DLQ_REASON_TOO_LARGE,
	DLQ_REASON_NOT_UTF8,
	DLQ_REASON_NOT_JSON,
	DLQ_REASON_NOT_CLOUDEVENT,
	DLQ_REASON_UNKNOWN_TYPE,
	DLQ_REASON_INVALID,
	DLQ_REASON_KEY_MISMATCH,	   /* the Kafka key was not the subject (absent included) */
	DLQ_REASON_ID_CONFLICT,		   /* an id already used by another body */
	DLQ_REASON_OUTCOME_UNKNOWN,	   /* parked: the TM call may have acted */
	DLQ_REASON_RETRY_BUDGET_EXHAUSTED, /* used up its TM attempts */
	DLQ_REASON_COUNT
};

/* The reason's name: the tmprov.reason header, the schemas' enums. NULL when out of range. */
const char *dlq_reason_name(enum dlq_reason r);
/* Whether a command.rejected event carries r as data.reason (common.json reject_reason); the
 * others go to the DLQ with another outcome (command.failed) or none. */
bool dlq_reason_rejects(enum dlq_reason r);
/* The reason named name; -1 when none. */
int dlq_reason_parse(const char *name);

/* tmprov's headers on a DLQ copy. They share a prefix so that they never collide with the
 * original message's headers, which the copy keeps. */
#define DLQ_HDR_PREFIX		 "tmprov."
#define DLQ_HDR_REASON		 "tmprov.reason"
#define DLQ_HDR_ERROR		 "tmprov.error"
#define DLQ_HDR_ORIGIN_TOPIC	 "tmprov.origin.topic"
#define DLQ_HDR_ORIGIN_PARTITION "tmprov.origin.partition"
#define DLQ_HDR_ORIGIN_OFFSET	 "tmprov.origin.offset"
#define DLQ_HDR_TRUNCATED	 "tmprov.truncated"
#define DLQ_HDR_KEY_TRUNCATED	 "tmprov.key_truncated"
/* The trace context the worker ran the command in (W3C traceparent: the command's trace id, a
 * span id of the worker's). */
#define DLQ_HDR_TRACEPARENT "tmprov.traceparent"

#endif
