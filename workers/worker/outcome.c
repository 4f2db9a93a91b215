/* outcome: the outcome CloudEvents of tm.events (DESIGN.md §2): the envelope with its stable
 * id and commandid, and the data of each outcome type, built with jansson. */
#include "outcome.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

static const char *const OUTCOME_TYPE_NAMES[OUTCOME_TYPE_COUNT] = {
    [OUTCOME_ACCOUNT_CREATED] = "account.created",
    [OUTCOME_ACCOUNT_UPDATED] = "account.updated",
    [OUTCOME_ACCOUNT_DELETED] = "account.deleted",
    [OUTCOME_ACCOUNT_QUERIED] = "account.queried",
    [OUTCOME_USER_UPSERTED] = "user.upserted",
    [OUTCOME_USER_DELETED] = "user.deleted",
    [OUTCOME_MEETING_SCHEDULED] = "meeting.scheduled",
    [OUTCOME_MEETING_CANCELED] = "meeting.canceled",
    [OUTCOME_COMMAND_FAILED] = "command.failed",
    [OUTCOME_COMMAND_REJECTED] = "command.rejected",
};

const char *
outcome_type_name(enum outcome_type type)
{
	if ((unsigned)type >= OUTCOME_TYPE_COUNT)
		return NULL;
	return OUTCOME_TYPE_NAMES[type];
}

void
outcome_event_id(const char *command_id, char out[OUTCOME_EVENT_ID_LEN])
{
	outcome_event_id_of("outcome:", command_id, out);
}

void
outcome_event_id_of(const char *prefix, const char *command_id, char out[OUTCOME_EVENT_ID_LEN])
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)prefix, strlen(prefix));
	crypto_hash_sha256_update(&st, (const unsigned char *)command_id, strlen(command_id));
	crypto_hash_sha256_final(&st, digest);
	memcpy(out, "evt-", 4);
	/* 16 bytes = 32 hex digits: 128 bits, collision-free in practice. */
	sodium_bin2hex(out + 4, OUTCOME_EVENT_ID_LEN - 4, digest, 16);
}

static void
outcome_time(const struct timespec *now, char *out, size_t outlen)
{
	struct tm tm;

	size_t len;

	gmtime_r(&now->tv_sec, &tm);
	len = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + len, outlen - len, ".%03dZ", (int)(now->tv_nsec / 1000000L) % 1000);
}

json_t *
outcome_event(const char *command_id, const char *subject, const char *type, json_t *data,
	      const struct timespec *now)
{
	char id[OUTCOME_EVENT_ID_LEN], when[40];
	json_t *ev;

	if (data == NULL)
		return NULL;
	outcome_event_id(command_id, id);
	outcome_time(now, when, sizeof(when));
	ev =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "id",
		      id, "source", "tmprov", "type", type, "subject", subject, "time", when,
		      "datacontenttype", "application/json", "commandid", command_id, "data", data);
	/* json_pack's "o" steals data even when packing fails. */
	return ev;
}

int
outcome_set_traceparent(json_t *ev, const char *traceparent)
{
	return json_object_set_new(ev, "traceparent", json_string(traceparent));
}

json_t *
outcome_account_data(const char *company_uid, const struct outcome_account *a)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I}", "company_uid", company_uid, "company_name",
			 a->company_name, "email", a->email, "rooms", (json_int_t)a->rooms,
			 "participants", (json_int_t)a->participants);
}

json_t *
outcome_id_data(const char *name, const char *value)
{
	return json_pack("{s:s}", name, value);
}

json_t *
outcome_queried_data(const char *company_uid, const struct outcome_account *tm,
		     const struct outcome_account *ours)
{
	json_t *drift = json_array();

	if (drift == NULL)
		return NULL;
	/* Text compares exactly: TM is expected to keep what we sent byte for byte, so any
	 * difference, even of case, is worth an operator's look. */
	if (strcmp(tm->company_name, ours->company_name) != 0)
		json_array_append_new(drift, json_string("company_name"));
	if (strcmp(tm->email, ours->email) != 0)
		json_array_append_new(drift, json_string("email"));
	if (tm->rooms != ours->rooms)
		json_array_append_new(drift, json_string("rooms"));
	if (tm->participants != ours->participants)
		json_array_append_new(drift, json_string("participants"));
	return json_pack("{s:s, s:{s:s, s:s, s:I, s:I}, s:o}", "company_uid", company_uid, "tm",
			 "company_name", tm->company_name, "email", tm->email, "rooms",
			 (json_int_t)tm->rooms, "participants", (json_int_t)tm->participants,
			 "drift", drift);
}

json_t *
outcome_scheduled_data(const char *meeting_id, const char *user_id, const char *topic,
		       const char *start_time, const char *join_url, bool possible_duplicate)
{
	json_t *d =
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "meeting_id", meeting_id, "user_id", user_id,
		      "topic", topic, "start_time", start_time, "join_url", join_url);

	if (d != NULL && possible_duplicate &&
	    json_object_set_new(d, "possible_duplicate", json_true()) != 0) {
		json_decref(d);
		return NULL;
	}
	return d;
}

json_t *
outcome_failed_data(const struct outcome_failure *f)
{
	const char *type = cmd_type_name(f->command_type);
	json_t *d;

	d = json_pack("{s:s, s:s, s:b, s:I}", "command_type", type ? type : "unknown", "reason",
		      f->reason && *f->reason ? f->reason : "failed", "retryable", f->retryable,
		      "attempts", (json_int_t)f->attempts);
	if (d == NULL)
		return NULL;
	if ((f->tm_status != NULL && *f->tm_status != '\0' &&
	     json_object_set_new(d, "tm_status", json_string(f->tm_status)) != 0) ||
	    (f->outcome_unknown && json_object_set_new(d, "outcome_unknown", json_true()) != 0)) {
		json_decref(d);
		return NULL;
	}
	return d;
}

json_t *
outcome_rejected_data(const char *reason, const struct validate_errors *errs)
{
	json_t *list = json_array();
	char more[64];

	if (list == NULL)
		return NULL;
	if (reason == NULL)
		reason = "invalid";
	for (size_t i = 0; errs != NULL && i < errs->n; i++)
		json_array_append_new(list, json_string(errs->msg[i]));
	if (errs != NULL && errs->more > 0) {
		snprintf(more, sizeof(more), "message: %zu more errors", errs->more);
		json_array_append_new(list, json_string(more));
	}
	if (json_array_size(list) == 0)
		json_array_append_new(list, json_sprintf("message: %s", reason));
	return json_pack("{s:o, s:s}", "errors", list, "reason", reason);
}
