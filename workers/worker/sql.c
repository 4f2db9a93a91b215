/* sql: the worker's one table of SQL statements (enum id -> text), prepared on every connection
 * by common/db; values only ever travel as parameters. */
#include "sql.h"

/* A command's result is one statement, so it needs no BEGIN/COMMIT round trips: the commands
 * row is written first (cmd), and every other part reads cmd, so nothing happens when the
 * command already has its result (another worker, or a retry of a COMMIT whose answer was
 * lost): cmd is then empty, the statement returns 0 and the caller looks again. The outbox's
 * UNIQUE (command_id) is the second net. Foreign keys to commands are checked at the end of
 * the statement, when the cmd row exists. The body is kept only for a result an operator may
 * replay (`tmprov replay`: unknown outcome, or failed and retryable), and never for user.upsert,
 * whose body may hold a plain password (migrations/002_command_body.sql). The trace id of the
 * commands row is the one in the outcome event's traceparent ($15), that of each tm_calls row
 * its own trace_id (migrations/008_trace_id.sql). */
#define FINISH_CTES                                                                                \
	"WITH cmd AS ("                                                                            \
	" INSERT INTO commands AS c (id, subject, type, body_sha256, status, attempts, "           \
	"last_error,"                                                                              \
	"  retryable, kafka_topic, kafka_partition, kafka_offset, body, trace_id)"                 \
	" VALUES ($1::text, $2::text, $3::text, decode($4::text, 'hex'), $5::text, $6::int,"       \
	"  $7::text, $8::boolean, $9::text, $10::int, $11::bigint,"                                \
	"  CASE WHEN ($5::text = 'unknown_outcome' OR ($5::text = 'failed' AND $8::boolean))"      \
	"   AND $3::text <> 'user.upsert' THEN $16::text END,"                                     \
	"  NULLIF(split_part($15::jsonb->>'traceparent', '-', 2), ''))"                            \
	" ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, attempts = EXCLUDED.attempts,"  \
	"  last_error = EXCLUDED.last_error, retryable = EXCLUDED.retryable, body = "              \
	"EXCLUDED.body,"                                                                           \
	"  kafka_topic = EXCLUDED.kafka_topic, kafka_partition = EXCLUDED.kafka_partition,"        \
	"  kafka_offset = EXCLUDED.kafka_offset, trace_id = EXCLUDED.trace_id"                     \
	" WHERE c.status IN ('received', 'in_progress') AND c.body_sha256 = EXCLUDED.body_sha256"  \
	" RETURNING c.id),"                                                                        \
	"calls AS ("                                                                               \
	" INSERT INTO tm_calls (command_id, endpoint, url, outcome, http_status, tm_status, "      \
	"reason,"                                                                                  \
	"  duration_ms, started_at, trace_id)"                                                     \
	" SELECT cmd.id, x.endpoint, x.url, x.outcome, x.http_status, x.tm_status, x.reason,"      \
	"  x.duration_ms, x.started_at, x.trace_id"                                                \
	" FROM cmd, jsonb_to_recordset($12::jsonb) AS x(endpoint text, url text, outcome text,"    \
	"  http_status int, tm_status text, reason text, duration_ms int, started_at "             \
	"timestamptz, trace_id text)),"                                                            \
	"res AS ("                                                                                 \
	" UPDATE tm_intents i SET resolved_at = now() FROM cmd"                                    \
	" WHERE i.command_id = cmd.id AND i.resolved_at IS NULL),"                                 \
	"ev AS ("                                                                                  \
	" INSERT INTO outbox (event_id, command_id, type, subject, payload)"                       \
	" SELECT $13::text, cmd.id, $14::text, $2::text, $15::jsonb FROM cmd)"

#define FINISH_END " SELECT count(*) FROM cmd"

/* The commands of a subject's queue (migrations/006_delete_guard.sql, its commands_queued
 * index): held or waiting, or started and not finished. */
#define GUARD_QUEUED                                                                               \
	" AND q.queue_seq IS NOT NULL AND q.status IN ('held', 'waiting', 'received', "            \
	"'in_progress')"

/* Everything a command needs to know before acting, from SQL expressions of its id, subject,
 * user_id, email and meeting_id (columns: sql.h's SQLL_*). The email test mirrors
 * users_email_active, so the index serves it. */
