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

/* 1 when email already has max_failures failures inside the window (refuse without a hash),
 * 0 when not, -1 on a database error (err set). */
int throttle_tripped(struct db *db, const struct throttle_opts *t, const char *email, char *err,
		     size_t errlen);
/* Records one failed login for email. 0 or -1. */
int throttle_fail(struct db *db, const struct throttle_opts *t, const char *email, char *err,
		  size_t errlen);
/* A successful login forgets the email's failures, so earlier typos do not count against the
 * next ones. 0 or -1. */
int throttle_clear(struct db *db, const struct throttle_opts *t, const char *email, char *err,
		   size_t errlen);

#endif
