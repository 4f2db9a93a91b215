/* session: token minting, and the two statements that start and use a session. The bytea parameter
 * travels in PostgreSQL's hex input form ("\x" + 64 hex digits) as an ordinary text parameter. */
#include "session.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
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

void
session_hash_hex(const char *token, char out[SESSION_HASH_HEX])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(out, SESSION_HASH_HEX, h, sizeof(h));
}

/* The n hashes whose pick is true (all when pick is NULL), comma-separated. */
static int
session_hash_list(struct buf *b, const char *const *hex, const bool *pick, size_t n)
{
	bool first = true;

	buf_init(b, SESSION_BATCH_MAX * SESSION_HASH_HEX);
	for (size_t i = 0; i < n; i++) {
		if (pick != NULL && !pick[i])
			continue;
		if ((!first && buf_append(b, ",", 1) != BUF_OK) ||
		    buf_append(b, hex[i], SESSION_HASH_HEX - 1) != BUF_OK)
			return -1;
		first = false;
	}
	/* Never empty: buf's data is NULL until something is appended. */
	return first ? -1 : 0;
}

/* Slides the sessions of res whose rows say so (SQL_SESSION_SLIDE, one statement for all): 0, or
 * -1 with err set. */
static int
session_slide(struct db *db, const char *const *hex, size_t n, PGresult *res, const char *ttl,
	      char *err, size_t errlen)
{
	bool pick[SESSION_BATCH_MAX] = {false}, any = false;
	const char *params[2] = {NULL, ttl};
	struct buf arr = {0};
	PGresult *up = NULL;
	int rc = -1;

	for (int r = 0; r < PQntuples(res); r++) {
		long i = strtol(PQgetvalue(res, r, SESSION_COL_I), NULL, 10);

		if (strcmp(PQgetvalue(res, r, SESSION_COL_SLIDE), "t") == 0 && i >= 1 &&
		    (size_t)i <= n)
			any = pick[i - 1] = true;
	}
	if (!any)
		return 0;
	if (session_hash_list(&arr, hex, pick, n) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	params[0] = arr.data;
	if ((up = cbsql_run(db, SQL_SESSION_SLIDE, 2, params, err, errlen)) != NULL)
		rc = 0;
out:
	PQclear(up);
	buf_free(&arr);
	return rc;
}

int
session_meetings(struct db *db, const char *const *hex, size_t n, const struct session_list *list,
		 PGresult **out, char *err, size_t errlen)
{
	char ttl[32], past[32], max[32];
	const char *params[5] = {NULL, ttl, list->timezone, past, max};
	struct buf arr = {0};
	PGresult *res = NULL;
	int rc = -1;

	*out = NULL;
	if (n > SESSION_BATCH_MAX || session_hash_list(&arr, hex, NULL, n) != 0) {
		snprintf(err, errlen, n > SESSION_BATCH_MAX ? "batch too large" : "out of memory");
		goto out;
	}
	params[0] = arr.data;
	snprintf(ttl, sizeof(ttl), "%ld", list->ttl_ms);
	snprintf(past, sizeof(past), "%ld", list->past_ms);
	snprintf(max, sizeof(max), "%ld", list->max);
	if ((res = cbsql_run(db, SQL_SESSION_MEETINGS, 5, params, err, errlen)) == NULL)
		goto out;
	/* The lists are answered only once the slides are in: a session never has less than its
	 * TTL after a use that was answered. */
	if (session_slide(db, hex, n, res, ttl, err, errlen) != 0)
		goto out;
	*out = res;
	res = NULL;
	rc = 0;
out:
	PQclear(res);
	buf_free(&arr);
	return rc;
}
