/* clisql: the operator CLI's one table of SQL statements (enum id -> text), prepared on connect
 * by common/db; values only ever travel as parameters. Every statement only reads, except
 * those of `tmprov approve` and `tmprov reject` (CLISQL_HELD_*). */
#ifndef TMPROV_CLISQL_H
#define TMPROV_CLISQL_H

#include "db.h"

enum clisql_stmt {
	/* $1 JSON array of command ids -> command_id, outcome event (JSON). */
	CLISQL_OUTCOMES,
	/* $1 id -> one commands row (CLISQL_CMD_* columns). */
	CLISQL_COMMAND,
	/* $1 id -> endpoint, outcome, http_status, tm_status, reason, duration_ms, started_at. */
	CLISQL_CALLS,
	/* $1 id -> endpoint, attempt, created_at of an intent not resolved: a call in doubt. */
	CLISQL_INTENTS,
	/* $1 id -> event_id, type, payload, created_at, published_at ("" when not yet). */
	CLISQL_OUTBOX,
	/* $1 id prefix -> id, status of the commands whose id starts with it. */
	CLISQL_PREFIXED,
	/* $1 subject -> subject, company_uid, company_name, email, rooms, participants, status,
	 * created_at, updated_at, deleted_at. */
	CLISQL_ACCOUNT,
	/* $1 subject -> user_id, email, first_name, last_name, status, created_at. */
	CLISQL_USERS,
	/* $1 subject, $2 limit -> meeting_id, user_id, topic, start_time, join_url,
	 * possible_duplicate, canceled_at, command_id; latest start first. */
	CLISQL_MEETINGS,
	/* $1 subject, $2 limit -> id, type, status, attempts, last_error, updated_at; newest
	 * first. */
	CLISQL_SUBJECT_COMMANDS,
	/* $1 subject -> status, count. */
	CLISQL_SUBJECT_COUNTS,
	/* $1 JSON array of ids or NULL, $2 subject or NULL, $3 since / $4 until (ms since the
	 * epoch, on updated_at) or NULL, $5 limit -> id, subject, type, status, last_error,
	 * updated_at, body (NULL when not kept): the failed-retryable and unknown-outcome
	 * commands, oldest first. */
	CLISQL_REPLAYABLE,
	/* Reconcile and resolve: these write (reconcile its checks, resolve one transaction). */
	/* $1 subject or NULL -> subject, company_uid, company_name, email, rooms, participants,
	 * version (updated_at in microseconds, text) of the active accounts, by subject. */
	CLISQL_ACTIVE_ACCOUNTS,
	/* $1 subject, $2 result, $3 drift (JSON array), $4 TM's values (JSON or NULL), $5 detail
	 * (or NULL): the account's last check, as of now. */
	CLISQL_CHECK_STORE,
	/* $1 id -> status, coalesce(type, ''), coalesce(subject, ''), body (NULL when not kept),
	 * coalesce(resolution, ''), coalesce(resolved_as, ''). */
	CLISQL_PARKED,
	/* $1 id, $2 resolution, $3 resolved_as -> id when $1 was a parked create not resolved
	 * yet and now is; its open intents (if any) are closed with it. */
	CLISQL_RESOLVE_MARK,
	/* $1 id, $2 subject, $3 sha256 of the body (hex), $4 status: the resolution's own
	 * account.create row (succeeded: adopted; received: sent again, for the worker). */
	CLISQL_RESOLVE_COMMAND,
	/* $1 subject, $2 company_uid, $3 company_name, $4 email, $5 rooms, $6 participants. */
	CLISQL_RESOLVE_ACCOUNT,
	/* $1 event id, $2 command id, $3 type, $4 subject, $5 payload: the outcome in the
	 * outbox, and the NOTIFY (at commit) that wakes the workers' publisher. */
	CLISQL_RESOLVE_OUTBOX,
	/* $1 id -> status. */
	CLISQL_STATUS_OF,
	/* The queued commands (held, and those waiting behind them: migrations/006), by subject
	 * and place -> id, subject, type, status, approved, since (updated_at), partition, offset.
	 */
	CLISQL_HELD_LIST,
	/* $1 id -> id, subject, body, status, approved: what approve and reject check first. */
	CLISQL_HELD_STATE,
	/* $1 id or NULL (all): held -> waiting, approved; -> id, subject, body, by place. */
	CLISQL_HELD_APPROVE,
	/* $1 id or NULL (all): held -> failed rejected_by_operator (not retryable) with its
	 * command.failed in the outbox; -> id, subject, body (kept before), by place. */
	CLISQL_HELD_REJECT,
	/* $1 seconds after which a row is stale -> worker, grp, breaker, next_probe_at (UTC, ""
	 * for none), failures (JSON), concurrency_limit, in_flight, rate_per_s, seconds since the
	 * update, stale ("t"/"f"); the freshest first, by group. */
	CLISQL_TM_WORKERS,
	CLISQL_COUNT
};

enum clisql_cmd_col {
	CLISQL_CMD_ID,
	CLISQL_CMD_SUBJECT,
	CLISQL_CMD_TYPE,
	CLISQL_CMD_STATUS,
	CLISQL_CMD_ATTEMPTS,
	CLISQL_CMD_LAST_ERROR,
	CLISQL_CMD_RETRYABLE,
	CLISQL_CMD_KAFKA_TOPIC,
	CLISQL_CMD_KAFKA_PARTITION,
	CLISQL_CMD_KAFKA_OFFSET,
	CLISQL_CMD_CREATED,
	CLISQL_CMD_UPDATED,
	CLISQL_CMD_HAS_BODY,
};

extern const struct db_stmt CLISQL_STATEMENTS[CLISQL_COUNT];

#endif
