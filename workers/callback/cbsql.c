/* cbsql: the statement table of tmprov-callback and the rule for repeating one after a lost
 * connection. Durations travel as milliseconds ($n::bigint * interval '1 millisecond') so that no
 * interval text is ever built from a value. */
#include "cbsql.h"

#include <stdbool.h>

#define MS(p) "(" p "::bigint * interval '1 millisecond')"
/* How much longer than its TTL a use makes a session last; see SQL_SESSION_SLIDE. */
#define SESSION_SLACK "interval '5 seconds'"
/* A user's meetings that are not canceled and not older than $4 ms, by start time, at most $5,
 * the start written in time zone $3 (TMPROV_MEETING_TIMEZONE); more columns after join_url. */
#define MEETING_LIST(more, subject, user_id)                                                       \
	"SELECT meeting_id, to_char(start_time AT TIME ZONE $3, 'YYYY/MM/DD HH24:MI') "            \
	"AS start_text, topic, join_url" more " FROM meetings "                                    \
	"WHERE subject = " subject " AND user_id = " user_id " AND canceled_at IS NULL "           \
	"AND start_time >= now() - " MS("$4") " ORDER BY start_time, meeting_id LIMIT $5::integer"

/* The session of token hash $1 if it is live and its user and account are active, and whether
 * less than $2 ms is left of it (then session_meetings slides it with SQL_SESSION_SLIDE). */
#define SESSION_LIVE                                                                               \
	"live AS (SELECT s.subject, s.user_id, s.expires_at < now() + " MS(                        \
	    "$2") " AS slide FROM sessions s "                                                     \
		  "JOIN users u ON u.subject = s.subject AND u.user_id = s.user_id "               \
		  "JOIN accounts a ON a.subject = u.subject WHERE s.token_hash = $1::bytea "       \
		  "AND s.expires_at > now() AND u.status = 'active' AND a.status = 'active')"
#define SESSION_MEETINGS                                                                           \
	"WITH " SESSION_LIVE " SELECT live.user_id, m.meeting_id, m.start_text, m.topic, "         \
	"m.join_url, live.slide FROM live LEFT JOIN LATERAL (" MEETING_LIST(                       \
	    ", start_time", "live.subject", "live.user_id") ") m ON true "                         \
							    "ORDER BY m.start_time, m.meeting_id"

const struct db_stmt CBSQL_MEETING_LIST = {"cb_meeting_list", MEETING_LIST("", "$1", "$2")};

const struct db_stmt CBSQL_STATEMENTS[SQL_NSTMTS] = {
    [SQL_PING] = {"cb_ping", "SELECT 1"},
    /* Any zone name PostgreSQL knows is accepted; an unknown one fails here, at start-up. */
    [SQL_TIMEZONE_CHECK] = {"cb_timezone_check",
			    "SELECT to_char(now() AT TIME ZONE $1, 'YYYY/MM/DD HH24:MI')"},
    /* users_email_active makes this at most one row. A deleted user, or a live user of a
     * deleted account, is simply not found: the caller treats that as an unknown user. */
    [SQL_USER_BY_EMAIL] = {"cb_user_by_email",
			   "SELECT u.subject, u.user_id, u.first_name, u.last_name, "
			   "u.password_verifier, a.company_uid "
			   "FROM users u JOIN accounts a ON a.subject = u.subject "
			   "WHERE lower(u.email) = lower($1) AND u.status = 'active' "
			   "AND a.status = 'active'"},
    /* Counts the email's failures in the window ($2 ms) and, below the limit ($3), records this
     * attempt, as one atomic step (see migrations/004_auth_reserve.sql): t or f. */
    [SQL_ATTEMPT_RESERVE] = {"cb_attempt_reserve",
			     "SELECT tmprov_auth_reserve(lower($1), $2::bigint, $3::integer)"},
    [SQL_FAILURES_CLEAR] = {"cb_failures_clear",
			    "DELETE FROM auth_failures WHERE email = lower($1)"},
    /* ON CONFLICT makes a repeat after a lost connection harmless: 256 random bits never
     * collide, so a conflict can only be our own first attempt having committed. */
    [SQL_SESSION_ADD] = {"cb_session_add",
			 "INSERT INTO sessions (token_hash, subject, user_id, expires_at) "
			 "VALUES ($1::bytea, $2, $3, now() + " MS(
			     "$4") ") "
				   "ON CONFLICT (token_hash) DO NOTHING"},
    /* One read-only statement finds a live session, checks that its user and account are still
     * active, reads the user's meeting list and says whether the session must slide: one round
     * trip per list (make bench, 6a). No row: no such live session; one row with a NULL
     * meeting_id: a live session without meetings. $1 token hash, $2 TTL ms, then
     * MEETING_LIST's. The slide is a statement of its own, run only when it writes: as a
     * data-modifying CTE of this one it cost every list a write plan (locks and the indexes of
     * sessions opened, the session row materialised) even when it wrote nothing, which made
     * the statement cost 1.6 times the list alone. */
    [SQL_SESSION_MEETINGS] = {"cb_session_meetings", SESSION_MEETINGS},
    /* Slides the live session of token hash $1 forward when it has less than its TTL ($2 ms)
     * left, to TTL + SESSION_SLACK: a session in use is written at most once per SESSION_SLACK
     * instead of on every list (a write costs twice the list itself), and never has less than
     * its TTL after a use. A session that expired meanwhile is not revived. */
    [SQL_SESSION_SLIDE] = {"cb_session_slide",
			   "UPDATE sessions SET expires_at = now() + " MS(
			       "$2") " + " SESSION_SLACK ", last_used_at = now() "
				     "WHERE token_hash = $1::bytea AND expires_at > now() "
				     "AND expires_at < now() + " MS("$2")},
    /* Purges go in batches so that one run never holds many locks for long. */
    [SQL_PURGE_SESSIONS] = {"cb_purge_sessions",
			    "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM "
			    "sessions WHERE expires_at < now() LIMIT $1::integer)"},
    [SQL_PURGE_FAILURES] = {"cb_purge_failures",
			    "DELETE FROM auth_failures WHERE id IN (SELECT id FROM auth_failures "
			    "WHERE failed_at < now() - " MS("$1") " LIMIT $2::integer)"},
};

/* Whether a statement may be run again after the connection was lost under it. All have the
 * effect of running once but SQL_ATTEMPT_RESERVE, whose repeat may count one login attempt
 * twice: that only errs towards throttling, while not repeating it would fail the first login
 * after every database restart (it is the first statement of a login). */
static const bool sql_repeatable[SQL_NSTMTS] = {
    [SQL_PING] = true,
    [SQL_TIMEZONE_CHECK] = true,
    [SQL_USER_BY_EMAIL] = true,
    [SQL_ATTEMPT_RESERVE] = true,
    [SQL_FAILURES_CLEAR] = true,
    [SQL_SESSION_ADD] = true,
    [SQL_SESSION_MEETINGS] = true,
    [SQL_SESSION_SLIDE] = true,
    [SQL_PURGE_SESSIONS] = true,
    [SQL_PURGE_FAILURES] = true,
};

PGresult *
cbsql_run(struct db *db, enum sql_stmt stmt, int nparams, const char *const *params, char *err,
	  size_t errlen)
{
	PGresult *res = db_exec(db, (int)stmt, nparams, params, err, errlen);

	/* A connection the server closed while idle (a restart) is only found out by the next
	 * statement; one more try reconnects (db_exec does that once the loss is known). */
	if (res == NULL && db_connection_lost(db) && sql_repeatable[stmt])
		res = db_exec(db, (int)stmt, nparams, params, err, errlen);
	return res;
}
