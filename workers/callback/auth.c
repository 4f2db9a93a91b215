/* auth: Section 6. Unknown users and wrong passwords take the same path — one throttle
 * reservation (the failure record), one lookup, one hash (a dummy verifier for the unknown) — so
 * that neither the Reason nor the time tells them apart. */
#include "auth.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "log.h"
#include "session.h"
#include "cbsql.h"
#include "telemetry.h"
#include "throttle.h"

/* The user row SQL_USER_BY_EMAIL returns; strings point into res. */
struct auth_user {
	PGresult *res;
	const char *subject, *user_id, *first_name, *last_name, *verifier, *company_uid;
};

int
auth_partner_ok(const struct cb *cb, const char *given)
{
	unsigned char a[crypto_hash_sha256_BYTES], b[crypto_hash_sha256_BYTES];

	/* Comparing digests keeps the time independent of the lengths as well. */
	crypto_hash_sha256(a, (const unsigned char *)cb->partner_id, strlen(cb->partner_id));
	crypto_hash_sha256(b, (const unsigned char *)given, strlen(given));
	return sodium_memcmp(a, b, sizeof(a)) == 0;
}

/* 1 found, 0 not found (u->res NULL), -1 database error. */
static int
auth_lookup(struct db *db, const char *email, struct auth_user *u, char *err, size_t errlen)
{
	const char *params[1] = {email};
	PGresult *res = cbsql_run(db, SQL_USER_BY_EMAIL, 1, params, err, errlen);

	memset(u, 0, sizeof(*u));
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return 0;
	}
	u->res = res;
	u->subject = PQgetvalue(res, 0, 0);
	u->user_id = PQgetvalue(res, 0, 1);
	u->first_name = PQgetvalue(res, 0, 2);
	u->last_name = PQgetvalue(res, 0, 3);
	u->verifier = PQgetvalue(res, 0, 4);
	u->company_uid = PQgetvalue(res, 0, 5);
	return 1;
}

static enum MHD_Result
auth_unavailable(struct request *rq, const char *err)
{
	log_warn("auth: %s", err);
	return answer_failed(rq, RESULT_UNAVAILABLE, AUTH_REASON_UNAVAILABLE);
}

static enum MHD_Result
auth_succeed(struct request *rq, struct db *db, const struct auth_user *u)
{
	const struct cb *cb = rq->cb;
	char token[SESSION_TOKEN_LEN + 1], err[256];
	struct buf url;
	struct xmlw w;
	enum MHD_Result rc;

	if (session_new(db, u->subject, u->user_id, cb->session_ttl_ms, token, err, sizeof(err)))
		return auth_unavailable(rq, err);
	buf_init(&url, 4096);
	if (buf_printf(&url, "%s/tm/meetings/%s", cb->public_url, token) != BUF_OK) {
		sodium_memzero(token, sizeof(token));
		buf_free(&url);
		return answer_status(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, RESULT_ERROR);
	}
	sodium_memzero(token, sizeof(token));
	answer_begin(&w, "SUCCEED", NULL);
	xmlw_elem(&w, "__CompanyUid__", u->company_uid);
	xmlw_elem(&w, "__FirstName__", u->first_name);
	xmlw_elem(&w, "__LastName__", u->last_name);
	xmlw_elem(&w, "__UserID__", u->user_id);
	xmlw_elem(&w, "__QueryScheduledMeetingURL__", url.data);
	sodium_memzero(url.data, url.len);
	buf_free(&url);
	rc = answer_doc(rq, &w, RESULT_OK);
	log_info("auth: user %s of account %s logged in from %s", u->user_id, u->subject,
		 rq->client_text);
	return rc;
}

/* 1 if s is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF) without
 * control characters: PostgreSQL refuses invalid UTF-8, and such an email is the caller's
 * mistake, not our database being unavailable. */
static int
auth_text_ok(const char *s)
{
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = 1;
		uint32_t c = *p;

		if (c >= 0xF8)
			return 0;
		if (c >= 0xF0)
			n = 4, c &= 0x07;
		else if (c >= 0xE0)
			n = 3, c &= 0x0F;
		else if (c >= 0xC0)
			n = 2, c &= 0x1F;
		else if (c >= 0x80)
			return 0;
		for (size_t i = 1; i < n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return 0;
			c = (c << 6) | (p[i] & 0x3F);
		}
		if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF) || c < 0x20 ||
		    c == 0x7F)
			return 0;
		p += n;
	}
	return 1;
}

/* The checks made before any database work: parameters present, not too long, our partner.
 * Returns RESULT_NONE when they pass, else the result to answer with and its Reason. */
static enum result
auth_precheck(struct request *rq, const char *email, const char *cred, const char *partner,
	      const char **reason)
{
	if (rq->bad_form)
		*reason = AUTH_REASON_BAD_FORM;
	else if (rq->too_long)
		*reason = AUTH_REASON_TOO_LONG;
	else if (partner == NULL || *partner == '\0')
		*reason = "missing parameter: service_company_uid";
	else if (!auth_partner_ok(rq->cb, partner)) {
		*reason = AUTH_REASON_PARTNER;
		return RESULT_FAILED;
	} else if (email == NULL || *email == '\0')
		*reason = "missing parameter: email";
	else if (!auth_text_ok(email))
		*reason = "invalid parameter: email";
	else if (cred == NULL || *cred == '\0')
		*reason = "missing parameter: password";
	else
		return RESULT_NONE;
	return RESULT_BAD_REQUEST;
}

enum MHD_Result
auth_handle(struct request *rq, const char *tail)
{
	const struct cb *cb = rq->cb;
	const char *email = request_param(rq, PARAM_EMAIL);
	const char *cred = request_param(rq, PARAM_PASSWORD);
	const char *partner = request_param(rq, PARAM_PARTNER);
	const char *reason = NULL;
	struct auth_user u = {0};
	char err[256];
	struct db *db;
	enum MHD_Result rc;
	enum result bad;
	int found, ok;

	(void)tail;
	if ((bad = auth_precheck(rq, email, cred, partner, &reason)) != RESULT_NONE)
		return answer_failed(rq, bad, reason);
	if ((db = cbpool_get(cb->dbpool, err, sizeof(err))) == NULL)
		return auth_unavailable(rq, err);
	switch (throttle_reserve(db, &cb->throttle, email, err, sizeof(err))) {
	case THROTTLE_GO:
		break;
	case THROTTLE_TRIPPED:
		metrics_add(cb->metrics, TELEMETRY_THROTTLED, "", 1);
		log_info("auth: a login refused by the failure throttle, from %s", rq->client_text);
		return answer_failed(rq, RESULT_THROTTLED, AUTH_REASON_THROTTLED);
	case THROTTLE_ERROR:
	default:
		return auth_unavailable(rq, err);
	}
	/* From here the attempt counts as a failure (its reservation) until a success clears it. */
	if ((found = auth_lookup(db, email, &u, err, sizeof(err))) < 0)
		return auth_unavailable(rq, err);
	ok = hashgate_verify(cb->hashes, &cb->password, found ? u.verifier : NULL, cred);
	if (!(found && ok)) {
		rc = answer_failed(rq, RESULT_FAILED, AUTH_REASON_CREDENTIALS);
		goto out;
	}
	if (throttle_clear(db, &cb->throttle, email, err, sizeof(err)) != 0)
		log_warn("auth: failures not cleared: %s", err);
	rc = auth_succeed(rq, db, &u);
out:
	PQclear(u.res);
	return rc;
}
