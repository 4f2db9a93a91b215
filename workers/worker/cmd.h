/* cmd: what the handlers of the command types (cmd_account, cmd_user, cmd_meeting; their table
 * is cmd_types) share: the lookup's view, the result being built, failures and the TM call. */
#ifndef TMPROV_WORKER_CMD_H
#define TMPROV_WORKER_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "dbpool.h"
#include "intent.h"
#include "outcome.h"
#include "password.h"
#include "sql.h"
#include "stop.h"
#include "tm_client.h"
#include "tm_loop.h"
#include "tmretry.h"
#include "validate.h"

/* The status of a commands row (migrations/001_init.sql); cmd_status_name gives its text. */
enum cmd_status {
	CMD_STATUS_RECEIVED,
	CMD_STATUS_IN_PROGRESS,
	CMD_STATUS_SUCCEEDED,
	CMD_STATUS_FAILED,
	CMD_STATUS_REJECTED,
	CMD_STATUS_UNKNOWN_OUTCOME,
	CMD_STATUS_COUNT
};

/* NULL when out of range. */
const char *cmd_status_name(enum cmd_status status);
/* The status named name; false when it names none. */
bool cmd_status_parse(const char *name, enum cmd_status *out);
/* Whether a command of this status has its outcome. unknown_outcome is final too: the parked
 * command got its command.failed, and an operator re-sends it under a new id. */
bool cmd_status_final(enum cmd_status status);

/* How a handler, or a step of one, ended. */
enum cmd_verdict {
	CMD_GO_ON,	/* cmd_call only: TM answered TM_OK; the handler uses the answer */
	CMD_DONE,	/* the result in r is ready to be written */
	CMD_LOOK_AGAIN, /* the command got its result elsewhere, or another call for it is open */
	CMD_STOPPED,	/* *stop was set while waiting */
};

/* What SQL_LOOKUP found about the command, its subject's account and the user, email and
 * meeting it names. */
struct cmd_state {
	bool cmd_exists;
	enum cmd_status cmd_status; /* when cmd_exists */
	char cmd_sha256_hex[65];
	bool intent_open;	 /* an intent without result: a call whose outcome is unknown */
	unsigned intent_attempt; /* ... and its attempt */
	unsigned intent_max;	 /* the highest attempt recorded (0: none) */
	bool acc_exists;
	bool acc_active;
	char company_uid[TM_COMPANY_UID_MAX + 1];
	/* The account's, at their length (not a 1 KiB buffer each in the frame of every command
	 * in flight): owned; NULL when there is no account or no lookup filled the state (read
	 * through cmd_state_text, which gives ""). */
	char *company_name;
	char *email;
	long rooms;
	long participants;
	bool user_exists;
	bool user_active;
	bool email_taken; /* another active user has the command's email */
	bool meeting_exists;
	bool meeting_ours;   /* the meeting belongs to the command's subject */
	bool subject_queued; /* the subject has held or waiting commands (guard.h) */
};

/* Frees st's strings (NULL again); st must be zeroed or filled by a lookup. */
void cmd_state_clear(struct cmd_state *st);
/* One of st's strings, "" for NULL. */
const char *cmd_state_text(const char *s);

struct cmd_env;
struct cmd_result;

/* A local command type's logic, for a subject that has an account when its type needs one:
 * CMD_DONE, CMD_LOOK_AGAIN or CMD_STOPPED. */
typedef enum cmd_verdict (*cmd_handler)(const struct cmd_env *env, const struct cmd_state *st,
					struct cmd_result *r);

/* What passes between the two halves of a TM-calling type: the call its prepare asks for (the
 * request's strings are the command's, the lookup's, or kept in r) and cmd_call's answer. */
struct cmd_tm {
	struct tm_request req;		/* endpoint set from the type's row */
	struct outcome_account account; /* create and update: the account sent */
	struct tmretry_result tr;	/* cmd_call's; tr.made 0 until a call is made */
};

/* A TM-calling type's first half: CMD_GO_ON with c->req filled for the call, or CMD_DONE when
 * r holds a result that needs no call. */
typedef enum cmd_verdict cmd_prepare(const struct cmd_env *env, const struct cmd_state *st,
				     struct cmd_result *r, struct cmd_tm *c);
/* Its second half, after cmd_call answered called: CMD_GO_ON (tmretry_last(&c->tr) is TM's
 * TM_OK answer) or CMD_DONE (r holds the call's failure, which the type may still read
 * otherwise). Returns CMD_DONE with r's result. */
typedef enum cmd_verdict cmd_answer(const struct cmd_env *env, const struct cmd_state *st,
				    struct cmd_result *r, struct cmd_tm *c,
				    enum cmd_verdict called);

/* What SQL_LOOKUP fetches besides the command and its subject's account, named by data's
 * fields. */
enum cmd_lookup {
	CMD_LOOKUP_USER = 1 << 0,    /* data.user_id: the user */
	CMD_LOOKUP_EMAIL = 1 << 1,   /* data.email: whether another active user has it */
	CMD_LOOKUP_MEETING = 1 << 2, /* data.meeting_id: the meeting */
};

