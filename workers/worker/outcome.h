/* outcome: the outcome CloudEvents of tm.events (DESIGN.md §2): the envelope with its stable
 * id and commandid, and the data of each outcome type, built with jansson. */
#ifndef TMPROV_WORKER_OUTCOME_H
#define TMPROV_WORKER_OUTCOME_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "validate.h"

/* The types of outcome event; outcome_type_name gives the text the events and the outbox
 * carry ("account.created", ...). */
enum outcome_type {
	OUTCOME_ACCOUNT_CREATED,
	OUTCOME_ACCOUNT_UPDATED,
	OUTCOME_ACCOUNT_DELETED,
	OUTCOME_ACCOUNT_QUERIED,
	OUTCOME_USER_UPSERTED,
	OUTCOME_USER_DELETED,
	OUTCOME_MEETING_SCHEDULED,
	OUTCOME_MEETING_CANCELED,
	OUTCOME_COMMAND_FAILED,
	OUTCOME_COMMAND_REJECTED,
	OUTCOME_TYPE_COUNT
};

/* NULL when out of range. */
const char *outcome_type_name(enum outcome_type type);

/* "evt-" + 32 lowercase hex characters + NUL. */
#define OUTCOME_EVENT_ID_LEN 37

/* The event id of a command's outcome: "evt-" + the first 32 hex digits of
 * sha256("outcome:" + command id). A function of the command id alone, so a re-publish, or a
 * second worker racing for the same command, can only ever produce this one id. */
void outcome_event_id(const char *command_id, char out[OUTCOME_EVENT_ID_LEN]);
/* The same with another prefix than "outcome:": the id of another event about the command
 * (command.held: "held:", guard.h), never equal to its outcome's. */
void outcome_event_id_of(const char *prefix, const char *command_id,
			 char out[OUTCOME_EVENT_ID_LEN]);

/* The whole CloudEvent: specversion, id, source "tmprov", type, subject, time (RFC 3339, UTC,
 * milliseconds), datacontenttype, commandid, data. Takes ownership of data (also on failure).
 * NULL when out of memory. */
json_t *outcome_event(const char *command_id, const char *subject, const char *type, json_t *data,
		      const struct timespec *now);

/* Adds the CloudEvents distributed-tracing extension attribute traceparent to event ev. 0, or
 * -1 when out of memory. */
int outcome_set_traceparent(json_t *ev, const char *traceparent);

/* The four account values as named in account.create (and in data.tm of account.queried). */
struct outcome_account {
	const char *company_name;
	const char *email;
	long rooms;
	long participants;
};

/* account.created / account.updated: company_uid and the four values. */
json_t *outcome_account_data(const char *company_uid, const struct outcome_account *a);
/* account.deleted, and the base of the others that name only one id. */
json_t *outcome_id_data(const char *name, const char *value);
/* account.queried: TM's values and the names of the fields where they differ from ours
 * (empty when in step), in the order of account.create. */
json_t *outcome_queried_data(const char *company_uid, const struct outcome_account *tm,
			     const struct outcome_account *ours);
/* meeting.scheduled; possible_duplicate is present only when true. */
json_t *outcome_scheduled_data(const char *meeting_id, const char *user_id, const char *topic,
			       const char *start_time, const char *join_url,
			       bool possible_duplicate);

/* command.failed. tm_status: NULL or "" when there was no TM answer; outcome_unknown is
 * present only when true. */
struct outcome_failure {
	enum cmd_type command_type;
	const char *reason;
	bool retryable;
	unsigned attempts;
	const char *tm_status;
	bool outcome_unknown;
};
json_t *outcome_failed_data(const struct outcome_failure *f);

/* command.rejected: errors (at least one: the reason when errs holds none; a "message: ..."
 * line counts the errors that did not fit) and reason (validate_status_name() of the verdict,
 * or key_mismatch; NULL: "invalid"). */
json_t *outcome_rejected_data(const char *reason, const struct validate_errors *errs);

#endif
