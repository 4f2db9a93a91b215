/* session: the login sessions behind QueryScheduledMeetingURL. A token is 256 bits from the OS
 * CSPRNG, base64url without padding; only its sha256 is stored; each use slides the expiry. */
#ifndef CALLBACK_SESSION_H
#define CALLBACK_SESSION_H

#include <stddef.h>

#include <libpq-fe.h>

#include "db.h"

#define SESSION_TOKEN_BYTES 32
#define SESSION_TOKEN_LEN   43 /* base64url of 32 bytes, unpadded */

/* 1 if token has the shape of one of ours (43 base64url characters); the database is not asked
 * about anything else. */
int session_token_valid(const char *token);

/* Creates a session for (subject, user_id) lasting ttl_ms and writes its token to token.
 * 0 or -1 (database error, err set). */
int session_new(struct db *db, const char *subject, const char *user_id, long ttl_ms,
		char token[SESSION_TOKEN_LEN + 1], char *err, size_t errlen);

/* What a meeting list is made of: the session's sliding TTL, and the list's time zone, how far
 * into the past it reaches and how many meetings it holds at most. */
struct session_list {
	long ttl_ms;
	const char *timezone;
	long past_ms;
	long max;
};

/* Looks token up; if it names a live session of an active user of an active account, extends it
 * to at least now + ttl_ms and returns 1 with *out set (caller PQclear()s): one row per meeting
 * by start time, columns user_id, meeting_id, start (YYYY/MM/DD HH:MM), topic, join_url, or one
 * row with a NULL meeting_id when the user has none. 0 when it does not (unknown, expired,
 * revoked); -1 on a database error (err set). One read-only statement, one round trip, and a second
 * one only when the session slides (at most once per few seconds of use). */
int session_meetings(struct db *db, const char *token, const struct session_list *list,
		     PGresult **out, char *err, size_t errlen);

#endif
