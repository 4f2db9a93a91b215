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

/* The most tokens one session_meetings call takes. */
#define SESSION_BATCH_MAX 64
/* The hex of a token's sha256 (64 digits and a NUL): how session_meetings takes tokens. */
#define SESSION_HASH_HEX 65
void session_hash_hex(const char *token, char out[SESSION_HASH_HEX]);

/* The columns of session_meetings' rows. */
enum session_col {
	SESSION_COL_I, /* the token's place in hex[], from 1 */
	SESSION_COL_USER,
	SESSION_COL_MEETING, /* NULL: the user has no meeting in the list */
	SESSION_COL_START,   /* YYYY/MM/DD HH:MM */
	SESSION_COL_TOPIC,
	SESSION_COL_JOIN,
	SESSION_COL_SLIDE
};

/* Looks up the n (at most SESSION_BATCH_MAX) token hashes hex[] with one read-only statement.
 * Each that names a live session of an active user of an active account is extended to at least
 * now + ttl_ms (a second statement, for all of them, only when one has less than that left) and
 * gets its rows in *out (caller PQclear()s), by SESSION_COL_I then start time: one per meeting,
 * or one with a NULL meeting when the user has none. A hash without rows is unknown, expired or
 * revoked. 0, or -1 on a database error (err set, *out NULL). */
int session_meetings(struct db *db, const char *const *hex, size_t n,
		     const struct session_list *list, PGresult **out, char *err, size_t errlen);

#endif
