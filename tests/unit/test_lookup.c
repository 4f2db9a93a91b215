/* Tests for workers/worker/lookup: the batch's $1 (each command under its own k, values that
 * JSON cannot carry left out), handing each row of the answer to the command its k names (rows
 * out of order, missing, twice, or naming no command), and the leader/follower queue: every
 * lookup answered once however many threads come at once, a stop honoured, a database marked
 * down left to the pool. No server: the batcher's database is a socket that does not exist, so
 * every statement fails and each command is told to look itself up. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "../../workers/worker/dbpool.h"
#include "../../workers/worker/lookup.h"
#include "../../workers/worker/sql.h"
#include "../../workers/worker/wconfig.h"
#include "buf.h"
#include "metrics.h"

static void
test_json(void **state)
{
	const char *a[LOOKUP_NPARAMS] = {"c-1", "s-1", "u-1", "U1@x.example", NULL};
	const char *bad[LOOKUP_NPARAMS] = {"c-2", "s-\xff", NULL, NULL, NULL};
	const char *c[LOOKUP_NPARAMS] = {"c-3", "s-3", NULL, NULL, "m-3"};
	struct cmd_state st[3];
	struct lookup_item items[3] = {
	    {a, &st[0], 0, false}, {bad, &st[1], 0, false}, {c, &st[2], 0, false}};
	char *text;
	json_t *rows, *r;

	(void)state;
	text = lookup_batch_json(items, 3);
	assert_non_null(text);
	assert_true(items[0].sent);
	assert_false(items[1].sent); /* not UTF-8: it goes alone */
	assert_true(items[2].sent);
	rows = json_loads(text, 0, NULL);
	assert_non_null(rows);
	assert_int_equal(json_array_size(rows), 2);
	r = json_array_get(rows, 0);
	assert_int_equal(json_integer_value(json_object_get(r, "k")), 0);
	assert_string_equal(json_string_value(json_object_get(r, "id")), "c-1");
	assert_string_equal(json_string_value(json_object_get(r, "subject")), "s-1");
	assert_string_equal(json_string_value(json_object_get(r, "user_id")), "u-1");
	assert_string_equal(json_string_value(json_object_get(r, "email")), "U1@x.example");
	assert_true(json_is_null(json_object_get(r, "meeting_id")));
	r = json_array_get(rows, 1);
	assert_int_equal(json_integer_value(json_object_get(r, "k")), 2);
	assert_string_equal(json_string_value(json_object_get(r, "id")), "c-3");
	assert_true(json_is_null(json_object_get(r, "user_id")));
	assert_string_equal(json_string_value(json_object_get(r, "meeting_id")), "m-3");
	json_decref(rows);
	free(text);
	/* Nothing to send: no statement. */
	assert_null(lookup_batch_json(&items[1], 1));
	assert_false(items[1].sent);
}

/* An answer of SQL_LOOKUP_BATCH's shape (SQLL_COUNT columns, then k): one row per entry of
 * ks, whose account's company_uid is "uid-" and its k text, its company_name "name-" and k. */
static PGresult *
answer(const char *const *ks, size_t n, int nfields)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc attrs[SQLL_COUNT + 2];
	char uid[64], name[64];

	assert_non_null(res);
	memset(attrs, 0, sizeof(attrs));
	for (int i = 0; i < nfields; i++) {
		attrs[i].name = (char *)"col";
		attrs[i].typid = 25; /* text */
		attrs[i].typlen = -1;
		attrs[i].atttypmod = -1;
	}
	assert_int_equal(PQsetResultAttrs(res, nfields, attrs), 1);
	for (size_t row = 0; row < n; row++) {
		snprintf(uid, sizeof(uid), "uid-%s", ks[row] ? ks[row] : "null");
		snprintf(name, sizeof(name), "name-%s", ks[row] ? ks[row] : "null");
		assert_int_equal(
		    PQsetvalue(res, (int)row, SQLL_ACC_COMPANY_NAME, name, (int)strlen(name)), 1);
		assert_int_equal(
		    PQsetvalue(res, (int)row, SQLL_CMD_STATUS, (char *)"in_progress", 11), 1);
		assert_int_equal(
		    PQsetvalue(res, (int)row, SQLL_ACC_COMPANY_UID, uid, (int)strlen(uid)), 1);
		assert_int_equal(PQsetvalue(res, (int)row, SQLL_ACC_STATUS, (char *)"active", 6),
				 1);
		if (ks[row] != NULL && nfields > SQLL_COUNT)
			assert_int_equal(PQsetvalue(res, (int)row, SQLL_COUNT, (char *)ks[row],
						    (int)strlen(ks[row])),
					 1);
	}
	return res;
}

