/* clisql: the operator CLI's SQL. Times are cast to milliseconds and rendered by the server
 * (clicfg_db sets the session to UTC), so every subcommand prints them alike:
 * "2026-11-28 10:00:00.123+00". */
#include "clisql.h"

const struct db_stmt CLISQL_STATEMENTS[CLISQL_COUNT] = {
    [CLISQL_OUTCOMES] = {"cli_outcomes",
			 "SELECT o.command_id, o.payload::text FROM outbox o"
			 " WHERE o.command_id IN (SELECT jsonb_array_elements_text($1::jsonb))"
			 /* An interim notice, not an outcome (migrations/006). */
			 " AND o.type <> 'command.held'"},

    [CLISQL_COMMAND] = {"cli_command",
			"SELECT id, coalesce(subject, ''), coalesce(type, ''), status, attempts,"
			" coalesce(last_error, ''), coalesce(retryable::text, ''),"
			" coalesce(kafka_topic, ''), coalesce(kafka_partition::text, ''),"
			" coalesce(kafka_offset::text, ''), created_at::timestamptz(3)::text,"
			" updated_at::timestamptz(3)::text, (body IS NOT NULL)::text"
			" FROM commands WHERE id = $1::text"},

    [CLISQL_CALLS] = {"cli_calls",
		      "SELECT endpoint, outcome, coalesce(http_status::text, ''),"
		      " coalesce(tm_status, ''), coalesce(reason, ''), duration_ms,"
		      " started_at::timestamptz(3)::text"
		      " FROM tm_calls WHERE command_id = $1::text ORDER BY started_at, id"},

    [CLISQL_INTENTS] = {"cli_intents",
			"SELECT endpoint, attempt, created_at::timestamptz(3)::text"
			" FROM tm_intents WHERE command_id = $1::text AND resolved_at IS NULL"},

    [CLISQL_OUTBOX] = {"cli_outbox",
		       "SELECT event_id, type, payload::text, created_at::timestamptz(3)::text,"
		       " coalesce(published_at::timestamptz(3)::text, '')"
		       " FROM outbox WHERE command_id = $1::text AND type <> 'command.held'"},

    [CLISQL_PREFIXED] = {"cli_prefixed",
			 "SELECT id, status FROM commands"
			 " WHERE starts_with(id, $1::text) ORDER BY created_at, id"},

    [CLISQL_ACCOUNT] = {"cli_account",
			"SELECT subject, company_uid, company_name, email, rooms, participants,"
			" status, created_at::timestamptz(3)::text,"
			" updated_at::timestamptz(3)::text,"
			" coalesce(deleted_at::timestamptz(3)::text, '')"
			" FROM accounts WHERE subject = $1::text"},

    [CLISQL_USERS] = {"cli_users", "SELECT user_id, email, first_name, last_name, status,"
				   " created_at::timestamptz(3)::text"
				   " FROM users WHERE subject = $1::text ORDER BY user_id"},

    [CLISQL_MEETINGS] = {"cli_meetings",
			 "SELECT meeting_id, user_id, topic, start_time::timestamptz(0)::text,"
			 " join_url, possible_duplicate::text,"
			 " coalesce(canceled_at::timestamptz(3)::text, ''),"
			 " coalesce(command_id, '') FROM meetings WHERE subject = $1::text"
			 " ORDER BY start_time DESC, meeting_id LIMIT $2::int"},

    [CLISQL_SUBJECT_COMMANDS] = {"cli_subject_commands",
				 "SELECT id, coalesce(type, ''), status, attempts,"
				 " coalesce(last_error, ''), updated_at::timestamptz(3)::text"
				 " FROM commands WHERE subject = $1::text"
				 " ORDER BY created_at DESC, id DESC LIMIT $2::int"},

    [CLISQL_SUBJECT_COUNTS] = {"cli_subject_counts",
			       "SELECT status, count(*) FROM commands WHERE subject = $1::text"
			       " GROUP BY status ORDER BY status"},

    [CLISQL_REPLAYABLE] =
	{"cli_replayable",
	 "SELECT id, subject, type, status, coalesce(last_error, ''),"
	 " updated_at::timestamptz(3)::text, body FROM commands"
	 " WHERE (status = 'unknown_outcome' OR (status = 'failed' AND retryable))"
	 " AND ($1::jsonb IS NULL OR id IN (SELECT jsonb_array_elements_text($1::jsonb)))"
	 " AND ($2::text IS NULL OR subject = $2::text)"
	 " AND ($3::bigint IS NULL OR updated_at >= to_timestamp($3::bigint / 1000.0))"
	 " AND ($4::bigint IS NULL OR updated_at < to_timestamp($4::bigint / 1000.0))"
	 " ORDER BY updated_at, id LIMIT $5::int"},

    [CLISQL_ACTIVE_ACCOUNTS] = {"cli_active_accounts",
				"SELECT subject, company_uid, company_name, email, rooms,"
				" participants,"
				" (extract(epoch FROM updated_at) * 1000000)::bigint::text"
				" FROM accounts WHERE status = 'active'"
				" AND ($1::text IS NULL OR subject = $1::text) ORDER BY subject"},

    [CLISQL_CHECK_STORE] = {"cli_check_store",
			    "INSERT INTO account_checks (subject, checked_at, result, drift, tm,"
			    " detail) VALUES ($1::text, clock_timestamp(), $2::text, $3::jsonb,"
			    " $4::jsonb, $5::text) ON CONFLICT (subject) DO UPDATE SET"
			    " checked_at = EXCLUDED.checked_at, result = EXCLUDED.result,"
			    " drift = EXCLUDED.drift, tm = EXCLUDED.tm, detail = EXCLUDED.detail"},

    [CLISQL_PARKED] = {"cli_parked", "SELECT status, coalesce(type, ''), coalesce(subject, ''),"
				     " body, coalesce(resolution, ''), coalesce(resolved_as, '')"
				     " FROM commands WHERE id = $1::text"},

    [CLISQL_RESOLVE_MARK] = {"cli_resolve_mark",
			     "WITH m AS (UPDATE commands SET resolution = $2::text,"
			     " resolved_as = $3::text, resolved_at = now() WHERE id = $1::text"
			     " AND status = 'unknown_outcome' AND type = 'account.create'"
			     " AND resolution IS NULL RETURNING id),"
			     " i AS (UPDATE tm_intents t SET resolved_at = now() FROM m"
			     " WHERE t.command_id = m.id AND t.resolved_at IS NULL)"
			     " SELECT id FROM m"},

    [CLISQL_RESOLVE_COMMAND] = {"cli_resolve_command",
				"INSERT INTO commands (id, subject, type, body_sha256, status)"
				" VALUES ($1::text, $2::text, 'account.create',"
				" decode($3::text, 'hex'), $4::text)"},

    [CLISQL_RESOLVE_ACCOUNT] = {"cli_resolve_account",
				"INSERT INTO accounts (subject, company_uid, company_name, email,"
				" rooms, participants) VALUES ($1::text, $2::text, $3::text,"
				" $4::text, $5::int, $6::int)"},

    [CLISQL_RESOLVE_OUTBOX] = {"cli_resolve_outbox",
			       "WITH o AS (INSERT INTO outbox (event_id, command_id, type, subject,"
			       " payload) VALUES ($1::text, $2::text, $3::text, $4::text,"
			       " $5::jsonb) RETURNING seq)"
			       " SELECT pg_notify('tmprov_outbox', '') FROM o"},

    [CLISQL_STATUS_OF] = {"cli_status_of", "SELECT status FROM commands WHERE id = $1::text"},

    [CLISQL_HELD_LIST] = {"cli_held_list",
			  "SELECT id, subject, type, status, (approved_at IS NOT NULL)::text,"
			  " updated_at::timestamptz(3)::text, coalesce(kafka_partition::text, ''),"
			  " coalesce(kafka_offset::text, '') FROM commands q"
			  " WHERE q.queue_seq IS NOT NULL"
			  "  AND q.status IN ('held', 'waiting', 'received', 'in_progress')"
			  " ORDER BY q.subject, q.queue_seq"},

    [CLISQL_HELD_STATE] = {"cli_held_state",
			   "SELECT id, coalesce(subject, ''), body, status,"
			   " (approved_at IS NOT NULL)::text FROM commands WHERE id = $1::text"},

    [CLISQL_HELD_APPROVE] =
	{"cli_held_approve",
	 "WITH a AS (UPDATE commands SET status = 'waiting', approved_at = now()"
	 " WHERE status = 'held' AND ($1::text IS NULL OR id = $1::text)"
	 " RETURNING id, subject, body, queue_seq)"
	 " SELECT id, subject, body FROM a ORDER BY queue_seq"},

    /* The outcome as the worker writes it (workers/worker/outcome.c): the same event id,
     * "evt-" + 32 hex digits of sha256("outcome:" + id), and envelope. The NOTIFY wakes the
     * workers' outbox publisher (workers/worker/sql.h, SQL_OUTBOX_CHANNEL). */
    [CLISQL_HELD_REJECT] =
	{"cli_held_reject",
	 "WITH h AS (SELECT id, subject, type, body, queue_seq,"
	 "  'evt-' || left(encode(sha256(convert_to('outcome:' || id, 'UTF8')), 'hex'), 32) AS ev"
	 "  FROM commands WHERE status = 'held' AND ($1::text IS NULL OR id = $1::text)"
	 "  FOR UPDATE),"
	 "u AS (UPDATE commands c SET status = 'failed', last_error = 'rejected_by_operator',"
	 "  retryable = false, body = NULL FROM h WHERE c.id = h.id),"
	 "o AS (INSERT INTO outbox (event_id, command_id, type, subject, payload)"
	 "  SELECT h.ev, h.id, 'command.failed', h.subject, jsonb_build_object("
	 "   'specversion', '1.0', 'id', h.ev, 'source', 'tmprov', 'type', 'command.failed',"
	 "   'subject', h.subject, 'time', to_char(clock_timestamp() AT TIME ZONE 'UTC',"
	 "   'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'datacontenttype', 'application/json',"
	 "   'commandid', h.id, 'data', jsonb_build_object('command_type', h.type,"
	 "   'reason', 'rejected_by_operator', 'retryable', false, 'attempts', 0)) FROM h)"
	 " SELECT h.id, h.subject, h.body, pg_notify('tmprov_outbox', '') FROM h"
	 " ORDER BY h.queue_seq"},

    [CLISQL_TM_WORKERS] = {"cli_tm_workers",
			   "SELECT worker, grp, breaker,"
			   " coalesce(to_char(next_probe_at AT TIME ZONE 'UTC',"
			   " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), ''), failures::text,"
			   " concurrency_limit, in_flight, rate_per_s,"
			   " floor(extract(epoch FROM now() - updated_at))::bigint,"
			   " now() - updated_at > $1::integer * interval '1 second'"
			   " FROM tm_worker_state ORDER BY grp, updated_at DESC, worker"},
};
