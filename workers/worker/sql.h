/* sql: the worker's one table of SQL statements (enum id -> text), prepared on every connection
 * by common/db; values only ever travel as parameters. */
#ifndef TMPROV_WORKER_SQL_H
#define TMPROV_WORKER_SQL_H

#include <stddef.h>

#include "db.h"

enum sql_stmt {
	/* Everything a command needs to know before acting, in one round trip. */
	SQL_LOOKUP,
	/* The same for several commands at once, in one statement (lookup.c). */
	SQL_LOOKUP_BATCH,
	/* Intent batch, inside one transaction: commands rows in_progress and earlier intents
	 * resolved, then the new intents. */
	SQL_INTENT_COMMANDS,
	SQL_INTENT_INSERT,
	/* Resolves the open intent of commands whose last attempt is known not to have acted. */
	SQL_INTENT_RESOLVE,
	/* The result of a command, each one statement (its own transaction): commands row,
	 * tm_calls, intents resolved, outbox row, and the domain change of the FINISH_ variant. */
	SQL_FINISH,
	SQL_FINISH_ACCOUNT_CREATE,
	SQL_FINISH_ACCOUNT_UPDATE,
	SQL_FINISH_ACCOUNT_DELETE,
	SQL_FINISH_USER_UPSERT,
	SQL_FINISH_USER_DELETE,
	SQL_FINISH_MEETING_SCHEDULE,
	SQL_FINISH_MEETING_CANCEL,
	/* The audit rows of TM attempts whose result was not written. */
	SQL_CALLS_KEEP,
	/* The mass-delete guard (guard.h): a subject's queue head, starting a queued command,
	 * taking one of the guard's deletions, holding a delete (with command.held), keeping a
	 * command as waiting behind its subject's queue. */
	SQL_GUARD_HEAD,
	SQL_GUARD_CLAIM,
	SQL_GUARD_TAKE,
	SQL_GUARD_HOLD,
	SQL_GUARD_WAIT,
	/* The outbox publisher's (publisher.c), on its own session: the advisory lock that makes
	 * one publisher the streaming one, the rows to produce, marking them published, the
	 * backlog gauge, the NOTIFY that wakes the lock holder, and a drain's target and check. */
	SQL_PUB_LOCK,
	SQL_PUB_SELECT,
	SQL_PUB_MARK,
	SQL_PUB_BACKLOG,
	SQL_PUB_NOTIFY,
	SQL_PUB_MAXSEQ,
	SQL_PUB_PENDING,
	/* The TM side (tmprobe.c, tmstate.c): an active account for the probe to query, and this
	 * worker's row of tm_worker_state (written, dropped at shutdown). */
	SQL_PROBE_ACCOUNT,
	SQL_STATE_PUT,
	SQL_STATE_DROP,
	SQL_COUNT
};

/* The channel every worker's publisher LISTENs on, which SQL_PUB_NOTIFY notifies. */
#define SQL_OUTBOX_CHANNEL "tmprov_outbox"

/* Parameters shared by every SQL_FINISH* statement, in this order; a variant's own parameters
 * follow from SQL_FINISH_NPARAMS + 1. */
enum sql_finish_param {
	SQLF_ID,
	SQLF_SUBJECT,
	SQLF_TYPE,
	SQLF_SHA256_HEX,
	SQLF_STATUS,
	SQLF_ATTEMPTS,
	SQLF_LAST_ERROR,
	SQLF_RETRYABLE,
	SQLF_TOPIC,
	SQLF_PARTITION,
	SQLF_OFFSET,
	SQLF_CALLS, /* JSON array of tm_calls rows */
	SQLF_EVENT_ID,
	SQLF_EVENT_TYPE,
	SQLF_PAYLOAD, /* the whole CloudEvent, JSON */
	SQLF_BODY,    /* the command message as received, kept when replayable */
	SQL_FINISH_NPARAMS
};

/* Columns of SQL_LOOKUP. */
enum sql_lookup_col {
	SQLL_CMD_STATUS,
	SQLL_CMD_SHA256_HEX,
	SQLL_CMD_ATTEMPTS,
	SQLL_INTENT_ENDPOINT, /* the unresolved intent, if any */
	SQLL_INTENT_ATTEMPT,
	SQLL_INTENT_MAX, /* highest attempt recorded for the command, NULL for none */
	SQLL_ACC_COMPANY_UID,
	SQLL_ACC_COMPANY_NAME,
	SQLL_ACC_EMAIL,
	SQLL_ACC_ROOMS,
	SQLL_ACC_PARTICIPANTS,
	SQLL_ACC_STATUS,
	SQLL_USER_STATUS,
	SQLL_EMAIL_TAKEN, /* "t" when another active user has the email */
	SQLL_MEETING_SUBJECT,
	SQLL_MEETING_CANCELED,
	SQLL_SUBJECT_QUEUED, /* "t" when the subject has held or waiting commands (guard.h) */
	SQLL_COUNT	     /* SQL_LOOKUP_BATCH: then the command's k */
};

/* Columns of SQL_GUARD_HEAD: the subject's queue head (all NULL when it has none) and whether
 * the command at hand has a row. */
enum sql_guard_head_col {
	SQLG_ID,
	SQLG_STATUS,
	SQLG_APPROVED,
	SQLG_BODY,
	SQLG_SHA256_HEX,
	SQLG_TOPIC,
	SQLG_PARTITION,
	SQLG_OFFSET,
	SQLG_OWN_RECORDED,
};

/* Parameters of SQL_GUARD_HOLD and (the first SQLH_EVENT_ID) SQL_GUARD_WAIT. */
enum sql_guard_hold_param {
	SQLH_ID,
	SQLH_SUBJECT,
	SQLH_TYPE,
	SQLH_SHA256_HEX,
	SQLH_TOPIC,
	SQLH_PARTITION,
	SQLH_OFFSET,
	SQLH_BODY,
	SQLH_EVENT_ID,
	SQLH_PAYLOAD,
	SQLH_COUNT
};

extern const struct db_stmt SQL_STATEMENTS[SQL_COUNT];

#endif