static void
test_spread(void **state)
{
	const char *p[6][LOOKUP_NPARAMS] = {
	    {"c-0", "s-0"}, {"c-1", "s-1"}, {"c-2", "s-2"},
	    {"c-3", "s-3"}, {"c-4", "s-4"}, {"c-5", "s-5"},
	};
	/* Out of order; 1 twice; 3 missing; 4 not sent; k past the end, empty, not a number,
	 * negative, NULL. */
	const char *ks[] = {"5", "1", "0", "2", "1", "4", "6", "", "x2", "-1", NULL, "99999999999"};
	struct cmd_state st[6];
	struct lookup_item items[6];
	PGresult *res = answer(ks, sizeof(ks) / sizeof(ks[0]), SQLL_COUNT + 1);

	(void)state;
	for (int i = 0; i < 6; i++) {
		items[i] = (struct lookup_item){p[i], &st[i], 0, i != 4};
		memset(&st[i], 0, sizeof(st[i]));
	}
	assert_int_equal(lookup_batch_spread(res, items, 6), 3);
	assert_int_equal(items[0].rows, 1);
	assert_int_equal(items[1].rows, 2); /* twice: the command goes alone */
	assert_int_equal(items[2].rows, 1);
	assert_int_equal(items[3].rows, 0); /* missing: alone too */
	assert_int_equal(items[4].rows, 0);
	assert_int_equal(items[5].rows, 1);
	/* Each command got its own row. */
	assert_string_equal(st[0].company_uid, "uid-0");
	assert_string_equal(st[2].company_uid, "uid-2");
	assert_string_equal(st[5].company_uid, "uid-5");
	assert_true(st[5].acc_exists && st[5].acc_active && st[5].cmd_exists);
	assert_string_equal(st[4].company_uid, ""); /* not sent: untouched */
	/* The account's strings, owned at their length; none for a NULL column ("" to read). */
	assert_string_equal(st[5].company_name, "name-5");
	assert_null(st[5].email);
	assert_string_equal(cmd_state_text(st[5].email), "");
	assert_null(st[1].company_name); /* a second row came: its state was cleared again */
	assert_null(st[4].company_name);
	PQclear(res);
	for (int i = 0; i < 6; i++)
		cmd_state_clear(&st[i]);

	/* An answer of another shape answers nobody. */
	for (int i = 0; i < 6; i++)
		items[i].rows = 0;
	res = answer(ks, 3, SQLL_COUNT);
	assert_int_equal(lookup_batch_spread(res, items, 6), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(items[i].rows, 0);
	PQclear(res);
}

/* A batcher and a pool whose database is a Unix socket in a directory that does not exist. */
struct world {
	struct cfg *cfg;
	struct metrics *m;
	struct dbpool *pool;
	struct lookup_batcher *b;
};

static void
world_new(struct world *w)
{
	char err[512];

	setenv("TMPROV_DATABASE_URL",
	       "host=/nonexistent/tmprov-test-lookup port=1 dbname=none connect_timeout=2", 1);
	setenv("TMPROV_TM_URL", "http://127.0.0.1:9/", 1);
	setenv("TMPROV_PARTNER_ID", "p", 1);
	w->cfg = wconfig_new();
	assert_non_null(w->cfg);
	assert_int_equal(cfg_load(w->cfg, NULL, err, sizeof(err)), 0);
	w->m = metrics_new();
	assert_non_null(w->m);
	w->pool = dbpool_new(w->cfg, 2, SQL_STATEMENTS, SQL_COUNT, NULL, err, sizeof(err));
	assert_non_null(w->pool);
	w->b = lookup_batcher_new(w->cfg, w->pool, w->m, err, sizeof(err));
	assert_non_null(w->b);
}

static void
world_free(struct world *w)
{
	lookup_batcher_free(w->b);
	dbpool_free(w->pool);
	metrics_free(w->m);
	cfg_free(w->cfg);
}

/* The sum of /metrics samples of name whose labels contain label (NULL: all). */
static double
metric(struct metrics *m, const char *name, const char *label)
{
	struct buf b;
	double sum = 0;
	size_t len = strlen(name);
	char *text, *line, *save = NULL;

	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(m, &b), 0);
	text = buf_take(&b, NULL);
	assert_non_null(text);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, name, len) != 0 || (line[len] != ' ' && line[len] != '{'))
			continue;
		if (label != NULL && strstr(line, label) == NULL)
			continue;
		sum += strtod(strrchr(line, ' ') + 1, NULL);
	}
	free(text);
	return sum;
}