/* One command type as the worker knows it: a row of cmd_types.c's table. */
struct cmd_spec {
	cmd_handler run;      /* a local type's logic; NULL for a TM-calling one */
	cmd_prepare *prepare; /* a TM-calling type's halves (calls_tm); NULL for a local one */
	cmd_answer *answer;
	bool needs_account; /* run only for a subject with an active account */
	bool calls_tm;	    /* prepare and answer around a TM call at endpoint */
	enum tm_endpoint endpoint;
	unsigned lookup;	   /* enum cmd_lookup flags */
	enum sql_stmt finish;	   /* the SQL_FINISH* variant of a success */
	enum outcome_type outcome; /* the event of a success */
};

/* Everything a command's logic may use, set up by exec for one run. */
struct cmd_env {
	const struct cmd_spec *spec; /* the command type's row; NULL for none of the eight */
	const struct tmretry *retry;
	struct tm_loop *tm; /* the process's TM calls (tm_loop.h) */
	struct intent_writer *intents;
	struct dbpool *pool;
	const struct password_opts *password;
	struct fsem *hash_slots; /* TMPROV_HASH_CONCURRENCY argon2id hashes at once */
	/* TMPROV_WORKER_CONCURRENCY commands between their first intent and their result
	 * (NULL: no limit): cmd_call takes a place, cmd_result_clear gives it back. */
	struct fsem *intent_slots;
	const char *public_url;
	const char *join_template;
	const struct command *cmd;
	const char *sha256_hex;
	const char *topic;
	int32_t partition;
	int64_t offset;
	const atomic_bool *stop;
};

/* The kept copies' largest use is a meeting's id and join URL (cmd_meeting.c asserts that they
 * fit); more than CMD_STORE_MAX bytes of them make a result unwritable. */
enum { CMD_PARAMS_MAX = 8, CMD_STORE_MAX = 4096 };

/* One copy cmd_keep made, on the heap: a result in every parked command's frame holds only
 * what its copies use, not a CMD_STORE_MAX buffer. */
struct cmd_kept {
	struct cmd_kept *next;
	char text[];
};

/* A command's result, written by exec with one SQL_FINISH* statement. */
struct cmd_result {
	enum sql_stmt stmt;
	enum cmd_status status; /* succeeded, failed, unknown_outcome, rejected */
	enum outcome_type event;
	json_t *data;			    /* the event's data: owned */
	const char *params[CMD_PARAMS_MAX]; /* the variant's own parameters ($16 ...) */
	int nparams;
	unsigned attempts; /* TM calls made for the command */
	char last_error[512];
	int retryable;		/* -1: NULL */
	json_t *calls;		/* tm_calls rows: owned, never NULL after cmd_result_init */
	const char *dlq_reason; /* non-NULL: a DLQ copy goes out before the result is written */
	char dlq_error[256];
	bool tm_may_have_acted;	  /* a later storage failure must then not invite a re-send */
	bool possible_duplicate;  /* a non-idempotent call was repeated after an unknown outcome */
	struct fsem *intent_slot; /* the place in env->intent_slots held, if any */
	struct cmd_kept *kept;	  /* copies of parameter text (cmd_keep): owned */
	size_t used;		  /* their bytes */
	bool overflow; /* copies over CMD_STORE_MAX or out of memory, or too many parameters:
			* not writable */
};

void cmd_result_init(struct cmd_result *r);
void cmd_result_clear(struct cmd_result *r);

/* Copies src into dst[size], cut if need be at a UTF-8 character boundary (the text may go
 * into a JSON event, which must stay valid UTF-8). */
void cmd_text(char *dst, size_t size, const char *src);

/* A copy of s kept in r; NULL (and r->overflow set) when r's copies would pass CMD_STORE_MAX
 * bytes or memory ran out. */
const char *cmd_keep(struct cmd_result *r, const char *s);
const char *cmd_keep_long(struct cmd_result *r, long v);
/* Appends one variant parameter (NULL: SQL NULL); sets r->overflow when there are too many. */
void cmd_param(struct cmd_result *r, const char *s);
/* command.failed with no domain change; with outcome_unknown (and reason saying so) when
 * r->possible_duplicate. */
void cmd_fail(struct cmd_result *r, const struct command *cmd, const char *reason, bool retryable,
	      const char *tm_status);
/* A success of the command type spec: its SQL_FINISH* variant and event; takes data. */
void cmd_succeed(struct cmd_result *r, const struct cmd_spec *spec, json_t *data);
/* The TM call of the command, with intents (create_account, remote_schedule), retries and
 * the unknown-outcome policies: CMD_GO_ON with *tr holding TM's answer (TM_OK), CMD_DONE when
 * r holds the final failure, CMD_LOOK_AGAIN or CMD_STOPPED. First it takes r's place among
 * env->intent_slots, kept until r is cleared (after its result is written): an intent stays
 * open from before its call until its result commits, so the commands holding a place, not
 * only the calls on the wire, are what a crash can leave in doubt (DESIGN.md §3). */
enum cmd_verdict cmd_call(const struct cmd_env *env, const struct cmd_state *st,
			  const struct tm_request *req, struct cmd_result *r,
			  struct tmretry_result *tr);

/* String and integer fields of the command's data (NULL / -1 when absent). */
const char *cmd_str(const struct command *cmd, const char *name);
long cmd_long(const struct command *cmd, const char *name);

#endif
