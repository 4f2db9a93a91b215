/* auth: TM's user authentication callback (spec Section 6) — partner id, throttle, argon2id
 * check, and on success a fresh session whose URL is handed back as QueryScheduledMeetingURL. */
#ifndef CALLBACK_AUTH_H
#define CALLBACK_AUTH_H

#include <microhttpd.h>

#include "request.h"

/* The Reasons of FAILED answers (TM shows them to operators; tests compare them). */
#define AUTH_REASON_CREDENTIALS "invalid email or password"
#define AUTH_REASON_PARTNER	"invalid service_company_uid"
#define AUTH_REASON_THROTTLED	"too many failed logins, try again later"
#define AUTH_REASON_UNAVAILABLE "temporarily unavailable"
#define AUTH_REASON_TOO_LONG	"parameter too long"
#define AUTH_REASON_BAD_FORM	"malformed form body"

/* Handler of /tm/auth (GET or form POST: email, password, service_company_uid). */
enum MHD_Result auth_handle(struct request *rq, const char *tail);

/* 1 if given equals the configured partner id, in time independent of where they differ. */
int auth_partner_ok(const struct cb *cb, const char *given);

#endif
