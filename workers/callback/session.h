/* session: the login sessions behind QueryScheduledMeetingURL. A token is 256 bits from the OS
 * CSPRNG, base64url without padding; only its sha256 is stored; each use slides the expiry. */
#ifndef CALLBACK_SESSION_H
#define CALLBACK_SESSION_H

#include <stddef.h>

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

/* Looks token up; if it names a live session of an active user of an active account, extends it
 * to now + ttl_ms and returns 1 with *subject and *user_id set (caller frees). 0 when it does
 * not (unknown, expired, revoked); -1 on a database error (err set). */
int session_use(struct db *db, const char *token, long ttl_ms, char **subject, char **user_id,
		char *err, size_t errlen);

#endif
