/* guard: the mass-delete guard's pieces that need no database: its settings, what a command
 * does when its subject has a queue of held or waiting commands, the command.held event, and
 * the message a queued command keeps (migrations/006_delete_guard.sql; exec.c runs them). */
#ifndef TMPROV_WORKER_GUARD_H
#define TMPROV_WORKER_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "fwait.h"
#include "password.h"
#include "stop.h"
#include "validate.h"

/* TMPROV_DELETE_GUARD deletions at most within TMPROV_DELETE_GUARD_WINDOW; max 0: off. */
struct guard_opts {
	long max;
	long window_ms;
};

void guard_opts_from_cfg(struct guard_opts *o, const struct cfg *c);

/* Whether a command of kind must take one of the guard's deletions before it runs: an
 * account.delete of an active account (the one that calls TM), with the guard on. */
bool guard_applies(const struct guard_opts *o, enum cmd_type kind, bool account_active);

/* The head of a subject's queue, as SQL_GUARD_HEAD reads it, and the command at hand. */
struct guard_view {
	bool head;	   /* the subject has a queue */
	bool head_held;	   /* ... whose head is held (not approved) */
	bool head_is_own;  /* ... whose head is the command at hand */
	bool own_recorded; /* the command at hand has a commands row */
};

enum guard_action {
	GUARD_GO,	/* no queue: the command runs as usual */
	GUARD_RUN_HEAD, /* run the queue's head first (another command), then look again */
	GUARD_RUN_OWN,	/* the command at hand is the runnable head: run it as the head */
	GUARD_ENQUEUE,	/* blocked by a held head: keep the command as waiting behind it */
	GUARD_NOTHING,	/* blocked, and already in the queue (or finished): nothing to do */
};

enum guard_action guard_decide(const struct guard_view *v);

/* "evt-" + 32 hex digits + NUL, as outcome.h's ids (OUTCOME_EVENT_ID_LEN). */
#define GUARD_EVENT_ID_LEN 37

/* The id of command_id's command.held event: "evt-" + the first 32 hex digits of
 * sha256("held:" + command id); never equal to its outcome's id ("outcome:" + id). */
void guard_held_event_id(const char *command_id, char out[GUARD_EVENT_ID_LEN]);

/* The data of command.held: command_type, reason "delete_guard", deletions (counted in the
 * window when it was held), limit, window_seconds. NULL when out of memory. */
json_t *guard_held_data(const struct guard_opts *o, const char *command_type, long deletions);

/* The message a queued cmd keeps until it runs (*out, malloc'd): the message itself, except
 * for a user.upsert with a plain password, whose password is replaced by password_digest, its
 * argon2id verifier (taking a slot of hash_slots while hashing), so that no plain password is
 * ever stored. 0; 1 when stopped while waiting for a slot; -1 with err. */
int guard_queue_body(const struct command *cmd, const char *payload, size_t len,
		     const struct password_opts *po, struct fsem *hash_slots,
		     const atomic_bool *stop, char **out, char *err, size_t errlen);

#endif