#define LOOKUP_SELECT(id, subj, user, email, meeting)                                              \
	"SELECT c.status, encode(c.body_sha256, 'hex'), c.attempts,"                               \
	" i.endpoint, i.attempt,"                                                                  \
	" (SELECT max(attempt) FROM tm_intents WHERE command_id = " id "),"                        \
	" a.company_uid, a.company_name, a.email, a.rooms, a.participants, a.status,"              \
	" u.status,"                                                                               \
	" EXISTS (SELECT 1 FROM users o WHERE lower(o.email) = lower(" email ")"                   \
	"  AND o.status = 'active'"                                                                \
	"  AND NOT (o.subject = " subj " AND o.user_id IS NOT DISTINCT FROM " user ")),"           \
	" m.subject, m.canceled_at IS NOT NULL,"                                                   \
	" EXISTS (SELECT 1 FROM commands q WHERE q.subject = " subj GUARD_QUEUED ")"               \
	" FROM (SELECT 1) AS one"                                                                  \
	" LEFT JOIN commands c ON c.id = " id " LEFT JOIN tm_intents i ON i.command_id = " id      \
	" AND i.resolved_at IS NULL"                                                               \
	" LEFT JOIN accounts a ON a.subject = " subj " LEFT JOIN users u ON u.subject = " subj     \
	" AND u.user_id = " user " LEFT JOIN meetings m ON m.meeting_id = " meeting

/* $1 id, $2 subject, $3 type, $4 sha256 hex, $5 topic, $6 partition, $7 offset, $8 body. */
#define GUARD_INSERT(status)                                                                       \
	" INSERT INTO commands AS c (id, subject, type, body_sha256, status, kafka_topic,"         \
	"  kafka_partition, kafka_offset, body, queue_seq)"                                        \
	" VALUES ($1::text, $2::text, $3::text, decode($4::text, 'hex'), '" status "', $5::text,"  \
	"  $6::int, $7::bigint, $8::text, nextval('commands_queue_seq'))"

