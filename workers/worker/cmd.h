/* cmd: the per-type logic of the eight command types (DESIGN.md §2), split by family into
 * cmd_account.c, cmd_user.c and cmd_meeting.c; cmd.c holds what they share: the result being
 * built, failures, the account check and the TM call with intents and retries. */
#ifndef TMPROV_WORKER_CMD_H
#define TMPROV_WORKER_CMD_H

#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "dbpool.h"
#include "intent.h"
#include "password.h"
#include "sql.h"
#include "stop.h"
#include "tm_client.h"
#include "tmretry.h"
#include "validate.h"

/* What SQL_LOOKUP found about the command, its subject's account and the user, email and
 * meeting it names. */
struct cmd_state {
	bool cmd_exists;
	char cmd_status[24];
	char cmd_sha256_hex[65];
	bool intent_open;	 /* an intent without result: a call whose outcome is unknown */
	unsigned intent_attempt; /* ... and its attempt */
	unsigned intent_max;	 /* the highest attempt recorded (0: none) */
	bool acc_exists;
	bool acc_active;
	char company_uid[TM_COMPANY_UID_MAX + 1];
	char company_name[1024];
	char email[1024];
	long rooms;
	long participants;
	bool user_exists;
	bool user_active;
	bool email_taken; /* another active user has the command's email */
	bool meeting_exists;
	bool meeting_ours; /* the meeting belongs to the command's subject */
};

/* Everything a command's logic may use, set up by exec for one run. */
struct cmd_env {
	const struct tmretry *retry;
	struct tm_client *tm;
	struct intent_writer *intents;
	struct dbpool *pool;
	const struct password_opts *password;
	sem_t *hash_slots; /* TMPROV_HASH_CONCURRENCY argon2id hashes at once */
	const char *public_url;
	const char *join_template;
	const struct command *cmd;
	const char *sha256_hex;
	const char *topic;
	int32_t partition;
	int64_t offset;
	const atomic_bool *stop;
};

enum { CMD_PARAMS_MAX = 8, CMD_STORE_MAX = 8192 };

/* A command's result, written by exec with one SQL_FINISH* statement. */
struct cmd_result {
	enum sql_stmt stmt;
	const char *status;	/* succeeded, failed, unknown_outcome, rejected */
	const char *event_type; /* account.created, ..., command.failed, command.rejected */
	json_t *data;		/* the event's data: owned */
	const char *params[CMD_PARAMS_MAX]; /* the variant's own parameters ($16 ...) */
	int nparams;
	unsigned attempts; /* TM calls made for the command */
	char last_error[512];
	int retryable;		/* -1: NULL */
	json_t *calls;		/* tm_calls rows: owned, never NULL after cmd_result_init */
	const char *dlq_reason; /* non-NULL: a DLQ copy goes out before the result is written */
	char dlq_error[256];
	bool tm_may_have_acted;	   /* a later storage failure must then not invite a re-send */
	bool possible_duplicate;   /* a non-idempotent call was repeated after an unknown outcome */
	char store[CMD_STORE_MAX]; /* copies of parameter text */
	size_t used;
	bool overflow; /* a copy did not fit in store, or too many parameters: not writable */
};

void cmd_result_init(struct cmd_result *r);
void cmd_result_clear(struct cmd_result *r);

/* Runs the command's logic to a result in r. Returns 0 (r is ready), 1 when the command must
 * be looked up again (it got its result elsewhere, or another call for it is open), -1 when
 * *stop was set while waiting. */
int cmd_run(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r);

/* Shared by the per-type files. */

/* Copies src into dst[size], cut if need be at a UTF-8 character boundary (the text may go
 * into a JSON event, which must stay valid UTF-8). */
void cmd_text(char *dst, size_t size, const char *src);

/* A copy of s kept in r; NULL (and r->overflow set) when r's store is full. */
const char *cmd_keep(struct cmd_result *r, const char *s);
const char *cmd_keep_long(struct cmd_result *r, long v);
/* Appends one variant parameter (NULL: SQL NULL); sets r->overflow when there are too many. */
void cmd_param(struct cmd_result *r, const char *s);
/* command.failed with no domain change. */
void cmd_fail(struct cmd_result *r, const struct command *cmd, const char *reason, bool retryable,
	      const char *tm_status);
/* A success of the given variant and event; takes data. */
void cmd_succeed(struct cmd_result *r, enum sql_stmt stmt, const char *event_type, json_t *data);
/* Every type but account.create needs an active account: 0 when there is one, else 1 with r
 * set to command.failed. */
int cmd_need_account(const struct cmd_state *st, const struct command *cmd, struct cmd_result *r);
/* The TM call of the command, with intents (create_account, remote_schedule), retries and
 * the unknown-outcome policies. Returns 0 with *tr holding TM's answer (TM_OK); 1 when r holds
 * the final failure; 2 to look the command up again; -1 when stopped. */
int cmd_call(const struct cmd_env *env, const struct cmd_state *st, const struct tm_request *req,
	     struct cmd_result *r, struct tmretry_result *tr);

/* cmd_run's return for a cmd_call that did not return 0. */
static inline int
cmd_call_done(int call_rc)
{
	return call_rc == 1 ? 0 : call_rc == 2 ? 1 : -1;
}

/* String and integer fields of the command's data (NULL / -1 when absent). */
const char *cmd_str(const struct command *cmd, const char *name);
long cmd_long(const struct command *cmd, const char *name);

/* TMPROV_JOIN_URL_TEMPLATE with {PUBLIC_URL} (without a trailing slash) and {meeting_id}
 * (percent-encoded) substituted. Returns 0, or -1 when the result would not fit in outlen. */
int cmd_join_url(const char *template, const char *public_url, const char *meeting_id, char *out,
		 size_t outlen);

int cmd_account_run(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r);
int cmd_user_run(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r);
int cmd_meeting_run(const struct cmd_env *env, const struct cmd_state *st, struct cmd_result *r);

#endif
