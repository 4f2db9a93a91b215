/* session: token minting, and the two statements that start and use a session. The bytea parameter
 * travels in PostgreSQL's hex input form ("\x" + 64 hex digits) as an ordinary text parameter. */
#include "session.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbsql.h"

/* "\x" + hex of sha256 + NUL */
#define SESSION_HASH_PARAM (2 + 2 * crypto_hash_sha256_BYTES + 1)

static void
session_hash_param(const char *token, char out[SESSION_HASH_PARAM])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	out[0] = '\\';
	out[1] = 'x';
	sodium_bin2hex(out + 2, SESSION_HASH_PARAM - 2, h, sizeof(h));
}

int
session_token_valid(const char *token)
{
	size_t n = 0;

	for (; token[n] != '\0'; n++) {
		char c = token[n];

		if (n == SESSION_TOKEN_LEN)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return n == SESSION_TOKEN_LEN;
}

int
session_new(struct db *db, const char *subject, const char *user_id, long ttl_ms,
	    char token[SESSION_TOKEN_LEN + 1], char *err, size_t errlen)
{
	unsigned char raw[SESSION_TOKEN_BYTES];
	char hash[SESSION_HASH_PARAM], ttl[32];
	const char *params[4] = {hash, subject, user_id, ttl};
	PGresult *res;

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(token, SESSION_TOKEN_LEN + 1, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	session_hash_param(token, hash);
	snprintf(ttl, sizeof(ttl), "%ld", ttl_ms);
	res = cbsql_run(db, SQL_SESSION_ADD, 4, params, err, errlen);
	if (res == NULL) {
		sodium_memzero(token, SESSION_TOKEN_LEN + 1);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* The column of session_meetings' rows that says the session must slide. */
#define SESSION_COL_SLIDE 5

/* Slides the session of hash forward (SQL_SESSION_SLIDE): 0 or -1 (err set). */
static int
session_slide(struct db *db, const char *hash, const char *ttl, char *err, size_t errlen)
{
	const char *params[2] = {hash, ttl};
	PGresult *res = cbsql_run(db, SQL_SESSION_SLIDE, 2, params, err, errlen);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int
session_meetings(struct db *db, const char *token, const struct session_list *list, PGresult **out,
		 char *err, size_t errlen)
{
	char hash[SESSION_HASH_PARAM], ttl[32], past[32], max[32];
	const char *params[5] = {hash, ttl, list->timezone, past, max};
	PGresult *res;

	*out = NULL;
	if (!session_token_valid(token))
		return 0;
	session_hash_param(token, hash);
	snprintf(ttl, sizeof(ttl), "%ld", list->ttl_ms);
	snprintf(past, sizeof(past), "%ld", list->past_ms);
	snprintf(max, sizeof(max), "%ld", list->max);
	res = cbsql_run(db, SQL_SESSION_MEETINGS, 5, params, err, errlen);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	/* The list is answered only once the slide is in: a session never has less than its TTL
	 * after a use that was answered. */
	if (strcmp(PQgetvalue(res, 0, SESSION_COL_SLIDE), "t") == 0 &&
	    session_slide(db, hash, ttl, err, errlen) != 0) {
		PQclear(res);
		return -1;
	}
	*out = res;
	return 1;
}