const struct db_stmt SQL_STATEMENTS[SQL_COUNT] = {
    /* $1 command id, $2 subject, $3 user_id, $4 email, $5 meeting_id (NULL when the type has
     * none). */
    [SQL_LOOKUP] = {"lookup",
		    LOOKUP_SELECT("$1::text", "$2::text", "$3::text", "$4::text", "$5::text")},

    /* $1: JSON array of {k, id, subject, user_id, email, meeting_id}: SQL_LOOKUP's parameters
     * for several commands (lookup.c). SQL_LOOKUP's row for each, followed by its k. OFFSET 0
     * keeps the lateral query from being pulled up into joins: each command is looked up with
     * SQL_LOOKUP's own index probes, whatever the planner guesses of the batch's size. */
    [SQL_LOOKUP_BATCH] = {"lookup_batch",
			  "SELECT l.*, lk.k FROM jsonb_to_recordset($1::jsonb) AS lk(k int,"
			  "  id text, subject text, user_id text, email text, meeting_id text)"
			  " CROSS JOIN LATERAL (" LOOKUP_SELECT("lk.id", "lk.subject", "lk.user_id",
								"lk.email",
								"lk.meeting_id") " OFFSET 0) AS l"},

    /* $1: JSON array of {id, subject, type, sha, topic, part, off, prev}. Marks each command
     * in_progress (unless it already has its result, or is another body under the same id)
     * and resolves its previous attempt's intent (prev, 0: none): the caller knows that
     * attempt's outcome and is about to make the next one. */
    [SQL_INTENT_COMMANDS] =
	{"intent_commands",
	 "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id text, subject text,"
	 "  type text, sha text, topic text, part int, off bigint, prev int)),"
	 "c AS ("
	 " INSERT INTO commands AS c (id, subject, type, body_sha256, status, kafka_topic,"
	 "  kafka_partition, kafka_offset)"
	 " SELECT id, subject, type, decode(sha, 'hex'), 'in_progress', topic, part, off FROM x"
	 " ON CONFLICT (id) DO UPDATE SET status = 'in_progress',"
	 "  kafka_topic = EXCLUDED.kafka_topic, kafka_partition = EXCLUDED.kafka_partition,"
	 "  kafka_offset = EXCLUDED.kafka_offset"
	 " WHERE c.status IN ('received', 'in_progress') AND c.body_sha256 = EXCLUDED.body_sha256"
	 " RETURNING c.id)"
	 " UPDATE tm_intents i SET resolved_at = now() FROM x JOIN c ON c.id = x.id"
	 " WHERE i.command_id = x.id AND i.attempt = x.prev AND i.resolved_at IS NULL"},

    /* $1: JSON array of {id, sha, endpoint, attempt, attempt_id}. Returns the ids whose intent is
     * written: now, or already by the same attempt (same attempt_id: a retry after a commit whose
     * acknowledgement was lost; the select below reads the rows as they were before this
     * statement, so a row inserted now is not returned twice). Not written: the command has
     * its result already, or another call for it is open (tm_intents_unresolved): the caller
     * must not call TM. */
    [SQL_INTENT_INSERT] =
	{"intent_insert",
	 "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb)"
	 "  AS r(id text, sha text, endpoint text, attempt int, attempt_id text)),"
	 "ins AS ("
	 " INSERT INTO tm_intents (command_id, endpoint, attempt, attempt_id)"
	 " SELECT x.id, x.endpoint, x.attempt, x.attempt_id FROM x"
	 " JOIN commands c ON c.id = x.id AND c.status = 'in_progress'"
	 "  AND c.body_sha256 = decode(x.sha, 'hex')"
	 " ON CONFLICT DO NOTHING RETURNING command_id)"
	 " SELECT command_id FROM ins"
	 " UNION ALL SELECT i.command_id FROM tm_intents i JOIN x ON i.command_id = x.id"
	 "  AND i.attempt = x.attempt AND i.attempt_id = x.attempt_id AND i.resolved_at IS NULL"},

    /* $1 command id, $2 attempt. */
    [SQL_INTENT_RESOLVE] = {"intent_resolve", "UPDATE tm_intents SET resolved_at = now()"
					      " WHERE command_id = $1::text AND attempt = $2::int"
					      " AND resolved_at IS NULL"},

    /* Failed, parked, rejected and queried commands: no domain change. */
    [SQL_FINISH] = {"finish", FINISH_CTES FINISH_END},

    /* $17 company_uid, $18 company_name, $19 email, $20 rooms, $21 participants. */
    [SQL_FINISH_ACCOUNT_CREATE] = {"finish_account_create",
				   FINISH_CTES ",dom AS ("
					       " INSERT INTO accounts (subject, company_uid,"
					       "  company_name, email, rooms, participants)"
					       " SELECT $2::text, $17::text, $18::text, $19::text,"
					       "  $20::int, $21::int FROM cmd)" FINISH_END},

    /* $17 company_name, $18 email, $19 rooms, $20 participants: the merged values sent. */
    [SQL_FINISH_ACCOUNT_UPDATE] = {"finish_account_update",
				   FINISH_CTES ",dom AS ("
					       " UPDATE accounts a SET company_name = $17::text,"
					       "  email = $18::text, rooms = $19::int,"
					       "  participants = $20::int FROM cmd"
					       " WHERE a.subject = $2::text)" FINISH_END},

    /* Users of a deleted account can no longer log in: they are deleted and their sessions
     * end with it. */
    [SQL_FINISH_ACCOUNT_DELETE] = {"finish_account_delete", FINISH_CTES
				   ",acc AS ("
				   " UPDATE accounts a SET status = 'deleted', deleted_at = now()"
				   " FROM cmd WHERE a.subject = $2::text AND a.status = 'active'),"
				   "usr AS ("
				   " UPDATE users u SET status = 'deleted', deleted_at = now()"
				   " FROM cmd WHERE u.subject = $2::text AND u.status = 'active'),"
				   "ses AS (DELETE FROM sessions s USING cmd"
				   " WHERE s.subject = $2::text)" FINISH_END},

    /* $17 user_id, $18 email, $19 first_name, $20 last_name, $21 verifier (NULL: keep the
     * stored one, and the sessions). The stored verifier is looked up for the inserted row too,
     * because NOT NULL is checked before ON CONFLICT turns the insert into an update. */
    [SQL_FINISH_USER_UPSERT] =
	{"finish_user_upsert",
	 FINISH_CTES ",dom AS ("
		     " INSERT INTO users AS u (subject, user_id, email, first_name, last_name,"
		     "  password_verifier)"
		     " SELECT $2::text, $17::text, $18::text, $19::text, $20::text,"
		     "  coalesce($21::text, (SELECT password_verifier FROM users"
		     "   WHERE subject = $2::text AND user_id = $17::text))"
		     " FROM cmd"
		     " ON CONFLICT (subject, user_id) DO UPDATE SET email = EXCLUDED.email,"
		     "  first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,"
		     "  password_verifier = EXCLUDED.password_verifier, status = 'active',"
		     "  deleted_at = NULL),"
		     /* A new verifier ends the user's sessions; the sub-select sees the old one. */
		     "ses AS (DELETE FROM sessions s USING cmd WHERE s.subject = $2::text"
		     "  AND s.user_id = $17::text AND $21::text <> coalesce("
		     "  (SELECT password_verifier FROM users WHERE subject = $2::text"
		     "   AND user_id = $17::text), ''))" FINISH_END},

    /* $17 user_id. */
    [SQL_FINISH_USER_DELETE] =
	{"finish_user_delete",
	 FINISH_CTES ",usr AS ("
		     " UPDATE users u SET status = 'deleted', deleted_at = now()"
		     " FROM cmd WHERE u.subject = $2::text"
		     "  AND u.user_id = $17::text AND u.status = 'active'),"
		     "ses AS (DELETE FROM sessions s USING cmd"
		     " WHERE s.subject = $2::text AND s.user_id = $17::text)" FINISH_END},

    /* $17 meeting_id, $18 user_id, $19 topic, $20 start_time, $21 join_url,
     * $22 possible_duplicate. */
    [SQL_FINISH_MEETING_SCHEDULE] = {"finish_meeting_schedule", FINISH_CTES
				     ",dom AS ("
				     " INSERT INTO meetings (meeting_id, subject, user_id,"
				     "  topic, start_time, join_url, possible_duplicate,"
				     "  command_id)"
				     " SELECT $17::text, $2::text, $18::text, $19::text,"
				     "  $20::timestamptz, $21::text, $22::boolean, cmd.id"
				     " FROM cmd)" FINISH_END},

    /* $17 meeting_id. Cancelling twice keeps the first time. */
    [SQL_FINISH_MEETING_CANCEL] = {"finish_meeting_cancel",
				   FINISH_CTES ",dom AS ("
					       " UPDATE meetings m"
					       " SET canceled_at = coalesce(m.canceled_at, now())"
					       " FROM cmd WHERE m.meeting_id = $17::text"
					       "  AND m.subject = $2::text)" FINISH_END},

    /* $1 command id, $2 tm_calls rows as SQL_FINISH's $12. The attempts of a run whose result
     * was not written (the command got it elsewhere: the partition's new owner parked or
     * repeated the call) or that was stopped: TM's answers are kept, never dropped. Nothing
     * when the command has no row (an idempotent call's first run). */
    [SQL_CALLS_KEEP] = {"calls_keep",
			"INSERT INTO tm_calls (command_id, endpoint, url, outcome, http_status,"
			" tm_status, reason, duration_ms, started_at, trace_id)"
			" SELECT c.id, x.endpoint, x.url, x.outcome, x.http_status, x.tm_status,"
			"  x.reason, x.duration_ms, x.started_at, x.trace_id"
			" FROM commands c, jsonb_to_recordset($2::jsonb) AS x(endpoint text,"
			"  url text, outcome text, http_status int, tm_status text, reason text,"
			"  duration_ms int, started_at timestamptz, trace_id text)"
			" WHERE c.id = $1::text"},

    /* $1 subject, $2 the command at hand: the head of the subject's queue, if any. */
    [SQL_GUARD_HEAD] = {"guard_head",
			"SELECT h.id, h.status, h.approved_at IS NOT NULL, h.body,"
			" encode(h.body_sha256, 'hex'), h.kafka_topic, h.kafka_partition,"
			" h.kafka_offset, EXISTS (SELECT 1 FROM commands o WHERE o.id = $2::text)"
			" FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT * FROM commands q"
			"  WHERE q.subject = $1::text" GUARD_QUEUED
			"  ORDER BY q.queue_seq LIMIT 1) AS h ON true"},

    /* $1 id: a waiting command is started; it keeps its place (queue_seq) and its message
     * until its result is written. */
    [SQL_GUARD_CLAIM] = {"guard_claim", "UPDATE commands SET status = 'in_progress'"
					" WHERE id = $1::text AND status = 'waiting'"},

    /* $1 id, $2 window (ms), $3 limit, $4 force (approved) -> taken, deletions. */
    [SQL_GUARD_TAKE] = {"guard_take",
			"SELECT taken, deletions FROM tmprov_delete_guard_take($1::text,"
			" $2::bigint, $3::int, $4::boolean)"},

    /* GUARD_INSERT's parameters, $9 event id, $10 the command.held event. A queued delete that
     * the guard stops when its turn comes keeps its place. Returns 1 when held now. */
    [SQL_GUARD_HOLD] =
	{"guard_hold",
	 "WITH cmd AS (" GUARD_INSERT(
	     "held") " ON CONFLICT (id) DO UPDATE SET status = 'held',"
		     "  body = coalesce(c.body, EXCLUDED.body),"
		     "  queue_seq = coalesce(c.queue_seq, EXCLUDED.queue_seq)"
		     " WHERE c.status IN ('received', 'in_progress', 'waiting')"
		     "  AND c.body_sha256 = EXCLUDED.body_sha256 RETURNING c.id),"
		     "ev AS (INSERT INTO outbox (event_id, command_id, type, subject, payload)"
		     " SELECT $9::text, cmd.id, 'command.held', $2::text, $10::jsonb FROM cmd"
		     " ON CONFLICT DO NOTHING)"
		     " SELECT count(*) FROM cmd"},

    /* GUARD_INSERT's parameters: a command behind its subject's queue. */
    [SQL_GUARD_WAIT] = {"guard_wait", GUARD_INSERT("waiting") " ON CONFLICT (id) DO NOTHING"},

    [SQL_PUB_LOCK] = {"pub_lock", "SELECT pg_try_advisory_lock($1::bigint)"},
    /* Rows in flight are left out: they are reported soon and must not go out twice. NOT IN
     * over a subquery is checked with a hash table; "NOT (seq = ANY($2))" compared each row
     * with every element (a prepared statement's parameter array is not hashed), which made
     * this the third costliest statement of a busy worker (make bench, pg_stat_statements). */
    /* $3: the subjects with a row in flight (a JSON array): none of their rows may go out
     * before that one is delivered, so that a failed delivery is never overtaken. */
    [SQL_PUB_SELECT] = {"pub_select", "SELECT seq, subject, payload::text FROM outbox "
				      "WHERE published_at IS NULL "
				      "AND seq NOT IN (SELECT unnest($2::bigint[])) "
				      "AND (subject IS NULL OR subject NOT IN "
				      "(SELECT jsonb_array_elements_text($3::jsonb))) "
				      "ORDER BY seq LIMIT $1::int"},
    [SQL_PUB_MARK] = {"pub_mark", "UPDATE outbox SET published_at = now() "
				  "WHERE seq = ANY($1::bigint[]) AND published_at IS NULL"},
    [SQL_PUB_BACKLOG] = {"pub_backlog", "SELECT count(*) FROM outbox WHERE published_at IS NULL"},
    [SQL_PUB_NOTIFY] = {"pub_notify", "SELECT pg_notify('" SQL_OUTBOX_CHANNEL "', '')"},
    [SQL_PUB_MAXSEQ] = {"pub_maxseq", "SELECT coalesce(max(seq), 0) FROM outbox"},
    [SQL_PUB_PENDING] = {"pub_pending", "SELECT EXISTS (SELECT 1 FROM outbox "
					"WHERE published_at IS NULL AND seq <= $1::bigint)"},
    [SQL_PROBE_ACCOUNT] = {"probe_account", "SELECT company_uid FROM accounts"
					    " WHERE status = 'active' ORDER BY subject LIMIT 1"},
    /* $4: the next probe in ms since the epoch (NULL: none); $5 the last failures (JSON). */
    [SQL_STATE_PUT] = {"state_put",
		       "INSERT INTO tm_worker_state AS s (worker, grp, breaker, next_probe_at,"
		       " failures, concurrency_limit, in_flight, rate_per_s, updated_at)"
		       " VALUES ($1, $2, $3, to_timestamp($4::float8 / 1000), $5::jsonb,"
		       " $6::integer, $7::integer, $8::float8, now())"
		       " ON CONFLICT (worker) DO UPDATE SET grp = EXCLUDED.grp,"
		       " breaker = EXCLUDED.breaker, next_probe_at = EXCLUDED.next_probe_at,"
		       " failures = EXCLUDED.failures,"
		       " concurrency_limit = EXCLUDED.concurrency_limit,"
		       " in_flight = EXCLUDED.in_flight, rate_per_s = EXCLUDED.rate_per_s,"
		       " updated_at = now()"},
    [SQL_STATE_DROP] = {"state_drop", "DELETE FROM tm_worker_state WHERE worker = $1"},
};