enum { NTHREADS = 24, ROUNDS = 20 };

struct caller {
	struct lookup_batcher *b;
	int id;
	int counts[3]; /* by enum lookup_result */
};

static void *
caller_run(void *arg)
{
	struct caller *c = arg;
	char id[32], subject[32];
	const char *p[LOOKUP_NPARAMS] = {id, subject, NULL, NULL, NULL};
	struct cmd_state st = {0};
	atomic_bool stop;

	atomic_init(&stop, false);
	for (int i = 0; i < ROUNDS; i++) {
		snprintf(id, sizeof(id), "c-%d-%d", c->id, i);
		snprintf(subject, sizeof(subject), "s-%d", c->id);
		c->counts[lookup_batched(c->b, p, &st, &stop)]++;
		cmd_state_clear(&st);
	}
	return NULL;
}

/* Many threads at once: each lookup is in exactly one statement, none waits for ever, and each
 * failed statement sends its commands to look themselves up. */
static void
test_concurrent(void **state)
{
	struct world w;
	pthread_t th[NTHREADS];
	struct caller c[NTHREADS];
	int alone = 0;

	(void)state;
	world_new(&w);
	for (int i = 0; i < NTHREADS; i++) {
		c[i] = (struct caller){.b = w.b, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, caller_run, &c[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(c[i].counts[LOOKUP_DONE], 0);
		assert_int_equal(c[i].counts[LOOKUP_STOPPED], 0);
		alone += c[i].counts[LOOKUP_ALONE];
	}
	assert_int_equal(alone, NTHREADS * ROUNDS);
	assert_int_equal(metric(w.m, "tmprov_lookup_commands_total", NULL), NTHREADS * ROUNDS);
	assert_true(metric(w.m, "tmprov_lookup_statements_total", "failed") >= 1);
	assert_int_equal(metric(w.m, "tmprov_lookup_statements_total", "\"ok\""), 0);
	assert_int_equal(metric(w.m, "tmprov_lookup_batch_in_flight", NULL), 0);
	world_free(&w);
}

/* A stop set before the lookup is queued: no statement. A database marked down: the pool's
 * statements wait for it, not the batcher. */
static void
test_stop_and_down(void **state)
{
	struct world w;
	const char *p[LOOKUP_NPARAMS] = {"c-1", "s-1", NULL, NULL, NULL};
	struct cmd_state st = {0};
	atomic_bool stop;

	(void)state;
	world_new(&w);
	atomic_init(&stop, true);
	assert_int_equal(lookup_batched(w.b, p, &st, &stop), LOOKUP_STOPPED);
	assert_int_equal(metric(w.m, "tmprov_lookup_commands_total", NULL), 0);
	dbpool_set_available(w.pool, false);
	atomic_store(&stop, false);
	assert_int_equal(lookup_batched(w.b, p, &st, &stop), LOOKUP_ALONE);
	assert_int_equal(metric(w.m, "tmprov_lookup_commands_total", NULL), 0);
	dbpool_set_available(w.pool, true);
	assert_int_equal(lookup_batched(w.b, p, &st, NULL), LOOKUP_ALONE);
	assert_int_equal(metric(w.m, "tmprov_lookup_commands_total", NULL), 1);
	assert_int_equal(metric(w.m, "tmprov_lookup_statements_total", "failed"), 1);
	cmd_state_clear(&st);
	world_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_spread),
	    cmocka_unit_test(test_concurrent),
	    cmocka_unit_test(test_stop_and_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
