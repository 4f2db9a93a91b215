/* wcase: what the worker test binaries share on top of wenv — one cmocka group run over one
 * environment, and the small JSON and command helpers of their cases. */
#ifndef TMPROV_TEST_WCASE_H
#define TMPROV_TEST_WCASE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "wenv.h"

/* Runs tests as one cmocka group named tag: *env is set up (wenv_setup with tag and extra)
 * before the first test and torn down after the last; TMPROV_TEST_FILTER=name (cmocka's
 * wildcards) runs a subset while developing. Returns the exit status: 1 when a test or the
 * teardown failed. */
int wcase_run(struct wenv **env, const char *tag, const char *const *extra,
	      const struct CMUnitTest *tests, size_t n);

/* o's string member key; "" when absent. */
const char *wcase_str(const json_t *o, const char *key);
/* o's integer member key; -999 when absent. */
long wcase_int(const json_t *o, const char *key);
/* An event's data. */
const json_t *wcase_data(const json_t *ev);
/* The data of account.create / account.update. */
json_t *wcase_account_data(const char *name, const char *email, int rooms, int participants);

/* Sends account.create for subjects PREFIX-0000 ... PREFIX-(n-1), ids PREFIX-c-NNNN (into ids,
 * pointed to by idp; prefix short enough for WCASE_ID_MAX), and flushes. */
#define WCASE_ID_MAX 48
void wcase_send_creates(struct wenv *e, const char *prefix, int n, char (*ids)[WCASE_ID_MAX],
			const char **idp);

/* Sends one command (data's reference is taken) and returns its outcome, checked to be of type
 * want. */
const json_t *wcase_run1(struct wenv *e, const char *id, const char *type, const char *subject,
			 json_t *data, const char *want);
/* A new account for subject (command id "SUBJECT/create"); its company_uid (malloc'd). */
char *wcase_account_new(struct wenv *e, const char *subject);
/* A new user user_id of subject with password (command id "SUBJECT/user/USER_ID", email
 * "USER_ID@SUBJECT.example"). */
void wcase_user_new(struct wenv *e, const char *subject, const char *user_id, const char *password);
/* Fails the test unless the commands row of id has status. */
void wcase_expect_status(struct wenv *e, const char *id, const char *status);

#endif
