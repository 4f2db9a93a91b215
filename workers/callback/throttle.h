/* throttle: the per-email failed-login limit (TMPROV_AUTH_MAX_FAILURES in
 * TMPROV_AUTH_FAILURE_WINDOW), kept in auth_failures so that every callback instance sees the
 * same count. Emails are compared lowercased. */
#ifndef CALLBACK_THROTTLE_H
#define CALLBACK_THROTTLE_H

#include <stddef.h>

#include "db.h"

struct throttle_opts {
	long max_failures; /* 0: no throttle */
	long window_ms;
};

enum throttle_verdict {
	THROTTLE_ERROR = -1,  /* database error, err set */
	THROTTLE_GO = 0,      /* an attempt is reserved: check the password */
	THROTTLE_TRIPPED = 1, /* max_failures already inside the window: refuse without a hash */
};

/* Reserves one attempt for email: counting the email's failures in the window and recording
 * this attempt as one more are a single atomic step, so parallel attempts cannot all pass a
 * count none of them has added to yet. The reservation is this attempt's failure record until a
 * successful login clears it (throttle_clear); a failed login records nothing more. */
enum throttle_verdict throttle_reserve(struct db *db, const struct throttle_opts *t,
				       const char *email, char *err, size_t errlen);
/* A successful login forgets the email's failures (its own reservation included), so earlier
 * typos do not count against the next ones. 0 or -1. */
int throttle_clear(struct db *db, const struct throttle_opts *t, const char *email, char *err,
		   size_t errlen);

#endif
