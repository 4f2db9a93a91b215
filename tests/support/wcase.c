/* wcase: the worker test binaries' group runner and case helpers (see wcase.h). */
#include "wcase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* The group's environment, for cmocka's set-up and tear-down, which take no argument. */
static struct {
	struct wenv **env;
	const char *tag;
	const char *const *extra;
	int teardown_failed;
} wcase_group;

static int
wcase_setup(void **state)
{
	char err[1024];

	(void)state;
	if (sodium_init() < 0)
		return -1;
	if (wenv_setup(wcase_group.env, wcase_group.tag, wcase_group.extra, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	return 0;
}

static int
wcase_teardown(void **state)
{
	(void)state;
	wcase_group.teardown_failed = wenv_teardown(*wcase_group.env) != 0;
	return wcase_group.teardown_failed ? -1 : 0;
}

int
wcase_run(struct wenv **env, const char *tag, const char *const *extra,
	  const struct CMUnitTest *tests, size_t n)
{
	int rc;

	wcase_group.env = env;
	wcase_group.tag = tag;
	wcase_group.extra = extra;
	if (getenv("TMPROV_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TMPROV_TEST_FILTER"));
	rc = _cmocka_run_group_tests(tag, tests, n, wcase_setup, wcase_teardown);
	return rc || wcase_group.teardown_failed ? 1 : 0;
}

const char *
wcase_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

long
wcase_int(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long)json_integer_value(v) : -999;
}

const json_t *
wcase_data(const json_t *ev)
{
	return json_object_get(ev, "data");
}

json_t *
wcase_account_data(const char *name, const char *email, int rooms, int participants)
{
	return json_pack("{s:s, s:s, s:i, s:i}", "company_name", name, "email", email, "rooms",
			 rooms, "participants", participants);
}

void
wcase_send_creates(struct wenv *e, const char *prefix, int n, char (*ids)[WCASE_ID_MAX],
		   const char **idp)
{
	char subject[WCASE_ID_MAX], name[WCASE_ID_MAX + 16], email[WCASE_ID_MAX + 16];

	for (int i = 0; i < n; i++) {
		snprintf(subject, sizeof(subject), "%s-%04d", prefix, i);
		snprintf(ids[i], WCASE_ID_MAX, "%s-c-%04d", prefix, i);
		snprintf(name, sizeof(name), "%s company %04d", prefix, i);
		snprintf(email, sizeof(email), "ops@%s.example", prefix);
		idp[i] = ids[i];
		wenv_send(e, ids[i], "account.create", subject,
			  wcase_account_data(name, email, 1, 2));
	}
	wenv_flush(e);
}

const json_t *
wcase_run1(struct wenv *e, const char *id, const char *type, const char *subject, json_t *data,
	   const char *want)
{
	wenv_send(e, id, type, subject, data);
	wenv_flush(e);
	return wenv_outcome(e, id, subject, want);
}

char *
wcase_account_new(struct wenv *e, const char *subject)
{
	char id[128], name[128], email[128];
	const json_t *ev;

	snprintf(id, sizeof(id), "%s/create", subject);
	snprintf(name, sizeof(name), "Company %s", subject);
	snprintf(email, sizeof(email), "ops@%s.example", subject);
	ev = wcase_run1(e, id, "account.create", subject, wcase_account_data(name, email, 2, 25),
			"account.created");
	return strdup(wcase_str(wcase_data(ev), "company_uid"));
}

void
wcase_user_new(struct wenv *e, const char *subject, const char *user_id, const char *password)
{
	char id[160], email[160];

	snprintf(id, sizeof(id), "%s/user/%s", subject, user_id);
	snprintf(email, sizeof(email), "%s@%s.example", user_id, subject);
	wcase_run1(e, id, "user.upsert", subject,
		   json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", user_id, "email", email,
			     "first_name", "Ada", "last_name", "Lovelace", "password", password),
		   "user.upserted");
}

void
wcase_expect_status(struct wenv *e, const char *id, const char *status)
{
	char *st = wenv_sql(e, "SELECT status FROM commands WHERE id = $1", id, NULL);

	assert_non_null(st);
	assert_string_equal(st, status);
	free(st);
}
